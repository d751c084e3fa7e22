/*
 * report.h - what the commands print, text and JSON, from the core model and
 * the analysis.  Shapes of the JSON are documented in formats/.
 */
#ifndef CPROF_REPORT_H
#define CPROF_REPORT_H

#include <stdio.h>

#include "cprof/core.h"
#include "cprof/heap.h"
#include "cprof/json.h"
#include "cprof/pipeline.h"

/* The allocators found (text), for `info` and the summary. */
void cprof_report_allocators(FILE *out, const struct cprof_heap_walk *walk);
/* The same as a JSON array value (the caller wrote the key). */
void cprof_report_allocators_json(struct json *j, const struct cprof_heap_walk *walk);

/* The main job's summary. */
void cprof_report_summary(FILE *out, struct cprof_core *core,
			  const struct cprof_analysis *a, const char *db_path,
			  const char *exe_arg, double seconds);
void cprof_report_summary_json(FILE *out, struct cprof_core *core,
			       const struct cprof_analysis *a,
			       const char *db_path, double seconds);

#endif
