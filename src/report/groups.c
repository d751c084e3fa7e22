/*
 * groups.c - `histogram`'s renderings: the groups of objects by type, size or
 * allocation site (cprof_query_groups) as text and JSON; the pprof rendering
 * of the same groups is in pprof.c.
 */
#include <inttypes.h>

#include "cprof/format.h"
#include "cprof/report.h"

static const char *key_name(enum cprof_group_by by)
{
	return by == CPROF_BY_TYPE ? "type" : by == CPROF_BY_SITE ? "site" : "size";
}

void cprof_report_guessed(FILE *out, bool types_shown, uint64_t guessed, uint64_t count)
{
	if (!types_shown || !guessed)
		return;
	if (guessed == count)
		fprintf(out, "  (type guessed from the layout)");
	else
		fprintf(out, "  (%" PRIu64 " of them: type guessed from the layout)", guessed);
}

void cprof_report_groups(FILE *out, const struct cprof_group_row *g, size_t n,
			 enum cprof_group_by by, size_t limit)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	size_t shown = n < limit ? n : limit;
	fprintf(out, "%9s %10s %10s  %s\n", "objects", "self", "retained",
		by == CPROF_BY_TYPE ? "type" : by == CPROF_BY_SITE ? "allocation site" : "size (bytes)");
	for (size_t i = 0; i < shown; i++) {
		fprintf(out, "%9" PRIu64 " %10s %10s  %s", g[i].count, fmt_bytes(b1, g[i].self_bytes),
			fmt_bytes(b2, g[i].retained_bytes), g[i].key);
		cprof_report_guessed(out, by == CPROF_BY_TYPE, g[i].guessed, g[i].count);
		fputc('\n', out);
	}
	if (n > shown)
		fprintf(out, "(%zu of %zu rows shown)\n", shown, n);
}

void cprof_report_groups_json(FILE *out, const struct cprof_group_row *g, size_t n,
			      enum cprof_group_by by, size_t limit)
{
	struct json j;
	json_init(&j, out);
	json_array_begin(&j);
	for (size_t i = 0; i < n && i < limit; i++) {
		json_object_begin(&j);
		json_kv_string(&j, key_name(by), g[i].key);
		json_kv_uint(&j, "count", g[i].count);
		json_kv_uint(&j, "self_bytes", g[i].self_bytes);
		json_kv_uint(&j, "retained_bytes", g[i].retained_bytes);
		json_kv_uint(&j, "guessed", g[i].guessed);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_finish(&j);
}

void cprof_report_garbage_left_out(FILE *out, uint64_t count, uint64_t bytes, bool filtered)
{
	char b[FMT_BYTES_SIZE];
	if (count)
		fprintf(out, "(%" PRIu64 " garbage objects%s, %s in all, left out: unreachable Go objects the\n"
			" next collection frees; cprof-core leaks counts them)\n", count,
			filtered ? " that match" : "", fmt_bytes(b, bytes));
}

void cprof_report_site_coverage(FILE *out, const struct cprof_site_coverage *c)
{
	if (!c->recorded && c->objects)
		fprintf(out, "(no object carries an allocation record: glibc's malloc keeps none, tcmalloc's\n"
			" are not read; Go: runtime.MemProfileRate 0, or profiling left out at link\n"
			" time because nothing uses runtime/pprof; jemalloc: MALLOC_CONF without\n"
			" prof:true.  A heap profile of the process taken before the dump gives them:\n"
			" analyze --profile FILE)\n");
	else if (c->recorded < c->objects)
		fprintf(out, "(%" PRIu64 " of the %" PRIu64 " objects carry an allocation record: the profiler samples\n"
			" allocations, and the rows count the sampled objects themselves - not an estimate\n"
			" of all the site allocated, which go tool pprof shows scaled; with every\n"
			" allocation recorded (Go: runtime.MemProfileRate = 1; jemalloc:\n"
			" lg_prof_sample:0) the rows are the whole heap)\n",
			c->recorded, c->objects);
}
