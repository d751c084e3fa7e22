/*
 * dominators.c - immediate dominators of a graph in compressed sparse rows.
 *
 * SEMI-NCA (Georgiadis, Tarjan, Werneck, "Finding dominators in practice"):
 *   1. an iterative depth-first search from the root numbers the reachable
 *      nodes in preorder and records each one's DFS parent;
 *   2. predecessors are gathered (in preorder numbers) by a counting sort of
 *      the edges - the successor rows are not needed after this;
 *   3. semidominators, in reverse preorder, with the path-compressing eval of
 *      Lengauer-Tarjan (iterative: a leaked list of 10^7 nodes is a path);
 *   4. each idom is the nearest common ancestor, in the tree built so far,
 *      of the DFS parent and the semidominator: walk up from the parent while
 *      the candidate's number exceeds the semidominator's.
 * Memory: 6 x 4 bytes per node for the arrays (vertex, parent, semi,
 * label, anc, and pre, which becomes the eval path), 8 more for the
 * predecessor row offsets and 4 per edge for the predecessors; the DFS stack
 * (16 bytes a node at most) is gone before those exist, an owned successor
 * list is freed as soon as the predecessors are built, and dom and idom take
 * over label and semi.  The root nodes of the heap's graph come as rows of
 * their own (cprof_dominators_alloc's ext): the heap's graph is not copied.
 *
 * Speed (bench/bigheap, 10^6 and 10^7 objects, counted and timed per phase):
 * the work per node is the same at both sizes - one visit per edge in the
 * DFS and the predecessors, 0.85 NCA steps a node - but eval's compression
 * steps grow from 5.48 to 6.36 a call: the O(log n) of path compression
 * without balanced linking, +16%, small beside its price (two more arrays).
 * The rest of the growth (DFS 200 -> 279 ns a node, predecessors 40 -> 96,
 * semidominators 70 -> 164) is the cost of random accesses once the arrays
 * outgrow the caches and the TLB's reach: huge pages (cprof/bigmem.h) took
 * the phase from 6.5 s to 5.5 s at 10^7.
 *
 * The iterative algorithm of Cooper, Harvey and Kennedy is here too, as the
 * independent second opinion the tests compare against on large graphs.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/analysis.h"
#include "cprof/bigmem.h"

static const uint32_t NONE = UINT32_MAX;

/* A graph and the nodes numbered after its own (cprof_dominators_alloc). */
struct view {
	const struct cprof_csr *g, *ext;
};

/* Node v's out-edges: *deg of them. */
static inline const uint32_t *out_edges(const struct view *x, uint32_t v, uint64_t *deg)
{
	const struct cprof_csr *g = x->g;
	if (v >= g->n) {
		g = x->ext;
		v -= x->g->n;
	}
	*deg = g->row[v + 1] - g->row[v];
	return g->dst + g->row[v];
}

static uint32_t n_nodes(const struct view *x)
{
	return x->g->n + (x->ext ? x->ext->n : 0);
}

/* The CSR's invariants (ours, whatever the core held): rows monotonic from
 * 0, every target a node below n_nodes.  O(n + edges), only with assertions
 * on. */
static void assert_csr(const struct cprof_csr *g, uint32_t n_nodes)
{
#ifndef NDEBUG
	assert(g->row[0] == 0);
	for (uint32_t v = 0; v < g->n; v++) {
		assert(g->row[v] <= g->row[v + 1]);
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++)
			assert(g->dst[e] < n_nodes);
	}
#else
	(void)g;
	(void)n_nodes;
#endif
}

/* Preorder from root: pre[v] (NONE when unreachable), vertex[i], parent[i]
 * (in preorder numbers).  Returns the number of reachable nodes. */
