/*
 * statics.c - the static objects of a Go module: what its package variables
 * point to in its own data (see cprof_go_statics in include/cprof/goruntime.h).
 *
 * Why: for `var store = &Store{...}`, `var table = []*Entry{{...}, ...}` or a
 * struct literal's pointer field (`&Config{Limits: &Limits{...}}`) the Go
 * compiler lays the composite literal out in .data, under a symbol the linker
 * leaves out of the symbol table; the variable points to it.  Without this,
 * the object's slots read "app+0x10831b0" and the variable the user wrote
 * never appears.
 *
 * How: every package variable of the module's DWARF (name, address, type) is
 * walked through its type - struct members, array elements - and each
 * pointer, and each slice's array, whose value in the core points into the
 * module's scanned data (.data, .bss) where no variable and no symbol lies is
 * a static object, named by the path that led to it ("main.cfg.Limits"),
 * typed by the pointer's target (a slice's array by its element) and walked
 * in turn.  Strings (read-only data), maps and channels (made at run time, in
 * the heap) are not followed.  Each word of a static object gets the path to
 * it within the object (".Blocks", "[3].Items") for slot names.
 *
 * Go's DWARF: named types are typedefs of their struct; a slice is a struct
 * with DW_AT_go_kind 23 and its element in DW_AT_go_elem; a variable's
 * location is DW_OP_addr in a DW_FORM_block1 (libdw takes it for no
 * expression: read by hand).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

enum {
	DW_AT_GO_KIND = 0x2900,
	DW_AT_GO_ELEM = 0x2902,
	GO_KIND_SLICE = 23,        /* reflect.Kind, as Go's DWARF gives it */
	GO_KIND_STRUCT = 25,       /* (strings and interfaces are structs too) */
	MAX_STATICS = 4096,
	MAX_ELEMS = 4096,          /* array elements walked per array */
	MAX_VISITS = 1 << 20,      /* types walked in all: a bound on the time */
	MAX_DEPTH = 12,
	MAX_PATH_WORDS = 1 << 16,  /* words of an object given a path */
};

struct var {
	uint64_t addr, size;
	Dwarf_Off die;
};

struct finder {
	struct cprof_core *core;
	const struct cprof_go_runtime *rt;
	Dwarf *dbg;
	uint64_t bias;
	struct var *vars;          /* every package variable, sorted */
	size_t n_vars, cap_vars;
	uint64_t *syms;            /* where ELF symbols of the data start, sorted */
	size_t n_syms;
	struct cprof_static_object *out;
	size_t n, cap;
	size_t visits;
	bool oom;
	/* types known to hold no pointer and no slice (walk has nothing to do
	   in them), by DIE offset + 1: open addressing, 0 = empty */
	uint64_t *flat;
	uint8_t *flat_state;       /* enum flat_state */
	size_t cap_flat, n_flat;
};

enum flat_state { FLAT_UNKNOWN, FLAT_BUSY, FLAT_YES, FLAT_NO };

/* ---- DWARF ---- */

/* The type under typedefs and qualifiers. */
static bool strip(Dwarf_Die *d)
{
	for (int i = 0; i < 16; i++) {
		int tag = dwarf_tag(d);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type)
			return true;
		Dwarf_Attribute a;
		if (!dwarf_formref_die(dwarf_attr(d, DW_AT_type, &a), d))
			return false;
	}
	return false;
}

static bool ref_attr(Dwarf_Die *d, unsigned int name, Dwarf_Die *ret)
{
	Dwarf_Attribute a;
	return dwarf_formref_die(dwarf_attr(d, name, &a), ret) != NULL;
}

static uint64_t uattr(Dwarf_Die *d, unsigned int name)
{
	Dwarf_Attribute a;
	Dwarf_Word v = 0;
	if (dwarf_formudata(dwarf_attr(d, name, &a), &v) != 0)
		return 0;
	return v;
}

static uint64_t size_of(Dwarf_Die *d)
{
	Dwarf_Die t = *d;
	Dwarf_Word size = 0;
	if (!strip(&t) || dwarf_aggregate_size(&t, &size) != 0)
		return 0;
	return size;
}

