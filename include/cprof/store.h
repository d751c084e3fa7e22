/*
 * store.h - cprof.db: writing the analysis, opening it for the queries.
 *
 * In:  the core model, the heap walk, and (later) the graph and its analyses.
 * Out: a SQLite file whose schema is formats/schema.sql, documented in
 *      docs/schema.md.  Like perf.data: the analysis writes it once, every
 *      query command reads it.
 *
 * Writing is built for speed and safety: the file is created under a
 * temporary name in the destination's directory, with page_size 65536,
 * journal off, synchronous off, exclusive locking, and every table and index
 * of the schema, empty.  The two big tables, object and ref, and their
 * indexes are then written in key order as b-tree pages of SQLite's file
 * format (src/store/btree.h: no insert path, no sorter); SQLite opens the file
 * again for the small tables (prepared INSERTs in one transaction) and
 * ANALYZE, and the file is renamed into place (the previous one kept as
 * NAME.old, by a hard link made before the rename, so that a kill at any
 * moment leaves the old or the new database at its name).  A failed run
 * leaves no partial cprof.db.
 */
#ifndef CPROF_STORE_H
#define CPROF_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/error.h"
#include "cprof/heap.h"

struct sqlite3;

enum { CPROF_SCHEMA_VERSION = 5 };   /* 2: the goroutine tables; 3: allocator;
					      4: goroutine_frame.inlined,
					      goroutine.signalled; 5: mapping.role */

struct cprof_store;

/*
 * The database's name must be a regular file or absent: a directory, a device,
 * a FIFO or a symbolic link there is an error (nothing is renamed or
 * replaced).  cprof_store_create checks it too; a command calls this before
 * the expensive analysis so that the user learns it at once.
 */
struct cprof_error *cprof_store_check_target(const char *path);
/* Creates the temporary file next to path with the schema's tables and
 * indexes, empty (and removes NAME.tmp-PID files of analyses that were
 * killed); then the object and ref tables may be written
 * (cprof_store_objects, cprof_store_refs), from any one thread. */
struct cprof_error *cprof_store_create(const char *path,
				       struct cprof_store **ret);
/* After the object and ref tables: opens the file for the other tables. */
struct cprof_error *cprof_store_begin_tables(struct cprof_store *st);
/* Drops the temporary file (after an error); accepts NULL. */
void cprof_store_abort(struct cprof_store *st);
/* ANALYZE, closes, renames into place; frees st. */
struct cprof_error *cprof_store_commit(struct cprof_store *st);

struct cprof_error *cprof_store_meta(struct cprof_store *st, const char *key,
				     const char *value);
/* module, mapping, thread and frame tables, from the core model; roles:
 * each segment's role (cprof_report_mapping_roles), or NULL. */
struct cprof_error *cprof_store_core(struct cprof_store *st,
				     struct cprof_core *core, const char *const *roles);
/* heap, arena and allocator_stat tables. */
struct cprof_error *cprof_store_heaps(struct cprof_store *st,
				      const struct cprof_heap_walk *walk);
struct cprof_leaks;
struct cprof_roots;
struct cprof_graph;
struct cprof_retention;
struct cprof_types;

/* A leak root's first bytes and the symbols its words point to: made once,
 * on the thread that owns the core (symbols are looked up lazily), for the
 * object table and the summary. */
struct cprof_preview {
	uint32_t id;               /* the leak root */
	uint8_t len;               /* bytes: the first 64 at most */
	bool ok;                   /* false: not in the core (preview NULL) */
	uint8_t bytes[64];
	char *text;                /* "+0x0 app!_ZTV3Foo+0x10; ...", NULL when none */
};
struct cprof_previews {
	struct cprof_preview *p;   /* in id order */
	size_t n;
};
struct cprof_error *cprof_previews_make(struct cprof_core *core,
					const struct cprof_object *objs,
					const struct cprof_leaks *l,
					struct cprof_previews *ret);
/* The preview of leak root id, or NULL. */
const struct cprof_preview *cprof_previews_find(const struct cprof_previews *p, uint32_t id);
void cprof_previews_deinit(struct cprof_previews *p);

/* The object table, in one pass over the array (ids are array indexes),
 * with the leak analysis (and the leak roots' previews), retention and types
 * when not NULL; walk names the free lists.  It reads nothing of the core.
 * Like its indexes (cprof_store_object_keys: object_addr and object_leak;
 * cprof_store_object_idom: object_idom, a counting sort of 8 bytes an object)
 * and the ref table and its index: before cprof_store_begin_tables, and two
 * of them may be written at once from two threads. */
struct cprof_error *cprof_store_objects(struct cprof_store *st,
					const struct cprof_heap_walk *walk,
					const struct cprof_object *objs,
					size_t n, const struct cprof_leaks *l,
					const struct cprof_previews *previews,
					const struct cprof_retention *rt,
					const struct cprof_types *ty);
