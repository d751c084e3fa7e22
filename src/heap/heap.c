/*
 * heap.c - the table of allocator providers and the order in which the
 * pipeline asks them (see include/cprof/heap.h).
 *
 * To add an allocator: write src/heap/<name>.c defining a struct
 * cprof_heap_provider (detect at least; walk when its heap can be read) and
 * add it to cprof_heap_providers[] below.  Its tests: a corpus program that
 * uses it and records what it holds, and the allocator's own statistics.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/heap.h"
#include "cprof/search.h"

extern const struct cprof_heap_provider cprof_glibc_provider;
extern const struct cprof_heap_provider cprof_jemalloc_provider;
extern const struct cprof_heap_provider cprof_tcmalloc_provider;
extern const struct cprof_heap_provider cprof_go_provider;

const struct cprof_heap_provider *const cprof_heap_providers[] = {
	&cprof_glibc_provider,
	&cprof_jemalloc_provider,
	&cprof_tcmalloc_provider,
	&cprof_go_provider,
	NULL,
};

const char *cprof_heap_state_name(enum cprof_heap_state s)
{
	switch (s) {
	case CPROF_HEAP_WALKED: return "walked";
	case CPROF_HEAP_UNUSED: return "unused";
	case CPROF_HEAP_NOT_WALKED: return "not_walked";
	}
	return "?";
}

const struct cprof_allocator *cprof_heap_owner(const struct cprof_heap_walk *walk,
					       const struct cprof_heap *h)
{
	return h->owner < walk->n_allocators ? &walk->allocators[h->owner] : NULL;
}

const char *cprof_object_free_list(const struct cprof_heap_walk *walk,
				   const struct cprof_object *o)
{
	if (!o->free_list || o->heap >= walk->n_heaps)
		return NULL;
	const struct cprof_allocator *a = cprof_heap_owner(walk, &walk->heaps[o->heap]);
	const struct cprof_heap_provider *p = a ? a->provider : NULL;
	return p && o->free_list < p->n_free_lists ? p->free_lists[o->free_list] : "?";
}

const struct cprof_allocator *cprof_heap_malloc(const struct cprof_heap_walk *walk)
{
	for (size_t i = 0; i < walk->n_allocators; i++)
		if (walk->allocators[i].serves_malloc)
			return &walk->allocators[i];
	return NULL;
}

bool cprof_heap_any_flag(const struct cprof_heap_walk *walk, unsigned flag)
{
	for (size_t i = 0; i < walk->n_allocators; i++)
		if (walk->allocators[i].heap_state == CPROF_HEAP_WALKED &&
		    (walk->allocators[i].provider->flags & flag))
			return true;
	return false;
}

void cprof_heap_vwarn(struct cprof_core *core, const char *name, size_t *count, size_t max,
		      const char *src_file, int src_line, const char *fmt, va_list ap)
{
	if ((*count)++ >= max) {
		if (*count == max + 1)
			cprof_warn(core->warnings, "%s: %s heap: further warnings suppressed",
				   core->path, name);
		return;
	}
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	cprof_warn_at(core->warnings, src_file, src_line, "%s: %s heap: %s", core->path, name, msg);
	free(msg);
}

struct cprof_error *cprof_heap_add(struct cprof_heap_walk *walk,
				   const struct cprof_heap *heap, uint32_t *ret)
{
	if (walk->n_heaps == walk->cap_heaps) {
		size_t cap = walk->cap_heaps ? 2 * walk->cap_heaps : 16;
		struct cprof_heap *h = realloc(walk->heaps, cap * sizeof(*h));
		if (!h)
			return &cprof_enomem;
		walk->heaps = h;
		walk->cap_heaps = cap;
	}
	walk->heaps[walk->n_heaps] = *heap;
	walk->heaps[walk->n_heaps].owner = walk->current;
	*ret = (uint32_t)walk->n_heaps++;
	return NULL;
}

struct cprof_error *cprof_heap_exclude(struct cprof_heap_walk *walk,
				       uint64_t start, uint64_t end)
{
	struct cprof_range *r = realloc(walk->excluded,
					(walk->n_excluded + 1) * sizeof(*r));
	if (!r)
		return &cprof_enomem;
	walk->excluded = r;
	r[walk->n_excluded].start = start;
	r[walk->n_excluded].end = end;
	walk->n_excluded++;
	return NULL;
}

struct cprof_error *cprof_heap_claim(struct cprof_core *core, struct cprof_heap_walk *walk,
				     uint64_t start, uint64_t end)
{
	if (end <= start)
		return NULL;
	for (size_t i = 0; i < walk->n_claims; i++) {
		const struct cprof_claim *c = &walk->claims[i];
		if (c->end <= start || end <= c->start)
			continue;
		/* A provider claims each region once: twice is our bug. */
		assert(c->owner != walk->current);
		cprof_warn(core->warnings, "%s: 0x%llx-0x%llx is claimed by both %s and %s; %s keeps it",
			   core->path, (unsigned long long)start, (unsigned long long)end,
			   walk->allocators[c->owner].name, walk->allocators[walk->current].name,
			   walk->allocators[c->owner].name);
		return NULL;
	}
	if (walk->n_claims % 64 == 0) {
		struct cprof_claim *a = realloc(walk->claims, (walk->n_claims + 64) * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		walk->claims = a;
	}
	walk->claims[walk->n_claims++] = (struct cprof_claim){ start, end, walk->current };
	return NULL;
}

