/*
 * cmd-diff.c - `cprof-core diff OLD.db NEW.db [--by type|site|root]`: what
 * grew between two analyses of the same program: options -> compute
 * (cprof_query_diff) -> render (text, JSON, and a pprof profile of the
 * difference with -o).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core diff OLD.db NEW.db [--by type|site|root] [-o FILE] [--limit N] [--json]";

enum { OPT_BY = OPT_FIRST_COMMAND_OPTION, OPT_OUT };

static const char help[] =
	"Growth between two analyses of the same program (two cores, two\n"
	"cprof.db): the used objects counted by type name (--by type, the\n"
	"default), by allocation stack (--by site: Go's memory profiler, jemalloc's\n"
	"prof:true) or by the name of the root that retains them (--by root),\n"
	"matched by that name, never by address: count and bytes before and after\n"
	"and the difference, the biggest growth first.  Go's garbage (unreachable,\n"
	"freed by the next collection) is left out.\n\n"
	"  --by type|site|root  the key (default type)\n"
	"  -o FILE              also write the difference as a pprof profile (new\n"
	"                       less old, as go tool pprof -base shows it)\n"
	"  --limit N            at most N rows (default 30)\n"
	"  --json               {version, old, new, by, totals, rows: [{key, ...}]}\n";

struct diff_opts {
	enum cprof_group_by by;
	const char *by_name;
	const char *out;
};

static int diff_option(int opt, const char *arg, void *ctx)
{
	struct diff_opts *o = ctx;
	if (opt == OPT_OUT) {
		o->out = arg;
		return -1;
	}
	if (opt != OPT_BY)
		return cmd_usage_error(usage, "bad option");
	if (!strcmp(arg, "type"))
		o->by = CPROF_BY_TYPE;
	else if (!strcmp(arg, "site"))
		o->by = CPROF_BY_SITE;
	else if (!strcmp(arg, "root"))
		o->by = CPROF_BY_ROOT;
	else
		return cmd_usage_error(usage, "--by takes type, site or root, not '%s'", arg);
	o->by_name = arg;
	return -1;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "by", required_argument, NULL, OPT_BY },
		{ "output", required_argument, NULL, OPT_OUT },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 30 };
	struct diff_opts o = { CPROF_BY_TYPE, "type", NULL };
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-o"))
			argv[i] = "--output";
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, diff_option, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 2)
		return cmd_usage_error(usage, "diff takes two databases: OLD.db NEW.db");
	const char *old_path = argv[optind], *new_path = argv[optind + 1];
	struct sqlite3 *old_db, *new_db;
	if (!cmd_open_db(old_path, &old_db))
		return EXIT_ERROR;
	if (!cmd_open_db(new_path, &new_db)) {
		cprof_store_close(old_db);
		return EXIT_ERROR;
	}
	bool ok = cmd_say_not_analyzed_db(old_db, old_path, true) &&
		  cmd_say_not_analyzed_db(new_db, new_path, true);
	struct cprof_diff d;
	struct cprof_module_row *m = NULL;   /* the new one's, for the profile */
	size_t n_m = 0;
	struct cprof_error *err = ok && o.out ? cprof_query_modules(new_db, new_path, &m, &n_m) :
				  NULL;
	if (ok && !err)
		err = cprof_query_diff(old_db, old_path, new_db, new_path, o.by, &d);
	cprof_store_close(old_db);
	cprof_store_close(new_db);
	if (!ok || err) {
		free(m);
		return ok ? cmd_report_error(err) : EXIT_ERROR;
	}
	if (d.same_program == 0)
		fprintf(stderr, "cprof-core: warning: %s and %s are analyses of different programs "
			"(executable build-ids %s and %s): the rows compare unrelated heaps\n",
			old_path, new_path, d.old_build_id, d.new_build_id);
	else if (d.same_program < 0)
		fprintf(stderr, "cprof-core: warning: %s or %s records no executable build-id: "
			"cannot tell whether they are of the same program\n", old_path, new_path);
	if (o.out) {
		char comment[1024];
		snprintf(comment, sizeof(comment), "cprof-core diff --by %s: %s less %s", o.by_name,
			 new_path, old_path);
		err = cprof_report_pprof_diff(&d, o.by == CPROF_BY_SITE, m, n_m, comment, o.out);
	}
	free(m);
	if (!err && a.json)
		cprof_report_diff_json(stdout, &d, o.by_name, old_path, new_path, a.limit);
	else if (!err)
		cprof_report_diff(stdout, &d, o.by_name, a.limit);
	cprof_diff_deinit(&d);
	return err ? cmd_report_error(err) : EXIT_OK;
}
