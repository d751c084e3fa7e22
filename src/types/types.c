/*
 * types.c - typing heap objects from C++ vtables and from DWARF (see
 * include/cprof/types.h; the other files of src/types/ in
 * types-internal.h).
 *
 * Data structures:
 *   - the type table: each DWARF type is interned once per (debug info, DIE
 *     offset), each vtable class and each array "T[n]" once per name; a
 *     type's typed pointer slots are flattened lazily (struct members,
 *     nested structs and fixed arrays, at most MAX_SLOTS per type);
 *   - vtable classes by vtable pointer (a value cache);
 *   - a FIFO of objects typed but not yet followed.
 * The typed pointers of an object are matched against its graph edges (both
 * sorted by offset) in one merge, so no memory is read twice.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/hash.h"
#include "cprof/progress.h"
#include "types-internal.h"

char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);

/* The member `name` of struct die: its offset and (unless type is NULL) its
 * type DIE.  False when it has none. */
bool types_find_member(Dwarf_Die *die, const char *name, uint64_t *off, Dwarf_Die *type)
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
	return types_find_member(die, name, &off, NULL) ? (int64_t)off : -1;
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
uint32_t types_lookup(const struct cprof_types *t, const struct key *k)
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

uint32_t types_add(struct cprof_types *t, const struct key *k,
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
	bool array = k->elem && k->count != INSIDE;
	ty->element = array ? k->elem - 1 : NONE;
	ty->count = array ? k->count : 0;
	ty->inside = k->elem && !array ? k->elem - 1 : NONE;
	ty->inside_off = k->elem && !array ? k->off : 0;
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
bool types_strip(Dwarf_Die *die)
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

/* The name of the last typedef on the way from die to the type it names
 * (past const and volatile), or NULL. */
static const char *typedef_name(Dwarf_Die *die)
{
	Dwarf_Die d = *die;
	const char *name = NULL;
	for (int i = 0; i < 16; i++) {
		int tag = dwarf_tag(&d);
		if (tag == DW_TAG_typedef)
			name = dwarf_diename(&d);
		else if (tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
			 tag != DW_TAG_restrict_type && tag != DW_TAG_atomic_type)
			return name;
		Dwarf_Attribute a;
		if (!dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &d))
			return NULL;
	}
	return NULL;
}

