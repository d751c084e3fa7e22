/*
 * summary.c - the main job's summary (the allocators' lines and sections:
 * allocators.c).
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/error.h"
#include "cprof/format.h"
#include "cprof/report.h"

/* ---- memory by category ---- */

/* The same names in `info` (one mapping: singular) and in the summary. */
enum category {
	CAT_HEAP, CAT_HEAP_RESERVE, CAT_STACK, CAT_MODULE_DATA, CAT_MODULE_CODE,
	CAT_FILE, CAT_ANON, CAT_RESERVED, N_CATS
};
static const char *const cat_names[N_CATS] = {
	"heaps", "heap reserves (no access)", "thread stacks",
	"module data (.data, .bss, GOT)", "module code and read-only data",
	"other file mappings", "other anonymous mappings", "no access (guards, reserves)",
};
static const char *const cat_roles[N_CATS] = {
	"heap", "heap reserve", "thread stack", "module data", "module code", "file",
	"anonymous", "no access",
};

struct cat_totals {
	uint64_t count[N_CATS], mapped[N_CATS], in_core[N_CATS];
};

/*
 * The walked heaps' ranges and the memory their allocators claimed (Go's heap
 * arenas, with their goroutine stacks and idle pages; jemalloc's extents and
 * metadata), sorted by start and merged.  The part of a
 * mapping they cover is heap, the rest is what the mapping otherwise is: the
 * kernel merges neighbouring anonymous mappings, so one mapping may hold a
 * glibc mmapped chunk and memory no walked allocator owns (Python's pymalloc
 * arenas), and calling all of it heap would count bytes nobody walked.
 */
struct heap_cover {
	struct cprof_range *r;
	size_t n;
};

static int range_cmp(const void *a, const void *b)
{
	const struct cprof_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static struct cprof_error *cover_init(struct heap_cover *c,
				      const struct cprof_heap_walk *walk)
{
	c->n = 0;
	c->r = malloc((walk->n_heaps + walk->n_claims + 1) * sizeof(*c->r));
	if (!c->r)
		return &cprof_enomem;
	for (size_t i = 0; i < walk->n_heaps; i++)
		if (walk->heaps[i].start < walk->heaps[i].end)
			c->r[c->n++] = (struct cprof_range){ walk->heaps[i].start,
							     walk->heaps[i].end };
	for (size_t i = 0; i < walk->n_claims; i++)
		if (walk->claims[i].start < walk->claims[i].end)
			c->r[c->n++] = (struct cprof_range){ walk->claims[i].start,
							     walk->claims[i].end };
	qsort(c->r, c->n, sizeof(*c->r), range_cmp);
	size_t m = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (m && c->r[i].start <= c->r[m - 1].end) {
			if (c->r[i].end > c->r[m - 1].end)
				c->r[m - 1].end = c->r[i].end;
		} else {
			c->r[m++] = c->r[i];
		}
	}
	c->n = m;
	return NULL;
}

static void cover_deinit(struct heap_cover *c)
{
	free(c->r);
}

/* The bytes of segment s inside the heaps (all 0 when none). */
static void cover_part(const struct heap_cover *c, const struct cprof_core *core,
		       const struct cprof_segment *s, struct cprof_core_totals *ret)
{
	memset(ret, 0, sizeof(*ret));
	size_t lo = 0, hi = c->n;    /* the first range ending after s->start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->r[mid].end <= s->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < c->n && c->r[i].start < s->end; i++) {
		struct cprof_core_totals t;
		uint64_t a = c->r[i].start > s->start ? c->r[i].start : s->start;
		uint64_t b = c->r[i].end < s->end ? c->r[i].end : s->end;
		cprof_core_part_totals(core, s, a, b, &t);
		ret->mapped += t.mapped;
		ret->in_core += t.in_core;
		ret->from_file += t.from_file;
		ret->missing += t.missing;
	}
}

/* Whether a thread's stack pointer lies in [start, end). */
static bool holds_stack(const struct cprof_core *core, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < core->n_threads; i++) {
		/* a thread in a handler on sigaltstack has two stacks */
		uint64_t sp = core->threads[i].regs[CPROF_REG_RSP];
		uint64_t isp = core->threads[i].interrupted_sp;
		if ((start <= sp && sp < end) || (isp && start <= isp && isp < end))
			return true;
	}
	return false;
}

/* Whether s lies right below a thread's stack: its guard, when no access. */
static bool below_stack(const struct cprof_core *core, const struct cprof_segment *s)
{
	const struct cprof_segment *next = s + 1;
	return next < core->segments + core->n_segments && next->start == s->end &&
	       (next->flags & CPROF_SEG_W) && holds_stack(core, next->start, next->end);
}

