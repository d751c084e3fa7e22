/*
 * root-slots.c - what a root slot points to, from DWARF (see
 * types-internal.h).
 *
 * Data structures:
 *   - per module, its variables with a static address or a TLS offset,
 *     sorted by address, built on first use; and its compile units' address
 *     ranges, for Go, which writes no .debug_aranges;
 *   - per compile unit, its functions' address ranges, sorted, built on
 *     the unit's first look-up (struct unit_funcs);
 *   - a cache of frame slots by (pc, offset from the CFA): the locals at a
 *     pc are found by walking the function's scopes, and thousands of
 *     goroutines park at the same few pcs.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "types-internal.h"

/* ---- the variables of a module ---- */

static int var_cmp(const void *a, const void *b)
{
	const struct variable *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void push_var(struct variable **v, size_t *n, size_t *cap,
		     const struct variable *x)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		struct variable *a = realloc(*v, c * sizeof(*a));
		if (!a)
			return;
		*v = a;
		*cap = c;
	}
	(*v)[(*n)++] = *x;
}

/* Every top-level variable of the module with a static or TLS location. */
static void module_variables(struct cprof_core *core, const struct cprof_module *m,
			     struct module_vars *mv)
{
	mv->done = true;
	uint64_t bias;
	Dwarf *dbg = cprof_core_module_dwarf(core, m, &bias);
	if (!dbg)
		return;
	size_t cap_v = 0, cap_t = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(dbg, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;
		if (dwarf_offdie(dbg, off + hsize, &cu) && dwarf_child(&cu, &child) == 0) {
			do {
				if (dwarf_tag(&child) != DW_TAG_variable)
					continue;
				Dwarf_Attribute a;
				Dwarf_Op *expr;
				size_t len;
				Dwarf_Die type;
				Dwarf_Word size = 0;
				Dwarf_Attribute loc;
				if (!dwarf_attr(&child, DW_AT_location, &loc) ||
				    !dwarf_formref_die(dwarf_attr_integrate(&child, DW_AT_type, &a), &type) ||
				    dwarf_aggregate_size(&type, &size) != 0)
					continue;
				struct variable v = { 0, size, dbg, dwarf_dieoffset(&type) };
				if (cprof_dwarf_variable_address(core, m, dwarf_dieoffset(&child), &v.addr)) {
					push_var(&mv->vars, &mv->n_vars, &cap_v, &v);
				} else if (dwarf_getlocation(&loc, &expr, &len) == 0 && len == 2 &&
					   (expr[1].atom == DW_OP_form_tls_address ||
					    expr[1].atom == DW_OP_GNU_push_tls_address)) {
					v.addr = expr[0].number;
					push_var(&mv->tls, &mv->n_tls, &cap_t, &v);
				}
			} while (dwarf_siblingof(&child, &child) == 0);
		}
		off = next;
	}
	if (mv->n_vars)
		qsort(mv->vars, mv->n_vars, sizeof(*mv->vars), var_cmp);
	if (mv->n_tls)
		qsort(mv->tls, mv->n_tls, sizeof(*mv->tls), var_cmp);
}

static const struct variable *find_var(const struct variable *v, size_t n,
				       uint64_t addr)
{
	size_t lo = types_count_le(v, n, sizeof(*v), addr);
	if (lo && addr < v[lo - 1].addr + v[lo - 1].size)
		return &v[lo - 1];
	return NULL;
}

/* What the slot at addr inside variable var points to. */
static struct cprof_type_slot slot_type(struct cprof_types *t, const struct variable *var,
					uint64_t addr)
{
	Dwarf_Die die;
	if (!var || !dwarf_offdie(var->dbg, var->type, &die))
		return (struct cprof_type_slot){ .target = NONE, .alt = NONE };
	return types_pointee_at(t, var->dbg, &die, addr - var->addr, 0);
}

/* ---- stack locals ---- */

/* The type of what the stack slot at addr (in frame k of thread thr) points
 * to: the locals of the frame's function whose location at its pc is
 * DW_OP_fbreg, with the frame base the CFA (the caller's SP). */
