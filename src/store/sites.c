/*
 * sites.c - writing an allocator's allocation sites to cprof.db: the tables
 * site and object_site (formats/schema.sql), from the profiler's records its
 * walker read (Go's memory profile buckets, jemalloc's prof_gctx_t).
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "cprof/graph.h"

/* Whether frame f (at pc) is the allocator's own (Go's mallocgc, newobject,
 * makeslice, jemalloc's prof_backtrace, imalloc...: how, not where). */
static bool own_frame(struct cprof_core *core, const struct cprof_sites *si, uint64_t pc,
		      const char *f)
{
	for (const char *const *p = si->skip_prefixes; p && *p; p++)
		if (!strncmp(f, *p, strlen(*p)))
			return true;
	return si->skip_module && cprof_core_module(core, pc - 1) == si->skip_module;
}

static bool entry_frame(const struct cprof_sites *si, const char *function)
{
	for (const char *const *p = si->entries; p && *p && function; p++)
		if (!strcmp(function, *p))
			return true;
	return false;
}

/*
 * Site i's frames (site_frame: each return address and what it symbolizes
 * to) and its text: its name, the first frame outside the allocator, and its
 * stack, a frame a line.  Frames come from cprof_core_calls, so that what
 * symbolizes a PC (Go's inline tree) reaches every report.
 */
static struct cprof_error *site_frames(struct cprof_store *st, struct cprof_core *core,
				       const struct cprof_sites *si, size_t i, sqlite3_stmt *fr,
				       char *name, size_t size, char **ret)
{
	const struct cprof_site_record *s = &si->sites[i];
	size_t cap = 64 + 200 * s->n_pcs, len = 0;
	char *stack = malloc(cap);
	struct cprof_error *err = NULL;
	if (!stack)
		return &cprof_enomem;
	stack[0] = '\0';
	name[0] = '\0';
	char after_entry[400] = "";
	bool entry_seen = false;
	for (size_t k = 0; !err && k < s->n_pcs; k++) {
		char f[400];
		struct cprof_symbol calls[16], sym;
		uint64_t pc = s->pcs[k];
		/* the innermost call at pc - 1, an inlined one where the module's
		   call source knows it: Go's runtime records one pc per call,
		   inlined ones included, as runtime.CallersFrames and pprof take
		   it */
		size_t n_calls = cprof_core_calls(core, pc, true, calls, 16);
		bool known = n_calls > 0;
		sym = calls[0];
		if (!known)
			known = cprof_core_symbolize(core, pc, true, &sym);
		cprof_symbol_where(&sym, pc, f, sizeof(f));
		if (!name[0] && !own_frame(core, si, pc, f))
			snprintf(name, size, "%s", f);
		/* an entry point, or a frame named as the allocator's own (its
		   entry may have tail-called on: malloc jumps to
		   je_malloc_default in an optimized jemalloc) */
		if (si->entries && known &&
		    (entry_frame(si, sym.function) || own_frame(core, si, pc, sym.function))) {
			entry_seen = true;
			after_entry[0] = '\0';
		} else if (entry_seen && !after_entry[0]) {
			snprintf(after_entry, sizeof(after_entry), "%s", f);
		}
		if (len + strlen(f) + 2 <= cap)
			len += (size_t)sprintf(stack + len, "%s%s", k ? "\n" : "", f);
		const struct cprof_module *m = cprof_core_module(core, pc - 1);
		store_bind_u64(fr, 1, i);
		store_bind_u64(fr, 2, k);
		store_bind_u64(fr, 3, pc);
		if (m)
			store_bind_u64(fr, 4, (uint64_t)(m - core->modules));
		else
			sqlite3_bind_null(fr, 4);
		store_bind_text(fr, 5, known ? sym.function : NULL);
		store_bind_text(fr, 6, known ? sym.file : NULL);
		if (known && sym.file && sym.line > 0)
			sqlite3_bind_int(fr, 7, sym.line);
		else
			sqlite3_bind_null(fr, 7);
		/* the runtime records the calls it inlined into one machine frame
		   as pcs of their own, innermost first: the next pc is the caller's */
		store_bind_u64(fr, 8, n_calls > 1);
		err = store_step(st, fr);
	}
	if (after_entry[0])
		snprintf(name, size, "%s", after_entry);
	if (!name[0]) {            /* only the allocator's frames: the innermost */
		size_t first = strcspn(stack, "\n");
		snprintf(name, size, "%.*s", (int)first, first ? stack : "?");
	}
	if (err)
		free(stack);
	else
		*ret = stack;
	return err;
}

/* The object at addr (objs sorted by address), or -1. */
static int64_t object_at(const struct cprof_object *objs, size_t n, uint64_t addr)
{
	size_t i = cprof_objects_first_at(objs, 0, n, addr);
	return i < n && objs[i].addr == addr ? (int64_t)i : -1;
}

struct cprof_error *cprof_store_sites(struct cprof_store *st, struct cprof_core *core,
				      const struct cprof_sites *si,
				      const struct cprof_object *objs, size_t n)
{
	if (!si || !si->n_sites)
		return NULL;
	sqlite3_stmt *s = NULL, *o = NULL, *fr = NULL;
	struct cprof_error *err = store_prepare(st, "INSERT INTO site VALUES (?, ?, ?, ?, ?)", &s);
	/* OR IGNORE: a record that falls back to addr + header may name an
	   object another record names (Go: a dead, unswept neighbour's record). */
	if (!err)
		err = store_prepare(st, "INSERT OR IGNORE INTO object_site VALUES (?, ?)", &o);
	if (!err)
		err = store_prepare(st, "INSERT INTO site_frame VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &fr);
	for (size_t i = 0; !err && i < si->n_sites; i++) {
		char name[400];
		char *stack = NULL;
		if ((err = site_frames(st, core, si, i, fr, name, sizeof(name), &stack)))
			break;
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
	sqlite3_finalize(fr);
	return err;
}
