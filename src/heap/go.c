/*
 * go.c - the Go runtime heap walker.
 *
 * Every layout comes from the binary's DWARF (struct members and the
 * DW_TAG_constant values the Go compiler emits); nothing is hard-coded but
 * the pointer size.  A binary built with -ldflags=-w has no DWARF: the walk
 * stops with an error that says so.
 *
 * The walk, as the runtime itself counts (mstats.go, mheap.go):
 *   - runtime.mheap_.allspans lists every span ever made; the in-use ones
 *     (state mSpanInUse) hold objects; manual ones hold goroutine stacks;
 *   - object i of a span is allocated when the span is swept (its sweepgen is
 *     the heap's, or the heap's + 3 when an mcache holds it) and i is below
 *     freeindex or set in allocBits; in an unswept span the last GC's marks
 *     decide: gcmarkBits, or with the green tea collector (Go 1.26) the
 *     inline marks at the end of the span's first page;
 *   - an object's size is its span's elemsize (large objects: the span);
 *     objects with pointers (a scan span class) bigger than
 *     minSizeForMallocHeader start with an 8-byte type header, after which the
 *     program's pointer points.
 * HeapObjects and HeapAlloc summed this way equal runtime.MemStats right
 * after runtime.GC() (tiny allocations count per 16-byte block, as there).
 *
 * The rest of the Go provider (struct cprof_heap_provider): detect (the
 * runtime read by cprof_go_runtime_open, its state), claim (the heap arenas
 * of every span), the pointer maps (src/goruntime/ptrmask.c), the summary
 * section in MemStats' terms, the goroutine and site tables; the roots are
 * in go-roots.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "goruntime/goruntime-internal.h"
#include "cprof/analysis.h"
#include "cprof/format.h"
#include "cprof/store.h"
#include "go.h"

enum {
	MAX_SPANS = 1 << 26,       /* 256 TiB of 4 KiB spans: beyond, allspans is bad */
	MAX_SPAN_WARNINGS = 20,
};

/* The heap's layout (src/goruntime/layout.c), or an error saying what is
 * missing. */
static struct cprof_error *layout(const struct cprof_go_runtime *rt, const struct go_layout **ret)
{
	const struct go_layout *l = &rt->priv->l;
	*ret = l;
	if (l->heap_missing)
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: %s is not in its DWARF: the Go heap cannot be walked",
					  rt->module->name, l->heap_missing);
	return NULL;
}

static bool bit(const uint8_t *bits, uint64_t i)
{
	return bits && (bits[i / 8] >> (i % 8)) & 1;
}

/* The memory profiler's records: allocation sites of sampled objects. */
static void read_profile(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	struct cprof_go_profile *p = calloc(1, sizeof(*p));
	struct cprof_error *err = p ? cprof_go_profile_read(core, rt, p) : &cprof_enomem;
	if (err) {
		cprof_warn(core->warnings, "%s: the Go memory profile's records are not read: %s",
			   core->path, err->message);
		cprof_error_destroy(err);
		free(p);
		return;
	}
	rt->profile = p;
}

