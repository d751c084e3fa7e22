/*
 * query.c - the queries the reports share: every report is a query over
 * cprof.db, so the summary of `analyze` and `cprof-core leaks` print the same
 * rows from the same SQL.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

static struct cprof_error *db_error(sqlite3 *db, const char *path,
				    const char *what)
{
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
	" coalesce(sum(size) FILTER (WHERE interior_only = 1), 0)"
	" FROM object WHERE state = 'used'";

static const char rows_sql[] =
	"SELECT id, addr, size, holds_count, holds_bytes, preview, pointers"
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
				  &t->interior_bytes };
		for (int i = 0; i < 8; i++)
			*f[i] = (uint64_t)sqlite3_column_int64(s, i);
	}
	sqlite3_finalize(s);
	t->roots = t->direct_count;

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
