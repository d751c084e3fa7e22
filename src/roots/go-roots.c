/*
 * go-roots.c - the roots of a Go process (see include/cprof/roots.h):
 * goroutine stacks, and the Go module's .data and .bss through the runtime's
 * own pointer masks.  The runtime's structures come from cprof/goruntime.h.
 */
#include <stdlib.h>
#include <string.h>

#include "roots-internal.h"

/* Keeps mask (malloc'd) with the roots, which free it. */
static struct cprof_error *own_mask(struct cprof_roots *rs, uint8_t *mask)
{
	uint8_t **a = realloc(rs->masks, (rs->n_masks + 1) * sizeof(*a));
	if (!a) {
		free(mask);
		return &cprof_enomem;
	}
	rs->masks = a;
	rs->masks[rs->n_masks++] = mask;
	return NULL;
}

/* A goroutine's stack: precise when the runtime's stack maps cover every
 * frame (dead slots of parked frames hold stale pointers), else every word. */
static struct cprof_error *goroutine_root(struct cprof_core *core,
					  const struct cprof_go_runtime *go,
					  struct cprof_roots *rs, size_t i, size_t *precise)
{
	const struct cprof_goroutine *g = &go->goroutines[i];
	struct cprof_root r = { .kind = CPROF_ROOT_GOROUTINE, .thread = g->thread,
				.module = -1, .start = g->sp, .end = g->stack_hi,
				.goroutine = (int)i };
	snprintf(r.name, sizeof(r.name), "goroutine %llu", (unsigned long long)g->goid);
	size_t bytes = (size_t)((g->stack_hi - g->sp) / 8 + 7) / 8;
	uint8_t *mask = calloc(bytes ? bytes : 1, 1);
	struct cprof_error *err;
	if (!mask)
		return &cprof_enomem;
	if (g->sp_known && cprof_go_stack_mask(core, go, g, mask)) {
		if ((err = own_mask(rs, mask)))
			return err;
		r.mask = mask;
		(*precise)++;
	} else {
		free(mask);
	}
	return cprof_roots_add(rs, &r);
}

/* A precise root over [start, end), its pointer mask read from the core. */
static struct cprof_error *masked_root(struct cprof_core *core, struct cprof_roots *rs,
				       int module, uint64_t start, uint64_t end,
				       uint64_t mask_addr, const char *label)
{
	if (end <= start)
		return NULL;
	size_t words = (size_t)((end - start) / 8), bytes = (words + 7) / 8;
	struct cprof_root r = { .kind = CPROF_ROOT_GLOBALS, .thread = -1, .module = module,
				.start = start, .end = start + 8 * words, .goroutine = -1 };
	snprintf(r.name, sizeof(r.name), "%s", label);
	uint8_t *mask = malloc(bytes ? bytes : 1);
	if (!mask)
		return &cprof_enomem;
	struct cprof_error *err = mask_addr ? cprof_core_read(core, mask_addr, mask, bytes) :
				  cprof_error_create(CPROF_ERROR_FAULT, "no mask");
	if (err) {
		/* Without the mask every word may be a pointer (conservative). */
		cprof_warn(core->warnings, "%s: the Go runtime's pointer mask for %s is not in the core (%s); scanned conservatively",
			   core->path, label, err->message);
		cprof_error_destroy(err);
		free(mask);
		return cprof_roots_add(rs, &r);
	}
	if ((err = own_mask(rs, mask)))
		return err;
	r.mask = mask;
	return cprof_roots_add(rs, &r);
}

/* The roots of one span special: the record's words; for a finalizer also
 * its object's pointers (by the object's mask), though not the object. */
static struct cprof_error *special_roots(struct cprof_core *core, struct cprof_roots *rs,
					 const struct cprof_go_special *sp,
					 struct cprof_go_ptrmask *pm)
{
	static const char *const what[] = {
		[CPROF_GO_FINALIZER] = "finalizer", [CPROF_GO_CLEANUP] = "cleanup",
		[CPROF_GO_WEAK_HANDLE] = "weak handle",
	};
	struct cprof_root r = { .kind = CPROF_ROOT_SPECIAL, .thread = -1, .module = -1,
				.start = sp->root, .end = sp->root + sp->root_len,
				.goroutine = -1 };
	snprintf(r.name, sizeof(r.name), "%s of 0x%llx", what[sp->kind],
		 (unsigned long long)sp->object);
	struct cprof_error *err = cprof_roots_add(rs, &r);
	if (err || sp->kind != CPROF_GO_FINALIZER || !pm || !sp->size)
		return err;
	uint8_t *mask = calloc((size_t)(sp->size / 8 + 7) / 8 + 1, 1);
	if (!mask)
		return &cprof_enomem;
	enum cprof_go_ptrs ptrs = cprof_go_object_pointers(pm, sp->object, sp->size, mask);
	if (ptrs == CPROF_GO_PTRS_NONE) {
		free(mask);
		return NULL;
	}
	if (ptrs == CPROF_GO_PTRS_MASK) {
		if ((err = own_mask(rs, mask)))
			return err;
		r.mask = mask;
	} else {
		free(mask);
	}
	r.start = sp->object;
	r.end = sp->object + sp->size;
	snprintf(r.name, sizeof(r.name), "finalizer of 0x%llx, its object",
		 (unsigned long long)sp->object);
	return cprof_roots_add(rs, &r);
}