static void type_name(Dwarf_Die *die, char *buf, size_t size, int depth)
{
	Dwarf_Die d = *die;
	if (depth > 4 || !types_strip(&d)) {
		snprintf(buf, size, "void");
		return;
	}
	const char *name = dwarf_diename(&d);
	/* an anonymous struct, union or enum is known by its typedef: glibc's
	   pthread_cond_t is a union with no name */
	const char *td = name ? NULL : typedef_name(die);
	int tag = dwarf_tag(&d);
	if (td && (tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
		   tag == DW_TAG_enumeration_type || tag == DW_TAG_class_type)) {
		snprintf(buf, size, "%s", td);
		return;
	}
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

bool types_is_go(Dwarf_Die *die)
{
	Dwarf_Die cu;
	return dwarf_diecu(die, &cu, NULL, NULL) && dwarf_srclang(&cu) == DW_LANG_Go;
}

/*
 * Whether struct die ends with a flexible array member (`char name[]`, or
 * GNU's `char name[0]`): its size is that of the header, and a chunk holding
 * one is one struct with its array after it, never an array of structs (C
 * forbids arrays of them).
 */
static bool flexible_array(Dwarf_Die *die)
{
	Dwarf_Die m, last, type, sub;
	Dwarf_Attribute a;
	int tag = dwarf_tag(die);
	if ((tag != DW_TAG_structure_type && tag != DW_TAG_class_type) ||
	    dwarf_child(die, &m) != 0)
		return false;
	bool any = false;
	do {
		if (dwarf_tag(&m) == DW_TAG_member) {
			last = m;
			any = true;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	if (!any || !dwarf_formref_die(dwarf_attr(&last, DW_AT_type, &a), &type) ||
	    !types_strip(&type) || dwarf_tag(&type) != DW_TAG_array_type ||
	    dwarf_child(&type, &sub) != 0 || dwarf_tag(&sub) != DW_TAG_subrange_type)
		return false;
	Dwarf_Word count;
	Dwarf_Sword upper;
	if (dwarf_formudata(dwarf_attr(&sub, DW_AT_count, &a), &count) == 0)
		return count == 0;
	if (!dwarf_attr(&sub, DW_AT_upper_bound, &a))
		return true;       /* no bound: `name[]` */
	/* `name[0]` is written as upper bound -1 (or the unsigned max). */
	return dwarf_formsdata(&a, &upper) == 0 && upper == -1;
}

/*
 * Whether die is a Go named type written as a typedef (an interface:
 * `go/ast.Stmt` -> runtime.iface; `type Pos int`): then *ret is the typedef
 * that names it (the innermost of a chain of typedefs of the same name, as
 * Go writes an interface twice), so that what it types is named as the
 * program names it ("[12]go/ast.Stmt", not "[12]runtime.iface").
 */
static bool go_typedef(Dwarf_Die *die, Dwarf_Die *ret)
{
	Dwarf_Attribute a;
	Dwarf_Die next;
	const char *name = dwarf_diename(die);
	if (dwarf_tag(die) != DW_TAG_typedef || !name || !types_is_go(die))
		return false;
	*ret = *die;
	for (int i = 0; i < 8 && dwarf_formref_die(dwarf_attr(ret, DW_AT_type, &a), &next) &&
			dwarf_tag(&next) == DW_TAG_typedef && dwarf_diename(&next) &&
			!strcmp(dwarf_diename(&next), name); i++)
		*ret = next;
	return true;
}

/* The type id of a DWARF type DIE (typedefs and qualifiers skipped), or
 * NONE for void, C functions and DIEs without a size.  (A Go func type is a
 * word pointing to a closure.) */
uint32_t types_intern_die(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die)
{
	Dwarf_Die d = *die, named;
	bool go_named = go_typedef(die, &named);
	if (!types_strip(&d))
		return NONE;
	int tag = dwarf_tag(&d);
	if ((tag == DW_TAG_subroutine_type && !types_is_go(&d)) || tag == DW_TAG_unspecified_type)
		return NONE;
	if (dwarf_hasattr(&d, DW_AT_declaration)) {
		/* A forward declaration: find the definition by name in its unit. */
		return NONE;
	}
	struct key k = { (uintptr_t)dbg, dwarf_dieoffset(go_named ? &named : &d), 0, 0 };
	uint32_t id = types_lookup(t, &k);
	if (id != NONE)
		return id;
	Dwarf_Word size = 0;
	if (dwarf_aggregate_size(&d, &size) != 0)
		size = 0;
	char name[256];
	if (go_named)
		snprintf(name, sizeof(name), "%s", dwarf_diename(&named));
	else
		type_name(die, name, sizeof(name), 0);   /* its typedef may name it */
	uint32_t id2 = types_add(t, &k, name, size);
	if (id2 != NONE && types_is_go(&d))
		t->types[id2].go = true;
	else if (id2 != NONE && flexible_array(&d))
		t->types[id2].one = true;
	return id2;
}

/* "T[n]": the array of n elements of type elem. */
static uint32_t intern_array(struct cprof_types *t, uint32_t elem, uint32_t n)
{
	struct key k = { 0, 0, elem + 1, n };
	uint32_t found = types_lookup(t, &k);
	if (found != NONE)
		return found;
	char name[300];
	bool go = t->types[elem].go;
	if (go)
		snprintf(name, sizeof(name), "[%u]%s", n, t->types[elem].name);
	else
		snprintf(name, sizeof(name), "%s[%u]", t->types[elem].name, n);
	uint32_t id = types_add(t, &k, name, t->types[elem].size * n);
	if (id != NONE)
		t->types[id].go = go;
	return id;
}

/* "T at +0x10": T at offset off of an object whose type is not known. */
static uint32_t intern_inside(struct cprof_types *t, uint32_t elem, uint64_t off)
{
	struct key k = { 0, off, elem + 1, INSIDE };
	uint32_t found = types_lookup(t, &k);
	if (found != NONE)
		return found;
	char name[300];
	snprintf(name, sizeof(name), "%s at +0x%" PRIx64, t->types[elem].name, off);
	uint32_t id = types_add(t, &k, name, off + t->types[elem].size);
	if (id != NONE) {
		t->types[id].go = t->types[elem].go;
		t->types[id].one = true;
	}
	return id;
}

/* A type known by name only (kind 0: a class named by its vtable; kind 1: a
 * Go runtime type), keyed by the name's hash. */
static uint32_t intern_named(struct cprof_types *t, const char *name, uintptr_t kind,
			     uint64_t size)
{
	struct key k = { 0, cprof_hash_str(name) + kind, 0, 0 };   /* dbg 0: no DWARF */
	uint32_t id = types_lookup(t, &k);
	if (id != NONE && !strcmp(t->types[id].name, name))
		return id;
	if (id != NONE)
		k.count = 1;    /* a collision of names: keep both */
	return types_add(t, &k, name, size);
}

static uint32_t intern_class(struct cprof_types *t, const char *name)
{
	return intern_named(t, name, 0, 0);
}

/* A Go runtime type, by the name its descriptor gives. */
uint32_t types_intern_runtime(struct cprof_types *t, const char *name, uint64_t size)
{
	uint32_t id = intern_named(t, name, 1, size);
	if (id != NONE)
		t->types[id].go = true;
	return id;
}

/* ---- pointer slots of a type ---- */

/* The pointee of pointer type die (typedefs skipped on both sides). */
bool types_deref(Dwarf_Die *die, Dwarf_Die *ret)
{
	Dwarf_Attribute a;
	Dwarf_Die d = *die;
	return types_strip(&d) && dwarf_tag(&d) == DW_TAG_pointer_type &&
	       dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), ret) && types_strip(ret);
}

static void push_slot(struct slot_list *out, uint64_t off, uint32_t target,
		      const char *name, enum cprof_slot_kind kind, int32_t aux)
{
	if (off <= UINT32_MAX && out->n < MAX_SLOTS)
		out->s[out->n++] = (struct cprof_type_slot){
			.offset = (uint32_t)off, .target = target, .name = strdup(name),
			.kind = (uint8_t)kind, .aux = aux, .alt = NONE };
}

/* Whether member mn of Go struct sn points to storage: an array (the names
 * are those Go's compiler and linker give a slice, a string, a swiss table's
 * groups and an old map's buckets). */
static bool storage_member(const char *sn, const char *mn)
{
	if (!sn || !mn)
		return false;
	if (!strncmp(sn, "[]", 2))
		return !strcmp(mn, "array");
	if (!strcmp(sn, "string"))
		return !strcmp(mn, "str");
	if (!strncmp(sn, "groupReference<", 15))
		return !strcmp(mn, "data");
	if (!strncmp(sn, "hash<", 5))
		return !strcmp(mn, "buckets") || !strcmp(mn, "oldbuckets");
	return false;
}

/*
 * Where the length of the storage that member mn of Go struct d points to is
 * (storage_member's): from the member, the offset of a slice's cap (the
 * elements allocated) or a string's len; 0 where the storage's length is not
 * in the struct (then as many elements as fit).
 */
static int32_t storage_count_at(Dwarf_Die *d, const char *sn, uint64_t member_off)
{
	int64_t at = -1;
	if (sn && !strncmp(sn, "[]", 2))
		at = member_offset(d, "cap");
	else if (sn && !strcmp(sn, "string"))
		at = member_offset(d, "len");
	return at < 0 ? 0 : (int32_t)(at - (int64_t)member_off);
}

/*
 * Go's sync/atomic.Pointer[T] keeps its *T in `v unsafe.Pointer` and says T
 * only in a zero-length member `_ [0]*T`: v's offset and T's DIE.
 */
static bool atomic_pointer(Dwarf_Die *d, const char *sn, uint64_t *v_off, Dwarf_Die *pointee)
{
	Dwarf_Die m, arr, ptr;
	Dwarf_Attribute a;
	Dwarf_Word size;
	if (!sn || strncmp(sn, "sync/atomic.Pointer[", 20) || dwarf_child(d, &m) != 0)
		return false;
	do {
		const char *mn = dwarf_diename(&m);
		if (dwarf_tag(&m) == DW_TAG_member && mn && !strcmp(mn, "_") &&
		    dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &a), &arr) &&
		    types_strip(&arr) && dwarf_tag(&arr) == DW_TAG_array_type &&
		    dwarf_aggregate_size(&arr, &size) == 0 && size == 0 &&
		    dwarf_formref_die(dwarf_attr(&arr, DW_AT_type, &a), &ptr) &&
		    types_deref(&ptr, pointee))
			return types_find_member(d, "v", v_off, NULL);
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

void types_collect_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
			 uint64_t base, int depth, const char *prefix,
			 struct slot_list *out)
{
	Dwarf_Die d = *die;
	if (depth > MAX_DEPTH || out->n >= MAX_SLOTS || !types_strip(&d))
		return;
	Dwarf_Attribute a;
	Dwarf_Die sub;
	switch (dwarf_tag(&d)) {
	case DW_TAG_pointer_type: {
		/* void * (Go's unsafe.Pointer) types nothing, but its name
		   says where a path goes through it ("->data") */
		uint32_t target = dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub) ?
				  types_intern_die(t, dbg, &sub) : NONE;
		push_slot(out, base, target, prefix, CPROF_SLOT_STATIC, 0);
		return;
	}
	case DW_TAG_subroutine_type:
		/* A Go func value points to its closure; a C function pointer
		   to code. */
		if (types_is_go(&d))
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
		bool map_dir = sn && !strncmp(sn, "map<", 4) && types_is_go(&d) &&
			       types_map_dir_slot(t, dbg, &d, base, prefix, out);
		uint64_t v_off;
		if (atomic_pointer(&d, sn, &v_off, &sub)) {
			char name[200];
			snprintf(name, sizeof(name), "%s%sv", prefix, prefix[0] ? "." : "");
			uint32_t target = types_intern_die(t, dbg, &sub);
			if (target != NONE)
				push_slot(out, base + v_off, target, name, CPROF_SLOT_STATIC, 0);
			return;
		}
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
				if (out->n)
					out->s[out->n - 1].many = true;
				continue;
			}
			if (map_dir && mn && !strcmp(mn, "dirPtr"))
				continue;         /* types_map_dir_slot's */
			uint32_t first = out->n;
			if (dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &a), &sub))
				types_collect_slots(t, dbg, &sub, base + off, depth + 1, name, out);
			if (out->n == first + 1 && out->s[first].offset == base + off &&
			    storage_member(sn, mn) && types_is_go(&d)) {
				out->s[first].many = true;
				out->s[first].count_at = storage_count_at(&d, sn, off);
			}
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
			types_collect_slots(t, dbg, &sub, base + i * esize, depth + 1, name, out);
		}
		return;
	}
	default:
		return;                   /* unions are ambiguous; scalars hold no pointer */
	}
}

