/*
 * allocators.c - what the reports say about the allocators: each one found,
 * which serves malloc, whether its heap was walked (`info` and the summary,
 * from the walk), the one line every report of leaks, sizes or retention
 * prints for a heap that was not analyzed (from cprof.db), and each
 * allocator's own section of the summary.
 */
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

static const char *base_name(const struct cprof_module *m)
{
	const char *s = m ? strrchr(m->name, '/') : NULL;
	return m ? (s ? s + 1 : m->name) : NULL;
}

/* "jemalloc 5.3.0 (libjemalloc.so.2)" */
static void title(char *buf, size_t size, const char *name, const char *version,
		  const char *module)
{
	snprintf(buf, size, "%s%s%s%s%s%s", name, *version ? " " : "", version,
		 module && *module ? " (" : "", module && *module ? module : "",
		 module && *module ? ")" : "");
}

void cprof_report_allocators(FILE *out, const struct cprof_heap_walk *walk)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE], t[160];
	if (!walk->n_allocators) {
		fprintf(out, "  (none found)\n");
		return;
	}
	const struct cprof_allocator *m = cprof_heap_malloc(walk);
	if (m) {
		title(t, sizeof(t), m->name, m->version, base_name(m->module));
		fprintf(out, "  malloc is %s: %s\n", t, m->malloc_how);
	}
	for (size_t i = 0; i < walk->n_allocators; i++) {
		const struct cprof_allocator *s = &walk->allocators[i];
		if (s->heap_state != CPROF_HEAP_WALKED) {
			title(t, sizeof(t), s->name, s->version, base_name(s->module));
			fprintf(out, "  %s: %s: %s\n", t,
				s->heap_state == CPROF_HEAP_UNUSED ? "no heap" : "heap not analyzed",
				s->reason);
			fprintf(out, "    found by: %s\n", s->found_by);
			continue;
		}
		fprintf(out, "  %s %s: %llu used chunks (%s), %llu free chunks (%s)\n",
			s->name, s->version, (unsigned long long)s->used_count,
			fmt_bytes(b1, s->used_bytes), (unsigned long long)s->free_count,
			fmt_bytes(b2, s->free_bytes));
		fprintf(out, "    found by: %s\n", s->found_by);
		for (size_t k = 0; k < s->n_arenas; k++) {
			const struct cprof_arena_summary *a = &s->arenas[k];
			/* what an allocator's arena has: jemalloc's are numbered,
			   not placed; a tcmalloc thread cache holds no memory of
			   its own, only free objects */
			fprintf(out, "    %-10s", a->kind);
			if (a->addr)
				fprintf(out, " 0x%012llx", (unsigned long long)a->addr);
			if (a->system_mem || a->n_heaps)
				fprintf(out, "  system_mem %9s  heaps %llu", fmt_bytes(b1, a->system_mem),
					(unsigned long long)a->n_heaps);
			if (a->used_count)
				fprintf(out, "  used %llu (%s)", (unsigned long long)a->used_count,
					fmt_bytes(b2, a->used_bytes));
			fprintf(out, "  free %llu (%s)\n", (unsigned long long)a->free_count,
				fmt_bytes(b3, a->free_bytes));
		}
		if (s->n_stats) {
			fprintf(out, "    %s:", s->stats_name);
			for (size_t k = 0; k < s->n_stats; k++)
				fprintf(out, " %s=%llu", s->stats[k].name,
					(unsigned long long)s->stats[k].value);
			fputc('\n', out);
		}
	}
}

/* What every JSON entry of an allocator says first: who it is, whether it
 * serves malloc, whether its heap was walked and why not (reason NULL when
 * walked). */
static void json_identity(struct json *j, const char *name, const char *version,
			  const char *module, bool serves_malloc, const char *heap,
			  const char *reason)
{
	json_kv_string(j, "name", name);
	json_kv_string(j, "version", version);
	json_kv_string(j, "module", module);
	json_kv_bool(j, "serves_malloc", serves_malloc);
	json_kv_bool(j, "walked", !strcmp(heap, "walked"));
	json_kv_string(j, "heap", heap);
	json_kv_string(j, "reason", reason);
}

void cprof_report_allocators_json(struct json *j, const struct cprof_heap_walk *walk)
{
	json_array_begin(j);
	for (size_t i = 0; i < walk->n_allocators; i++) {
		const struct cprof_allocator *s = &walk->allocators[i];
		json_object_begin(j);
		json_identity(j, s->name, s->version, base_name(s->module), s->serves_malloc,
			      cprof_heap_state_name(s->heap_state),
			      s->heap_state == CPROF_HEAP_WALKED ? NULL : s->reason);
		if (s->serves_malloc)
			json_kv_string(j, "malloc_found_by", s->malloc_how);
		json_kv_string(j, "found_by", s->found_by);
		json_kv_uint(j, "used_count", s->used_count);
		json_kv_uint(j, "used_bytes", s->used_bytes);
		json_kv_uint(j, "free_count", s->free_count);
		json_kv_uint(j, "free_bytes", s->free_bytes);
		json_key(j, "arenas");
		json_array_begin(j);
		for (size_t k = 0; k < s->n_arenas; k++) {
			const struct cprof_arena_summary *a = &s->arenas[k];
			json_object_begin(j);
			json_kv_hex(j, "addr", a->addr);
			json_kv_string(j, "kind", a->kind);
			json_kv_uint(j, "system_mem", a->system_mem);
			json_kv_uint(j, "heaps", a->n_heaps);
			json_kv_uint(j, "used_count", a->used_count);
			json_kv_uint(j, "used_bytes", a->used_bytes);
			json_kv_uint(j, "free_count", a->free_count);
			json_kv_uint(j, "free_bytes", a->free_bytes);
			json_object_end(j);
		}
		json_array_end(j);
		if (s->n_stats) {
			json_key(j, s->stats_name);
			json_object_begin(j);
			for (size_t k = 0; k < s->n_stats; k++)
				json_kv_uint(j, s->stats[k].name, s->stats[k].value);
			json_object_end(j);
		}
		json_object_end(j);
	}
	json_array_end(j);
}

