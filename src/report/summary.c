/*
 * summary.c - the main job's summary and the allocator section of `info`.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/goruntime.h"
#include "cprof/report.h"

/* ---- allocators ---- */

void cprof_report_allocators(FILE *out, const struct cprof_heap_walk *walk)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE];
	if (!walk->n_allocators) {
		fprintf(out, "  (none found)\n");
		return;
	}
	for (size_t i = 0; i < walk->n_allocators; i++) {
		const struct cprof_allocator_summary *s = &walk->allocators[i];
		fprintf(out, "  %s %s: %llu used chunks (%s), %llu free chunks (%s)\n",
			s->name, s->version, (unsigned long long)s->used_count,
			fmt_bytes(b1, s->used_bytes), (unsigned long long)s->free_count,
			fmt_bytes(b2, s->free_bytes));
		fprintf(out, "    found by: %s\n", s->found_by);
		for (size_t k = 0; k < s->n_arenas; k++) {
			const struct cprof_arena_summary *a = &s->arenas[k];
			fprintf(out, "    %-10s 0x%012llx  system_mem %9s  heaps %llu  used %llu (%s)  free %llu (%s)\n",
				a->kind, (unsigned long long)a->addr,
				fmt_bytes(b1, a->system_mem), (unsigned long long)a->n_heaps,
				(unsigned long long)a->used_count, fmt_bytes(b2, a->used_bytes),
				(unsigned long long)a->free_count, fmt_bytes(b3, a->free_bytes));
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

void cprof_report_allocators_json(struct json *j, const struct cprof_heap_walk *walk)
{
	json_array_begin(j);
	for (size_t i = 0; i < walk->n_allocators; i++) {
		const struct cprof_allocator_summary *s = &walk->allocators[i];
		json_object_begin(j);
		json_kv_string(j, "name", s->name);
		json_kv_string(j, "version", s->version);
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

/* ---- memory by category ---- */

enum category {
	CAT_HEAP, CAT_STACK, CAT_MODULE_DATA, CAT_MODULE_CODE, CAT_FILE,
	CAT_ANON, CAT_RESERVED, N_CATS
};
static const char *const cat_names[N_CATS] = {
	"heaps", "thread stacks", "module data (.data, .bss, GOT)",
	"module code and read-only data", "other file mappings",
	"other anonymous mappings", "no access (guards, reserves)",
};

struct cat_totals {
	uint64_t count[N_CATS], mapped[N_CATS], in_core[N_CATS];
};

static enum category classify(struct cprof_core *core,
			      const struct cprof_heap_walk *walk,
			      const struct cprof_segment *s)
{
	if (!(s->flags & (CPROF_SEG_R | CPROF_SEG_W | CPROF_SEG_X)))
		return CAT_RESERVED;
	for (size_t i = 0; i < walk->n_heaps; i++)
		if (walk->heaps[i].start < s->end && s->start < walk->heaps[i].end)
			return CAT_HEAP;
	for (size_t i = 0; i < core->n_threads; i++) {
		uint64_t sp = core->threads[i].regs[CPROF_REG_RSP];
		if (s->start <= sp && sp < s->end)
			return CAT_STACK;
	}
	if (s->file >= 0 || cprof_core_module(core, s->start)) {
		if (!cprof_core_module(core, s->start))
			return CAT_FILE;
		return s->flags & CPROF_SEG_W ? CAT_MODULE_DATA : CAT_MODULE_CODE;
	}
	return CAT_ANON;
}

static void categorize(struct cprof_core *core, const struct cprof_heap_walk *walk,
		       struct cat_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < core->n_segments; i++) {
		const struct cprof_segment *s = &core->segments[i];
		enum category c = classify(core, walk, s);
		struct cprof_core_totals st;
		cprof_core_segment_totals(core, s, &st);
		t->count[c]++;
		t->mapped[c] += st.mapped;
		t->in_core[c] += st.in_core;
	}
}

static int signal_of(const struct cprof_core *core)
{
	return core->process.has_siginfo ? core->process.signo :
	       core->n_threads ? core->threads[0].cursig : 0;
}

static void print_go(FILE *out, const struct cprof_analysis *a);

void cprof_report_summary(FILE *out, struct cprof_core *core,
			  const struct cprof_analysis *a, const char *db_path,
			  const char *exe_arg, double seconds)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], sig[32];
	const struct cprof_process *p = &core->process;
	struct cat_totals t;
	categorize(core, &a->walk, &t);

	fprintf(out, "cprof-core: %s analyzed in %.2f s; wrote %s\n\n", core->path,
		seconds, db_path);
	fprintf(out, "process   ");
	if (p->has_psinfo)
		fprintf(out, "pid %d (%s): %s\n          ", p->pid, p->command, p->args);
	int signo = signal_of(core);
	if (signo)
		fprintf(out, "killed by %s, ", fmt_signal(sig, sizeof(sig), signo));
	fprintf(out, "%zu thread%s, %zu modules, %zu mappings\n", core->n_threads,
		core->n_threads == 1 ? "" : "s", core->n_modules, core->n_segments);

	fprintf(out, "\nmemory by category          mappings        mapped   in the core\n");
	for (int c = 0; c < N_CATS; c++) {
		if (!t.count[c])
			continue;
		fprintf(out, "  %-30s %6llu %12s  %12s\n", cat_names[c],
			(unsigned long long)t.count[c], fmt_bytes(b1, t.mapped[c]),
			fmt_bytes(b2, t.in_core[c]));
	}

	fprintf(out, "\nheap\n");
	cprof_report_allocators(out, &a->walk);
	fprintf(out, "  objects in %s: %zu; %llu pointers between them, %llu from %zu roots\n",
		db_path, a->n_objects, (unsigned long long)a->graph.n_edges,
		(unsigned long long)a->graph.n_root_refs, a->roots.n);
	fprintf(out, "  (walk %.2f s, roots %.2f s, scan %.2f s, leaks %.2f s, dominators %.2f s, types %.2f s, store %.2f s)\n",
		a->t_walk, a->t_roots, a->t_scan, a->t_leaks, a->t_dominators, a->t_types, a->t_store);
	if (a->types.object_type)
		fprintf(out, "  %llu objects typed (%s): from DWARF, C++ vtables or the Go runtime; %llu of them guessed from their layout\n",
			(unsigned long long)a->types.typed, fmt_bytes(b1, a->types.typed_bytes),
			(unsigned long long)a->types.guessed);
	if (a->walk.go)
		print_go(out, a);

	(void)exe_arg;
}

static uint64_t stat(const struct cprof_allocator_summary *s, const char *name)
{
	for (size_t i = 0; s && i < s->n_stats; i++)
		if (!strcmp(s->stats[i].name, name))
			return s->stats[i].value;
	return 0;
}

static const struct cprof_allocator_summary *allocator(const struct cprof_analysis *a,
							const char *name)
{
	for (size_t i = 0; i < a->walk.n_allocators; i++)
		if (!strcmp(a->walk.allocators[i].name, name))
			return &a->walk.allocators[i];
	return NULL;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/*
 * The Go section, in runtime.MemStats' terms: what the heap holds, what the
 * runtime obtained from the OS and for what, the C heap beside it - why RSS
 * is larger than a heap profile - then the goroutines and how the objects
 * were scanned and typed.
 */
static void print_go(FILE *out, const struct cprof_analysis *a)
{
	const struct cprof_allocator_summary *g = allocator(a, "go"), *c = allocator(a, "glibc");
	const struct cprof_go_runtime *rt = a->walk.go;
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE], b4[FMT_BYTES_SIZE],
	     b5[FMT_BYTES_SIZE];
	fprintf(out, "\ngo %s (as runtime.MemStats would say)\n", rt->version);
	fprintf(out, "  heap objects  %s in %llu objects (HeapAlloc, HeapObjects)\n",
		fmt_bytes(b1, stat(g, "HeapAlloc")), (unsigned long long)stat(g, "HeapObjects"));
	fprintf(out, "  heap in use   %s of spans (HeapInuse): %s of it free slots\n",
		fmt_bytes(b1, stat(g, "HeapInuse")),
		fmt_bytes(b2, stat(g, "HeapInuse") > stat(g, "HeapAlloc") ?
			  stat(g, "HeapInuse") - stat(g, "HeapAlloc") : 0));
	fprintf(out, "  heap idle     %s (HeapIdle), %s of it returned to the OS (HeapReleased)\n",
		fmt_bytes(b1, stat(g, "HeapIdle")), fmt_bytes(b2, stat(g, "HeapReleased")));
	fprintf(out, "  stacks        %s (StackInuse)\n", fmt_bytes(b1, stat(g, "StackInuse")));
	fprintf(out, "  runtime       %s span structs, %s caches, %s profile buckets, %s GC metadata, %s other\n",
		fmt_bytes(b1, stat(g, "MSpanSys")), fmt_bytes(b2, stat(g, "MCacheSys")),
		fmt_bytes(b3, stat(g, "BuckHashSys")), fmt_bytes(b4, stat(g, "GCSys")),
		fmt_bytes(b5, stat(g, "OtherSys")));
	fprintf(out, "  obtained      %s from the OS (Sys)\n", fmt_bytes(b1, stat(g, "Sys")));
	if (c)
		fprintf(out, "  C heap        %s in %llu chunks (glibc malloc, cgo: not in Sys)\n",
			fmt_bytes(b1, c->used_bytes), (unsigned long long)c->used_count);
	fprintf(out, "  goroutines    %zu in %zu groups: cprof-core goroutines; stacks scanned by their stack maps: %zu, every word: %zu\n",
		rt->n_goroutines, rt->n_groups, a->roots.go_stacks_precise,
		a->roots.go_stacks_conservative);
	const struct cprof_graph *gr = &a->graph;
	fprintf(out, "  scanned       %llu objects by the runtime's pointer maps, %llu pointer-free, %llu conservatively (no metadata)\n",
		(unsigned long long)gr->objects_precise, (unsigned long long)gr->objects_noscan,
		(unsigned long long)gr->objects_conservative);
	if (a->types.object_type) {
		uint64_t n = 0, bytes = 0;
		for (size_t o = 0; o < a->n_objects; o++)
			if ((a->leaks.flags[o] & CPROF_REACHABLE) &&
			    a->types.object_type[o] != UINT32_MAX) {
				n++;
				bytes += a->objects[o].size;
			}
		fprintf(out, "  typed         %.1f%% of the reachable objects, %.1f%% of their bytes (untyped: by size class)\n",
			pct(n, a->leaks.reachable.count), pct(bytes, a->leaks.reachable.bytes));
	}
}

/* The root nodes that retain the most, from the in-memory analysis. */
void cprof_report_retainers(FILE *out, const struct cprof_analysis *a, size_t limit)
{
	const struct cprof_retention *rt = &a->retention;
	char b1[FMT_BYTES_SIZE];
	if (!rt->n_nodes)
		return;
	uint64_t heap = rt->nodes[0].retained_bytes;
	/* Selection of the biggest, skipping the super-root and the leaked node. */
	bool *shown = calloc(rt->n_nodes, sizeof(*shown));
	if (!shown)
		return;
	fprintf(out, "\nbiggest retainers (what each root alone keeps alive)\n");
	fprintf(out, "%10s %6s %9s  %-10s %s\n", "retained", "heap", "objects", "kind", "root");
	for (size_t k = 0; k < limit; k++) {
		size_t best = 0;
		for (size_t i = 2; i < rt->n_nodes; i++)
			if (!shown[i] && rt->nodes[i].retained_bytes &&
			    (!best || rt->nodes[i].retained_bytes > rt->nodes[best].retained_bytes))
				best = i;
		if (!best)
			break;
		shown[best] = true;
		const struct cprof_root_node *nd = &rt->nodes[best];
		fprintf(out, "%10s %5.1f%% %9llu  %-10s %s\n", fmt_bytes(b1, nd->retained_bytes),
			heap ? 100.0 * (double)nd->retained_bytes / (double)heap : 0.0,
			(unsigned long long)nd->retained_count,
			cprof_root_node_kind_name(nd->kind), nd->name);
	}
	free(shown);
}

void cprof_report_next(FILE *out, const char *core, const char *exe,
		       const char *db)
{
	const char *dbopt = strcmp(db, "cprof.db") ? " --db " : "";
	const char *dbarg = strcmp(db, "cprof.db") ? db : "";
	fprintf(out, "\nnext\n");
	fprintf(out, "  every leak root            cprof-core leaks%s%s\n", dbopt, dbarg);
	fprintf(out, "  what retains the most      cprof-core top%s%s\n", dbopt, dbarg);
	fprintf(out, "  threads, mappings, modules cprof-core info %s%s%s\n", core,
		exe ? " " : "", exe ? exe : "");
	fprintf(out, "  anything, in SQL           sqlite3 %s \"SELECT state, leak, count(*), sum(size) FROM object GROUP BY 1, 2\"\n",
		db);
}

void cprof_report_summary_json(FILE *out, struct cprof_core *core,
			       const struct cprof_analysis *a,
			       const char *db_path, double seconds,
			       const struct cprof_leak_totals *lt,
			       const struct cprof_leak_row *rows, size_t n_rows)
{
	struct json j;
	struct cat_totals t;
	categorize(core, &a->walk, &t);
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);
	json_kv_string(&j, "core", core->path);
	json_kv_string(&j, "db", db_path);
	json_kv_double(&j, "seconds", seconds);
	json_key(&j, "process");
	json_object_begin(&j);
	if (core->process.has_psinfo) {
		json_kv_int(&j, "pid", core->process.pid);
		json_kv_string(&j, "command", core->process.command);
		json_kv_string(&j, "args", core->process.args);
	}
	json_kv_int(&j, "signal", signal_of(core));
	json_kv_uint(&j, "threads", core->n_threads);
	json_object_end(&j);
	json_key(&j, "memory");
	json_array_begin(&j);
	static const char *const keys[N_CATS] = {
		"heaps", "stacks", "module_data", "module_code", "file", "anonymous",
		"no_access",
	};
	for (int c = 0; c < N_CATS; c++) {
		json_object_begin(&j);
		json_kv_string(&j, "category", keys[c]);
		json_kv_uint(&j, "mappings", t.count[c]);
		json_kv_uint(&j, "mapped_bytes", t.mapped[c]);
		json_kv_uint(&j, "core_bytes", t.in_core[c]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "allocators");
	cprof_report_allocators_json(&j, &a->walk);
	json_kv_uint(&j, "objects", a->n_objects);
	json_kv_uint(&j, "edges", a->graph.n_edges);
	json_kv_uint(&j, "root_refs", a->graph.n_root_refs);
	json_key(&j, "types");
	json_object_begin(&j);
	json_kv_uint(&j, "typed", a->types.typed);
	json_kv_uint(&j, "typed_bytes", a->types.typed_bytes);
	json_kv_uint(&j, "guessed", a->types.guessed);
	json_object_end(&j);
	json_key(&j, "leaks");
	json_object_begin(&j);
	json_kv_uint(&j, "direct_count", lt->direct_count);
	json_kv_uint(&j, "direct_bytes", lt->direct_bytes);
	json_kv_uint(&j, "indirect_count", lt->indirect_count);
	json_kv_uint(&j, "indirect_bytes", lt->indirect_bytes);
	json_key(&j, "top");
	json_array_begin(&j);
	for (size_t i = 0; i < n_rows; i++) {
		json_object_begin(&j);
		json_kv_hex(&j, "addr", rows[i].addr);
		json_kv_uint(&j, "size", rows[i].size);
		json_kv_uint(&j, "holds_count", rows[i].holds_count);
		json_kv_uint(&j, "holds_bytes", rows[i].holds_bytes);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_key(&j, "timings");
	json_object_begin(&j);
	json_kv_double(&j, "walk", a->t_walk);
	json_kv_double(&j, "roots", a->t_roots);
	json_kv_double(&j, "scan", a->t_scan);
	json_kv_double(&j, "leaks", a->t_leaks);
	json_kv_double(&j, "dominators", a->t_dominators);
	json_kv_double(&j, "types", a->t_types);
	json_kv_uint(&j, "scanned_bytes", a->graph.words_scanned * 8);
	json_kv_double(&j, "store", a->t_store);
	json_object_end(&j);
	json_object_end(&j);
	json_finish(&j);
}
