/*
 * store-internal.h - what the writers of cprof.db (src/store/) share: the
 * store handle and statement helpers.
 */
#ifndef CPROF_STORE_INTERNAL_H
#define CPROF_STORE_INTERNAL_H

#include <sqlite3.h>

#include "cprof/store.h"

struct cprof_store {
	sqlite3 *db;
	char *path;                /* final name */
	char *tmp_path;            /* written here, renamed on commit */
};

struct cprof_error *store_prepare(struct cprof_store *st, const char *sql,
				  sqlite3_stmt **ret);
/* Runs an INSERT, then resets the statement and clears its bindings. */
struct cprof_error *store_step(struct cprof_store *st, sqlite3_stmt *stmt);
void store_bind_text(sqlite3_stmt *s, int i, const char *v);   /* NULL: NULL */
void store_bind_u64(sqlite3_stmt *s, int i, uint64_t v);
void store_bind_opt_u32(sqlite3_stmt *s, int i, uint32_t v);   /* UINT32_MAX: NULL */

#endif
