/*
 * index.c - from an address to the object that contains it, in O(1) expected.
 *
 * The nodes (used objects, sorted by address) are grouped into regions: runs
 * in which no gap exceeds 64 MiB.  Each region has a granule table, one
 * 32-bit entry per 256 bytes: the id of the first node that overlaps the
 * granule, or NONE.  A lookup finds the region (binary search over a handful),
 * reads the granule's entry and steps forward over at most the objects that
 * start in that granule (8 at most for glibc, whose chunks are >= 32 bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/bigmem.h"
#include "cprof/graph.h"

enum { GRANULE_SHIFT = 8 };
static const uint64_t REGION_GAP = 64ull << 20;
static const uint32_t NONE = UINT32_MAX;

struct region {
	uint64_t lo, hi;           /* [lo, hi), lo granule-aligned */
	uint32_t *gran;
};

struct cprof_object_index {
	const struct cprof_object *objs;
	size_t n;
	struct region *regions;
	size_t n_regions;
	uint64_t min, max;         /* every node lies in [min, max) */
};

void cprof_object_index_destroy(struct cprof_object_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n_regions; i++)
		free(ix->regions[i].gran);
	free(ix->regions);
	free(ix);
}

/* Fills region r's table from the nodes with ids [first, last). */
static struct cprof_error *fill_region(struct cprof_object_index *ix,
				       struct region *r, size_t first,
				       size_t last)
{
	uint64_t n_gran = ((r->hi - r->lo) >> GRANULE_SHIFT) + 1;
	r->gran = malloc(n_gran * sizeof(*r->gran));
	cprof_huge(r->gran, n_gran * sizeof(*r->gran));
	if (!r->gran)
		return &cprof_enomem;
	memset(r->gran, 0xff, n_gran * sizeof(*r->gran));
	for (size_t i = first; i < last; i++) {
		const struct cprof_object *o = &ix->objs[i];
		if (!cprof_object_is_node(o) || !o->size)
			continue;
		uint64_t g0 = (o->addr - r->lo) >> GRANULE_SHIFT;
		uint64_t g1 = (o->addr + o->size - 1 - r->lo) >> GRANULE_SHIFT;
		for (uint64_t g = g0; g <= g1; g++)
			if (r->gran[g] == NONE)
				r->gran[g] = (uint32_t)i;
	}
	return NULL;
}

struct cprof_error *cprof_object_index_build(const struct cprof_object *objs,
					     size_t n,
					     struct cprof_object_index **ret)
{
	struct cprof_error *err = NULL;
	struct cprof_object_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return &cprof_enomem;
	ix->objs = objs;
	ix->n = n;
	ix->min = UINT64_MAX;
	size_t cap = 0, first = 0;
	uint64_t prev_end = 0;
	bool open = false;
	for (size_t i = 0; i <= n && !err; i++) {
		const struct cprof_object *o = i < n ? &objs[i] : NULL;
		if (o && (!cprof_object_is_node(o) || !o->size))
			continue;
		/* Close the open region at a big gap, and at the end. */
		if (open && (!o || o->addr - prev_end > REGION_GAP)) {
			struct region *r = &ix->regions[ix->n_regions - 1];
			r->hi = prev_end;
			err = fill_region(ix, r, first, i);
			open = false;
		}
		if (!o || err)
			continue;
		if (!open) {
			if (ix->n_regions == cap) {
				cap = cap ? 2 * cap : 16;
				struct region *a = realloc(ix->regions, cap * sizeof(*a));
				if (!a) {
					err = &cprof_enomem;
					continue;
				}
				ix->regions = a;
			}
			struct region *r = &ix->regions[ix->n_regions++];
			memset(r, 0, sizeof(*r));
			r->lo = o->addr & ~((1ull << GRANULE_SHIFT) - 1);
			first = i;
			open = true;
		}
		if (o->addr < ix->min)
			ix->min = o->addr;
		if (o->addr + o->size > ix->max)
			ix->max = o->addr + o->size;
		if (o->addr + o->size > prev_end)
			prev_end = o->addr + o->size;
	}
	if (err) {
		cprof_object_index_destroy(ix);
		return err;
	}
	*ret = ix;
	return NULL;
}

void cprof_object_index_bounds(const struct cprof_object_index *ix, uint64_t *min,
			       uint64_t *max)
{
	*min = ix->min;
	*max = ix->max;
}

int64_t cprof_object_index_find(const struct cprof_object_index *ix,
				uint64_t addr)
{
	if (addr < ix->min || addr >= ix->max)
		return -1;
	size_t lo = 0, hi = ix->n_regions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct region *r = &ix->regions[mid];
		if (addr < r->lo)
			hi = mid;
		else if (addr >= r->hi)
			lo = mid + 1;
		else {
			uint32_t i = r->gran[(addr - r->lo) >> GRANULE_SHIFT];
			if (i == NONE)
				return -1;
			for (; i < ix->n && ix->objs[i].addr <= addr; i++) {
				const struct cprof_object *o = &ix->objs[i];
				if (addr < o->addr + o->size && cprof_object_is_node(o))
					return i;
			}
			return -1;
		}
	}
	return -1;
}