/* An array type's element count (DW_AT_count or upper bound + 1). */
static uint64_t array_count(Dwarf_Die *arr)
{
	Dwarf_Die sub;
	if (dwarf_child(arr, &sub) != 0 || dwarf_tag(&sub) != DW_TAG_subrange_type)
		return 0;
	Dwarf_Attribute a;
	Dwarf_Word v;
	if (dwarf_formudata(dwarf_attr(&sub, DW_AT_count, &a), &v) == 0)
		return v;
	if (dwarf_formudata(dwarf_attr(&sub, DW_AT_upper_bound, &a), &v) == 0)
		return v + 1;
	return 0;
}

/* The member of struct st holding offset off: its offset and type. */
static const char *member_at(Dwarf_Die *st, uint64_t off, uint64_t *moff, Dwarf_Die *mtype)
{
	Dwarf_Die m;
	if (dwarf_child(st, &m) != 0)
		return NULL;
	do {
		Dwarf_Attribute a;
		Dwarf_Word o;
		if (dwarf_tag(&m) != DW_TAG_member ||
		    dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &o) != 0 ||
		    !ref_attr(&m, DW_AT_type, mtype))
			continue;
		uint64_t size = size_of(mtype);
		if (o <= off && off < o + size) {
			*moff = o;
			return dwarf_diename(&m);
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return NULL;
}

/* The path to offset off of type t, appended to buf at len. */
static void path_at(Dwarf_Die *t, uint64_t off, char *buf, size_t len, size_t size, int depth)
{
	Dwarf_Die d = *t, m;
	uint64_t moff;
	if (depth > MAX_DEPTH || len >= size || !strip(&d))
		return;
	/* a slice's, string's or interface's words are the field itself */
	uint64_t kind = uattr(&d, DW_AT_GO_KIND);
	if (dwarf_tag(&d) == DW_TAG_structure_type && (kind == GO_KIND_STRUCT || !kind)) {
		const char *name = member_at(&d, off, &moff, &m);
		if (!name)
			return;
		int n = snprintf(buf + len, size - len, ".%s", name);
		if (n > 0)
			path_at(&m, off - moff, buf, len + (size_t)n, size, depth + 1);
	} else if (dwarf_tag(&d) == DW_TAG_array_type && ref_attr(&d, DW_AT_type, &m)) {
		uint64_t es = size_of(&m);
		if (!es)
			return;
		int n = snprintf(buf + len, size - len, "[%llu]", (unsigned long long)(off / es));
		if (n > 0)
			path_at(&m, off % es, buf, len + (size_t)n, size, depth + 1);
	}
}

/* ---- types without pointers ---- */

/*
 * Most of what the variables' types hold is no pointer: integers, floats,
 * strings, arrays of them.  walk() descends into a member or an element only
 * when its type may hold one, known once per type: walking every member and
 * element of the runtime's big structs and arrays, a name formatted for
 * each, was most of the Go fuzz target's time.
 */
static uint8_t *flat_slot(struct finder *f, uint64_t key)
{
	if (2 * (f->n_flat + 1) > f->cap_flat) {
		size_t cap = f->cap_flat ? 2 * f->cap_flat : 1024;
		uint64_t *keys = calloc(cap, sizeof(*keys));
		uint8_t *state = calloc(cap, 1);
		if (!keys || !state) {
			free(keys);
			free(state);
			f->oom = true;
			return NULL;
		}
		for (size_t i = 0; i < f->cap_flat; i++) {
			if (!f->flat[i])
				continue;
			size_t h = (size_t)(f->flat[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);
			while (keys[h])
				h = (h + 1) & (cap - 1);
			keys[h] = f->flat[i];
			state[h] = f->flat_state[i];
		}
		free(f->flat);
		free(f->flat_state);
		f->flat = keys;
		f->flat_state = state;
		f->cap_flat = cap;
	}
	size_t h = (size_t)(key * 0x9e3779b97f4a7c15ull) & (f->cap_flat - 1);
	while (f->flat[h] && f->flat[h] != key)
		h = (h + 1) & (f->cap_flat - 1);
	if (!f->flat[h]) {
		f->flat[h] = key;
		f->n_flat++;
	}
	return &f->flat_state[h];
}

/* Whether a value of type t holds no pointer and no slice (nothing walk()
 * follows); false when unsure. */
static bool flat_type(struct finder *f, Dwarf_Die *t, int depth)
{
	Dwarf_Die d = *t, m;
	if (depth > 4 * MAX_DEPTH || !strip(&d))
		return false;
	uint8_t *st = flat_slot(f, dwarf_dieoffset(&d) + 1);
	if (!st || *st == FLAT_BUSY)
		return false;
	if (*st != FLAT_UNKNOWN)
		return *st == FLAT_YES;
	*st = FLAT_BUSY;
	int tag = dwarf_tag(&d);
	uint64_t kind = uattr(&d, DW_AT_GO_KIND);
	bool flat = true;
	if (tag == DW_TAG_pointer_type) {
		flat = false;
	} else if (tag == DW_TAG_structure_type && kind == GO_KIND_SLICE) {
		flat = false;
	} else if (tag == DW_TAG_structure_type && (kind == GO_KIND_STRUCT || !kind)) {
		if (dwarf_child(&d, &m) == 0) {
			do {
				Dwarf_Die mt;
				if (dwarf_tag(&m) == DW_TAG_member && ref_attr(&m, DW_AT_type, &mt) &&
				    !flat_type(f, &mt, depth + 1))
					flat = false;
			} while (flat && dwarf_siblingof(&m, &m) == 0);
		}
	} else if (tag == DW_TAG_array_type) {
		flat = ref_attr(&d, DW_AT_type, &m) && flat_type(f, &m, depth + 1);
	}
	/* the table may have moved: look the slot up again */
	st = flat_slot(f, dwarf_dieoffset(&d) + 1);
	if (st)
		*st = flat ? FLAT_YES : FLAT_NO;
	return flat;
}

/* ---- the variables ---- */

static int var_cmp(const void *a, const void *b)
{
	const struct var *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Calls fn for every top-level variable with a static address. */
static void each_var(struct finder *f, void (*fn)(struct finder *, Dwarf_Die *, uint64_t))
{
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (!f->oom && dwarf_nextcu(f->dbg, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, v;
		if (dwarf_offdie(f->dbg, off + hsize, &cu) && dwarf_child(&cu, &v) == 0) {
			do {
				uint64_t addr;
				if (dwarf_tag(&v) == DW_TAG_variable &&
				    cprof_dwarf_variable_address(f->core, f->rt->module,
								 dwarf_dieoffset(&v), &addr))
					fn(f, &v, addr);
			} while (!f->oom && dwarf_siblingof(&v, &v) == 0);
		}
		off = next;
	}
}

static void note_var(struct finder *f, Dwarf_Die *v, uint64_t addr)
{
	Dwarf_Die t;
	if (!ref_attr(v, DW_AT_type, &t))
		return;
	if (f->n_vars == f->cap_vars) {
		size_t cap = f->cap_vars ? 2 * f->cap_vars : 1024;
		struct var *a = realloc(f->vars, cap * sizeof(*a));
		if (!a) {
			f->oom = true;
			return;
		}
		f->vars = a;
		f->cap_vars = cap;
	}
	uint64_t size = size_of(&t);
	f->vars[f->n_vars++] = (struct var){ addr, size ? size : 1, dwarf_dieoffset(v) };
}

/* ---- the symbols ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The start of every symbol of the module in its data (the linker's own
 * objects have symbols but no DWARF variable). */
static void read_symbols(struct finder *f)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(f->core, f->rt->module, &bias);
	Elf_Scn *scn = NULL;
	size_t cap = 0;
	while (elf && !f->oom && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			uint64_t a;
			if (!gelf_getsym(data, (int)i, &sym))
				break;
			a = sym.st_value + bias;
			if (a < f->rt->data || a >= f->rt->ebss)
				continue;
			if (f->n_syms == cap) {
				uint64_t *x = realloc(f->syms, (cap = cap ? 2 * cap : 1024) * sizeof(*x));
				if (!x) {
					f->oom = true;
					return;
				}
				f->syms = x;
			}
			f->syms[f->n_syms++] = a;
		}
	}
	if (f->n_syms)
		qsort(f->syms, f->n_syms, sizeof(*f->syms), u64_cmp);
}

static bool symbol_at(const struct finder *f, uint64_t p)
{
	return f->n_syms && bsearch(&p, f->syms, f->n_syms, sizeof(*f->syms), u64_cmp);
}

/* ---- static objects ---- */

static bool in_range(uint64_t p, uint64_t size, uint64_t start, uint64_t end)
{
	return p >= start && p < end && size <= end - p;
}

/* Whether [p, p + size) is memory of the module's scanned data that no
 * variable, symbol or static object found already holds. */
static bool anonymous(struct finder *f, uint64_t p, uint64_t size)
{
	const struct cprof_go_runtime *rt = f->rt;
	if (!size || (p & 7) || (!in_range(p, size, rt->data, rt->edata) &&
				 !in_range(p, size, rt->bss, rt->ebss)))
		return false;
	size_t lo = 0, hi = f->n_vars;
	while (lo < hi) {          /* the first variable starting above p */
		size_t mid = lo + (hi - lo) / 2;
		if (f->vars[mid].addr <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((lo && p < f->vars[lo - 1].addr + f->vars[lo - 1].size) ||
	    (lo < f->n_vars && f->vars[lo].addr < p + size))
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (p < f->out[i].end && f->out[i].start < p + size)
			return false;
	return !symbol_at(f, p);
}

/* Gives each word of s its path below s->name. */
static void name_words(struct finder *f, struct cprof_static_object *s, Dwarf_Die *type)
{
	uint64_t words = (s->end - s->start) / 8;
	s->n_paths = words < MAX_PATH_WORDS ? words : MAX_PATH_WORDS;
	s->paths = calloc(s->n_paths ? s->n_paths : 1, sizeof(*s->paths));
	if (!s->paths) {
		s->n_paths = 0;
		f->oom = true;
		return;
	}
	for (size_t w = 0; w < s->n_paths && !f->oom; w++) {
		char buf[256] = "";
		uint64_t off = 8 * w;
		size_t len = 0;
		if (s->elem_size) {
			len = (size_t)snprintf(buf, sizeof(buf), "[%llu]",
					       (unsigned long long)(off / s->elem_size));
			off %= s->elem_size;
		}
		path_at(type, off, buf, len, sizeof(buf), 0);
		if (!(s->paths[w] = strdup(buf)))
			f->oom = true;
	}
}

static struct cprof_static_object *add_static(struct finder *f, uint64_t p, uint64_t size,
					      const char *var, const char *name,
					      Dwarf_Die *type, uint64_t elem_size)
{
	if (f->n == MAX_STATICS)
		return NULL;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 32;
		struct cprof_static_object *a = realloc(f->out, cap * sizeof(*a));
		if (!a) {
			f->oom = true;
			return NULL;
		}
		f->out = a;
		f->cap = cap;
	}
	struct cprof_static_object *s = &f->out[f->n++];
	memset(s, 0, sizeof(*s));
	s->start = p;
	s->end = p + size;
	s->module = (int)(f->rt->module - f->core->modules);
	snprintf(s->var, sizeof(s->var), "%s", var);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->type = dwarf_dieoffset(type);
	s->elem_size = elem_size;
	name_words(f, s, type);
	return s;
}

static bool read_word(struct finder *f, uint64_t addr, uint64_t *v)
{
	return cprof_core_try_read(f->core, addr, v, 8);
}

static void walk(struct finder *f, Dwarf_Die *type, uint64_t addr, const char *var,
		 const char *name, int depth);

/* A pointer at addr: its target, when a static object, is walked. */
static void walk_pointer(struct finder *f, Dwarf_Die *ptr, uint64_t addr, const char *var,
			 const char *name, int depth)
{
	Dwarf_Die elem;
	uint64_t p;
	if (!ref_attr(ptr, DW_AT_type, &elem) || !read_word(f, addr, &p))
		return;
	uint64_t size = size_of(&elem);
	if (anonymous(f, p, size) && add_static(f, p, size, var, name, &elem, 0))
		walk(f, &elem, p, var, name, depth + 1);
}

/* A slice at addr: its array, when a static object, is walked element by
 * element ("name[i]"). */
static void walk_slice(struct finder *f, Dwarf_Die *sl, uint64_t addr, const char *var,
		       const char *name, int depth)
{
	Dwarf_Die elem, m;
	uint64_t p, cap, moff;
	if (!ref_attr(sl, DW_AT_GO_ELEM, &elem) || !read_word(f, addr, &p) ||
	    !member_at(sl, 16, &moff, &m) || !read_word(f, addr + moff, &cap))
		return;
	uint64_t es = size_of(&elem);
	if (!es || !cap || cap > (f->rt->ebss - f->rt->data) / es || !anonymous(f, p, cap * es) ||
	    !add_static(f, p, cap * es, var, name, &elem, es))
		return;
	if (flat_type(f, &elem, 0))
		return;
	for (uint64_t i = 0; i < cap && i < MAX_ELEMS && !f->oom; i++) {
		char n[192];
		snprintf(n, sizeof(n), "%s[%llu]", name, (unsigned long long)i);
		walk(f, &elem, p + i * es, var, n, depth + 1);
	}
}

static void walk(struct finder *f, Dwarf_Die *type, uint64_t addr, const char *var,
		 const char *name, int depth)
{
	Dwarf_Die d = *type, m;
	if (depth > MAX_DEPTH || f->oom || ++f->visits > MAX_VISITS || !strip(&d))
		return;
	int tag = dwarf_tag(&d);
	uint64_t kind = uattr(&d, DW_AT_GO_KIND);
	if (tag == DW_TAG_pointer_type) {
		walk_pointer(f, &d, addr, var, name, depth);
	} else if (tag == DW_TAG_structure_type && kind == GO_KIND_SLICE) {
		walk_slice(f, &d, addr, var, name, depth);
	} else if (tag == DW_TAG_structure_type && (kind == GO_KIND_STRUCT || !kind)) {
		if (dwarf_child(&d, &m) != 0)
			return;
		do {
			Dwarf_Attribute a;
			Dwarf_Word o;
			Dwarf_Die mt;
			const char *mn = dwarf_diename(&m);
			if (dwarf_tag(&m) != DW_TAG_member || !mn ||
			    dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &o) != 0 ||
			    !ref_attr(&m, DW_AT_type, &mt) || flat_type(f, &mt, 0))
				continue;
			char n[192];
			snprintf(n, sizeof(n), "%s.%s", name, mn);
			walk(f, &mt, addr + o, var, n, depth + 1);
		} while (!f->oom && dwarf_siblingof(&m, &m) == 0);
	} else if (tag == DW_TAG_array_type && ref_attr(&d, DW_AT_type, &m) &&
		   !flat_type(f, &m, 0)) {
		uint64_t es = size_of(&m), count = array_count(&d);
		for (uint64_t i = 0; es && i < count && i < MAX_ELEMS && !f->oom; i++) {
			char n[192];
			snprintf(n, sizeof(n), "%s[%llu]", name, (unsigned long long)i);
			walk(f, &m, addr + i * es, var, n, depth + 1);
		}
	}
}

/* A package variable: its value is walked when it lies in the scanned data. */
static void walk_var(struct finder *f, Dwarf_Die *v, uint64_t addr)
{
	const struct cprof_go_runtime *rt = f->rt;
	const char *name = dwarf_diename(v);
	Dwarf_Die t;
	if (!name || !ref_attr(v, DW_AT_type, &t) ||
	    (!in_range(addr, 8, rt->data, rt->edata) && !in_range(addr, 8, rt->bss, rt->ebss)) ||
	    flat_type(f, &t, 0))
		return;
	walk(f, &t, addr, name, name, 0);
}

struct cprof_error *cprof_go_statics(struct cprof_core *core, const struct cprof_go_runtime *rt,
				     struct cprof_static_object **ret, size_t *n_ret)
{
	*ret = NULL;
	*n_ret = 0;
	struct finder f = { .core = core, .rt = rt };
	f.dbg = cprof_core_module_dwarf(core, rt->module, &f.bias);
	if (!f.dbg || rt->edata <= rt->data)
		return NULL;
	read_symbols(&f);
	each_var(&f, note_var);
	/* walked in the DWARF's order (which static object is found first
	   decides its name), from the list: a second pass over every DIE of
	   every unit costs more than the walk */
	struct var *in_order = malloc((f.n_vars ? f.n_vars : 1) * sizeof(*in_order));
	if (!in_order)
		f.oom = true;
	else if (f.n_vars)
		memcpy(in_order, f.vars, f.n_vars * sizeof(*in_order));
	if (f.n_vars)
		qsort(f.vars, f.n_vars, sizeof(*f.vars), var_cmp);
	for (size_t i = 0; i < f.n_vars && !f.oom; i++) {
		Dwarf_Die v;
		if (dwarf_offdie(f.dbg, in_order[i].die, &v))
			walk_var(&f, &v, in_order[i].addr);
	}
	free(in_order);
	free(f.vars);
	free(f.syms);
	free(f.flat);
	free(f.flat_state);
	if (f.oom) {
		for (size_t i = 0; i < f.n; i++) {
			for (size_t k = 0; k < f.out[i].n_paths; k++)
				free(f.out[i].paths[k]);
			free(f.out[i].paths);
		}
		free(f.out);
		return &cprof_enomem;
	}
	*ret = f.out;
	*n_ret = f.n;
	return NULL;
}
