/*
 * types.c - typing heap objects from C++ vtables and from DWARF (see
 * include/cprof/types.h).
 *
 * Data structures:
 *   - the type table: each DWARF type is interned once per (debug info, DIE
 *     offset), each vtable class and each array "T[n]" once per name; a
 *     type's typed pointer slots are flattened lazily (struct members,
 *     nested structs and fixed arrays, at most MAX_SLOTS per type);
 *   - per module, the DWARF variables (static addresses and TLS offsets),
 *     sorted by address, built on first use;
 *   - a FIFO of objects typed but not yet followed.
 * The typed pointers of an object are matched against its graph edges (both
 * sorted by offset) in one merge, so no memory is read twice.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/hash.h"
#include "cprof/progress.h"
#include "cprof/types.h"

char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);

/* Go's DWARF attributes: a type DIE's runtime descriptor (its offset in the
 * module's types section); a closure function's captured variable's offset
 * in the closure (Go 1.23 and later). */
enum { DW_AT_GO_RUNTIME_TYPE = 0x2904, DW_AT_GO_CLOSURE_OFFSET = 0x2907 };

enum { MAX_SCOPES = 32 };

enum { MAX_SLOTS = 1024, MAX_DEPTH = 8, MAX_ARRAY_EXPAND = 256, SLACK = 16 };
static const uint32_t NONE = UINT32_MAX;

/* The member `name` of struct die: its offset and (unless type is NULL) its
 * type DIE.  False when it has none. */
static bool find_member(Dwarf_Die *die, const char *name, uint64_t *off, Dwarf_Die *type)
{
	Dwarf_Die m;
	if (dwarf_child(die, &m) != 0)
		return false;
	do {
		Dwarf_Attribute a;
		Dwarf_Word o;
		const char *mn = dwarf_diename(&m);
		if (dwarf_tag(&m) != DW_TAG_member || !mn || strcmp(mn, name) ||
		    dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &o) != 0)
			continue;
		*off = o;
		return !type || dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &a), type);
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

/* The offset of member `name` of struct die, or -1. */
static int64_t member_offset(Dwarf_Die *die, const char *name)
{
	uint64_t off;
	return find_member(die, name, &off, NULL) ? (int64_t)off : -1;
}

const char *cprof_type_source_name(enum cprof_type_source s)
{
	switch (s) {
	case CPROF_TYPE_UNKNOWN: return NULL;
	case CPROF_TYPE_DWARF: return "dwarf";
	case CPROF_TYPE_VTABLE: return "vtable";
	case CPROF_TYPE_LAYOUT: return "layout";
	case CPROF_TYPE_RUNTIME: return "runtime";
	}
	return NULL;
}

/* A type's identity: a DWARF DIE, or a name (vtable class, array). */
struct key {
	uintptr_t dbg;             /* Dwarf *, or 0 for named types */
	uint64_t off;              /* DIE offset */
	uint32_t elem, count;      /* arrays: element type and length */
};

struct variable {
	uint64_t addr, size;       /* static: address; TLS: offset in the block */
	Dwarf *dbg;
	Dwarf_Off type;            /* the variable's type DIE */
};

/* A compile unit's address range, for modules without .debug_aranges (Go):
 * dwarf_addrdie cannot find their units. */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off off;
};

struct module_vars {
	bool done;
	struct variable *vars, *tls;
	size_t n_vars, n_tls;
	bool cus_done;
	struct cu_range *cus;      /* sorted by lo */
	size_t n_cus;
};

/* An open-addressed map from a word's value (a vtable pointer, a closure's
 * code pointer) to the type id it gives, NONE included; at most half full,
 * values beyond that go uncached.  Value 0 marks a free entry. */
struct value_cache {
	uint64_t *value;
	uint32_t *type;
	size_t cap, used;
};

struct cprof_types_private {
	struct key *keys;          /* parallel to types */
	size_t cap;
	/* hash: key -> type id */
	uint32_t *slots;
	size_t n_slots;
	struct module_vars *mods;
	size_t n_mods;
	struct value_cache vtables;        /* a vtable pointer -> its class */
	/* frame slots: (pc, slot - CFA) -> what it points to; thousands of
	   goroutines park at the same pcs */
	struct frame_key { uint64_t pc; int64_t off; } *fr_keys;
	struct cprof_type_slot *fr_slots;
	size_t fr_cap, fr_used;
	struct value_cache closures;       /* a closure's code pointer -> its type */
	/* Go: the runtime, and its type descriptors' DIEs (DW_AT_go_runtime_type:
	   the descriptor's offset in the module's types), sorted by offset */
	struct cprof_core *core;
	const struct cprof_go_runtime *go;
	struct rt_die { uint64_t off; Dwarf_Off die; } *rt_dies;
	size_t n_rt_dies;
	Dwarf *rt_dbg;
	bool rt_dies_done;
};

/* ---- the type table ---- */

static uint64_t key_hash(const struct key *k)
{
	uint64_t h = k->dbg * 0x9E3779B97F4A7C15ull ^ k->off * 0xC2B2AE3D27D4EB4Full ^
		     ((uint64_t)k->elem << 32 | k->count) * 0x165667B19E3779F9ull;
	return h ^ (h >> 29);
}

static bool key_eq(const struct key *a, const struct key *b)
{
	return a->dbg == b->dbg && a->off == b->off && a->elem == b->elem &&
	       a->count == b->count;
}

static struct cprof_error *rehash(struct cprof_types *t)
{
	struct cprof_types_private *p = t->priv;
	size_t n = p->n_slots ? 2 * p->n_slots : 1024;
	uint32_t *s = malloc(n * sizeof(*s));
	if (!s)
		return &cprof_enomem;
	memset(s, 0xff, n * sizeof(*s));
	for (size_t i = 0; i < t->n_types; i++) {
		size_t h = key_hash(&p->keys[i]) & (n - 1);
		while (s[h] != NONE)
			h = (h + 1) & (n - 1);
		s[h] = (uint32_t)i;
	}
	free(p->slots);
	p->slots = s;
	p->n_slots = n;
	return NULL;
}

/* The type id for key k, or NONE when absent. */
static uint32_t lookup(const struct cprof_types *t, const struct key *k)
{
	const struct cprof_types_private *p = t->priv;
	if (!p->n_slots)
		return NONE;
	size_t h = key_hash(k) & (p->n_slots - 1);
	while (p->slots[h] != NONE) {
		if (key_eq(&p->keys[p->slots[h]], k))
			return p->slots[h];
		h = (h + 1) & (p->n_slots - 1);
	}
	return NONE;
}