static struct cprof_error *dfs(const struct view *g, uint32_t root,
			       uint32_t *pre, uint32_t *vertex, uint32_t *parent,
			       uint32_t *n_ret)
{
	uint32_t N = n_nodes(g);
	struct frame { uint32_t v; uint64_t pos; } *stack =
		malloc((N ? N : 1) * sizeof(*stack));
	if (!stack)
		return &cprof_enomem;
	memset(pre, 0xff, N * sizeof(*pre));
	uint32_t n = 0;
	size_t depth = 0;
	pre[root] = n;
	vertex[n] = root;
	parent[n] = NONE;
	n++;
	stack[depth++] = (struct frame){ root, 0 };
	while (depth) {
		struct frame *f = &stack[depth - 1];
		uint64_t deg;
		const uint32_t *d = out_edges(g, f->v, &deg);
		if (f->pos == deg) {
			depth--;
			continue;
		}
		if (!f->pos) {
			/* First visit: the targets' preorder entries and rows,
			   asked for together (random accesses whose misses would
			   otherwise come one after the other). */
			for (uint64_t k = 0; k < deg && k < 8; k++) {
				__builtin_prefetch(&pre[d[k]]);
				if (d[k] < g->g->n)
					__builtin_prefetch(&g->g->row[d[k]]);
			}
		}
		uint32_t w = d[f->pos++];
		if (pre[w] != NONE)
			continue;
		pre[w] = n;
		vertex[n] = w;
		parent[n] = pre[f->v];
		n++;
		stack[depth++] = (struct frame){ w, 0 };
	}
	free(stack);
	*n_ret = n;
	return NULL;
}

/* Predecessor rows, in preorder numbers, of the reachable nodes: those of
 * node number i are pred[prow[i] .. prow[i + 1]), in node id order. */
static struct cprof_error *predecessors(const struct view *g,
					const uint32_t *pre, uint32_t n,
					uint64_t **prow_ret, uint32_t **pred_ret)
{
	/* Shifted by one while filled: prow[i + 1] is where i's next one goes,
	   and ends as i's end, which is i + 1's start.  No second array. */
	uint64_t *prow = calloc((size_t)n + 2, sizeof(*prow));
	if (!prow)
		return &cprof_enomem;
	cprof_huge(prow, ((size_t)n + 2) * sizeof(*prow));
	uint32_t N = n_nodes(g);
	for (uint32_t v = 0; v < N; v++) {
		if (pre[v] == NONE)
			continue;
		uint64_t deg;
		const uint32_t *d = out_edges(g, v, &deg);
		for (uint64_t k = 0; k < deg; k++)
			if (pre[d[k]] != NONE)
				prow[pre[d[k]] + 2]++;
	}
	for (uint32_t i = 2; i <= n + 1 && n; i++)
		prow[i] += prow[i - 1];
	uint32_t *pred = malloc((prow[n + 1] ? prow[n + 1] : 1) * sizeof(*pred));
	if (!pred) {
		free(prow);
		return &cprof_enomem;
	}
	cprof_huge(pred, prow[n + 1] * sizeof(*pred));
	for (uint32_t v = 0; v < N; v++) {
		if (pre[v] == NONE)
			continue;
		uint64_t deg;
		const uint32_t *d = out_edges(g, v, &deg);
		for (uint64_t k = 0; k < deg; k++)
			if (pre[d[k]] != NONE)
				pred[prow[pre[d[k]] + 1]++] = pre[v];
	}
	*prow_ret = prow;
	*pred_ret = pred;
	return NULL;
}

/*
 * eval(v) of Lengauer-Tarjan with path compression, for the semidominator
 * step at node i: nodes numbered > i are linked to their DFS parents (anc).
 * The path up is collected on `path`, then compressed from the top down.
 */
static uint32_t eval(uint32_t v, uint32_t i, uint32_t *anc, uint32_t *label,
		     const uint32_t *semi, uint32_t *path)
{
	if (v <= i)
		return v;
	size_t n = 0;
	uint32_t x = v;
	while (anc[x] > i) {
		path[n++] = x;
		x = anc[x];
	}
	/* Compress from the top of the path down, as the recursive COMPRESS
	   of Lengauer-Tarjan does on its way back. */
	while (n-- > 0) {
		uint32_t y = path[n], a = anc[y];
		if (semi[label[a]] < semi[label[y]])
			label[y] = label[a];
		anc[y] = anc[a];
	}
	return label[v];
}

/*
 * Memory, per reachable node: vertex, parent, semi, label, anc and the eval
 * path (which takes over pre, no longer needed once the predecessors are in
 * preorder numbers), 8 for their rows, 4 per edge; the DFS stack (16) is gone
 * before them.  dom takes over label, and idom semi (allocated for every
 * node for that), so nothing is allocated once the working set is.
 */
