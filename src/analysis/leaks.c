/*
 * leaks.c - reachability and leak classification (see
 * include/cprof/analysis.h).
 *
 * Two breadth-first searches from the roots (all pointers; start pointers
 * only), then Tarjan's strongly connected components over the leaked nodes,
 * iteratively (a leaked list of a million nodes would overflow a recursive
 * one), then one search per leak root with a stamp array for what it holds.
 * Memory: a byte of flags per object, and 12 bytes per leaked node while the
 * components are computed.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/bigmem.h"
#include "cprof/analysis.h"
#include "cprof/progress.h"

static const uint32_t UNSEEN = UINT32_MAX;

/* BFS from the roots, marking `mark`; start_only follows only pointers to
 * the start of their target. */
static struct cprof_error *reach(const struct cprof_graph *g, uint8_t *flags,
				 uint8_t mark, bool start_only)
{
	uint32_t *queue = malloc((g->n ? g->n : 1) * sizeof(*queue));
	if (!queue)
		return &cprof_enomem;
	cprof_huge(queue, g->n * sizeof(*queue));
	size_t head = 0, tail = 0;
	for (size_t i = 0; i < g->n_root_refs; i++) {
		const struct cprof_root_ref *r = &g->root_refs[i];
		if ((start_only && r->dst_off) || (flags[r->dst] & mark))
			continue;
		flags[r->dst] |= mark;
		queue[tail++] = r->dst;
	}
	while (head < tail) {
		cprof_graph_prefetch(g, queue, head, tail, flags, sizeof(*flags));
		uint32_t v = queue[head++];
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if ((start_only && cprof_graph_interior(g, e)) || (flags[w] & mark))
				continue;
			flags[w] |= mark;
			queue[tail++] = w;
		}
	}
	free(queue);
	return NULL;
}

static bool leaked(const struct cprof_object *objs, const uint8_t *flags,
		   uint32_t v)
{
	/* A collected heap's unreachable object is garbage, not a leak. */
	return cprof_object_is_node(&objs[v]) && !(flags[v] & CPROF_REACHABLE) &&
	       !(objs[v].flags & CPROF_OBJECT_COLLECTED);
}

/* Tarjan's SCC over the leaked nodes; comp[v] for leaked v. */
static struct cprof_error *components(const struct cprof_object *objs,
				      const struct cprof_graph *g,
				      const uint8_t *flags, uint32_t *comp,
				      uint32_t *n_comp)
{
	uint32_t n = g->n;
	uint32_t *index = malloc((n ? n : 1) * sizeof(*index));
	uint32_t *low = malloc((n ? n : 1) * sizeof(*low));
	uint32_t *stack = malloc((n ? n : 1) * sizeof(*stack));
	struct frame { uint32_t v; uint64_t pos; } *calls =
		malloc((n ? n : 1) * sizeof(*calls));
	if (!index || !low || !stack || !calls) {
		free(index);
		free(low);
		free(stack);
		free(calls);
		return &cprof_enomem;
	}
	cprof_huge(index, n * sizeof(*index));
	memset(index, 0xff, n * sizeof(*index));
	uint32_t next = 0, sp = 0, nc = 0;
	/* onstack: comp[v] == UNSEEN - 1 while v is on the stack. */
	const uint32_t ON_STACK = UNSEEN - 1;
	for (uint32_t s = 0; s < n; s++) {
		if (!leaked(objs, flags, s) || index[s] != UNSEEN)
			continue;
		uint32_t depth = 0;
		index[s] = low[s] = next++;
		stack[sp++] = s;
		comp[s] = ON_STACK;
		calls[depth++] = (struct frame){ s, g->row[s] };
		while (depth) {
			struct frame *f = &calls[depth - 1];
			uint32_t v = f->v;
			if (f->pos < g->row[v + 1]) {
				uint32_t w = g->dst[f->pos++];
				if (!leaked(objs, flags, w))
					continue;
				if (index[w] == UNSEEN) {
					index[w] = low[w] = next++;
					stack[sp++] = w;
					comp[w] = ON_STACK;
					calls[depth++] = (struct frame){ w, g->row[w] };
				} else if (comp[w] == ON_STACK && index[w] < low[v]) {
					low[v] = index[w];
				}
				continue;
			}
			depth--;
			if (low[v] == index[v]) {
				uint32_t x;
				do {
					x = stack[--sp];
					comp[x] = nc;
				} while (x != v);
				nc++;
			}
			if (depth) {
				uint32_t u = calls[depth - 1].v;
				if (low[v] < low[u])
					low[u] = low[v];
			}
		}
	}
	free(index);
	free(low);
	free(stack);
	free(calls);
	*n_comp = nc;
	return NULL;
}

