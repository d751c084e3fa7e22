/*
 * roots-internal.h - what the root finders of src/roots/ share: the claimed
 * ranges (memory some root or heap already accounts for).
 */
#ifndef CPROF_ROOTS_INTERNAL_H
#define CPROF_ROOTS_INTERNAL_H

#include "cprof/roots.h"

struct cprof_claims {
	struct cprof_range *r;
	size_t n, cap;
};

/* What a provider's roots operation may claim (cprof_root_claim_memory,
 * cprof_root_claim_data). */
struct cprof_root_claims {
	struct cprof_claims *memory, *data;
};

struct cprof_error *cprof_claim(struct cprof_claims *c, uint64_t start, uint64_t end);

#endif
