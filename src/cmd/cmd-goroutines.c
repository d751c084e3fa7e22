/*
 * cmd-goroutines.c - `cprof-core goroutines`: a Go process's goroutines
 * grouped by state, wait reason and stack, each group with its count, the
 * function its goroutines run, where they were created, the memory of their
 * stacks and the heap the group alone keeps alive (its root node's retained
 * size), from cprof.db: options -> compute (cprof_query_goroutines) ->
 * render (src/report/goroutines.c).  The goroutine-leak view: 10,000
 * goroutines parked on one channel come out as one line with what they pin.
 */
#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core goroutines [--db FILE] [--limit N] [--json]";

static const char help[] =
	"A Go process's goroutines, grouped: the same status, wait reason and\n"
	"functions on the stack.  Per group, biggest retained first: how many,\n"
	"their state, the memory of their stacks, the heap they alone keep alive\n"
	"(freed if they all returned), the function they run (the innermost one\n"
	"outside the runtime and the standard library), the one they started in\n"
	"when it differs, the go statement that made them, their lowest\n"
	"goroutine ids and their stack (the calls inlined into a frame included,\n"
	"as the runtime's traceback lists them).  In a core the runtime wrote as\n"
	"it crashed, the goroutine the fatal signal interrupted (the traceback's\n"
	"first) is marked.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            at most N groups (default 20)\n"
	"  --json               {version, goroutines, groups_total, groups: [{count, status,\n"
	"                        wait_reason, function, start_function,\n"
	"                        created_by, stack: [...], stack_bytes, retained_bytes,\n"
	"                        retained_count, goids: [...], signalled}]}\n";

int cmd_goroutines(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 20 };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	struct cprof_goroutines_report r;
	struct cprof_error *err = cprof_query_goroutines(db, a.path, &r);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (!r.n && !a.json)
		fprintf(stderr, "cprof-core: %s: no goroutines (not a Go process)\n", a.path);
	else if (a.json)
		cprof_report_goroutines_json(stdout, &r, (size_t)a.limit);
	else
		cprof_report_goroutines(stdout, &r, (size_t)a.limit);
	cprof_goroutines_report_deinit(&r);
	return EXIT_OK;
}
