/*
 * cmd-path.c - `cprof-core path ADDR|ID [--all N]`: how an object is reached
 * from a root, from cprof.db.  By default the shortest path the analysis
 * stored (a BFS from every root slot); with --all N, up to N paths from
 * distinct root slots (a backward search over the references).  Each step
 * names the object's type and the member that points to the next.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core path ADDR|ID [--all N] [--db FILE] [--json]";

/* --all asks for at most MAX_ALL paths: each is a search of its own, and
 * more than a screenful of them is not read. */
enum { OPT_ALL = OPT_FIRST_COMMAND_OPTION, MAX_PATH = 100000, MAX_VISITS = 1000000,
       MAX_ALL = 10000 };

/* One step: an object, where the pointer to it lands (entered: 0 at its
 * start, else an interior pointer), and the member of it pointing at the
 * next one (off). */
struct step {
	struct cprof_obj_row o;
	uint64_t entered;
	uint64_t off;
	char field[256];
};

/* Whether the word at off of o lies past the end of o's type (1), inside
 * it (0), or nobody knows (-1: no type, or only a guess from the layout).
 * Past the end is memory the object's type does not describe: the slack of
 * the chunk beyond what the program asked for when that type is what was
 * allocated, where stale words from an earlier use of the memory stay. */
static int past_type_end(const struct cprof_obj_row *o, uint64_t off)
{
	if (!o->type_size || !strcmp(o->type_source, "layout"))
		return -1;
	return off >= o->type_size;
}

static struct cprof_error *load_steps(struct sqlite3 *db, const char *path,
				      const struct cprof_root_path *p,
				      struct step **ret)
{
	const uint64_t *ids = p->ids;
	size_t n = p->n;
	struct step *st = calloc(n + 1, sizeof(*st));
	if (!st)
		return &cprof_enomem;
	st[0].entered = p->slot.dst_offset;
	struct cprof_error *err = NULL;
	for (size_t i = 0; !err && i < n; i++)
		err = cprof_query_object_id(db, path, ids[i], &st[i].o);
	for (size_t i = 0; !err && i + 1 < n; i++) {
		err = cprof_query_edge(db, path, ids[i], ids[i + 1], &st[i].off,
				       &st[i + 1].entered);
		if (!err)
			err = cprof_query_field(db, path, st[i].o.type_id, st[i].off,
						st[i].field, sizeof(st[i].field));
	}
	if (err) {
		free(st);
		return err;
	}
	*ret = st;
	return NULL;
}

static void print_text(const struct cprof_slot_row *slot, const struct step *st, size_t n)
{
	char b1[FMT_BYTES_SIZE];
	printf("%s (%s)\n", slot->slot_name, slot->root_kind);
	for (size_t i = 0; i < n; i++) {
		printf("  -> object %llu at 0x%llx: %s (%s)", (unsigned long long)st[i].o.id,
		       (unsigned long long)st[i].o.addr,
		       st[i].o.type[0] ? st[i].o.type : "(unknown type)",
		       fmt_bytes(b1, st[i].o.size));
		if (st[i].entered)
			printf(", entered at +0x%llx (interior)",
			       (unsigned long long)st[i].entered);
		if (i + 1 < n && st[i].field[0])
			printf(", %s at +0x%llx", st[i].field, (unsigned long long)st[i].off);
		else if (i + 1 < n)
			printf(", pointer at +0x%llx", (unsigned long long)st[i].off);
		if (i + 1 < n && past_type_end(&st[i].o, st[i].off) == 1)
			printf(" (past the end of %s, %llu bytes)", st[i].o.type,
			       (unsigned long long)st[i].o.type_size);
		putchar('\n');
	}
}