/* The slots of type id (computed on first use). */
void types_ensure_slots(struct cprof_types *t, uint32_t id)
{
	struct cprof_type *ty = &t->types[id];
	if (ty->slots_done)
		return;
	ty->slots_done = true;
	const struct key *k = &t->priv->keys[id];
	if (k->elem) {             /* an array: the element's slots, repeated */
		types_ensure_slots(t, k->elem - 1);
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
		types_closure_slots(t, dbg, &die, &l);
	else
		types_collect_slots(t, dbg, &die, 0, 0, "", &l);
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
struct cprof_type_slot types_pointee_at(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
					uint64_t off, int depth)
{
	struct cprof_type_slot none = { .target = NONE, .alt = NONE };
	Dwarf_Die d = *die;
	if (depth > MAX_DEPTH || !types_strip(&d))
		return none;
	Dwarf_Attribute a;
	Dwarf_Die sub;
	switch (dwarf_tag(&d)) {
	case DW_TAG_pointer_type:
		if (!off && dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub))
			none.target = types_intern_die(t, dbg, &sub);
		return none;
	case DW_TAG_subroutine_type:
		if (!off && types_is_go(&d))
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
		uint64_t v_off;
		if (atomic_pointer(&d, sn, &v_off, &sub)) {
			if (off == v_off)
				none.target = types_intern_die(t, dbg, &sub);
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
			if (moff <= off && off < moff + msize) {
				struct cprof_type_slot r = types_pointee_at(t, dbg, &sub, off - moff,
									    depth + 1);
				if (off == moff && types_is_go(&d) &&
				    storage_member(sn, dwarf_diename(&m))) {
					r.many = true;
					r.count_at = storage_count_at(&d, sn, moff);
				}
				return r;
			}
		} while (dwarf_siblingof(&m, &m) == 0);
		return none;
	}
	case DW_TAG_array_type: {
		Dwarf_Word esize = 0;
		if (!dwarf_formref_die(dwarf_attr(&d, DW_AT_type, &a), &sub) ||
		    dwarf_aggregate_size(&sub, &esize) != 0 || !esize)
			return none;
		return types_pointee_at(t, dbg, &sub, off % esize, depth + 1);
	}
	}
	return none;
}

