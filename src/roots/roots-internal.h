/*
 * roots-internal.h - what the root finders of src/roots/ share: the claimed
 * ranges (memory some root or heap already accounts for) and adding roots.
 */
#ifndef CPROF_ROOTS_INTERNAL_H
#define CPROF_ROOTS_INTERNAL_H

#include "cprof/roots.h"

struct cprof_claims {
	struct cprof_range *r;
	size_t n, cap;
};

struct cprof_error *cprof_claim(struct cprof_claims *c, uint64_t start, uint64_t end);
struct cprof_error *cprof_roots_add(struct cprof_roots *rs, const struct cprof_root *r);

/* A Go process's roots (go-roots.c): goroutine stacks, .data/.bss by the
 * runtime's masks.  Claims the heap arenas in cl and the Go module's data
 * sections in meta (so that the module roots leave them out). */
struct cprof_error *cprof_go_roots(struct cprof_core *core,
				   const struct cprof_go_runtime *go,
				   struct cprof_roots *rs, struct cprof_claims *cl,
				   struct cprof_claims *meta);

#endif
