/*
 * pipeline.h - the main job: a core in, cprof.db out.
 *
 * In:  an opened core (cprof/core.h) and where to write the database.
 * Out: the database, complete and renamed into place, and the in-memory
 *      results the summary report prints (heap walk, object table, timings).
 *
 * Stages, in order (one directory of src/ each): address space (done by the
 * caller: cprof_core_open) -> heap walkers -> roots -> pointer scan (graph)
 * -> analyses (leaks, then dominators and retention, types) -> store.
 *
 * The store overlaps the analysis: a second thread writes the ref table as
 * soon as the scan is done, while leaks, dominators and types are computed;
 * cprof_analyze returns once the results are complete in memory; the caller
 * makes its summary from them (cprof_results_* in store.h) and says so
 * (cprof_analyze_results_done), and the second thread writes the rest of the
 * big tables meanwhile; cprof_analyze_finish writes the small tables and
 * renames the file into place.  Until then no cprof.db of this run exists
 * under its name.
 */
#ifndef CPROF_PIPELINE_H
#define CPROF_PIPELINE_H

#include "cprof/analysis.h"
#include "cprof/core.h"
#include "cprof/graph.h"
#include "cprof/heap.h"
#include "cprof/progress.h"
#include "cprof/roots.h"
#include "cprof/store.h"
#include "cprof/types.h"

struct cprof_analyze_options {
	const char *db_path;
	const char *exe_path;      /* recorded in meta */
	const char *command_line;  /* recorded in meta */
	struct cprof_progress *progress;   /* may be NULL */
	bool no_refs;              /* leave the ref table out (huge cores) */
	/* a heap profile to pair with the core (analyze --profile), or NULL */
	const char *profile_path;
	const struct cprof_pprof_profile *profile;
};

/*
 * Where the memory goes, bytes (the benchmark's account): the size of each
 * part of the analysis, at its largest, and the process's resident anonymous
 * memory after each phase.
 */
struct cprof_memory_account {
	uint64_t objects;          /* the object table */
	uint64_t graph;            /* rows, targets, offsets, interior pointers */
	uint64_t leak_flags;
	uint64_t dominators;       /* their working arrays, at the most */
	uint64_t retention;        /* idom, retaining root, retained bytes and count,
				      distance, path */
	uint64_t types;            /* per object: type, count, source */
	uint64_t reverse;          /* the graph reversed, for the summary and ref_dst */
	uint64_t store;            /* the bulk writer's buffers and sorts, at the most */
	uint64_t sqlite;           /* SQLite's page cache and sorter, at the most */
	uint64_t rss_walk, rss_scan, rss_leaks, rss_dominators, rss_types, rss_summary,
		 rss_store;
};

struct cprof_analysis {
	struct cprof_heap_walk walk;
	struct cprof_object *objects;      /* sorted by address: id = index */
	size_t n_objects, cap_objects;
	struct cprof_roots roots;
	struct cprof_graph graph;
	struct cprof_leaks leaks;
	struct cprof_retention retention;
	struct cprof_types types;
	bool analyzed;                     /* roots, graph, leaks, retention are filled */
	struct cprof_graph_reverse reverse;   /* the graph reversed: searches back, ref_dst */
	struct cprof_previews previews;    /* the leak roots' first bytes */
	struct cprof_store_run *run;       /* cprof.db being written, until cprof_analyze_finish */
	struct cprof_profile_pairing pairing;      /* with opts->profile */
	double t_walk, t_roots, t_scan, t_leaks, t_dominators, t_types, t_store;   /* seconds */
	/* the store's parts: the object table, its indexes, the ref table, its
	   index, then the other tables, ANALYZE and the rename */
	double t_objects, t_object_indexes, t_refs, t_ref_index, t_tables;
	double t_analyzed;                 /* when the analysis was done (cprof_now) */
	uint64_t db_bytes;                 /* the file's size */
	struct cprof_memory_account mem;
};

/* Walks, analyzes and starts writing the database (see above). */
struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *opts,
				  struct cprof_analysis *ret);
/* The caller has made its summary: the results that only it reads (the
 * reversed graph's sources) are freed, for the store's memory. */
void cprof_analyze_results_done(struct cprof_analysis *a);
/* Waits for the big tables, writes the others, renames the file into place. */
struct cprof_error *cprof_analyze_finish(struct cprof_core *core,
					 const struct cprof_analyze_options *opts,
					 struct cprof_analysis *a);
/* Frees everything; a database still being written is dropped. */
void cprof_analysis_deinit(struct cprof_analysis *a);

/* Only the heap walk, into ret->walk and ret->objects, sorted (for `info`). */
struct cprof_error *cprof_walk_heaps(struct cprof_core *core,
				     struct cprof_progress *progress,
				     struct cprof_analysis *ret);

#endif
