/*
 * cmd-roots.c - `cprof-core roots [--type PATTERN]`: which roots retain the
 * objects of a type, from cprof.db.
 *
 * Each matching object falls under its retaining root (the nearest root node
 * on its dominator chain); objects only the super-root dominates form the
 * group "(shared)", listed with root slots that reach them.  Per group: the
 * count, the objects' own bytes, and what they retain counting nothing twice.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core roots [--type PATTERN] [--db FILE] [--limit N] [--json]";

enum { OPT_TYPE = OPT_FIRST_COMMAND_OPTION, MAX_PATH = 64, MAX_REACHING = 5 };

/* One example path: root slot name and object ids, innermost last. */
struct example {
	char root[320];
	uint64_t ids[MAX_PATH], addrs[MAX_PATH];
	size_t n;
	bool cut;
};

static struct cprof_error *example_path(struct sqlite3 *db, const char *path,
					uint64_t id, struct example *ex)
{
	struct cprof_obj_row o;
	struct cprof_error *err;
	memset(ex, 0, sizeof(*ex));
	uint64_t rev[MAX_PATH], radd[MAX_PATH];
	size_t n = 0;
	do {
		if ((err = cprof_query_object_id(db, path, id, &o)))
			return err;
		if (n == MAX_PATH) {
			ex->cut = true;
			break;
		}
		rev[n] = o.id;
		radd[n++] = o.addr;
		id = o.path_parent;
	} while (id != CPROF_NONE_ID);
	if (o.path_root_ref != CPROF_NONE_ID) {
		struct cprof_slot_row slot;
		if ((err = cprof_query_slot(db, path, o.path_root_ref, &slot)))
			return err;
		snprintf(ex->root, sizeof(ex->root), "%s", slot.slot_name);
	} else {
		snprintf(ex->root, sizeof(ex->root), "%s",
			 o.leak[0] ? "(leaked: no root)" : "?");
	}
	for (size_t i = 0; i < n; i++) {
		ex->ids[i] = rev[n - 1 - i];
		ex->addrs[i] = radd[n - 1 - i];
	}
	ex->n = n;
	return NULL;
}

static const char help[] =
	"Which roots retain the objects whose type matches PATTERN (a substring\n"
	"of a type that is not a pointer type, or a glob with * ? [ over the\n"
	"whole name): each object counts under its retaining root, the\n"
	"nearest root node on its dominator chain (a frame, a thread, a global,\n"
	"a module, a mapping, a goroutine or a group of them); objects no single\n"
	"root retains are \"shared\".  Shared objects, and those a module, a\n"
	"thread or a goroutine group retains through several of its slots, are\n"
	"listed with root slots that reach them.  Per root: the count, the\n"
	"objects' own bytes, what they retain counting nothing twice, and one\n"
	"example path.  Without --type, every object.  Objects whose type is a\n"
	"guess from their layout (no typed pointer reaches them) are counted\n"
	"as \"guessed\".\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            at most N roots (default 20)\n"
	"  --json               [{root, kind, count, self_bytes, retained_bytes,\n"
	"                         guessed, shared, path, reached_from}]\n";

/* db_args_parse's callback: --type PATTERN into *ctx (const char *). */
static int roots_option(int opt, const char *arg, void *ctx)
{
	if (opt != OPT_TYPE)
		return cmd_usage_error(usage, "bad option");
	*(const char **)ctx = arg;
	return -1;
}

int cmd_roots(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "type", required_argument, NULL, OPT_TYPE },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 20 };
	const char *pattern = NULL;
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, roots_option, &pattern);
	if (rc >= 0)
		return rc;
	const char *path = a.path;
	bool json = a.json;
	uint64_t limit = a.limit;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(path, &db))
		return EXIT_ERROR;
	struct cprof_group_row *g = NULL;
	size_t n = 0;
	struct cprof_error *err = cprof_query_groups(db, path, CPROF_BY_ROOT, pattern, &g, &n);
	if (n > limit)
		n = limit;
	struct example *ex = calloc(n + 1, sizeof(*ex));
	char ***reach = calloc(n + 1, sizeof(*reach));
	size_t *n_reach = calloc(n + 1, sizeof(*n_reach));
	if (!err && (!ex || !reach || !n_reach))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n; i++) {
		err = example_path(db, path, g[i].example, &ex[i]);
		/* A root that is not one slot (several parts of a module, a thread,
		   a goroutine group, or none): which slots reach its example. */
		if (!err && (!strcmp(g[i].kind, "shared") || !strcmp(g[i].kind, "module") ||
			     !strcmp(g[i].kind, "thread") || !strcmp(g[i].kind, "goroutines")))
			err = cprof_query_reaching_slots(db, path, &g[i].example, 1,
							 MAX_REACHING, &reach[i], &n_reach[i]);
	}
	cprof_store_close(db);
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	if (!err && json) {
		struct json j;
		json_init(&j, stdout);
		json_array_begin(&j);
		for (size_t i = 0; i < n; i++) {
			bool shared = !strcmp(g[i].kind, "shared");
			json_object_begin(&j);
			json_kv_string(&j, "root", g[i].key);
			json_kv_string(&j, "kind", g[i].kind);
			json_kv_uint(&j, "count", g[i].count);
			json_kv_uint(&j, "self_bytes", g[i].self_bytes);
			json_kv_uint(&j, "retained_bytes", g[i].retained_bytes);
			json_kv_uint(&j, "guessed", g[i].guessed);
			json_kv_bool(&j, "shared", shared);
			json_key(&j, "path");
			json_object_begin(&j);
			json_kv_string(&j, "root_slot", ex[i].root);
			json_key(&j, "objects");
			json_array_begin(&j);
			for (size_t k = 0; k < ex[i].n; k++)
				json_hex(&j, ex[i].addrs[k]);
			json_array_end(&j);
			json_object_end(&j);
			json_key(&j, "reached_from");
			json_array_begin(&j);
			for (size_t k = 0; k < n_reach[i]; k++)
				json_string(&j, reach[i][k]);
			json_array_end(&j);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_finish(&j);
	} else if (!err) {
		printf("%9s %10s %10s  %-10s %s\n", "objects", "self", "retained", "kind", "retained by");
		for (size_t i = 0; i < n; i++) {
			printf("%9llu %10s %10s  %-10s %s", (unsigned long long)g[i].count,
			       fmt_bytes(b1, g[i].self_bytes), fmt_bytes(b2, g[i].retained_bytes),
			       g[i].kind, g[i].key);
			cmd_print_guessed(pattern != NULL, g[i].guessed, g[i].count);
			putchar('\n');
			printf("%43s e.g. %s", "", ex[i].root);
			for (size_t k = 0; k < ex[i].n; k++)
				printf(" -> 0x%llx", (unsigned long long)ex[i].addrs[k]);
			putchar('\n');
			for (size_t k = 0; k < n_reach[i]; k++)
				printf("%43s reached from %s\n", "", reach[i][k]);
		}
		if (!n)
			printf("(no object%s%s%s)\n", pattern ? " of a type matching '" : "",
			       pattern ? pattern : "", pattern ? "'" : "");
	}
	for (size_t i = 0; i < n && reach; i++) {
		for (size_t k = 0; k < n_reach[i]; k++)
			free(reach[i][k]);
		free(reach[i]);
	}
	free(reach);
	free(n_reach);
	free(ex);
	free(g);
	return err ? cmd_report_error(err) : EXIT_OK;
}
