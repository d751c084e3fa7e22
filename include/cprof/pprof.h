/*
 * pprof.h - pprof profiles (formats/profile.proto): building and writing one
 * (gzipped, what `go tool pprof` reads), and reading one (gzipped or not, and
 * the legacy text heap profiles of gperftools and jemalloc's jeprof dumps).
 *
 * In:  samples (a stack of locations, leaf first, and one value per sample
 *      type), for the writer; a file, for the reader.
 * Out: a profile file; or the profile's samples with the addresses of their
 *      locations, its mappings' build ids, its sample types and period.
 *
 * The builder deduplicates strings, functions and locations, so that a
 * report adds frames as it meets them.  protobuf-c and zlib are used here
 * only (src/pprof/).  Nothing here knows cprof.db.
 */
#ifndef CPROF_PPROF_H
#define CPROF_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cprof/error.h"

struct cprof_pprof;

/* A profile with n_types values per sample: types[i] in units[i]
 * ("inuse_space", "bytes").  default_type: the one viewers show first. */
struct cprof_error *cprof_pprof_create(const char *const *types, const char *const *units,
				       size_t n_types, const char *default_type,
				       struct cprof_pprof **ret);
void cprof_pprof_destroy(struct cprof_pprof *p);

/* A mapping of the process (a module): its range, file offset, file and
 * build id (hex; NULL when unknown); *ret is its id. */
struct cprof_error *cprof_pprof_mapping(struct cprof_pprof *p, uint64_t start, uint64_t limit,
					uint64_t offset, const char *file, const char *build_id,
					uint64_t *ret);

/* One frame of a location (a location has several when functions were
 * inlined, innermost first). */
struct cprof_pprof_line {
	const char *function;      /* never NULL: "?" when unknown */
	const char *file;          /* NULL when unknown */
	int64_t line;              /* 0 when unknown */
};

/* A location: an address in a mapping (0, 0 for a frame that is no code: a
 * type, a root), with its lines; the same (mapping, address, first line) is
 * the same location.  *ret is its id. */
struct cprof_error *cprof_pprof_location(struct cprof_pprof *p, uint64_t mapping,
					 uint64_t address, const struct cprof_pprof_line *lines,
					 size_t n_lines, uint64_t *ret);

/* A sample: locations, leaf first, and its n_types values. */
struct cprof_error *cprof_pprof_sample(struct cprof_pprof *p, const uint64_t *locations,
				       size_t n, const int64_t *values);

/* A comment line (go tool pprof -comments prints them). */
struct cprof_error *cprof_pprof_comment(struct cprof_pprof *p, const char *text);

/* Writes the profile, gzipped, to path (or stdout when path is "-"). */
struct cprof_error *cprof_pprof_write(struct cprof_pprof *p, const char *path);

/* ---- reading ---- */

struct cprof_pprof_sample {
	uint64_t *addrs;           /* its locations' addresses, leaf first */
	char **functions;          /* the function each location's address is in (its
				      outermost line; not owned: strings of the
				      profile), NULL when none */
	size_t n_addrs;
	int64_t *values;           /* one per sample type */
	int64_t bytes;             /* the label "bytes" (Go: the object size), 0 when none */
};

struct cprof_pprof_mapping {
	uint64_t start, limit, offset;
	char *file, *build_id;     /* "" when absent */
};

struct cprof_pprof_profile {
	const char *format;        /* "profile.proto", "gperftools heap", "jemalloc heap_v2" */
	bool return_addresses;     /* addrs are return addresses (legacy text profiles);
				      else call sites, return address - 1 (Go's profiles) */
	char **types, **units;     /* sample types */
	size_t n_types;
	int64_t period;            /* Go: MemProfileRate; legacy: the sampling period */
	int64_t time_nanos;
	struct cprof_pprof_sample *samples;
	size_t n_samples;
	struct cprof_pprof_mapping *mappings;
	size_t n_mappings;
	void *priv;                /* what the strings above point into */
};

/* Reads a profile: profile.proto gzipped or not, or a legacy text heap
 * profile ("heap profile: ..." of gperftools, "heap_v2/..." of jemalloc).
 * Legacy samples get the types inuse_objects, inuse_space, alloc_objects,
 * alloc_space, unscaled.  Bad data: an error naming path. */
struct cprof_error *cprof_pprof_read(const char *path, struct cprof_pprof_profile *ret);
/* The same from n bytes in memory (a fuzz input), named name in messages. */
struct cprof_error *cprof_pprof_read_buffer(const char *name, const void *buf, size_t n,
					    struct cprof_pprof_profile *ret);
void cprof_pprof_profile_deinit(struct cprof_pprof_profile *p);
/* The index of sample type name, or -1. */
int cprof_pprof_type_index(const struct cprof_pprof_profile *p, const char *name);

#endif
