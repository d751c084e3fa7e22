/*
 * show.c - `show`'s result (cprof_query_show, include/cprof/store.h): one
 * object, its dominator chain up to the roots, the root slots pointing at it
 * and the pointers into and out of it.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

/* The idom chain of objects, then the root nodes up to the super-root. */
static struct cprof_error *dominator_chain(struct sqlite3 *db, const char *path,
					   struct cprof_object_report *r)
{
	struct cprof_error *err;
	uint64_t id = r->o.idom, node = r->o.retaining_root;
	while (id != CPROF_NONE_ID) {
		if (r->n_chain == CPROF_MAX_CHAIN) {
			r->chain_cut = true;
			return NULL;
		}
		struct cprof_obj_row *x = &r->chain[r->n_chain++];
		if ((err = cprof_query_object_id(db, path, id, x)))
			return err;
		id = x->idom;
		node = x->retaining_root;
	}
	if (node == CPROF_NONE_ID && r->o.reachable != -1)
		node = 0;       /* shared: only the super-root dominates it */
	while (node != CPROF_NONE_ID && r->n_nodes < CPROF_MAX_CHAIN) {
		struct cprof_node_row *nd = &r->nodes[r->n_nodes++];
		if ((err = cprof_query_node(db, path, node, nd)))
			return err;
		node = nd->parent;
	}
	return NULL;
}

struct cprof_error *cprof_query_show(struct sqlite3 *db, const char *path, const char *spec,
				     size_t limit, struct cprof_object_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = limit;
	struct cprof_error *err = cprof_query_object(db, path, spec, &ret->o);
	if (!err)
		err = dominator_chain(db, path, ret);
	if (!err)
		err = cprof_query_refs(db, path, ret->o.id, true, limit, &ret->out, &ret->n_out,
				       &ret->total_out);
	if (!err)
		err = cprof_query_refs(db, path, ret->o.id, false, limit, &ret->in, &ret->n_in,
				       &ret->total_in);
	if (!err)
		err = cprof_query_slots(db, path, ret->o.id, limit, &ret->slots, &ret->n_slots);
	if (err)
		cprof_object_report_deinit(ret);
	return err;
}

void cprof_object_report_deinit(struct cprof_object_report *r)
{
	free(r->out);
	free(r->in);
	free(r->slots);
	memset(r, 0, sizeof(*r));
}
