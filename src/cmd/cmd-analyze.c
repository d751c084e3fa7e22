/*
 * cmd-analyze.c - `cprof-core analyze CORE [EXE]` (and `cprof-core CORE
 * [EXE]`): the main job.  Placeholder until the store lands in this change.
 */
#include "cmd/cmd.h"

int cmd_analyze(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "cprof-core: error: analyze is not implemented yet\n");
	return EXIT_ERROR;
}
