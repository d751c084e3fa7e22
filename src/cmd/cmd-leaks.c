/*
 * cmd-leaks.c - `cprof-core leaks`: the leak roots, from cprof.db: options
 * -> compute (cprof_query_leak_report) -> render (src/report/leaks.c, the
 * same rows as the summary's leak section).
 *
 * Reads the database `analyze` wrote; never the core.
 */
#include <getopt.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core leaks [--db FILE] [--min-bytes N] [--limit N] [--by type|size] [--json]";

enum { OPT_MIN_BYTES = OPT_FIRST_COMMAND_OPTION, OPT_BY };

static const char help[] =
	"Lists the leak roots of cprof.db, biggest first: used chunks no root\n"
	"reaches and no other leaked chunk points to (valgrind's \"definitely\n"
	"lost\"), each with what it holds (the leaked chunks reachable from it,\n"
	"valgrind's \"indirectly lost\"), its first bytes and the symbols its\n"
	"words point to.  Reads the database; never the core.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --min-bytes N        only leak roots that hold N bytes or more\n"
	"  --limit N            at most N leak roots (or groups)\n"
	"  --by type|size       the leak roots gathered by type (their class or\n"
	"                       DWARF type) or by size, as valgrind's loss records\n"
	"  --json               formats/leaks.json.md\n";

struct leaks_opts {
	uint64_t min_bytes;
	bool grouped;
	enum cprof_group_by by;
};

/* db_args_parse's callback: --min-bytes N, --by KEY into *ctx. */
static int leaks_option(int opt, const char *arg, void *ctx)
{
	struct leaks_opts *o = ctx;
	if (opt == OPT_MIN_BYTES) {
		if (!parse_u64(arg, &o->min_bytes))
			return cmd_usage_error(usage, "bad --min-bytes '%s'", arg);
		return -1;
	}
	if (opt == OPT_BY) {
		int by;
		if (!cmd_parse_group_by(arg, 2, &by))
			return cmd_usage_error(usage, "--by takes type or size, not '%s'", arg);
		o->grouped = true;
		o->by = (enum cprof_group_by)by;
		return -1;
	}
	return cmd_usage_error(usage, "bad option");
}

int cmd_leaks(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "min-bytes", required_argument, NULL, OPT_MIN_BYTES },
		{ "by", required_argument, NULL, OPT_BY },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 0 };
	struct leaks_opts o = { 0, false, CPROF_BY_TYPE };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, leaks_option, &o);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	struct cprof_leak_report r;
	struct cprof_error *err = cprof_query_leak_report(db, a.path, o.min_bytes, (size_t)a.limit,
							   o.grouped, o.by, &r);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (a.json)
		cprof_report_leak_report_json(stdout, a.path, &r);
	else
		cprof_report_leak_report(stdout, &r);
	cprof_leak_report_deinit(&r);
	return EXIT_OK;
}
