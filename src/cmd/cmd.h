/*
 * cmd.h - what the subcommands share: their entry points (one file each,
 * src/cmd/cmd-<name>.c, dispatched from the table in src/cprof.c) and the
 * options every command that opens a core takes.
 *
 * A command parses its options, calls the library and prints.  It returns
 * the process exit status: 0 ok, 1 error, 2 usage.  It prints its own errors
 * with cprof_error_fwrite(); the library never prints.
 */
#ifndef CPROF_CMD_H
#define CPROF_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cprof/core.h"
#include "cprof/error.h"

enum cmd_exit {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
};

int cmd_analyze(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_path(int argc, char **argv);
int cmd_roots(int argc, char **argv);
int cmd_histogram(int argc, char **argv);
int cmd_goroutines(int argc, char **argv);
int cmd_pprof(int argc, char **argv);
int cmd_diff(int argc, char **argv);

struct sqlite3;
/* Opens a cprof.db for a query command; prints the error and returns false
 * on failure. */
bool cmd_open_db(const char *path, struct sqlite3 **ret);

struct cprof_allocator_row;
/* The allocators of cprof.db (*ret malloc'd); prints the error and returns
 * false on failure. */
bool cmd_query_allocators(struct sqlite3 *db, const char *path,
			  struct cprof_allocator_row **ret, size_t *n_ret);
/* For a report of leaks, sizes or retention: one line per allocator whose
 * heap was not analyzed, on stdout, or as a warning on stderr (JSON whose
 * shape has no place for it). */
void cmd_say_not_analyzed(const struct cprof_allocator_row *rows, size_t n, bool to_stderr);

/* The same straight from db, for reports whose JSON is an array (the lines
 * go to stderr then); false after printing an error. */
bool cmd_say_not_analyzed_db(struct sqlite3 *db, const char *path, bool json);

/* --by KEY of a report that groups objects: the first n_keys of "type",
 * "size", "site" (in that order) are allowed; false when KEY is not one. */
bool cmd_parse_group_by(const char *key, int n_keys, int *by);

/* Options of every command that reads cprof.db: --db, --json, --limit, --help. */
struct db_args {
	const char *path;          /* "cprof.db" */
	bool json;
	uint64_t limit;            /* the command's default until --limit */
};
#define DB_LONG_OPTIONS \
	{ "db", required_argument, NULL, OPT_DB }, \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "limit", required_argument, NULL, OPT_LIMIT }, \
	{ "help", no_argument, NULL, OPT_HELP }
/* Takes --db, --json and --limit: 1 when it took opt, 0 when opt is not one
 * of them, -1 after printing a usage error for a bad value. */
int db_args_option(struct db_args *a, int opt, const char *arg, const char *usage);
/* The whole option loop of a command that reads cprof.db: --db, --json and
 * --limit into a; --help prints the usage line, a blank line and help;
 * any other option of longopts goes to own(opt, optarg, ctx) (NULL: the
 * command has none), which returns -1 when it took it, or an exit status
 * after a usage error.  Returns -1 when the command goes on (optind at its
 * first operand), else the status to exit with. */
int db_args_parse(int argc, char **argv, const struct option *longopts,
		  struct db_args *a, const char *usage, const char *help,
		  int (*own)(int opt, const char *arg, void *ctx), void *ctx);

/* Options of every command that opens a core: CORE [EXE] and these. */
struct core_args {
	const char *core;
	const char *exe;
	const char *sysroot;
	const char *debug_dirs[16];
	size_t n_debug_dirs;
	bool no_default_debug_dirs;
	bool quiet;                /* do not print warnings as they come */
	struct cprof_warnings warnings;
};

/* getopt_long entries for the core options; values >= 0x100 are ours. */
enum {
	OPT_SYSROOT = 0x100,
	OPT_DEBUG_DIR,
	OPT_NO_DEFAULT_DEBUG_DIRS,
	OPT_JSON,
	OPT_DB,
	OPT_HELP,
	OPT_LIMIT,
	OPT_FIRST_COMMAND_OPTION,
};
#define CORE_LONG_OPTIONS \
	{ "sysroot", required_argument, NULL, OPT_SYSROOT }, \
	{ "debug-dir", required_argument, NULL, OPT_DEBUG_DIR }, \
	{ "no-default-debug-dirs", no_argument, NULL, OPT_NO_DEFAULT_DEBUG_DIRS }

#define CORE_OPTIONS_HELP \
	"  --sysroot DIR        look for the core's files under DIR (a core from another machine)\n" \
	"  --debug-dir DIR      look for separate debug info in DIR first (repeatable)\n" \
	"  --no-default-debug-dirs  do not look in /usr/lib/debug\n"

/* Handles one core option; returns false when opt is not one. */
bool core_args_option(struct core_args *a, int opt, const char *arg);
/* Takes CORE [EXE] from the operands; returns false (after printing usage
 * help to stderr) when they are wrong. */
bool core_args_operands(struct core_args *a, int argc, char **argv,
			int first, const char *usage);
/* Opens the core; warnings go to stderr as they arrive. */
struct cprof_error *core_args_open(struct core_args *a, struct cprof_core **ret);
/* The same, printing the error and releasing a on failure: returns false
 * then (the command exits with EXIT_ERROR). */
bool core_args_open_or_report(struct core_args *a, struct cprof_core **ret);
/* Prints err and frees it; returns EXIT_ERROR. */
int cmd_report_error(struct cprof_error *err);
void core_args_deinit(struct core_args *a);

/* Usage errors: prints "cprof-core: <msg>" and the usage line to stderr. */
__attribute__((format(printf, 2, 3)))
int cmd_usage_error(const char *usage, const char *fmt, ...);

/* Parses "0x..."/decimal into *ret; false when malformed. */
bool parse_u64(const char *s, uint64_t *ret);

#endif
