/*
 * path.c - `path`'s result (cprof_query_object_paths, include/cprof/store.h):
 * how an object is reached from a root.  By default the shortest path the
 * analysis stored (a breadth-first search from every root slot); asked for
 * several, paths from distinct root slots (a backward search over `ref`,
 * cprof_query_paths).  Each step: the object, where the pointer to it
 * lands, the member of it pointing to the next one, and whether that
 * member lies past the end of the object's type.  A leaked object has no
 * root: its path starts at its leak root, as valgrind's "indirectly lost"
 * block is lost with the "definitely lost" one that points to it.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

/* Objects a backward search for several paths visits at most. */
enum { MAX_VISITS = 1000000 };

/* Whether the word at off of o lies past the end of o's type (1), inside
 * it (0), or nobody knows (-1: no type, or only a guess from the layout).
 * Past the end is memory the object's type does not describe: the slack of
 * the chunk beyond what the program asked for when that type is what was
 * allocated, where stale words from an earlier use of the memory stay. */
static int past_type_end(const struct cprof_obj_row *o, uint64_t off)
{
	if (!o->type_size || !strcmp(o->type_source, "layout"))
		return -1;
	return off >= o->type_size;
}

static struct cprof_error *load_steps(struct sqlite3 *db, const char *path,
				      const struct cprof_root_path *p,
				      struct cprof_object_path *ret)
{
	size_t n = p->n;
	struct cprof_path_step *st = calloc(n + 1, sizeof(*st));
	if (!st)
		return &cprof_enomem;
	ret->slot = p->slot;
	ret->steps = st;
	ret->n = n;
	st[0].entered = p->slot.dst_offset;
	struct cprof_error *err = NULL;
	for (size_t i = 0; !err && i < n; i++) {
		err = cprof_query_object_id(db, path, p->ids[i], &st[i].o);
		st[i].past_type_end = -1;
	}
	for (size_t i = 0; !err && i + 1 < n; i++) {
		err = cprof_query_edge(db, path, p->ids[i], p->ids[i + 1], &st[i].off,
				       &st[i + 1].entered);
		if (!err)
			err = cprof_query_field(db, path, st[i].o.type_id, st[i].off,
						st[i].field, sizeof(st[i].field));
		st[i].past_type_end = past_type_end(&st[i].o, st[i].off);
	}
	return err;
}

/* The stored shortest path: back along path_parent to the root slot. */
static struct cprof_error *shortest(struct sqlite3 *db, const char *path,
				    const struct cprof_obj_row *target,
				    struct cprof_root_path **ret, size_t *n_ret)
{
	struct cprof_root_path *p = calloc(1, sizeof(*p));
	if (!p)
		return &cprof_enomem;
	struct cprof_error *err = cprof_query_shortest_path(db, path, target->id,
							    CPROF_MAX_PATH, p);
	if (!err && !p->n && target->root_distance != CPROF_NONE_ID &&
	    target->root_distance <= CPROF_MAX_PATH)
		/* the walk back along path_parent checks that the distance falls
		   by one at each step: a loop or a gap stops it */
		err = cprof_error_create(CPROF_ERROR_BAD_DATA,
					 "%s: object %llu: its stored path (path_parent) does not lead back to a root in %llu steps: the database is damaged",
					 path, (unsigned long long)target->id,
					 (unsigned long long)target->root_distance);
	else if (!err && !p->n)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA,
					 "%s: object %llu: no stored path of at most %d objects", path,
					 (unsigned long long)target->id, CPROF_MAX_PATH);
	if (err) {
		cprof_root_paths_free(p, 1);
		return err;
	}
	*ret = p;
	*n_ret = 1;
	return NULL;
}

/* A leaked object: the way from its leak root (or roots, with --all), all
 * of it leaked memory; none found within MAX_VISITS objects is said so. */
static struct cprof_error *leak_paths(struct sqlite3 *db, const char *path,
				      const struct cprof_obj_row *target, size_t all,
				      struct cprof_root_path **ret, size_t *n_ret)
{
	struct cprof_error *err = cprof_query_paths(db, path, target->id, true, all ? all : 1,
						    MAX_VISITS, ret, n_ret);
	if (!err && !*n_ret) {
		cprof_root_paths_free(*ret, 0);
		*ret = NULL;
		err = cprof_error_create(CPROF_ERROR_BAD_DATA,
					 "%s: object %llu at 0x%llx is leaked, but no leak root points to it within %d objects",
					 path, (unsigned long long)target->id,
					 (unsigned long long)target->addr, MAX_VISITS);
	}
	return err;
}

static struct cprof_error *find_paths(struct sqlite3 *db, const char *path,
				      const struct cprof_obj_row *target, size_t all,
				      struct cprof_root_path **ret, size_t *n_ret)
{
	if (target->root_distance == CPROF_NONE_ID && target->leak[0] &&
	    strcmp(target->leak, "garbage"))
		return leak_paths(db, path, target, all, ret, n_ret);
	if (target->root_distance == CPROF_NONE_ID)
		return cprof_error_create(CPROF_ERROR_USAGE,
					  "%s: object %llu at 0x%llx is reached from no root%s%s%s",
					  path, (unsigned long long)target->id,
					  (unsigned long long)target->addr,
					  !strcmp(target->leak, "garbage") ?
					  " (it is garbage: the next collection frees it)" :
					  strcmp(target->state, "used") ? " (it is " : "",
					  strcmp(target->state, "used") && strcmp(target->leak, "garbage") ?
					  target->state : "",
					  strcmp(target->state, "used") && strcmp(target->leak, "garbage") ?
					  ": no program's object, nothing to reach)" : "");
	if (all)
		return cprof_query_paths(db, path, target->id, false, all, MAX_VISITS, ret, n_ret);
	return shortest(db, path, target, ret, n_ret);
}

struct cprof_error *cprof_query_object_paths(struct sqlite3 *db, const char *path,
					     const char *spec, size_t all,
					     struct cprof_path_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->all = all != 0;
	struct cprof_obj_row target;
	struct cprof_root_path *paths = NULL;
	size_t n = 0;
	struct cprof_error *err = cprof_query_object(db, path, spec, &target);
	if (!err)
		err = find_paths(db, path, &target, all, &paths, &n);
	if (!err && !(ret->paths = calloc(n + 1, sizeof(*ret->paths))))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n; i++) {
		ret->n = i + 1;
		err = load_steps(db, path, &paths[i], &ret->paths[i]);
	}
	cprof_root_paths_free(paths, n);
	if (err)
		cprof_path_report_deinit(ret);
	return err;
}

void cprof_path_report_deinit(struct cprof_path_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->paths[i].steps);
	free(r->paths);
	memset(r, 0, sizeof(*r));
}
