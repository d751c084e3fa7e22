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
	const struct go_layout *l;         /* the runtime's */
	/* caches */
	uint64_t arena_index, arena;       /* the last heapArena looked up */
	struct span span;
	struct type type;
	struct cprof_go_ptrmask_stats stats;
};

static struct cprof_error *missing(const struct cprof_module *m, const char *what)
{
	return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
				  "%s: %s is not in the Go runtime's DWARF: Go heap objects are scanned conservatively",
				  m->name, what);
}

struct cprof_error *cprof_go_ptrmask_open(struct cprof_core *core,
					  const struct cprof_go_runtime *rt,
					  struct cprof_go_ptrmask **ret)
{
	*ret = NULL;
	struct cprof_go_ptrmask *p = calloc(1, sizeof(*p));
	if (!p)
		return &cprof_enomem;
	const struct go_layout *l = &rt->priv->l;
	const char *what = l->heap_missing ? l->heap_missing : l->arenas_missing ?
			   l->arenas_missing : l->type_missing;
	if (what || l->span_size > 4096) {
		free(p);
		return missing(rt->module, what ? what : "runtime.mspan (too big)");
	}
	p->core = core;
	p->mheap = rt->mheap;
	p->l = l;
	p->arena_index = UINT64_MAX;
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
	return cprof_core_try_read(core, addr, v, 8);
}

/* The heapArena holding addr (0 when none), as mheap.go arenaIndex/spanOf. */
static uint64_t arena_of(struct cprof_go_ptrmask *p, uint64_t addr)
{
	const struct go_layout *l = p->l;
	uint64_t ri = (addr - l->arena_base_offset) / l->arena_bytes;
	if (ri == p->arena_index)
		return p->arena;
	uint64_t l1 = l->l1_bits ? ri >> l->l2_bits : 0;
	uint64_t l2 = ri & ((1ull << l->l2_bits) - 1);
	uint64_t l2map = 0, ha = 0;
	if (l1 >> l->l1_bits ||
	    !read_u64(p->core, p->mheap + (uint64_t)l->h_arenas + 8 * l1, &l2map) || !l2map ||
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
	if (p->l->inline_size && s->elemsize >= 16)
		at -= p->l->inline_size;   /* gcUsesSpanInlineMarkBits */
	s->heap_bits_ok = false;
	if (n > s->n_heap_bits) {
		uint8_t *b = realloc(s->heap_bits, n);
		if (!b)
			return;
		s->heap_bits = b;
	}
	s->n_heap_bits = n;
	s->heap_bits_ok = cprof_core_try_read(p->core, at, s->heap_bits, n);
}

static bool read_span(struct cprof_go_ptrmask *p, uint64_t ms, struct span *s)
{
	uint8_t buf[4096];
	const struct go_layout *l = p->l;
	if (!cprof_core_try_read(p->core, ms, buf, l->span_size))
		return false;
	s->addr = ms;
	s->base = go_get(buf, &l->span[SPAN_START]);
	s->end = s->base + go_get(buf, &l->span[SPAN_NPAGES]) * (uint64_t)l->page_size;
	s->spanclass = (uint8_t)go_get(buf, &l->span[SPAN_CLASS]);
	s->elemsize = go_get(buf, &l->span[SPAN_ELEMSIZE]);
	s->large_type = go_get(buf, &l->span[SPAN_LARGETYPE]);
	s->heap_bits_ok = false;
	bool small_scan = !(s->spanclass & 1) && s->spanclass >> 1 &&
			  s->elemsize <= l->min_header;
	/* a small span holds a few pages: one whose npages (damaged) says
	   more than an arena would size its heap bits by it */
	if (small_scan && s->end > s->base && s->end - s->base <= l->arena_bytes)
		read_heap_bits(p, s);
	return s->end > s->base && s->elemsize;
}

/* The span holding addr, or NULL. */
static const struct span *span_of(struct cprof_go_ptrmask *p, uint64_t addr)
{
	struct span *s = &p->span;
	if (s->addr && addr >= s->base && addr < s->end)
		return s;
	const struct go_layout *l = p->l;
	uint64_t ha = arena_of(p, addr), ms = 0;
	uint64_t page = (addr / (uint64_t)l->page_size) % l->pages_per_arena;
	if (!ha || !read_u64(p->core, ha + (uint64_t)l->ha_spans + 8 * page, &ms) || !ms)
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
	const struct go_layout *l = p->l;
	struct type *ty = &p->type;
	uint8_t buf[4096];
	ty->addr = t;
	ty->known = false;
	ty->why = &p->stats.bad_type;
	struct cprof_error *err = cprof_core_read(p->core, t, buf, l->type_size);
	if (err) {
		cprof_error_destroy(err);
		return;
	}
	ty->size = go_get(buf, &l->type[TYPE_SIZE]);
	ty->words = go_get(buf, &l->type[TYPE_PTRBYTES]) / 8;
	uint64_t tflag = go_get(buf, &l->type[TYPE_TFLAG]);
	uint64_t gcdata = go_get(buf, &l->type[TYPE_GCDATA]);
	if (l->kind_gcprog && (go_get(buf, &l->type[TYPE_KIND]) & (uint64_t)l->kind_gcprog)) {
		ty->why = &p->stats.gc_program;
		return;
	}
	if (l->tflag_on_demand && (tflag & (uint64_t)l->tflag_on_demand) &&
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
	if (!cprof_core_try_read(p->core, gcdata, ty->mask, n))
		return;
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
	if (s->spanclass >> 1 && s->elemsize <= p->l->min_header)
		return small_mask(s, addr, words, mask);
	uint64_t t = s->large_type, data = s->base;
	if (s->spanclass >> 1) {
		/* mallocgc's header: the slot's first word is the *abi.Type */
		uint64_t slot = s->base + (addr - s->base) / s->elemsize * s->elemsize;
		data = slot + p->l->header_size;
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
