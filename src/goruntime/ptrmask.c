/*
 * ptrmask.c - which words of a Go heap object hold pointers, from the
 * runtime's own metadata (see cprof_go_object_pointers in
 * include/cprof/goruntime.h).
 *
 * The runtime (Go 1.22+, mbitmap.go typePointersOfUnchecked) keeps it in one
 * of three places, chosen by the object's span:
 *   - a noscan span class (spanclass & 1) holds no pointers at all;
 *   - a small scan span (elemsize <= minSizeForMallocHeader) has one bit per
 *     word of the span in a bitmap at the span's end (with the green tea
 *     collector the span's inline mark bits sit after it);
 *   - bigger objects name their type: an 8-byte header at the slot start
 *     (size classes) or mspan.largeType (large objects); the type's GCData
 *     mask (PtrBytes/8 bits) repeats every Size_ bytes across the object.
 * Anything else - no type yet, a mask built on demand but not yet built, a
 * GC program (Go 1.22/1.23) - is "unknown", and the caller scans
 * conservatively.
 *
 * Spans are found as the runtime finds them (spanOf): mheap_.arenas, an L1/L2
 * index of heapArena, then heapArena.spans per page.  Objects come in address
 * order, so the last arena, span and type are cached.
 *
 * Offsets and constants come from DWARF; only the pointer size (8) and the
 * bitmap encoding (bit i = byte i/8, bit i%8) are known here.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

enum { SPAN_START, SPAN_NPAGES, SPAN_CLASS, SPAN_ELEMSIZE, SPAN_LARGETYPE, SPAN_N };
enum { TYPE_SIZE, TYPE_PTRBYTES, TYPE_TFLAG, TYPE_KIND, TYPE_GCDATA, TYPE_N };

struct span {
	uint64_t addr;             /* the mspan, 0 when none cached */
	uint64_t base, end, elemsize, large_type;
	uint8_t spanclass;
	uint8_t *heap_bits;        /* small scan spans: a copy of the span's bitmap */
	uint64_t n_heap_bits;      /* bytes */
	bool heap_bits_ok;
};

struct type {
	uint64_t addr;             /* the abi.Type, 0 when none cached */
	uint64_t size, words;      /* Size_, PtrBytes / 8 */
	bool known;                /* false: scan conservatively */
	uint64_t *why;             /* when not known: the statistic to count it in */
	uint8_t *mask;             /* words bits */
	size_t cap;
};

struct cprof_go_ptrmask {
	struct cprof_core *core;
	uint64_t mheap;
	struct go_member span_m[SPAN_N], type_m[TYPE_N];
	uint64_t span_size, type_size;
	int64_t h_arenas, ha_spans;        /* mheap.arenas, heapArena.spans */
	uint64_t page_size, pages_per_arena, arena_bytes, arena_base_offset;
	int64_t l1_bits, l2_bits;
	uint64_t min_header, header_size;
	uint64_t inline_size;              /* sizeof(spanInlineMarkBits); 0 without green tea */
	uint64_t tflag_on_demand, kind_gcprog;  /* 0 when the version has none */
	/* caches */
	uint64_t arena_index, arena;       /* the last heapArena looked up */
	struct span span;
	struct type type;
	struct cprof_go_ptrmask_stats stats;
};

static int64_t member_offset(struct cprof_core *core, const struct cprof_module *m,
			     const char *type, const char *name)
{
	struct cprof_dwarf_member d = { name, -1, -1 };
	uint64_t size;
	if (!cprof_dwarf_struct(core, m, NULL, type, &d, 1, &size))
		return -1;
	return d.offset;
}

static struct cprof_error *missing(const struct cprof_module *m, const char *what)
{
	return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
				  "%s: %s is not in the Go runtime's DWARF: Go heap objects are scanned conservatively",
				  m->name, what);
}