/* ---- value caches ---- */

bool types_cache_init(struct value_cache *c)
{
	c->cap = 1 << 10;
	c->used = 0;
	c->value = calloc(c->cap, sizeof(*c->value));
	c->type = calloc(c->cap, sizeof(*c->type));
	return c->value && c->type;
}

void types_cache_deinit(struct value_cache *c)
{
	free(c->value);
	free(c->type);
}

static size_t cache_home(const struct value_cache *c, uint64_t v)
{
	uint64_t h = v * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 32)) & (c->cap - 1);
}

/* Whether v is cached, and its type in *type. */
bool types_cache_find(const struct value_cache *c, uint64_t v, uint32_t *type)
{
	size_t h = cache_home(c, v);
	while (c->value[h] && c->value[h] != v)
		h = (h + 1) & (c->cap - 1);
	*type = c->type[h];
	return v && c->value[h] == v;
}

/* Doubles the cache; false (and the cache as it was) when out of memory. */
static bool cache_grow(struct value_cache *c)
{
	struct value_cache n = { calloc(2 * c->cap, sizeof(*n.value)),
				 calloc(2 * c->cap, sizeof(*n.type)), 2 * c->cap, c->used };
	if (!n.value || !n.type) {
		types_cache_deinit(&n);
		return false;
	}
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->value[i])
			continue;
		size_t h = cache_home(&n, c->value[i]);
		while (n.value[h])
			h = (h + 1) & (n.cap - 1);
		n.value[h] = c->value[i];
		n.type[h] = c->type[i];
	}
	types_cache_deinit(c);
	*c = n;
	return true;
}

/* Caches type for v (not yet cached; never 0) and returns type.  The cache
 * grows to stay at most half full: only running out of memory leaves a
 * value uncached. */
uint32_t types_cache_put(struct value_cache *c, uint64_t v, uint32_t type)
{
	if (!v || (2 * (c->used + 1) > c->cap && !cache_grow(c)))
		return type;
	size_t h = cache_home(c, v);
	while (c->value[h] && c->value[h] != v)
		h = (h + 1) & (c->cap - 1);
	if (!c->value[h])
		c->used++;
	c->value[h] = v;
	c->type[h] = type;
	return type;
}

/* How many of the n elements (of `size` bytes each, sorted by the uint64_t
 * they start with: an address) start at or below v: the last of them is the
 * one whose range may hold v. */
