/*
 * hash.h - the one string hash the hash tables of cprof-core use (FNV-1a,
 * 64 bits): symbol and type names, group keys, DWARF names.
 */
#ifndef CPROF_HASH_H
#define CPROF_HASH_H

#include <stdint.h>

static inline uint64_t cprof_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

#endif