/* Whether [start, end) lies in one heap arena (goroutine stacks and the
 * objects specials are set on do). */
static bool in_arena(const struct cprof_go_runtime *go, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < go->n_arenas; i++)
		if (go->arenas[i].start <= start && start < end && end <= go->arenas[i].end)
			return true;
	return false;
}

/* Whether [start, end) is a sound section of module m: inside it and in a
 * writable segment.  Bad moduledata would make a huge root. */
static bool in_module_data(struct cprof_core *core, const struct cprof_module *m,
			   uint64_t start, uint64_t end)
{
	if (start > end || start < m->start || end > m->end)
		return false;
	/* .bss may run from the file's last page into the anonymous mapping
	   after it: writable segments end to end. */
	for (uint64_t pos = start; pos < end;) {
		const struct cprof_segment *seg = cprof_core_segment(core, pos);
		if (!seg || !(seg->flags & CPROF_SEG_W) || seg->end <= pos)
			return false;
		pos = seg->end;
	}
	return true;
}

/* Finalizers, cleanups and weak handles (from the walker's specials). */
static struct cprof_error *specials(struct cprof_core *core, const struct cprof_go_runtime *go,
				    struct cprof_roots *rs)
{
	if (!go->profile || !go->profile->n_specials)
		return NULL;
	struct cprof_go_ptrmask *pm = NULL;
	struct cprof_error *err = cprof_go_ptrmask_open(core, go, &pm);
	if (err) {            /* the objects are then scanned word by word */
		cprof_error_destroy(err);
		pm = NULL;
	}
	for (size_t i = 0; i < go->profile->n_specials && !err; i++) {
		const struct cprof_go_special *sp = &go->profile->specials[i];
		if (in_arena(go, sp->object, sp->object + sp->size))
			err = special_roots(core, rs, sp, pm);
	}
	if (pm)
		cprof_go_ptrmask_close(pm);
	return err;
}

struct cprof_error *cprof_go_roots(struct cprof_core *core,
				   const struct cprof_go_runtime *go,
				   struct cprof_roots *rs, struct cprof_claims *cl,
				   struct cprof_claims *meta)
{
	struct cprof_error *err;
	rs->go = go;
	/* The arenas hold spans, goroutine stacks and free pages: none is a
	   thread's stack or TLS, nor anonymous memory to scan. */
	for (size_t i = 0; i < go->n_arenas; i++)
		if ((err = cprof_claim(cl, go->arenas[i].start, go->arenas[i].end)))
			return err;
	size_t precise = 0, stacks = 0, outside = 0;
	for (size_t i = 0; i < go->n_goroutines; i++) {
		const struct cprof_goroutine *g = &go->goroutines[i];
		if (!g->stack_hi)
			continue;
		/* Goroutine stacks are manual spans of the heap arenas. */
		if (!in_arena(go, g->stack_lo, g->stack_hi)) {
			if (++outside <= 20)
				cprof_warn(core->warnings, "%s: goroutine %llu: its stack 0x%llx-0x%llx is in no heap arena; not scanned",
					   core->path, (unsigned long long)g->goid,
					   (unsigned long long)g->stack_lo,
					   (unsigned long long)g->stack_hi);
			continue;
		}
		stacks++;
		if ((err = goroutine_root(core, go, rs, i, &precise)))
			return err;
	}
	rs->go_stacks_precise = precise;
	rs->go_stacks_conservative = stacks - precise;
	if ((err = specials(core, go, rs)))
		return err;
	/* The Go module's data: .data and .bss precisely, the pointer-free
	   .noptrdata and .noptrbss not at all; the rest of its writable
	   segment (a cgo program's C globals) is left to the module roots. */
	int mi = (int)(go->module - core->modules);
	const struct cprof_module *m = go->module;
	if (!in_module_data(core, m, go->noptrdata, go->enoptrdata) ||
	    !in_module_data(core, m, go->data, go->edata) ||
	    !in_module_data(core, m, go->bss, go->ebss) ||
	    !in_module_data(core, m, go->noptrbss, go->enoptrbss)) {
		cprof_warn(core->warnings, "%s: runtime.firstmoduledata's data sections are not in %s's writable segments; its data is scanned word by word",
			   core->path, m->name);
		return NULL;
	}
	if ((err = cprof_claim(meta, go->noptrdata, go->enoptrdata)) ||
	    (err = cprof_claim(meta, go->data, go->edata)) ||
	    (err = cprof_claim(meta, go->bss, go->ebss)) ||
	    (err = cprof_claim(meta, go->noptrbss, go->enoptrbss)))
		return err;
	const char *base = strrchr(go->module->name, '/');
	char label[160];
	snprintf(label, sizeof(label), "%s .data", base ? base + 1 : go->module->name);
	if ((err = masked_root(core, rs, mi, go->data, go->edata, go->gcdatamask, label)))
		return err;
	snprintf(label, sizeof(label), "%s .bss", base ? base + 1 : go->module->name);
	return masked_root(core, rs, mi, go->bss, go->ebss, go->gcbssmask, label);
}
