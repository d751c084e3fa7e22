/*
 * cmd-histogram.c - `cprof-core histogram --by type|size|site`: objects
 * counted by type, size or allocation site, with their own bytes and what
 * they retain (counting nothing twice), from cprof.db: options -> compute
 * (cprof_query_groups) -> render (src/report/groups.c; `cprof-core pprof
 * --by type|site` renders the same groups as pprof).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core histogram [--by type|size|site] [--type PATTERN] [--db FILE] [--limit N] [--json]";

enum { OPT_BY = OPT_FIRST_COMMAND_OPTION, OPT_TYPE };

static const char help[] =
	"Objects (used chunks, reachable or leaked; not Go's garbage, which a last\n"
	"line counts) counted by type (what DWARF,\n"
	"a C++ vtable or the Go runtime says; \"(unknown type)\" otherwise), by\n"
	"usable size, or (Go) by allocation site: the first frame outside the\n"
	"runtime of the stack the memory profiler recorded for the object\n"
	"(\"(no profile record)\" for objects it did not sample; see\n"
	"runtime.MemProfileRate), biggest retained first: the count, their own\n"
	"bytes, and what they\n"
	"retain counting nothing twice.  --type PATTERN keeps the objects whose\n"
	"type matches (a substring of a\n"
	"type that is not a pointer type, or a glob with * ? [ over the whole\n"
	"name).  A type guessed from an object's layout (no typed pointer\n"
	"reaches it) is marked \"guessed\" with the number of such objects.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            at most N rows (default 30)\n"
	"  --json               [{key, count, self_bytes, retained_bytes, guessed}]\n";

struct histogram_opts {
	const char *pattern;       /* --type */
	enum cprof_group_by by;    /* --by */
};

/* db_args_parse's callback: --type and --by into *ctx (histogram_opts). */
static int histogram_option(int opt, const char *arg, void *ctx)
{
	struct histogram_opts *o = ctx;
	switch (opt) {
	case OPT_TYPE:
		o->pattern = arg;
		return -1;
	case OPT_BY: {
		int by;
		if (!cmd_parse_group_by(arg, 3, &by))
			return cmd_usage_error(usage, "--by takes type, size or site, not '%s'", arg);
		o->by = (enum cprof_group_by)by;
		return -1;
	}
	}
	return cmd_usage_error(usage, "bad option");
}

int cmd_histogram(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "by", required_argument, NULL, OPT_BY },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 30 };
	struct histogram_opts o = { NULL, CPROF_BY_TYPE };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, histogram_option, &o);
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
	struct cprof_site_coverage cov = { 0, 0 };
	uint64_t garbage_count = 0, garbage_bytes = 0;
	struct cprof_error *err = cprof_query_groups(db, path, o.by, o.pattern, &g, &n);
	if (!err && o.by == CPROF_BY_SITE)
		err = cprof_query_site_coverage(db, path, &cov);
	if (!err)
		err = cprof_query_garbage(db, path, o.pattern, NULL, &garbage_count, &garbage_bytes);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (json) {
		cprof_report_groups_json(stdout, g, n, o.by, limit);
	} else {
		cprof_report_groups(stdout, g, n, o.by, limit);
		cprof_report_site_coverage(stdout, &cov);
		cprof_report_garbage_left_out(stdout, garbage_count, garbage_bytes, o.pattern != NULL);
	}
	free(g);
	return EXIT_OK;
}
