/*
 * graph.c - the object table in address order, and the graph's storage (see
 * include/cprof/graph.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/bigmem.h"
#include "cprof/graph.h"

void cprof_graph_deinit(struct cprof_graph *g)
{
	free(g->row);
	free(g->dst);
	free(g->src_off);
	free(g->interior);
	free(g->interior_off);
	free(g->root_refs);
	memset(g, 0, sizeof(*g));
}

/* The counting sort, for either width of row: shifted by one while it is
 * filled (row[v + 1] is where v's next source goes, and ends as v's end,
 * which is v + 1's start). */
#define REVERSE(rrow, g, src)                                                   \
	do {                                                                    \
		for (uint64_t e_ = 0; e_ < (g)->n_edges; e_++)                  \
			(rrow)[(g)->dst[e_] + 2]++;                             \
		for (size_t v_ = 2; v_ <= (size_t)(g)->n + 1; v_++)             \
			(rrow)[v_] += (rrow)[v_ - 1];                           \
		for (uint32_t v_ = 0; v_ < (g)->n; v_++)                        \
			for (uint64_t e_ = (g)->row[v_]; e_ < (g)->row[v_ + 1]; e_++) \
				(src)[(rrow)[(g)->dst[e_] + 1]++] = v_;         \
	} while (0)

struct cprof_error *cprof_graph_reverse(const struct cprof_graph *g,
					struct cprof_graph_reverse *ret)
{
	memset(ret, 0, sizeof(*ret));
	bool wide = g->n_edges >= UINT32_MAX;
	if (wide)
		ret->row64 = calloc((size_t)g->n + 2, sizeof(*ret->row64));
	else
		ret->row = calloc((size_t)g->n + 2, sizeof(*ret->row));
	ret->src = malloc((g->n_edges ? g->n_edges : 1) * sizeof(*ret->src));
	if ((!ret->row && !ret->row64) || !ret->src) {
		cprof_graph_reverse_deinit(ret);
		return &cprof_enomem;
	}
	cprof_huge(ret->src, g->n_edges * sizeof(*ret->src));
	if (ret->row)
		cprof_huge(ret->row, ((size_t)g->n + 2) * sizeof(*ret->row));
	else
		cprof_huge(ret->row64, ((size_t)g->n + 2) * sizeof(*ret->row64));
	if (wide)
		REVERSE(ret->row64, g, ret->src);
	else
		REVERSE(ret->row, g, ret->src);
	return NULL;
}

void cprof_graph_reverse_deinit(struct cprof_graph_reverse *r)
{
	free(r->row);
	free(r->row64);
	free(r->src);
	memset(r, 0, sizeof(*r));
}

void cprof_graph_drop_edges(struct cprof_graph *g)
{
	free(g->row);
	free(g->dst);
	free(g->src_off);
	free(g->interior);
	free(g->interior_off);
	g->row = NULL;
	g->dst = NULL;
	g->src_off = NULL;
	g->interior = NULL;
	g->interior_off = NULL;
}

/* A run of objects in increasing address order. */
struct run {
	size_t start, len;
};

size_t cprof_objects_first_at(const struct cprof_object *objs, size_t lo, size_t hi,
			      uint64_t addr)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (objs[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A binary min-heap of the runs' next objects, by address. */
struct head {
	uint64_t addr;
	size_t run;
};

/* a before b: the lower address; the earlier run among equals (objects that
 * overlap: the walk's first is kept). */
static bool head_less(const struct head *a, const struct head *b)
{
	return a->addr < b->addr || (a->addr == b->addr && a->run < b->run);
}

static void sift_down(struct head *h, size_t n, size_t i)
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && head_less(&h[c + 1], &h[c]))
			c++;
		if (!head_less(&h[c], &h[i]))
			return;
		struct head t = h[i];
		h[i] = h[c];
		h[c] = t;
	}
}

/*
 * The runs merged into out: a k-way merge, O(n log runs).  A run of several
 * heaps in increasing order can hold another heap's objects between two of
 * its own (Go's spans come in the order the runtime allocated their
 * records), so the runs cannot simply be put end to end.
 */
static bool merge_runs(const struct cprof_object *objs, struct run *runs, size_t n_runs,
		       struct cprof_object *out)
{
	struct head *h = malloc(n_runs * sizeof(*h));
	if (!h)
		return false;
	for (size_t r = 0; r < n_runs; r++)
		h[r] = (struct head){ objs[runs[r].start].addr, r };
	size_t n = n_runs, k = 0;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(h, n, i);
	while (n) {
		struct run *r = &runs[h[0].run];
		out[k++] = objs[r->start++];
		if (--r->len)
			h[0].addr = objs[r->start].addr;
		else
			h[0] = h[--n];
		sift_down(h, n, 0);
	}
	free(h);
	return true;
}

/*
 * Walkers emit each heap in address order, one heap after another: the array
 * is a sequence of sorted runs, merged in O(n log runs).
 */
struct cprof_error *cprof_objects_sort(struct cprof_core *core,
				       struct cprof_object *objs, size_t *n_ret)
{
	size_t n = *n_ret, n_runs = 0, cap = 0;
	struct run *runs = NULL;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || objs[i].addr < objs[i - 1].addr) {
			if (n_runs == cap) {
				cap = cap ? 2 * cap : 64;
				struct run *r = realloc(runs, cap * sizeof(*r));
				if (!r) {
					free(runs);
					return &cprof_enomem;
				}
				runs = r;
			}
			runs[n_runs].start = i;
			n_runs++;
		}
		runs[n_runs - 1].len = i - runs[n_runs - 1].start + 1;
	}
	if (n_runs > 1) {
		struct cprof_object *tmp = malloc(n * sizeof(*tmp));
		if (!tmp || !merge_runs(objs, runs, n_runs, tmp)) {
			free(tmp);
			free(runs);
			return &cprof_enomem;
		}
		memcpy(objs, tmp, n * sizeof(*tmp));
		free(tmp);
	}
	free(runs);
	/* Overlapping objects would make lookups ambiguous: a walker bug or
	   corrupt metadata.  Keep the first. */
	size_t kept = 0;
	uint64_t dropped = 0;
	for (size_t i = 0; i < n; i++) {
		if (kept && objs[i].addr < objs[kept - 1].addr + objs[kept - 1].size) {
			dropped++;
			continue;
		}
		objs[kept++] = objs[i];
	}
	if (dropped)
		cprof_warn(core->warnings, "%s: %llu objects overlap others and were dropped",
			   core->path, (unsigned long long)dropped);
	*n_ret = kept;
	return NULL;
}