/* The arena index geometry (mheap.go arenaIndex). */
static struct cprof_error *read_arena_layout(struct cprof_go_ptrmask *p,
					     const struct cprof_module *m)
{
	struct cprof_core *core = p->core;
	int64_t page, arena, l2;
	if (!cprof_dwarf_constant(core, m, "runtime._PageSize", &page) || page <= 0 ||
	    !cprof_dwarf_constant(core, m, "runtime.heapArenaBytes", &arena) ||
	    arena < page || !cprof_dwarf_constant(core, m, "runtime.arenaL2Bits", &l2))
		return missing(m, "the arena geometry (_PageSize, heapArenaBytes, arenaL2Bits)");
	p->page_size = (uint64_t)page;
	p->arena_bytes = (uint64_t)arena;
	p->pages_per_arena = (uint64_t)go_constant(core, m, "runtime.pagesPerArena", arena / page);
	p->l1_bits = go_constant(core, m, "runtime.arenaL1Bits", 0);
	p->l2_bits = l2;
	/* an int64 constant in DWARF; the runtime uses it as a uintptr */
	p->arena_base_offset = (uint64_t)go_constant(core, m, "runtime.arenaBaseOffsetUintptr", 0);
	p->h_arenas = member_offset(core, m, "runtime.mheap", "arenas");
	p->ha_spans = member_offset(core, m, "runtime.heapArena", "spans");
	if (p->h_arenas < 0 || p->ha_spans < 0 || p->l1_bits < 0 || p->l1_bits > 32 ||
	    p->l2_bits <= 0 || p->l2_bits > 40 || !p->pages_per_arena)
		return missing(m, "mheap.arenas or heapArena.spans");
	return NULL;
}

static struct cprof_error *read_layouts(struct cprof_go_ptrmask *p,
					const struct cprof_module *m)
{
	struct cprof_core *core = p->core;
	static const char *const sn[SPAN_N] = { "startAddr", "npages", "spanclass",
						"elemsize", "largeType" };
	static const char *const tn[TYPE_N] = { "Size_", "PtrBytes", "TFlag", "Kind_",
						"GCData" };
	for (int i = 0; i < SPAN_N; i++)
		p->span_m[i] = (struct go_member){ sn[i], -1, -1 };
	for (int i = 0; i < TYPE_N; i++)
		p->type_m[i] = (struct go_member){ tn[i], -1, -1 };
	/* largeType arrived with the allocation headers (Go 1.22): without it
	   the pointer metadata is laid out differently. */
	if (!go_read_members(core, m, "runtime.mspan", p->span_m, SPAN_N, &p->span_size) ||
	    p->span_size > 4096)
		return missing(m, "runtime.mspan with largeType (Go 1.22+)");
	if (!go_read_members(core, m, "internal/abi.Type", p->type_m, TYPE_N, &p->type_size) ||
	    p->type_size > 4096)
		return missing(m, "internal/abi.Type");
	struct cprof_error *err = read_arena_layout(p, m);
	if (err)
		return err;
	p->min_header = (uint64_t)go_constant(core, m, "runtime.minSizeForMallocHeader", 512);
	p->header_size = (uint64_t)go_constant(core, m, "runtime.mallocHeaderSize", 8);
	/* green tea: 128 bytes of inline mark bits follow the heap bits; the
	   struct is empty or absent when the collector is not compiled in */
	struct cprof_dwarf_member none = { "marks", -1, -1 };
	if (!cprof_dwarf_struct(core, m, NULL, "runtime.spanInlineMarkBits", &none, 1,
				&p->inline_size))
		p->inline_size = 0;
	/* 1.24+: GCData may point to the mask's pointer.  Those masks replaced
	   the GC programs of 1.22/1.23, so look for the program kind (a full
	   DWARF search when absent) only without them. */
	p->tflag_on_demand = (uint64_t)go_constant(core, m, "internal/abi.TFlagGCMaskOnDemand", 0);
	if (!p->tflag_on_demand)
		p->kind_gcprog = (uint64_t)go_constant(core, m, "internal/abi.KindGCProg",
						    go_constant(core, m, "runtime.kindGCProg", 0));
	return NULL;
}

struct cprof_error *cprof_go_ptrmask_open(struct cprof_core *core,
					  const struct cprof_go_runtime *rt,
					  struct cprof_go_ptrmask **ret)
{
	*ret = NULL;
	struct cprof_go_ptrmask *p = calloc(1, sizeof(*p));
	if (!p)
		return &cprof_enomem;
	p->core = core;
	p->mheap = rt->mheap;
	p->arena_index = UINT64_MAX;
	struct cprof_error *err = read_layouts(p, rt->module);
	if (err) {
		free(p);
		return err;
	}
	*ret = p;
	return NULL;
}

void cprof_go_ptrmask_close(struct cprof_go_ptrmask *p)
{
	if (!p)
		return;
	free(p->span.heap_bits);
	free(p->type.mask);
	free(p);
}

const struct cprof_go_ptrmask_stats *cprof_go_ptrmask_stats(const struct cprof_go_ptrmask *p)
{
	return &p->stats;
}

