/*
 * layout.c - the guesses (see types-internal.h): an object no typed pointer
 * reaches (a leaked one, or one held only through untyped memory) whose size
 * and pointer words fit exactly one struct type that DWARF gave other
 * objects.  A guess is marked as one (CPROF_TYPE_LAYOUT) and never followed.
 *
 * Which struct types are candidates for an object: only those of the module
 * whose memory points to it - the module of the root slot nearest to it (a
 * global's module, a stack frame's code), or, for objects no such root
 * reaches (leaked ones), the executable's.  A library's private structs
 * otherwise match whatever the program allocates with the same shape: libc's
 * 24-byte `struct binding` matched git's tree nodes and gdb's strings.
 *
 * Data structures:
 *   - per object, that module (a breadth-first search over the graph from
 *     the root slots whose module is known);
 *   - the candidates, sorted by their DWARF (module) and size.
 */
#include <stdlib.h>
#include <string.h>

#include "types-internal.h"

enum { MAX_CANDIDATES = 64 };    /* per module */
static const uint32_t NO_MODULE = UINT32_MAX;

struct candidate {
	uintptr_t dbg;             /* the DWARF the type comes from */
	uint64_t size;
	uint32_t type;
};

static int candidate_cmp(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->dbg != y->dbg)
		return x->dbg < y->dbg ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* The module whose memory root slot `slot` of r is: a global's module, a
 * frame's code; NO_MODULE for registers, TLS blocks and other memory. */
static uint32_t root_module(struct cprof_core *core, const struct cprof_roots *rs,
			    const struct cprof_root *r, uint64_t slot)
{
	const struct cprof_module *m = NULL;
	if (r->kind == CPROF_ROOT_GLOBALS && r->module >= 0 &&
	    (size_t)r->module < core->n_modules)
		return (uint32_t)r->module;
	if (r->kind == CPROF_ROOT_STACK && r->thread >= 0 && (size_t)r->thread < rs->n_threads) {
		size_t k = cprof_root_slot_frame(rs, r, slot);
		if (k < rs->n_frames[r->thread])
			m = cprof_core_module(core, rs->frames[r->thread][k].pc);
	} else if (r->kind == CPROF_ROOT_RUNTIME) {
		uint64_t pc, cfa;
		if (cprof_root_slot_code(rs, r, slot, &pc, &cfa))
			m = cprof_core_module(core, pc);
	}
	return m ? (uint32_t)(m - core->modules) : NO_MODULE;
}

/*
 * Per object, the module of the nearest root slot whose module is known
 * (breadth-first from all of them at once), or NO_MODULE.  NULL when out of
 * memory.
 */
static uint32_t *object_modules(struct cprof_core *core, const struct cprof_roots *rs,
				const struct cprof_graph *g)
{
	uint32_t n = g->n;
	uint32_t *mod = malloc((n ? n : 1) * sizeof(*mod));
	uint32_t *q = malloc((n ? n : 1) * sizeof(*q));
	if (!mod || !q) {
		free(mod);
		free(q);
		return NULL;
	}
	memset(mod, 0xff, n * sizeof(*mod));
	size_t tail = 0;
	for (size_t i = 0; i < g->n_root_refs; i++) {
		const struct cprof_root_ref *ref = &g->root_refs[i];
		if (ref->dst >= n || mod[ref->dst] != NO_MODULE)
			continue;
		uint32_t m = root_module(core, rs, &rs->roots[ref->root], ref->slot);
		if (m != NO_MODULE) {
			mod[ref->dst] = m;
			q[tail++] = ref->dst;
		}
	}
	for (size_t head = 0; head < tail; head++) {
		uint32_t o = q[head];
		for (uint64_t e = g->row[o]; e < g->row[o + 1]; e++) {
			uint32_t d = g->dst[e];
			if (mod[d] == NO_MODULE) {
				mod[d] = mod[o];
				q[tail++] = d;
			}
		}
	}
	free(q);
	return mod;
}

/* Whether object o has the layout of struct type `type`: its pointer words
 * (slots) NULL or the start of an object, at least one of them not NULL, and
 * no other word pointing into an object. */
static bool layout_fits(struct cprof_types *t, const struct cprof_object *objs,
			const struct cprof_graph *g, uint32_t o, uint32_t type)
{
	const struct cprof_type *ty = &t->types[type];
	uint64_t e = g->row[o], end = g->row[o + 1];
	uint32_t s = 0, hits = 0;
	/* Every edge of o must sit at a slot and point at a start. */
	for (; e < end; e++) {
		if (g->src_off[e] >= ty->size)
			return false;
		while (s < ty->n_slots && ty->slots[s].offset < g->src_off[e])
			s++;
		if (s == ty->n_slots || ty->slots[s].offset != g->src_off[e] ||
		    cprof_graph_interior(g, e))
			return false;
		/* and at an object that could be the slot's type */
		uint64_t tsize = ty->slots[s].kind != CPROF_SLOT_STATIC ||
				 ty->slots[s].target == NONE ? 0 : t->types[ty->slots[s].target].size;
		if (tsize && objs[g->dst[e]].size < tsize)
			return false;
		hits++;
	}
	return hits > 0;
}