/* Whether s lies right after a glibc arena heap: an arena heap is mapped
 * PROT_NONE up to its maximum size and made accessible as it grows, so the
 * rest, when no access, is its reserve. */
static bool after_arena_heap(const struct cprof_heap_walk *walk, const struct cprof_segment *s)
{
	for (size_t i = 0; i < walk->n_heaps; i++)
		if (walk->heaps[i].end == s->start && !strcmp(walk->heaps[i].allocator, "glibc") &&
		    !strcmp(walk->heaps[i].kind, "arena"))
			return true;
	return false;
}

/* What a mapping with no access is. */
static enum category no_access(const struct cprof_core *core,
			       const struct cprof_heap_walk *walk, const struct cprof_segment *s)
{
	return !below_stack(core, s) && after_arena_heap(walk, s) ? CAT_HEAP_RESERVE
								   : CAT_RESERVED;
}

/*
 * Whether s, readable in the core, is a mapping with no access that gdb's
 * gcore wrote: gcore gives every PT_LOAD PF_R and dumps its (zero) bytes, so
 * no access reads as read-only anonymous memory.  Only those known by where
 * they lie are told apart (the kernel's cores of the same processes say they
 * are no access): an arena heap's reserve, a stack's guard, and the part of
 * memory an allocator claimed that it has not made accessible yet (a Go heap
 * arena's unused tail: no allocator maps its memory read-only); in a process
 * whose runtime maps no anonymous memory read-only (Go's), all of it.
 */
static bool gcore_no_access(const struct cprof_core *core, const struct cprof_heap_walk *walk,
			    const struct cprof_segment *s)
{
	return core->process.dumper == CPROF_DUMPER_GCORE &&
	       !(s->flags & (CPROF_SEG_W | CPROF_SEG_X)) && s->file < 0 &&
	       !cprof_core_module(core, s->start) &&
	       (below_stack(core, s) || after_arena_heap(walk, s) ||
		cprof_heap_claimed(walk, s->start) ||
		cprof_heap_any_flag(walk, CPROF_PROVIDER_NO_READONLY));
}

/* What segment s is outside the heaps; *heap: its part inside them. */
static enum category classify(struct cprof_core *core,
			      const struct cprof_heap_walk *walk,
			      const struct heap_cover *cover,
			      const struct cprof_segment *s,
			      struct cprof_core_totals *heap)
{
	memset(heap, 0, sizeof(*heap));
	if (!(s->flags & (CPROF_SEG_R | CPROF_SEG_W | CPROF_SEG_X)))
		return no_access(core, walk, s);
	if (gcore_no_access(core, walk, s))
		return no_access(core, walk, s);
	cover_part(cover, core, s, heap);
	if (heap->mapped == s->end - s->start)
		return CAT_HEAP;
	if (holds_stack(core, s->start, s->end))
		return CAT_STACK;
	if (s->file >= 0 || cprof_core_module(core, s->start)) {
		if (!cprof_core_module(core, s->start))
			return CAT_FILE;
		return s->flags & CPROF_SEG_W ? CAT_MODULE_DATA : CAT_MODULE_CODE;
	}
	return CAT_ANON;
}

struct cprof_error *cprof_report_mapping_roles(struct cprof_core *core,
					       const struct cprof_heap_walk *walk,
					       struct cprof_mapping_role **ret)
{
	struct heap_cover cover;
	struct cprof_error *err = cover_init(&cover, walk);
	if (err)
		return err;
	struct cprof_mapping_role *r = calloc(core->n_segments ? core->n_segments : 1,
					      sizeof(*r));
	if (!r) {
		cover_deinit(&cover);
		return &cprof_enomem;
	}
	for (size_t i = 0; i < core->n_segments; i++) {
		struct cprof_core_totals h;
		r[i].role = cat_roles[classify(core, walk, &cover, &core->segments[i], &h)];
		r[i].heap_bytes = h.mapped;
	}
	cover_deinit(&cover);
	*ret = r;
	return NULL;
}

const char *cprof_report_mapping_role_text(const struct cprof_mapping_role *r,
					   const struct cprof_segment *s,
					   char *buf, size_t n)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	uint64_t size = s->end - s->start;
	if (!r->heap_bytes || r->heap_bytes == size)
		return r->role;
	snprintf(buf, n, "heap %s + %s %s", fmt_bytes(b1, r->heap_bytes), r->role,
		 fmt_bytes(b2, size - r->heap_bytes));
	return buf;
}