struct cprof_error *cprof_store_object_keys(struct cprof_store *st,
					    const struct cprof_object *objs, size_t n,
					    const struct cprof_leaks *l);
struct cprof_error *cprof_store_object_idom(struct cprof_store *st,
					    const struct cprof_object *objs, size_t n,
					    const struct cprof_retention *rt);
/* The type table. */
struct cprof_error *cprof_store_types(struct cprof_store *st,
				      const struct cprof_types *t);
/* A Go process's goroutines, their frames and groups (src/store/goroutines.c;
 * the Go provider's store operation); nothing when go is NULL.  owner: the Go
 * allocator's index in the walk, whose root nodes (goroutine groups at level
 * 0, goroutines at level 1) tie the rows to what they retain. */
struct cprof_go_runtime;
struct cprof_error *cprof_store_goroutines(struct cprof_store *st,
					   struct cprof_core *core,
					   const struct cprof_go_runtime *go, uint32_t owner,
					   const struct cprof_retention *rt);
/* The allocator table: every allocator found, walked or not. */
struct cprof_error *cprof_store_allocators(struct cprof_store *st,
					   const struct cprof_heap_walk *walk);
/* An allocation site an allocator's profiler recorded: one stack. */
struct cprof_site_record {
	uint64_t key;              /* the profiler's record (Go: runtime.bucket, jemalloc:
				      prof_gctx_t) */
	const uint64_t *pcs;       /* return addresses, innermost first */
	size_t n_pcs;
	uint64_t size;             /* the allocation size it recorded, or 0 */
};
/* A sampled object and its site. */
struct cprof_site_sample {
	uint64_t addr;             /* the object's address, or header bytes before it */
	uint32_t site;             /* index into sites */
};
/* What a provider's profiler says about allocation sites. */
struct cprof_sites {
	const struct cprof_site_record *sites;
	size_t n_sites;
	const struct cprof_site_sample *samples;
	size_t n_samples;
	uint64_t header;           /* a sample at addr may be the object at addr + header
				      (Go: its malloc header, 8) */
	/* A site's name is its first frame that is not the allocator's own:
	   neither in skip_module's code nor named with one of skip_prefixes
	   (a NULL-terminated list, or NULL). */
	const struct cprof_module *skip_module;
	const char *const *skip_prefixes;
	/* The allocator's entry points (malloc, je_malloc...; NULL-terminated,
	   or NULL), for an allocator linked into a module with other code (no
	   skip_module): the site is then the frame right after the outermost
	   frame that is one of them or is named with one of skip_prefixes, when
	   the stack has one. */
	const char *const *entries;
};
/* An allocator's allocation sites and which objects have one
 * (src/store/sites.c): the tables site and object_site. */
struct cprof_error *cprof_store_sites(struct cprof_store *st, struct cprof_core *core,
				      const struct cprof_sites *sites,
				      const struct cprof_object *objs, size_t n);
/* What pairing a heap profile with the core found. */
struct cprof_profile_pairing {
	bool build_id_checked;     /* the profile's binary was checked: it names a build
				      id, or (a legacy text profile, which names none)
				      its code mappings were compared with the core's */
	bool same_binary;          /* false: its build id is no module's (nothing is
				      paired) */
	bool paired_any;           /* its samples were matched to sites (else reason) */
	char reason[200];          /* why not paired, or what was not checked; "" */
	size_t samples, paired;    /* samples, and those matched to a site */
};
struct cprof_pprof_profile;
/* The tables profile and profile_sample: each sample of the profile read
 * from path matched to the site with its stack (src/store/profile.c); after
 * the sites are stored. */
struct cprof_error *cprof_store_profile(struct cprof_store *st, const char *path,
					const struct cprof_pprof_profile *p,
					struct cprof_profile_pairing *ret);
/* A paired profile's figures for one site name (the first frame outside the
 * allocator): the profile's in-use estimate beside the core's records. */
struct cprof_profile_site {
	char name[400];
	bool in_profile;           /* some sample of the profile is paired with it */
	int64_t profile_objects, profile_bytes;    /* its samples' inuse_objects, inuse_space */
	uint64_t objects;          /* used objects of the core with a record of the site */
	uint64_t bytes;            /* their sizes as the profiler counts (the bucket's size) */
	uint64_t object_bytes;     /* their usable sizes (the object table's) */
	int64_t estimate_objects, estimate_bytes;   /* objects, bytes scaled as the profile
						       scales its samples (= them at period 1):
						       what the profile would say now */
	uint64_t retained;         /* what they retain, counting nothing twice */
	char root[320];            /* the root retaining most of their bytes ("(shared)") */
};
/* A line of "where the mapped memory is": what, from which figures, bytes. */
struct cprof_rss_row {
	char what[64], source[64];
	int64_t bytes;
};
struct cprof_profile_report {
	bool present;              /* cprof.db has a paired profile */
	char path[512], format[32], build_id[96], reason[200];
	int64_t period;
	bool paired;
	uint64_t samples, paired_samples;
	uint64_t unpaired_inuse;   /* samples with objects in use and no site */
	int64_t inuse_objects, inuse_space;        /* the profile's totals */
	struct cprof_profile_site *sites;  /* the biggest first */
	size_t n_sites;
	struct cprof_rss_row rss[12];      /* these add up to mapped */
	size_t n_rss;
	uint64_t mapped;           /* every mapping of the core */
	int64_t go_sys;            /* Go's Sys (0: no Go) */
};
/* The profile paired with the core, if any (ret->present), per site, and
 * where the mapped memory is (src/store/profile.c). */
