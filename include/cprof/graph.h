/*
 * graph.h - the reference graph: which object points to which.
 *
 * In:  the objects of the heap walk, sorted by address (an object's id is its
 *      index), the roots (cprof/roots.h) and the address space.
 * Out: a graph in compressed sparse rows with 32-bit object ids:
 *        out-edges of object i are edges [row[i], row[i + 1]): dst[e] is the
 *        target's id, src_off[e] the offset of the pointer in object i,
 *        and where it points inside the target: its start, or (rarely) an
 *        offset kept in edge order (interior, interior_off);
 *      and the root references: (root, slot, target, target offset), where
 *      slot is the pointer's address (a register word index for registers).
 *
 * What counts as an edge (conservative scan): an 8-byte-aligned word of a used
 * object or of a root whose value lies inside a used object - its start or its
 * middle.  Free chunks and the allocator's own structures are neither scanned
 * nor targets.  A pointer from an object into itself is not an edge.
 * Objects of an allocator with pointer maps (struct cprof_heap_provider's
 * object_pointers: the Go runtime's) are scanned precisely where it says
 * which of their words are pointers: only those words, or none for
 * pointer-free objects; conservatively where it cannot say.
 *
 * Two threads scan two halves of the objects (by bytes) when no allocator
 * has pointer maps (their handles keep caches and counts) and there are at
 * least 2^18 objects; their edges are joined in id order.
 *
 * Lookup speed: values are mapped to objects through a granule index (one
 * 32-bit entry per 256 bytes of each heap region: the first object that ends
 * after the granule starts), so each word costs O(1) expected and never a
 * binary search over all objects.  Regions (runs of objects closer than
 * 64 MiB) are few and binary-searched.
 */
#ifndef CPROF_GRAPH_H
#define CPROF_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/heap.h"
#include "cprof/progress.h"
#include "cprof/roots.h"

/* Whether an object is a node of the graph: used and not allocator metadata. */
static inline bool cprof_object_is_node(const struct cprof_object *o)
{
	return o->state == CPROF_OBJECT_USED &&
	       !(o->flags & CPROF_OBJECT_ALLOCATOR_INTERNAL);
}

struct cprof_root_ref {
	uint32_t root;             /* index into the roots */
	uint32_t dst;              /* object id */
	uint64_t slot;             /* address of the pointer, or register word index */
	uint64_t dst_off;
};

struct cprof_graph {
	uint32_t n;                /* objects (ids 0 .. n-1) */
	uint64_t *row;             /* n + 1 */
	uint32_t *dst;             /* per edge */
	uint32_t *src_off;         /* per edge; UINT32_MAX when >= 4 GiB */
	/* Where the edges point into their targets, most often the start:
	   bit e of interior is set when edge e does not, and the offsets of
	   those edges are interior_off[], in edge order (UINT32_MAX when
	   >= 4 GiB): a bit an edge rather than 32 bits, with 3% of pointers
	   interior. */
	uint64_t *interior;
	uint32_t *interior_off;
	uint64_t n_interior;
	uint64_t n_edges;
	struct cprof_root_ref *root_refs;
	size_t n_root_refs;
	/* statistics of the scan, for bench/ and the summary */
	uint64_t words_scanned, bytes_unreadable;
	/* writable memory the core declares but does not hold (MADV_DONTDUMP,
	   a shared file mapping left out, a cut core; a module's untouched
	   .bss not counted): a chunk only it points to looks leaked */
	uint64_t bytes_not_in_core;
	/* Objects of allocators with pointer maps only, by how they were
	   scanned: precise = only the words the map sets; noscan = not at
	   all, the allocator says they hold no pointers; conservative = every
	   word, its metadata was missing (Go: an object being allocated, a GC
	   program, an unbuilt mask, no layouts). */
	uint64_t objects_precise, objects_noscan, objects_conservative;
	double t_scan;
};

/*
 * For a breadth-first search over g whose queue holds the nodes in the order
 * they were found (random ones): asks for the rows of the nodes some places
 * ahead of head, for the edges of those nearer, and for the targets' entries
 * of mark (elements of size bytes, by node) of the nearest, so that the
 * misses overlap instead of following one another.
 */
