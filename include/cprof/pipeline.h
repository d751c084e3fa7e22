/*
 * pipeline.h - the main job: a core in, cprof.db out.
 *
 * In:  an opened core (cprof/core.h) and where to write the database.
 * Out: the database, complete and renamed into place, and the in-memory
 *      results the summary report prints (heap walk, object table, timings).
 *
 * Stages, in order (one directory of src/ each): address space (done by the
 * caller: cprof_core_open) -> heap walkers -> roots -> pointer scan (graph)
 * -> analyses (leaks, then dominators and retention) -> store.
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
	struct cprof_profile_pairing pairing;      /* with opts->profile */
	double t_walk, t_roots, t_scan, t_leaks, t_dominators, t_types, t_store;   /* seconds */
};

struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *opts,
				  struct cprof_analysis *ret);
void cprof_analysis_deinit(struct cprof_analysis *a);

/* Only the heap walk, into ret->walk and ret->objects, sorted (for `info`). */
struct cprof_error *cprof_walk_heaps(struct cprof_core *core,
				     struct cprof_progress *progress,
				     struct cprof_analysis *ret);

#endif