size_t types_count_le(const void *a, size_t n, size_t size, uint64_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;
		memcpy(&key, (const char *)a + mid * size, sizeof(key));
		if (key <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- C++ vtables ---- */

static int vtable_cmp(const void *a, const void *b)
{
	const struct vtable *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

struct vtable_list {
	struct vtable *v;
	size_t n, cap;
	bool oom;
};

static bool push_vtable(const char *name, uint64_t addr, uint64_t size, void *arg)
{
	struct vtable_list *l = arg;
	if (!size)
		return true;       /* an alias without extent says nothing */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct vtable *a = realloc(l->v, cap * sizeof(*a));
		if (!a) {
			l->oom = true;
			return false;
		}
		l->v = a;
		l->cap = cap;
	}
	l->v[l->n++] = (struct vtable){ addr, addr + size, name, NONE, false };
	return true;
}

/* The type_info classes of the Itanium C++ ABI whose objects describe a
 * class: one without bases, with one public base, with others. */
static const char *const typeinfo_vtables[] = {
	"_ZTVN10__cxxabiv117__class_type_infoE",
	"_ZTVN10__cxxabiv120__si_class_type_infoE",
	"_ZTVN10__cxxabiv121__vmi_class_type_infoE",
};

static bool push_typeinfo_vtable(const char *name, uint64_t addr, uint64_t size, void *arg)
{
	struct cprof_types_private *p = arg;
	size_t n = strcspn(name, "@");
	(void)size;
	for (size_t i = 0; i < sizeof(typeinfo_vtables) / sizeof(*typeinfo_vtables); i++)
		if (strlen(typeinfo_vtables[i]) == n && !strncmp(name, typeinfo_vtables[i], n) &&
		    p->n_typeinfo_vptr < sizeof(p->typeinfo_vptr) / sizeof(*p->typeinfo_vptr))
			/* an object's vtable pointer is past offset-to-top and
			   the typeinfo pointer */
			p->typeinfo_vptr[p->n_typeinfo_vptr++] = addr + 16;
	return true;
}

/*
 * The vtables of every module (its `_ZTV` symbols, with their extent), sorted
 * by address and made disjoint: built once, so that the probe of an object's
 * first word is a binary search, and only modules with C++ classes have any.
 * With them, where the type_info classes' vtables point (for RTTI, below).
 * False when out of memory.
 */
static bool index_vtables(struct cprof_types *t, struct cprof_core *core)
{
	struct vtable_list l = { 0 };
	for (size_t i = 0; i < core->n_modules && !l.oom; i++) {
		cprof_core_each_symbol(core, &core->modules[i], "_ZTV", push_vtable, &l);
		cprof_core_each_symbol(core, &core->modules[i], "_ZTVN10__cxxabiv1",
				       push_typeinfo_vtable, t->priv);
	}
	if (l.oom) {
		free(l.v);
		return false;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), vtable_cmp);
	/* Overlaps (the same table under two names) keep the first. */
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++)
		if (!k || l.v[i].lo >= l.v[k - 1].hi)
			l.v[k++] = l.v[i];
	t->priv->vtables = l.v;
	t->priv->n_vtables = k;
	return true;
}

/* The class whose vtable w points into, or NONE (a binary search; the class
 * is named and interned on the first hit of each vtable). */
static uint32_t vtable_class(struct cprof_types *t, uint64_t w)
{
	struct cprof_types_private *p = t->priv;
	size_t lo = types_count_le(p->vtables, p->n_vtables, sizeof(*p->vtables), w);
	if (!lo || w >= p->vtables[lo - 1].hi)
		return NONE;
	struct vtable *v = &p->vtables[lo - 1];
	if (v->named)
		return v->type;
	v->named = true;
	char mangled[512];
	size_t n = strcspn(v->sym, "@");   /* "_ZTV3Foo@@V1": the version is noise */
	snprintf(mangled, sizeof(mangled), "%.*s", (int)n, v->sym);
	int status;
	char *dm = __cxa_demangle(mangled, NULL, NULL, &status);
	const char *name = dm && !status ? dm : mangled;
	if (!strncmp(name, "vtable for ", 11))
		name += 11;
	v->type = intern_class(t, name);
	free(dm);
	return v->type;
}

/* Whether w is the vtable pointer of a type_info object describing a class. */
static bool is_typeinfo_vptr(const struct cprof_types_private *p, uint64_t w)
{
	for (size_t i = 0; i < p->n_typeinfo_vptr; i++)
		if (p->typeinfo_vptr[i] == w)
			return true;
	return false;
}

/* The NUL-terminated name at addr (at most size - 1 bytes, printable ASCII),
 * read in pieces: a name near the end of .rodata ends near its mapping's. */
static bool read_name(const struct cprof_core *core, uint64_t addr, char *buf, size_t size)
{
	for (size_t k = 0; k + 16 <= size - 1; k += 16) {
		if (!cprof_core_try_read(core, addr + k, buf + k, 16))
			return false;
		for (size_t i = k; i < k + 16; i++) {
			if (!buf[i])
				return i > 0;
			if (buf[i] < 0x21 || buf[i] > 0x7e)
				return false;
		}
	}
	return false;
}