static int typed_cmp(const void *a, const void *b)
{
	const struct cprof_go_typed *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Records the runtime type of the object at addr: its malloc header at
 * slot, or its span's largeType (typ). */
static struct cprof_error *note_type(struct cprof_core *core, struct cprof_go_runtime *rt,
				     uint64_t slot, uint64_t addr, uint64_t typ)
{
	if (!typ) {
		if (!cprof_core_try_read(core, slot, &typ, 8))
			return NULL;
	}
	if (!typ)
		return NULL;
	if (rt->n_typed == rt->cap_typed) {
		size_t cap = rt->cap_typed ? 2 * rt->cap_typed : 256;
		struct cprof_go_typed *a = realloc(rt->typed, cap * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		rt->typed = a;
		rt->cap_typed = cap;
	}
	rt->typed[rt->n_typed++] = (struct cprof_go_typed){ addr, typ };
	return NULL;
}

/* Notes the heap arena holding addr (arenas are aligned to their size). */
static struct cprof_error *add_arena(struct cprof_go_runtime *rt, uint64_t addr,
				     uint64_t arena_bytes)
{
	uint64_t start = addr & ~(arena_bytes - 1);
	for (size_t i = rt->n_arenas; i-- > 0;)
		if (rt->arenas[i].start == start)
			return NULL;
	if (rt->n_arenas % 16 == 0) {
		struct cprof_range *a = realloc(rt->arenas, (rt->n_arenas + 16) * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		rt->arenas = a;
	}
	rt->arenas[rt->n_arenas++] = (struct cprof_range){ start, start + arena_bytes };
	return NULL;
}

/* mheap_.sweepgen and mheap_.allspans (array, len), the list checked whole:
 * a bad header would make every span a warning (2^60 of them). */
static struct cprof_error *read_allspans(struct cprof_core *core,
					 const struct cprof_go_runtime *rt,
					 const struct go_layout *l, uint32_t *hsg,
					 uint64_t *spans)
{
	struct cprof_error *err;
	if ((err = cprof_core_read(core, rt->mheap + l->h_sweepgen, hsg, 4)) ||
	    (err = cprof_core_read(core, rt->mheap + l->h_allspans, spans, 16)))
		return cprof_error_prefix(err, "%s: runtime.mheap_", rt->module->name);
	uint64_t last;
	if (spans[1] > MAX_SPANS ||
	    (spans[1] && (err = cprof_core_read_u64(core, spans[0] + 8 * (spans[1] - 1), &last)))) {
		cprof_error_destroy(err);
		return cprof_corrupt(core->path, spans[0],
				     "runtime.mheap_.allspans (%llu spans) is not in the core: the Go heap's metadata is corrupt or missing",
				     (unsigned long long)spans[1]);
	}
	return NULL;
}

/* The heap arenas holding a span (its start), claimed before any walk: Go's
 * spans, goroutine stacks and free pages are no glibc chunk and no root. */
static struct cprof_error *go_claim(struct cprof_core *core, struct cprof_heap_walk *walk,
				    struct cprof_allocator *self)
{
	struct cprof_go_runtime *rt = self->state;
	const struct go_layout *l;
	uint32_t hsg = 0;
	uint64_t spans[2] = { 0, 0 };
	struct cprof_error *err = layout(rt, &l);
	if (err || (err = read_allspans(core, rt, l, &hsg, spans)))
		return err;
	for (uint64_t i = 0; i < spans[1]; i++) {
		uint64_t s, base;
		if (!cprof_core_try_read(core, spans[0] + 8 * i, &s, 8) ||
		    !cprof_core_try_read(core, s + (uint64_t)l->span[SPAN_START].off, &base, 8))
			continue;          /* the walk says so */
		/* A span the heap recycled (mSpanDead) keeps startAddr 0: no arena. */
		if (base && (err = add_arena(rt, base, l->arena_bytes)))
			return err;
	}
	for (size_t i = 0; i < rt->n_arenas; i++)
		if ((err = cprof_heap_claim(core, walk, rt->arenas[i].start, rt->arenas[i].end)))
			return err;
	return NULL;
}

/* Whether the process maps every byte of [start, start + len) readable: a
 * span in use does.  A damaged npages or startAddr reaching past the
 * mappings made a 256 GiB object, and the object index, whose tables follow
 * the objects' address range, asked for 4 GiB (a go fuzz target finding). */
static bool mapped_readable(const struct cprof_core *core, uint64_t start, uint64_t len)
{
	if (start + len < start)
		return false;
	for (uint64_t end = start + len; start < end;) {
		const struct cprof_segment *s = cprof_core_segment(core, start);
		if (!s || !(s->flags & CPROF_SEG_R))
			return false;
		start = s->end;
	}
	return true;
}

static struct cprof_error *go_walk(struct cprof_core *core,
				   struct cprof_heap_walk *walk,
				   struct cprof_allocator *self,
				   cprof_object_fn *fn, void *arg)
{
	struct cprof_go_runtime *rt = self->state;
	const struct go_layout *l;
	uint32_t hsg = 0;
	uint64_t spans[2] = { 0, 0 };      /* allspans: array, len */
	struct cprof_error *err = layout(rt, &l);
	if (err || (err = read_allspans(core, rt, l, &hsg, spans)))
		return err;

	uint8_t *sp = malloc(l->span_size);
	uint8_t *alloc = NULL, *marks = NULL;
	size_t bits_cap = 0;
	if (!sp)
		return &cprof_enomem;
	uint64_t objects = 0, alloc_bytes = 0, inuse = 0, stacks = 0, n_spans = 0, bad_spans = 0;
	bool stop = false;
	for (uint64_t i = 0; i < spans[1] && !stop; i++) {
		uint64_t s;
		struct cprof_error *e = cprof_core_read_u64(core, spans[0] + 8 * i, &s);
		if (!e)
			e = cprof_core_read(core, s, sp, l->span_size);
		if (e) {
			if (++bad_spans <= MAX_SPAN_WARNINGS)
				cprof_warn(core->warnings, "%s: Go heap: span %llu of allspans: %s%s",
					   core->path, (unsigned long long)i, e->message,
					   bad_spans == MAX_SPAN_WARNINGS ?
					   " (further unreadable spans are counted, not listed)" : "");
			cprof_error_destroy(e);
			continue;
		}
		uint64_t state = go_get(sp, &l->span[SPAN_STATE]);
		uint64_t base = go_get(sp, &l->span[SPAN_START]);
		uint64_t npages = go_get(sp, &l->span[SPAN_NPAGES]);
		uint64_t span_bytes = npages * (uint64_t)l->page_size;
		if (state == (uint64_t)l->span_manual)
			stacks += span_bytes;
		if (state != (uint64_t)l->span_in_use)
			continue;
		n_spans++;
		inuse += span_bytes;
		uint64_t elemsize = go_get(sp, &l->span[SPAN_ELEMSIZE]);
		uint64_t nelems = go_get(sp, &l->span[SPAN_NELEMS]);
		uint64_t freeindex = go_get(sp, &l->span[SPAN_FREEINDEX]);
		uint64_t sizeclass = go_get(sp, &l->span[SPAN_CLASS]) >> 1;
		bool noscan = go_get(sp, &l->span[SPAN_CLASS]) & 1;
		uint32_t sg = (uint32_t)go_get(sp, &l->span[SPAN_SWEEPGEN]);
		bool swept = sg == hsg || sg == hsg + 3;
		/* a small span's objects lie in it (a bigger elemsize made one
		   object of 256 GiB) */
		if (!elemsize || nelems > span_bytes / 8 + 1 ||
		    (sizeclass && nelems > span_bytes / elemsize)) {
			cprof_warn(core->warnings, "%s: Go heap: span at 0x%llx has a bad elemsize %llu or nelems %llu; skipped",
				   core->path, (unsigned long long)base,
				   (unsigned long long)elemsize, (unsigned long long)nelems);
			continue;
		}
		if (npages > UINT64_MAX / (uint64_t)l->page_size || !mapped_readable(core, base, span_bytes)) {
			cprof_warn(core->warnings, "%s: Go heap: span at 0x%llx of %llu pages is not in the process's readable mappings; skipped",
				   core->path, (unsigned long long)base, (unsigned long long)npages);
			continue;
		}
		size_t nbytes = (size_t)(nelems + 7) / 8;
		if (nbytes > bits_cap) {
			uint8_t *a = realloc(alloc, nbytes), *b = a ? realloc(marks, nbytes) : NULL;
			if (!a || !b) {
				free(a ? a : alloc);
				free(b ? b : marks);
				free(sp);
				return &cprof_enomem;
			}
			alloc = a;
			marks = b;
			bits_cap = nbytes;
		}
		struct cprof_error *eb = cprof_core_read(core, go_get(sp, &l->span[swept ? SPAN_ALLOCBITS :
										       SPAN_GCMARKBITS]),
							 alloc, nbytes);
		if (eb) {
			cprof_warn(core->warnings, "%s: Go heap: span at 0x%llx: its %s are not in the core; skipped",
				   core->path, (unsigned long long)base,
				   swept ? "allocBits" : "gcmarkBits");
			cprof_error_destroy(eb);
			continue;
		}
		/* Green tea keeps an unswept small span's marks inline. */
		bool inline_marks = !swept && l->inline_size && elemsize >= 16 &&
				    elemsize <= (uint64_t)l->min_header;
		if (inline_marks) {
			struct cprof_error *ei = cprof_core_read(
				core, base + l->page_size - l->inline_size + l->inline_marks,
				marks, nbytes);
			if (ei) {
				cprof_error_destroy(ei);
				inline_marks = false;
			}
		}
		struct cprof_heap h = { .allocator = "go", .start = base,
					.end = base + span_bytes };
		strcpy(h.kind, sizeclass ? "span" : "large");
		uint32_t heap_id;
		if ((err = cprof_heap_add(walk, &h, &heap_id)))
			break;
		/* Only objects with pointers carry a type header (mallocgc's
		 * "heapBitsInSpan" cut-off); noscan objects start at the slot. */
		bool header = sizeclass && !noscan && elemsize > (uint64_t)l->min_header;
		for (uint64_t k = 0; k < nelems && !stop; k++) {
			bool live = swept ? (k < freeindex || bit(alloc, k)) :
					    (bit(alloc, k) || (inline_marks && bit(marks, k)));
			if (!live)
				continue;
			uint64_t size = sizeclass ? elemsize : span_bytes;
			struct cprof_object o = {
				.addr = base + k * elemsize + (header ? l->header_size : 0),
				.size = size - (header ? l->header_size : 0),
				.heap = heap_id, .state = CPROF_OBJECT_USED,
				.flags = CPROF_OBJECT_COLLECTED,
			};
			objects++;
			alloc_bytes += size;
			if (!noscan && (header || !sizeclass) &&
			    (err = note_type(core, rt, base + k * elemsize, o.addr,
					     header ? 0 : go_get(sp, &l->span[SPAN_LARGETYPE])))) {
				stop = true;
				break;
			}
			stop = !fn(&o, arg);
		}
	}
	free(sp);
	free(alloc);
	free(marks);
	if (err)
		return err;
	if (bad_spans > MAX_SPAN_WARNINGS)
		cprof_warn(core->warnings, "%s: Go heap: %llu spans of allspans unreadable in all; their objects are missing",
			   core->path, (unsigned long long)bad_spans);
	if (rt->n_typed)
		qsort(rt->typed, rt->n_typed, sizeof(*rt->typed), typed_cmp);
	read_profile(core, rt);

	struct cprof_allocator s = { .name = "go", .stats_name = "MemStats" };
	snprintf(s.version, sizeof(s.version), "%s", rt->version);
	snprintf(s.found_by, sizeof(s.found_by),
		 "runtime.mheap_ (symbol) and DWARF layouts; %llu spans in use of %llu",
		 (unsigned long long)n_spans, (unsigned long long)spans[1]);
	s.used_count = objects;
	s.used_bytes = alloc_bytes;
	s.stats[s.n_stats++] = (struct cprof_stat){ "HeapObjects", objects };
	s.stats[s.n_stats++] = (struct cprof_stat){ "HeapAlloc", alloc_bytes };
	s.stats[s.n_stats++] = (struct cprof_stat){ "HeapInuse", inuse };
	s.stats[s.n_stats++] = (struct cprof_stat){ "StackInuse", stacks };
	/* The rest of MemStats can only come from the runtime's counters. */
	for (size_t i = 0; i < rt->n_stats && s.n_stats < 16; i++)
		if (strcmp(rt->stats[i].name, "HeapInuse"))
			s.stats[s.n_stats++] = (struct cprof_stat){
				rt->stats[i].name, rt->stats[i].value +
				/* readmemstats: StackSys = StackInuse + stacks_sys */
				(strcmp(rt->stats[i].name, "StackSys") ? 0 : stacks) };
	uint64_t sys = 0;
	for (size_t i = 0; i < s.n_stats; i++)
		if (strstr(s.stats[i].name, "Sys"))
			sys += s.stats[i].value;
	if (sys && s.n_stats < 16)
		s.stats[s.n_stats++] = (struct cprof_stat){ "Sys", sys };
	return cprof_heap_add_summary(walk, &s);
}

/* The runtime, read from its module (the one with runtime.mheap_): a Go
 * program without DWARF is an error, as its heap cannot be read. */
static struct cprof_error *go_detect(struct cprof_core *core, struct cprof_allocator *self,
				     bool *found)
{
	struct cprof_go_runtime *rt;
	struct cprof_error *err = cprof_go_runtime_open(core, &rt);
	if (err || !rt)
		return err;        /* no runtime: not a Go program */
	self->state = rt;
	self->module = rt->module;
	snprintf(self->version, sizeof(self->version), "%s", rt->version);
	snprintf(self->found_by, sizeof(self->found_by), "runtime.mheap_ (symbol) in %s",
		 rt->module->name);
	*found = true;
	return NULL;
}

static void go_destroy(void *state)
{
	cprof_go_runtime_destroy(state);
}

extern const struct cprof_heap_provider cprof_go_provider;

const struct cprof_go_runtime *cprof_go_runtime_of(const struct cprof_heap_walk *walk)
{
	for (size_t i = 0; walk && i < walk->n_allocators; i++)
		if (walk->allocators[i].provider == &cprof_go_provider)
			return walk->allocators[i].state;
	return NULL;
}

/* ---- pointer maps: the runtime's own (src/goruntime/ptrmask.c) ---- */

static struct cprof_error *go_pointers_open(struct cprof_core *core,
					    const struct cprof_allocator *self, void **ret)
{
	struct cprof_go_ptrmask *p = NULL;
	struct cprof_error *err = cprof_go_ptrmask_open(core, self->state, &p);
	*ret = p;
	return err;
}

static enum cprof_pointers go_object_pointers(void *handle, uint64_t addr, uint64_t size,
					      uint8_t *mask)
{
	switch (cprof_go_object_pointers(handle, addr, size, mask)) {
	case CPROF_GO_PTRS_NONE: return CPROF_POINTERS_NONE;
	case CPROF_GO_PTRS_MASK: return CPROF_POINTERS_MASK;
	default: return CPROF_POINTERS_UNKNOWN;
	}
}

static void go_pointers_close(void *handle)
{
	cprof_go_ptrmask_close(handle);
}

/* ---- the summary section, in runtime.MemStats' terms ---- */

static uint64_t stat(const struct cprof_allocator *s, const char *name)
{
	for (size_t i = 0; s && i < s->n_stats; i++)
		if (!strcmp(s->stats[i].name, name))
			return s->stats[i].value;
	return 0;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static __attribute__((format(printf, 3, 4)))
void line(struct cprof_summary_section *sec, const char *label, const char *fmt, ...)
{
	if (sec->n_lines == sizeof(sec->lines) / sizeof(sec->lines[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	snprintf(sec->lines[sec->n_lines].label, sizeof(sec->lines[0].label), "%s", label);
	vsnprintf(sec->lines[sec->n_lines].text, sizeof(sec->lines[0].text), fmt, ap);
	va_end(ap);
	sec->n_lines++;
}

/* A figure a line says, for the JSON. */
static void value(struct cprof_summary_section *sec, const char *name, uint64_t v)
{
	if (sec->n_values < sizeof(sec->values) / sizeof(sec->values[0]))
		sec->values[sec->n_values++] = (struct cprof_stat){ name, v };
}

/* The C heap beside Go's (cgo): the walked allocator serving malloc. */
static const struct cprof_allocator *c_heap(const struct cprof_allocator *self,
					    const struct cprof_heap_walk *walk)
{
	const struct cprof_allocator *m = cprof_heap_malloc(walk);
	if (m && m != self && m->heap_state == CPROF_HEAP_WALKED)
		return m;
	for (size_t i = 0; i < walk->n_allocators; i++)
		if (&walk->allocators[i] != self &&
		    walk->allocators[i].heap_state == CPROF_HEAP_WALKED)
			return &walk->allocators[i];
	return NULL;
}

/*
 * What the heap holds, what the runtime obtained from the OS and for what,
 * the C heap beside it - why RSS is larger than a heap profile - then the
 * goroutines and how the objects were scanned and typed.
 */
static void go_summary(const struct cprof_allocator *g, const struct cprof_heap_walk *walk,
		       const struct cprof_summary_facts *f, struct cprof_summary_section *sec)
{
	const struct cprof_go_runtime *rt = g->state;
	const struct cprof_allocator *c = c_heap(g, walk);
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE], b4[FMT_BYTES_SIZE],
	     b5[FMT_BYTES_SIZE];
	snprintf(sec->title, sizeof(sec->title), "go %s (as runtime.MemStats would say)",
		 rt->version);
	line(sec, "heap objects", "%s in %llu objects (HeapAlloc, HeapObjects)",
	     fmt_bytes(b1, stat(g, "HeapAlloc")), (unsigned long long)stat(g, "HeapObjects"));
	line(sec, "heap in use", "%s of spans (HeapInuse): %s of it free slots",
	     fmt_bytes(b1, stat(g, "HeapInuse")),
	     fmt_bytes(b2, stat(g, "HeapInuse") > stat(g, "HeapAlloc") ?
		       stat(g, "HeapInuse") - stat(g, "HeapAlloc") : 0));
	line(sec, "heap idle", "%s (HeapIdle), %s of it returned to the OS (HeapReleased)",
	     fmt_bytes(b1, stat(g, "HeapIdle")), fmt_bytes(b2, stat(g, "HeapReleased")));
	line(sec, "stacks", "%s (StackInuse)", fmt_bytes(b1, stat(g, "StackInuse")));
	line(sec, "runtime", "%s span structs, %s caches, %s profile buckets, %s GC metadata, %s other",
	     fmt_bytes(b1, stat(g, "MSpanSys")), fmt_bytes(b2, stat(g, "MCacheSys")),
	     fmt_bytes(b3, stat(g, "BuckHashSys")), fmt_bytes(b4, stat(g, "GCSys")),
	     fmt_bytes(b5, stat(g, "OtherSys")));
	line(sec, "obtained", "%s from the OS (Sys)", fmt_bytes(b1, stat(g, "Sys")));
	if (c)
		line(sec, "C heap", "%s in %llu chunks (%s malloc, cgo: not in Sys)",
		     fmt_bytes(b1, c->used_bytes), (unsigned long long)c->used_count, c->name);
	char dead[64] = "";
	if (rt->n_dead)
		snprintf(dead, sizeof(dead), " (and %zu dead, kept for reuse)", rt->n_dead);
	line(sec, "goroutines", "%zu in %zu groups%s: cprof-core goroutines; stacks scanned by their stack maps: %zu, every word: %zu",
	     rt->n_goroutines, rt->n_groups, dead, rt->stacks_precise, rt->stacks_conservative);
	line(sec, "scanned", "%llu objects by the runtime's pointer maps, %llu pointer-free, %llu conservatively (no metadata)",
	     (unsigned long long)f->objects_precise, (unsigned long long)f->objects_noscan,
	     (unsigned long long)f->objects_conservative);
	if (f->types_computed)
		line(sec, "typed", "%.1f%% of the reachable objects, %.1f%% of their bytes (untyped: by size class)",
		     pct(f->typed, f->reachable), pct(f->typed_bytes, f->reachable_bytes));
	/* the same figures, by name (MemStats' own are the allocator's stats) */
	for (size_t i = 0; i < g->n_stats; i++)
		value(sec, g->stats[i].name, g->stats[i].value);
	if (c) {
		value(sec, "c_heap_bytes", c->used_bytes);
		value(sec, "c_heap_chunks", c->used_count);
	}
	value(sec, "goroutines", rt->n_goroutines);
	value(sec, "goroutine_groups", rt->n_groups);
	value(sec, "stacks_by_stack_maps", rt->stacks_precise);
	value(sec, "stacks_every_word", rt->stacks_conservative);
	value(sec, "objects_by_pointer_maps", f->objects_precise);
	value(sec, "objects_pointer_free", f->objects_noscan);
	value(sec, "objects_conservative", f->objects_conservative);
	if (f->types_computed) {
		value(sec, "reachable", f->reachable);
		value(sec, "reachable_bytes", f->reachable_bytes);
		value(sec, "typed", f->typed);
		value(sec, "typed_bytes", f->typed_bytes);
	}
}

/* ---- its tables: goroutines and allocation sites ---- */

static struct cprof_error *go_store(struct cprof_store *st, struct cprof_core *core,
				    const struct cprof_allocator *self, uint32_t owner,
				    const struct cprof_object *objs, size_t n,
				    const struct cprof_retention *rt)
{
	const struct cprof_go_runtime *go = self->state;
	struct cprof_error *err = cprof_store_goroutines(st, core, go, owner, rt);
	const struct cprof_go_profile *p = go ? go->profile : NULL;
	if (err || !p || !p->n_sites)
		return err;
	/* The profile's buckets and samples, as the store takes them: each
	   sample names the object as the walk lists it (after its malloc
	   header); a dead object's record (the sweeper has not run) names
	   none. */
	struct cprof_site_record *sites = calloc(p->n_sites, sizeof(*sites));
	struct cprof_site_sample *samples = calloc(p->n_samples + 1, sizeof(*samples));
	if (!sites || !samples) {
		free(sites);
		free(samples);
		return &cprof_enomem;
	}
	for (size_t i = 0; i < p->n_sites; i++)
		sites[i] = (struct cprof_site_record){ p->sites[i].bucket, p->sites[i].pcs,
						       p->sites[i].n_pcs, p->sites[i].size };
	for (size_t i = 0; i < p->n_samples; i++)
		samples[i] = (struct cprof_site_sample){ p->samples[i].object, p->samples[i].site };
	/* how, not where: the runtime's allocation frames, and since Go 1.24
	   the maps' (internal/runtime/maps.newarray...), which Go's own heap
	   profiles leave out at the top of a stack too */
	static const char *const runtime_frames[] = { "runtime.", "internal/runtime/", NULL };
	struct cprof_sites si = { sites, p->n_sites, samples, p->n_samples, 0, NULL,
				  runtime_frames, NULL };
	err = cprof_store_sites(st, core, &si, objs, n);
	free(sites);
	free(samples);
	return err;
}

const struct cprof_heap_provider cprof_go_provider = {
	.name = "go",
	.flags = CPROF_PROVIDER_COLLECTED | CPROF_PROVIDER_OWN_ROOTS | CPROF_PROVIDER_NO_READONLY,
	.detect = go_detect,
	.claim = go_claim,
	.walk = go_walk,
	.destroy = go_destroy,
	.pointers_open = go_pointers_open,
	.object_pointers = go_object_pointers,
	.pointers_close = go_pointers_close,
	.roots = go_roots,
	.thread_registers = go_thread_registers,
	.thread_sp = go_thread_sp,
	.root_levels = go_root_levels,
	.root_level_name = go_root_level_name,
	.slot_name = go_slot_name,
	.slot_frame = go_slot_frame,
	.summary = go_summary,
	.store = go_store,
};