static int claim_cmp(const void *a, const void *b)
{
	const struct cprof_claim *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

const struct cprof_claim *cprof_heap_claimed(const struct cprof_heap_walk *walk,
					     uint64_t addr)
{
	size_t lo = CPROF_FIRST_ABOVE(walk->claims, walk->n_claims, end, addr);
	return lo < walk->n_claims && walk->claims[lo].start <= addr ? &walk->claims[lo] : NULL;
}

struct cprof_error *cprof_heap_add_summary(struct cprof_heap_walk *walk,
					   const struct cprof_allocator *s)
{
	assert(walk->current < walk->n_allocators);
	struct cprof_allocator *a = &walk->allocators[walk->current];
	if (s->version[0])
		snprintf(a->version, sizeof(a->version), "%s", s->version);
	snprintf(a->found_by, sizeof(a->found_by), "%s", s->found_by);
	a->arenas = s->arenas;
	a->n_arenas = s->n_arenas;
	a->used_count = s->used_count;
	a->used_bytes = s->used_bytes;
	a->free_count = s->free_count;
	a->free_bytes = s->free_bytes;
	memcpy(a->stats, s->stats, sizeof(a->stats));
	a->n_stats = s->n_stats;
	a->stats_name = s->stats_name;
	a->heap_state = CPROF_HEAP_WALKED;
	a->reason[0] = '\0';
	return NULL;
}

/* 1. Which allocators the process has. */
static struct cprof_error *detect_all(struct cprof_core *core, struct cprof_heap_walk *walk)
{
	for (size_t i = 0; cprof_heap_providers[i]; i++) {
		const struct cprof_heap_provider *p = cprof_heap_providers[i];
		if (walk->only && strcmp(walk->only, p->name))
			continue;
		struct cprof_allocator a = { .provider = p, .name = p->name,
					     .heap_state = CPROF_HEAP_NOT_WALKED };
		bool found = false;
		struct cprof_error *err = p->detect(core, &a, &found);
		if (err || !found) {
			if (p->destroy)
				p->destroy(a.state);
			if (err)
				return err;
			continue;
		}
		struct cprof_allocator *all = realloc(walk->allocators,
						      (walk->n_allocators + 1) * sizeof(*all));
		if (!all) {
			if (p->destroy)
				p->destroy(a.state);
			return &cprof_enomem;
		}
		walk->allocators = all;
		walk->allocators[walk->n_allocators++] = a;
	}
	return NULL;
}

/* An allocator no provider knows (mimalloc, ASan's, a program's own): it
 * is only named, as the module malloc resolves to, so that no report takes
 * the heaps it did not read for the process's whole heap. */
static const struct cprof_heap_provider unknown_provider = {
	.name = "unknown",
};

/* Appends an allocator row for the unknown allocator of module m. */
static struct cprof_allocator *add_unknown(struct cprof_heap_walk *walk,
					   const struct cprof_module *m)
{
	struct cprof_allocator *all = realloc(walk->allocators,
					      (walk->n_allocators + 1) * sizeof(*all));
	if (!all)
		return NULL;
	walk->allocators = all;
	struct cprof_allocator *a = &walk->allocators[walk->n_allocators++];
	*a = (struct cprof_allocator){ .provider = &unknown_provider,
				       .name = unknown_provider.name, .module = m,
				       .heap_state = CPROF_HEAP_NOT_WALKED };
	return a;
}

/*
 * 3. An executable whose file was not read (another build of it, missing,
 * not ELF): a heap its own code keeps - a Go runtime's, a malloc linked in -
 * cannot be found, and without this row nothing would say so (a Go
 * program's core with the wrong EXE showed 5 glibc chunks and no word of
 * its 120 MiB Go heap).
 */
static struct cprof_error *unread_executable(struct cprof_core *core,
					     struct cprof_heap_walk *walk)
{
	const struct cprof_module *exe = cprof_core_executable(core);
	if (!exe || walk->only || exe->status == CPROF_MODULE_OK ||
	    exe->status == CPROF_MODULE_UNVERIFIED)
		return NULL;
	for (size_t i = 0; i < walk->n_allocators; i++)
		if (walk->allocators[i].module == exe)
			return NULL;
	struct cprof_allocator *a = add_unknown(walk, exe);
	if (!a)
		return &cprof_enomem;
	snprintf(a->found_by, sizeof(a->found_by), "the executable %s was not read (%s)",
		 exe->name, cprof_module_status_name(exe->status));
	snprintf(a->reason, sizeof(a->reason),
		 "the executable's file was not read (%s): a heap its own code keeps "
		 "(Go's, a malloc linked in) would not be found", cprof_module_status_name(exe->status));
	return NULL;
}

/* 2. Which of them malloc resolves to. */
static struct cprof_error *find_malloc(struct cprof_core *core, struct cprof_heap_walk *walk)
{
	const char *how = NULL;
	const struct cprof_module *m = cprof_heap_find_malloc(core, &how);
	struct cprof_allocator *best = NULL;
	for (size_t i = 0; m && i < walk->n_allocators; i++) {
		struct cprof_allocator *a = &walk->allocators[i];
		/* A static executable holds libc and may hold another malloc
		   too: the other one replaced libc's. */
		if (a->module == m && (!best || (best->provider->flags & CPROF_PROVIDER_LIBC)))
			best = a;
	}
	if (!best && m && !walk->only) {
		if (!(best = add_unknown(walk, m)))
			return &cprof_enomem;
		snprintf(best->found_by, sizeof(best->found_by),
			 "malloc resolves to %s, which no walker recognizes", m->name);
		snprintf(best->reason, sizeof(best->reason),
			 "%s's malloc is an allocator cprof-core does not know", m->name);
	}
	if (best) {
		best->serves_malloc = true;
		snprintf(best->malloc_how, sizeof(best->malloc_how), "%s", how);
	}
	return NULL;
}

/* After the walks: a heap inside memory another allocator claimed. */
static void check_conflicts(struct cprof_core *core, const struct cprof_heap_walk *walk)
{
	for (size_t i = 0; i < walk->n_heaps; i++) {
		const struct cprof_heap *h = &walk->heaps[i];
		const struct cprof_claim *c = cprof_heap_claimed(walk, h->start);
		if (c && c->owner != h->owner)
			cprof_warn(core->warnings, "%s: %s heap 0x%llx-0x%llx lies in memory %s claimed",
				   core->path, walk->allocators[h->owner].name,
				   (unsigned long long)h->start, (unsigned long long)h->end,
				   walk->allocators[c->owner].name);
	}
}

struct cprof_error *cprof_heap_walk_all(struct cprof_core *core,
					struct cprof_heap_walk *walk,
					cprof_object_fn *fn, void *arg)
{
	struct cprof_error *err = detect_all(core, walk);
	if (err)
		return err;
	if ((err = find_malloc(core, walk)) || (err = unread_executable(core, walk)))
		return err;
	for (size_t i = 0; i < walk->n_allocators; i++) {
		struct cprof_allocator *a = &walk->allocators[i];
		walk->current = (uint32_t)i;
		if (a->provider->claim && (err = a->provider->claim(core, walk, a)))
			return err;
	}
	if (walk->n_claims)
		qsort(walk->claims, walk->n_claims, sizeof(*walk->claims), claim_cmp);
	for (size_t i = 0; i < walk->n_allocators; i++) {
		struct cprof_allocator *a = &walk->allocators[i];
		walk->current = (uint32_t)i;
		if (!a->provider->walk) {
			if (!a->reason[0])
				snprintf(a->reason, sizeof(a->reason),
					 "cprof-core has no walker for %s yet", a->name);
			continue;
		}
		if ((err = a->provider->walk(core, walk, a, fn, arg)))
			return err;
		if (a->heap_state != CPROF_HEAP_WALKED && !a->reason[0])
			snprintf(a->reason, sizeof(a->reason), "its metadata was not found");
	}
	check_conflicts(core, walk);
	return NULL;
}

struct cprof_error *cprof_heap_store(struct cprof_store *st, struct cprof_core *core,
				     const struct cprof_heap_walk *walk,
				     const struct cprof_object *objs, size_t n,
				     const struct cprof_retention *rt)
{
	for (size_t i = 0; i < walk->n_allocators; i++) {
		const struct cprof_allocator *a = &walk->allocators[i];
		struct cprof_error *err;
		if (a->provider->store && a->heap_state == CPROF_HEAP_WALKED &&
		    (err = a->provider->store(st, core, a, (uint32_t)i, objs, n, rt)))
			return err;
	}
	return NULL;
}

void cprof_heap_walk_deinit(struct cprof_heap_walk *walk)
{
	for (size_t i = 0; i < walk->n_allocators; i++) {
		struct cprof_allocator *a = &walk->allocators[i];
		free(a->arenas);
		if (a->provider->destroy)
			a->provider->destroy(a->state);
	}
	free(walk->allocators);
	free(walk->heaps);
	free(walk->excluded);
	free(walk->claims);
	memset(walk, 0, sizeof(*walk));
}