struct cprof_error *cprof_query_profile(struct sqlite3 *db, const char *path,
					struct cprof_profile_report *ret);
void cprof_profile_report_deinit(struct cprof_profile_report *r);
/* The root_node table. */
struct cprof_error *cprof_store_root_nodes(struct cprof_store *st,
					   const struct cprof_retention *rt);
/* The root and root_ref tables. */
struct cprof_error *cprof_store_roots(struct cprof_store *st,
				      struct cprof_core *core,
				      const struct cprof_roots *roots,
				      const struct cprof_graph *g);
/* What writing took (for the benchmark): seconds of the big tables, bytes
 * of the buffers and sorts they used at the most, and SQLite's own memory
 * at the most (its page cache and sorter, for the small tables). */
struct cprof_store_stats {
	double t_objects, t_object_indexes, t_refs, t_ref_index;
	uint64_t working_bytes, sqlite_bytes;
};
void cprof_store_stats(const struct cprof_store *st, struct cprof_store_stats *ret);
/* SQLite's memory at the most, so far (bytes). */
void cprof_store_stats_sqlite(uint64_t *ret);
/* The ref table: every edge, in (src, src_offset) order.  Before
 * cprof_store_begin_tables. */
struct cprof_error *cprof_store_refs(struct cprof_store *st, const struct cprof_graph *g);
/* Its index by dst (ref_dst); rev: g reversed, of which only the rows are
 * read.  Before cprof_store_begin_tables. */
struct cprof_graph_reverse;
struct cprof_error *cprof_store_ref_index(struct cprof_store *st, const struct cprof_graph *g,
					  const struct cprof_graph_reverse *rev);

/* Opens an existing cprof.db for reading, checking it is one of ours. */
struct cprof_error *cprof_store_open(const char *path, struct sqlite3 **ret);
void cprof_store_close(struct sqlite3 *db);

/* ---- queries the reports share (src/store/query.c) ---- */

struct cprof_leak_row {
	uint64_t id, addr, size, holds_count, holds_bytes;
	char type[256];            /* its type's name, "" when unknown */
	uint8_t preview[64];
	size_t preview_len;
	char *pointers;            /* NULL when none */
};

struct cprof_leak_totals {
	uint64_t direct_count, direct_bytes, indirect_count, indirect_bytes;
	uint64_t reachable_count, reachable_bytes, interior_count, interior_bytes;
	uint64_t garbage_count, garbage_bytes;     /* Go: unreachable, not leaked */
	/* reachable objects that only anonymous memory no walked allocator
	   owns keeps alive (retained by a mapping root: another allocator's
	   arenas - Python's pymalloc -, a cache): whether they leak is unknown */
	uint64_t unowned_count, unowned_bytes;
	/* used objects that are the allocator's own metadata (a glibc or
	   jemalloc tcache's memory): neither reachable nor leaked */
	uint64_t internal_count, internal_bytes;
	uint64_t roots;            /* leak roots in the database */
	/* writable memory the core lacks, not scanned (cprof_graph's
	   bytes_not_in_core; meta not_in_core_bytes): what only it points to
	   is counted leaked */
	uint64_t not_in_core_bytes;
	/* the pointers between objects into interior-only objects' middles:
	   how many, and the three offsets most of them land at with their
	   counts (an allocator's header, a list's embedded link: "possibly
	   lost" objects so built); 0 when none, or with --no-refs in cprof.db */
	uint64_t interior_pointers;
	uint64_t interior_offset[3], interior_offset_count[3];
};

/* The leak roots holding at least min_bytes, biggest first, at most limit
 * (0: all); *ret is malloc'd, free with cprof_leak_rows_free. */
struct cprof_error *cprof_query_leaks(struct sqlite3 *db, const char *path,
				      uint64_t min_bytes, size_t limit,
				      struct cprof_leak_totals *totals,
				      struct cprof_leak_row **ret, size_t *n_ret);
void cprof_leak_rows_free(struct cprof_leak_row *rows, size_t n);

/* An allocator row: one found in the process, walked or not. */
struct cprof_allocator_row {
	char name[32], version[32], module[256];
	bool serves_malloc;
	char heap[16];             /* walked | unused | not_walked */
	char reason[200];
};
/* Every allocator of the database; *ret is malloc'd (free()). */
struct cprof_error *cprof_query_allocators(struct sqlite3 *db, const char *path,
					   struct cprof_allocator_row **ret, size_t *n_ret);