static uint32_t add_type(struct cprof_types *t, const struct key *k,
			 const char *name, uint64_t size)
{
	struct cprof_types_private *p = t->priv;
	if (2 * (t->n_types + 1) > p->n_slots && rehash(t))
		return NONE;
	if (t->n_types == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		struct cprof_type *a = realloc(t->types, cap * sizeof(*a));
		if (!a)
			return NONE;
		t->types = a;
		struct key *b = realloc(p->keys, cap * sizeof(*b));
		if (!b)
			return NONE;
		p->keys = b;
		p->cap = cap;
	}
	uint32_t id = (uint32_t)t->n_types;
	struct cprof_type *ty = &t->types[id];
	memset(ty, 0, sizeof(*ty));
	ty->name = strdup(name);
	ty->size = size;
	ty->element = k->elem ? k->elem - 1 : NONE;
	ty->count = k->elem ? k->count : 0;
	if (!ty->name)
		return NONE;
	p->keys[id] = *k;
	t->n_types++;
	size_t h = key_hash(k) & (p->n_slots - 1);
	while (p->slots[h] != NONE)
		h = (h + 1) & (p->n_slots - 1);
	p->slots[h] = id;
	return id;
}

/* Skips typedefs and qualifiers. */
static bool strip(Dwarf_Die *die)
{
	for (int i = 0; i < 16; i++) {
		int tag = dwarf_tag(die);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
		    tag != DW_TAG_atomic_type)
			return true;
		Dwarf_Attribute a;
		if (!dwarf_formref_die(dwarf_attr(die, DW_AT_type, &a), die))
			return false;      /* void */
	}
	return false;
}

static void type_name(Dwarf_Die *die, char *buf, size_t size, int depth)
{
	Dwarf_Die d = *die;
	if (depth > 4 || !strip(&d)) {
		snprintf(buf, size, "void");
		return;
	}
	const char *name = dwarf_diename(&d);
	Dwarf_Attribute a;
	Dwarf_Die sub;
	char inner[200];
	Dwarf_Die cu;
	int lang = dwarf_diecu(&d, &cu, NULL, NULL) ? dwarf_srclang(&cu) : -1;
	bool cxx = lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_11 ||
		   lang == DW_LANG_C_plus_plus_14 || lang == DW_LANG_C_plus_plus_03;
	if (lang == DW_LANG_Go && name) {
		/* Go names every type in Go's syntax: "main.Block", "[]*main.Block". */
		snprintf(buf, size, "%s", name);
		return;
	}
	switch (dwarf_tag(&d)) {
	case DW_TAG_structure_type:
		/* C names a struct "struct block"; C++ names a class "Shape". */
		snprintf(buf, size, "%s%s", cxx ? "" : "struct ", name ? name : "<anonymous>");
		break;
	case DW_TAG_class_type:
		snprintf(buf, size, "%s", name ? name : "<anonymous class>");
		break;
	case DW_TAG_union_type:
		snprintf(buf, size, "union %s", name ? name : "<anonymous>");
		break;
	case DW_TAG_enumeration_type:
		snprintf(buf, size, "enum %s", name ? name : "<anonymous>");
		break;
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
		if (dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub))
			type_name(&sub, inner, sizeof(inner), depth + 1);
		else
			snprintf(inner, sizeof(inner), "void");
		snprintf(buf, size, "%s *", inner);
		break;
	case DW_TAG_array_type:
		if (dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub))
			type_name(&sub, inner, sizeof(inner), depth + 1);
		else
			snprintf(inner, sizeof(inner), "?");
		snprintf(buf, size, "%s[]", inner);
		break;
	case DW_TAG_subroutine_type:
		snprintf(buf, size, "function");
		break;
	default:
		snprintf(buf, size, "%s", name ? name : "?");
	}
}

static bool is_go(Dwarf_Die *die)
{
	Dwarf_Die cu;
	return dwarf_diecu(die, &cu, NULL, NULL) && dwarf_srclang(&cu) == DW_LANG_Go;
}

/* The type id of a DWARF type DIE (typedefs and qualifiers skipped), or
 * NONE for void, C functions and DIEs without a size.  (A Go func type is a
 * word pointing to a closure.) */
static uint32_t intern_die(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die)
{
	Dwarf_Die d = *die;
	if (!strip(&d))
		return NONE;
	int tag = dwarf_tag(&d);
	if ((tag == DW_TAG_subroutine_type && !is_go(&d)) || tag == DW_TAG_unspecified_type)
		return NONE;
	if (dwarf_hasattr(&d, DW_AT_declaration)) {
		/* A forward declaration: find the definition by name in its unit. */
		return NONE;
	}
	struct key k = { (uintptr_t)dbg, dwarf_dieoffset(&d), 0, 0 };
	uint32_t id = lookup(t, &k);
	if (id != NONE)
		return id;
	Dwarf_Word size = 0;
	if (dwarf_aggregate_size(&d, &size) != 0)
		size = 0;
	char name[256];
	type_name(&d, name, sizeof(name), 0);
	Dwarf_Die cu;
	uint32_t id2 = add_type(t, &k, name, size);
	if (id2 != NONE && dwarf_diecu(&d, &cu, NULL, NULL) && dwarf_srclang(&cu) == DW_LANG_Go)
		t->types[id2].go = true;
	return id2;
}

/* "T[n]": the array of n elements of type elem. */
static uint32_t intern_array(struct cprof_types *t, uint32_t elem, uint32_t n)
{
	struct key k = { 0, 0, elem + 1, n };
	uint32_t found = lookup(t, &k);
	if (found != NONE)
		return found;
	char name[300];
	bool go = t->types[elem].go;
	if (go)
		snprintf(name, sizeof(name), "[%u]%s", n, t->types[elem].name);
	else
		snprintf(name, sizeof(name), "%s[%u]", t->types[elem].name, n);
	uint32_t id = add_type(t, &k, name, t->types[elem].size * n);
	if (id != NONE)
		t->types[id].go = go;
	return id;
}

/* A type known by name only (kind 0: a class named by its vtable; kind 1: a
 * Go runtime type), keyed by the name's hash. */
