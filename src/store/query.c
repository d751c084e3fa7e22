/*
 * query.c - the queries the reports share: every report is a query over
 * cprof.db, so the summary of `analyze` and `cprof-core leaks` print the same
 * rows from the same SQL.
 */
#include <assert.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

static struct cprof_error *db_error(sqlite3 *db, const char *path,
				    const char *what)
{
	int code = sqlite3_errcode(db) & 0xff;
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: %s: truncated or damaged (%s; run 'cprof-core analyze' again)",
					  path, what, sqlite3_errmsg(db));
	return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s: %s", path, what,
				  sqlite3_errmsg(db));
}

static const char totals_sql[] =
	"SELECT"
	" count(*) FILTER (WHERE leak = 'direct'),"
	" coalesce(sum(size) FILTER (WHERE leak = 'direct'), 0),"
	" count(*) FILTER (WHERE leak = 'indirect'),"
	" coalesce(sum(size) FILTER (WHERE leak = 'indirect'), 0),"
	" count(*) FILTER (WHERE reachable = 1),"
	" coalesce(sum(size) FILTER (WHERE reachable = 1), 0),"
	" count(*) FILTER (WHERE interior_only = 1),"
	" coalesce(sum(size) FILTER (WHERE interior_only = 1), 0),"
	" count(*) FILTER (WHERE leak = 'garbage'),"
	" coalesce(sum(size) FILTER (WHERE leak = 'garbage'), 0),"
	" count(*) FILTER (WHERE flags & 256),"
	" coalesce(sum(size) FILTER (WHERE flags & 256), 0)"
	" FROM object WHERE state = 'used'";

/* What only anonymous mappings keep alive: objects whose retaining root is
 * a mapping root node (memory no walked allocator owns; in a Go process
 * anonymous memory is no root, so none). */
static const char unowned_sql[] =
	"SELECT count(*), coalesce(sum(o.size), 0) FROM object o"
	" JOIN root_node n ON n.id = o.retaining_root"
	" WHERE n.kind = 'mapping' AND o.reachable = 1";

/* The offsets pointers into interior-only objects land at, most first (the
 * smallest among equals), with their counts (cprof_results_leaks counts the
 * same, from the graph). */
static const char interior_sql[] =
	"SELECT r.dst_offset, count(*) AS n FROM ref r JOIN object o ON o.id = r.dst"
	" WHERE o.interior_only = 1 AND r.dst_offset != 0"
	" GROUP BY r.dst_offset ORDER BY n DESC, r.dst_offset";

static void col_text(sqlite3_stmt *s, int i, char *buf, size_t size);

static const char rows_sql[] =
	"SELECT id, addr, size, holds_count, holds_bytes, preview, pointers,"
	" coalesce((SELECT name FROM type WHERE type.id = type_id), '')"
	" FROM object WHERE leak = 'direct' AND holds_bytes >= ?"
	" ORDER BY holds_bytes DESC, id";

struct cprof_error *cprof_query_leaks(sqlite3 *db, const char *path,
				      uint64_t min_bytes, size_t limit,
				      struct cprof_leak_totals *t,
				      struct cprof_leak_row **ret, size_t *n_ret)
{
	sqlite3_stmt *s;
	memset(t, 0, sizeof(*t));
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db, totals_sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "leak totals");
	if (sqlite3_step(s) == SQLITE_ROW) {
		uint64_t *f[] = { &t->direct_count, &t->direct_bytes, &t->indirect_count,
				  &t->indirect_bytes, &t->reachable_count,
				  &t->reachable_bytes, &t->interior_count,
				  &t->interior_bytes, &t->garbage_count, &t->garbage_bytes,
				  &t->internal_count, &t->internal_bytes };
		for (int i = 0; i < 12; i++)
			*f[i] = (uint64_t)sqlite3_column_int64(s, i);
	}
	sqlite3_finalize(s);
	t->roots = t->direct_count;
	/* absent from a database written before it was recorded: 0 */
	if (sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'not_in_core_bytes'",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "meta");
	if (sqlite3_step(s) == SQLITE_ROW)
		t->not_in_core_bytes = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, interior_sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "interior pointers");
	for (int r = 0; sqlite3_step(s) == SQLITE_ROW; r++) {
		uint64_t n = (uint64_t)sqlite3_column_int64(s, 1);
		t->interior_pointers += n;
		if (r < 3) {
			t->interior_offset[r] = (uint64_t)sqlite3_column_int64(s, 0);
			t->interior_offset_count[r] = n;
		}
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, unowned_sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "leak totals");
	if (sqlite3_step(s) == SQLITE_ROW) {
		t->unowned_count = (uint64_t)sqlite3_column_int64(s, 0);
		t->unowned_bytes = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);

	if (sqlite3_prepare_v2(db, rows_sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "leak roots");
	sqlite3_bind_int64(s, 1, (sqlite3_int64)min_bytes);
	size_t n = 0, cap = 0;
	struct cprof_leak_row *rows = NULL;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && (!limit || n < limit)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct cprof_leak_row *a = realloc(rows, cap * sizeof(*a));
			if (!a) {
				sqlite3_finalize(s);
				cprof_leak_rows_free(rows, n);
				return &cprof_enomem;
			}
			rows = a;
		}
		struct cprof_leak_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->id = (uint64_t)sqlite3_column_int64(s, 0);
		r->addr = (uint64_t)sqlite3_column_int64(s, 1);
		r->size = (uint64_t)sqlite3_column_int64(s, 2);
		r->holds_count = (uint64_t)sqlite3_column_int64(s, 3);
		r->holds_bytes = (uint64_t)sqlite3_column_int64(s, 4);
		int len = sqlite3_column_bytes(s, 5);
		const void *blob = sqlite3_column_blob(s, 5);
		if (blob && len > 0) {
			r->preview_len = (size_t)len < sizeof(r->preview) ? (size_t)len :
									   sizeof(r->preview);
			memcpy(r->preview, blob, r->preview_len);
		}
		const unsigned char *p = sqlite3_column_text(s, 6);
		if (p)
			r->pointers = strdup((const char *)p);
		col_text(s, 7, r->type, sizeof(r->type));
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		struct cprof_error *err = db_error(db, path, "leak roots");
		sqlite3_finalize(s);
		cprof_leak_rows_free(rows, n);
		return err;
	}
	sqlite3_finalize(s);
	*ret = rows;
	*n_ret = n;
	return NULL;
}

