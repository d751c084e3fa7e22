/*
 * go-roots.c - the Go provider's roots (struct cprof_heap_provider, see
 * include/cprof/roots.h): goroutine stacks by the runtime's stack maps, span
 * specials (finalizers, cleanups, weak handles), the Go module's .data and
 * .bss through the runtime's own pointer masks; which threads' registers are
 * roots; where each root sits in the root hierarchy (goroutine groups,
 * goroutines, their frames) and the names of its slots.  The runtime's
 * structures come from cprof/goruntime.h.
 */
#include <stdlib.h>
#include <string.h>

#include "go.h"

/* The levels of a goroutine root, and of a special's. */
enum { L_GROUP, L_GOROUTINE, L_FRAME };
static const uint64_t SPECIAL_KEY = 1ull << 63;

/* A goroutine's stack: precise when the runtime's stack maps cover every
 * frame (dead slots of parked frames hold stale pointers), else every word. */
static struct cprof_error *goroutine_root(struct cprof_core *core,
					  const struct cprof_go_runtime *go, uint32_t owner,
					  struct cprof_roots *rs, size_t i, size_t *precise)
{
	const struct cprof_goroutine *g = &go->goroutines[i];
	struct cprof_root r = { .kind = CPROF_ROOT_RUNTIME, .thread = g->thread,
				.module = -1, .start = g->sp, .end = g->stack_hi,
				.owner = (int)owner, .owner_kind = "goroutine", .key = i };
	snprintf(r.name, sizeof(r.name), "goroutine %llu", (unsigned long long)g->goid);
	size_t bytes = (size_t)((g->stack_hi - g->sp) / 8 + 7) / 8;
	uint8_t *mask = calloc(bytes ? bytes : 1, 1);
	struct cprof_error *err;
	if (!mask)
		return &cprof_enomem;
	if (g->sp_known && cprof_go_stack_mask(core, go, g, mask)) {
		if ((err = cprof_roots_keep_mask(rs, mask)))
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
				.start = start, .end = start + 8 * words, .owner = -1 };
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
	if ((err = cprof_roots_keep_mask(rs, mask)))
		return err;
	r.mask = mask;
	return cprof_roots_add(rs, &r);
}

/* The roots of one span special: the record's words; for a finalizer also
 * its object's pointers (by the object's mask), though not the object. */
static const char *const special_what[] = {
	[CPROF_GO_FINALIZER] = "finalizer", [CPROF_GO_CLEANUP] = "cleanup",
	[CPROF_GO_WEAK_HANDLE] = "weak handle",
};

/* A finalizer's record and its object's pointers are two roots with the same
 * key (the special's index): one root node. */
static struct cprof_error *special_roots(struct cprof_core *core, struct cprof_roots *rs,
					 uint32_t owner, size_t i, const struct cprof_go_special *sp,
					 struct cprof_go_ptrmask *pm)
{
	struct cprof_root r = { .kind = CPROF_ROOT_RUNTIME, .thread = -1, .module = -1,
				.start = sp->root, .end = sp->root + sp->root_len,
				.owner = (int)owner, .owner_kind = "special", .key = i };
	snprintf(r.name, sizeof(r.name), "%s of 0x%llx", special_what[sp->kind],
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
		if ((err = cprof_roots_keep_mask(rs, mask)))
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
				    uint32_t owner, struct cprof_roots *rs)
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
			err = special_roots(core, rs, owner, i, sp, pm);
	}
	if (pm)
		cprof_go_ptrmask_close(pm);
	return err;
}

struct cprof_error *go_roots(struct cprof_core *core, struct cprof_allocator *self,
			     uint32_t owner, struct cprof_roots *rs,
			     struct cprof_root_claims *claims)
{
	struct cprof_go_runtime *go = self->state;
	struct cprof_error *err;
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
		if ((err = goroutine_root(core, go, owner, rs, i, &precise)))
			return err;
	}
	go->stacks_precise = precise;
	go->stacks_conservative = stacks - precise;
	if ((err = specials(core, go, owner, rs)))
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
	if ((err = cprof_root_claim_data(claims, go->noptrdata, go->enoptrdata)) ||
	    (err = cprof_root_claim_data(claims, go->data, go->edata)) ||
	    (err = cprof_root_claim_data(claims, go->bss, go->ebss)) ||
	    (err = cprof_root_claim_data(claims, go->noptrbss, go->enoptrbss)))
		return err;
	/* The composite literals package variables point to: their slots
	   named by the variables (they lie in .data and .bss, scanned below). */
	struct cprof_static_object *st;
	size_t n_st;
	if ((err = cprof_go_statics(core, go, &st, &n_st)))
		return err;
	err = cprof_roots_add_statics(rs, st, n_st);
	free(st);
	if (err)
		return err;
	const char *base = strrchr(go->module->name, '/');
	char label[160];
	snprintf(label, sizeof(label), "%s .data", base ? base + 1 : go->module->name);
	if ((err = masked_root(core, rs, mi, go->data, go->edata, go->gcdatamask, label)))
		return err;
	snprintf(label, sizeof(label), "%s .bss", base ? base + 1 : go->module->name);
	return masked_root(core, rs, mi, go->bss, go->ebss, go->gcbssmask, label);
}

/* In a Go process only a thread running a goroutine (or a system or cgo
 * call of one) can hold a live pointer in a register, and only in a general
 * one: an idle M's registers are the scheduler's leftovers, and Go keeps no
 * pointer in a vector register across a safe point (memmove leaves copies
 * of pointers there).  A thread that is no M (a cgo program's own C thread)
 * is left to the default: all its registers, its red zone. */