/*
 * The class of a vtable pointer w from the C++ ABI's RTTI, when no symbol
 * names its vtable (a stripped executable keeps no `_ZTV` symbol): the word
 * before the one w points to is the class's type_info, an object whose own
 * vtable is one of the type_info classes' (an exported symbol of libstdc++)
 * and whose second word is the class's mangled name ("6Circle",
 * "N3gdb6objectE"; a leading '*' marks a class of internal linkage).  Every
 * w is read once (cached, a miss too); NONE when w is no such pointer.
 */
static uint32_t rtti_class(struct cprof_types *t, struct cprof_core *core, uint64_t w)
{
	struct cprof_types_private *p = t->priv;
	uint32_t type = NONE;
	/* a module's address first: the heap pointers that start most objects
	   would fill the cache */
	if (!cprof_core_module(core, w))
		return NONE;
	if (types_cache_find(&p->rtti, w, &type))
		return type;
	type = NONE;
	uint64_t ti, words[2];
	char name[256];
	if (cprof_core_try_read(core, w - 8, &ti, 8) &&
	    !(ti & 7) && cprof_core_try_read(core, ti, words, sizeof(words)) &&
	    is_typeinfo_vptr(p, words[0]) && read_name(core, words[1], name, sizeof(name))) {
		const char *mangled = name + (name[0] == '*');
		int status;
		char *dm = __cxa_demangle(mangled, NULL, NULL, &status);
		type = intern_class(t, dm && !status ? dm : mangled);
		free(dm);
	}
	return types_cache_put(&p->rtti, w, type);
}

/*
 * Types the objects whose first word points into a vtable by its class.  Only
 * the objects of heaps that are not garbage collected: a C++ object is never
 * allocated by Go's allocator (so the integers that start millions of Go
 * objects are never looked up).
 */
/* The class whose vtable pointer w is, by the vtables' symbols in [min, max)
 * or by RTTI; NONE when w is none. */
static uint32_t class_of(struct cprof_types *t, struct cprof_core *core, uint64_t w,
			 uint64_t min, uint64_t max)
{
	uint32_t type = w >= min && w < max ? vtable_class(t, w) : NONE;
	/* a vtable pointer is 8-aligned and past two words of its table */
	if (type == NONE && t->priv->n_typeinfo_vptr && w >= 16 && !(w & 7))
		type = rtti_class(t, core, w);
	return type;
}

static void by_vtable(struct cprof_types *t, struct cprof_core *core,
		      const struct cprof_object *objs, uint32_t n, struct queue *q,
		      struct cprof_progress *progress)
{
	/* An allocator of the program's own may put a header before the C++
	   object it returns (MariaDB's my_malloc: 24 bytes): a vtable pointer
	   in the chunk's first words types it "T at +0x18". */
	enum { HEADER_MAX = 32 };
	const struct cprof_types_private *p = t->priv;
	if (!p->n_vtables && !p->n_typeinfo_vptr)
		return;
	uint64_t min = p->n_vtables ? p->vtables[0].lo : 0;
	uint64_t max = p->n_vtables ? p->vtables[p->n_vtables - 1].hi : 0;
	for (uint32_t o = 0; o < n; o++) {
		const struct cprof_object *ob = &objs[o];
		if (progress && (o & 0xffff) == 0)
			cprof_progress_update(progress, "types: C++ vtables", o, n);
		if (!cprof_object_is_node(ob) || ob->size < 8 ||
		    (ob->flags & CPROF_OBJECT_COLLECTED))
			continue;
		/* one read of the words probed (every C object passes here) */
		uint64_t words[HEADER_MAX / 8];
		size_t n_words = (ob->size < HEADER_MAX ? ob->size : HEADER_MAX) / 8;
		while (n_words && !cprof_core_try_read(core, ob->addr, words, 8 * n_words))
			n_words--;         /* the object's end is not in the core */
		uint32_t type = NONE;
		for (size_t k = 0; type == NONE && k < n_words; k++) {
			type = class_of(t, core, words[k], min, max);
			if (type != NONE && k)
				type = intern_inside(t, type, 8 * k);
		}
		types_assign(t, objs, o, type, CPROF_TYPE_VTABLE, false, 0, q);
	}
}

/* ---- assignment and propagation ---- */

/*
 * Types object o as T, or T[n] when n of them fill its usable size.  A C
 * chunk is an array when n >= 2 fill it to within malloc's SLACK.  A Go
 * object only when what points to it says so (many: a slice's, string's,
 * map's or channel's storage, or the element type a malloc header names):
 * then with count elements when the pointer knows it (a slice's cap, a
 * string's len; 0: it does not; "[1]T" too), else as many whole elements as
 * fit, as Go puts an array in the smallest size class that holds it.  Otherwise a Go object is one T: a
 * *T to the start of a bigger object is as often a struct embedding T first
 * as an array, and typing the rest as more T's would be wrong.
 */