void cprof_leak_rows_free(struct cprof_leak_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].pointers);
	free(rows);
}

/* The groups of leak roots: by type (the unknown ones together) or by size;
 * SQLite gives a bare column (addr, id) from the row where max() is. */
static const char *const leak_groups_sql[] = {
	"SELECT coalesce((SELECT name FROM type WHERE type.id = type_id), '(unknown type)') AS k,"
	" count(*), sum(size), sum(holds_count), sum(holds_bytes), max(holds_bytes), id, addr"
	" FROM object WHERE leak = 'direct' AND holds_bytes >= ?"
	" GROUP BY k ORDER BY sum(holds_bytes) DESC, k",
	"SELECT size AS k,"
	" count(*), sum(size), sum(holds_count), sum(holds_bytes), max(holds_bytes), id, addr"
	" FROM object WHERE leak = 'direct' AND holds_bytes >= ?"
	" GROUP BY k ORDER BY sum(holds_bytes) DESC, k",
};

static struct cprof_error *leak_groups(sqlite3 *db, const char *path, enum cprof_group_by by,
				       uint64_t min_bytes, size_t limit,
				       struct cprof_leak_report *ret)
{
	assert(by == CPROF_BY_TYPE || by == CPROF_BY_SIZE);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, leak_groups_sql[by == CPROF_BY_SIZE], -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "leak groups");
	sqlite3_bind_int64(s, 1, (sqlite3_int64)min_bytes);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret->groups_of++;
		if (limit && ret->n_groups >= limit)
			continue;
		if (ret->n_groups == cap) {
			cap = cap ? 2 * cap : 64;
			struct cprof_leak_group *a = realloc(ret->groups, cap * sizeof(*a));
			if (!a) {
				sqlite3_finalize(s);
				return &cprof_enomem;
			}
			ret->groups = a;
		}
		struct cprof_leak_group *g = &ret->groups[ret->n_groups++];
		col_text(s, 0, g->key, sizeof(g->key));
		uint64_t *f[] = { &g->roots, &g->bytes, &g->holds_count, &g->holds_bytes };
		for (int i = 0; i < 4; i++)
			*f[i] = (uint64_t)sqlite3_column_int64(s, 1 + i);
		g->example_id = (uint64_t)sqlite3_column_int64(s, 6);
		g->example_addr = (uint64_t)sqlite3_column_int64(s, 7);
	}
	struct cprof_error *err = rc == SQLITE_DONE ? NULL : db_error(db, path, "leak groups");
	sqlite3_finalize(s);
	return err;
}

struct cprof_error *cprof_query_leak_report(sqlite3 *db, const char *path,
					    uint64_t min_bytes, size_t limit, bool grouped,
					    enum cprof_group_by by,
					    struct cprof_leak_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->grouped = grouped;
	ret->by = by;
	struct cprof_error *err = cprof_query_allocators(db, path, &ret->allocators,
							 &ret->n_allocators);
	if (!err)
		err = cprof_query_leaks(db, path, min_bytes, limit, &ret->totals, &ret->rows,
					&ret->n);
	if (!err && grouped)
		err = leak_groups(db, path, by, min_bytes, limit, ret);
	if (err) {
		cprof_leak_report_deinit(ret);
		return err;
	}
	ret->shown_of = min_bytes ? ret->n : ret->totals.roots;
	return NULL;
}

void cprof_leak_report_deinit(struct cprof_leak_report *r)
{
	free(r->allocators);
	free(r->groups);
	cprof_leak_rows_free(r->rows, r->n);
	memset(r, 0, sizeof(*r));
}