static struct cprof_error *categorize(struct cprof_core *core,
				      const struct cprof_heap_walk *walk,
				      struct cat_totals *t)
{
	struct heap_cover cover;
	struct cprof_error *err = cover_init(&cover, walk);
	if (err)
		return err;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < core->n_segments; i++) {
		const struct cprof_segment *s = &core->segments[i];
		struct cprof_core_totals st, h;
		enum category c = classify(core, walk, &cover, s, &h);
		cprof_core_segment_totals(core, s, &st);
		/* a mapping partly in heaps counts in both categories */
		if (h.mapped) {
			t->count[CAT_HEAP]++;
			t->mapped[CAT_HEAP] += h.mapped;
			t->in_core[CAT_HEAP] += h.in_core;
		}
		if (h.mapped < st.mapped) {
			t->count[c]++;
			t->mapped[c] += st.mapped - h.mapped;
			t->in_core[c] += st.in_core - h.in_core;
		}
	}
	cover_deinit(&cover);
	return NULL;
}

const char *cprof_report_args_cut(const struct cprof_process *p)
{
	return p->args_truncated ? "... (the kernel keeps 79 bytes)" : "";
}

static int signal_of(const struct cprof_core *core)
{
	return core->process.fatal_signal;
}

/* ---- debug info ---- */

/* Whether module m is a file found and used (a missing or mismatched one is
 * warned about already), and not the vdso (the kernel's, never with debug
 * info): whether its debug info is worth a word. */
static bool file_used(const struct cprof_module *m)
{
	return m->path && (m->status == CPROF_MODULE_OK || m->status == CPROF_MODULE_UNVERIFIED) &&
	       strcmp(m->name, "[vdso]") && strncmp(m->name, "linux-vdso", 10);
}

static bool debug_info_missing(const struct cprof_module *m)
{
	return file_used(m) && !m->has_dwarf;
}

/* Nothing else says it: without DWARF a module's globals and frames have
 * only symbol names (module+0x... in a stripped one) and its objects no
 * type but a C++ vtable's, and a reader of "0 objects typed" must know why
 * (a Debian program's executable is stripped, its debug info a -dbgsym
 * package away). */
static void report_debug_info(FILE *out, const struct cprof_core *core)
{
	const struct cprof_module *exe = cprof_core_executable(core);
	size_t libs = 0, missing = 0;
	for (size_t i = 0; i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		if (m != exe && file_used(m)) {
			libs++;
			missing += !m->has_dwarf;
		}
	}
	if (exe && debug_info_missing(exe))
		fprintf(out, "  no debug info (DWARF) for the executable %s: its globals and frames are named\n"
			"  by symbols only (%s+0x... where it has none), its objects typed by C++ vtables\n"
			"  only; install its debug symbols (Debian: its -dbgsym package) or pass --debug-dir\n",
			exe->name, exe->name);
	if (missing)
		fprintf(out, "  no debug info (DWARF) for %zu of %zu shared libraries: their globals and objects\n"
			"  have no types ('cprof-core info' lists them)\n", missing, libs);
}

void cprof_report_summary(FILE *out, struct cprof_core *core,
			  const struct cprof_analysis *a, const char *db_path,
			  const char *exe_arg, double seconds)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], sig[32];
	const struct cprof_process *p = &core->process;
	struct cat_totals t;
	struct cprof_error *cat_err = categorize(core, &a->walk, &t);

	fprintf(out, "cprof-core: %s analyzed in %.2f s; writing %s\n\n", core->path,
		seconds, db_path);
	fprintf(out, "process   ");
	if (p->has_psinfo)
		fprintf(out, "pid %d (%s): %s%s\n          ", p->pid, p->command, p->args,
			cprof_report_args_cut(p));
	int signo = signal_of(core);
	if (signo)
		fprintf(out, "killed by %s, ", fmt_signal(sig, sizeof(sig), signo));
	else if (p->dumper == CPROF_DUMPER_GCORE)
		fprintf(out, "dumped by gcore (not killed), ");
	fprintf(out, "%zu thread%s, %zu modules, %zu mappings\n", core->n_threads,
		core->n_threads == 1 ? "" : "s", core->n_modules, core->n_segments);

	fprintf(out, "\nmemory by category          mappings        mapped   in the core\n");
	if (cat_err) {
		fprintf(out, "  (not counted: %s)\n", cat_err->message);
		cprof_error_destroy(cat_err);
	}
	for (int c = 0; cat_err == NULL && c < N_CATS; c++) {
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
	fprintf(out, "  (walk %.2f s, roots %.2f s, scan %.2f s, leaks %.2f s, dominators %.2f s, types %.2f s)\n",
		a->t_walk, a->t_roots, a->t_scan, a->t_leaks, a->t_dominators, a->t_types);
	if (a->types.object_type)
		fprintf(out, "  %llu objects typed (%s): from DWARF, C++ vtables or the Go runtime; %llu of them guessed from their layout\n",
			(unsigned long long)a->types.typed, fmt_bytes(b1, a->types.typed_bytes),
			(unsigned long long)a->types.guessed);
	report_debug_info(out, core);
	cprof_report_allocator_sections(out, a);

	(void)exe_arg;
}

