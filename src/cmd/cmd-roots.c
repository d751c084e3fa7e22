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
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core roots [--type PATTERN] [--site PATTERN] [--db FILE] [--limit N] [--json]";

enum { OPT_TYPE = OPT_FIRST_COMMAND_OPTION, OPT_SITE, MAX_PATH = 100000, MAX_REACHING = 5 };

struct roots_opts {
	const char *pattern;       /* --type */
	const char *site;          /* --site */
};

/* The example path's root slot, or why there is none. */
static const char *example_root(const struct cprof_root_path *p, const struct cprof_obj_row *o)
{
	if (p->n)
		return p->slot.slot_name;
	return o->leak[0] ? "(leaked: no root)" : "?";
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
	"as \"guessed\".  --site PATTERN keeps the objects allocated at a site\n"
	"whose name (histogram --by site) matches: a substring, or a glob.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            at most N roots (default 20)\n"
	"  --json               [{root, kind, count, self_bytes, retained_bytes,\n"
	"                         guessed, shared, path, reached_from}]\n";

/* db_args_parse's callback: --type and --site into *ctx (roots_opts). */
static int roots_option(int opt, const char *arg, void *ctx)
{
	struct roots_opts *o = ctx;
	if (opt == OPT_TYPE)
		o->pattern = arg;
	else if (opt == OPT_SITE)
		o->site = arg;
	else
		return cmd_usage_error(usage, "bad option");
	return -1;
}

int cmd_roots(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "site", required_argument, NULL, OPT_SITE },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 20 };
	struct roots_opts o = { NULL, NULL };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, roots_option, &o);
	const char *pattern = o.pattern;
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
	if (!cmd_say_not_analyzed_db(db, path, json)) {
		cprof_store_close(db);
		return EXIT_ERROR;
	}
	struct cprof_error *err = cprof_query_groups_at(db, path, CPROF_BY_ROOT, pattern, o.site,
						       &g, &n);
	if (n > limit)
		n = limit;
	struct cprof_root_path *ex = calloc(n + 1, sizeof(*ex));
	struct cprof_obj_row *exo = calloc(n + 1, sizeof(*exo));
	char ***reach = calloc(n + 1, sizeof(*reach));
	size_t *n_reach = calloc(n + 1, sizeof(*n_reach));
	if (!err && (!ex || !exo || !reach || !n_reach))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n; i++) {
		err = cprof_query_object_id(db, path, g[i].example, &exo[i]);
		if (!err)
			err = cprof_query_shortest_path(db, path, g[i].example, MAX_PATH, &ex[i]);
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
			json_kv_string(&j, "root_slot", example_root(&ex[i], &exo[i]));
			json_key(&j, "objects");
			json_array_begin(&j);
			for (size_t k = 0; k < ex[i].n; k++)
				json_hex(&j, ex[i].addrs[k]);
			if (!ex[i].n && exo[i].id != CPROF_NONE_ID)
				json_hex(&j, exo[i].addr);
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
			if (ex[i].n)
				cprof_report_path(stdout, &ex[i], "                                            ");
			else
				printf("%43s e.g. %s -> 0x%llx\n", "", example_root(&ex[i], &exo[i]),
				       (unsigned long long)exo[i].addr);
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
	for (size_t i = 0; ex && i < n; i++) {
		free(ex[i].ids);
		free(ex[i].addrs);
	}
	free(ex);
	free(exo);
	free(g);
	return err ? cmd_report_error(err) : EXIT_OK;
}