/* ---- goroutines (src/store/goroutines.c) ---- */

/* A group of goroutines: the same status, wait reason and stack. */
struct cprof_goroutine_group_row {
	uint64_t id, count;
	char status[16], wait_reason[64];
	char function[256];        /* what they run (cprof_go_function) */
	char start_function[256];  /* what its first goroutine started in */
	char created_by[320];      /* its go statement */
	char stack[2048];          /* functions, innermost first, one per line */
	uint64_t stack_bytes;      /* their stacks' memory */
	uint64_t retained_bytes, retained_count;   /* what the group alone keeps */
	uint64_t goids[5];         /* the lowest goroutine ids */
	size_t n_goids;
	uint64_t signalled;        /* its goroutine the fatal signal interrupted
				      (goroutine.signalled), 0 when none */
};
/* Every group, the biggest retained first; *ret is malloc'd (free()).  No
 * rows for a process without Go. */
struct cprof_error *cprof_query_goroutine_groups(struct sqlite3 *db, const char *path,
						 struct cprof_goroutine_group_row **ret,
						 size_t *n_ret);

/* ---- objects, for top / show / path / histogram (src/store/query.c) ---- */

/* One object row; NULL columns are UINT64_MAX (ids, distances) or 0. */
struct cprof_obj_row {
	uint64_t id, addr, size;
	char state[8];
	char leak[12];             /* "", "direct", "indirect", "garbage" */
	int reachable;             /* -1 NULL */
	uint64_t idom, retained_bytes, retained_count, retaining_root;
	uint64_t root_distance, path_parent, path_root_ref;
	char type[256];            /* "" when unknown */
	char type_source[8];
	uint64_t type_id;
	uint64_t type_size;        /* bytes of the type (arrays: all elements); 0 unknown */
};

struct cprof_node_row {
	uint64_t id, parent, retained_bytes, retained_count;
	char kind[16];
	char name[256];
};

struct cprof_ref_row {
	uint64_t other;            /* the object at the other end */
	uint64_t other_addr, other_size;
	uint64_t src_offset, dst_offset;
};

struct cprof_slot_row {
	uint64_t id, slot, dst_offset;
	char slot_name[320];
	char root_kind[16];
};

enum { CPROF_NONE_ID = UINT64_MAX };

/* "0x7f..." (an address inside an object) or a decimal id. */
struct cprof_error *cprof_query_object(struct sqlite3 *db, const char *path,
				       const char *spec, struct cprof_obj_row *ret);
struct cprof_error *cprof_query_object_id(struct sqlite3 *db, const char *path,
					  uint64_t id, struct cprof_obj_row *ret);
struct cprof_error *cprof_query_node(struct sqlite3 *db, const char *path,
				     uint64_t id, struct cprof_node_row *ret);
/* The objects retaining the most; the used bytes of the heap but garbage,
 * and the garbage (Go's unreachable objects). */
struct cprof_error *cprof_query_top(struct sqlite3 *db, const char *path,
				    size_t limit, struct cprof_obj_row **ret,
				    size_t *n_ret, uint64_t *heap_bytes, uint64_t *garbage_bytes);
/* The root nodes (not super, not leaked) retaining the most. */
struct cprof_error *cprof_query_top_nodes(struct sqlite3 *db, const char *path,
					  size_t limit, struct cprof_node_row **ret,
					  size_t *n_ret);
/* The biggest child in the dominator tree of object id (node: of a root
 * node when is_node), and how many children there are. */
struct cprof_error *cprof_query_biggest_child(struct sqlite3 *db, const char *path,
					      uint64_t id, bool is_node,
					      struct cprof_obj_row *ret,
					      uint64_t *n_children);
/* ---- groups: histogram and roots (src/store/groups.c) ---- */

enum cprof_group_by {
	CPROF_BY_TYPE,
	CPROF_BY_SIZE,
	CPROF_BY_ROOT,             /* the retaining root node */
	CPROF_BY_SITE,             /* Go: the allocation site (profile record) */
	CPROF_BY_SITE_ID,          /* one allocation stack (site.id in node; the key
				      its decimal id, or "(no profile record)") */
};

struct cprof_group_row {
	char key[256];             /* type name, size, or root node name */
	char kind[16];             /* by root: the node's kind, "shared" or "leaked" */
	uint64_t node;             /* by root: root_node id, CPROF_NONE_ID when shared;
				      by site id: the site's id, CPROF_NONE_ID for none */
	uint64_t count, self_bytes, retained_bytes;
	uint64_t guessed;          /* members whose type is a guess (type_source layout) */
	uint64_t example;          /* an object of the group */
};

/**
 * Groups the objects (used, reachable or leaked; not Go's garbage) whose
 * type name matches pattern (NULL: all; a glob when it has * ? or [, matching
 * the whole name; else a substring of names that are not pointer types).
 * By root, objects no single root retains form "(shared)" (leaked ones
 * have their root node, "leaked (no root)").
 * A group's retained bytes count each object once: only members with no
 * other member of the group among their dominators add what they retain.
 * Biggest retained first.
 */
