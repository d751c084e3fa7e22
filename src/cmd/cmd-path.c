/*
 * cmd-path.c - `cprof-core path ADDR|ID`: how an object is reached from a
 * root, from cprof.db: the shortest path the analysis stored (a BFS from
 * every root slot), from the root slot through each object, with the offset
 * of each pointer.
 */
#include <getopt.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core path ADDR|ID [--db FILE] [--json]";

enum { MAX_PATH = 100000 };

int cmd_path(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "cprof.db";
	bool json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_DB: path = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_HELP:
			printf("usage: %s\n\n"
			       "The shortest path from a root slot to the object (ADDR: any address\n"
			       "inside it; ID: its object id): the slot, then each object on the way\n"
			       "with the offset of the pointer it holds to the next.\n", usage);
			return EXIT_OK;
		default:
			return cmd_usage_error(usage, "bad option");
		}
	}
	if (argc - optind != 1)
		return cmd_usage_error(usage, "expected one ADDR or ID");
	struct sqlite3 *db;
	if (!cmd_open_db(path, &db))
		return EXIT_ERROR;
	struct cprof_obj_row target;
	struct cprof_error *err = cprof_query_object(db, path, argv[optind], &target);
	if (!err && target.root_distance == CPROF_NONE_ID)
		err = cprof_error_create(CPROF_ERROR_USAGE,
					 "%s: object %llu at 0x%llx is reached from no root%s",
					 path, (unsigned long long)target.id,
					 (unsigned long long)target.addr,
					 target.leak[0] ? " (it is leaked: see 'cprof-core leaks')" : "");
	/* Walk back along path_parent to the object a root slot points at. */
	size_t n = 0;
	struct cprof_obj_row *chain = err ? NULL : malloc(
		(target.root_distance + 1 < MAX_PATH ? target.root_distance + 1 : MAX_PATH) *
		sizeof(*chain));
	if (!err && !chain)
		err = &cprof_enomem;
	if (!err) {
		chain[n++] = target;
		while (!err && chain[n - 1].path_parent != CPROF_NONE_ID && n < MAX_PATH &&
		       n <= target.root_distance) {
			uint64_t parent = chain[n - 1].path_parent;
			err = cprof_query_object_id(db, path, parent, &chain[n]);
			n++;
		}
	}
	struct cprof_slot_row slot;
	if (!err)
		err = cprof_query_slot(db, path, chain[n - 1].path_root_ref, &slot);
	uint64_t *offs = err ? NULL : calloc(n + 1, sizeof(*offs));
	char (*fields)[256] = err ? NULL : calloc(n + 1, sizeof(*fields));
	if (!err && (!offs || !fields))
		err = &cprof_enomem;
	for (size_t i = n - 1; !err && i > 0; i--) {
		uint64_t dst_off;
		err = cprof_query_edge(db, path, chain[i].id, chain[i - 1].id, &offs[i], &dst_off);
		if (!err)
			err = cprof_query_field(db, path, chain[i].type_id, offs[i], fields[i],
						sizeof(fields[i]));
	}
	cprof_store_close(db);
	if (err) {
		free(chain);
		free(offs);
		free(fields);
		return cmd_report_error(err);
	}
	char b1[FMT_BYTES_SIZE];
	if (json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "root", slot.slot_name);
		json_kv_string(&j, "root_kind", slot.root_kind);
		json_key(&j, "path");
		json_array_begin(&j);
		for (size_t i = n; i-- > 0;) {
			json_object_begin(&j);
			json_kv_uint(&j, "id", chain[i].id);
			json_kv_hex(&j, "addr", chain[i].addr);
			json_kv_uint(&j, "size", chain[i].size);
			json_kv_string(&j, "type", chain[i].type[0] ? chain[i].type : NULL);
			if (i > 0) {
				json_kv_uint(&j, "pointer_at", offs[i]);
				json_kv_string(&j, "field", fields[i][0] ? fields[i] : NULL);
			}
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		printf("%s (%s)\n", slot.slot_name, slot.root_kind);
		for (size_t i = n; i-- > 0;) {
			printf("  -> object %llu at 0x%llx: %s (%s)", (unsigned long long)chain[i].id,
			       (unsigned long long)chain[i].addr,
			       chain[i].type[0] ? chain[i].type : "(unknown type)",
			       fmt_bytes(b1, chain[i].size));
			if (i > 0 && fields[i][0])
				printf(", %s at +0x%llx", fields[i], (unsigned long long)offs[i]);
			else if (i > 0)
				printf(", pointer at +0x%llx", (unsigned long long)offs[i]);
			putchar('\n');
		}
	}
	free(chain);
	free(offs);
	free(fields);
	return EXIT_OK;
}