static int root_cmp(const void *a, const void *b)
{
	const struct cprof_leak_root *x = a, *y = b;
	if (x->holds_bytes != y->holds_bytes)
		return x->holds_bytes > y->holds_bytes ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* What each leak root holds: a search within the leaked nodes. */
static struct cprof_error *holdings(const struct cprof_object *objs,
				    const struct cprof_graph *g,
				    const uint8_t *flags,
				    struct cprof_leak_root *roots, size_t n_roots)
{
	uint32_t *stamp = malloc((g->n ? g->n : 1) * sizeof(*stamp));
	uint32_t *queue = malloc((g->n ? g->n : 1) * sizeof(*queue));
	if (!stamp || !queue) {
		free(stamp);
		free(queue);
		return &cprof_enomem;
	}
	cprof_huge(stamp, g->n * sizeof(*stamp));
	memset(stamp, 0xff, g->n * sizeof(*stamp));
	for (uint32_t r = 0; r < n_roots; r++) {
		size_t head = 0, tail = 0;
		queue[tail++] = roots[r].id;
		stamp[roots[r].id] = r;
		while (head < tail) {
			uint32_t v = queue[head++];
			roots[r].holds_count++;
			roots[r].holds_bytes += objs[v].size;
			for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
				uint32_t w = g->dst[e];
				if (stamp[w] == r || !leaked(objs, flags, w))
					continue;
				stamp[w] = r;
				queue[tail++] = w;
			}
		}
	}
	free(stamp);
	free(queue);
	return NULL;
}

struct cprof_error *cprof_leaks_compute(const struct cprof_object *objs,
					const struct cprof_graph *g,
					struct cprof_leaks *l)
{
	double t0 = cprof_now();
	struct cprof_error *err;
	memset(l, 0, sizeof(*l));
	uint32_t n = g->n;
	l->flags = calloc(n ? n : 1, 1);
	if (!l->flags)
		return &cprof_enomem;
	cprof_huge(l->flags, n);
	/* REACHABLE marks through any pointer; INTERIOR_ONLY is first used as
	   the mark of the start-pointer search, then inverted. */
	if ((err = reach(g, l->flags, CPROF_REACHABLE, false)) ||
	    (err = reach(g, l->flags, CPROF_INTERIOR_ONLY, true)))
		goto fail;
	for (uint32_t v = 0; v < n; v++) {
		if (!cprof_object_is_node(&objs[v]))
			continue;
		l->flags[v] ^= CPROF_INTERIOR_ONLY;
		/* A collector follows interior pointers like any other: a Go
		   object reached only through them (a field's address, a slice of
		   an array) is ordinary, not valgrind's "possibly lost". */
		if (!(l->flags[v] & CPROF_REACHABLE) || (objs[v].flags & CPROF_OBJECT_COLLECTED))
			l->flags[v] &= ~CPROF_INTERIOR_ONLY;
	}

	uint32_t *comp = malloc((n ? n : 1) * sizeof(*comp));
	if (!comp) {
		err = &cprof_enomem;
		goto fail;
	}
	uint32_t nc = 0;
	if ((err = components(objs, g, l->flags, comp, &nc))) {
		free(comp);
		goto fail;
	}
	/* A component with an edge from another leaked component is not a
	   source; each source's lowest id (lowest address) is its leak root. */
	uint8_t *has_in = calloc(nc ? nc : 1, 1);
	uint32_t *leader = malloc((nc ? nc : 1) * sizeof(*leader));
	if (!has_in || !leader) {
		free(has_in);
		free(leader);
		free(comp);
		err = &cprof_enomem;
		goto fail;
	}
	memset(leader, 0xff, nc * sizeof(*leader));
	for (uint32_t v = 0; v < n; v++) {
		if (!leaked(objs, l->flags, v))
			continue;
		if (leader[comp[v]] == UNSEEN)
			leader[comp[v]] = v;
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (leaked(objs, l->flags, w) && comp[w] != comp[v])
				has_in[comp[w]] = 1;
		}
	}
	size_t cap = 0;
	for (uint32_t v = 0; v < n && !err; v++) {
		const struct cprof_object *o = &objs[v];
		if (!cprof_object_is_node(o))
			continue;
		if (l->flags[v] & CPROF_REACHABLE) {
			l->reachable.count++;
			l->reachable.bytes += o->size;
			if (l->flags[v] & CPROF_INTERIOR_ONLY) {
				l->interior_only.count++;
				l->interior_only.bytes += o->size;
			}
			continue;
		}
		if (o->flags & CPROF_OBJECT_COLLECTED) {
			l->flags[v] |= CPROF_GARBAGE;
			l->garbage.count++;
			l->garbage.bytes += o->size;
			continue;
		}
		if (!has_in[comp[v]] && leader[comp[v]] == v) {
			l->flags[v] |= CPROF_DIRECT;
			l->direct.count++;
			l->direct.bytes += o->size;
			if (l->n_roots == cap) {
				cap = cap ? 2 * cap : 64;
				struct cprof_leak_root *a = realloc(l->roots, cap * sizeof(*a));
				if (!a) {
					err = &cprof_enomem;
					break;
				}
				l->roots = a;
			}
			l->roots[l->n_roots++] = (struct cprof_leak_root){ .id = v };
		} else {
			l->flags[v] |= CPROF_INDIRECT;
			l->indirect.count++;
			l->indirect.bytes += o->size;
		}
	}
	free(has_in);
	free(leader);
	free(comp);
	if (err || (err = holdings(objs, g, l->flags, l->roots, l->n_roots)))
		goto fail;
	if (l->n_roots)
		qsort(l->roots, l->n_roots, sizeof(*l->roots), root_cmp);
	l->t_leaks = cprof_now() - t0;
	return NULL;
fail:
	cprof_leaks_deinit(l);
	return err;
}

void cprof_leaks_deinit(struct cprof_leaks *l)
{
	free(l->flags);
	free(l->roots);
	memset(l, 0, sizeof(*l));
}
