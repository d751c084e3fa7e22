/*
 * entries.c - the dominator tree's top entries (include/cprof/store.h): the
 * objects no other object keeps alive, grouped, biggest first.
 *
 * Why not only the roots: when several roots hold the same objects (an
 * interpreter's state reached from a global and from every frame, a Go
 * server's store from package variables and goroutines), no root retains
 * them and a list of roots shows none of that memory.  The top objects always
 * add up to the whole reachable heap, shared or not.
 *
 * One pass over the top objects (idom NULL), sorted by (holder, type) and cut
 * into runs: O(n log n) in the top objects, memory 40 bytes each.  Then, for
 * the few groups shown, a few row lookups each.  It reads cprof.db (`top`)
 * or the analysis in memory (the summary of `analyze`) through a
 * store_source: the same code for both.
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

static const uint32_t NONE = UINT32_MAX;

/* Root nodes form a small tree (ids 0 .. n-1, the super-root 0). */
struct nodes {
	uint32_t *parent;
	uint32_t n;
};

struct top {
	uint64_t id, size, retained, count;
	uint64_t type;             /* type id, or UNTYPED | size */
	uint32_t holder;           /* the root node below the super-root, NONE: shared */
	uint32_t node;             /* the retaining root, NONE: shared */
};

static const uint64_t UNTYPED = 1ull << 63;

/* The ancestor of node v just below the super-root (v itself when it is
 * one); NONE for the super-root, the leaked node's subtree and bad ids. */
static uint32_t top_node(const struct nodes *nd, uint32_t v)
{
	if (v >= nd->n || v <= 1)
		return NONE;
	while (nd->parent[v] != 0) {
		if (nd->parent[v] == NONE)
			return NONE;
		v = nd->parent[v];
	}
	return v;
}

static unsigned depth(const struct nodes *nd, uint32_t v)
{
	unsigned d = 0;
	while (v < nd->n && nd->parent[v] != NONE) {
		v = nd->parent[v];
		d++;
	}
	return d;
}

/* The nearest common ancestor of two nodes of one subtree. */
static uint32_t common(const struct nodes *nd, uint32_t a, uint32_t b)
{
	unsigned da = depth(nd, a), db = depth(nd, b);
	for (; da > db; da--)
		a = nd->parent[a];
	for (; db > da; db--)
		b = nd->parent[b];
	while (a != b && a < nd->n && b < nd->n) {
		a = nd->parent[a];
		b = nd->parent[b];
	}
	return a;
}

static int top_cmp(const void *x, const void *y)
{
	const struct top *a = x, *b = y;
	if (a->holder != b->holder)
		return a->holder < b->holder ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->retained != b->retained)
		return a->retained > b->retained ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* The top objects, with their group keys. */
struct tops {
	const struct nodes *nd;
	struct top *t;
	size_t n, cap;
};

static bool add_top(void *arg, const struct store_top_row *r)
{
	struct tops *ts = arg;
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : 1024;
		struct top *a = realloc(ts->t, cap * sizeof(*a));
		if (!a)
			return false;
		ts->t = a;
		ts->cap = cap;
	}
	struct top *x = &ts->t[ts->n++];
	x->id = r->id;
	x->size = r->size;
	x->retained = r->retained;
	x->count = r->count;
	x->node = r->node;
	x->holder = x->node == NONE ? NONE : top_node(ts->nd, x->node);
	if (x->holder == NONE)
		x->node = NONE;
	x->type = r->type == CPROF_NONE_ID ? UNTYPED | (x->size & ~UNTYPED) : r->type;
	return true;
}

/* One group of top objects: a run of the sorted array. */
struct run {
	size_t first;              /* its biggest object (runs are sorted so) */
	uint64_t count, self, retained, retained_count;
	uint32_t node;             /* the nearest common retaining root */
};

static int run_cmp(const void *x, const void *y)
{
	const struct run *a = x, *b = y;
	if (a->retained != b->retained)
		return a->retained > b->retained ? -1 : 1;
	return a->first < b->first ? -1 : a->first > b->first;
}