/* ---- spans ---- */

static bool read_u64(struct cprof_core *core, uint64_t addr, uint64_t *v)
{
	struct cprof_error *err = cprof_core_read_u64(core, addr, v);
	cprof_error_destroy(err);
	return !err;
}

/* The heapArena holding addr (0 when none), as mheap.go arenaIndex/spanOf. */
static uint64_t arena_of(struct cprof_go_ptrmask *p, uint64_t addr)
{
	uint64_t ri = (addr - p->arena_base_offset) / p->arena_bytes;
	if (ri == p->arena_index)
		return p->arena;
	uint64_t l1 = p->l1_bits ? ri >> p->l2_bits : 0;
	uint64_t l2 = ri & ((1ull << p->l2_bits) - 1);
	uint64_t l2map = 0, ha = 0;
	if (l1 >> p->l1_bits ||
	    !read_u64(p->core, p->mheap + (uint64_t)p->h_arenas + 8 * l1, &l2map) || !l2map ||
	    !read_u64(p->core, l2map + 8 * l2, &ha))
		ha = 0;
	p->arena_index = ri;
	p->arena = ha;
	return ha;
}

/* Copies a small scan span's heap bits (mbitmap.go spanHeapBitsRange). */
static void read_heap_bits(struct cprof_go_ptrmask *p, struct span *s)
{
	uint64_t span_bytes = s->end - s->base;
	uint64_t n = span_bytes / 8 / 8;
	uint64_t at = s->end - n;
	if (p->inline_size && s->elemsize >= 16)
		at -= p->inline_size;      /* gcUsesSpanInlineMarkBits */
	s->heap_bits_ok = false;
	if (n > s->n_heap_bits) {
		uint8_t *b = realloc(s->heap_bits, n);
		if (!b)
			return;
		s->heap_bits = b;
	}
	s->n_heap_bits = n;
	struct cprof_error *err = cprof_core_read(p->core, at, s->heap_bits, n);
	cprof_error_destroy(err);
	s->heap_bits_ok = !err;
}

static bool read_span(struct cprof_go_ptrmask *p, uint64_t ms, struct span *s)
{
	uint8_t buf[4096];
	struct cprof_error *err = cprof_core_read(p->core, ms, buf, p->span_size);
	if (err) {
		cprof_error_destroy(err);
		return false;
	}
	s->addr = ms;
	s->base = go_get(buf, &p->span_m[SPAN_START]);
	s->end = s->base + go_get(buf, &p->span_m[SPAN_NPAGES]) * p->page_size;
	s->spanclass = (uint8_t)go_get(buf, &p->span_m[SPAN_CLASS]);
	s->elemsize = go_get(buf, &p->span_m[SPAN_ELEMSIZE]);
	s->large_type = go_get(buf, &p->span_m[SPAN_LARGETYPE]);
	s->heap_bits_ok = false;
	bool small_scan = !(s->spanclass & 1) && s->spanclass >> 1 &&
			  s->elemsize <= p->min_header;
	if (small_scan && s->end > s->base)
		read_heap_bits(p, s);
	return s->end > s->base && s->elemsize;
}

/* The span holding addr, or NULL. */
static const struct span *span_of(struct cprof_go_ptrmask *p, uint64_t addr)
{
	struct span *s = &p->span;
	if (s->addr && addr >= s->base && addr < s->end)
		return s;
	uint64_t ha = arena_of(p, addr), ms = 0;
	uint64_t page = (addr / p->page_size) % p->pages_per_arena;
	if (!ha || !read_u64(p->core, ha + (uint64_t)p->ha_spans + 8 * page, &ms) || !ms)
		return NULL;
	if (!read_span(p, ms, s) || addr < s->base || addr >= s->end) {
		s->addr = 0;
		return NULL;
	}
	return s;
}

/* ---- types ---- */

/* Reads the pointer mask of abi.Type t into p->type (known = false when the
 * runtime has none to give: a GC program, an on-demand mask not built). */
