/*
 * go.h - private to the Go provider (src/heap/go.c, src/heap/go-roots.c):
 * its operations, one file each side of the roots.
 */
#ifndef CPROF_HEAP_GO_H
#define CPROF_HEAP_GO_H

#include "cprof/goruntime.h"
#include "cprof/heap.h"
#include "cprof/roots.h"

struct cprof_error *go_roots(struct cprof_core *core, struct cprof_allocator *self,
			     uint32_t owner, struct cprof_roots *rs,
			     struct cprof_root_claims *claims);
enum cprof_thread_registers go_thread_registers(const struct cprof_allocator *self, int thread);
uint64_t go_thread_sp(const struct cprof_allocator *self, int thread);
size_t go_root_levels(struct cprof_core *core, const struct cprof_allocator *self,
		      const struct cprof_roots *rs, const struct cprof_root *r,
		      uint64_t slot, struct cprof_root_level *levels);
void go_root_level_name(struct cprof_core *core, const struct cprof_allocator *self,
			const struct cprof_roots *rs, const struct cprof_root *r,
			uint64_t slot, size_t level, char *buf, size_t size);
void go_slot_name(struct cprof_core *core, const struct cprof_allocator *self,
		  const struct cprof_roots *rs, const struct cprof_root *r,
		  uint64_t slot, char *buf, size_t size);
bool go_slot_frame(const struct cprof_allocator *self, const struct cprof_root *r,
		   uint64_t slot, uint64_t *pc, uint64_t *cfa);

#endif
