/*
 * cmd-top.c - `cprof-core top`: what retains the most memory, from cprof.db:
 * options -> compute (cprof_query_top_report) -> render (src/report/top.c).
 *
 * Like Eclipse MAT's biggest objects and leak suspects: first where the
 * memory is (the dominator tree's top entries, grouped: shared memory too),
 * then the root nodes and the objects that retain the most (what would be
 * freed if they let go), each one retaining more than 10% of the heap flagged
 * as a suspect, with its accumulation point: going down the dominator tree
 * while one child holds most of what its parent retains, the object (or
 * root) where the memory spreads over many children.
 */
#include <getopt.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core top [--db FILE] [--limit N] [--json]";

/* Root slots listed per top entry. */
enum { REACHED_FROM = 4 };

static const char help[] =
	"Where the memory is: the objects no other object keeps alive (the top of\n"
	"the dominator tree), grouped by type and by the root that holds them,\n"
	"or shared by several roots, each with root slots that reach it and a\n"
	"path; then the roots and the objects that retain the most memory (the\n"
	"bytes that would be freed if they let go), biggest first, from\n"
	"cprof.db.  Any that retains more than 10% of the heap is a suspect,\n"
	"shown with its accumulation point: where, going down the dominator\n"
	"tree, the memory spreads over many objects.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            N of each (default 10)\n"
	"  --json               formats/top.json.md\n";

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 10 };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	struct cprof_top_report r;
	struct cprof_error *err = cprof_query_top_report(db, a.path, (size_t)a.limit, REACHED_FROM, &r);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (a.json)
		cprof_report_top_json(stdout, &r);
	else
		cprof_report_top(stdout, &r);
	cprof_top_report_deinit(&r);
	return EXIT_OK;
}