static void print_json(struct json *j, const struct cprof_slot_row *slot,
		       const struct step *st, size_t n)
{
	json_object_begin(j);
	json_kv_string(j, "root", slot->slot_name);
	json_kv_string(j, "root_kind", slot->root_kind);
	json_key(j, "path");
	json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		json_object_begin(j);
		json_kv_uint(j, "id", st[i].o.id);
		json_kv_hex(j, "addr", st[i].o.addr);
		json_kv_uint(j, "size", st[i].o.size);
		json_kv_string(j, "type", st[i].o.type[0] ? st[i].o.type : NULL);
		json_kv_uint(j, "entered_at", st[i].entered);
		json_kv_bool(j, "interior", st[i].entered != 0);
		if (i + 1 < n) {
			json_kv_uint(j, "pointer_at", st[i].off);
			json_kv_string(j, "field", st[i].field[0] ? st[i].field : NULL);
			int past = past_type_end(&st[i].o, st[i].off);
			json_key(j, "past_type_end");
			if (past < 0)
				json_null(j);
			else
				json_bool(j, past);
		}
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

/* The stored shortest path: back along path_parent to the root slot. */
static struct cprof_error *shortest(struct sqlite3 *db, const char *path,
				    const struct cprof_obj_row *target,
				    struct cprof_root_path **ret, size_t *n_ret)
{
	struct cprof_root_path *p = calloc(1, sizeof(*p));
	if (!p)
		return &cprof_enomem;
	struct cprof_error *err = cprof_query_shortest_path(db, path, target->id, MAX_PATH, p);
	if (!err && !p->n && target->root_distance != CPROF_NONE_ID &&
	    target->root_distance <= MAX_PATH)
		/* the walk back along path_parent checks that the distance falls
		   by one at each step: a loop or a gap stops it */
		err = cprof_error_create(CPROF_ERROR_BAD_DATA,
					 "%s: object %llu: its stored path (path_parent) does not lead back to a root in %llu steps: the database is damaged",
					 path, (unsigned long long)target->id,
					 (unsigned long long)target->root_distance);
	else if (!err && !p->n)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA,
					 "%s: object %llu: no stored path of at most %d objects", path,
					 (unsigned long long)target->id, MAX_PATH);
	if (err) {
		cprof_root_paths_free(p, 1);
		return err;
	}
	*ret = p;
	*n_ret = 1;
	return NULL;
}

static const char help[] =
	"How the object (ADDR: any address inside it; ID: its object id) is\n"
	"reached from a root: the root slot, then each object on the way with\n"
	"its type and the member that points to the next.  By default the\n"
	"shortest path; --all N gives up to N paths from distinct root slots\n"
	"(each shortest from its slot).\n";

/* db_args_parse's callback: --all N into *ctx (uint64_t). */
static int path_option(int opt, const char *arg, void *ctx)
{
	uint64_t *all = ctx;
	if (opt != OPT_ALL)
		return cmd_usage_error(usage, "bad option");
	if (!parse_u64(arg, all) || !*all)
		return cmd_usage_error(usage, "bad --all '%s'", arg);
	if (*all > MAX_ALL)
		return cmd_usage_error(usage, "--all %s: at most %d paths", arg, MAX_ALL);
	return -1;
}

int cmd_path(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "all", required_argument, NULL, OPT_ALL },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 0 };
	uint64_t all = 0;
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, path_option, &all);
	if (rc >= 0)
		return rc;
	const char *path = a.path;
	bool json = a.json;
	if (argc - optind != 1)
		return cmd_usage_error(usage, "expected one ADDR or ID");
	struct sqlite3 *db;
	if (!cmd_open_db(path, &db))
		return EXIT_ERROR;
	struct cprof_obj_row target;
	struct cprof_root_path *paths = NULL;
	size_t n_paths = 0;
	struct cprof_error *err = cprof_query_object(db, path, argv[optind], &target);
	if (!err && target.root_distance == CPROF_NONE_ID)
		err = cprof_error_create(CPROF_ERROR_USAGE,
					 "%s: object %llu at 0x%llx is reached from no root%s",
					 path, (unsigned long long)target.id,
					 (unsigned long long)target.addr,
					 target.leak[0] ? " (it is leaked: see 'cprof-core leaks')" : "");
	if (!err)
		err = all ? cprof_query_paths(db, path, target.id, (size_t)all, MAX_VISITS,
					      &paths, &n_paths) :
			    shortest(db, path, &target, &paths, &n_paths);
	struct step **steps = err ? NULL : calloc(n_paths + 1, sizeof(*steps));
	if (!err && !steps)
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n_paths; i++)
		err = load_steps(db, path, &paths[i], &steps[i]);
	cprof_store_close(db);
	if (!err) {
		if (json) {
			struct json j;
			json_init(&j, stdout);
			if (all)
				json_array_begin(&j);
			for (size_t i = 0; i < n_paths; i++)
				print_json(&j, &paths[i].slot, steps[i], paths[i].n);
			if (all)
				json_array_end(&j);
			json_finish(&j);
		} else {
			for (size_t i = 0; i < n_paths; i++) {
				if (i)
					putchar('\n');
				print_text(&paths[i].slot, steps[i], paths[i].n);
			}
		}
	}
	for (size_t i = 0; steps && i < n_paths; i++)
		free(steps[i]);
	free(steps);
	cprof_root_paths_free(paths, n_paths);
	return err ? cmd_report_error(err) : EXIT_OK;
}