/* The candidates: struct types DWARF gave some object, with pointer slots,
 * at most MAX_CANDIDATES per module, sorted by module and size.  *n_ret 0
 * when there are none (or out of memory). */
static struct candidate *candidates(struct cprof_types *t, uint32_t n_objects,
				    size_t *n_ret)
{
	*n_ret = 0;
	uint8_t *used = calloc(t->n_types ? t->n_types : 1, 1);
	struct candidate *c = malloc((t->n_types ? t->n_types : 1) * sizeof(*c));
	if (!used || !c) {
		free(used);
		free(c);
		return NULL;
	}
	for (uint32_t o = 0; o < n_objects; o++)
		if (t->object_type[o] != NONE && t->object_source[o] == CPROF_TYPE_DWARF &&
		    !t->priv->keys[t->object_type[o]].elem)
			used[t->object_type[o]] = 1;
	size_t n = 0;
	for (uint32_t i = 0; i < t->n_types; i++) {
		if (!used[i] || !t->types[i].size || t->types[i].go ||
		    strncmp(t->types[i].name, "struct ", 7))
			continue;
		types_ensure_slots(t, i);
		if (t->types[i].n_slots)
			c[n++] = (struct candidate){ t->priv->keys[i].dbg, t->types[i].size, i };
	}
	free(used);
	qsort(c, n, sizeof(*c), candidate_cmp);
	/* At most MAX_CANDIDATES per module (the first types, by size). */
	size_t k = 0;
	for (size_t i = 0, run = 0; i < n; i++) {
		run = i && c[i].dbg == c[i - 1].dbg ? run + 1 : 0;
		if (run < MAX_CANDIDATES)
			c[k++] = c[i];
	}
	*n_ret = k;
	return c;
}

/* The DWARF of module index m (the executable's for NO_MODULE), as a key,
 * cached in dbg_of (0: none; done[m] once asked). */
static uintptr_t module_dbg(struct cprof_core *core, uint32_t m, uintptr_t *dbg_of,
			    bool *done)
{
	size_t i = m == NO_MODULE ? core->n_modules : m;
	if (!done[i]) {
		const struct cprof_module *mod = m == NO_MODULE ? cprof_core_executable(core) :
				&core->modules[m];
		uint64_t bias;
		done[i] = true;
		dbg_of[i] = mod ? (uintptr_t)cprof_core_module_dwarf(core, mod, &bias) : 0;
	}
	return dbg_of[i];
}

void types_by_layout(struct cprof_types *t, const struct cprof_object *objs,
		     const struct cprof_roots *rs, const struct cprof_graph *g,
		     struct cprof_progress *progress, struct queue *q)
{
	struct cprof_core *core = t->priv->core;
	size_t n_cand;
	struct candidate *cand = candidates(t, g->n, &n_cand);
	uint32_t *mod = n_cand ? object_modules(core, rs, g) : NULL;
	uintptr_t *dbg_of = calloc(core->n_modules + 1, sizeof(*dbg_of));
	bool *done = calloc(core->n_modules + 1, sizeof(*done));
	for (uint32_t o = 0; mod && dbg_of && done && o < g->n; o++) {
		if (progress && (o & 0xffff) == 0)
			cprof_progress_update(progress, "types: layouts", o, g->n);
		if (t->object_type[o] != NONE || !cprof_object_is_node(&objs[o]) ||
		    (objs[o].flags & CPROF_OBJECT_COLLECTED))
			continue;          /* a garbage collector's objects are not C structs */
		uintptr_t dbg = module_dbg(core, mod[o], dbg_of, done);
		uint32_t match = NONE;
		int matches = 0;
		for (size_t c = 0; dbg && c < n_cand && matches < 2; c++) {
			uint64_t size = cand[c].size;
			if (cand[c].dbg != dbg || size > objs[o].size || objs[o].size - size >= SLACK)
				continue;
			if (layout_fits(t, objs, g, o, cand[c].type)) {
				match = cand[c].type;
				matches++;
			}
		}
		if (matches == 1)
			types_assign(t, objs, o, match, CPROF_TYPE_LAYOUT, false, 0, q);
	}
	free(done);
	free(dbg_of);
	free(mod);
	free(cand);
}