/* How many of the used objects (garbage left out) carry an allocation record
 * (object_site): a sampling profiler records some, `histogram --by site`
 * counts only those. */
struct cprof_site_coverage {
	uint64_t recorded, objects;
};
struct cprof_error *cprof_query_site_coverage(struct sqlite3 *db, const char *path,
					      struct cprof_site_coverage *ret);
/* Go's garbage (unreachable objects the next collection frees), which the
 * groups leave out: the count and bytes of the garbage objects whose type
 * and site match pattern and site_pattern (as cprof_query_groups_at; NULL:
 * any), what the groups would have held. */
struct cprof_error *cprof_query_garbage(struct sqlite3 *db, const char *path,
					const char *pattern, const char *site_pattern,
					uint64_t *count, uint64_t *bytes);
struct cprof_error *cprof_query_groups(struct sqlite3 *db, const char *path,
				       enum cprof_group_by by, const char *pattern,
				       struct cprof_group_row **ret, size_t *n_ret);
/* The same, of the objects whose allocation site's name matches site_pattern
 * too (a glob with * ? [ over "main.load (db.go:40)", else a substring;
 * NULL: any): `roots --site`. */
struct cprof_error *cprof_query_groups_at(struct sqlite3 *db, const char *path,
					  enum cprof_group_by by, const char *pattern,
					  const char *site_pattern,
					  struct cprof_group_row **ret, size_t *n_ret);
/* Distinct root slots from which some of the objects are reachable (a reverse
 * search over `ref`, bounded): names into *ret (malloc'd strings). */
struct cprof_error *cprof_query_reaching_slots(struct sqlite3 *db, const char *path,
					       const uint64_t *objects, size_t n,
					       size_t max_names, char ***ret,
					       size_t *n_ret);

/* ---- stacks, for the pprof reports (src/store/stacks.c) ---- */

/* One frame of an allocation stack (site_frame). */
struct cprof_frame_row {
	uint64_t pc;               /* the return address recorded */
	uint64_t module;           /* module id, CPROF_NONE_ID when in none */
	char *function, *file;     /* NULL when unknown */
	int64_t line;              /* 0 when unknown */
	bool inlined;              /* inlined into the next frame's function: one machine frame */
};
struct cprof_site_row {
	uint64_t id;
	char *name, *stack;        /* as the site table has them */
	struct cprof_frame_row *frames;    /* innermost first */
	size_t n_frames;
};
struct cprof_site_table {
	struct cprof_site_row *sites;      /* by id */
	size_t n;
};
/* Every allocation site with its frames; free with cprof_site_table_deinit.
 * A database written before site_frame existed: an error saying so. */
struct cprof_error *cprof_query_sites(struct sqlite3 *db, const char *path,
				      struct cprof_site_table *ret);
void cprof_site_table_deinit(struct cprof_site_table *t);
const struct cprof_site_row *cprof_site_table_find(const struct cprof_site_table *t, uint64_t id);

struct cprof_module_row {
	uint64_t id, start, end;
	char name[256], path[512], build_id[96];   /* build_id "" when none */
	bool executable;           /* the program's own: its build id is meta's
				      executable_build_id */
};
/* The modules (*ret malloc'd, free()). */
struct cprof_error *cprof_query_modules(struct sqlite3 *db, const char *path,
					struct cprof_module_row **ret, size_t *n_ret);

/*
 * Retention stacks: the dominator chain of every used object (reachable,
 * leaked or garbage) from the root down - the root nodes below the
 * super-root ("goroutines [...] main.worker", "goroutine 17", its frame; a
 * module, a global), then the types of the objects on the chain (a run of
 * one type is one frame; at most 64 types) - interned as a trie.  Objects
 * only the super-root holds start at "(shared by several roots)", Go's
 * unreachable ones at "(garbage: the next collection frees it)".  Per
 * stack, the objects whose stack it is: their count and own bytes, and what
 * they retain counting nothing twice; so a stack's own bytes summed over it
 * and the stacks below it are what its last frame retains.
 */
struct cprof_retention_stack {
	uint32_t parent;           /* UINT32_MAX: a stack of one frame */
	uint32_t frame;            /* index into frames */
	uint32_t depth;            /* frames, this one included */
	uint64_t objects, self_bytes, retained_bytes;
};
struct cprof_retention_stacks {
	char **frames;
	size_t n_frames;
	struct cprof_retention_stack *stacks;
	size_t n_stacks;
};
struct cprof_error *cprof_query_retention_stacks(struct sqlite3 *db, const char *path,
						 struct cprof_retention_stacks *ret);
void cprof_retention_stacks_deinit(struct cprof_retention_stacks *r);

/* ---- growth between two databases (src/store/diff.c) ---- */