void cprof_report_stored(FILE *out, const struct cprof_analysis *a, const char *db_path)
{
	char b[FMT_BYTES_SIZE];
	fprintf(out, "\nwrote %s (%s) in %.2f s after the analysis\n", db_path,
		fmt_bytes(b, a->db_bytes), a->t_store);
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
			       const char *db_path, double seconds, double summary_seconds,
			       const struct cprof_leak_totals *lt,
			       const struct cprof_leak_row *rows, size_t n_rows,
			       const struct cprof_entries *es,
			       const struct cprof_profile_report *profile)
{
	struct json j;
	struct cat_totals t;
	struct cprof_error *cat_err = categorize(core, &a->walk, &t);
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
		json_kv_bool(&j, "args_truncated", core->process.args_truncated);
	}
	json_kv_int(&j, "signal", signal_of(core));
	json_kv_string(&j, "dumper", cprof_dumper_name(core->process.dumper));
	json_kv_uint(&j, "threads", core->n_threads);
	json_object_end(&j);
	json_key(&j, "memory");
	json_array_begin(&j);
	static const char *const keys[N_CATS] = {
		"heaps", "heap_reserves", "stacks", "module_data", "module_code", "file",
		"anonymous", "no_access",
	};
	/* out of memory: no row rather than wrong ones */
	cprof_error_destroy(cat_err);
	for (int c = 0; !cat_err && c < N_CATS; c++) {
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
	json_key(&j, "sections");
	cprof_report_allocator_sections_json(&j, a);
	json_kv_uint(&j, "objects", a->n_objects);
	json_kv_uint(&j, "edges", a->graph.n_edges);
	json_kv_uint(&j, "root_refs", a->graph.n_root_refs);
	json_key(&j, "types");
	json_object_begin(&j);
	json_kv_uint(&j, "typed", a->types.typed);
	json_kv_uint(&j, "typed_bytes", a->types.typed_bytes);
	json_kv_uint(&j, "guessed", a->types.guessed);
	/* the files used that have no DWARF, the executable first when it has none */
	json_key(&j, "no_debug_info");
	json_array_begin(&j);
	const struct cprof_module *exe = cprof_core_executable(core);
	if (exe && debug_info_missing(exe))
		json_string(&j, exe->name);
	for (size_t i = 0; i < core->n_modules; i++)
		if (&core->modules[i] != exe && debug_info_missing(&core->modules[i]))
			json_string(&j, core->modules[i].name);
	json_array_end(&j);
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
		json_kv_string(&j, "type", rows[i].type[0] ? rows[i].type : NULL);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_key(&j, "top_entries");
	cprof_report_entries_json(&j, es);
	json_key(&j, "profile");
	if (profile)
		cprof_report_profile_json(&j, profile);
	else
		json_null(&j);
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
	json_kv_double(&j, "summary", summary_seconds);
	json_kv_double(&j, "store_objects", a->t_objects);
	json_kv_double(&j, "store_object_indexes", a->t_object_indexes);
	json_kv_double(&j, "store_refs", a->t_refs);
	json_kv_double(&j, "store_ref_index", a->t_ref_index);
	json_kv_double(&j, "store_tables", a->t_tables);
	json_kv_uint(&j, "db_bytes", a->db_bytes);
	json_object_end(&j);
	const struct cprof_memory_account *m = &a->mem;
	json_key(&j, "memory_account");
	json_object_begin(&j);
	const struct { const char *k; uint64_t v; } parts[] = {
		{ "objects", m->objects }, { "graph", m->graph }, { "leak_flags", m->leak_flags },
		{ "dominators", m->dominators }, { "retention", m->retention },
		{ "types", m->types }, { "reverse", m->reverse }, { "store", m->store },
		{ "sqlite", m->sqlite }, { "rss_walk", m->rss_walk }, { "rss_scan", m->rss_scan },
		{ "rss_leaks", m->rss_leaks }, { "rss_dominators", m->rss_dominators },
		{ "rss_types", m->rss_types }, { "rss_summary", m->rss_summary },
		{ "rss_store", m->rss_store },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		json_kv_uint(&j, parts[i].k, parts[i].v);
	json_object_end(&j);
	json_object_end(&j);
	json_finish(&j);
}
