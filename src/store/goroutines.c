/*
 * goroutines.c - writing a Go process's goroutines to cprof.db: the tables
 * goroutine, goroutine_frame and goroutine_group (formats/schema.sql), each
 * goroutine and group tied to its root node, whose retained size is what it
 * alone keeps alive.
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "cprof/analysis.h"
#include "cprof/goruntime.h"

/* "fn (file:line)" of a return address. */
static void site_name(struct cprof_core *core, uint64_t pc, char *buf, size_t size)
{
	struct cprof_symbol sym;
	cprof_core_symbolize(core, pc, true, &sym);
	cprof_symbol_where(&sym, pc, buf, size);
}

static const char *function_at(struct cprof_core *core, uint64_t pc)
{
	struct cprof_symbol sym;
	cprof_core_symbolize(core, pc, false, &sym);
	return sym.function;
}

/* One row per call: a frame's inlined calls, then its own function. */
static struct cprof_error *store_frames(struct cprof_store *st, sqlite3_stmt *f,
					struct cprof_core *core, size_t id,
					const struct cprof_goroutine *g)
{
	struct cprof_error *err = NULL;
	for (size_t k = 0; !err && k < g->n_frames; k++) {
		const struct cprof_go_frame *fr = &g->frames[k];
		struct cprof_symbol sym;
		cprof_core_symbolize(core, fr->pc, !fr->exact, &sym);
		for (uint32_t i = 0; !err && i < fr->n_calls; i++) {
			const struct cprof_go_call *c = &fr->calls[i];
			bool known = strcmp(c->function, "?");
			store_bind_u64(f, 1, id);
			store_bind_u64(f, 2, fr->depth + i);
			store_bind_u64(f, 3, fr->pc);
			store_bind_u64(f, 4, fr->sp);
			store_bind_text(f, 5, known ? c->function : sym.function);
			if (!c->inlined && sym.function)
				store_bind_u64(f, 6, sym.offset);
			if (known && strcmp(c->file, "?")) {
				store_bind_text(f, 7, c->file);
				sqlite3_bind_int(f, 8, c->line);
			}
			sqlite3_bind_int(f, 9, c->inlined);
			err = store_step(st, f);
		}
	}
	return err;
}

static struct cprof_error *store_groups(struct cprof_store *st, struct cprof_core *core,
					const struct cprof_go_runtime *go,
					const uint32_t *group_node)
{
	/* Per group, in one pass: its goroutines, their stacks, the lowest goid. */
	struct group_sum { const struct cprof_goroutine *first; uint64_t count, stack_bytes; } *sum =
		calloc(go->n_groups + 1, sizeof(*sum));
	if (!sum)
		return &cprof_enomem;
	for (size_t i = 0; i < go->n_goroutines; i++) {
		const struct cprof_goroutine *g = &go->goroutines[i];
		struct group_sum *gs = &sum[g->group];
		gs->count++;
		gs->stack_bytes += g->stack_hi - g->stack_lo;
		if (!gs->first || g->goid < gs->first->goid)
			gs->first = g;
	}
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO goroutine_group VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
	for (size_t grp = 0; !err && grp < go->n_groups; grp++) {
		const struct cprof_goroutine *first = sum[grp].first;
		uint64_t count = sum[grp].count, stack_bytes = sum[grp].stack_bytes;
		if (!first)
			continue;
		char created[320];
		site_name(core, first->gopc, created, sizeof(created));
		char *stack = cprof_go_stack_functions(core, first);
		store_bind_u64(s, 1, grp);
		store_bind_text(s, 2, first->status_name);
		store_bind_text(s, 3, *first->wait_reason ? first->wait_reason : NULL);
		store_bind_u64(s, 4, count);
		store_bind_text(s, 5, cprof_go_function(core, first));
		store_bind_text(s, 6, first->gopc && first->goid != 1 ? created : NULL);
		store_bind_text(s, 7, stack);
		store_bind_u64(s, 8, stack_bytes);
		store_bind_opt_u32(s, 9, group_node[grp]);
		free(stack);
		err = store_step(st, s);
	}
	sqlite3_finalize(s);
	free(sum);
	return err;
}

