/*
 * pipeline.h - the main job: a core in, cprof.db out.
 *
 * In:  an opened core (cprof/core.h) and where to write the database.
 * Out: the database, complete and renamed into place, and the in-memory
 *      results the summary report prints (heap walk, object table, timings).
 *
 * Stages, in order (one directory of src/ each): address space (done by the
 * caller: cprof_core_open) -> heap walkers -> store.  Roots, the pointer scan,
 * the graph and its analyses slot in between as they land.
 */
#ifndef CPROF_PIPELINE_H
#define CPROF_PIPELINE_H

#include "cprof/core.h"
#include "cprof/heap.h"
#include "cprof/progress.h"

struct cprof_analyze_options {
	const char *db_path;
	const char *exe_path;      /* recorded in meta */
	const char *command_line;  /* recorded in meta */
	struct cprof_progress *progress;   /* may be NULL */
};

struct cprof_analysis {
	struct cprof_heap_walk walk;
	struct cprof_object *objects;      /* as the walkers emitted them */
	size_t n_objects, cap_objects;
	double t_walk, t_store;            /* seconds */
};

struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *opts,
				  struct cprof_analysis *ret);
void cprof_analysis_deinit(struct cprof_analysis *a);

/* Only the heap walk, into ret->walk and ret->objects (for `info`). */
struct cprof_error *cprof_walk_heaps(struct cprof_core *core,
				     struct cprof_progress *progress,
				     struct cprof_analysis *ret);

#endif
