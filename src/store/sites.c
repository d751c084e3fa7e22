/*
 * sites.c - writing a Go process's allocation sites to cprof.db: the tables
 * site and object_site (formats/schema.sql), from the memory profiler's
 * records the heap walker read (cprof/goruntime.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "cprof/goruntime.h"

/* "fn (file:line)" of a bucket's pc.  The runtime records one pc per call,
 * inlined ones included (tracebackPCs: the position of the call plus one),
 * so the call is the innermost one at pc - 1, as runtime.CallersFrames and
 * pprof take it. */
static void frame_name(struct cprof_core *core, const struct cprof_go_runtime *go,
		       uint64_t pc, char *buf, size_t size)
{
	struct cprof_go_call calls[16];
	struct cprof_symbol sym;
	cprof_core_symbolize(core, pc, true, &sym);
	if (cprof_go_pc_calls(core, go, pc, true, calls, 16) && strcmp(calls[0].function, "?")) {
		sym.function = calls[0].function;
		sym.file = strcmp(calls[0].file, "?") ? calls[0].file : NULL;
		sym.line = calls[0].line;
	}
	cprof_symbol_where(&sym, pc, buf, size);
}

/* The site's name: its first frame outside the runtime (mallocgc, newobject,
 * makeslice... are how, not where); its stack, a frame a line. */
static char *site_text(struct cprof_core *core, const struct cprof_go_runtime *go,
		       const struct cprof_go_site *s,
		       char *name, size_t size)
{
	size_t cap = 64 + 200 * s->n_pcs, len = 0;
	char *stack = malloc(cap);
	if (!stack)
		return NULL;
	stack[0] = '\0';
	name[0] = '\0';
	for (size_t k = 0; k < s->n_pcs; k++) {
		char f[400];
		frame_name(core, go, s->pcs[k], f, sizeof(f));
		if (!name[0] && strncmp(f, "runtime.", 8))
			snprintf(name, size, "%s", f);
		if (len + strlen(f) + 2 > cap)
			break;
		len += (size_t)sprintf(stack + len, "%s%s", k ? "\n" : "", f);
	}
	if (!name[0]) {            /* only runtime frames: the innermost */
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
				      const struct cprof_go_runtime *go,
				      const struct cprof_object *objs, size_t n)
{
	const struct cprof_go_profile *p = go ? go->profile : NULL;
	if (!p)
		return NULL;
	sqlite3_stmt *s, *o;
	struct cprof_error *err = store_prepare(st, "INSERT INTO site VALUES (?, ?, ?, ?, ?)", &s);
	if (err)
		return err;
	/* OR IGNORE: a damaged specials list may name an object twice. */
	if ((err = store_prepare(st, "INSERT OR IGNORE INTO object_site VALUES (?, ?)", &o))) {
		sqlite3_finalize(s);
		return err;
	}
	for (size_t i = 0; !err && i < p->n_sites; i++) {
		char name[400];
		char *stack = site_text(core, go, &p->sites[i], name, sizeof(name));
		if (!stack) {
			err = &cprof_enomem;
			break;
		}
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, name);
		store_bind_text(s, 3, stack);
		store_bind_u64(s, 4, p->sites[i].bucket);
		store_bind_u64(s, 5, p->sites[i].size);
		free(stack);
		err = store_step(st, s);
	}
	for (size_t i = 0; !err && i < p->n_samples; i++) {
		int64_t id = object_at(objs, n, p->samples[i].object);
		if (id < 0)
			continue;  /* a dead object's record: the sweeper has not run */
		store_bind_u64(o, 1, (uint64_t)id);
		store_bind_u64(o, 2, p->samples[i].site);
		err = store_step(st, o);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(o);
	return err;
}