struct cprof_diff_row {
	char *key;                 /* type name, allocation stack (frames, a line each),
				      or retaining root's name */
	char *name;                /* what to show: the key, or the site's name (by site),
				      or the root's kind (by root) */
	uint64_t before_count, before_bytes, after_count, after_bytes;
	uint64_t site_before, site_after;  /* by site: a site id in each (CPROF_NONE_ID) */
};
struct cprof_diff {
	struct cprof_diff_row *rows;       /* the biggest growth in bytes first */
	size_t n;
	uint64_t before_count, before_bytes, after_count, after_bytes;
	/* Whether both are analyses of the same program, by the executable's
	   build-id in meta: 1 same, 0 different, -1 unknown (one has none). */
	int same_program;
	char old_build_id[96], new_build_id[96];    /* "" when unknown */
};
/* The used objects of two databases (garbage left out) counted by type name,
 * allocation stack or retaining root (by: CPROF_BY_TYPE, _SITE, _ROOT),
 * matched by that key; free with cprof_diff_deinit. */
struct cprof_error *cprof_query_diff(struct sqlite3 *old_db, const char *old_path,
				     struct sqlite3 *new_db, const char *new_path,
				     enum cprof_group_by by, struct cprof_diff *ret);
void cprof_diff_deinit(struct cprof_diff *d);

/* A path from a root slot to an object: the slot, then object ids. */
struct cprof_root_path {
	struct cprof_slot_row slot;
	uint64_t *ids;             /* from the one the slot points at to the target */
	uint64_t *addrs;           /* their addresses (cprof_query_shortest_path), or NULL */
	size_t n;
};
/**
 * Up to max_paths paths from distinct root slots to object target, each a
 * shortest one from its slot (a breadth-first search backwards over `ref`,
 * of at most max_visits objects).  from_leak_roots, for a leaked target:
 * from distinct leak roots instead (`leak` 'direct'; the path's slot is the
 * leak root itself, slot_name "leak root", root_kind "leaked", slot its
 * address).  Free with cprof_root_paths_free.
 */
struct cprof_error *cprof_query_paths(struct sqlite3 *db, const char *path,
				      uint64_t target, bool from_leak_roots, size_t max_paths,
				      size_t max_visits, struct cprof_root_path **ret,
				      size_t *n_ret);
void cprof_root_paths_free(struct cprof_root_path *p, size_t n);
/* The shortest path the analysis stored for object id (along path_parent to
 * the root slot at distance 1), at most max_len objects long: ret->n == 0
 * when no root reaches it or the path is longer.  Free ret->ids. */
struct cprof_error *cprof_query_shortest_path(struct sqlite3 *db, const char *path,
					      uint64_t id, size_t max_len,
					      struct cprof_root_path *ret);

/* ---- the dominator tree's top entries (src/store/entries.c) ---- */

/*
 * Where the memory is, as Eclipse MAT's "biggest objects" shows it: the
 * objects no other object keeps alive (every dominator above them is a root
 * node; a reachable object only), grouped by type (by size when the type is
 * unknown) and by the root node below the super-root that holds them (none:
 * shared by several roots).  Top entries are never below one another, so
 * their retained sets are disjoint and a group retains the sum.
 */
struct cprof_entry {
	uint64_t count;            /* top objects in the group */
	uint64_t self_bytes, retained_bytes, retained_count;
	uint64_t type_id;          /* CPROF_NONE_ID: unknown type (grouped by size) */
	char type[256];            /* "" when unknown */
	uint64_t size;             /* unknown type: the objects' size */
	bool shared;               /* no single root node retains them */
	struct cprof_node_row holder;      /* the nearest root node that retains every
					      one of them; id CPROF_NONE_ID when shared */
	struct cprof_obj_row biggest;      /* the one retaining the most */
	struct cprof_root_path path;       /* a shortest path to biggest (n 0: none) */
	char **reached_from;       /* root slots from which biggest is reachable */
	size_t n_reached;
};

struct cprof_entries {
	uint64_t heap_bytes;       /* used objects but garbage (as `top`): the shares' whole */
	uint64_t reachable_bytes;  /* what the top entries retain in all */
	uint64_t garbage_bytes;    /* Go's garbage (JSON's heap_bytes adds it) */
	uint64_t n_objects;        /* top objects */
	uint64_t n_groups;         /* their groups; the biggest `n` are in e */
	struct cprof_entry *e;
	size_t n;
};

/* The limit biggest groups of top entries, each with its holder, its biggest
 * object, a path to it and up to max_reached root slots reaching it. */
struct cprof_error *cprof_query_entries(struct sqlite3 *db, const char *path,
					size_t limit, size_t max_reached,
					struct cprof_entries *ret);
void cprof_entries_deinit(struct cprof_entries *e);

/* The root node below node id retaining the most (ret->id CPROF_NONE_ID: none). */
struct cprof_error *cprof_query_biggest_child_node(struct sqlite3 *db, const char *path,
						   uint64_t id, struct cprof_node_row *ret);
