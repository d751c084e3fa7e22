/*
 * cprof.c - main: the command table and the dispatcher.
 *
 * To add a command (the checklist git's builtin.h keeps):
 *   1. write src/cmd/cmd-<name>.c with int cmd_<name>(int argc, char **argv),
 *      which parses its options, calls libcprof and prints;
 *   2. declare it in src/cmd/cmd.h and add a row to commands[] below;
 *   3. add the file to meson.build;
 *   4. document it in docs/commands.md (and formats/ for a new --json shape);
 *   5. add tests/tNNNN-<name>-*.py and list it in tests/meson.build.
 *
 * `cprof-core CORE [EXE]` is shorthand for `cprof-core analyze CORE [EXE]`
 * when the first word is not a command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cprof/terminal.h"

#ifndef CPROF_VERSION
#define CPROF_VERSION "unknown"
#endif

enum cmd_flags {
	CMD_NEEDS_CORE = 1 << 0,   /* reads a core (CORE [EXE]) */
	CMD_WRITES_DB = 1 << 1,    /* writes cprof.db */
	CMD_READS_DB = 1 << 2,     /* reads cprof.db */
};

struct cmd_struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned flags;            /* enum cmd_flags: documentation and help */
	const char *summary;
};

static const struct cmd_struct commands[] = {
	{ "analyze", cmd_analyze, CMD_NEEDS_CORE | CMD_WRITES_DB,
	  "analyze a core: write cprof.db and print the summary" },
	{ "info", cmd_info, CMD_NEEDS_CORE,
	  "the process in a core: threads, backtraces, mappings, modules" },
	{ "leaks", cmd_leaks, CMD_READS_DB,
	  "leaked memory, grouped by leak root" },
	{ "roots", cmd_roots, CMD_READS_DB,
	  "which roots retain the objects of a type (--type PATTERN)" },
	{ "histogram", cmd_histogram, CMD_READS_DB,
	  "objects by type or size, with self and retained bytes" },
	{ "top", cmd_top, CMD_READS_DB,
	  "what retains the most memory: roots and objects, with suspects" },
	{ "show", cmd_show, CMD_READS_DB,
	  "one object: size, pointers in and out, dominators, retained size" },
	{ "path", cmd_path, CMD_READS_DB,
	  "how an object is reached from a root (shortest path)" },
	{ "goroutines", cmd_goroutines, CMD_READS_DB,
	  "Go: goroutines grouped by state and stack, with what they retain" },
	{ "diff", cmd_diff, CMD_READS_DB,
	  "growth between two databases: by type, allocation stack or root" },
	{ "pprof", cmd_pprof, CMD_READS_DB,
	  "the objects as a pprof profile: by allocation stack, retention or type" },
	{ "read", cmd_read, CMD_NEEDS_CORE,
	  "dump memory of the process, saying where each byte comes from" },
};

static void print_usage(FILE *out)
{
	fprintf(out,
		"usage: cprof-core CORE [EXE] [options]       (same as 'analyze')\n"
		"       cprof-core <command> [options] [args]\n"
		"       cprof-core --version | --help\n"
		"\n"
		"What is holding the memory of a process, from its core dump.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s%s\n", commands[i].name,
			commands[i].summary,
			commands[i].flags & CMD_READS_DB ? " (reads cprof.db)" : "");
	fprintf(out,
		"\n'cprof-core <command> --help' describes a command.\n"
		"Exit status: 0 ok, 1 error (bad or unusable input), 2 usage.\n");
}

static const struct cmd_struct *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* As git and perf do: output that could not be written is an error.  The
 * stream is closed here so that the filter writes what it still holds. */
static int check_stdout(int status)
{
	if (fflush(stdout) || ferror(stdout) || fclose(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "cprof-core: error: standard output: %s\n",
				strerror(errno));
		return status ? status : EXIT_ERROR;
	}
	return status;
}

/* Wraps stdout and stderr so that nothing from the core can drive the
 * terminal (cprof/terminal.h); on failure (out of memory) they stay as
 * they are. */
static void filter_output(void)
{
	FILE *out = cprof_terminal_filter(STDOUT_FILENO, false);
	FILE *err = cprof_terminal_filter(STDERR_FILENO, true);
	if (out)
		stdout = out;
	if (err)
		stderr = err;
}

/* The command line, dispatched; the exit status. */
static int run(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	const char *first = argv[1];
	if (!strcmp(first, "--help") || !strcmp(first, "-h") ||
	    !strcmp(first, "help")) {
		if (argc > 2 && strcmp(first, "help") == 0) {
			const struct cmd_struct *c = find_command(argv[2]);
			if (c) {
				char *args[] = { argv[2], "--help", NULL };
				return c->fn(2, args);
			}
		}
		print_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(first, "--version")) {
		printf("cprof-core %s\n", CPROF_VERSION);
		return EXIT_OK;
	}
	const struct cmd_struct *c = find_command(first);
	if (c)
		return c->fn(argc - 1, argv + 1);
	if (first[0] == '-') {
		fprintf(stderr, "cprof-core: unknown option '%s'\n", first);
		print_usage(stderr);
		return EXIT_USAGE;
	}
	/* cprof-core CORE [EXE]: analyze.  argv[0] stands for the command name. */
	argv[0] = "analyze";
	return cmd_analyze(argc, argv);
}

int main(int argc, char **argv)
{
	filter_output();
	int status = check_stdout(run(argc, argv));
	/* The filter of stderr is closed too: glibc keeps a cookie where
	   LeakSanitizer does not see it, and nothing is left to say. */
	fclose(stderr);
	return status;
}
