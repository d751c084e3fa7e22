/*
 * store-internal.h - what the writers of cprof.db (src/store/) share: the
 * store handle and statement helpers.
 */
#ifndef CPROF_STORE_INTERNAL_H
#define CPROF_STORE_INTERNAL_H

#include <sqlite3.h>

#include "btree.h"
#include "cprof/store.h"

/*
 * The file is written in three steps: SQLite makes the schema (every table
 * and index empty); the big tables' trees are appended as pages (bulk.c;
 * `file` is open, `db` is NULL); SQLite opens it again for the small tables
 * and ANALYZE (cprof_store_begin_tables).
 */
struct cprof_store {
	sqlite3 *db;
	char *path;                /* final name */
	char *tmp_path;            /* written here, renamed on commit */
	struct bt_file file;
	bool file_open;
	struct {                   /* the root pages of the trees bulk.c writes */
		uint32_t object, object_addr, object_leak, object_idom, ref, ref_dst;
	} root;
	double t_objects, t_object_indexes, t_refs, t_ref_index;   /* seconds */
};

/* Checks that the object and ref tables and their indexes are the ones
 * bulk.c writes, and finds their root pages (SQLite open, in the schema's
 * transaction). */
struct cprof_error *store_bulk_check(struct cprof_store *st);

/* A leak root's first bytes and the symbols its words point to. */
struct store_preview {
	uint8_t bytes[64];
	size_t len;
	bool ok;                   /* the bytes are in the core */
	char text[1024];           /* "+0x0 app!_ZTV3Foo+0x10; ...", "" when none */
};
void store_preview(struct cprof_core *core, const struct cprof_object *o,
		   struct store_preview *ret);

struct cprof_error *store_prepare(struct cprof_store *st, const char *sql,
				  sqlite3_stmt **ret);
/* Runs an INSERT, then resets the statement and clears its bindings. */
struct cprof_error *store_step(struct cprof_store *st, sqlite3_stmt *stmt);
void store_bind_text(sqlite3_stmt *s, int i, const char *v);   /* NULL: NULL */
void store_bind_u64(sqlite3_stmt *s, int i, uint64_t v);
void store_bind_opt_u32(sqlite3_stmt *s, int i, uint32_t v);   /* UINT32_MAX: NULL */

#endif