/* Pointers out of (out = true) or into an object, at most limit, and the total. */
struct cprof_error *cprof_query_refs(struct sqlite3 *db, const char *path,
				     uint64_t id, bool out, size_t limit,
				     struct cprof_ref_row **ret, size_t *n_ret,
				     uint64_t *total);
/* Root slots pointing into an object. */
struct cprof_error *cprof_query_slots(struct sqlite3 *db, const char *path,
				      uint64_t id, size_t limit,
				      struct cprof_slot_row **ret, size_t *n_ret);
struct cprof_error *cprof_query_slot(struct sqlite3 *db, const char *path,
				     uint64_t root_ref, struct cprof_slot_row *ret);
/* The name of the pointer member at offset off of an object of type type_id
 * ("next", "[3].payload"); "" when unknown. */
struct cprof_error *cprof_query_field(struct sqlite3 *db, const char *path,
				      uint64_t type_id, uint64_t off, char *buf,
				      size_t size);
/* The offset of a pointer from src into dst (the first, by offset). */
struct cprof_error *cprof_query_edge(struct sqlite3 *db, const char *path,
				     uint64_t src, uint64_t dst,
				     uint64_t *src_off, uint64_t *dst_off);

/* ---- the same answers from the analysis in memory (src/store/memory.c) ---- */

/* What cprof_query_allocators, cprof_query_leaks and cprof_query_entries give
 * once the database is written (refs: the ref table is written, not
 * --no-refs), for the summary printed before it is. */
struct cprof_analysis;
struct cprof_error *cprof_results_allocators(const struct cprof_heap_walk *walk,
					     struct cprof_allocator_row **ret, size_t *n_ret);
struct cprof_error *cprof_results_leaks(const struct cprof_analysis *a,
					const struct cprof_previews *pv, size_t limit,
					struct cprof_leak_totals *totals,
					struct cprof_leak_row **ret, size_t *n_ret);
struct cprof_error *cprof_results_entries(struct cprof_core *core,
					  const struct cprof_analysis *a, bool refs,
					  size_t limit, size_t max_reached,
					  struct cprof_entries *ret);
/*
 * ---- the query commands' results ----
 *
 * Each query command is options -> compute -> render: one function here
 * computes the command's whole result from cprof.db (every query it needs,
 * nothing printed), and the renderers of src/report/ print that result as
 * text or JSON (include/cprof/report.h).  Free each with its _deinit, which
 * accepts a zeroed struct.
 */

/* The longest path from a root slot that `path` and `roots` follow. */
enum { CPROF_MAX_PATH = 100000 };

/* `leaks` (src/store/query.c): the allocators (for the line about those not
 * analyzed), the totals and the leak roots holding at least min_bytes, at
 * most limit (0: all). */
/* The leak roots of one type (or one size), as valgrind's loss records
 * gather the blocks of one allocation stack. */
struct cprof_leak_group {
	char key[256];             /* the type's name ("(unknown type)"), or the size */
	uint64_t roots, bytes;     /* leak roots and their own bytes */
	uint64_t holds_count, holds_bytes;  /* what they hold, themselves included */
	uint64_t example_id, example_addr;  /* the one holding the most */
};
struct cprof_leak_report {
	struct cprof_allocator_row *allocators;
	size_t n_allocators;
	struct cprof_leak_totals totals;
	struct cprof_leak_row *rows;
	size_t n;
	size_t shown_of;           /* the leak roots there are to show (to say the
				      list was cut): all of them, or with min_bytes
				      the rows found */
	bool grouped;              /* by is CPROF_BY_TYPE or CPROF_BY_SIZE */
	enum cprof_group_by by;
	struct cprof_leak_group *groups;   /* holding the most first */
	size_t n_groups, groups_of;        /* shown, and in all */
};
/* The leak report: totals and the leak roots holding at least min_bytes,
 * at most limit; grouped (by CPROF_BY_TYPE or CPROF_BY_SIZE), also those
 * roots' groups, at most limit of them. */
struct cprof_error *cprof_query_leak_report(struct sqlite3 *db, const char *path,
					    uint64_t min_bytes, size_t limit, bool grouped,
					    enum cprof_group_by by,
					    struct cprof_leak_report *ret);
void cprof_leak_report_deinit(struct cprof_leak_report *r);

/* `roots` (src/store/roots.c): the groups by retaining root of the objects
 * whose type matches type_pattern and whose site matches site_pattern (as
 * cprof_query_groups_at), at most limit, each with an example object, the
 * shortest path to it, and - for a root that is not one slot (shared, a
 * module, a thread, a goroutine group) - root slots that reach it. */
