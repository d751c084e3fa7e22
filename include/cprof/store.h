/*
 * store.h - cprof.db: writing the analysis, opening it for the queries.
 *
 * In:  the core model, the heap walk, and (later) the graph and its analyses.
 * Out: a SQLite file whose schema is formats/schema.sql, documented in
 *      docs/schema.md.  Like perf.data: the analysis writes it once, every
 *      query command reads it.
 *
 * Writing is built for speed and safety (see shared research on bulk loads):
 * the file is created under a temporary name in the destination's directory,
 * with page_size 65536, journal off, synchronous off, exclusive locking; rows
 * go in through prepared multi-row INSERTs inside one transaction; indexes are
 * created after the rows; then ANALYZE, and the file is renamed into place (the
 * previous one kept as NAME.old).  A failed run leaves no partial cprof.db.
 */
#ifndef CPROF_STORE_H
#define CPROF_STORE_H

#include <stdint.h>

#include "cprof/core.h"
#include "cprof/error.h"
#include "cprof/heap.h"

struct sqlite3;

enum { CPROF_SCHEMA_VERSION = 1 };

struct cprof_store;

/* Creates the temporary file next to path and the schema's tables. */
struct cprof_error *cprof_store_create(const char *path,
				       struct cprof_store **ret);
/* Drops the temporary file (after an error); accepts NULL. */
void cprof_store_abort(struct cprof_store *st);
/* Builds the indexes, ANALYZE, closes, renames into place; frees st. */
struct cprof_error *cprof_store_commit(struct cprof_store *st);

struct cprof_error *cprof_store_meta(struct cprof_store *st, const char *key,
				     const char *value);
/* module, mapping, thread and frame tables, from the core model. */
struct cprof_error *cprof_store_core(struct cprof_store *st,
				     struct cprof_core *core);
/* heap, arena and allocator_stat tables. */
struct cprof_error *cprof_store_heaps(struct cprof_store *st,
				      const struct cprof_heap_walk *walk);
/* The object table, in one pass over the array (ids are array indexes). */
struct cprof_error *cprof_store_objects(struct cprof_store *st,
					const struct cprof_object *objs,
					size_t n,
					void (*progress)(size_t done, size_t total, void *arg),
					void *arg);

/* Opens an existing cprof.db for reading, checking it is one of ours. */
struct cprof_error *cprof_store_open(const char *path, struct sqlite3 **ret);

#endif