static uint32_t intern_named(struct cprof_types *t, const char *name, uintptr_t kind,
			     uint64_t size)
{
	struct key k = { 0, cprof_hash_str(name) + kind, 0, 0 };   /* dbg 0: no DWARF */
	uint32_t id = lookup(t, &k);
	if (id != NONE && !strcmp(t->types[id].name, name))
		return id;
	if (id != NONE)
		k.count = 1;    /* a collision of names: keep both */
	return add_type(t, &k, name, size);
}

static uint32_t intern_class(struct cprof_types *t, const char *name)
{
	return intern_named(t, name, 0, 0);
}

/* A Go runtime type, by the name its descriptor gives. */
static uint32_t intern_runtime(struct cprof_types *t, const char *name, uint64_t size)
{
	uint32_t id = intern_named(t, name, 1, size);
	if (id != NONE)
		t->types[id].go = true;
	return id;
}

/* ---- pointer slots of a type ---- */

struct slot_list {
	struct cprof_type_slot *s;
	uint32_t n;
};

/* The pointee of pointer type die (typedefs skipped on both sides). */
static bool deref(Dwarf_Die *die, Dwarf_Die *ret)
{
	Dwarf_Attribute a;
	Dwarf_Die d = *die;
	return strip(&d) && dwarf_tag(&d) == DW_TAG_pointer_type &&
	       dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), ret) && strip(ret);
}

/*
 * A swiss map's slots (Go 1.24 and later: the struct the linker names
 * map<K,V>).  Its dirPtr, typed **table<K,V>, points to a directory of
 * tables, except in a small map (dirLen 0), where it points to the map's
 * one group: the type that table<K,V>.groups.data points to.
 */
static bool map_dir_slot(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *map,
			 uint64_t base, const char *prefix, struct slot_list *out)
{
	uint64_t dir, len, off;
	Dwarf_Die dir_type, tab_ptr, tab, groups, data, group;
	if (!find_member(map, "dirPtr", &dir, &dir_type) ||
	    !find_member(map, "dirLen", &len, NULL) ||
	    !deref(&dir_type, &tab_ptr) || !deref(&tab_ptr, &tab) ||
	    !find_member(&tab, "groups", &off, &groups) || !strip(&groups) ||
	    !find_member(&groups, "data", &off, &data) || !deref(&data, &group))
		return false;
	uint32_t dir_target = intern_die(t, dbg, &tab_ptr);
	uint32_t group_target = intern_die(t, dbg, &group);
	if (dir_target == NONE || group_target == NONE || base + dir > UINT32_MAX)
		return false;
	char name[200];
	snprintf(name, sizeof(name), "%s%sdirPtr", prefix, prefix[0] ? "." : "");
	out->s[out->n++] = (struct cprof_type_slot){
		.offset = (uint32_t)(base + dir), .target = dir_target, .name = strdup(name),
		.kind = CPROF_SLOT_MAP_DIR, .aux = (int32_t)(len - dir), .alt = group_target };
	return true;
}

static void push_slot(struct slot_list *out, uint64_t off, uint32_t target,
		      const char *name, enum cprof_slot_kind kind, int32_t aux)
{
	if (off <= UINT32_MAX && out->n < MAX_SLOTS)
		out->s[out->n++] = (struct cprof_type_slot){
			.offset = (uint32_t)off, .target = target, .name = strdup(name),
			.kind = (uint8_t)kind, .aux = aux, .alt = NONE };
}

static void collect_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
			  uint64_t base, int depth, const char *prefix,
			  struct slot_list *out)
{
	Dwarf_Die d = *die;
	if (depth > MAX_DEPTH || out->n >= MAX_SLOTS || !strip(&d))
		return;
	Dwarf_Attribute a;
	Dwarf_Die sub;
	switch (dwarf_tag(&d)) {
	case DW_TAG_pointer_type: {
		if (!dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub))
			return;           /* void * */
		uint32_t target = intern_die(t, dbg, &sub);
		if (target != NONE)
			push_slot(out, base, target, prefix, CPROF_SLOT_STATIC, 0);
		return;
	}
	case DW_TAG_subroutine_type:
		/* A Go func value points to its closure; a C function pointer
		   to code. */
		if (is_go(&d))
			push_slot(out, base, NONE, prefix, CPROF_SLOT_CLOSURE, 0);
		return;
	case DW_TAG_structure_type:
	case DW_TAG_class_type: {
		Dwarf_Die m;
		const char *sn = dwarf_diename(&d);
		/* A Go interface: its data word's type is in the word before. */
		if (sn && (!strcmp(sn, "runtime.iface") || !strcmp(sn, "runtime.eface"))) {
			push_slot(out, base + 8, NONE, prefix,
				  sn[8] == 'i' ? CPROF_SLOT_IFACE : CPROF_SLOT_EFACE, 0);
			return;
		}
		/* A Go channel (Go's DWARF names it hchan<T>): its buffer holds
		   elements of the type its elemtype word names. */
		int64_t chan_buf = -1, chan_type = -1;
		if (sn && !strncmp(sn, "hchan<", 6)) {
			chan_buf = member_offset(&d, "buf");
			chan_type = member_offset(&d, "elemtype");
		}
		bool map_dir = sn && !strncmp(sn, "map<", 4) && is_go(&d) &&
			       map_dir_slot(t, dbg, &d, base, prefix, out);
		if (dwarf_child(&d, &m) != 0)
			return;
		do {
			/* Base classes (DW_TAG_inheritance) are laid out like members. */
			int mt = dwarf_tag(&m);
			if ((mt != DW_TAG_member && mt != DW_TAG_inheritance) ||
			    dwarf_hasattr(&m, DW_AT_bit_size) ||
			    (mt == DW_TAG_member && dwarf_hasattr(&m, DW_AT_external)))
				continue;
			Dwarf_Word off = 0;
			dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &off);
			const char *mn = dwarf_diename(&m);
			char name[200];
			if (mt == DW_TAG_inheritance || !mn)
				snprintf(name, sizeof(name), "%s", prefix);
			else
				snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", mn);
			if (chan_buf >= 0 && chan_type >= 0 && (int64_t)off == chan_buf) {
				push_slot(out, base + off, NONE, name, CPROF_SLOT_CHAN,
					  (int32_t)(chan_type - chan_buf));
				continue;
			}
			if (map_dir && mn && !strcmp(mn, "dirPtr"))
				continue;         /* map_dir_slot's */
			if (dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &a), &sub))
				collect_slots(t, dbg, &sub, base + off, depth + 1, name, out);
		} while (out->n < MAX_SLOTS && dwarf_siblingof(&m, &m) == 0);
		return;
	}
	case DW_TAG_array_type: {
		Dwarf_Word total = 0, esize = 0;
		if (!dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub) ||
		    dwarf_aggregate_size(&d, &total) != 0 ||
		    dwarf_aggregate_size(&sub, &esize) != 0 || !esize)
			return;
		for (Dwarf_Word i = 0; i < total / esize && i < MAX_ARRAY_EXPAND; i++) {
			char name[200];
			snprintf(name, sizeof(name), "%s[%llu]", prefix, (unsigned long long)i);
			collect_slots(t, dbg, &sub, base + i * esize, depth + 1, name, out);
		}
		return;
	}
	default:
		return;                   /* unions are ambiguous; scalars hold no pointer */
	}
}