static void read_type(struct cprof_go_ptrmask *p, uint64_t t)
{
	struct type *ty = &p->type;
	uint8_t buf[4096];
	ty->addr = t;
	ty->known = false;
	ty->why = &p->stats.bad_type;
	struct cprof_error *err = cprof_core_read(p->core, t, buf, p->type_size);
	if (err) {
		cprof_error_destroy(err);
		return;
	}
	ty->size = go_get(buf, &p->type_m[TYPE_SIZE]);
	ty->words = go_get(buf, &p->type_m[TYPE_PTRBYTES]) / 8;
	uint64_t tflag = go_get(buf, &p->type_m[TYPE_TFLAG]);
	uint64_t gcdata = go_get(buf, &p->type_m[TYPE_GCDATA]);
	if (p->kind_gcprog && (go_get(buf, &p->type_m[TYPE_KIND]) & p->kind_gcprog)) {
		ty->why = &p->stats.gc_program;
		return;
	}
	if (p->tflag_on_demand && (tflag & p->tflag_on_demand) &&
	    (!read_u64(p->core, gcdata, &gcdata) || !gcdata)) {
		ty->why = &p->stats.mask_not_built;
		return;
	}
	if (!ty->words) {
		ty->known = true;          /* no pointers: nothing to read */
		return;
	}
	if (ty->size % 8 || ty->size < 8 * ty->words || ty->words > (1ull << 32) || !gcdata)
		return;
	size_t n = (size_t)(ty->words + 7) / 8;
	if (n > ty->cap) {
		uint8_t *m = realloc(ty->mask, n);
		if (!m)
			return;
		ty->mask = m;
		ty->cap = n;
	}
	if ((err = cprof_core_read(p->core, gcdata, ty->mask, n))) {
		cprof_error_destroy(err);
		return;
	}
	ty->known = true;
}

static const struct type *type_at(struct cprof_go_ptrmask *p, uint64_t t)
{
	if (p->type.addr != t)
		read_type(p, t);
	if (!p->type.known)
		(*p->type.why)++;
	return &p->type;
}

/* ---- masks ---- */

/* Small scan objects: word i of the object is word (addr - base)/8 + i of
 * the span's bitmap. */
static enum cprof_go_ptrs small_mask(const struct span *s, uint64_t addr,
				     uint64_t words, uint8_t *mask)
{
	uint64_t w0 = (addr - s->base) / 8;
	if (!s->heap_bits_ok || w0 + words > s->n_heap_bits * 8)
		return CPROF_GO_PTRS_UNKNOWN;
	for (uint64_t i = 0; i < words; i++)
		if (cprof_go_mask_bit(s->heap_bits, w0 + i))
			mask[i / 8] |= (uint8_t)(1u << (i % 8));
	return CPROF_GO_PTRS_MASK;
}

/* Typed objects: the type's mask tiles every Size_ bytes from data. */
static enum cprof_go_ptrs typed_mask(const struct type *ty, uint64_t data,
				     uint64_t addr, uint64_t words, uint8_t *mask)
{
	if (!ty->known)
		return CPROF_GO_PTRS_UNKNOWN;
	if (!ty->words)
		return CPROF_GO_PTRS_NONE;
	uint64_t tw = ty->size / 8;
	for (uint64_t i = 0; i < words; i++) {
		uint64_t a = addr + 8 * i;
		if (a < data)
			continue;          /* the header */
		uint64_t k = (a - data) / 8 % tw;
		if (k < ty->words && cprof_go_mask_bit(ty->mask, k))
			mask[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	return CPROF_GO_PTRS_MASK;
}

enum cprof_go_ptrs cprof_go_object_pointers(struct cprof_go_ptrmask *p, uint64_t addr,
					    uint64_t size, uint8_t *mask)
{
	uint64_t words = size / 8;
	const struct span *s = addr & 7 ? NULL : span_of(p, addr);
	if (!s || addr + size > s->end || addr + size < addr) {
		p->stats.no_span++;
		return CPROF_GO_PTRS_UNKNOWN;
	}
	if (s->spanclass & 1)
		return CPROF_GO_PTRS_NONE;
	memset(mask, 0, (size_t)(words + 7) / 8);
	if (s->spanclass >> 1 && s->elemsize <= p->min_header)
		return small_mask(s, addr, words, mask);
	uint64_t t = s->large_type, data = s->base;
	if (s->spanclass >> 1) {
		/* mallocgc's header: the slot's first word is the *abi.Type */
		uint64_t slot = s->base + (addr - s->base) / s->elemsize * s->elemsize;
		data = slot + p->header_size;
		if (!read_u64(p->core, slot, &t))
			t = 0;
	}
	if (!t) {
		/* large: still being zeroed; header: being allocated */
		p->stats.no_type++;
		return CPROF_GO_PTRS_UNKNOWN;
	}
	return typed_mask(type_at(p, t), data, addr, words, mask);
}