bool cprof_report_heap_walked(const struct cprof_allocator_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].heap, "walked"))
			return true;
	return false;
}

size_t cprof_report_not_analyzed(FILE *out, const struct cprof_allocator_row *rows, size_t n)
{
	size_t said = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cprof_allocator_row *r = &rows[i];
		char t[160];
		if (strcmp(r->heap, "not_walked"))
			continue;
		title(t, sizeof(t), r->name, r->version, r->module);
		if (r->serves_malloc)
			fprintf(out, "malloc is %s; its heap is not analyzed: no leak or retention figures\n",
				t);
		else if (!strcmp(r->name, "unknown"))    /* an executable not read */
			fprintf(out, "%s: %s; no leak or retention figures for such a heap\n",
				r->module, r->reason);
		else
			fprintf(out, "%s is in the process; its heap is not analyzed: no leak or retention figures for it\n",
				t);
		said++;
	}
	/* No heap at all was read and no line above says why (a truncated core,
	   an allocator nothing detects): the figures below cover nothing, and
	   must not read as "no leak". */
	if (!said && !cprof_report_heap_walked(rows, n)) {
		fprintf(out, "no allocator's heap was found and walked: no leak or retention figures\n");
		said++;
	}
	return said;
}

void cprof_report_allocator_rows_json(struct json *j, const struct cprof_allocator_row *rows,
				      size_t n)
{
	json_key(j, "allocators");
	json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		const struct cprof_allocator_row *r = &rows[i];
		json_object_begin(j);
		json_identity(j, r->name, r->version, r->module[0] ? r->module : NULL,
			      r->serves_malloc, r->heap, r->reason[0] ? r->reason : NULL);
		json_object_end(j);
	}
	json_array_end(j);
	json_kv_bool(j, "heap_walked", cprof_report_heap_walked(rows, n));
}

/* Allocator i's section (n_lines 0: none). */
static void section(const struct cprof_analysis *a, size_t i, struct cprof_summary_section *sec)
{
	struct cprof_summary_facts f = {
		.reachable = a->leaks.reachable.count,
		.reachable_bytes = a->leaks.reachable.bytes,
		.types_computed = a->types.object_type != NULL,
		.objects_precise = a->graph.objects_precise,
		.objects_noscan = a->graph.objects_noscan,
		.objects_conservative = a->graph.objects_conservative,
	};
	const struct cprof_allocator *al = &a->walk.allocators[i];
	memset(sec, 0, sizeof(*sec));
	if (al->heap_state != CPROF_HEAP_WALKED || !al->provider->summary)
		return;
	/* The typed fraction is of what a root keeps: garbage and leaks are
	   typed only where something typed points to them. */
	for (size_t o = 0; f.types_computed && o < a->n_objects; o++)
		if ((a->leaks.flags[o] & CPROF_REACHABLE) && a->types.object_type[o] != UINT32_MAX) {
			f.typed++;
			f.typed_bytes += a->objects[o].size;
		}
	al->provider->summary(al, &a->walk, &f, sec);
}

void cprof_report_allocator_sections(FILE *out, const struct cprof_analysis *a)
{
	for (size_t i = 0; i < a->walk.n_allocators; i++) {
		struct cprof_summary_section sec;
		section(a, i, &sec);
		if (!sec.n_lines)
			continue;
		fprintf(out, "\n%s\n", sec.title);
		for (size_t k = 0; k < sec.n_lines; k++)
			fprintf(out, "  %-13s %s\n", sec.lines[k].label, sec.lines[k].text);
	}
}

void cprof_report_allocator_sections_json(struct json *j, const struct cprof_analysis *a)
{
	json_array_begin(j);
	for (size_t i = 0; i < a->walk.n_allocators; i++) {
		struct cprof_summary_section sec;
		section(a, i, &sec);
		if (!sec.n_lines)
			continue;
		json_object_begin(j);
		json_kv_string(j, "allocator", a->walk.allocators[i].name);
		json_kv_string(j, "title", sec.title);
		json_key(j, "lines");
		json_array_begin(j);
		for (size_t k = 0; k < sec.n_lines; k++) {
			json_object_begin(j);
			json_kv_string(j, "label", sec.lines[k].label);
			json_kv_string(j, "text", sec.lines[k].text);
			json_object_end(j);
		}
		json_array_end(j);
		json_key(j, "values");
		json_object_begin(j);
		for (size_t k = 0; k < sec.n_values; k++)
			json_kv_uint(j, sec.values[k].name, sec.values[k].value);
		json_object_end(j);
		json_object_end(j);
	}
	json_array_end(j);
}
