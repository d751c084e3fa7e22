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
 * Memory: 8 x 4 bytes per node for the arrays (pre, vertex, parent, semi,
 * label, anc, path, dom), 8 more for the predecessor row offsets and 4 per
 * edge for the predecessors; the DFS stack (12 bytes a node at most) is gone
 * before those exist, and an owned successor list is freed as soon as the
 * predecessors are built.
 *
 * The iterative algorithm of Cooper, Harvey and Kennedy is here too, as the
 * independent second opinion the tests compare against on large graphs.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/analysis.h"

static const uint32_t NONE = UINT32_MAX;

/* The CSR's invariants (ours, whatever the core held): rows monotonic from
 * 0, every target an id below n.  O(n + edges), only with assertions on. */
static void assert_csr(const struct cprof_csr *g)
{
#ifndef NDEBUG
	assert(g->row[0] == 0);
	for (uint32_t v = 0; v < g->n; v++) {
		assert(g->row[v] <= g->row[v + 1]);
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++)
			assert(g->dst[e] < g->n);
	}
#else
	(void)g;
#endif
}

/* Preorder from root: pre[v] (NONE when unreachable), vertex[i], parent[i]
 * (in preorder numbers).  Returns the number of reachable nodes. */
static struct cprof_error *dfs(const struct cprof_csr *g, uint32_t root,
			       uint32_t *pre, uint32_t *vertex, uint32_t *parent,
			       uint32_t *n_ret)
{
	struct frame { uint32_t v; uint64_t pos; } *stack =
		malloc((g->n ? g->n : 1) * sizeof(*stack));
	if (!stack)
		return &cprof_enomem;
	memset(pre, 0xff, g->n * sizeof(*pre));
	uint32_t n = 0;
	size_t depth = 0;
	pre[root] = n;
	vertex[n] = root;
	parent[n] = NONE;
	n++;
	stack[depth++] = (struct frame){ root, g->row[root] };
	while (depth) {
		struct frame *f = &stack[depth - 1];
		if (f->pos == g->row[f->v + 1]) {
			depth--;
			continue;
		}
		uint32_t w = g->dst[f->pos++];
		if (pre[w] != NONE)
			continue;
		pre[w] = n;
		vertex[n] = w;
		parent[n] = pre[f->v];
		n++;
		stack[depth++] = (struct frame){ w, g->row[w] };
	}
	free(stack);
	*n_ret = n;
	return NULL;
}

/* Predecessor rows, in preorder numbers, of the reachable nodes. */
static struct cprof_error *predecessors(const struct cprof_csr *g,
					const uint32_t *pre, uint32_t n,
					uint64_t **prow_ret, uint32_t **pred_ret)
{
	uint64_t *prow = calloc((size_t)n + 1, sizeof(*prow));
	if (!prow)
		return &cprof_enomem;
	for (uint32_t v = 0; v < g->n; v++) {
		if (pre[v] == NONE)
			continue;
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++)
			if (pre[g->dst[e]] != NONE)
				prow[pre[g->dst[e]] + 1]++;
	}
	for (uint32_t i = 0; i < n; i++)
		prow[i + 1] += prow[i];
	uint32_t *pred = malloc((prow[n] ? prow[n] : 1) * sizeof(*pred));
	uint64_t *fill = malloc(((size_t)n + 1) * sizeof(*fill));
	if (!pred || !fill) {
		free(prow);
		free(pred);
		free(fill);
		return &cprof_enomem;
	}
	memcpy(fill, prow, ((size_t)n + 1) * sizeof(*fill));
	for (uint32_t v = 0; v < g->n; v++) {
		if (pre[v] == NONE)
			continue;
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (pre[w] != NONE)
				pred[fill[pre[w]]++] = pre[v];
		}
	}
	free(fill);
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

struct cprof_error *cprof_dominators(struct cprof_csr *g, uint32_t root,
				     uint32_t *idom, uint32_t *order,
				     uint32_t *n_order)
{
	struct cprof_error *err;
	uint32_t *pre = malloc((g->n ? g->n : 1) * sizeof(*pre));
	uint32_t *vertex = malloc((g->n ? g->n : 1) * sizeof(*vertex));
	uint32_t *parent = malloc((g->n ? g->n : 1) * sizeof(*parent));
	if (!pre || !vertex || !parent) {
		err = &cprof_enomem;
		goto out0;
	}
	uint32_t n;
	assert(root < g->n);
	assert_csr(g);
	if ((err = dfs(g, root, pre, vertex, parent, &n)))
		goto out0;
	uint64_t *prow;
	uint32_t *pred;
	if ((err = predecessors(g, pre, n, &prow, &pred)))
		goto out0;
	if (g->owned) {
		free((void *)g->row);
		free((void *)g->dst);
		g->row = NULL;
		g->dst = NULL;
	}
	uint32_t *semi = malloc(n * sizeof(*semi));
	uint32_t *label = malloc(n * sizeof(*label));
	uint32_t *anc = malloc(n * sizeof(*anc));
	uint32_t *path = malloc(n * sizeof(*path));
	uint32_t *dom = malloc(n * sizeof(*dom));
	if (!semi || !label || !anc || !path || !dom) {
		err = &cprof_enomem;
		goto out1;
	}
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
	dom[0] = 0;
	for (uint32_t i = 1; i < n; i++) {
		uint32_t d = parent[i];
		while (d > semi[i])
			d = dom[d];
		dom[i] = d;
	}
	for (uint32_t v = 0; v < g->n; v++)
		idom[v] = NONE;
	for (uint32_t i = 1; i < n; i++)
		idom[vertex[i]] = vertex[dom[i]];
	idom[root] = root;
	/* the tree's invariants: the root dominates itself, every other
	   dominator is a vertex reached before the one it dominates */
	assert(vertex[0] == root);
	for (uint32_t i = 1; i < n; i++)
		assert(idom[vertex[i]] < g->n && pre[idom[vertex[i]]] < i);
	if (order) {
		memcpy(order, vertex, n * sizeof(*order));
		*n_order = n;
	}
out1:
	free(semi);
	free(label);
	free(anc);
	free(path);
	free(dom);
	free(prow);
	free(pred);
out0:
	free(pre);
	free(vertex);
	free(parent);
	return err;
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
	if ((err = dfs(g, root, pre, vertex, parent, &n)))
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
	if ((err = predecessors(g, pre, n, &prow, &pred)))
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