struct cprof_error *cprof_store_goroutines(struct cprof_store *st,
					   struct cprof_core *core,
					   const struct cprof_go_runtime *go, uint32_t owner,
					   const struct cprof_retention *rt)
{
	if (!go)
		return NULL;
	/* The root nodes of each goroutine and group, when they hold anything. */
	uint32_t *gnode = malloc((go->n_goroutines + 1) * sizeof(uint32_t));
	uint32_t *grnode = malloc((go->n_groups + 1) * sizeof(uint32_t));
	sqlite3_stmt *s = NULL, *f = NULL;
	struct cprof_error *err = NULL;
	if (!gnode || !grnode) {
		err = &cprof_enomem;
		goto out;
	}
	memset(gnode, 0xff, (go->n_goroutines + 1) * sizeof(uint32_t));
	memset(grnode, 0xff, (go->n_groups + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < rt->n_nodes; i++) {
		const struct cprof_root_node *nd = &rt->nodes[i];
		if (nd->kind != CPROF_RN_RUNTIME || nd->owner != (int)owner)
			continue;
		if (nd->level == 1 && nd->key < go->n_goroutines)
			gnode[nd->key] = (uint32_t)i;
		else if (nd->level == 0 && nd->key < go->n_groups &&
			 !strcmp(nd->kind_name, "goroutines"))
			grnode[nd->key] = (uint32_t)i;
	}
	if ((err = store_prepare(st, "INSERT INTO goroutine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s)) ||
	    (err = store_prepare(st, "INSERT INTO goroutine_frame VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &f)))
		goto out;
	for (size_t i = 0; !err && i < go->n_goroutines; i++) {
		const struct cprof_goroutine *g = &go->goroutines[i];
		char created[320];
		site_name(core, g->gopc, created, sizeof(created));
		store_bind_u64(s, 1, i);
		store_bind_u64(s, 2, g->goid);
		store_bind_u64(s, 3, g->g);
		store_bind_text(s, 4, g->status_name);
		store_bind_text(s, 5, *g->wait_reason ? g->wait_reason : NULL);
		store_bind_u64(s, 6, g->group);
		if (g->thread >= 0)
			store_bind_u64(s, 7, (uint64_t)g->thread);
		if (g->stack_hi) {
			store_bind_u64(s, 8, g->stack_lo);
			store_bind_u64(s, 9, g->stack_hi);
			store_bind_u64(s, 10, g->sp);
		}
		store_bind_text(s, 11, function_at(core, g->startpc));
		/* goroutine 1 (main's) is started by the runtime's assembly
		   (rt0_go): its traceback names no creator, nor does this */
		store_bind_text(s, 12, g->gopc && g->goid != 1 ? created : NULL);
		if (g->parent_goid)
			store_bind_u64(s, 13, g->parent_goid);
		store_bind_opt_u32(s, 14, gnode[i]);
		sqlite3_bind_int(s, 15, g->signalled);
		if (!(err = store_step(st, s)))
			err = store_frames(st, f, core, i, g);
	}
	if (!err)
		err = store_groups(st, core, go, grnode);
out:
	sqlite3_finalize(s);
	sqlite3_finalize(f);
	free(gnode);
	free(grnode);
	return err;
}

/* ---- reading: `cprof-core goroutines` ---- */

static const char groups_sql[] =
	"SELECT g.id, g.status, coalesce(g.wait_reason, ''), g.count,"
	" coalesce(g.function, '?'), coalesce(g.created_by, ''), coalesce(g.stack, ''),"
	" g.stack_bytes, coalesce(r.retained_bytes, 0), coalesce(r.retained_count, 0),"
	" coalesce((SELECT x.function FROM goroutine x WHERE x.group_id = g.id"
	" ORDER BY x.goid LIMIT 1), ''),"
	" coalesce((SELECT x.goid FROM goroutine x WHERE x.group_id = g.id AND x.signalled), 0)"
	" FROM goroutine_group g LEFT JOIN root_node r ON r.id = g.root_node_id"
	" ORDER BY 9 DESC, g.count DESC, g.id";

static void copy_col(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

/* The lowest goroutine ids of group row r, into r->goids. */
static struct cprof_error *group_goids(sqlite3 *db, const char *path,
				       struct cprof_goroutine_group_row *r)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT goid FROM goroutine WHERE group_id = ?"
			       " ORDER BY goid LIMIT 5", -1, &s, NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: goroutines: %s", path,
					  sqlite3_errmsg(db));
	sqlite3_bind_int64(s, 1, (sqlite3_int64)r->id);
	while (r->n_goids < 5 && sqlite3_step(s) == SQLITE_ROW)
		r->goids[r->n_goids++] = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return NULL;
}

struct cprof_error *cprof_query_goroutine_groups(sqlite3 *db, const char *path,
						 struct cprof_goroutine_group_row **ret,
						 size_t *n_ret)
{
	sqlite3_stmt *s;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db, groups_sql, -1, &s, NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: goroutine groups: %s",
					  path, sqlite3_errmsg(db));
	struct cprof_goroutine_group_row *rows = NULL;
	size_t n = 0, cap = 0;
	struct cprof_error *err = NULL;
	while (!err && sqlite3_step(s) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct cprof_goroutine_group_row *a = realloc(rows, cap * sizeof(*a));
			if (!a) {
				err = &cprof_enomem;
				break;
			}
			rows = a;
		}
		struct cprof_goroutine_group_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->id = (uint64_t)sqlite3_column_int64(s, 0);
		copy_col(s, 1, r->status, sizeof(r->status));
		copy_col(s, 2, r->wait_reason, sizeof(r->wait_reason));
		r->count = (uint64_t)sqlite3_column_int64(s, 3);
		copy_col(s, 4, r->function, sizeof(r->function));
		copy_col(s, 5, r->created_by, sizeof(r->created_by));
		copy_col(s, 6, r->stack, sizeof(r->stack));
		r->stack_bytes = (uint64_t)sqlite3_column_int64(s, 7);
		r->retained_bytes = (uint64_t)sqlite3_column_int64(s, 8);
		r->retained_count = (uint64_t)sqlite3_column_int64(s, 9);
		copy_col(s, 10, r->start_function, sizeof(r->start_function));
		r->signalled = (uint64_t)sqlite3_column_int64(s, 11);
		err = group_goids(db, path, r);
	}
	sqlite3_finalize(s);
	if (err) {
		free(rows);
		return err;
	}
	*ret = rows;
	*n_ret = n;
	return NULL;
}

struct cprof_error *cprof_query_goroutines(sqlite3 *db, const char *path,
					   struct cprof_goroutines_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct cprof_error *err = cprof_query_goroutine_groups(db, path, &ret->groups, &ret->n);
	for (size_t i = 0; !err && i < ret->n; i++)
		ret->goroutines += ret->groups[i].count;
	return err;
}

void cprof_goroutines_report_deinit(struct cprof_goroutines_report *r)
{
	free(r->groups);
	memset(r, 0, sizeof(*r));
}