void types_assign(struct cprof_types *t, const struct cprof_object *objs,
		  uint32_t o, uint32_t type, enum cprof_type_source src, bool many,
		  uint64_t count, struct queue *q)
{
	if (type == NONE || t->object_type[o] != NONE || !cprof_object_is_node(&objs[o]))
		return;
	uint64_t size = t->types[type].size, usable = objs[o].size;
	uint32_t n = 1;
	if (size) {
		if (size > usable)
			return;                /* it does not fit: not this type */
		uint64_t k = usable / size;
		/* The pointer knows the length (a slice's cap, a string's len):
		   the slot's slack holds no element, and even one element is
		   an array (the storage of a slice).  A length that does not
		   fit is not this object's: as many as fit. */
		bool known = many && count && count <= k;
		if (known)
			k = count;
		bool array = t->types[type].go ? many : usable - k * size < SLACK;
		if ((k >= 2 || known) && array && !t->types[type].one && k < UINT32_MAX) {
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
		return types_iface_target(t, at - 8, s->kind == CPROF_SLOT_EFACE, dst);
	case CPROF_SLOT_CHAN:
		return types_chan_elem(t, at + s->aux);
	case CPROF_SLOT_MAP_DIR:
		if (!types_read_word(t->priv->core, at + s->aux, &w))
			return NONE;
		return w ? s->target : s->alt;
	case CPROF_SLOT_CLOSURE:
		return types_closure(t, dst);
	}
	return NONE;
}

/* The element count slot s at address at says its storage has (the word at
 * at + count_at), or 0. */
static uint64_t slot_count(struct cprof_types *t, const struct cprof_type_slot *s, uint64_t at)
{
	uint64_t w;
	if (!s->count_at || !types_read_word(t->priv->core, at + (int64_t)s->count_at, &w))
		return 0;
	return w;
}

/* A typed pointer (slot sl of object o, at off) into the middle of object
 * dst: kept for after the exact types (struct inside). */
static void note_inside(struct cprof_types *t, const struct cprof_object *objs,
			const struct cprof_type_slot *sl, uint32_t o, uint64_t off, uint32_t dst)
{
	struct cprof_types_private *p = t->priv;
	uint64_t w;
	/* Go only: a Go pointer into an object is a field's address, of the
	   field's type.  C's intrusive lists point into the middle of every
	   node, and a node's `next`, followed as a typed pointer, typed gdb's
	   whole heap as arrays of struct list_head. */
	if (sl->kind != CPROF_SLOT_STATIC || sl->target == NONE || t->object_type[dst] != NONE ||
	    !t->types[sl->target].go || !(objs[dst].flags & CPROF_OBJECT_COLLECTED) ||
	    !types_read_word(p->core, objs[o].addr + off, &w) || w <= objs[dst].addr ||
	    w - objs[dst].addr >= objs[dst].size || (w - objs[dst].addr) % 8)
		return;
	if (p->n_inside == p->cap_inside) {
		size_t cap = p->cap_inside ? 2 * p->cap_inside : 64;
		struct inside *a = realloc(p->inside, cap * sizeof(*a));
		if (!a)
			return;
		p->inside = a;
		p->cap_inside = cap;
	}
	p->inside[p->n_inside++] = (struct inside){ dst, sl->target, w - objs[dst].addr };
}

/* Follows the typed pointers of o: its edges at slot offsets, pointing at the
 * start of their targets (the others are noted: note_inside). */
static void follow(struct cprof_types *t, const struct cprof_object *objs,
		   const struct cprof_graph *g, uint32_t o, struct queue *q)
{
	uint32_t id = t->object_type[o];
	const struct key *k = &t->priv->keys[id];
	bool inside = k->elem && k->count == INSIDE;
	uint32_t elem = k->elem ? k->elem - 1 : id;
	uint32_t count = k->elem && !inside ? k->count : 1;
	uint64_t shift = inside ? k->off : 0;
	types_ensure_slots(t, elem);
	const struct cprof_type *et = &t->types[elem];
	if (!et->n_slots)
		return;
	uint64_t e = g->row[o], end = g->row[o + 1];
	for (uint32_t i = 0; i < count && e < end; i++) {
		uint64_t base = (uint64_t)i * et->size + shift;
		for (uint32_t s = 0; s < et->n_slots && e < end; s++) {
			uint64_t off = base + et->slots[s].offset;
			while (e < end && g->src_off[e] < off)
				e++;
			if (e >= end || g->src_off[e] != off)
				continue;
			if (cprof_graph_interior(g, e)) {
				note_inside(t, objs, &et->slots[s], o, off, g->dst[e]);
				continue;
			}
			/* The slots stay put; et moves when the table grows, as
			   resolving and assigning may make it. */
			const struct cprof_type_slot *sl = &et->slots[s];
			uint32_t dst = g->dst[e];
			uint32_t target = resolve(t, sl, objs[o].addr + off, objs[dst].addr);
			types_assign(t, objs, dst, target, CPROF_TYPE_DWARF, sl->many,
				     slot_count(t, sl, objs[o].addr + off), q);
			et = &t->types[elem];
		}
	}
}

/* Follows the objects of the queue from position `from` on, and those they
 * add, breadth-first. */
static void propagate(struct cprof_types *t, const struct cprof_object *objs,
		      const struct cprof_graph *g, struct queue *q, size_t from,
		      struct cprof_progress *progress)
{
	for (q->head = from; q->head < q->tail; q->head++) {
		if (progress && (q->head & 0xffff) == 0)
			cprof_progress_update(progress, "types: following typed pointers",
					      q->tail, g->n);
		follow(t, objs, g, q->q[q->head], q);
	}
}

struct cprof_error *cprof_types_compute(struct cprof_core *core,
					const struct cprof_object *objs,
					const struct cprof_roots *rs,
					const struct cprof_graph *g,
					struct cprof_progress *progress,
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
	t->priv->go = cprof_go_runtime_of(rs->walk);
	t->priv->mods = calloc(core->n_modules + 1, sizeof(*t->priv->mods));
	t->priv->n_mods = core->n_modules;
	if (!t->priv->mods || !index_vtables(t, core) ||
	    !types_cache_init(&t->priv->closures) ||
	    !types_cache_init(&t->priv->descriptors) || !types_cache_init(&t->priv->rtti) ||
	    rehash(t))
		goto oom;

	/* 1. C++ objects: a first word pointing into a module's vtable. */
	by_vtable(t, core, objs, n, &q, progress);
	size_t vtable_typed = q.tail;

	/* 2. Seeds: what typed root slots point at (their start). */
	for (size_t i = 0; i < g->n_root_refs; i++) {
		const struct cprof_root_ref *ref = &g->root_refs[i];
		if (ref->dst_off)
			continue;
		struct cprof_type_slot sl = types_root_slot(t, rs, ref);
		types_assign(t, objs, ref->dst, resolve(t, &sl, ref->slot, objs[ref->dst].addr),
			     CPROF_TYPE_DWARF, sl.many, slot_count(t, &sl, ref->slot), &q);
	}

	/* 3. Propagation, breadth-first (vtable-typed objects have no DWARF
	   layout here: only DWARF-typed ones are followed). */
	propagate(t, objs, g, &q, vtable_typed, progress);

	/* 4. Go objects the runtime types (a malloc header, a large span's
	   type) that no typed pointer reached, as the DWARF type of their
	   descriptor; then what they point to.  (Not before: where both
	   apply, DWARF's type is the more specific one, a map's directory
	   *table<K,V> where the runtime allocated *maps.table.) */
	if (t->priv->go) {
		size_t from = q.tail;
		types_runtime_objects(t, t->priv->go, objs, n, true, &q);
		propagate(t, objs, g, &q, from, progress);
	}

	/* 5. Objects no typed pointer reached: guessed by their layout.  A
	   guess is never followed: a wrong one would spread to everything it
	   points to. */
	types_by_layout(t, objs, rs, g, progress, &q);

	/* 6. The rest the Go runtime types: by its names. */
	if (t->priv->go)
		types_runtime_objects(t, t->priv->go, objs, n, false, &q);

	/* 7. Objects typed pointers enter in their middle only: "T at +off"
	   when T has pointers to follow (a struct: a pointer into a char
	   buffer says nothing), then what they point to; rounds until no
	   pointer enters an untyped object.  Last: a pointer to an object's
	   start, the runtime's name and a whole struct's layout (a C object
	   holding a list node) say more than "T at +off". */
	while (t->priv->n_inside) {
		struct inside *in = t->priv->inside;
		size_t n_in = t->priv->n_inside, from = q.tail;
		t->priv->inside = NULL;
		t->priv->n_inside = t->priv->cap_inside = 0;
		for (size_t i = 0; i < n_in; i++) {
			if (t->object_type[in[i].object] != NONE)
				continue;
			types_ensure_slots(t, in[i].type);
			/* T fits after off (note_inside: off < size) */
			if (!t->types[in[i].type].n_slots ||
			    t->types[in[i].type].size > objs[in[i].object].size - in[i].off)
				continue;
			types_assign(t, objs, in[i].object, intern_inside(t, in[i].type, in[i].off),
				     CPROF_TYPE_DWARF, false, 0, &q);
		}
		free(in);
		propagate(t, objs, g, &q, from, progress);
	}

	for (uint32_t o = 0; o < n; o++) {
		if (t->object_type[o] != NONE) {
			t->typed++;
			t->typed_bytes += objs[o].size;
			t->guessed += t->object_source[o] == CPROF_TYPE_LAYOUT;
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
		free(t->priv->inside);
		free(t->priv->vtables);
		types_cache_deinit(&t->priv->rtti);
		types_root_slots_deinit(t->priv);
		types_go_deinit(t->priv);
	}
	free(t->priv);
	memset(t, 0, sizeof(*t));
}
