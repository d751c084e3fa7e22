/*
 * cmd-common.c - what the commands share: CORE [EXE] operands and options,
 * opening a core with warnings printed as they come, usage errors.
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cprof/report.h"
#include "cprof/store.h"

bool core_args_option(struct core_args *a, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SYSROOT:
		a->sysroot = arg;
		return true;
	case OPT_DEBUG_DIR:
		if (a->n_debug_dirs < sizeof(a->debug_dirs) / sizeof(a->debug_dirs[0]))
			a->debug_dirs[a->n_debug_dirs++] = arg;
		return true;
	case OPT_NO_DEFAULT_DEBUG_DIRS:
		a->no_default_debug_dirs = true;
		return true;
	}
	return false;
}

int cmd_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	fputs("cprof-core: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", usage);
	return EXIT_USAGE;
}

bool core_args_operands(struct core_args *a, int argc, char **argv,
			int first, const char *usage)
{
	int n = argc - first;
	if (n < 1) {
		cmd_usage_error(usage, "missing CORE");
		return false;
	}
	if (n > 2) {
		cmd_usage_error(usage, "too many arguments");
		return false;
	}
	a->core = argv[first];
	if (n == 2)
		a->exe = argv[first + 1];
	return true;
}

static void print_warning(const char *message, void *arg)
{
	(void)arg;
	fprintf(stderr, "cprof-core: warning: %s\n", message);
}

struct cprof_error *core_args_open(struct core_args *a, struct cprof_core **ret)
{
	if (!a->quiet)
		a->warnings.callback = print_warning;
	struct cprof_core_options o = {
		.core_path = a->core,
		.exe_path = a->exe,
		.sysroot = a->sysroot,
		.debug_dirs = a->debug_dirs,
		.n_debug_dirs = a->n_debug_dirs,
		.no_default_debug_dirs = a->no_default_debug_dirs,
		.warnings = &a->warnings,
	};
	return cprof_core_open(&o, ret);
}

int cmd_report_error(struct cprof_error *err)
{
	cprof_error_fwrite(err, stderr);
	cprof_error_destroy(err);
	return EXIT_ERROR;
}

bool core_args_open_or_report(struct core_args *a, struct cprof_core **ret)
{
	struct cprof_error *err = core_args_open(a, ret);
	if (!err)
		return true;
	cmd_report_error(err);
	core_args_deinit(a);
	return false;
}

void core_args_deinit(struct core_args *a)
{
	cprof_warnings_deinit(&a->warnings);
}

bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

bool cmd_query_allocators(struct sqlite3 *db, const char *path,
			  struct cprof_allocator_row **ret, size_t *n_ret)
{
	struct cprof_error *err = cprof_query_allocators(db, path, ret, n_ret);
	if (!err)
		return true;
	cmd_report_error(err);
	return false;
}

void cmd_say_not_analyzed(const struct cprof_allocator_row *rows, size_t n, bool to_stderr)
{
	if (!to_stderr) {
		cprof_report_not_analyzed(stdout, rows, n);
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	cprof_report_not_analyzed(f, rows, n);
	fclose(f);
	for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		fprintf(stderr, "cprof-core: warning: %.*s\n",
			(int)(end ? end - line : (ptrdiff_t)strlen(line)), line);
	}
	free(text);
}

bool cmd_parse_group_by(const char *key, int n_keys, int *by)
{
	static const struct { const char *name; enum cprof_group_by by; } keys[] = {
		{ "type", CPROF_BY_TYPE }, { "size", CPROF_BY_SIZE }, { "site", CPROF_BY_SITE },
	};
	for (int i = 0; i < n_keys && i < 3; i++)
		if (!strcmp(key, keys[i].name)) {
			*by = (int)keys[i].by;
			return true;
		}
	return false;
}

bool cmd_say_not_analyzed_db(struct sqlite3 *db, const char *path, bool json)
{
	struct cprof_allocator_row *al = NULL;
	size_t n_al = 0;
	if (!cmd_query_allocators(db, path, &al, &n_al))
		return false;
	cmd_say_not_analyzed(al, n_al, json);
	free(al);
	return true;
}

bool cmd_open_db(const char *path, struct sqlite3 **ret)
{
	struct cprof_error *err = cprof_store_open(path, ret);
	if (!err)
		return true;
	cmd_report_error(err);
	return false;
}

int db_args_option(struct db_args *a, int opt, const char *arg, const char *usage)
{
	switch (opt) {
	case OPT_DB:
		a->path = arg;
		return 1;
	case OPT_JSON:
		a->json = true;
		return 1;
	case OPT_LIMIT:
		if (!parse_u64(arg, &a->limit) || !a->limit) {
			cmd_usage_error(usage, "bad --limit '%s'", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

int db_args_parse(int argc, char **argv, const struct option *longopts,
		  struct db_args *a, const char *usage, const char *help,
		  int (*own)(int opt, const char *arg, void *ctx), void *ctx)
{
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int took = db_args_option(a, opt, optarg, usage);
		if (took < 0)
			return EXIT_USAGE;
		if (took)
			continue;
		if (opt == OPT_HELP) {
			printf("usage: %s\n\n%s", usage, help);
			return EXIT_OK;
		}
		int rc = own && opt != '?' ? own(opt, optarg, ctx) :
					     cmd_usage_error(usage, "bad option");
		if (rc >= 0)
			return rc;
	}
	return -1;
}
