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
#include "cprof/store.h"

/* The allocators found (text), for `info` and the summary: which serves
 * malloc, each one walked with its figures, or why not. */
void cprof_report_allocators(FILE *out, const struct cprof_heap_walk *walk);
/* The same as a JSON array value (the caller wrote the key). */
void cprof_report_allocators_json(struct json *j, const struct cprof_heap_walk *walk);

/* One line per allocator of cprof.db whose heap was not analyzed ("malloc is
 * jemalloc 5.3.0 (libjemalloc.so.2); its heap is not analyzed: ..."), for
 * every report of leaks, sizes or retention; returns how many. */
size_t cprof_report_not_analyzed(FILE *out, const struct cprof_allocator_row *rows, size_t n);
/* Whether some allocator's heap is in cprof.db's figures: with none (a
 * truncated core, only allocators cprof-core does not walk) the figures are
 * zeros that answer nothing, and the reports leave them out. */
bool cprof_report_heap_walked(const struct cprof_allocator_row *rows, size_t n);
/* The key "allocators" and their rows, for those reports' JSON. */
void cprof_report_allocator_rows_json(struct json *j, const struct cprof_allocator_row *rows,
				      size_t n);
/* Each walked allocator's own section of the summary (Go's, in MemStats'
 * terms); the JSON: an array of {allocator, title, lines: [{label, text}],
 * values: {name: number}} (the caller wrote the key). */
void cprof_report_allocator_sections(FILE *out, const struct cprof_analysis *a);
void cprof_report_allocator_sections_json(struct json *j, const struct cprof_analysis *a);
/* What each mapping is, as the summary's memory categories count it (one per
 * core segment, freed by the caller).  role: what its bytes outside every
 * walked heap are - "heap reserve" (the no-access rest of a glibc arena heap),
 * "thread stack", "module data", "module code", "file", "anonymous", "no
 * access" - or "heap" when walked heaps cover all of it; heap_bytes: its bytes
 * inside walked heaps (the kernel merges neighbouring anonymous mappings: one
 * may hold a glibc mmapped chunk and Python's pymalloc arenas). */
struct cprof_mapping_role {
	const char *role;
	uint64_t heap_bytes;
};
struct cprof_error *cprof_report_mapping_roles(struct cprof_core *core,
					       const struct cprof_heap_walk *walk,
					       struct cprof_mapping_role **ret);
/* The role as `info` prints it: r->role, or for a mapping partly in heaps
 * "heap 1.00 MiB + anonymous 4.00 MiB" (written to buf). */
const char *cprof_report_mapping_role_text(const struct cprof_mapping_role *r,
					   const struct cprof_segment *s,
					   char *buf, size_t n);

/* What follows a command line (cprof_process.args) in the text: "" or, when
 * the kernel's 79 bytes are full, "... (the kernel keeps 79 bytes)". */
const char *cprof_report_args_cut(const struct cprof_process *p);

/* The main job's summary: as text, printed while the database is written
 * (seconds: until the analysis was done), then the line saying it is; as
 * JSON once it is (seconds: the whole run; summary_seconds: until the
 * summary was ready). */
void cprof_report_summary(FILE *out, struct cprof_core *core,
			  const struct cprof_analysis *a, const char *db_path,
			  const char *exe_arg, double seconds);
void cprof_report_stored(FILE *out, const struct cprof_analysis *a, const char *db_path);
void cprof_report_summary_json(FILE *out, struct cprof_core *core,
			       const struct cprof_analysis *a,
			       const char *db_path, double seconds, double summary_seconds,
			       const struct cprof_leak_totals *lt,
			       const struct cprof_leak_row *rows, size_t n_rows,
			       const struct cprof_entries *es,
			       const struct cprof_profile_report *profile);
/* "where the memory is": the dominator tree's top entries (text), for the
 * summary and `top`; the JSON value (an object; the caller wrote the key). */
void cprof_report_entries(FILE *out, const struct cprof_entries *es);
void cprof_report_entries_json(struct json *j, const struct cprof_entries *es);
/* "e.g. SLOT -> 0x... -> 0x..." on one line after indent (a long path: its
 * first and last objects); nothing for an empty path. */
void cprof_report_path(FILE *out, const struct cprof_root_path *p, const char *indent);
/* The commands to run next. */
void cprof_report_next(FILE *out, const char *core, const char *exe,
		       const char *db);

/* The leak report (formats/leaks.json.md); shown_of: how many leak roots
 * there are in all (to say when the list was cut); walked: whether any heap
 * is in the figures (cprof_report_heap_walked: else the totals, all zero,
 * are left out: the line about the allocators not analyzed says why). */
void cprof_report_leaks(FILE *out, const struct cprof_leak_totals *t,
			const struct cprof_leak_row *rows, size_t n,
			size_t shown_of, bool walked);
/* grouped: the report whose groups (leaks --by) follow the roots, or NULL */
void cprof_report_leaks_json(FILE *out, const char *db,
			     const struct cprof_leak_totals *t,
			     const struct cprof_leak_row *rows, size_t n,
			     const struct cprof_allocator_row *al, size_t n_al,
			     const struct cprof_leak_report *grouped);

/* ---- histogram (src/report/groups.c): at most limit groups ---- */
/* After a row of count objects of a type (when types_shown): how many of them
 * have a type guessed from their layout, if any. */
