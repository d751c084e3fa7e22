/*
 * cmd-roots.c - `cprof-core roots [--type PATTERN] [--site PATTERN]`: which
 * roots retain the objects of a type, from cprof.db: options -> compute
 * (cprof_query_roots) -> render (src/report/roots.c).
 *
 * Each matching object falls under its retaining root (the nearest root node
 * on its dominator chain); objects only the super-root dominates form the
 * group "(shared)", listed with root slots that reach them.  Per group: the
 * count, the objects' own bytes, and what they retain counting nothing twice.
 */
#include <getopt.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core roots [--type PATTERN] [--site PATTERN] [--db FILE] [--limit N] [--json]";

enum { OPT_TYPE = OPT_FIRST_COMMAND_OPTION, OPT_SITE };

struct roots_opts {
	const char *pattern;       /* --type */
	const char *site;          /* --site */
};

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
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	struct cprof_roots_report r;
	struct cprof_error *err = cprof_query_roots(db, a.path, o.pattern, o.site, (size_t)a.limit, &r);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (a.json) {
		cmd_say_not_analyzed(r.allocators, r.n_allocators, true);
		cprof_report_roots_json(stdout, &r);
	} else {
		cprof_report_roots(stdout, &r, o.pattern);
	}
	cprof_roots_report_deinit(&r);
	return EXIT_OK;
}
