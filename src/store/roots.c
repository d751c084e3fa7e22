/*
 * roots.c - `roots`' result (cprof_query_roots, include/cprof/store.h): the
 * objects of matching types grouped by their retaining root node
 * (cprof_query_groups_at), and per group what a reader needs to believe it:
 * an example object, the shortest path the analysis stored to it, and when
 * the root is not one slot, root slots from which the example is reachable.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

/* Root slots listed for a root that is not one slot. */
enum { MAX_REACHING = 5 };

/* A root that is not one slot - several parts of a module, a thread, a
 * goroutine group, or none at all - does not say by itself where its
 * objects are reached from. */
static bool several_slots(const struct cprof_group_row *g)
{
	return !strcmp(g->kind, "shared") || !strcmp(g->kind, "module") ||
	       !strcmp(g->kind, "thread") || !strcmp(g->kind, "goroutines");
}

static struct cprof_error *describe(struct sqlite3 *db, const char *path,
				    struct cprof_root_group *r)
{
	struct cprof_error *err = cprof_query_object_id(db, path, r->g.example, &r->example);
	if (!err)
		err = cprof_query_shortest_path(db, path, r->g.example, CPROF_MAX_PATH, &r->path);
	if (!err && several_slots(&r->g))
		err = cprof_query_reaching_slots(db, path, &r->g.example, 1, MAX_REACHING,
						 &r->reached_from, &r->n_reached);
	return err;
}

struct cprof_error *cprof_query_roots(struct sqlite3 *db, const char *path,
				      const char *type_pattern, const char *site_pattern,
				      size_t limit, struct cprof_roots_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->filtered = type_pattern || site_pattern;
	struct cprof_group_row *g = NULL;
	size_t n = 0;
	struct cprof_error *err = cprof_query_allocators(db, path, &ret->allocators,
							 &ret->n_allocators);
	if (!err)
		err = cprof_query_groups_at(db, path, CPROF_BY_ROOT, type_pattern, site_pattern,
					    &g, &n);
	if (n > limit)
		n = limit;
	if (!err && !(ret->groups = calloc(n + 1, sizeof(*ret->groups))))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n; i++) {
		ret->groups[i].g = g[i];
		ret->n = i + 1;
		err = describe(db, path, &ret->groups[i]);
	}
	free(g);
	if (!err)
		err = cprof_query_garbage(db, path, type_pattern, site_pattern, &ret->garbage_count,
					  &ret->garbage_bytes);
	sqlite3_stmt *s;
	if (!err && type_pattern) {
		if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(size), 0) FROM object"
				       " WHERE reachable = 1 AND type_id IS NULL", -1, &s,
				       NULL) != SQLITE_OK)
			err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: untyped objects: %s", path,
						 sqlite3_errmsg(db));
		else {
			if (sqlite3_step(s) == SQLITE_ROW) {
				ret->untyped_count = (uint64_t)sqlite3_column_int64(s, 0);
				ret->untyped_bytes = (uint64_t)sqlite3_column_int64(s, 1);
			}
			sqlite3_finalize(s);
		}
	}
	if (err)
		cprof_roots_report_deinit(ret);
	return err;
}

void cprof_roots_report_deinit(struct cprof_roots_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct cprof_root_group *x = &r->groups[i];
		for (size_t k = 0; k < x->n_reached; k++)
			free(x->reached_from[k]);
		free(x->reached_from);
		free(x->path.ids);
		free(x->path.addrs);
	}
	free(r->groups);
	free(r->allocators);
	memset(r, 0, sizeof(*r));
}