static struct cprof_type_slot frame_slot_type(struct cprof_types *t,
					      struct cprof_core *core, uint64_t pc,
					      uint64_t cfa, uint64_t addr);

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Every unit's ranges (dwarf_ranges reads DW_AT_ranges and low/high pc). */
static void index_units(Dwarf *dbg, struct module_vars *mv)
{
	size_t cap = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	mv->cus_done = true;
	while (dwarf_nextcu(dbg, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t o = 0;
		while (dwarf_offdie(dbg, off + hsize, &cu) &&
		       (o = dwarf_ranges(&cu, o, &base, &lo, &hi)) > 0) {
			if (mv->n_cus == cap) {
				cap = cap ? 2 * cap : 256;
				struct cu_range *a = realloc(mv->cus, cap * sizeof(*a));
				if (!a)
					return;
				mv->cus = a;
			}
			mv->cus[mv->n_cus++] = (struct cu_range){ lo, hi, off + hsize };
		}
		off = next;
	}
	if (mv->n_cus)
		qsort(mv->cus, mv->n_cus, sizeof(*mv->cus), cu_range_cmp);
}

/* The compile unit holding addr (module-relative), by .debug_aranges, else
 * by the units' own ranges. */
static bool unit_at(struct module_vars *mv, Dwarf *dbg, uint64_t addr, Dwarf_Die *ret)
{
	if (dwarf_addrdie(dbg, addr, ret))
		return true;
	if (!mv->cus_done)
		index_units(dbg, mv);
	size_t lo = types_count_le(mv->cus, mv->n_cus, sizeof(*mv->cus), addr);
	return lo && addr < mv->cus[lo - 1].hi && dwarf_offdie(dbg, mv->cus[lo - 1].off, ret);
}

static bool is_scope(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block ||
	       tag == DW_TAG_inlined_subroutine;
}

/* Unit cu's top-level scopes' ranges, sorted (struct unit_funcs).  NULL when
 * out of memory: the caller then walks the unit as it is. */
static const struct unit_funcs *unit_funcs(struct module_vars *mv, Dwarf_Die *cu)
{
	Dwarf_Off off = dwarf_dieoffset(cu);
	size_t at = types_count_le(mv->units, mv->n_units, sizeof(*mv->units), off);
	if (at && mv->units[at - 1].cu == off)
		return &mv->units[at - 1];
	if (mv->n_units == mv->cap_units) {
		size_t cap = mv->cap_units ? 2 * mv->cap_units : 64;
		struct unit_funcs *a = realloc(mv->units, cap * sizeof(*a));
		if (!a)
			return NULL;
		mv->units = a;
		mv->cap_units = cap;
	}
	struct unit_funcs u = { off, NULL, NULL, 0 };
	size_t cap = 0;
	Dwarf_Die child;
	if (dwarf_child(cu, &child) == 0) {
		do {
			Dwarf_Addr base, lo, end;
			ptrdiff_t o = 0;
			if (!is_scope(dwarf_tag(&child)))
				continue;
			while ((o = dwarf_ranges(&child, o, &base, &lo, &end)) > 0) {
				if (lo >= end)
					continue;
				if (u.n == cap) {
					cap = cap ? 2 * cap : 256;
					struct cu_range *a = realloc(u.r, cap * sizeof(*a));
					if (!a) {
						free(u.r);
						return NULL;
					}
					u.r = a;
				}
				u.r[u.n++] = (struct cu_range){ lo, end, dwarf_dieoffset(&child) };
			}
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	if (u.n) {
		qsort(u.r, u.n, sizeof(*u.r), cu_range_cmp);
		u.max_hi = malloc(u.n * sizeof(*u.max_hi));
		if (!u.max_hi) {
			free(u.r);
			return NULL;
		}
		for (size_t i = 0; i < u.n; i++)
			u.max_hi[i] = i && u.max_hi[i - 1] > u.r[i].hi ? u.max_hi[i - 1] : u.r[i].hi;
	}
	memmove(&mv->units[at + 1], &mv->units[at], (mv->n_units - at) * sizeof(u));
	mv->units[at] = u;
	mv->n_units++;
	return &mv->units[at];
}

/* The top-level scope of cu holding pc (the first in the unit's order when
 * ranges overlap, as a walk of the unit finds it). */
static bool top_scope_at(struct module_vars *mv, Dwarf *dbg, Dwarf_Die *cu, uint64_t pc,
			 Dwarf_Die *ret)
{
	const struct unit_funcs *u = unit_funcs(mv, cu);
	if (!u) {
		if (dwarf_child(cu, ret) != 0)
			return false;
		do {
			if (is_scope(dwarf_tag(ret)) && dwarf_haspc(ret, pc) > 0)
				return true;
		} while (dwarf_siblingof(ret, ret) == 0);
		return false;
	}
	Dwarf_Off best = 0;
	for (size_t i = types_count_le(u->r, u->n, sizeof(*u->r), pc); i-- > 0 && u->max_hi[i] > pc;)
		if (pc < u->r[i].hi && (!best || u->r[i].off < best))
			best = u->r[i].off;
	return best && dwarf_offdie(dbg, best, ret);
}

/*
 * The scopes holding pc (module-relative) in module m, innermost first (a
 * lexical block, an inlined call, ..., the function), at most MAX_SCOPES:
 * what dwarf_getscopes gives, without its leak when a unit's DIEs are odd
 * (libdw 0.188 loses its array on some errors).  The function comes from its
 * unit's index; the scopes inside it are few and walked.
 */
int types_scopes_at(struct cprof_types *t, struct cprof_core *core,
		    const struct cprof_module *m, Dwarf *dbg, uint64_t pc, Dwarf_Die *ret)
{
	struct module_vars *mv = &t->priv->mods[m - core->modules];
	Dwarf_Die chain[MAX_SCOPES], cu, child;
	int n = 0;
	if (!unit_at(mv, dbg, pc, &cu) || !top_scope_at(mv, dbg, &cu, pc, &chain[0]))
		return 0;
	n = 1;
	while (n < MAX_SCOPES && dwarf_child(&chain[n - 1], &child) == 0) {
		bool in = false;
		do {
			if (is_scope(dwarf_tag(&child)) && dwarf_haspc(&child, pc) > 0) {
				chain[n++] = child;
				in = true;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
		if (!in)
			break;
	}
	for (int i = 0; i < n; i++)
		ret[i] = chain[n - 1 - i];
	return n;
}

static struct cprof_type_slot stack_slot_type(struct cprof_types *t,
					      struct cprof_core *core,
					      const struct cprof_roots *rs, int thr,
					      size_t k, uint64_t addr)
{
	if (k + 1 >= rs->n_frames[thr])
		return (struct cprof_type_slot){ .target = NONE, .alt = NONE };
	const struct cprof_frame *f = &rs->frames[thr][k];
	return frame_slot_type(t, core, f->is_activation ? f->pc : f->pc - 1,
			       rs->frames[thr][k + 1].sp, addr);
}

/* Whether a subprogram's frame base is the CFA (DW_OP_call_frame_cfa); Go
 * writes it as a DW_FORM_block1, which libdw takes for no expression. */
static bool frame_base_is_cfa(Dwarf_Die *sub)
{
	Dwarf_Attribute a;
	Dwarf_Op *expr;
	size_t len;
	Dwarf_Block blk;
	if (!dwarf_attr(sub, DW_AT_frame_base, &a))
		return false;
	if (dwarf_getlocation(&a, &expr, &len) == 0)
		return len == 1 && expr[0].atom == DW_OP_call_frame_cfa;
	return dwarf_formblock(&a, &blk) == 0 && blk.length == 1 &&
	       blk.data[0] == DW_OP_call_frame_cfa;
}

static struct cprof_type_slot frame_slot_lookup(struct cprof_types *t,
						struct cprof_core *core, uint64_t pc,
						uint64_t cfa, uint64_t addr)
{
	struct cprof_type_slot found = { .target = NONE, .alt = NONE };
	const struct cprof_module *m = cprof_core_module(core, pc);
	uint64_t bias;
	Dwarf *dbg = m ? cprof_core_module_dwarf(core, m, &bias) : NULL;
	if (!dbg || !cfa)
		return found;
	Dwarf_Die scopes[MAX_SCOPES];
	int n = types_scopes_at(t, core, m, dbg, pc - bias, scopes);
	bool cfa_base = false;
	for (int i = 0; i < n; i++) {
		if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
			cfa_base = frame_base_is_cfa(&scopes[i]);
			break;
		}
	}
	bool hit = false;
	for (int i = 0; cfa_base && i < n && !hit; i++) {
		Dwarf_Die v;
		if (dwarf_child(&scopes[i], &v) != 0)
			continue;
		do {
			int tag = dwarf_tag(&v);
			if (tag != DW_TAG_variable && tag != DW_TAG_formal_parameter)
				continue;
			Dwarf_Attribute a;
			Dwarf_Op *expr;
			size_t len;
			Dwarf_Die type;
			Dwarf_Word size = 0;
			if (!dwarf_attr(&v, DW_AT_location, &a) ||
			    dwarf_getlocation_addr(&a, pc - bias, &expr, &len, 1) != 1 ||
			    len != 1 || expr[0].atom != DW_OP_fbreg ||
			    !dwarf_formref_die(dwarf_attr_integrate(&v, DW_AT_type, &a), &type) ||
			    dwarf_aggregate_size(&type, &size) != 0)
				continue;
			uint64_t va = cfa + (int64_t)expr[0].number;
			if (va <= addr && addr < va + size) {
				found = types_pointee_at(t, dbg, &type, addr - va, 0);
				hit = found.kind != CPROF_SLOT_STATIC || found.target != NONE;
				break;
			}
		} while (dwarf_siblingof(&v, &v) == 0);
	}
	return found;
}

static size_t frame_hash(const struct cprof_types_private *p, uint64_t pc, int64_t off)
{
	uint64_t h = pc * 0x9E3779B97F4A7C15ull ^ (uint64_t)off * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 31)) & (p->fr_cap - 1);
}

static bool frame_cache_grow(struct cprof_types_private *p)
{
	size_t cap = p->fr_cap ? 2 * p->fr_cap : 1024;
	struct frame_key *k = calloc(cap, sizeof(*k));
	struct cprof_type_slot *v = calloc(cap, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return false;
	}
	struct frame_key *ok = p->fr_keys;
	struct cprof_type_slot *ov = p->fr_slots;
	size_t ocap = p->fr_cap;
	p->fr_keys = k;
	p->fr_slots = v;
	p->fr_cap = cap;
	for (size_t i = 0; i < ocap; i++) {
		if (!ok[i].pc)
			continue;
		size_t h = frame_hash(p, ok[i].pc, ok[i].off);
		while (k[h].pc)
			h = (h + 1) & (cap - 1);
		k[h] = ok[i];
		v[h] = ov[i];
	}
	free(ok);
	free(ov);
	return true;
}

/* frame_slot_lookup, cached by pc and the slot's offset from the CFA. */
static struct cprof_type_slot frame_slot_type(struct cprof_types *t,
					      struct cprof_core *core, uint64_t pc,
					      uint64_t cfa, uint64_t addr)
{
	struct cprof_types_private *p = t->priv;
	int64_t off = (int64_t)(addr - cfa);
	if (!pc || !cfa || (2 * (p->fr_used + 1) > p->fr_cap && !frame_cache_grow(p)))
		return frame_slot_lookup(t, core, pc, cfa, addr);
	size_t h = frame_hash(p, pc, off);
	while (p->fr_keys[h].pc && (p->fr_keys[h].pc != pc || p->fr_keys[h].off != off))
		h = (h + 1) & (p->fr_cap - 1);
	if (p->fr_keys[h].pc)
		return p->fr_slots[h];
	struct cprof_type_slot sl = frame_slot_lookup(t, core, pc, cfa, addr);
	p->fr_keys[h] = (struct frame_key){ pc, off };
	p->fr_slots[h] = sl;
	p->fr_used++;
	return sl;
}

/* What root slot ref points to, as far as DWARF says: a global's or TLS
 * variable's member, a stack frame's or goroutine frame's local. */
struct cprof_type_slot types_root_slot(struct cprof_types *t, const struct cprof_roots *rs,
				       const struct cprof_root_ref *ref)
{
	struct cprof_core *core = t->priv->core;
	const struct cprof_root *r = &rs->roots[ref->root];
	struct cprof_type_slot sl = { .target = NONE, .alt = NONE };
	if (r->kind == CPROF_ROOT_GLOBALS) {
		struct module_vars *mv = &t->priv->mods[r->module];
		if (!mv->done)
			module_variables(core, &core->modules[r->module], mv);
		const struct variable *v = find_var(mv->vars, mv->n_vars, ref->slot);
		const struct cprof_static_object *so = v ? NULL : cprof_roots_static(rs, ref->slot);
		struct variable sv;
		uint64_t bias;
		if (so && so->type) {
			/* a static object a variable points to: its type's, an
			   array's by its element */
			uint64_t at = so->start, size = so->end - so->start;
			if (so->elem_size) {
				at += (ref->slot - so->start) / so->elem_size * so->elem_size;
				size = so->elem_size;
			}
			sv = (struct variable){ at, size,
						cprof_core_module_dwarf(core, &core->modules[so->module], &bias),
						so->type };
			v = sv.dbg ? &sv : NULL;
		}
		sl = slot_type(t, v, ref->slot);
	} else if (r->kind == CPROF_ROOT_TLS) {
		/* The executable's TLS block ends at the thread pointer. */
		const struct cprof_module *exe = cprof_core_executable(core);
		if (!exe)
			return sl;
		size_t mi = (size_t)(exe - core->modules);
		struct module_vars *mv = &t->priv->mods[mi];
		if (!mv->done)
			module_variables(core, exe, mv);
		uint64_t bias;
		Elf *elf = cprof_core_module_elf(core, exe, &bias);
		size_t phnum;
		if (!elf || elf_getphdrnum(elf, &phnum))
			return sl;
		for (size_t k = 0; k < phnum; k++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, k, &ph) || ph.p_type != PT_TLS)
				continue;
			uint64_t align = ph.p_align ? ph.p_align : 1;
			uint64_t block = core->threads[r->thread].regs[CPROF_REG_FS_BASE] -
					 (ph.p_memsz + align - 1) / align * align;
			if (ref->slot >= block) {
				const struct variable *v = find_var(mv->tls, mv->n_tls,
								    ref->slot - block);
				if (v) {
					struct variable abs = *v;
					abs.addr += block;
					sl = slot_type(t, &abs, ref->slot);
				}
			}
		}
	} else if (r->kind == CPROF_ROOT_STACK) {
		size_t k = cprof_root_slot_frame(rs, r, ref->slot);
		sl = stack_slot_type(t, core, rs, r->thread, k, ref->slot);
	} else if (r->kind == CPROF_ROOT_RUNTIME) {
		/* a goroutine's frame: its allocator says where the frame is */
		uint64_t pc, cfa;
		if (cprof_root_slot_code(rs, r, ref->slot, &pc, &cfa))
			sl = frame_slot_type(t, core, pc, cfa, ref->slot);
	}
	return sl;
}

void types_root_slots_deinit(struct cprof_types_private *p)
{
	for (size_t i = 0; p->mods && i < p->n_mods; i++) {
		free(p->mods[i].vars);
		free(p->mods[i].tls);
		free(p->mods[i].cus);
		for (size_t k = 0; k < p->mods[i].n_units; k++) {
			free(p->mods[i].units[k].r);
			free(p->mods[i].units[k].max_hi);
		}
		free(p->mods[i].units);
	}
	free(p->mods);
	free(p->fr_keys);
	free(p->fr_slots);
}
