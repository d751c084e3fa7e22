/*
 * cmd-analyze.c - `cprof-core analyze CORE [EXE]` (and `cprof-core CORE
 * [EXE]`): the main job.  Walks the heaps, writes cprof.db (under a temporary
 * name, renamed when complete), prints the summary.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/pipeline.h"
#include "cprof/pprof.h"
#include "cprof/report.h"
#include "cprof/store.h"

enum { SUMMARY_LEAK_ROOTS = 5, SUMMARY_ENTRIES = 5, REACHED_FROM = 4 };

static const char usage[] =
	"cprof-core analyze CORE [EXE] [--db FILE] [--profile HEAP_PROFILE] [--no-refs] [--json] [--sysroot DIR] [--debug-dir DIR]";

enum { OPT_NO_REFS = OPT_FIRST_COMMAND_OPTION, OPT_PROFILE, PROFILE_SITES = 10 };

/* The command line, for meta. */
static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int cmd_analyze(int argc, char **argv)
{
	static const struct option longopts[] = {
		CORE_LONG_OPTIONS,
		{ "db", required_argument, NULL, OPT_DB },
		{ "no-refs", no_argument, NULL, OPT_NO_REFS },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct core_args a = { 0 };
	const char *db = "cprof.db", *profile = NULL;
	bool json = false, no_refs = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (core_args_option(&a, opt, optarg))
			continue;
		switch (opt) {
		case OPT_DB:
			db = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_NO_REFS:
			no_refs = true;
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_HELP:
			printf("usage: %s\n\n"
			       "Analyzes a core: walks the allocators' heaps, finds the roots, scans for\n"
			       "pointers, finds the leaks and writes everything to cprof.db (SQLite; see\n"
			       "docs/schema.md), then prints a summary.  The\n"
			       "database is written under a temporary name and renamed when complete;\n"
			       "an existing one is kept as FILE.old.  `cprof-core CORE [EXE]` is the same.\n\n"
			       "  --db FILE            write FILE instead of ./cprof.db\n"
			       "  --no-refs            leave the ref table (object-to-object pointers) out\n"
			       "  --profile FILE       pair the core with a heap profile of the same process:\n"
			       "                       pprof's profile.proto (gzipped or not; Go's\n"
			       "                       /debug/pprof/heap), gperftools' or jemalloc's text\n"
			       "                       heap profiles: each sample matched to the core's\n"
			       "                       allocation record with the same stack\n"
			       "  --json               print the summary as JSON (formats/summary.json.md)\n"
			       CORE_OPTIONS_HELP, usage);
			return EXIT_OK;
		default:
			return cmd_usage_error(usage, "bad option");
		}
	}
	if (!core_args_operands(&a, argc, argv, optind, usage))
		return EXIT_USAGE;

	struct cprof_error *err = cprof_store_check_target(db);
	if (err) {
		cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		core_args_deinit(&a);
		return EXIT_ERROR;
	}
	struct cprof_pprof_profile prof = { 0 };
	if (profile && (err = cprof_pprof_read(profile, &prof))) {
		core_args_deinit(&a);
		return cmd_report_error(err);
	}
	double t0 = cprof_now();
	struct cprof_progress progress;
	cprof_progress_init(&progress);
	struct cprof_core *core;
	if (!core_args_open_or_report(&a, &core)) {
		cprof_pprof_profile_deinit(&prof);
		return EXIT_ERROR;
	}
	char *cmdline = join_args(argc, argv);
	struct cprof_analyze_options o = {
		.db_path = db,
		.exe_path = a.exe,
		.command_line = cmdline,
		.progress = &progress,
		.no_refs = no_refs,
		.profile_path = profile,
		.profile = profile ? &prof : NULL,
	};
	struct cprof_analysis an = { 0 };
	err = cprof_analyze(core, &o, &an);
	int status = EXIT_OK;
	if (err) {
		cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		status = EXIT_ERROR;
	} else {
		/* The summary is made from memory while the database is being
		   written, by the code `cprof-core leaks` and `top` run on it: the
		   same answers, printed (as text) before the file is complete. */
		struct cprof_leak_totals lt = { 0 };
		struct cprof_leak_row *rows = NULL;
		struct cprof_allocator_row *al = NULL;
		struct cprof_entries es = { 0 };
		struct cprof_profile_report pr = { 0 };
		size_t n_rows = 0, n_al = 0;
		err = cprof_results_allocators(&an.walk, &al, &n_al);
		if (!err)
			err = cprof_results_leaks(&an, &an.previews, SUMMARY_LEAK_ROOTS, &lt, &rows,
						  &n_rows);
		if (!err)
			err = cprof_results_entries(core, &an, !no_refs, SUMMARY_ENTRIES,
						    REACHED_FROM, &es);
		cprof_analyze_results_done(&an);
		double t_summary = cprof_now() - t0;
		if (!err && !json) {
			cprof_report_summary(stdout, core, &an, db, a.exe, t_summary);
			printf("\n");
			cmd_say_not_analyzed(al, n_al, false);
			bool walked = cprof_report_heap_walked(al, n_al);
			cprof_report_leaks(stdout, &lt, rows, n_rows, lt.roots, walked);
			if (walked)
				cprof_report_entries(stdout, &es);
			if (!profile)
				cprof_report_next(stdout, core->path, a.exe, db);
			fflush(stdout);
		}
		if (!err)
			err = cprof_analyze_finish(core, &o, &an);
		/* the pairing with a heap profile is read back from cprof.db once
		   it is complete (its tables are written by the store) */
		if (!err && profile) {
			struct sqlite3 *sdb;
			err = cprof_store_open(db, &sdb);
			if (!err) {
				err = cprof_query_profile(sdb, db, &pr);
				cprof_store_close(sdb);
			}
		}
		if (err) {
			cprof_error_fwrite(err, stderr);
			cprof_error_destroy(err);
			status = EXIT_ERROR;
		} else if (json) {
			cprof_report_summary_json(stdout, core, &an, db, cprof_now() - t0,
						  t_summary, &lt, rows, n_rows, &es, profile ? &pr : NULL);
		} else {
			if (profile) {
				cprof_report_profile(stdout, &pr, PROFILE_SITES);
				cprof_report_next(stdout, core->path, a.exe, db);
			}
			cprof_report_stored(stdout, &an, db);
		}
		cprof_leak_rows_free(rows, n_rows);
		free(al);
		cprof_entries_deinit(&es);
		cprof_profile_report_deinit(&pr);
		if (!json && !status && a.warnings.count)
			printf("\n%zu warning%s (printed on stderr above)\n",
			       a.warnings.count + a.warnings.dropped,
			       a.warnings.count == 1 ? "" : "s");
	}
	cprof_analysis_deinit(&an);
	cprof_pprof_profile_deinit(&prof);
	free(cmdline);
	cprof_core_close(core);
	core_args_deinit(&a);
	return status;
}
