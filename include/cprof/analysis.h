/*
 * analysis.h - what the graph says: reachability and leaks.
 *
 * In:  the objects (sorted by address, ids = indexes) and the graph
 *      (cprof/graph.h).
 * Out: per object, whether a root reaches it, whether only through pointers
 *      into the middle of some object on every path (valgrind's "possibly
 *      lost"), and its leak class; per leak root, what it holds.
 *
 * Semantics (docs/leaks.md):
 *   reachable   a node some root reaches through any pointers, start or
 *               interior (LeakSanitizer's rule);
 *   interior_only  reachable, but not through start pointers alone (never
 *               for an object of a collected heap: a garbage collector
 *               follows interior pointers, so for Go they are ordinary);
 *   leaked      a node no root reaches.  The leaked subgraph is cut into
 *               strongly connected components; each component that no other
 *               leaked component points to has one leak root (`direct`: its
 *               lowest-addressed chunk), every other leaked node is
 *               `indirect` - valgrind's "definitely" and "indirectly lost",
 *               with its clique-leader rule for cycles.
 *   holds       a leak root and everything reachable from it among the leaked
 *               nodes: count and bytes.
 *   garbage     an unreachable object of a garbage-collected heap (its
 *               allocator marks it CPROF_OBJECT_COLLECTED: Go's): the
 *               collector frees it at its next cycle; never a leak.
 */
#ifndef CPROF_ANALYSIS_H
#define CPROF_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/graph.h"
#include "cprof/heap.h"
#include "cprof/roots.h"

enum cprof_leak_class {
	CPROF_LEAK_NONE = 0,
	CPROF_LEAK_DIRECT = 1,
	CPROF_LEAK_INDIRECT = 2,
};

struct cprof_leak_root {
	uint32_t id;
	uint64_t holds_count, holds_bytes;
};

struct cprof_count {
	uint64_t count, bytes;
};

struct cprof_leaks {
	uint8_t *flags;            /* per object: enum cprof_leak_flags */
	struct cprof_leak_root *roots;     /* biggest holds_bytes first */
	size_t n_roots;
	struct cprof_count direct, indirect, reachable, interior_only;
	struct cprof_count garbage;        /* unreachable objects of a collected heap */
	double t_leaks;
};

enum cprof_leak_flags {
	CPROF_REACHABLE = 1 << 0,
	CPROF_INTERIOR_ONLY = 1 << 1,
	CPROF_DIRECT = 1 << 2,
	CPROF_INDIRECT = 1 << 3,
	CPROF_GARBAGE = 1 << 4,    /* unreachable, in a garbage-collected heap:
				      the next collection frees it; not a leak */
};

/* A graph in compressed sparse rows: out-edges of v are dst[row[v] .. row[v+1]). */
struct cprof_csr {
	uint32_t n;
	const uint64_t *row;
	const uint32_t *dst;
	/* When set, cprof_dominators frees row and dst (and sets them NULL) as
	   soon as the predecessor lists exist: the successors are no longer
	   needed, and a graph of 10^7 nodes saves 4 bytes an edge. */
	bool owned;
};

/**
 * Immediate dominators from root by SEMI-NCA: idom[v] for every node
 * (UINT32_MAX when root does not reach v; idom[root] == root).  When order
 * is not NULL it receives the reachable nodes in DFS preorder (a node comes
 * after its idom), *n_order their count.
 */
struct cprof_error *cprof_dominators(struct cprof_csr *g, uint32_t root,
				     uint32_t *idom, uint32_t *order,
				     uint32_t *n_order);
/* The same for the g->n nodes of g and ext->n more (NULL: none), numbered
 * after them, with rows of their own (ext's row and dst: node g->n + k's
 * out-edges are ext->dst[ext->row[k] .. ext->row[k + 1])) - so that the
 * heap's graph gets its root nodes without being copied; idom and the
 * preorder are allocated here (*idom_ret: g->n + ext->n entries;
 * *order_ret: *n_order) once the working arrays are gone: 24 bytes a node
 * and 4 an edge at most besides them (*working_bytes_ret, may be NULL: their
 * size at the most). */