/* A closure's slots: the captured variables of its function (sub), at the
 * offsets Go's DWARF gives them. */
static void closure_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *sub,
			  struct slot_list *out)
{
	Dwarf_Die v;
	if (dwarf_child(sub, &v) != 0)
		return;
	do {
		Dwarf_Attribute a;
		Dwarf_Word off;
		Dwarf_Die type;
		const char *vn = dwarf_diename(&v);
		if (dwarf_tag(&v) != DW_TAG_variable ||
		    dwarf_formudata(dwarf_attr(&v, DW_AT_GO_CLOSURE_OFFSET, &a), &off) != 0 ||
		    !dwarf_formref_die(dwarf_attr(&v, DW_AT_type, &a), &type))
			continue;
		collect_slots(t, dbg, &type, off, 1, vn ? vn : "?", out);
	} while (out->n < MAX_SLOTS && dwarf_siblingof(&v, &v) == 0);
}

/* The slots of type id (computed on first use). */
static void ensure_slots(struct cprof_types *t, uint32_t id)
{
	struct cprof_type *ty = &t->types[id];
	if (ty->slots_done)
		return;
	ty->slots_done = true;
	const struct key *k = &t->priv->keys[id];
	if (k->elem) {             /* an array: the element's slots, repeated */
		ensure_slots(t, k->elem - 1);
		return;
	}
	if (!k->dbg)
		return;
	Dwarf *dbg = (Dwarf *)k->dbg;
	Dwarf_Die die;
	if (!dwarf_offdie(dbg, k->off, &die))
		return;
	struct slot_list l = { malloc(MAX_SLOTS * sizeof(*l.s)), 0 };
	if (!l.s)
		return;
	if (dwarf_tag(&die) == DW_TAG_subprogram)
		closure_slots(t, dbg, &die, &l);
	else
		collect_slots(t, dbg, &die, 0, 0, "", &l);
	/* follow() merges slots with edges by offset: keep them in order
	   (closure variables and a map's dirPtr may come out of it). */
	for (uint32_t i = 1; i < l.n; i++)
		for (uint32_t j = i; j > 0 && l.s[j - 1].offset > l.s[j].offset; j--) {
			struct cprof_type_slot x = l.s[j];
			l.s[j] = l.s[j - 1];
			l.s[j - 1] = x;
		}
	ty = &t->types[id];        /* the table may have moved */
	if (l.n) {
		ty->slots = realloc(l.s, l.n * sizeof(*l.s));
		ty->n_slots = ty->slots ? l.n : 0;
		if (!ty->slots)
			free(l.s);
	} else {
		free(l.s);
	}
}

/* What the word at offset `off` inside type `die` points to: a slot (its
 * name unset), or one with kind STATIC and target NONE. */
