/*
 * heap.c - the table of heap walkers and what they share (see
 * include/cprof/heap.h).  To add an allocator: write src/heap/<name>.c that
 * defines a struct cprof_heap_walker, and add it to cprof_heap_walkers[].
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/goruntime.h"
#include "cprof/heap.h"

extern const struct cprof_heap_walker cprof_glibc_walker;
extern const struct cprof_heap_walker cprof_go_walker;

const struct cprof_heap_walker *const cprof_heap_walkers[] = {
	&cprof_glibc_walker,
	&cprof_go_walker,
	NULL,
};

const char *cprof_free_list_name(enum cprof_free_list l)
{
	switch (l) {
	case CPROF_FREE_NONE: return NULL;
	case CPROF_FREE_TCACHE: return "tcache";
	case CPROF_FREE_FASTBIN: return "fastbin";
	case CPROF_FREE_UNSORTED: return "unsorted";
	case CPROF_FREE_SMALLBIN: return "smallbin";
	case CPROF_FREE_LARGEBIN: return "largebin";
	case CPROF_FREE_TOP: return "top";
	case CPROF_FREE_OTHER: return "other";
	}
	return "?";
}

struct cprof_error *cprof_heap_add(struct cprof_heap_walk *walk,
				   const struct cprof_heap *heap, uint32_t *ret)
{
	if (walk->n_heaps == walk->cap_heaps) {
		size_t cap = walk->cap_heaps ? 2 * walk->cap_heaps : 16;
		struct cprof_heap *h = realloc(walk->heaps, cap * sizeof(*h));
		if (!h)
			return &cprof_enomem;
		walk->heaps = h;
		walk->cap_heaps = cap;
	}
	walk->heaps[walk->n_heaps] = *heap;
	*ret = (uint32_t)walk->n_heaps++;
	return NULL;
}

struct cprof_error *cprof_heap_exclude(struct cprof_heap_walk *walk,
				       uint64_t start, uint64_t end)
{
	struct cprof_range *r = realloc(walk->excluded,
					(walk->n_excluded + 1) * sizeof(*r));
	if (!r)
		return &cprof_enomem;
	walk->excluded = r;
	r[walk->n_excluded].start = start;
	r[walk->n_excluded].end = end;
	walk->n_excluded++;
	return NULL;
}

struct cprof_error *cprof_heap_add_summary(struct cprof_heap_walk *walk,
					   const struct cprof_allocator_summary *s)
{
	struct cprof_allocator_summary *a = realloc(
		walk->allocators, (walk->n_allocators + 1) * sizeof(*a));
	if (!a)
		return &cprof_enomem;
	walk->allocators = a;
	walk->allocators[walk->n_allocators++] = *s;
	return NULL;
}

struct cprof_error *cprof_heap_walk_all(struct cprof_core *core,
					struct cprof_heap_walk *walk,
					cprof_object_fn *fn, void *arg)
{
	for (size_t i = 0; cprof_heap_walkers[i]; i++) {
		bool found = false;
		struct cprof_error *err = cprof_heap_walkers[i]->walk(core, walk, fn,
								     arg, &found);
		if (err)
			return err;
	}
	return NULL;
}

void cprof_heap_walk_deinit(struct cprof_heap_walk *walk)
{
	for (size_t i = 0; i < walk->n_allocators; i++)
		free(walk->allocators[i].arenas);
	free(walk->allocators);
	free(walk->heaps);
	free(walk->excluded);
	cprof_go_runtime_destroy(walk->go);
	memset(walk, 0, sizeof(*walk));
}
