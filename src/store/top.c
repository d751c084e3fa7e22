/*
 * top.c - `top`'s result (cprof_query_top_report, include/cprof/store.h):
 * where the memory is (cprof_query_entries), then the root nodes and the
 * objects that retain the most, as Eclipse MAT's leak suspects: each one
 * retaining more than SUSPECT of the heap gets its accumulation point -
 * going down the dominator tree while one child holds DESCEND of what its
 * parent retains, the object (or root) where the memory spreads over many
 * children.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

/* One child holding this share of its parent's retained bytes is followed. */
static const double DESCEND = 0.8;
/* A row retaining more than this share of the heap is a suspect. */
static const double SUSPECT = 0.1;
/* A dominator tree is no deeper than its objects; a database that says
 * otherwise (a cycle) is not followed further. */
enum { MAX_DEPTH = 100000 };

/* Down the root hierarchy from node a->id while one child node holds most:
 * module -> global, thread -> frame.  Whether it went down. */
static struct cprof_error *down_nodes(struct sqlite3 *db, const char *path,
				      struct cprof_accumulation *a, bool *went)
{
	struct cprof_node_row cn;
	struct cprof_error *err = cprof_query_biggest_child_node(db, path, a->id, &cn);
	*went = !err && cn.id != CPROF_NONE_ID &&
		(double)cn.retained_bytes >= DESCEND * (double)a->retained;
	a->biggest_node = 0;
	if (!err && !*went && cn.id != CPROF_NONE_ID) {
		/* it stays here: say what its roots below hold too, not only
		   the objects directly below it (gopls' module root kept 152 of
		   its 159 MiB under two globals) */
		a->biggest_node = cn.retained_bytes;
		snprintf(a->biggest_node_name, sizeof(a->biggest_node_name), "%s", cn.name);
	}
	if (*went) {
		a->id = cn.id;
		a->retained = cn.retained_bytes;
		snprintf(a->name, sizeof(a->name), "%s", cn.name);
	}
	return err;
}

static struct cprof_error *accumulation_point(struct sqlite3 *db, const char *path,
					      uint64_t id, bool is_node, uint64_t addr,
					      const char *type, uint64_t retained,
					      struct cprof_accumulation *ret)
{
	struct cprof_accumulation a = { .found = true, .is_node = is_node, .id = id,
					.addr = addr, .retained = retained };
	snprintf(a.type, sizeof(a.type), "%s", type);
	/* Brent's cycle check on the way down: a damaged cprof.db whose idom or
	   parent_id links loop is said to be so, not followed MAX_DEPTH times. */
	uint64_t tortoise = UINT64_MAX, power = 1, lam = 0;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		struct cprof_obj_row child;
		uint64_t n;
		struct cprof_error *err;
		bool went = false;
		uint64_t key = (a.is_node ? 1ull << 63 : 0) | a.id;
		if (key == tortoise)
			return cprof_error_create(CPROF_ERROR_BAD_DATA,
						  "%s: the dominator tree loops at %s %llu (idom or root_node.parent_id): the database is damaged",
						  path, a.is_node ? "root node" : "object",
						  (unsigned long long)a.id);
		if (++lam == power || tortoise == UINT64_MAX) {
			tortoise = key;
			power *= 2;
			lam = 0;
		}
		if (a.is_node && (err = down_nodes(db, path, &a, &went)))
			return err;
		if (went)
			continue;
		err = cprof_query_biggest_child(db, path, a.id, a.is_node, &child, &n);
		if (err)
			return err;
		a.children = n;
		a.biggest = child.id == CPROF_NONE_ID ? 0 : child.retained_bytes;
		if (child.id == CPROF_NONE_ID ||
		    (double)child.retained_bytes < DESCEND * (double)a.retained)
			break;
		a.is_node = false;
		a.id = child.id;
		a.addr = child.addr;
		a.retained = child.retained_bytes;
		snprintf(a.type, sizeof(a.type), "%s", child.type);
	}
	*ret = a;
	return NULL;
}

static bool suspect(uint64_t retained, uint64_t heap)
{
	return heap && 100.0 * (double)retained / (double)heap > 100 * SUSPECT;
}

/* The name of root node id, as `top` shows who retains an object. */
static void node_name(struct sqlite3 *db, const char *path, uint64_t id, char *buf, size_t size)
{
	struct cprof_node_row n;
	struct cprof_error *err = NULL;
	if (id == CPROF_NONE_ID)
		snprintf(buf, size, "several roots (shared)");
	else if ((err = cprof_query_node(db, path, id, &n)))
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "%s", n.name);
	cprof_error_destroy(err);
}

/* The accumulation points of the suspects among the nodes and objects. */
static struct cprof_error *points(struct sqlite3 *db, const char *path,
				  struct cprof_top_report *r)
{
	struct cprof_error *err = NULL;
	for (size_t i = 0; !err && i < r->n_nodes; i++) {
		const struct cprof_node_row *nd = &r->nodes[i];
		struct cprof_accumulation *a = &r->node_points[i];
		if (!suspect(nd->retained_bytes, r->heap_bytes))
			continue;
		err = accumulation_point(db, path, nd->id, true, 0, "", nd->retained_bytes, a);
		if (!err && a->is_node && !a->name[0])
			snprintf(a->name, sizeof(a->name), "%s", nd->name);
	}
	for (size_t i = 0; !err && i < r->n_objs; i++) {
		const struct cprof_obj_row *o = &r->objs[i];
		if (suspect(o->retained_bytes, r->heap_bytes))
			err = accumulation_point(db, path, o->id, false, o->addr, o->type,
						 o->retained_bytes, &r->obj_points[i]);
	}
	return err;
}

struct cprof_error *cprof_query_top_report(struct sqlite3 *db, const char *path, size_t limit,
					   size_t max_reached, struct cprof_top_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct cprof_error *err = cprof_query_allocators(db, path, &ret->allocators,
							 &ret->n_allocators);
	if (!err)
		err = cprof_query_top(db, path, limit, &ret->objs, &ret->n_objs, &ret->heap_bytes,
				      &ret->garbage_bytes);
	if (!err)
		err = cprof_query_top_nodes(db, path, limit, &ret->nodes, &ret->n_nodes);
	if (!err)
		err = cprof_query_entries(db, path, limit, max_reached, &ret->entries);
	if (!err) {
		ret->node_points = calloc(ret->n_nodes + 1, sizeof(*ret->node_points));
		ret->obj_points = calloc(ret->n_objs + 1, sizeof(*ret->obj_points));
		ret->retained_by = calloc(ret->n_objs + 1, sizeof(*ret->retained_by));
		if (!ret->node_points || !ret->obj_points || !ret->retained_by)
			err = &cprof_enomem;
	}
	if (!err)
		err = points(db, path, ret);
	for (size_t i = 0; !err && i < ret->n_objs; i++)
		node_name(db, path, ret->objs[i].retaining_root, ret->retained_by[i],
			  sizeof(ret->retained_by[i]));
	if (err)
		cprof_top_report_deinit(ret);
	return err;
}

void cprof_top_report_deinit(struct cprof_top_report *r)
{
	free(r->allocators);
	cprof_entries_deinit(&r->entries);
	free(r->nodes);
	free(r->node_points);
	free(r->objs);
	free(r->obj_points);
	free(r->retained_by);
	memset(r, 0, sizeof(*r));
}