static inline void cprof_graph_prefetch(const struct cprof_graph *g, const uint32_t *queue,
					size_t head, size_t tail, const void *mark, size_t size)
{
	enum { ROW_AHEAD = 12, EDGES_AHEAD = 8, MARK_AHEAD = 4 };
	if (head + ROW_AHEAD < tail)
		__builtin_prefetch(&g->row[queue[head + ROW_AHEAD]]);
	if (head + EDGES_AHEAD < tail)
		__builtin_prefetch(&g->dst[g->row[queue[head + EDGES_AHEAD]]]);
	if (head + MARK_AHEAD < tail) {
		uint32_t v = queue[head + MARK_AHEAD];
		for (uint64_t e = g->row[v]; e < g->row[v + 1] && e < g->row[v] + 4; e++)
			__builtin_prefetch((const char *)mark + g->dst[e] * size);
	}
}

/* Whether edge e points into the middle of its target. */
static inline bool cprof_graph_interior(const struct cprof_graph *g, uint64_t e)
{
	return g->interior[e >> 6] >> (e & 63) & 1;
}

/* The object containing addr (a node), or -1.  For tests and queries. */
struct cprof_object_index;
struct cprof_error *cprof_object_index_build(const struct cprof_object *objs,
					     size_t n,
					     struct cprof_object_index **ret);
int64_t cprof_object_index_find(const struct cprof_object_index *ix,
				uint64_t addr);
/* Every node lies in [*min, *max): a value outside is no pointer to one. */
void cprof_object_index_bounds(const struct cprof_object_index *ix, uint64_t *min,
			       uint64_t *max);
void cprof_object_index_destroy(struct cprof_object_index *ix);

/**
 * Scans every node and every root for pointers.  objs must be sorted by
 * address and not overlap (see cprof_objects_sort).  walk (may be NULL: all
 * conservative) is the heap walk objs came from: its heaps say which
 * allocator each object is of, and those with pointer maps how to scan it.
 */
struct cprof_error *cprof_graph_build(struct cprof_core *core,
				      const struct cprof_heap_walk *walk,
				      const struct cprof_object *objs, size_t n,
				      const struct cprof_roots *roots,
				      struct cprof_progress *progress,
				      struct cprof_graph *ret);
void cprof_graph_deinit(struct cprof_graph *g);

/*
 * The graph reversed: the objects pointing into v are src[k] for k from
 * cprof_reverse_row(r, v) to cprof_reverse_row(r, v + 1), in increasing
 * order, once per pointer.  A counting sort of the edges by target: 4 bytes
 * an object (8 with 2^32 pointers or more) and 4 a pointer.  For the searches
 * back to the roots and the index of references by target.
 */
struct cprof_graph_reverse {
	uint32_t *row;             /* n + 1, fewer than 2^32 edges */
	uint64_t *row64;           /* n + 1, else */
	uint32_t *src;             /* per edge */
};

static inline uint64_t cprof_reverse_row(const struct cprof_graph_reverse *r, uint32_t v)
{
	return r->row ? r->row[v] : r->row64[v];
}

struct cprof_error *cprof_graph_reverse(const struct cprof_graph *g,
					struct cprof_graph_reverse *ret);
void cprof_graph_reverse_deinit(struct cprof_graph_reverse *r);

/* Frees the edges once nothing needs them: n, n_edges, root_refs and the
 * statistics stay. */
void cprof_graph_drop_edges(struct cprof_graph *g);

/* The first of objs[lo .. hi) (sorted by address) that starts at or after
 * addr, or hi. */
size_t cprof_objects_first_at(const struct cprof_object *objs, size_t lo, size_t hi,
			      uint64_t addr);

/* Sorts the walk's objects by address; warns about and drops overlaps. */
struct cprof_error *cprof_objects_sort(struct cprof_core *core,
				       struct cprof_object *objs, size_t *n);

#endif