static struct cprof_type_slot pointee_at(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
					 uint64_t off, int depth)
{
	struct cprof_type_slot none = { .target = NONE, .alt = NONE };
	Dwarf_Die d = *die;
	if (depth > MAX_DEPTH || !strip(&d))
		return none;
	Dwarf_Attribute a;
	Dwarf_Die sub;
	switch (dwarf_tag(&d)) {
	case DW_TAG_pointer_type:
		if (!off && dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub))
			none.target = intern_die(t, dbg, &sub);
		return none;
	case DW_TAG_subroutine_type:
		if (!off && is_go(&d))
			none.kind = CPROF_SLOT_CLOSURE;
		return none;
	case DW_TAG_structure_type:
	case DW_TAG_class_type: {
		Dwarf_Die m;
		const char *sn = dwarf_diename(&d);
		if (sn && (!strcmp(sn, "runtime.iface") || !strcmp(sn, "runtime.eface"))) {
			if (off == 8)
				none.kind = sn[8] == 'i' ? CPROF_SLOT_IFACE : CPROF_SLOT_EFACE;
			return none;
		}
		if (dwarf_child(&d, &m) != 0)
			return none;
		do {
			int mt = dwarf_tag(&m);
			if (mt != DW_TAG_member && mt != DW_TAG_inheritance)
				continue;
			Dwarf_Word moff = 0, msize = 0;
			dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &moff);
			if (!dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &a), &sub) ||
			    dwarf_aggregate_size(&sub, &msize) != 0)
				continue;
			if (moff <= off && off < moff + msize)
				return pointee_at(t, dbg, &sub, off - moff, depth + 1);
		} while (dwarf_siblingof(&m, &m) == 0);
		return none;
	}
	case DW_TAG_array_type: {
		Dwarf_Word esize = 0;
		if (!dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub) ||
		    dwarf_aggregate_size(&sub, &esize) != 0 || !esize)
			return none;
		return pointee_at(t, dbg, &sub, off % esize, depth + 1);
	}
	}
	return none;
}

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
				Dwarf_Block blk;
				uint64_t gaddr = 0;
				if (!dwarf_attr(&child, DW_AT_location, &loc) ||
				    !dwarf_formref_die(dwarf_attr_integrate(&child, DW_AT_type, &a), &type) ||
				    dwarf_aggregate_size(&type, &size) != 0)
					continue;
				if (dwarf_getlocation(&loc, &expr, &len) != 0) {
					/* Go writes DWARF 5 locations as DW_FORM_block1,
					   which libdw takes for no expression: read
					   DW_OP_addr by hand. */
					if (dwarf_formblock(&loc, &blk) != 0 || blk.length != 9 ||
					    blk.data[0] != DW_OP_addr)
						continue;
					memcpy(&gaddr, blk.data + 1, 8);
					struct variable v = { gaddr + bias, size, dbg, dwarf_dieoffset(&type) };
					push_var(&mv->vars, &mv->n_vars, &cap_v, &v);
					continue;
				}
				struct variable v = { 0, size, dbg, dwarf_dieoffset(&type) };
				if (len == 1 && expr[0].atom == DW_OP_addr) {
					v.addr = expr[0].number + bias;
					push_var(&mv->vars, &mv->n_vars, &cap_v, &v);
				} else if (len == 2 && (expr[1].atom == DW_OP_form_tls_address ||
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
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
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
	return pointee_at(t, var->dbg, &die, addr - var->addr, 0);
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
static bool unit_at(struct cprof_types *t, struct cprof_core *core,
		    const struct cprof_module *m, Dwarf *dbg, uint64_t addr, Dwarf_Die *ret)
{
	if (dwarf_addrdie(dbg, addr, ret))
		return true;
	struct module_vars *mv = &t->priv->mods[m - core->modules];
	if (!mv->cus_done)
		index_units(dbg, mv);
	size_t lo = 0, hi = mv->n_cus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mv->cus[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < mv->cus[lo - 1].hi && dwarf_offdie(dbg, mv->cus[lo - 1].off, ret);
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

/* The same for a goroutine's frame k: its CFA is the caller's SP. */
static struct cprof_type_slot goroutine_slot_type(struct cprof_types *t,
						  struct cprof_core *core,
						  const struct cprof_goroutine *g,
						  size_t k, uint64_t addr)
{
	if (k + 1 >= g->n_frames)
		return (struct cprof_type_slot){ .target = NONE, .alt = NONE };
	uint64_t pc = g->frames[k].pc - (k > 0 || !g->pc0_exact);
	return frame_slot_type(t, core, pc, g->frames[k + 1].sp, addr);
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

/*
 * The scopes holding pc in unit cu, innermost first (a lexical block, an
 * inlined call, ..., the function), at most MAX_SCOPES: what dwarf_getscopes
 * gives, without its leak when a unit's DIEs are odd (libdw 0.188 loses its
 * array on some errors).
 */
static int scopes_at(Dwarf_Die *cu, uint64_t pc, Dwarf_Die *ret)
{
	Dwarf_Die chain[MAX_SCOPES], parent = *cu, child;
	int n = 0;
	while (n < MAX_SCOPES && dwarf_child(&parent, &child) == 0) {
		bool in = false;
		do {
			int tag = dwarf_tag(&child);
			if ((tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block ||
			     tag == DW_TAG_inlined_subroutine) && dwarf_haspc(&child, pc) > 0) {
				chain[n++] = child;
				parent = child;
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

static struct cprof_type_slot frame_slot_lookup(struct cprof_types *t,
						struct cprof_core *core, uint64_t pc,
						uint64_t cfa, uint64_t addr)
{
	struct cprof_type_slot found = { .target = NONE, .alt = NONE };
	const struct cprof_module *m = cprof_core_module(core, pc);
	uint64_t bias;
	Dwarf *dbg = m ? cprof_core_module_dwarf(core, m, &bias) : NULL;
	Dwarf_Die cu;
	if (!dbg || !cfa || !unit_at(t, core, m, dbg, pc - bias, &cu))
		return found;
	Dwarf_Die scopes[MAX_SCOPES];
	int n = scopes_at(&cu, pc - bias, scopes);
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
				found = pointee_at(t, dbg, &type, addr - va, 0);
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

/* ---- vtables ---- */

static bool cache_init(struct value_cache *c)
{
	c->cap = 1 << 16;
	c->value = calloc(c->cap, sizeof(*c->value));
	c->type = calloc(c->cap, sizeof(*c->type));
	return c->value && c->type;
}

static void cache_deinit(struct value_cache *c)
{
	free(c->value);
	free(c->type);
}

/* Whether v is cached (its type in *type); else *h is where it goes. */
static bool cache_find(const struct value_cache *c, uint64_t v, size_t *h, uint32_t *type)
{
	*h = (size_t)((v * 0x9E3779B97F4A7C15ull) >> 40) & (c->cap - 1);
	while (c->value[*h] && c->value[*h] != v)
		*h = (*h + 1) & (c->cap - 1);
	*type = c->type[*h];
	return v && c->value[*h] == v;
}

static uint32_t cache_put(struct value_cache *c, size_t h, uint64_t v, uint32_t type)
{
	if (v && 2 * (c->used + 1) < c->cap) {
		c->value[h] = v;
		c->type[h] = type;
		c->used++;
	}
	return type;
}

/* The class whose vtable v points into, or NONE.  Cached by value. */
static uint32_t vtable_class(struct cprof_types *t, struct cprof_core *core,
			     uint64_t v)
{
	struct cprof_types_private *p = t->priv;
	size_t h;
	uint32_t id;
	if (cache_find(&p->vtables, v, &h, &id))
		return id;
	id = NONE;
	struct cprof_symbol sym;
	if (cprof_core_symbolize(core, v, false, &sym) && sym.function &&
	    !strncmp(sym.function, "_ZTV", 4)) {
		int status;
		char *dm = __cxa_demangle(sym.function, NULL, NULL, &status);
		const char *name = dm && !status ? dm : sym.function;
		if (!strncmp(name, "vtable for ", 11))
			name += 11;
		id = intern_class(t, name);
		free(dm);
	}
	return cache_put(&p->vtables, h, v, id);
}

/* ---- assignment and propagation ---- */

struct queue {
	uint32_t *q;
	size_t head, tail;
};

/* Types object o as T, or T[n] when n of them fill its usable size: up to
 * SLACK bytes left over in a C chunk; in a Go object, less than one T (Go
 * rounds a single T up to a size class under 2T, and puts an array of them,
 * a map's groups say, in the smallest class that holds it). */
static void assign(struct cprof_types *t, const struct cprof_object *objs,
		   uint32_t o, uint32_t type, enum cprof_type_source src,
		   struct queue *q)
{
	if (type == NONE || t->object_type[o] != NONE || !cprof_object_is_node(&objs[o]))
		return;
	uint64_t size = t->types[type].size, usable = objs[o].size;
	uint32_t n = 1;
	if (size) {
		if (size > usable)
			return;                /* it does not fit: not this type */
		uint64_t k = usable / size;
		if (k >= 2 && (t->types[type].go || usable - k * size < SLACK) &&
		    k < UINT32_MAX) {
			n = (uint32_t)k;
			uint32_t a = intern_array(t, type, n);
			if (a == NONE)
				return;
			t->object_type[o] = a;
			t->object_count[o] = n;
			t->object_source[o] = (uint8_t)src;
			q->q[q->tail++] = o;
			return;
		}
	}
	t->object_type[o] = type;
	t->object_count[o] = 1;
	t->object_source[o] = (uint8_t)src;
	q->q[q->tail++] = o;
}

static int rt_die_cmp(const void *a, const void *b)
{
	const struct rt_die *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static bool push_die(struct rt_die **v, size_t *n, size_t *cap, uint64_t off, Dwarf_Off die)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		struct rt_die *a = realloc(*v, c * sizeof(*a));
		if (!a)
			return false;
		*v = a;
		*cap = c;
	}
	(*v)[(*n)++] = (struct rt_die){ off, die };
	return true;
}

/* Every top-level type DIE of the Go module that names its runtime descriptor
 * (DW_AT_go_runtime_type). */
static void index_runtime_types(struct cprof_types *t)
{
	struct cprof_types_private *p = t->priv;
	uint64_t bias;
	size_t cap = 0;
	p->rt_dies_done = true;
	Dwarf *dbg = cprof_core_module_dwarf(p->core, p->go->module, &bias);
	if (!dbg)
		return;
	p->rt_dbg = dbg;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(dbg, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, d;
		if (dwarf_offdie(dbg, off + hsize, &cu) && dwarf_child(&cu, &d) == 0) {
			do {
				Dwarf_Attribute a;
				Dwarf_Addr v;
				/* Go writes it as DW_FORM_addr: an offset, not
				   an address. */
				if (!dwarf_attr(&d, DW_AT_GO_RUNTIME_TYPE, &a) ||
				    dwarf_formaddr(&a, &v) != 0 || !v)
					continue;
				if (!push_die(&p->rt_dies, &p->n_rt_dies, &cap, v, dwarf_dieoffset(&d)))
					return;
			} while (dwarf_siblingof(&d, &d) == 0);
		}
		off = next;
	}
	if (p->n_rt_dies)
		qsort(p->rt_dies, p->n_rt_dies, sizeof(*p->rt_dies), rt_die_cmp);
}

/* The first of the sorted dies keyed off, or -1. */
static ptrdiff_t find_die(const struct rt_die *v, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].off == off ? (ptrdiff_t)lo : -1;
}

/* The type id of the runtime type descriptor at typ: its DWARF type when
 * the module names it, else its runtime name. */
static uint32_t runtime_type(struct cprof_types *t, uint64_t typ)
{
	struct cprof_types_private *p = t->priv;
	if (!p->rt_dies_done)
		index_runtime_types(t);
	Dwarf_Die die;
	ptrdiff_t i = find_die(p->rt_dies, p->n_rt_dies, typ - p->go->types);
	if (i >= 0 && dwarf_offdie(p->rt_dbg, p->rt_dies[i].die, &die))
		return intern_die(t, p->rt_dbg, &die);
	char name[256];
	if (!cprof_go_type_name(p->core, p->go, typ, name, sizeof(name)))
		return NONE;
	/* Not every type names its descriptor (pointer types often do not):
	   its name finds those. */
	uint64_t off;
	if (cprof_dwarf_type(p->core, p->go->module, name, &off) &&
	    dwarf_offdie(p->rt_dbg, off, &die))
		return intern_die(t, p->rt_dbg, &die);
	return intern_runtime(t, name, cprof_go_type_size(p->core, p->go, typ));
}

static bool read_word(struct cprof_core *core, uint64_t addr, uint64_t *w)
{
	struct cprof_error *err = cprof_core_read_u64(core, addr, w);
	cprof_error_destroy(err);
	return !err;
}

/* The type of what an interface's data word points to; word0 is at addr. */
static uint32_t iface_type(struct cprof_types *t, uint64_t addr, bool eface)
{
	struct cprof_types_private *p = t->priv;
	uint64_t w;
	if (!p->go || !read_word(p->core, addr, &w))
		return NONE;
	uint64_t typ = cprof_go_iface_target(p->core, p->go, w, eface);
	return typ ? runtime_type(t, typ) : NONE;
}

/* The element type of a channel whose elemtype word is at addr. */
static uint32_t chan_elem_type(struct cprof_types *t, uint64_t addr)
{
	struct cprof_types_private *p = t->priv;
	uint64_t typ;
	if (!p->go || !read_word(p->core, addr, &typ))
		return NONE;
	return typ ? runtime_type(t, typ) : NONE;
}

/*
 * The type of the closure at addr: its first word is its function's entry,
 * and Go's DWARF (1.23 and later) gives that function's captured variables
 * their offsets in the closure (DW_AT_go_closure_offset).  Before 1.23 the
 * closure is named by its function, its variables untyped.  Cached by the
 * entry.
 */
static uint32_t closure_type(struct cprof_types *t, uint64_t addr)
{
	struct cprof_types_private *p = t->priv;
	struct cprof_core *core = p->core;
	uint64_t pc, bias;
	size_t h;
	uint32_t id;
	if (!read_word(core, addr, &pc))
		return NONE;
	if (cache_find(&p->closures, pc, &h, &id))
		return id;
	const struct cprof_module *m = cprof_core_module(core, pc);
	Dwarf *dbg = m ? cprof_core_module_dwarf(core, m, &bias) : NULL;
	Dwarf_Die cu, scopes[MAX_SCOPES];
	Dwarf_Addr entry;
	if (!dbg || !unit_at(t, core, m, dbg, pc - bias, &cu))
		return cache_put(&p->closures, h, pc, NONE);
	int n = scopes_at(&cu, pc - bias, scopes);
	/* The outermost scope is the function; a closure points at its entry. */
	if (n < 1 || dwarf_tag(&scopes[n - 1]) != DW_TAG_subprogram ||
	    dwarf_lowpc(&scopes[n - 1], &entry) != 0 || entry != pc - bias ||
	    !is_go(&scopes[n - 1]))
		return cache_put(&p->closures, h, pc, NONE);
	Dwarf_Die *sub = &scopes[n - 1], v;
	struct key k = { (uintptr_t)dbg, dwarf_dieoffset(sub), 0, 0 };
	id = lookup(t, &k);
	if (id == NONE) {
		/* Its size: the code pointer and the variables after it. */
		uint64_t size = 0;
		if (dwarf_child(sub, &v) == 0) {
			do {
				Dwarf_Attribute a;
				Dwarf_Word off, vs;
				Dwarf_Die type;
				if (dwarf_formudata(dwarf_attr(&v, DW_AT_GO_CLOSURE_OFFSET, &a), &off) == 0 &&
				    dwarf_formref_die(dwarf_attr(&v, DW_AT_type, &a), &type) &&
				    dwarf_aggregate_size(&type, &vs) == 0 && off + vs > size)
					size = off + vs;
			} while (dwarf_siblingof(&v, &v) == 0);
		}
		char name[300];
		const char *fn = dwarf_diename(sub);
		snprintf(name, sizeof(name), "closure %s", fn ? fn : "?");
		id = add_type(t, &k, name, (size + 7) & ~7ull);
		if (id != NONE)
			t->types[id].go = true;
	}
	return cache_put(&p->closures, h, pc, id);
}

/* The type of the object at dst that slot s, at address at, points to. */
static uint32_t resolve(struct cprof_types *t, const struct cprof_type_slot *s,
			uint64_t at, uint64_t dst)
{
	uint64_t w;
	switch (s->kind) {
	case CPROF_SLOT_STATIC:
		return s->target;
	case CPROF_SLOT_IFACE:
	case CPROF_SLOT_EFACE:
		return iface_type(t, at - 8, s->kind == CPROF_SLOT_EFACE);
	case CPROF_SLOT_CHAN:
		return chan_elem_type(t, at + s->aux);
	case CPROF_SLOT_MAP_DIR:
		if (!read_word(t->priv->core, at + s->aux, &w))
			return NONE;
		return w ? s->target : s->alt;
	case CPROF_SLOT_CLOSURE:
		return closure_type(t, dst);
	}
	return NONE;
}

/* Follows the typed pointers of o: its edges at slot offsets, pointing at the
 * start of their targets. */
static void follow(struct cprof_types *t, const struct cprof_object *objs,
		   const struct cprof_graph *g, uint32_t o, struct queue *q)
{
	uint32_t id = t->object_type[o];
	const struct key *k = &t->priv->keys[id];
	uint32_t elem = k->elem ? k->elem - 1 : id;
	uint32_t count = k->elem ? k->count : 1;
	ensure_slots(t, elem);
	const struct cprof_type *et = &t->types[elem];
	if (!et->n_slots)
		return;
	uint64_t e = g->row[o], end = g->row[o + 1];
	for (uint32_t i = 0; i < count && e < end; i++) {
		uint64_t base = (uint64_t)i * et->size;
		for (uint32_t s = 0; s < et->n_slots && e < end; s++) {
			uint64_t off = base + et->slots[s].offset;
			while (e < end && g->src_off[e] < off)
				e++;
			if (e >= end || g->src_off[e] != off || g->dst_off[e] != 0)
				continue;
			uint32_t dst = g->dst[e];
			uint32_t target = resolve(t, &et->slots[s], objs[o].addr + off, objs[dst].addr);
			assign(t, objs, dst, target,
			       t->object_source[o] == CPROF_TYPE_LAYOUT ?
			       CPROF_TYPE_LAYOUT : CPROF_TYPE_DWARF, q);
			et = &t->types[elem];      /* both may have grown the table */
		}
	}
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
		    g->dst_off[e] != 0)
			return false;
		/* and at an object that could be the slot's type */
		uint64_t tsize = ty->slots[s].kind != CPROF_SLOT_STATIC ? 0 :
				 t->types[ty->slots[s].target].size;
		if (tsize && objs[g->dst[e]].size < tsize)
			return false;
		hits++;
	}
	return hits > 0;
}

static void by_layout(struct cprof_types *t, struct cprof_core *core,
		      const struct cprof_object *objs, const struct cprof_graph *g,
		      struct queue *q)
{
	(void)core;
	/* Candidates: struct types DWARF gave some object, with pointer slots. */
	uint8_t *used = calloc(t->n_types ? t->n_types : 1, 1);
	if (!used)
		return;
	for (uint32_t o = 0; o < g->n; o++)
		if (t->object_type[o] != NONE && t->object_source[o] == CPROF_TYPE_DWARF &&
		    !t->priv->keys[t->object_type[o]].elem)
			used[t->object_type[o]] = 1;
	uint32_t cand[64];
	size_t n_cand = 0;
	for (uint32_t i = 0; i < t->n_types && n_cand < 64; i++) {
		if (!used[i] || !t->types[i].size || strncmp(t->types[i].name, "struct ", 7))
			continue;
		ensure_slots(t, i);
		if (t->types[i].n_slots)
			cand[n_cand++] = i;
	}
	free(used);
	for (uint32_t o = 0; o < g->n && n_cand; o++) {
		if (t->object_type[o] != NONE || !cprof_object_is_node(&objs[o]))
			continue;
		uint32_t match = NONE;
		int matches = 0;
		for (size_t c = 0; c < n_cand; c++) {
			uint64_t size = t->types[cand[c]].size;
			if (size > objs[o].size || objs[o].size - size >= SLACK)
				continue;
			if (layout_fits(t, objs, g, o, cand[c])) {
				match = cand[c];
				matches++;
			}
		}
		if (matches == 1)
			assign(t, objs, o, match, CPROF_TYPE_LAYOUT, q);
	}
}

/* Types the objects the Go runtime types (a malloc header, a large span's
 * type).  With dwarf_only, only those whose type DWARF has: a type known by
 * its runtime name alone has no slots to follow, and a typed pointer may yet
 * give the object its DWARF type (the runtime names a map's buckets
 * "map.bucket[K]V", which DWARF calls bucket<K,V> without naming its
 * descriptor). */
static void runtime_types(struct cprof_types *t, const struct cprof_go_runtime *go,
			  const struct cprof_object *objs, uint32_t n, bool dwarf_only,
			  struct queue *q)
{
	uint32_t o = 0;
	for (size_t i = 0; i < go->n_typed; i++) {
		uint64_t addr = go->typed[i].addr;
		while (o < n && objs[o].addr < addr)
			o++;
		if (o == n)
			break;
		if (objs[o].addr != addr || t->object_type[o] != NONE)
			continue;
		uint32_t type = runtime_type(t, go->typed[i].type);
		if (type != NONE && (!dwarf_only || t->priv->keys[type].dbg))
			assign(t, objs, o, type, CPROF_TYPE_RUNTIME, q);
	}
}

struct cprof_error *cprof_types_compute(struct cprof_core *core,
					const struct cprof_object *objs,
					const struct cprof_roots *rs,
					const struct cprof_graph *g,
					struct cprof_types *t)
{
	double t0 = cprof_now();
	uint32_t n = g->n;
	memset(t, 0, sizeof(*t));
	t->priv = calloc(1, sizeof(*t->priv));
	t->object_type = malloc((n ? n : 1) * sizeof(*t->object_type));
	t->object_count = calloc(n ? n : 1, sizeof(*t->object_count));
	t->object_source = calloc(n ? n : 1, 1);
	struct queue q = { malloc((n ? n : 1) * sizeof(uint32_t)), 0, 0 };
	if (!t->priv || !t->object_type || !t->object_count || !t->object_source || !q.q)
		goto oom;
	memset(t->object_type, 0xff, n * sizeof(*t->object_type));
	t->priv->core = core;
	t->priv->go = rs->go;
	t->priv->mods = calloc(core->n_modules + 1, sizeof(*t->priv->mods));
	t->priv->n_mods = core->n_modules;
	if (!t->priv->mods || !cache_init(&t->priv->vtables) ||
	    !cache_init(&t->priv->closures) || rehash(t))
		goto oom;

	/* 1. C++ objects: a first word pointing into a module's vtable. */
	for (uint32_t o = 0; o < n; o++) {
		const struct cprof_object *ob = &objs[o];
		uint64_t w;
		if (!cprof_object_is_node(ob) || ob->size < 8)
			continue;
		const uint64_t *p = cprof_core_ptr(core, ob->addr, 8);
		if (!p)
			continue;
		memcpy(&w, p, 8);
		if (!cprof_core_module(core, w))
			continue;
		assign(t, objs, o, vtable_class(t, core, w), CPROF_TYPE_VTABLE, &q);
	}
	size_t vtable_typed = q.tail;

	/* 2. Seeds: what typed root slots point at (their start). */
	for (size_t i = 0; i < g->n_root_refs; i++) {
		const struct cprof_root_ref *ref = &g->root_refs[i];
		const struct cprof_root *r = &rs->roots[ref->root];
		if (ref->dst_off)
			continue;
		struct cprof_type_slot sl = { .target = NONE, .alt = NONE };
		if (r->kind == CPROF_ROOT_GLOBALS) {
			struct module_vars *mv = &t->priv->mods[r->module];
			if (!mv->done)
				module_variables(core, &core->modules[r->module], mv);
			sl = slot_type(t, find_var(mv->vars, mv->n_vars, ref->slot), ref->slot);
		} else if (r->kind == CPROF_ROOT_TLS) {
			/* The executable's TLS block ends at the thread pointer. */
			const struct cprof_module *exe = cprof_core_executable(core);
			if (!exe)
				continue;
			size_t mi = (size_t)(exe - core->modules);
			struct module_vars *mv = &t->priv->mods[mi];
			if (!mv->done)
				module_variables(core, exe, mv);
			uint64_t bias;
			Elf *elf = cprof_core_module_elf(core, exe, &bias);
			size_t phnum;
			if (!elf || elf_getphdrnum(elf, &phnum))
				continue;
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
		} else if (r->kind == CPROF_ROOT_GOROUTINE) {
			size_t k = cprof_root_slot_frame(rs, r, ref->slot);
			sl = goroutine_slot_type(t, core, &rs->go->goroutines[r->goroutine],
						 k, ref->slot);
		}
		assign(t, objs, ref->dst, resolve(t, &sl, ref->slot, objs[ref->dst].addr),
		       CPROF_TYPE_DWARF, &q);
	}

	/* 3. Propagation, breadth-first (vtable-typed objects have no DWARF
	   layout here: only DWARF-typed ones are followed). */
	q.head = vtable_typed;
	while (q.head < q.tail)
		follow(t, objs, g, q.q[q.head++], &q);

	/* 4. Go objects the runtime types (a malloc header, a large span's
	   type) that no typed pointer reached, as the DWARF type of their
	   descriptor; then what they point to.  (Not before: where both
	   apply, DWARF's type is the more specific one, a map's directory
	   *table<K,V> where the runtime allocated *maps.table.) */
	if (rs->go) {
		size_t from = q.tail;
		runtime_types(t, rs->go, objs, n, true, &q);
		q.head = from;
		while (q.head < q.tail)
			follow(t, objs, g, q.q[q.head++], &q);
	}

	/* 5. Objects no typed pointer reached: by layout, then propagate. */
	size_t before = q.tail;
	by_layout(t, core, objs, g, &q);
	q.head = before;
	while (q.head < q.tail)
		follow(t, objs, g, q.q[q.head++], &q);

	/* 6. The rest the Go runtime types: by its names. */
	if (rs->go)
		runtime_types(t, rs->go, objs, n, false, &q);

	for (uint32_t o = 0; o < n; o++) {
		if (t->object_type[o] != NONE) {
			t->typed++;
			t->typed_bytes += objs[o].size;
		}
	}
	free(q.q);
	t->t_types = cprof_now() - t0;
	return NULL;
oom:
	free(q.q);
	cprof_types_deinit(t);
	return &cprof_enomem;
}

void cprof_types_deinit(struct cprof_types *t)
{
	for (size_t i = 0; i < t->n_types; i++) {
		free(t->types[i].name);
		for (uint32_t k = 0; k < t->types[i].n_slots; k++)
			free(t->types[i].slots[k].name);
		free(t->types[i].slots);
	}
	free(t->types);
	free(t->object_type);
	free(t->object_count);
	free(t->object_source);
	if (t->priv) {
		free(t->priv->keys);
		free(t->priv->slots);
		for (size_t i = 0; t->priv->mods && i < t->priv->n_mods; i++) {
			free(t->priv->mods[i].vars);
			free(t->priv->mods[i].tls);
			free(t->priv->mods[i].cus);
		}
		free(t->priv->mods);
		free(t->priv->rt_dies);
		cache_deinit(&t->priv->vtables);
		free(t->priv->fr_keys);
		free(t->priv->fr_slots);
		cache_deinit(&t->priv->closures);
	}
	free(t->priv);
	memset(t, 0, sizeof(*t));
}
