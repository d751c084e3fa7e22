/*
 * goruntime-internal.h - what the readers of the Go runtime share (the files of
 * src/goruntime/ and the heap walker, src/heap/go.c): reading the runtime's
 * struct layouts and constants from DWARF.
 */
#ifndef CPROF_GORUNTIME_INTERNAL_H
#define CPROF_GORUNTIME_INTERNAL_H

#include <string.h>

#include "cprof/goruntime.h"

/* Fills offs[i] with member names[i]'s offset in struct name (-1 when
 * absent), *size (may be NULL) with the struct's size.  False when the struct
 * is not in the DWARF. */
bool go_offsets(struct cprof_core *core, const struct cprof_module *m, const char *name,
		const char *const *names, int64_t *offs, size_t n, uint64_t *size);

/* A member read as an integer: its name in, offset and size out. */
struct go_member {
	const char *name;
	int64_t off, size;
};

/* Fills mem[0..n) from struct name; false unless every member is there, is
 * an integer of at most 8 bytes and lies within the struct. */
bool go_read_members(struct cprof_core *core, const struct cprof_module *m,
		     const char *name, struct go_member *mem, size_t n, uint64_t *size);

/* The DWARF constant name (a runtime package constant), or dflt: the value
 * of the Go versions that lack it. */
static inline int64_t go_constant(struct cprof_core *core, const struct cprof_module *m,
				  const char *name, int64_t dflt)
{
	int64_t v;
	return cprof_dwarf_constant(core, m, name, &v) ? v : dflt;
}

/* The value of member f in buf, a copy of the struct (little-endian). */
static inline uint64_t go_get(const uint8_t *buf, const struct go_member *f)
{
	uint64_t v = 0;
	memcpy(&v, buf + f->off, (size_t)f->size);
	return v;
}

#endif
