/*
 * sites.c - writing an allocator's allocation sites to cprof.db: the tables
 * site and object_site (formats/schema.sql), from the profiler's records its
 * walker read (Go's memory profile buckets, jemalloc's prof_gctx_t).
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

/* "fn (file:line)" of a return address: the innermost call at pc - 1, an
 * inlined one where the module's call source knows it (Go: the runtime
 * records one pc per call, inlined ones included, as runtime.CallersFrames
 * and pprof take it). */
static void frame_name(struct cprof_core *core, uint64_t pc, char *buf, size_t size)
{
	struct cprof_symbol calls[16];
	if (!cprof_core_calls(core, pc, true, calls, 16))
		cprof_core_symbolize(core, pc, true, &calls[0]);
	cprof_symbol_where(&calls[0], pc, buf, size);
}

/* Whether frame f (at pc) is the allocator's own (Go's mallocgc, newobject,
 * makeslice, jemalloc's prof_backtrace, imalloc...: how, not where). */
static bool own_frame(struct cprof_core *core, const struct cprof_sites *si, uint64_t pc,
		      const char *f)
{
	if (si->skip_prefix && !strncmp(f, si->skip_prefix, strlen(si->skip_prefix)))
		return true;
	return si->skip_module && cprof_core_module(core, pc - 1) == si->skip_module;
}

/* The site's name: its first frame outside the allocator; its stack, a
 * frame a line. */
static char *site_text(struct cprof_core *core, const struct cprof_sites *si,
		       const struct cprof_site_record *s, char *name, size_t size)
{
	size_t cap = 64 + 200 * s->n_pcs, len = 0;
	char *stack = malloc(cap);
	if (!stack)
		return NULL;
	stack[0] = '\0';
	name[0] = '\0';
	for (size_t k = 0; k < s->n_pcs; k++) {
		char f[400];
		frame_name(core, s->pcs[k], f, sizeof(f));
		if (!name[0] && !own_frame(core, si, s->pcs[k], f))
			snprintf(name, size, "%s", f);
		if (len + strlen(f) + 2 > cap)
			break;
		len += (size_t)sprintf(stack + len, "%s%s", k ? "\n" : "", f);
	}
	if (!name[0]) {            /* only the allocator's frames: the innermost */
		size_t first = strcspn(stack, "\n");
		snprintf(name, size, "%.*s", (int)first, first ? stack : "?");
	}
	return stack;
}

/* The object at addr (objs sorted by address), or -1. */
static int64_t object_at(const struct cprof_object *objs, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (objs[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && objs[lo].addr == addr ? (int64_t)lo : -1;
}

struct cprof_error *cprof_store_sites(struct cprof_store *st, struct cprof_core *core,
				      const struct cprof_sites *si,
				      const struct cprof_object *objs, size_t n)
{
	if (!si || !si->n_sites)
		return NULL;
	sqlite3_stmt *s, *o;
	struct cprof_error *err = store_prepare(st, "INSERT INTO site VALUES (?, ?, ?, ?, ?)", &s);
	if (err)
		return err;
	/* OR IGNORE: a record that falls back to addr + header may name an
	   object another record names (Go: a dead, unswept neighbour's record). */
	if ((err = store_prepare(st, "INSERT OR IGNORE INTO object_site VALUES (?, ?)", &o))) {
		sqlite3_finalize(s);
		return err;
	}
	for (size_t i = 0; !err && i < si->n_sites; i++) {
		char name[400];
		char *stack = site_text(core, si, &si->sites[i], name, sizeof(name));
		if (!stack) {
			err = &cprof_enomem;
			break;
		}
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, name);
		store_bind_text(s, 3, stack);
		store_bind_u64(s, 4, si->sites[i].key);
		store_bind_u64(s, 5, si->sites[i].size);
		free(stack);
		err = store_step(st, s);
	}
	for (size_t i = 0; !err && i < si->n_samples; i++) {
		int64_t id = object_at(objs, n, si->samples[i].addr);
		if (id < 0 && si->header)
			id = object_at(objs, n, si->samples[i].addr + si->header);
		if (id < 0)
			continue;
		store_bind_u64(o, 1, (uint64_t)id);
		store_bind_u64(o, 2, si->samples[i].site);
		err = store_step(st, o);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(o);
	return err;
}
