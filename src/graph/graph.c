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

static int object_cmp(const void *a, const void *b)
{
	const struct cprof_object *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct run {
	size_t start, len;
	uint64_t addr;
};

static int run_cmp(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

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

/* A growable array of runs. */
struct pieces {
	struct run *p;
	size_t n, cap;
};

static bool add_piece(struct pieces *ps, size_t start, size_t len, uint64_t addr)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		struct run *a = realloc(ps->p, cap * sizeof(*a));
		if (!a)
			return false;
		ps->p = a;
		ps->cap = cap;
	}
	ps->p[ps->n++] = (struct run){ start, len, addr };
	return true;
}

/*
 * The runs, ordered by start, cut where another run starts inside their
 * range: a run of several heaps in increasing order can hold another heap's
 * addresses between two of its own (Go's spans come in the order the runtime
 * allocated their records).  The pieces do not interleave; *ret is malloc'd.
 */
static bool pieces_of(const struct cprof_object *objs, struct run *runs, size_t n_runs,
		      struct run **ret, size_t *n_ret)
{
	struct pieces ps = { 0 };
	bool ok = true;
	for (size_t i = 0; ok && i < n_runs; i++) {
		size_t pos = runs[i].start, end = runs[i].start + runs[i].len;
		for (size_t j = i + 1; ok && j < n_runs && pos < end &&
				       runs[j].addr <= objs[end - 1].addr; j++) {
			size_t k = cprof_objects_first_at(objs, pos, end, runs[j].addr);
			if (k == pos)
				continue;
			ok = add_piece(&ps, pos, k - pos, objs[pos].addr);
			pos = k;
		}
		if (ok && pos < end)
			ok = add_piece(&ps, pos, end - pos, objs[pos].addr);
	}
	if (!ok) {
		free(ps.p);
		return false;
	}
	qsort(ps.p, ps.n, sizeof(*ps.p), run_cmp);
	*ret = ps.p;
	*n_ret = ps.n;
	return true;
}

/*
 * Walkers emit each heap in address order, one heap after another: the array
 * is a sequence of sorted runs.  Ordering the runs (cut where they interleave)
 * and copying them is O(n log runs); a full sort is the fallback when objects
 * overlap.
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
			runs[n_runs].addr = objs[i].addr;
			n_runs++;
		}
		runs[n_runs - 1].len = i - runs[n_runs - 1].start + 1;
	}
	if (n_runs > 1) {
		struct run *pieces;
		size_t n_pieces;
		qsort(runs, n_runs, sizeof(*runs), run_cmp);
		struct cprof_object *tmp = malloc(n * sizeof(*tmp));
		if (!tmp || !pieces_of(objs, runs, n_runs, &pieces, &n_pieces)) {
			free(tmp);
			free(runs);
			return &cprof_enomem;
		}
		size_t k = 0;
		for (size_t r = 0; r < n_pieces; r++) {
			memcpy(&tmp[k], &objs[pieces[r].start], pieces[r].len * sizeof(*tmp));
			k += pieces[r].len;
		}
		memcpy(objs, tmp, n * sizeof(*tmp));
		free(tmp);
		free(pieces);
		for (size_t i = 1; i < n; i++) {
			if (objs[i].addr < objs[i - 1].addr) {
				qsort(objs, n, sizeof(*objs), object_cmp);
				break;
			}
		}
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
