/*
 * cmd-path.c - `cprof-core path ADDR|ID [--all N]`: how an object is reached
 * from a root, from cprof.db: options -> compute (cprof_query_object_paths)
 * -> render (src/report/path.c).  By default the shortest path the analysis
 * stored (a BFS from every root slot); with --all N, up to N paths from
 * distinct root slots (a backward search over the references).  Each step
 * names the object's type and the member that points to the next.
 */
#include <getopt.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core path ADDR|ID [--all N] [--db FILE] [--json]";

/* --all asks for at most MAX_ALL paths: each is a search of its own, and
 * more than a screenful of them is not read. */
enum { OPT_ALL = OPT_FIRST_COMMAND_OPTION, MAX_ALL = 10000 };

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
	if (argc - optind != 1)
		return cmd_usage_error(usage, "expected one ADDR or ID");
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	struct cprof_path_report r;
	struct cprof_error *err = cprof_query_object_paths(db, a.path, argv[optind], (size_t)all, &r);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (a.json)
		cprof_report_object_paths_json(stdout, &r);
	else
		cprof_report_object_paths(stdout, &r);
	cprof_path_report_deinit(&r);
	return EXIT_OK;
}
