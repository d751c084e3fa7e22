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
 * `file` is open, `db` is NULL; two threads may write two trees at once:
 * the file hands out pages under its lock); SQLite opens it again for the
 * small tables and ANALYZE (cprof_store_begin_tables).
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
	/* seconds, and bytes of buffers and sorts; each written by one thread */
	double t_objects, t_object_keys, t_object_idom, t_refs, t_ref_index;
	uint64_t idom_bytes, ref_index_bytes;
};

/* Checks that the object and ref tables and their indexes are the ones
 * bulk.c writes, and finds their root pages (SQLite open, in the schema's
 * transaction). */
struct cprof_error *store_bulk_check(struct cprof_store *st);

struct cprof_error *store_prepare(struct cprof_store *st, const char *sql,
				  sqlite3_stmt **ret);
/* Runs an INSERT, then resets the statement and clears its bindings (for
 * statements whose rows bind some columns only). */
struct cprof_error *store_step(struct cprof_store *st, sqlite3_stmt *stmt);
/* The same without clearing: every column is bound for every row. */
struct cprof_error *store_step_bound(struct cprof_store *st, sqlite3_stmt *stmt);
void store_bind_text(sqlite3_stmt *s, int i, const char *v);   /* NULL: NULL */
void store_bind_u64(sqlite3_stmt *s, int i, uint64_t v);
void store_bind_opt_u32(sqlite3_stmt *s, int i, uint32_t v);   /* UINT32_MAX: NULL */

/* The allocator table's row of a (NULL columns are ""). */
void store_allocator_row(const struct cprof_allocator *a, struct cprof_allocator_row *ret);

/* Root slots are named (a symbol lookup each) up to this many: the others'
 * slot_name is NULL, '?' for the searches. */
enum { STORE_NAMED_SLOTS = 1 << 20 };
/* The name of root_ref i, into buf (320 bytes); false when it has none. */
bool store_slot_name(struct cprof_core *core, const struct cprof_roots *roots,
		     const struct cprof_graph *g, size_t i, char *buf, size_t size);

/* ---- what the reports' searches read: cprof.db, or the analysis in memory ---- */

/*
 * The summary of `analyze` is printed before cprof.db is complete, from the
 * analysis in memory (memory.c); `top`, `leaks`, `roots` and `path` read the
 * database (query.c).  Both go through one implementation of each search
 * (the top entries, a shortest path, the root slots reaching an object),
 * which reads through this interface: they cannot disagree.
 */
struct store_top_row {
	uint64_t id, size, retained, count;
	uint32_t node;             /* the retaining root node, UINT32_MAX when none */
	uint64_t type;             /* type id, CPROF_NONE_ID when unknown */
};

struct store_path_step {
	bool found;                /* the object has a root distance */
	uint64_t parent, root_ref, distance, addr;   /* CPROF_NONE_ID when NULL */
};

struct store_source_ops {
	/* used objects' bytes (reachable or leaked), and the reachable ones' */
	struct cprof_error *(*totals)(void *arg, uint64_t *heap_bytes, uint64_t *reachable_bytes,
				      uint64_t *garbage_bytes);
	/* each root node's parent (ids 0 .. *n_ret - 1; UINT32_MAX: none, or a
	   parent that does not come before its child); *ret is malloc'd */
	struct cprof_error *(*node_parents)(void *arg, uint32_t **ret, uint32_t *n_ret);
	/* the reachable objects with no object as immediate dominator, in id
	   order; fn returns false on failure (out of memory) */
	struct cprof_error *(*tops)(void *arg, bool (*fn)(void *fn_arg, const struct store_top_row *r),
				    void *fn_arg);
	struct cprof_error *(*node)(void *arg, uint64_t id, struct cprof_node_row *ret);
	struct cprof_error *(*object)(void *arg, uint64_t id, struct cprof_obj_row *ret);
	/* a type's name, "" when there is none */
	struct cprof_error *(*type_name)(void *arg, uint64_t id, char *buf, size_t size);
	struct cprof_error *(*path_step)(void *arg, uint64_t id, struct store_path_step *ret);
	/* ret->id CPROF_NONE_ID when there is no such root_ref */
	struct cprof_error *(*slot)(void *arg, uint64_t root_ref, struct cprof_slot_row *ret);
	/* the objects pointing into v, increasing, once per pointer, while fn
	   returns true */
	struct cprof_error *(*sources)(void *arg, uint64_t v, bool (*fn)(void *fn_arg, uint64_t src),
				       void *fn_arg);
	/* the names of the root slots pointing into v ("?" when unnamed), in
	   root_ref order, while fn returns true */
	struct cprof_error *(*slot_names)(void *arg, uint64_t v,
					  bool (*fn)(void *fn_arg, const char *name), void *fn_arg);
};

struct store_source {
	const struct store_source_ops *ops;
	void *arg;
};

/* cprof.db as a source (query.c); store_db_source_deinit finalizes what
 * it prepared. */
struct store_db_source;
struct cprof_error *store_db_source_create(sqlite3 *db, const char *path,
					   struct store_source *ret);
void store_db_source_destroy(struct store_source *src);

/* The searches (entries.c, query.c, groups.c). */
struct cprof_error *store_entries(const struct store_source *src, size_t limit,
				  size_t max_reached, struct cprof_entries *ret);
struct cprof_error *store_shortest_path(const struct store_source *src, uint64_t id,
					size_t max_len, struct cprof_root_path *ret);
struct cprof_error *store_reaching_slots(const struct store_source *src,
					 const uint64_t *objects, size_t n, size_t max_names,
					 char ***ret, size_t *n_ret);

#endif