struct cprof_error *cprof_dominators_alloc(struct cprof_csr *g, const struct cprof_csr *ext,
					   uint32_t root, uint32_t **idom_ret,
					   uint32_t **order_ret, uint32_t *n_order,
					   uint64_t *working_bytes_ret)
{
	struct cprof_error *err;
	struct view x = { g, ext };
	uint32_t N = n_nodes(&x), n = 0;
	uint32_t *pre = malloc((N ? N : 1) * sizeof(*pre));
	uint32_t *vertex = malloc((N ? N : 1) * sizeof(*vertex));
	uint32_t *parent = malloc((N ? N : 1) * sizeof(*parent));
	uint32_t *semi = NULL, *label = NULL, *anc = NULL, *pred = NULL;
	uint64_t *prow = NULL;
	if (!pre || !vertex || !parent) {
		err = &cprof_enomem;
		goto out;
	}
	assert(root < N);
	assert_csr(g, N);
	if (ext)
		assert_csr(ext, N);
	cprof_huge(pre, N * sizeof(*pre));
	cprof_huge(vertex, N * sizeof(*vertex));
	cprof_huge(parent, N * sizeof(*parent));
	if ((err = dfs(&x, root, pre, vertex, parent, &n)) ||
	    (err = predecessors(&x, pre, n, &prow, &pred)))
		goto out;
	if (g->owned) {
		free((void *)g->row);
		free((void *)g->dst);
		g->row = NULL;
		g->dst = NULL;
	}
	uint32_t *path = pre;
	pre = NULL;
	semi = malloc((N ? N : 1) * sizeof(*semi));
	label = malloc(n * sizeof(*label));
	anc = malloc(n * sizeof(*anc));
	if (!semi || !label || !anc) {
		free(path);
		err = &cprof_enomem;
		goto out;
	}
	cprof_huge(semi, N * sizeof(*semi));
	cprof_huge(label, n * sizeof(*label));
	cprof_huge(anc, n * sizeof(*anc));
	if (working_bytes_ret)
		*working_bytes_ret = 4 * (4 * (uint64_t)N + 2 * (uint64_t)n) +
				     8 * ((uint64_t)n + 2) + 4 * prow[n];
	for (uint32_t i = 0; i < n; i++) {
		semi[i] = label[i] = i;
		anc[i] = parent[i];
	}
	anc[0] = 0;     /* the root is never linked: eval stops below it */
	for (uint32_t i = n - 1; i >= 1; i--) {
		for (uint64_t e = prow[i]; e < prow[i + 1]; e++) {
			uint32_t u = eval(pred[e], i, anc, label, semi, path);
			if (semi[u] < semi[i])
				semi[i] = semi[u];
		}
	}
	free(path);
	free(prow);
	free(pred);
	free(anc);
	prow = NULL;
	pred = NULL;
	anc = NULL;
	/* NCA: walk up from the DFS parent while the candidate's number
	   exceeds the semidominator's. */
	uint32_t *dom = label;
	label = NULL;
	dom[0] = 0;
	for (uint32_t i = 1; i < n; i++) {
		uint32_t d = parent[i];
		while (d > semi[i])
			d = dom[d];
		dom[i] = d;
	}
	uint32_t *idom = semi;
	semi = NULL;
	for (uint32_t v = 0; v < N; v++)
		idom[v] = NONE;
	for (uint32_t i = 1; i < n; i++)
		idom[vertex[i]] = vertex[dom[i]];
	idom[root] = root;
	/* the tree's invariants: the root dominates itself, every other
	   dominator is a vertex reached before the one it dominates */
	assert(n == 0 || vertex[0] == root);
	for (uint32_t i = 1; i < n; i++)
		assert(dom[i] < i);
	free(dom);
	uint32_t *order = realloc(vertex, (n ? n : 1) * sizeof(*order));
	*idom_ret = idom;
	*order_ret = order ? order : vertex;
	*n_order = n;
	vertex = NULL;
out:
	free(pre);
	free(vertex);
	free(parent);
	free(semi);
	free(label);
	free(anc);
	free(prow);
	free(pred);
	return err;
}

