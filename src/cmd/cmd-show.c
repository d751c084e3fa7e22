/*
 * cmd-show.c - `cprof-core show ADDR|ID`: one object, from cprof.db: options
 * -> compute (cprof_query_show) -> render (src/report/show.c).
 *
 * Its size and state, whether it is leaked, how far it is from a root, what
 * it retains, its dominator chain up to the roots, the root slots that point
 * at it, and the pointers into and out of it.
 */
#include <getopt.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core show ADDR|ID [--db FILE] [--limit N] [--json]";

static const char help[] =
	"One object of cprof.db: ADDR is any address inside it (0x...), ID its\n"
	"object id.  Shows its size and state, its leak class, its distance\n"
	"from a root, what it retains, its dominator chain up to the roots,\n"
	"the root slots that point at it and the pointers into and out of it\n"
	"(at most N of each, --limit, default 20).\n";

int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 20 };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cmd_usage_error(usage, "expected one ADDR or ID");
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	/* two dominator chains of rows: not for the stack */
	struct cprof_object_report *r = malloc(sizeof(*r));
	struct cprof_error *err = r ? cprof_query_show(db, a.path, argv[optind], (size_t)a.limit, r) :
				      &cprof_enomem;
	cprof_store_close(db);
	if (err) {
		free(r);
		return cmd_report_error(err);
	}
	if (a.json)
		cprof_report_object_json(stdout, r);
	else
		cprof_report_object(stdout, r);
	cprof_object_report_deinit(r);
	free(r);
	return EXIT_OK;
}
