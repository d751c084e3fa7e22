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
 * the few groups shown, a few row lookups each.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

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

static struct cprof_error *db_error(sqlite3 *db, const char *path, const char *what)
{
	return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s: %s", path, what,
				  sqlite3_errmsg(db));
}

static struct cprof_error *load_nodes(sqlite3 *db, const char *path, struct nodes *ret)
{
	sqlite3_stmt *s;
	memset(ret, 0, sizeof(*ret));
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id) + 1, 0) FROM root_node", -1, &s,
			       NULL) != SQLITE_OK)
		return db_error(db, path, "root nodes");
	uint64_t n = sqlite3_step(s) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (n >= NONE)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %llu root nodes", path,
					  (unsigned long long)n);
	ret->n = (uint32_t)n;
	if (!(ret->parent = malloc((n + 1) * sizeof(*ret->parent))))
		return &cprof_enomem;
	memset(ret->parent, 0xff, (n + 1) * sizeof(*ret->parent));
	if (sqlite3_prepare_v2(db, "SELECT id, parent_id FROM root_node", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "root nodes");
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0), p = sqlite3_column_int64(s, 1);
		/* A parent must come before its child (ids grow downwards): so no
		   walk up the tree can loop, whatever the file says. */
		if (id >= 0 && (uint64_t)id < n && sqlite3_column_type(s, 1) != SQLITE_NULL &&
		    p >= 0 && p < id)
			ret->parent[id] = (uint32_t)p;
	}
	sqlite3_finalize(s);
	return NULL;
}

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

/* Every reachable top object, with its group key. */
static struct cprof_error *load_tops(sqlite3 *db, const char *path, const struct nodes *nd,
				     struct top **ret, size_t *n_ret)
{
	sqlite3_stmt *s;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db,
		"SELECT id, size, coalesce(retained_bytes, 0), coalesce(retained_count, 0),"
		" retaining_root, type_id FROM object"
		" WHERE idom IS NULL AND reachable = 1", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "top objects");
	struct top *t = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			struct top *a = realloc(t, cap * sizeof(*a));
			if (!a) {
				free(t);
				sqlite3_finalize(s);
				return &cprof_enomem;
			}
			t = a;
		}
		struct top *x = &t[n++];
		x->id = (uint64_t)sqlite3_column_int64(s, 0);
		x->size = (uint64_t)sqlite3_column_int64(s, 1);
		x->retained = (uint64_t)sqlite3_column_int64(s, 2);
		x->count = (uint64_t)sqlite3_column_int64(s, 3);
		x->node = sqlite3_column_type(s, 4) == SQLITE_NULL ? NONE :
			  (uint32_t)sqlite3_column_int64(s, 4);
		x->holder = x->node == NONE ? NONE : top_node(nd, x->node);
		if (x->holder == NONE)
			x->node = NONE;
		x->type = sqlite3_column_type(s, 5) == SQLITE_NULL ?
			  UNTYPED | (x->size & ~UNTYPED) : (uint64_t)sqlite3_column_int64(s, 5);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(t);
		return db_error(db, path, "top objects");
	}
	*ret = t;
	*n_ret = n;
	return NULL;
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
static struct cprof_error *describe(sqlite3 *db, const char *path, const struct top *t,
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
	if (!e->shared && g->node != NONE && (err = cprof_query_node(db, path, g->node, &e->holder)))
		return err;
	if ((err = cprof_query_object_id(db, path, big->id, &e->biggest)))
		return err;
	if (e->type_id != CPROF_NONE_ID) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, "SELECT name FROM type WHERE id = ?", -1, &s,
				       NULL) != SQLITE_OK)
			return db_error(db, path, "type");
		sqlite3_bind_int64(s, 1, (sqlite3_int64)e->type_id);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
			snprintf(e->type, sizeof(e->type), "%s",
				 (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
	}
	enum { MAX_PATH = 10000 };
	if ((err = cprof_query_shortest_path(db, path, big->id, MAX_PATH, &e->path)))
		return err;
	return cprof_query_reaching_slots(db, path, &big->id, 1, max_reached,
					  &e->reached_from, &e->n_reached);
}

static struct cprof_error *heap_totals(sqlite3 *db, const char *path, struct cprof_entries *r)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(size), 0),"
			       " coalesce(sum(size) FILTER (WHERE reachable = 1), 0)"
			       " FROM object WHERE reachable IS NOT NULL", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "heap size");
	if (sqlite3_step(s) == SQLITE_ROW) {
		r->heap_bytes = (uint64_t)sqlite3_column_int64(s, 0);
		r->reachable_bytes = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return NULL;
}

struct cprof_error *cprof_query_entries(sqlite3 *db, const char *path, size_t limit,
					size_t max_reached, struct cprof_entries *ret)
{
	struct nodes nd = { 0 };
	struct top *t = NULL;
	struct run *r = NULL;
	size_t n = 0, n_runs = 0;
	memset(ret, 0, sizeof(*ret));
	struct cprof_error *err = heap_totals(db, path, ret);
	if (!err)
		err = load_nodes(db, path, &nd);
	if (!err)
		err = load_tops(db, path, &nd, &t, &n);
	if (!err) {
		if (n)
			qsort(t, n, sizeof(*t), top_cmp);
		err = runs_of(&nd, t, n, &r, &n_runs);
	}
	ret->n_objects = n;
	ret->n_groups = n_runs;
	size_t shown = n_runs < limit ? n_runs : limit;
	if (!err && !(ret->e = calloc(shown + 1, sizeof(*ret->e))))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < shown; i++) {
		ret->n = i + 1;
		err = describe(db, path, t, &r[i], max_reached, &ret->e[i]);
	}
	free(nd.parent);
	free(t);
	free(r);
	if (err)
		cprof_entries_deinit(ret);
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