/* ---- objects, root nodes, references ---- */

#define OBJ_COLUMNS \
	"id, addr, size, state, coalesce(leak, ''), coalesce(reachable, -1), idom," \
	" retained_bytes, retained_count, retaining_root, root_distance, path_parent," \
	" path_root_ref, coalesce((SELECT name FROM type WHERE type.id = type_id), '')," \
	" coalesce(type_source, ''), type_id," \
	" coalesce((SELECT size FROM type WHERE type.id = type_id), 0)"

static uint64_t col_id(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? CPROF_NONE_ID :
	       (uint64_t)sqlite3_column_int64(s, i);
}

static void col_text(sqlite3_stmt *s, int i, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static void read_obj(sqlite3_stmt *s, struct cprof_obj_row *o)
{
	memset(o, 0, sizeof(*o));
	o->id = col_id(s, 0);
	o->addr = (uint64_t)sqlite3_column_int64(s, 1);
	o->size = (uint64_t)sqlite3_column_int64(s, 2);
	col_text(s, 3, o->state, sizeof(o->state));
	col_text(s, 4, o->leak, sizeof(o->leak));
	o->reachable = sqlite3_column_int(s, 5);
	o->idom = col_id(s, 6);
	o->retained_bytes = (uint64_t)sqlite3_column_int64(s, 7);
	o->retained_count = (uint64_t)sqlite3_column_int64(s, 8);
	o->retaining_root = col_id(s, 9);
	o->root_distance = col_id(s, 10);
	o->path_parent = col_id(s, 11);
	o->path_root_ref = col_id(s, 12);
	col_text(s, 13, o->type, sizeof(o->type));
	col_text(s, 14, o->type_source, sizeof(o->type_source));
	o->type_id = col_id(s, 15);
	o->type_size = (uint64_t)sqlite3_column_int64(s, 16);
}

/* Runs sql with up to two integer parameters; calls row() per result row. */
static struct cprof_error *each_row(sqlite3 *db, const char *path, const char *sql,
				    int n_params, int64_t p1, int64_t p2,
				    bool (*row)(sqlite3_stmt *s, void *arg), void *arg)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "query");
	if (n_params >= 1)
		sqlite3_bind_int64(s, 1, p1);
	if (n_params >= 2)
		sqlite3_bind_int64(s, 2, p2);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (!row(s, arg))
			break;
	struct cprof_error *err = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = db_error(db, path, "query");
	sqlite3_finalize(s);
	return err;
}

static bool one_obj(sqlite3_stmt *s, void *arg)
{
	struct cprof_obj_row *o = arg;
	read_obj(s, o);
	return false;
}

struct cprof_error *cprof_query_object_id(sqlite3 *db, const char *path,
					  uint64_t id, struct cprof_obj_row *ret)
{
	ret->id = CPROF_NONE_ID;
	struct cprof_error *err = each_row(db, path,
		"SELECT " OBJ_COLUMNS " FROM object WHERE id = ?", 1, (int64_t)id, 0,
		one_obj, ret);
	if (!err && ret->id == CPROF_NONE_ID)
		err = cprof_error_create(CPROF_ERROR_USAGE, "%s: no object %llu", path,
					 (unsigned long long)id);
	return err;
}

struct cprof_error *cprof_query_object(sqlite3 *db, const char *path,
				       const char *spec, struct cprof_obj_row *ret)
{
	char *end;
	bool hex = !strncmp(spec, "0x", 2) || !strncmp(spec, "0X", 2);
	unsigned long long v = strtoull(spec, &end, hex ? 16 : 10);
	if (!*spec || *end)
		return cprof_error_create(CPROF_ERROR_USAGE,
					  "'%s' is neither an address (0x...) nor an object id",
					  spec);
	if (!hex)
		return cprof_query_object_id(db, path, v, ret);
	ret->id = CPROF_NONE_ID;
	struct cprof_error *err = each_row(db, path,
		"SELECT " OBJ_COLUMNS " FROM object WHERE addr <= ? ORDER BY addr DESC LIMIT 1",
		1, (int64_t)v, 0, one_obj, ret);
	if (err)
		return err;
	if (ret->id == CPROF_NONE_ID || v >= ret->addr + (ret->size ? ret->size : 1))
		return cprof_error_create(CPROF_ERROR_USAGE,
					  "%s: 0x%llx is in no object (of any allocator walked)",
					  path, v);
	return NULL;
}

static void read_node(sqlite3_stmt *s, struct cprof_node_row *n)
{
	memset(n, 0, sizeof(*n));
	n->id = col_id(s, 0);
	col_text(s, 1, n->kind, sizeof(n->kind));
	col_text(s, 2, n->name, sizeof(n->name));
	n->parent = col_id(s, 3);
	n->retained_bytes = (uint64_t)sqlite3_column_int64(s, 4);
	n->retained_count = (uint64_t)sqlite3_column_int64(s, 5);
}

