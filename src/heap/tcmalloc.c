/*
 * tcmalloc.c - the tcmalloc (gperftools) provider: tcmalloc is detected, its
 * heap is not walked yet.
 *
 * Found by its own entry points: a module defining tc_malloc (every
 * gperftools build: libtcmalloc.so.4, libtcmalloc_minimal.so.4, or linked
 * into the executable).  Its version is TC_VERSION_STRING, "gperftools 2.10",
 * from the module's file.
 *
 * With no walk operation its allocator is reported "not walked": every
 * report says that its heap was not analyzed rather than counting no leak.
 * The walker (the page map's spans, the central, transfer and thread caches)
 * is one walk operation in this file.
 */
#include "cprof/heap.h"

static struct cprof_error *tcmalloc_detect(struct cprof_core *core, struct cprof_allocator *self,
					   bool *found)
{
	for (size_t i = 0; i < core->n_modules && !*found; i++) {
		const struct cprof_module *m = &core->modules[i];
		if (!cprof_module_defines(core, m, "tc_malloc"))
			continue;
		*found = true;
		self->module = m;
		snprintf(self->found_by, sizeof(self->found_by), "the symbol tc_malloc in %s",
			 m->name);
		if (!cprof_module_version_string(core, m, "gperftools ", self->version,
						 sizeof(self->version)))
			snprintf(self->version, sizeof(self->version), "unknown");
	}
	return NULL;
}

const struct cprof_heap_provider cprof_tcmalloc_provider = {
	.name = "tcmalloc",
	.detect = tcmalloc_detect,
};