struct cprof_root_group {
	struct cprof_group_row g;
	struct cprof_obj_row example;
	struct cprof_root_path path;       /* n 0: none stored */
	char **reached_from;
	size_t n_reached;
};
struct cprof_roots_report {
	struct cprof_allocator_row *allocators;
	size_t n_allocators;
	struct cprof_root_group *groups;   /* the biggest retained first */
	size_t n;
	/* reachable objects with no type: a type pattern cannot match them */
	uint64_t untyped_count, untyped_bytes;
	uint64_t garbage_count, garbage_bytes;     /* left out (Go), of the types
						      and sites asked for */
	bool filtered;             /* a type or site pattern was given */
};
struct cprof_error *cprof_query_roots(struct sqlite3 *db, const char *path,
				      const char *type_pattern, const char *site_pattern,
				      size_t limit, struct cprof_roots_report *ret);
void cprof_roots_report_deinit(struct cprof_roots_report *r);

/* `top` (src/store/top.c): where the memory is, the root nodes and the
 * objects retaining the most (limit of each), and for each one retaining
 * more than a tenth of the heap its accumulation point: going down the
 * dominator tree while one child holds most of what its parent retains,
 * where the memory spreads over many children. */
struct cprof_accumulation {
	bool found;                /* the row is a suspect, and this its point */
	bool is_node;              /* a root node, else an object */
	uint64_t id, addr, retained, children, biggest;
	/* a root node's biggest child node (module -> global), none: 0 */
	uint64_t biggest_node;
	char biggest_node_name[256];
	char name[256];            /* of the root node, when is_node */
	char type[256];            /* of the object, "" when unknown */
};
struct cprof_top_report {
	struct cprof_allocator_row *allocators;
	size_t n_allocators;
	uint64_t heap_bytes;       /* used objects, reachable or leaked: the shares' whole */
	uint64_t garbage_bytes;    /* Go's unreachable objects, left out of it */
	struct cprof_entries entries;
	struct cprof_node_row *nodes;
	struct cprof_accumulation *node_points;   /* one per node */
	size_t n_nodes;
	struct cprof_obj_row *objs;
	struct cprof_accumulation *obj_points;    /* one per object */
	char (*retained_by)[256];  /* per object: its retaining root node's name,
				      "several roots (shared)" when none, "?" when
				      the database does not say */
	size_t n_objs;
};
struct cprof_error *cprof_query_top_report(struct sqlite3 *db, const char *path, size_t limit,
					   size_t max_reached, struct cprof_top_report *ret);
void cprof_top_report_deinit(struct cprof_top_report *r);

/* `show` (src/store/show.c): one object (spec: an address inside it or its
 * id), its dominator chain (objects up to its retaining root, then the root
 * nodes to the top), and at most limit root slots pointing at it and
 * pointers out of and into it. */
enum { CPROF_MAX_CHAIN = 64 };
struct cprof_object_report {
	struct cprof_obj_row o;
	struct cprof_obj_row chain[CPROF_MAX_CHAIN];        /* its idom, then its idom's... */
	size_t n_chain;
	bool chain_cut;            /* more objects above the last */
	struct cprof_node_row nodes[CPROF_MAX_CHAIN];       /* the root nodes above them */
	size_t n_nodes;
	struct cprof_slot_row *slots;
	size_t n_slots;
	struct cprof_ref_row *out, *in;
	size_t n_out, n_in;
	uint64_t total_out, total_in;
	size_t limit;              /* of each list: n_slots == limit may mean more */
};
struct cprof_error *cprof_query_show(struct sqlite3 *db, const char *path, const char *spec,
				     size_t limit, struct cprof_object_report *ret);
void cprof_object_report_deinit(struct cprof_object_report *r);

/* `path` (src/store/path.c): how the object spec is reached from a root:
 * the shortest path the analysis stored (all 0), or up to all paths from
 * distinct root slots.  An object no root reaches is a usage error. */
struct cprof_path_step {
	struct cprof_obj_row o;
	uint64_t entered;          /* where the pointer to it lands: 0 at its start */
	uint64_t off;              /* the pointer to the next step, in it */
	char field[256];           /* the member at off ("" when unknown) */
	int past_type_end;         /* off lies past the end of o's type (1), inside it
				      (0), or nobody knows (-1: no type, or a guess) */
};
struct cprof_object_path {
	struct cprof_slot_row slot;
	struct cprof_path_step *steps;     /* from the one the slot points at */
	size_t n;
};
struct cprof_path_report {
	bool all;                  /* asked for several paths */
	struct cprof_object_path *paths;
	size_t n;
};
struct cprof_error *cprof_query_object_paths(struct sqlite3 *db, const char *path,
					     const char *spec, size_t all,
					     struct cprof_path_report *ret);
void cprof_path_report_deinit(struct cprof_path_report *r);

/* `goroutines` (src/store/goroutines.c): every group, and how many
 * goroutines in all (no groups: not a Go process). */
struct cprof_goroutines_report {
	struct cprof_goroutine_group_row *groups;  /* the biggest retained first */
	size_t n;
	uint64_t goroutines;
};
struct cprof_error *cprof_query_goroutines(struct sqlite3 *db, const char *path,
					   struct cprof_goroutines_report *ret);
void cprof_goroutines_report_deinit(struct cprof_goroutines_report *r);

#endif