static bool one_node(sqlite3_stmt *s, void *arg)
{
	read_node(s, arg);
	return false;
}

struct cprof_error *cprof_query_node(sqlite3 *db, const char *path, uint64_t id,
				     struct cprof_node_row *ret)
{
	ret->id = CPROF_NONE_ID;
	struct cprof_error *err = each_row(db, path,
		"SELECT id, kind, name, parent_id, retained_bytes, retained_count"
		" FROM root_node WHERE id = ?", 1, (int64_t)id, 0, one_node, ret);
	if (!err && ret->id == CPROF_NONE_ID)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: no root node %llu",
					 path, (unsigned long long)id);
	return err;
}

/* A growable array filled by a row callback. */
struct rows {
	void *a;
	size_t n, cap, size, limit;
	void (*read)(sqlite3_stmt *s, void *dst);
	bool oom;
};

static bool push_row(sqlite3_stmt *s, void *arg)
{
	struct rows *r = arg;
	if (r->limit && r->n >= r->limit)
		return false;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		void *a = realloc(r->a, cap * r->size);
		if (!a) {
			r->oom = true;
			return false;
		}
		r->a = a;
		r->cap = cap;
	}
	r->read(s, (char *)r->a + r->n * r->size);
	r->n++;
	return true;
}

static void read_obj_v(sqlite3_stmt *s, void *dst) { read_obj(s, dst); }
static void read_node_v(sqlite3_stmt *s, void *dst) { read_node(s, dst); }

static struct cprof_error *collect(sqlite3 *db, const char *path, const char *sql,
				   int n_params, int64_t p1, int64_t p2,
				   struct rows *r, void **ret, size_t *n_ret)
{
	struct cprof_error *err = each_row(db, path, sql, n_params, p1, p2, push_row, r);
	if (!err && r->oom)
		err = &cprof_enomem;
	if (err) {
		free(r->a);
		return err;
	}
	*ret = r->a;
	*n_ret = r->n;
	return NULL;
}

/* The heap shares are of what stays in use: garbage (Go's unreachable
 * objects) goes at the next collection, and counting it made one holder's
 * share depend on how long ago the last collection ran. */
#define HEAP_SQL "SELECT coalesce(sum(size) FILTER (WHERE coalesce(leak, '') != 'garbage'), 0)," \
	" coalesce(sum(size) FILTER (WHERE reachable = 1), 0)," \
	" coalesce(sum(size) FILTER (WHERE leak = 'garbage'), 0)" \
	" FROM object WHERE reachable IS NOT NULL"

