/*
 * goroutines.c - `goroutines`' renderings (cprof_query_goroutines): a Go
 * process's goroutines in groups, each with its count, state, stacks'
 * memory, what it alone retains, its function, creator, lowest ids and
 * stack; text and JSON.
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* Where a group's further lines start: below its function. */
enum { PAD = 7 + 2 + 28 + 1 + 9 + 1 + 10 + 1 + 9 + 2 };

/* The group's stack, one function a line (innermost first). */
static void stack_lines(FILE *out, const struct cprof_goroutine_group_row *g, struct json *j)
{
	char stack[sizeof(g->stack)];
	snprintf(stack, sizeof(stack), "%s", g->stack);
	for (char *save, *f = strtok_r(stack, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
		if (j)
			json_string(j, f);
		else
			fprintf(out, "%*s  %s\n", PAD, "", f);
	}
}

static void group_text(FILE *out, const struct cprof_goroutine_group_row *g)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	char state[96];
	snprintf(state, sizeof(state), "%s%s%s", g->status, g->wait_reason[0] ? ": " : "",
		 g->wait_reason);
	fprintf(out, "%7" PRIu64 "  %-28s %9s %10s %9" PRIu64 "  %s\n", g->count, state,
		fmt_bytes(b1, g->stack_bytes), fmt_bytes(b2, g->retained_bytes), g->retained_count,
		g->function);
	if (g->start_function[0] && strcmp(g->start_function, g->function))
		fprintf(out, "%*sstarted in %s\n", PAD, "", g->start_function);
	if (g->created_by[0])
		fprintf(out, "%*screated by %s\n", PAD, "", g->created_by);
	fprintf(out, "%*sgoroutine", PAD, "");
	for (size_t k = 0; k < g->n_goids; k++)
		fprintf(out, "%s %" PRIu64, k ? "," : "", g->goids[k]);
	fprintf(out, "%s\n", g->count > g->n_goids ? ", ..." : "");
	if (g->signalled)
		fprintf(out, "%*sgoroutine %" PRIu64 ": running when the fatal signal came (the traceback's first)\n",
			PAD, "", g->signalled);
	stack_lines(out, g, NULL);
}

void cprof_report_goroutines(FILE *out, const struct cprof_goroutines_report *r, size_t limit)
{
	size_t shown = r->n < limit ? r->n : limit;
	fprintf(out, "%" PRIu64 " goroutines in %zu groups\n\n", r->goroutines, r->n);
	fprintf(out, "%7s  %-28s %9s %10s %9s  %s\n", "count", "state", "stacks", "retained",
		"objects", "function");
	for (size_t i = 0; i < shown; i++)
		group_text(out, &r->groups[i]);
	if (r->n > shown)
		fprintf(out, "(%zu of %zu groups shown)\n", shown, r->n);
}

static void group_json(struct json *j, const struct cprof_goroutine_group_row *g)
{
	json_object_begin(j);
	json_kv_uint(j, "count", g->count);
	json_kv_string(j, "status", g->status);
	json_kv_string(j, "wait_reason", g->wait_reason);
	json_kv_string(j, "function", g->function);
	json_kv_string(j, "start_function", g->start_function);
	json_kv_string(j, "created_by", g->created_by);
	json_key(j, "stack");
	json_array_begin(j);
	stack_lines(NULL, g, j);
	json_array_end(j);
	json_kv_uint(j, "stack_bytes", g->stack_bytes);
	json_kv_uint(j, "retained_bytes", g->retained_bytes);
	json_kv_uint(j, "retained_count", g->retained_count);
	json_key(j, "goids");
	json_array_begin(j);
	for (size_t k = 0; k < g->n_goids; k++)
		json_uint(j, g->goids[k]);
	json_array_end(j);
	json_key(j, "signalled");
	if (g->signalled)
		json_uint(j, g->signalled);
	else
		json_null(j);
	json_object_end(j);
}

void cprof_report_goroutines_json(FILE *out, const struct cprof_goroutines_report *r, size_t limit)
{
	size_t shown = r->n < limit ? r->n : limit;
	struct json j;
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);
	json_kv_uint(&j, "goroutines", r->goroutines);
	json_kv_uint(&j, "groups_total", r->n);
	json_key(&j, "groups");
	json_array_begin(&j);
	for (size_t i = 0; i < shown; i++)
		group_json(&j, &r->groups[i]);
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}
