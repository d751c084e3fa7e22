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
 * The store overlaps what follows the analysis: cprof_analyze returns once
 * the results are complete in memory, with a second thread writing the
 * database's big tables (object, ref); the caller prints its summary from
 * memory (cprof_results_* in store.h), then cprof_analyze_finish writes the
 * rest and renames the file into place.  Until then no cprof.db of this run
 * exists under its name.
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
	double t_walk, t_roots, t_scan, t_leaks, t_dominators, t_types, t_store;   /* seconds */
	/* the store's parts: the object table, its indexes, the ref table, its
	   index, then the other tables, ANALYZE and the rename */
	double t_objects, t_object_indexes, t_refs, t_ref_index, t_tables;
	uint64_t db_bytes;                 /* the file's size */
};

/* Walks, analyzes and starts writing the database (see above). */
struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *opts,
				  struct cprof_analysis *ret);
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