struct cprof_error *cprof_query_top(sqlite3 *db, const char *path, size_t limit,
				    struct cprof_obj_row **ret, size_t *n_ret,
				    uint64_t *heap_bytes, uint64_t *garbage_bytes)
{
	sqlite3_stmt *s;
	*heap_bytes = *garbage_bytes = 0;
	if (sqlite3_prepare_v2(db, HEAP_SQL, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "heap size");
	if (sqlite3_step(s) == SQLITE_ROW) {
		*heap_bytes = (uint64_t)sqlite3_column_int64(s, 0);
		*garbage_bytes = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	struct rows r = { .size = sizeof(struct cprof_obj_row), .read = read_obj_v };
	return collect(db, path,
		       "SELECT " OBJ_COLUMNS " FROM object WHERE retained_bytes IS NOT NULL"
		       " ORDER BY retained_bytes DESC, id LIMIT ?", 1, (int64_t)limit, 0,
		       &r, (void **)ret, n_ret);
}

struct cprof_error *cprof_query_top_nodes(sqlite3 *db, const char *path,
					  size_t limit, struct cprof_node_row **ret,
					  size_t *n_ret)
{
	struct rows r = { .size = sizeof(struct cprof_node_row), .read = read_node_v };
	return collect(db, path,
		       "SELECT id, kind, name, parent_id, retained_bytes, retained_count"
		       " FROM root_node WHERE id > 1 AND retained_bytes > 0"
		       " ORDER BY retained_bytes DESC, id LIMIT ?", 1, (int64_t)limit, 0,
		       &r, (void **)ret, n_ret);
}

static bool count_row(sqlite3_stmt *s, void *arg)
{
	*(uint64_t *)arg = (uint64_t)sqlite3_column_int64(s, 0);
	return false;
}

struct cprof_error *cprof_query_biggest_child(sqlite3 *db, const char *path,
					      uint64_t id, bool is_node,
					      struct cprof_obj_row *ret,
					      uint64_t *n_children)
{
	const char *where = is_node ? "idom IS NULL AND retaining_root = ?" : "idom = ?";
	char sql[512];
	ret->id = CPROF_NONE_ID;
	*n_children = 0;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM object WHERE %s", where);
	struct cprof_error *err = each_row(db, path, sql, 1, (int64_t)id, 0, count_row,
					   n_children);
	if (err)
		return err;
	snprintf(sql, sizeof(sql), "SELECT " OBJ_COLUMNS " FROM object WHERE %s"
		 " ORDER BY retained_bytes DESC, id LIMIT 1", where);
	return each_row(db, path, sql, 1, (int64_t)id, 0, one_obj, ret);
}

static void read_ref_out(sqlite3_stmt *s, void *dst)
{
	struct cprof_ref_row *r = dst;
	r->other = col_id(s, 0);
	r->other_addr = (uint64_t)sqlite3_column_int64(s, 1);
	r->other_size = (uint64_t)sqlite3_column_int64(s, 2);
	r->src_offset = (uint64_t)sqlite3_column_int64(s, 3);
	r->dst_offset = (uint64_t)sqlite3_column_int64(s, 4);
}

struct cprof_error *cprof_query_refs(sqlite3 *db, const char *path, uint64_t id,
				     bool out, size_t limit, struct cprof_ref_row **ret,
				     size_t *n_ret, uint64_t *total)
{
	struct cprof_error *err = each_row(db, path,
		out ? "SELECT count(*) FROM ref WHERE src = ?" :
		      "SELECT count(*) FROM ref WHERE dst = ?",
		1, (int64_t)id, 0, count_row, total);
	if (err)
		return err;
	struct rows r = { .size = sizeof(struct cprof_ref_row), .read = read_ref_out };
	return collect(db, path, out ?
		       "SELECT o.id, o.addr, o.size, f.src_offset, f.dst_offset FROM ref f"
		       " JOIN object o ON o.id = f.dst WHERE f.src = ? ORDER BY f.src_offset LIMIT ?" :
		       "SELECT o.id, o.addr, o.size, f.src_offset, f.dst_offset FROM ref f"
		       " JOIN object o ON o.id = f.src WHERE f.dst = ? ORDER BY o.addr LIMIT ?",
		       2, (int64_t)id, (int64_t)limit, &r, (void **)ret, n_ret);
}

static void read_slot(sqlite3_stmt *s, void *dst)
{
	struct cprof_slot_row *r = dst;
	r->id = col_id(s, 0);
	r->slot = (uint64_t)sqlite3_column_int64(s, 1);
	r->dst_offset = (uint64_t)sqlite3_column_int64(s, 2);
	col_text(s, 3, r->slot_name, sizeof(r->slot_name));
	col_text(s, 4, r->root_kind, sizeof(r->root_kind));
}

#define SLOT_SQL \
	"SELECT rr.id, rr.slot, rr.dst_offset, coalesce(rr.slot_name, r.name), r.kind" \
	" FROM root_ref rr JOIN root r ON r.id = rr.root_id"

struct cprof_error *cprof_query_slots(sqlite3 *db, const char *path, uint64_t id,
				      size_t limit, struct cprof_slot_row **ret,
				      size_t *n_ret)
{
	struct rows r = { .size = sizeof(struct cprof_slot_row), .read = read_slot };
	return collect(db, path, SLOT_SQL " WHERE rr.dst = ? ORDER BY rr.id LIMIT ?", 2,
		       (int64_t)id, (int64_t)limit, &r, (void **)ret, n_ret);
}

static bool one_slot(sqlite3_stmt *s, void *arg)
{
	read_slot(s, arg);
	return false;
}

struct cprof_error *cprof_query_slot(sqlite3 *db, const char *path,
				     uint64_t root_ref, struct cprof_slot_row *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = CPROF_NONE_ID;
	return each_row(db, path, SLOT_SQL " WHERE rr.id = ?", 1, (int64_t)root_ref, 0,
			one_slot, ret);
}

struct edge_arg {
	uint64_t *src_off, *dst_off;
	bool found;
};

static bool one_edge(sqlite3_stmt *s, void *arg)
{
	struct edge_arg *a = arg;
	*a->src_off = (uint64_t)sqlite3_column_int64(s, 0);
	*a->dst_off = (uint64_t)sqlite3_column_int64(s, 1);
	a->found = true;
	return false;
}

struct cprof_error *cprof_query_edge(sqlite3 *db, const char *path, uint64_t src,
				     uint64_t dst, uint64_t *src_off, uint64_t *dst_off)
{
	struct edge_arg a = { src_off, dst_off, false };
	*src_off = *dst_off = CPROF_NONE_ID;
	return each_row(db, path,
			"SELECT src_offset, dst_offset FROM ref WHERE src = ? AND dst = ?"
			" ORDER BY src_offset LIMIT 1", 2, (int64_t)src, (int64_t)dst,
			one_edge, &a);
}

struct cprof_error *cprof_query_biggest_child_node(sqlite3 *db, const char *path,
						   uint64_t id, struct cprof_node_row *ret)
{
	ret->id = CPROF_NONE_ID;
	return each_row(db, path,
			"SELECT id, kind, name, parent_id, retained_bytes, retained_count"
			" FROM root_node WHERE parent_id = ? ORDER BY retained_bytes DESC, id LIMIT 1",
			1, (int64_t)id, 0, one_node, ret);
}

struct field_arg {
	char *buf;
	size_t size;
	uint64_t elem, esize, count;
	bool found;
};

static bool field_row(sqlite3_stmt *s, void *arg)
{
	struct field_arg *a = arg;
	col_text(s, 0, a->buf, a->size);
	a->found = true;
	return false;
}

static bool type_row(sqlite3_stmt *s, void *arg)
{
	struct field_arg *a = arg;
	a->elem = col_id(s, 0);
	a->esize = (uint64_t)sqlite3_column_int64(s, 1);
	a->found = true;
	return false;
}

struct cprof_error *cprof_query_field(sqlite3 *db, const char *path, uint64_t type_id,
				      uint64_t off, char *buf, size_t size)
{
	struct field_arg a = { buf, size, CPROF_NONE_ID, 0, 0, false };
	buf[0] = '\0';
	if (type_id == CPROF_NONE_ID)
		return NULL;
	/* An array: the element index, then the element's member. */
	struct cprof_error *err = each_row(db, path,
		"SELECT element_id, (SELECT size FROM type e WHERE e.id = type.element_id)"
		" FROM type WHERE id = ? AND element_id IS NOT NULL", 1, (int64_t)type_id, 0,
		type_row, &a);
	if (err)
		return err;
	char prefix[64] = "";
	if (a.found && a.esize) {
		snprintf(prefix, sizeof(prefix), "[%llu]", (unsigned long long)(off / a.esize));
		off %= a.esize;
		type_id = a.elem;
	}
	a.found = false;
	char field[200] = "";
	a.buf = field;
	a.size = sizeof(field);
	err = each_row(db, path, "SELECT name FROM type_field WHERE type_id = ? AND offset = ?",
		       2, (int64_t)type_id, (int64_t)off, field_row, &a);
	if (err)
		return err;
	if (a.found)
		snprintf(buf, size, "%s%s%s", prefix,
			 field[0] && field[0] != '[' ? "." : "", field);
	else if (prefix[0])
		snprintf(buf, size, "%s", prefix);
	return NULL;
}

/* ---- allocators ---- */

static void column_text(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

struct cprof_error *cprof_query_allocators(sqlite3 *db, const char *path,
					   struct cprof_allocator_row **ret, size_t *n_ret)
{
	sqlite3_stmt *s;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db, "SELECT name, version, module, serves_malloc, heap, reason"
			       " FROM allocator ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "allocators");
	struct cprof_allocator_row *rows = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cprof_allocator_row *a = realloc(rows, (n + 1) * sizeof(*a));
		if (!a) {
			sqlite3_finalize(s);
			free(rows);
			return &cprof_enomem;
		}
		rows = a;
		struct cprof_allocator_row *r = &rows[n++];
		column_text(s, 0, r->name, sizeof(r->name));
		column_text(s, 1, r->version, sizeof(r->version));
		column_text(s, 2, r->module, sizeof(r->module));
		r->serves_malloc = sqlite3_column_int(s, 3) != 0;
		column_text(s, 4, r->heap, sizeof(r->heap));
		column_text(s, 5, r->reason, sizeof(r->reason));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(rows);
		return db_error(db, path, "allocators");
	}
	*ret = rows;
	*n_ret = n;
	return NULL;
}

struct cprof_error *store_shortest_path(const struct store_source *src, uint64_t id,
					size_t max_len, struct cprof_root_path *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->slot.id = CPROF_NONE_ID;
	uint64_t *ids = NULL, *addrs = NULL, root_ref = CPROF_NONE_ID, want = 0;
	struct cprof_error *err = NULL;
	/* From the object back to distance 1, one row a step; the distances
	   must fall by one (a database that says otherwise is not followed). */
	while (id != CPROF_NONE_ID) {
		struct store_path_step st;
		if ((err = src->ops->path_step(src->arg, id, &st)) || !st.found)
			break;
		if (!ids) {
			if (!st.distance || st.distance > max_len)
				break;
			ids = malloc(st.distance * sizeof(*ids));
			addrs = malloc(st.distance * sizeof(*addrs));
			if (!ids || !addrs) {
				err = &cprof_enomem;
				break;
			}
			ret->n = (size_t)st.distance;
			want = st.distance;
		}
		if (st.distance != want)
			break;
		ids[--want] = id;
		addrs[want] = st.addr;
		if (!want)
			root_ref = st.root_ref;
		id = want ? st.parent : CPROF_NONE_ID;
	}
	if (!err && root_ref != CPROF_NONE_ID)
		err = src->ops->slot(src->arg, root_ref, &ret->slot);
	if (err || root_ref == CPROF_NONE_ID || ret->slot.id == CPROF_NONE_ID) {
		free(ids);
		free(addrs);
		memset(ret, 0, sizeof(*ret));
		ret->slot.id = CPROF_NONE_ID;
		return err;
	}
	ret->ids = ids;
	ret->addrs = addrs;
	return NULL;
}

struct cprof_error *cprof_query_shortest_path(sqlite3 *db, const char *path,
					      uint64_t id, size_t max_len,
					      struct cprof_root_path *ret)
{
	struct store_source src;
	struct cprof_error *err = store_db_source_create(db, path, &src);
	if (err)
		return err;
	err = store_shortest_path(&src, id, max_len, ret);
	store_db_source_destroy(&src);
	return err;
}

/* ---- cprof.db as the searches' source ---- */

enum { Q_PATH, Q_SOURCES, Q_SLOT_NAMES, Q_TYPE, N_QUERIES };

static const char *const source_sql[N_QUERIES] = {
	[Q_PATH] = "SELECT path_parent, path_root_ref, root_distance, addr FROM object WHERE id = ?",
	[Q_SOURCES] = "SELECT src FROM ref WHERE dst = ?",
	[Q_SLOT_NAMES] = "SELECT DISTINCT coalesce(slot_name, '?') FROM root_ref WHERE dst = ?",
	[Q_TYPE] = "SELECT name FROM type WHERE id = ?",
};

struct store_db_source {
	sqlite3 *db;
	const char *path;
	sqlite3_stmt *q[N_QUERIES];   /* prepared on first use: a search runs them
					 up to 400000 times */
};

/* Query q, prepared, with its one parameter bound. */
static struct cprof_error *source_query(struct store_db_source *d, int q, uint64_t param,
					sqlite3_stmt **ret)
{
	if (!d->q[q] && sqlite3_prepare_v2(d->db, source_sql[q], -1, &d->q[q], NULL) != SQLITE_OK)
		return db_error(d->db, d->path, "query");
	sqlite3_reset(d->q[q]);
	sqlite3_bind_int64(d->q[q], 1, (sqlite3_int64)param);
	*ret = d->q[q];
	return NULL;
}

/* Steps s once; *row tells whether there was one. */
static struct cprof_error *source_step(struct store_db_source *d, sqlite3_stmt *s, bool *row)
{
	int rc = sqlite3_step(s);
	*row = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? NULL : db_error(d->db, d->path, "query");
}

static struct cprof_error *db_path_step(void *arg, uint64_t id, struct store_path_step *ret)
{
	sqlite3_stmt *s = NULL;
	bool row;
	struct cprof_error *err = source_query(arg, Q_PATH, id, &s);
	if (!err)
		err = source_step(arg, s, &row);
	memset(ret, 0, sizeof(*ret));
	if (err || !row || sqlite3_column_type(s, 2) == SQLITE_NULL)
		return err;
	ret->found = true;
	ret->parent = col_id(s, 0);
	ret->root_ref = col_id(s, 1);
	ret->distance = (uint64_t)sqlite3_column_int64(s, 2);
	ret->addr = (uint64_t)sqlite3_column_int64(s, 3);
	return NULL;
}

static struct cprof_error *db_sources(void *arg, uint64_t v, bool (*fn)(void *, uint64_t),
				      void *fn_arg)
{
	sqlite3_stmt *s = NULL;
	bool row = true;
	struct cprof_error *err = source_query(arg, Q_SOURCES, v, &s);
	while (!err && !(err = source_step(arg, s, &row)) && row &&
	       fn(fn_arg, (uint64_t)sqlite3_column_int64(s, 0)))
		;
	return err;
}

static struct cprof_error *db_slot_names(void *arg, uint64_t v,
					 bool (*fn)(void *, const char *), void *fn_arg)
{
	sqlite3_stmt *s = NULL;
	bool row = true;
	struct cprof_error *err = source_query(arg, Q_SLOT_NAMES, v, &s);
	while (!err && !(err = source_step(arg, s, &row)) && row &&
	       fn(fn_arg, (const char *)sqlite3_column_text(s, 0)))
		;
	return err;
}

static struct cprof_error *db_type_name(void *arg, uint64_t id, char *buf, size_t size)
{
	sqlite3_stmt *s = NULL;
	bool row;
	struct cprof_error *err = source_query(arg, Q_TYPE, id, &s);
	buf[0] = '\0';
	if (!err && !(err = source_step(arg, s, &row)) && row && sqlite3_column_text(s, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	return err;
}

static struct cprof_error *db_slot(void *arg, uint64_t root_ref, struct cprof_slot_row *ret)
{
	struct store_db_source *d = arg;
	return cprof_query_slot(d->db, d->path, root_ref, ret);
}

static struct cprof_error *db_node(void *arg, uint64_t id, struct cprof_node_row *ret)
{
	struct store_db_source *d = arg;
	return cprof_query_node(d->db, d->path, id, ret);
}

static struct cprof_error *db_object(void *arg, uint64_t id, struct cprof_obj_row *ret)
{
	struct store_db_source *d = arg;
	return cprof_query_object_id(d->db, d->path, id, ret);
}

static struct cprof_error *db_totals(void *arg, uint64_t *heap_bytes, uint64_t *reachable_bytes,
				     uint64_t *garbage_bytes)
{
	struct store_db_source *d = arg;
	sqlite3_stmt *s;
	*heap_bytes = *reachable_bytes = *garbage_bytes = 0;
	if (sqlite3_prepare_v2(d->db, HEAP_SQL, -1, &s, NULL) != SQLITE_OK)
		return db_error(d->db, d->path, "heap size");
	if (sqlite3_step(s) == SQLITE_ROW) {
		*heap_bytes = (uint64_t)sqlite3_column_int64(s, 0);
		*reachable_bytes = (uint64_t)sqlite3_column_int64(s, 1);
		*garbage_bytes = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	return NULL;
}

struct cprof_error *cprof_query_site_coverage(sqlite3 *db, const char *path,
					      struct cprof_site_coverage *ret)
{
	sqlite3_stmt *s;
	memset(ret, 0, sizeof(*ret));
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM object_site os JOIN object o"
			       " ON o.id = os.object_id WHERE o.reachable IS NOT NULL"
			       " AND coalesce(o.leak, '') != 'garbage'),"
			       " (SELECT count(*) FROM object WHERE reachable IS NOT NULL"
			       " AND coalesce(leak, '') != 'garbage')", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "allocation records");
	if (sqlite3_step(s) == SQLITE_ROW) {
		ret->recorded = (uint64_t)sqlite3_column_int64(s, 0);
		ret->objects = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return NULL;
}

static struct cprof_error *db_node_parents(void *arg, uint32_t **ret, uint32_t *n_ret)
{
	struct store_db_source *d = arg;
	sqlite3_stmt *s;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(d->db, "SELECT coalesce(max(id) + 1, 0) FROM root_node", -1, &s,
			       NULL) != SQLITE_OK)
		return db_error(d->db, d->path, "root nodes");
	uint64_t n = sqlite3_step(s) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (n >= UINT32_MAX)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %llu root nodes", d->path,
					  (unsigned long long)n);
	uint32_t *parent = malloc((n + 1) * sizeof(*parent));
	if (!parent)
		return &cprof_enomem;
	memset(parent, 0xff, (n + 1) * sizeof(*parent));
	if (sqlite3_prepare_v2(d->db, "SELECT id, parent_id FROM root_node", -1, &s, NULL) != SQLITE_OK) {
		free(parent);
		return db_error(d->db, d->path, "root nodes");
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0), p = sqlite3_column_int64(s, 1);
		/* A parent must come before its child (ids grow downwards): so no
		   walk up the tree can loop, whatever the file says. */
		if (id >= 0 && (uint64_t)id < n && sqlite3_column_type(s, 1) != SQLITE_NULL &&
		    p >= 0 && p < id)
			parent[id] = (uint32_t)p;
	}
	sqlite3_finalize(s);
	*ret = parent;
	*n_ret = (uint32_t)n;
	return NULL;
}

static struct cprof_error *db_tops(void *arg, bool (*fn)(void *, const struct store_top_row *),
				   void *fn_arg)
{
	struct store_db_source *d = arg;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(d->db,
		"SELECT id, size, coalesce(retained_bytes, 0), coalesce(retained_count, 0),"
		" retaining_root, type_id FROM object"
		" WHERE idom IS NULL AND reachable = 1", -1, &s, NULL) != SQLITE_OK)
		return db_error(d->db, d->path, "top objects");
	int rc = SQLITE_DONE;
	bool ok = true;
	while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_top_row r = {
			.id = (uint64_t)sqlite3_column_int64(s, 0),
			.size = (uint64_t)sqlite3_column_int64(s, 1),
			.retained = (uint64_t)sqlite3_column_int64(s, 2),
			.count = (uint64_t)sqlite3_column_int64(s, 3),
			.node = sqlite3_column_type(s, 4) == SQLITE_NULL ? UINT32_MAX :
				(uint32_t)sqlite3_column_int64(s, 4),
			.type = col_id(s, 5),
		};
		ok = fn(fn_arg, &r);
	}
	sqlite3_finalize(s);
	if (ok && rc != SQLITE_DONE)
		return db_error(d->db, d->path, "top objects");
	return ok ? NULL : &cprof_enomem;
}

static const struct store_source_ops db_ops = {
	.totals = db_totals,
	.node_parents = db_node_parents,
	.tops = db_tops,
	.node = db_node,
	.object = db_object,
	.type_name = db_type_name,
	.path_step = db_path_step,
	.slot = db_slot,
	.sources = db_sources,
	.slot_names = db_slot_names,
};

struct cprof_error *store_db_source_create(sqlite3 *db, const char *path,
					   struct store_source *ret)
{
	struct store_db_source *d = calloc(1, sizeof(*d));
	if (!d)
		return &cprof_enomem;
	d->db = db;
	d->path = path;
	ret->ops = &db_ops;
	ret->arg = d;
	return NULL;
}

void store_db_source_destroy(struct store_source *src)
{
	struct store_db_source *d = src->arg;
	for (int q = 0; d && q < N_QUERIES; q++)
		sqlite3_finalize(d->q[q]);
	free(d);
	src->arg = NULL;
}