void cprof_report_guessed(FILE *out, bool types_shown, uint64_t guessed, uint64_t count);
/* Under `histogram --by site`: how many objects have a record, when not
 * all do (a sampling profiler), and that the rows count only those. */
void cprof_report_site_coverage(FILE *out, const struct cprof_site_coverage *c);
/* The line saying that Go's garbage is left out of a report's groups. */
void cprof_report_garbage_left_out(FILE *out, uint64_t count, uint64_t bytes, bool filtered);
void cprof_report_groups(FILE *out, const struct cprof_group_row *g, size_t n,
			 enum cprof_group_by by, size_t limit);
/* [{type | size | site, count, self_bytes, retained_bytes, guessed}] */
void cprof_report_groups_json(FILE *out, const struct cprof_group_row *g, size_t n,
			      enum cprof_group_by by, size_t limit);

/* ---- pprof renderings (src/report/pprof.c): gzipped profile.proto to out
 * ("-": stdout), values inuse_objects, inuse_space (own bytes) and
 * retained_space; comment (may be NULL) says what the file is; m: the
 * modules, each a mapping, the executable's first (go tool pprof's main
 * binary). ---- */

/* One sample per group of `histogram --by type`, one frame: its key. */
struct cprof_error *cprof_report_pprof_types(const struct cprof_group_row *g, size_t n,
					     const struct cprof_module_row *m, size_t n_m,
					     const char *comment, const char *out);
/* One sample per allocation stack (groups CPROF_BY_SITE_ID): its frames from
 * the first outside the allocator, with their addresses (the call: return
 * address - 1) in the mappings of the modules (with their build ids). */
struct cprof_error *cprof_report_pprof_sites(const struct cprof_group_row *g, size_t n,
					     const struct cprof_site_table *sites,
					     const struct cprof_module_row *m, size_t n_m,
					     const char *comment, const char *out);
/* One sample per retention stack that holds objects. */
struct cprof_error *cprof_report_pprof_retention(const struct cprof_retention_stacks *r,
						 const struct cprof_module_row *m, size_t n_m,
						 const char *comment, const char *out);

/* ---- a heap profile paired with the core (src/report/profile.c) ---- */
/* Per site (at most limit) and where the mapped memory is; nothing when the
 * database has no profile. */
void cprof_report_profile(FILE *out, const struct cprof_profile_report *r, size_t limit);
/* The value of the summary's "profile" key (null when none). */
void cprof_report_profile_json(struct json *j, const struct cprof_profile_report *r);

/* ---- diff (src/report/diff.c): by is "type", "site" or "root" ---- */
/* The rows that changed, the biggest growth first, at most limit. */
void cprof_report_diff(FILE *out, const struct cprof_diff *d, const char *by, size_t limit);
/* formats/diff.json.md */
void cprof_report_diff_json(FILE *out, const struct cprof_diff *d, const char *by,
			    const char *old_path, const char *new_path, size_t limit);
/* A profile of the difference (new less old): inuse_objects and inuse_space,
 * one sample per changed key, its frames the key's lines (sites: an
 * allocation stack, innermost first, from the site's own frame). */
struct cprof_error *cprof_report_pprof_diff(const struct cprof_diff *d, bool sites,
					    const struct cprof_module_row *m, size_t n_m,
					    const char *comment, const char *out);

/* ---- the query commands: each renders one result of src/store/ (the
 * structs of include/cprof/store.h), text or JSON ---- */

/* `leaks` (src/report/leaks.c): the line about the allocators not analyzed,
 * then cprof_report_leaks; the JSON: formats/leaks.json.md. */
void cprof_report_leak_report(FILE *out, const struct cprof_leak_report *r);
void cprof_report_leak_report_json(FILE *out, const char *db, const struct cprof_leak_report *r);
/* `roots` (src/report/roots.c): the line about the allocators not analyzed
 * (the JSON, an array, leaves it to the command's warnings), then per root;
 * type_pattern: --type, NULL when none (types are then not marked guessed). */
void cprof_report_roots(FILE *out, const struct cprof_roots_report *r, const char *type_pattern);
/* [{root, kind, count, self_bytes, retained_bytes, guessed, shared, path,
 * reached_from}] */
void cprof_report_roots_json(FILE *out, const struct cprof_roots_report *r);
/* `top` (src/report/top.c); the JSON: formats/top.json.md. */
void cprof_report_top(FILE *out, const struct cprof_top_report *r);
void cprof_report_top_json(FILE *out, const struct cprof_top_report *r);
/* `show` (src/report/show.c). */
void cprof_report_object(FILE *out, const struct cprof_object_report *r);
void cprof_report_object_json(FILE *out, const struct cprof_object_report *r);
/* `path` (src/report/path.c); the JSON: formats/path.json.md (one path, or
 * an array of them when r->all). */
void cprof_report_object_paths(FILE *out, const struct cprof_path_report *r);
void cprof_report_object_paths_json(FILE *out, const struct cprof_path_report *r);
/* `goroutines` (src/report/goroutines.c): at most limit groups. */
void cprof_report_goroutines(FILE *out, const struct cprof_goroutines_report *r, size_t limit);
void cprof_report_goroutines_json(FILE *out, const struct cprof_goroutines_report *r, size_t limit);

#endif
