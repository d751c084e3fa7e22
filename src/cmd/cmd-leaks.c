/*
 * cmd-leaks.c - `cprof-core leaks`: the leak roots, from cprof.db.
 *
 * Reads the database `analyze` wrote; never the core.
 */
#include <getopt.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core leaks [--db FILE] [--min-bytes N] [--limit N] [--json]";

enum { OPT_MIN_BYTES = OPT_FIRST_COMMAND_OPTION };

static const char help[] =
	"Lists the leak roots of cprof.db, biggest first: used chunks no root\n"
	"reaches and no other leaked chunk points to (valgrind's \"definitely\n"
	"lost\"), each with what it holds (the leaked chunks reachable from it,\n"
	"valgrind's \"indirectly lost\"), its first bytes and the symbols its\n"
	"words point to.  Reads the database; never the core.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --min-bytes N        only leak roots that hold N bytes or more\n"
	"  --limit N            at most N leak roots\n"
	"  --json               formats/leaks.json.md\n";

/* db_args_parse's callback: --min-bytes N into *ctx (uint64_t). */
static int leaks_option(int opt, const char *arg, void *ctx)
{
	if (opt != OPT_MIN_BYTES)
		return cmd_usage_error(usage, "bad option");
	if (!parse_u64(arg, ctx))
		return cmd_usage_error(usage, "bad --min-bytes '%s'", arg);
	return -1;
}

int cmd_leaks(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "min-bytes", required_argument, NULL, OPT_MIN_BYTES },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 0 };
	uint64_t min_bytes = 0;
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, leaks_option, &min_bytes);
	if (rc >= 0)
		return rc;
	const char *db_path = a.path;
	bool json = a.json;
	uint64_t limit = a.limit;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);

	struct sqlite3 *db;
	struct cprof_error *err = cprof_store_open(db_path, &db);
	if (err) {
		cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		return EXIT_ERROR;
	}
	struct cprof_leak_totals t;
	struct cprof_leak_row *rows;
	struct cprof_allocator_row *al = NULL;
	size_t n, n_al = 0;
	if (!cmd_query_allocators(db, db_path, &al, &n_al)) {
		cprof_store_close(db);
		return EXIT_ERROR;
	}
	err = cprof_query_leaks(db, db_path, min_bytes, (size_t)limit, &t, &rows, &n);
	cprof_store_close(db);
	if (err) {
		free(al);
		cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		return EXIT_ERROR;
	}
	if (json) {
		cprof_report_leaks_json(stdout, db_path, &t, rows, n, al, n_al);
	} else {
		cmd_say_not_analyzed(al, n_al, false);
		cprof_report_leaks(stdout, &t, rows, n, min_bytes ? n : t.roots);
	}
	cprof_leak_rows_free(rows, n);
	free(al);
	return EXIT_OK;
}
