/*
 * cmd-pprof.c - `cprof-core pprof [--by site|retention|type] [-o FILE]`: the
 * objects of cprof.db as a pprof profile (gzipped profile.proto) for `go tool
 * pprof`: options -> compute (a query of src/store) -> render
 * (src/report/pprof.c).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] =
	"cprof-core pprof [--by site|retention|type] [-o FILE] [--db FILE]";

enum { OPT_BY = OPT_FIRST_COMMAND_OPTION, OPT_OUT };
enum by { BY_SITE, BY_RETENTION, BY_TYPE };

static const char help[] =
	"Writes the used objects of cprof.db as a pprof profile (gzipped\n"
	"profile.proto) that `go tool pprof` reads; values inuse_objects,\n"
	"inuse_space (the objects' own bytes, the default) and retained_space.\n\n"
	"  --by site            one sample per allocation stack the profiler recorded\n"
	"                       (Go, jemalloc prof:true), with its addresses, mappings\n"
	"                       and build ids, file:line: an exact heap profile of\n"
	"                       what is live in the core (the default)\n"
	"  --by retention       the stack of each sample is the dominator chain from\n"
	"                       the root (goroutine and frame, global, thread) down\n"
	"                       through the types to the object: in a flame graph of\n"
	"                       inuse_space each frame's total is what it retains\n"
	"  --by type            one frame per type (histogram --by type)\n"
	"  -o FILE              write FILE (default cprof.pb.gz; - for stdout)\n"
	"  --db FILE            read FILE instead of ./cprof.db\n";

struct pprof_opts {
	enum by by;
	const char *out;
};

static int pprof_option(int opt, const char *arg, void *ctx)
{
	struct pprof_opts *o = ctx;
	if (opt == OPT_OUT || opt == 'o') {
		o->out = arg;
		return -1;
	}
	if (opt != OPT_BY)
		return cmd_usage_error(usage, "bad option");
	if (!strcmp(arg, "site"))
		o->by = BY_SITE;
	else if (!strcmp(arg, "retention"))
		o->by = BY_RETENTION;
	else if (!strcmp(arg, "type"))
		o->by = BY_TYPE;
	else
		return cmd_usage_error(usage, "--by takes site, retention or type, not '%s'", arg);
	return -1;
}

/* --by site: the groups by allocation stack, their frames and the modules. */
static struct cprof_error *by_site(struct sqlite3 *db, const char *path,
				   const struct cprof_module_row *m, size_t n_m,
				   const char *comment, const char *out)
{
	struct cprof_group_row *g = NULL;
	struct cprof_site_table sites = { 0 };
	size_t n = 0;
	struct cprof_error *err = cprof_query_sites(db, path, &sites);
	if (!err)
		err = cprof_query_groups(db, path, CPROF_BY_SITE_ID, NULL, &g, &n);
	if (!err)
		err = cprof_report_pprof_sites(g, n, &sites, m, n_m, comment, out);
	cprof_site_table_deinit(&sites);
	free(g);
	return err;
}

static struct cprof_error *by_what(struct sqlite3 *db, const char *path, enum by by,
				   const struct cprof_module_row *m, size_t n_m,
				   const char *comment, const char *out)
{
	if (by == BY_SITE)
		return by_site(db, path, m, n_m, comment, out);
	if (by == BY_TYPE) {
		struct cprof_group_row *g = NULL;
		size_t n = 0;
		struct cprof_error *err = cprof_query_groups(db, path, CPROF_BY_TYPE, NULL, &g, &n);
		if (!err)
			err = cprof_report_pprof_types(g, n, m, n_m, comment, out);
		free(g);
		return err;
	}
	struct cprof_retention_stacks r;
	struct cprof_error *err = cprof_query_retention_stacks(db, path, &r);
	if (!err)
		err = cprof_report_pprof_retention(&r, m, n_m, comment, out);
	cprof_retention_stacks_deinit(&r);
	return err;
}

static struct cprof_error *run(struct sqlite3 *db, const char *path, enum by by,
			       const char *out)
{
	static const char *const what[] = {
		[BY_SITE] = "cprof-core pprof --by site: the used objects by allocation stack",
		[BY_RETENTION] = "cprof-core pprof --by retention: the used objects by dominator chain",
		[BY_TYPE] = "cprof-core pprof --by type: the used objects by type",
	};
	char comment[1024];
	snprintf(comment, sizeof(comment), "%s, from %s", what[by], path);
	struct cprof_module_row *m = NULL;
	size_t n_m = 0;
	struct cprof_error *err = cprof_query_modules(db, path, &m, &n_m);
	if (!err)
		err = by_what(db, path, by, m, n_m, comment, out);
	free(m);
	return err;
}

int cmd_pprof(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ "by", required_argument, NULL, OPT_BY },
		{ "output", required_argument, NULL, OPT_OUT },
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 0 };
	struct pprof_opts o = { BY_SITE, "cprof.pb.gz" };
	/* -o FILE: getopt_long reads short options from argv too */
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-o"))
			argv[i] = "--output";
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, pprof_option, &o);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (a.json)
		return cmd_usage_error(usage, "--json: a pprof profile is the output (go tool pprof -raw prints it)");
	struct sqlite3 *db;
	if (!cmd_open_db(a.path, &db))
		return EXIT_ERROR;
	if (!cmd_say_not_analyzed_db(db, a.path, true)) {
		cprof_store_close(db);
		return EXIT_ERROR;
	}
	struct cprof_error *err = run(db, a.path, o.by, o.out);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (strcmp(o.out, "-"))
		fprintf(stderr, "cprof-core: wrote %s (go tool pprof %s)\n", o.out, o.out);
	return EXIT_OK;
}