struct cprof_error *cprof_dominators_alloc(struct cprof_csr *g, const struct cprof_csr *ext,
					   uint32_t root, uint32_t **idom_ret,
					   uint32_t **order_ret, uint32_t *n_order,
					   uint64_t *working_bytes_ret);
/* The same by the iterative algorithm of Cooper, Harvey and Kennedy: slower,
 * independent, for the tests (no ext nodes). */
struct cprof_error *cprof_dominators_iterative(const struct cprof_csr *g,
					       uint32_t root, uint32_t *idom);

struct cprof_error *cprof_leaks_compute(const struct cprof_object *objs,
					const struct cprof_graph *g,
					struct cprof_leaks *ret);
void cprof_leaks_deinit(struct cprof_leaks *l);

/* ---- retention: dominators, retained sizes, retaining roots, paths ---- */

enum cprof_root_node_kind {
	CPROF_RN_SUPER,            /* above everything */
	CPROF_RN_LEAKED,           /* above every leak root */
	CPROF_RN_THREAD,
	CPROF_RN_FRAME,
	CPROF_RN_REGISTERS,
	CPROF_RN_TLS,
	CPROF_RN_MODULE,
	CPROF_RN_GLOBAL,           /* one variable (symbol) of a module */
	CPROF_RN_MAPPING,
	CPROF_RN_RUNTIME,          /* above an allocator's own roots, at the place
				      its root_levels say (Go: a goroutine group,
				      a goroutine, its frame; a finalizer) */
};
const char *cprof_root_node_kind_name(enum cprof_root_node_kind k);

/* The kind a user reads: "thread", or the allocator's word ("goroutine"). */
struct cprof_root_node;
const char *cprof_root_node_kind_label(const struct cprof_root_node *nd);

/* A root node: the hierarchy above the objects (node 0 is the super-root,
 * node 1 the leaked root). */
struct cprof_root_node {
	enum cprof_root_node_kind kind;
	uint32_t parent;           /* node index; UINT32_MAX for the super-root */
	int thread, module;        /* indexes into the core, or -1 */
	/* RUNTIME nodes: the allocator (index into the walk's), the level and
	   key its root_levels gave, and its word for the kind ("goroutine") */
	int owner, level;
	uint64_t key;
	const char *kind_name;
	char name[256];
	uint64_t retained_bytes, retained_count;
};

struct cprof_retention {
	struct cprof_root_node *nodes;
	size_t n_nodes;
	/* per object (UINT32_MAX: none) */
	uint32_t *idom;            /* immediate dominator when it is an object */
	uint32_t *retaining;       /* the retaining root node; none = shared */
	uint64_t *retained_bytes;  /* per object, then per node (n + node) */
	uint32_t *retained_count;  /* likewise (a node's total is in nodes[]) */
	uint32_t *distance;        /* root distance: 1 = a root points to it */
	/* the step before on a shortest path: at distance 1 the root_ref used,
	   further the previous object (cprof_path_parent, cprof_path_root_ref) */
	uint32_t *path;
	double t_retention;
	uint64_t dominators_bytes;         /* the dominators' working arrays at the most */
};

/* The previous object on object v's shortest path; UINT32_MAX at distance 1
 * or none. */
static inline uint32_t cprof_path_parent(const struct cprof_retention *rt, uint32_t v)
{
	return rt->distance[v] != UINT32_MAX && rt->distance[v] > 1 ? rt->path[v] : UINT32_MAX;
}

/* The root_ref pointing to v when it is at distance 1, else UINT32_MAX. */
static inline uint32_t cprof_path_root_ref(const struct cprof_retention *rt, uint32_t v)
{
	return rt->distance[v] == 1 ? rt->path[v] : UINT32_MAX;
}

/**
 * The dominator tree over the objects and the root nodes (SEMI-NCA), the
 * retained bytes and count of every object and root node, each object's
 * retaining root, and shortest paths from the roots (BFS).
 */
struct cprof_error *cprof_retention_compute(struct cprof_core *core,
					    const struct cprof_object *objs,
					    const struct cprof_roots *roots,
					    const struct cprof_graph *g,
					    const struct cprof_leaks *leaks,
					    struct cprof_retention *ret);
void cprof_retention_deinit(struct cprof_retention *rt);

#endif