static struct cprof_error *runs_of(const struct nodes *nd, const struct top *t, size_t n,
				   struct run **ret, size_t *n_ret)
{
	struct run *r = malloc((n ? n : 1) * sizeof(*r));
	size_t k = 0;
	if (!r)
		return &cprof_enomem;
	for (size_t i = 0; i < n; i++) {
		if (!i || t[i].holder != t[i - 1].holder || t[i].type != t[i - 1].type)
			r[k++] = (struct run){ .first = i, .node = t[i].node };
		struct run *g = &r[k - 1];
		g->count++;
		g->self += t[i].size;
		g->retained += t[i].retained;
		g->retained_count += t[i].count;
		if (g->node != NONE && t[i].node != g->node)
			g->node = common(nd, g->node, t[i].node);
	}
	if (k)
		qsort(r, k, sizeof(*r), run_cmp);
	*ret = r;
	*n_ret = k;
	return NULL;
}

/* What the report shows of group g: its type's name, the holder, the biggest
 * object, a path to it, root slots that reach it. */
static struct cprof_error *describe(const struct store_source *src, const struct top *t,
				    const struct run *g, size_t max_reached,
				    struct cprof_entry *e)
{
	const struct top *big = &t[g->first];
	struct cprof_error *err;
	e->count = g->count;
	e->self_bytes = g->self;
	e->retained_bytes = g->retained;
	e->retained_count = g->retained_count;
	e->type_id = big->type & UNTYPED ? CPROF_NONE_ID : big->type;
	e->size = big->type & UNTYPED ? big->size : 0;
	e->shared = big->holder == NONE;
	e->holder.id = CPROF_NONE_ID;
	e->path.slot.id = CPROF_NONE_ID;
	if (!e->shared && g->node != NONE &&
	    (err = src->ops->node(src->arg, g->node, &e->holder)))
		return err;
	if ((err = src->ops->object(src->arg, big->id, &e->biggest)))
		return err;
	if (e->type_id != CPROF_NONE_ID &&
	    (err = src->ops->type_name(src->arg, e->type_id, e->type, sizeof(e->type))))
		return err;
	enum { MAX_PATH = 10000 };
	if ((err = store_shortest_path(src, big->id, MAX_PATH, &e->path)))
		return err;
	return store_reaching_slots(src, &big->id, 1, max_reached, &e->reached_from,
				    &e->n_reached);
}

struct cprof_error *store_entries(const struct store_source *src, size_t limit,
				  size_t max_reached, struct cprof_entries *ret)
{
	struct nodes nd = { 0 };
	struct tops ts = { .nd = &nd };
	struct run *r = NULL;
	size_t n_runs = 0;
	memset(ret, 0, sizeof(*ret));
	struct cprof_error *err = src->ops->totals(src->arg, &ret->heap_bytes,
						   &ret->reachable_bytes);
	if (!err)
		err = src->ops->node_parents(src->arg, &nd.parent, &nd.n);
	if (!err)
		err = src->ops->tops(src->arg, add_top, &ts);
	if (!err) {
		if (ts.n)
			qsort(ts.t, ts.n, sizeof(*ts.t), top_cmp);
		err = runs_of(&nd, ts.t, ts.n, &r, &n_runs);
	}
	ret->n_objects = ts.n;
	ret->n_groups = n_runs;
	size_t shown = n_runs < limit ? n_runs : limit;
	if (!err && !(ret->e = calloc(shown + 1, sizeof(*ret->e))))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < shown; i++) {
		ret->n = i + 1;
		err = describe(src, ts.t, &r[i], max_reached, &ret->e[i]);
	}
	free(nd.parent);
	free(ts.t);
	free(r);
	if (err)
		cprof_entries_deinit(ret);
	return err;
}

struct cprof_error *cprof_query_entries(sqlite3 *db, const char *path, size_t limit,
					size_t max_reached, struct cprof_entries *ret)
{
	struct store_source src;
	struct cprof_error *err = store_db_source_create(db, path, &src);
	if (err)
		return err;
	err = store_entries(&src, limit, max_reached, ret);
	store_db_source_destroy(&src);
	return err;
}

void cprof_entries_deinit(struct cprof_entries *e)
{
	for (size_t i = 0; e->e && i < e->n; i++) {
		free(e->e[i].path.ids);
		free(e->e[i].path.addrs);
		for (size_t k = 0; k < e->e[i].n_reached; k++)
			free(e->e[i].reached_from[k]);
		free(e->e[i].reached_from);
	}
	free(e->e);
	memset(e, 0, sizeof(*e));
}