struct cprof_error *cprof_dominators(struct cprof_csr *g, uint32_t root,
				     uint32_t *idom, uint32_t *order,
				     uint32_t *n_order)
{
	uint32_t *a, *o, n;
	struct cprof_error *err = cprof_dominators_alloc(g, NULL, root, &a, &o, &n, NULL);
	if (err)
		return err;
	memcpy(idom, a, g->n * sizeof(*idom));
	if (order) {
		memcpy(order, o, n * sizeof(*order));
		*n_order = n;
	}
	free(a);
	free(o);
	return NULL;
}

/* ---- Cooper, Harvey, Kennedy: "A Simple, Fast Dominance Algorithm" ---- */

struct cprof_error *cprof_dominators_iterative(const struct cprof_csr *g,
					       uint32_t root, uint32_t *idom)
{
	struct cprof_error *err;
	uint32_t *pre = malloc((g->n ? g->n : 1) * sizeof(*pre));
	uint32_t *vertex = malloc((g->n ? g->n : 1) * sizeof(*vertex));
	uint32_t *parent = malloc((g->n ? g->n : 1) * sizeof(*parent));
	uint32_t *post = malloc((g->n ? g->n : 1) * sizeof(*post));
	if (!pre || !vertex || !parent || !post) {
		err = &cprof_enomem;
		goto out;
	}
	uint32_t n;
	struct view gv = { g, NULL };
	if ((err = dfs(&gv, root, pre, vertex, parent, &n)))
		goto out;
	/* Postorder numbers: CHK intersects by them.  A reverse-postorder of
	   an iterative DFS: compute postorder with a second explicit stack. */
	{
		struct frame { uint32_t v; uint64_t pos; } *st = malloc(n * sizeof(*st));
		uint8_t *seen = calloc(g->n ? g->n : 1, 1);
		if (!st || !seen) {
			free(st);
			free(seen);
			err = &cprof_enomem;
			goto out;
		}
		uint32_t k = 0;
		size_t d = 0;
		seen[root] = 1;
		st[d++] = (struct frame){ root, g->row[root] };
		while (d) {
			struct frame *f = &st[d - 1];
			if (f->pos == g->row[f->v + 1]) {
				post[f->v] = k;
				vertex[k++] = f->v;   /* vertex now in postorder */
				d--;
				continue;
			}
			uint32_t w = g->dst[f->pos++];
			if (!seen[w]) {
				seen[w] = 1;
				st[d++] = (struct frame){ w, g->row[w] };
			}
		}
		free(st);
		free(seen);
	}
	uint64_t *prow;
	uint32_t *pred;
	if ((err = predecessors(&gv, pre, n, &prow, &pred)))
		goto out;
	/* dom in node ids; pred rows are in preorder numbers: map back. */
	uint32_t *by_pre = parent;     /* reuse: preorder number -> node */
	for (uint32_t v = 0; v < g->n; v++)
		if (pre[v] != NONE)
			by_pre[pre[v]] = v;
	for (uint32_t v = 0; v < g->n; v++)
		idom[v] = NONE;
	idom[root] = root;
	bool changed = true;
	while (changed) {
		changed = false;
		for (uint32_t k = n; k-- > 0;) {       /* reverse postorder */
			uint32_t b = vertex[k];
			if (b == root)
				continue;
			uint32_t new_idom = NONE;
			for (uint64_t e = prow[pre[b]]; e < prow[pre[b] + 1]; e++) {
				uint32_t p = by_pre[pred[e]];
				if (idom[p] == NONE)
					continue;
				if (new_idom == NONE) {
					new_idom = p;
					continue;
				}
				uint32_t x = p, y = new_idom;
				while (x != y) {
					while (post[x] < post[y])
						x = idom[x];
					while (post[y] < post[x])
						y = idom[y];
				}
				new_idom = x;
			}
			if (new_idom != NONE && idom[b] != new_idom) {
				idom[b] = new_idom;
				changed = true;
			}
		}
	}
	free(prow);
	free(pred);
out:
	free(pre);
	free(vertex);
	free(parent);
	free(post);
	return err;
}