enum cprof_thread_registers go_thread_registers(const struct cprof_allocator *self, int thread)
{
	const struct cprof_go_runtime *go = self->state;
	for (size_t k = 0; k < go->n_goroutines; k++)
		if (go->goroutines[k].thread == thread)
			return CPROF_REGISTERS_GENERAL;
	/* An M running no goroutine: the scheduler's leftovers.  A thread no
	   M is (a cgo program's own C thread) is C's: no opinion. */
	if (go->m_threads && !go->m_threads[thread])
		return CPROF_REGISTERS_DEFAULT;
	return CPROF_REGISTERS_NONE;
}

uint64_t go_thread_sp(const struct cprof_allocator *self, int thread)
{
	const struct cprof_go_runtime *go = self->state;
	return go->thread_sp ? go->thread_sp[thread] : 0;
}

/* The frame of goroutine g holding slot. */
static size_t goroutine_frame(const struct cprof_goroutine *g, uint64_t slot)
{
	size_t k = 0;
	while (k + 1 < g->n_frames && g->frames[k + 1].sp <= slot)
		k++;
	return k;
}

/* Goroutine roots: group -> goroutine -> frame; a special: one node. */
size_t go_root_levels(struct cprof_core *core, const struct cprof_allocator *self,
		      const struct cprof_roots *rs, const struct cprof_root *r,
		      uint64_t slot, struct cprof_root_level *levels)
{
	(void)core;
	(void)rs;
	const struct cprof_go_runtime *go = self->state;
	if (strcmp(r->owner_kind, "goroutine")) {
		/* level 0 holds goroutine groups too: keys apart */
		levels[0] = (struct cprof_root_level){ "special", SPECIAL_KEY | r->key, -1 };
		return 1;
	}
	const struct cprof_goroutine *g = &go->goroutines[r->key];
	levels[L_GROUP] = (struct cprof_root_level){ "goroutines", g->group, -1 };
	levels[L_GOROUTINE] = (struct cprof_root_level){ "goroutine", r->key, g->thread };
	if (!g->n_frames)
		return 2;
	levels[L_FRAME] = (struct cprof_root_level){
		"frame", r->key << 32 | goroutine_frame(g, slot), g->thread };
	return 3;
}

void go_root_level_name(struct cprof_core *core, const struct cprof_allocator *self,
			const struct cprof_roots *rs, const struct cprof_root *r,
			uint64_t slot, size_t level, char *buf, size_t size)
{
	const struct cprof_go_runtime *go = self->state;
	if (strcmp(r->owner_kind, "goroutine")) {
		const struct cprof_go_special *sp = &go->profile->specials[r->key];
		snprintf(buf, size, "%s of 0x%llx", special_what[sp->kind],
			 (unsigned long long)sp->object);
		return;
	}
	const struct cprof_goroutine *g = &go->goroutines[r->key];
	if (level == L_GROUP) {
		snprintf(buf, size, "goroutines [%s%s%s] %s", g->status_name,
			 *g->wait_reason ? ", " : "", g->wait_reason, cprof_go_function(core, g));
	} else if (level == L_GOROUTINE) {
		snprintf(buf, size, "goroutine %llu", (unsigned long long)g->goid);
	} else {
		go_slot_name(core, self, rs, r, slot, buf, size);
	}
}

void go_slot_name(struct cprof_core *core, const struct cprof_allocator *self,
		  const struct cprof_roots *rs, const struct cprof_root *r,
		  uint64_t slot, char *buf, size_t size)
{
	(void)rs;
	const struct cprof_go_runtime *go = self->state;
	if (strcmp(r->owner_kind, "goroutine")) {
		snprintf(buf, size, "%s +0x%llx", r->name, (unsigned long long)(slot - r->start));
		return;
	}
	const struct cprof_goroutine *g = &go->goroutines[r->key];
	if (!g->n_frames) {
		snprintf(buf, size, "goroutine %llu stack+0x%llx", (unsigned long long)g->goid,
			 (unsigned long long)(slot - g->stack_lo));
		return;
	}
	/* The slot is in the physical frame's own function (the last of its
	   calls; inlined code keeps its locals there), numbered as the calls
	   of the goroutine's stack are (goroutine_frame.depth). */
	const struct cprof_go_frame *f = &g->frames[goroutine_frame(g, slot)];
	const struct cprof_go_call *c = &f->calls[f->n_calls - 1];
	struct cprof_symbol sym = { .function = strcmp(c->function, "?") ? c->function : NULL,
				    .file = strcmp(c->file, "?") ? c->file : NULL,
				    .line = c->line };
	char where[320];
	cprof_symbol_where(&sym, f->pc, where, sizeof(where));
	snprintf(buf, size, "goroutine %llu frame %u %s", (unsigned long long)g->goid,
		 f->depth + f->n_calls - 1, where);
}

/* A goroutine frame's CFA is its caller's SP. */
bool go_slot_frame(const struct cprof_allocator *self, const struct cprof_root *r,
		   uint64_t slot, uint64_t *pc, uint64_t *cfa)
{
	const struct cprof_go_runtime *go = self->state;
	if (strcmp(r->owner_kind, "goroutine"))
		return false;
	const struct cprof_goroutine *g = &go->goroutines[r->key];
	size_t k = goroutine_frame(g, slot);
	if (k + 1 >= g->n_frames)
		return false;
	*pc = g->frames[k].pc - !g->frames[k].exact;
	*cfa = g->frames[k + 1].sp;
	return true;
}
