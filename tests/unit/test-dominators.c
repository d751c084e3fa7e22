/*
 * test-dominators: SEMI-NCA (src/analysis/dominators.c) against
 *   1. the definition, on 5000 random small graphs: v dominates w iff w is
 *      unreachable from the root once v is removed - so the chain
 *      idom(w), idom(idom(w)), ..., root must be exactly w's dominators;
 *   2. a second algorithm (Cooper-Harvey-Kennedy) on random graphs of
 *      10^6 nodes (and a long path, which breaks recursive implementations).
 * Prints "N passed, N failed" and exits 1 on any failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/analysis.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct graph {
	uint32_t n;
	uint64_t *row;
	uint32_t *dst;
};

/* A random graph of n nodes with about `deg` out-edges each; extra edges
 * from the root make most nodes reachable, back edges make cycles. */
static void random_graph(struct graph *g, uint32_t n, uint32_t deg)
{
	g->n = n;
	g->row = malloc((n + 1) * sizeof(*g->row));
	g->dst = malloc(((uint64_t)n * (deg + 1) + 8) * sizeof(*g->dst));
	uint64_t e = 0;
	for (uint32_t v = 0; v < n; v++) {
		g->row[v] = e;
		uint32_t k = (uint32_t)(rnd() % (deg + 1));
		if (v == 0)
			k = deg + 1 < n ? deg + 1 : n - 1;
		for (uint32_t j = 0; j < k; j++)
			g->dst[e++] = (uint32_t)(rnd() % n);
	}
	g->row[n] = e;
}

static void free_graph(struct graph *g)
{
	free(g->row);
	free(g->dst);
}

/* Nodes reachable from 0 when `removed` is taken out. */
static void reach(const struct graph *g, uint32_t removed, bool *seen, uint32_t *q)
{
	memset(seen, 0, g->n);
	if (removed == 0)
		return;
	size_t h = 0, t = 0;
	seen[0] = true;
	q[t++] = 0;
	while (h < t) {
		uint32_t v = q[h++];
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (w != removed && !seen[w]) {
				seen[w] = true;
				q[t++] = w;
			}
		}
	}
}

static int passed, failed;

static void check(bool ok, const char *what, int graph)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		if (failed < 20)
			printf("FAIL: %s (graph %d)\n", what, graph);
	}
}

static void brute_force(int cases)
{
	for (int c = 0; c < cases; c++) {
		struct graph g;
		uint32_t n = 2 + (uint32_t)(rnd() % 14);
		random_graph(&g, n, 1 + (uint32_t)(rnd() % 3));
		struct cprof_csr csr = { g.n, g.row, g.dst, false };
		uint32_t idom[16], order[16], n_order;
		bool reach_all[16], without[16][16];
		uint32_t q[16];
		if (cprof_dominators(&csr, 0, idom, order, &n_order)) {
			check(false, "cprof_dominators failed", c);
			free_graph(&g);
			continue;
		}
		reach(&g, UINT32_MAX, reach_all, q);
		for (uint32_t v = 0; v < n; v++)
			reach(&g, v, without[v], q);
		bool ok = true;
		for (uint32_t w = 1; w < n && ok; w++) {
			if (!reach_all[w]) {
				ok = idom[w] == UINT32_MAX;
				continue;
			}
			/* dominators by definition */
			bool dom[16] = { false };
			dom[0] = true;
			for (uint32_t v = 1; v < n; v++)
				dom[v] = v != w && !without[v][w];
			/* the idom chain */
			bool chain[16] = { false };
			for (uint32_t x = idom[w], steps = 0; steps <= n; steps++) {
				if (x >= n) {
					ok = false;
					break;
				}
				chain[x] = true;
				if (x == 0)
					break;
				x = idom[x];
			}
			for (uint32_t v = 0; v < n && ok; v++)
				ok = chain[v] == dom[v];
		}
		/* preorder: every node after its idom */
		uint32_t pos[16];
		for (uint32_t i = 0; i < n_order; i++)
			pos[order[i]] = i;
		for (uint32_t i = 1; i < n_order && ok; i++)
			ok = pos[idom[order[i]]] < i;
		check(ok, "idom chains equal the dominators by definition", c);
		free_graph(&g);
	}
}

static void against_chk(uint32_t n, uint32_t deg, int id)
{
	struct graph g;
	random_graph(&g, n, deg);
	struct cprof_csr csr = { g.n, g.row, g.dst, false };
	uint32_t *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
	bool ok = !cprof_dominators(&csr, 0, a, NULL, NULL) &&
		  !cprof_dominators_iterative(&csr, 0, b);
	uint32_t differ = 0;
	for (uint32_t v = 0; ok && v < n; v++)
		differ += a[v] != b[v];
	check(ok && !differ, "SEMI-NCA equals Cooper-Harvey-Kennedy on a large graph", id);
	if (differ)
		printf("  %u of %u idoms differ\n", differ, n);
	free(a);
	free(b);
	free_graph(&g);
}

static void long_path(uint32_t n)
{
	struct graph g = { n, malloc((n + 1) * sizeof(uint64_t)), malloc(n * sizeof(uint32_t)) };
	for (uint32_t v = 0; v < n; v++) {
		g.row[v] = v;
		g.dst[v] = v + 1 < n ? v + 1 : 0;
	}
	g.row[n] = n;
	struct cprof_csr csr = { g.n, g.row, g.dst, false };
	uint32_t *a = malloc(n * sizeof(*a));
	bool ok = !cprof_dominators(&csr, 0, a, NULL, NULL);
	for (uint32_t v = 1; ok && v < n; v++)
		ok = a[v] == v - 1;
	check(ok, "a path of 10^7 nodes: each node's idom is its predecessor", -1);
	free(a);
	free_graph(&g);
}

int main(void)
{
	brute_force(5000);
	against_chk(1000000, 3, 1);
	against_chk(1000000, 1, 2);
	long_path(10000000);
	printf("test-dominators: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
