/*
 * cmd-goroutines.c - `cprof-core goroutines`: a Go process's goroutines
 * grouped by state, wait reason and stack, each group with its count, the
 * function its goroutines run, where they were created, the memory of their
 * stacks and the heap the group alone keeps alive (its root node's retained
 * size), from cprof.db.  The goroutine-leak view: 10,000 goroutines parked
 * on one channel come out as one line with what they pin.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
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

static void print_json(const struct cprof_goroutine_group_row *g, size_t n,
		       size_t shown, uint64_t total)
{
	struct json j;
	json_init(&j, stdout);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);
	json_kv_uint(&j, "goroutines", total);
	json_kv_uint(&j, "groups_total", n);
	json_key(&j, "groups");
	json_array_begin(&j);
	for (size_t i = 0; i < shown; i++) {
		json_object_begin(&j);
		json_kv_uint(&j, "count", g[i].count);
		json_kv_string(&j, "status", g[i].status);
		json_kv_string(&j, "wait_reason", g[i].wait_reason);
		json_kv_string(&j, "function", g[i].function);
		json_kv_string(&j, "start_function", g[i].start_function);
		json_kv_string(&j, "created_by", g[i].created_by);
		json_key(&j, "stack");
		json_array_begin(&j);
		char stack[sizeof(g[i].stack)];
		snprintf(stack, sizeof(stack), "%s", g[i].stack);
		for (char *save, *f = strtok_r(stack, "\n", &save); f;
		     f = strtok_r(NULL, "\n", &save))
			json_string(&j, f);
		json_array_end(&j);
		json_kv_uint(&j, "stack_bytes", g[i].stack_bytes);
		json_kv_uint(&j, "retained_bytes", g[i].retained_bytes);
		json_kv_uint(&j, "retained_count", g[i].retained_count);
		json_key(&j, "goids");
		json_array_begin(&j);
		for (size_t k = 0; k < g[i].n_goids; k++)
			json_uint(&j, g[i].goids[k]);
		json_array_end(&j);
		json_key(&j, "signalled");
		if (g[i].signalled)
			json_uint(&j, g[i].signalled);
		else
			json_null(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static void print_text(const struct cprof_goroutine_group_row *g, size_t n,
		       size_t shown, uint64_t total)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	printf("%llu goroutines in %zu groups\n\n", (unsigned long long)total, n);
	printf("%7s  %-28s %9s %10s %9s  %s\n", "count", "state", "stacks", "retained",
	       "objects", "function");
	for (size_t i = 0; i < shown; i++) {
		char state[96];
		snprintf(state, sizeof(state), "%s%s%s", g[i].status,
			 g[i].wait_reason[0] ? ": " : "", g[i].wait_reason);
		printf("%7llu  %-28s %9s %10s %9llu  %s\n", (unsigned long long)g[i].count,
		       state, fmt_bytes(b1, g[i].stack_bytes),
		       fmt_bytes(b2, g[i].retained_bytes),
		       (unsigned long long)g[i].retained_count, g[i].function);
		int pad = 7 + 2 + 28 + 1 + 9 + 1 + 10 + 1 + 9 + 2;
		if (g[i].start_function[0] && strcmp(g[i].start_function, g[i].function))
			printf("%*sstarted in %s\n", pad, "", g[i].start_function);
		if (g[i].created_by[0])
			printf("%*screated by %s\n", pad, "", g[i].created_by);
		printf("%*sgoroutine", pad, "");
		for (size_t k = 0; k < g[i].n_goids; k++)
			printf("%s %llu", k ? "," : "", (unsigned long long)g[i].goids[k]);
		printf("%s\n", g[i].count > g[i].n_goids ? ", ..." : "");
		if (g[i].signalled)
			printf("%*sgoroutine %llu: running when the fatal signal came (the traceback's first)\n",
			       pad, "", (unsigned long long)g[i].signalled);
		char stack[sizeof(g[i].stack)];
		snprintf(stack, sizeof(stack), "%s", g[i].stack);
		for (char *save, *f = strtok_r(stack, "\n", &save); f;
		     f = strtok_r(NULL, "\n", &save))
			printf("%*s  %s\n", pad, "", f);
	}
	if (n > shown)
		printf("(%zu of %zu groups shown)\n", shown, n);
}

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
	struct cprof_goroutine_group_row *g = NULL;
	size_t n = 0;
	struct cprof_error *err = cprof_query_goroutine_groups(db, a.path, &g, &n);
	cprof_store_close(db);
	if (err)
		return cmd_report_error(err);
	if (!n && !a.json) {
		fprintf(stderr, "cprof-core: %s: no goroutines (not a Go process)\n", a.path);
		free(g);
		return EXIT_OK;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += g[i].count;
	size_t shown = n < a.limit ? n : (size_t)a.limit;
	if (a.json)
		print_json(g, n, shown, total);
	else
		print_text(g, n, shown, total);
	free(g);
	return EXIT_OK;
}
