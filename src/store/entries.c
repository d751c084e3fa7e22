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
 * One pass over the top objects (idom NULL), each added to its group (by
 * holder and type) in a hash table: O(top objects) time, memory per group -
 * a random graph's heap has millions of top objects in a few groups.  Then,
 * for the few groups shown, a few row lookups each.  It reads cprof.db (`top`)
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

/* A group of top objects: the same holder and type. */
struct group {
	uint64_t type;             /* type id, or UNTYPED | size */
	uint32_t holder;           /* the root node below the super-root, NONE: shared */
	uint32_t node;             /* the nearest common retaining root, NONE: shared */
	bool used;
	uint64_t count, self, retained, retained_count;
	uint64_t big, big_retained, big_size;   /* the member retaining the most (the
						   lowest id among equals) */
};

/* The groups, by (holder, type) in an open-addressing table at most half full. */
struct groups {
	const struct nodes *nd;
	struct group *g;
	size_t cap, n;
	uint64_t tops;
};

static size_t group_slot(const struct groups *gs, uint32_t holder, uint64_t type)
{
	uint64_t h = (type * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)holder * 0xC2B2AE3D27D4EB4Full);
	size_t i = (size_t)(h >> 17) & (gs->cap - 1);
	while (gs->g[i].used && (gs->g[i].holder != holder || gs->g[i].type != type))
		i = (i + 1) & (gs->cap - 1);
	return i;
}

static bool groups_grow(struct groups *gs)
{
	size_t old = gs->cap, cap = old ? 2 * old : 256;
	struct group *was = gs->g;
	if (!(gs->g = calloc(cap, sizeof(*gs->g)))) {
		gs->g = was;
		return false;
	}
	gs->cap = cap;
	for (size_t i = 0; i < old; i++)
		if (was[i].used)
			gs->g[group_slot(gs, was[i].holder, was[i].type)] = was[i];
	free(was);
	return true;
}

static bool add_top(void *arg, const struct store_top_row *r)
{
	struct groups *gs = arg;
	uint32_t node = r->node;
	uint32_t holder = node == NONE ? NONE : top_node(gs->nd, node);
	if (holder == NONE)
		node = NONE;
	uint64_t type = r->type == CPROF_NONE_ID ? UNTYPED | (r->size & ~UNTYPED) : r->type;
	if (2 * (gs->n + 1) > gs->cap && !groups_grow(gs))
		return false;
	struct group *g = &gs->g[group_slot(gs, holder, type)];
	if (!g->used) {
		*g = (struct group){ .type = type, .holder = holder, .node = node, .used = true,
				     .big = r->id, .big_retained = r->retained, .big_size = r->size };
		gs->n++;
	} else if (r->retained > g->big_retained ||
		   (r->retained == g->big_retained && r->id < g->big)) {
		g->big = r->id;
		g->big_retained = r->retained;
		g->big_size = r->size;
	}
	g->count++;
	g->self += r->size;
	g->retained += r->retained;
	g->retained_count += r->count;
	if (g->node != NONE && node != g->node)
		g->node = common(gs->nd, g->node, node);
	gs->tops++;
	return true;
}

/* Biggest retained first; then by holder and type. */
static int group_cmp(const void *x, const void *y)
{
	const struct group *a = x, *b = y;
	if (a->retained != b->retained)
		return a->retained > b->retained ? -1 : 1;
	if (a->holder != b->holder)
		return a->holder < b->holder ? -1 : 1;
	return a->type < b->type ? -1 : a->type > b->type;
}

/* The groups in a sorted array of their own (gs->g is packed). */
static void groups_sort(struct groups *gs)
{
	size_t k = 0;
	for (size_t i = 0; i < gs->cap; i++)
		if (gs->g[i].used)
			gs->g[k++] = gs->g[i];
	if (k)
		qsort(gs->g, k, sizeof(*gs->g), group_cmp);
}

/* What the report shows of group g: its type's name, the holder, the biggest
 * object, a path to it, root slots that reach it. */
static struct cprof_error *describe(const struct store_source *src, const struct group *g,
				    size_t max_reached, struct cprof_entry *e)
{
	struct cprof_error *err;
	e->count = g->count;
	e->self_bytes = g->self;
	e->retained_bytes = g->retained;
	e->retained_count = g->retained_count;
	e->type_id = g->type & UNTYPED ? CPROF_NONE_ID : g->type;
	e->size = g->type & UNTYPED ? g->big_size : 0;
	e->shared = g->holder == NONE;
	e->holder.id = CPROF_NONE_ID;
	e->path.slot.id = CPROF_NONE_ID;
	if (!e->shared && g->node != NONE &&
	    (err = src->ops->node(src->arg, g->node, &e->holder)))
		return err;
	if ((err = src->ops->object(src->arg, g->big, &e->biggest)))
		return err;
	if (e->type_id != CPROF_NONE_ID &&
	    (err = src->ops->type_name(src->arg, e->type_id, e->type, sizeof(e->type))))
		return err;
	enum { MAX_PATH = 10000 };
	if ((err = store_shortest_path(src, g->big, MAX_PATH, &e->path)))
		return err;
	return store_reaching_slots(src, &g->big, 1, max_reached, &e->reached_from,
				    &e->n_reached);
}

struct cprof_error *store_entries(const struct store_source *src, size_t limit,
				  size_t max_reached, struct cprof_entries *ret)
{
	struct nodes nd = { 0 };
	struct groups gs = { .nd = &nd };
	memset(ret, 0, sizeof(*ret));
	struct cprof_error *err = src->ops->totals(src->arg, &ret->heap_bytes,
						   &ret->reachable_bytes, &ret->garbage_bytes);
	if (!err)
		err = src->ops->node_parents(src->arg, &nd.parent, &nd.n);
	if (!err && !groups_grow(&gs))
		err = &cprof_enomem;
	if (!err)
		err = src->ops->tops(src->arg, add_top, &gs);
	if (!err)
		groups_sort(&gs);
	ret->n_objects = gs.tops;
	ret->n_groups = gs.n;
	size_t shown = gs.n < limit ? gs.n : limit;
	if (!err && !(ret->e = calloc(shown + 1, sizeof(*ret->e))))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < shown; i++) {
		ret->n = i + 1;
		err = describe(src, &gs.g[i], max_reached, &ret->e[i]);
	}
	free(nd.parent);
	free(gs.g);
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
