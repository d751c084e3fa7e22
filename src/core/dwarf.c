/*
 * dwarf.c - the few DWARF questions the walkers ask (libdw): the layout of a
 * struct, and where a static or thread-local variable lives.
 *
 * Layouts that change between versions of a library (glibc's malloc_state,
 * the Go runtime's mspan) come from here when debug info is present, so that
 * no offset is guessed.  Queries look at the top-level DIEs of compile units:
 * by name through an index built once per module, or, with a unit-name
 * suffix ("malloc.c"), those of that unit.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/hash.h"
#include "core-internal.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/*
 * The top-level DIEs of one module's DWARF by the hash of their name, sorted
 * by (hash, offset): a query by name looks at its candidates only, in the
 * order a walk over the units would meet them.  A Go runtime asks some forty
 * questions of a DWARF of 10^5 top-level DIEs: walking it each time was a
 * quarter of `analyze` on a small core (libdw's locks, dwarf_siblingof).
 */
struct cprof_dwarf_index {
	Dwarf *dw;
	struct name_die { uint64_t hash; Dwarf_Off off; } *e;
	size_t n;
	struct cprof_dwarf_index *next;
};

static int name_die_cmp(const void *a, const void *b)
{
	const struct name_die *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The index of dw, built on first use; NULL when out of memory. */
static const struct cprof_dwarf_index *dwarf_index(struct cprof_core *core, Dwarf *dw)
{
	struct cprof_dwarf_index *ix;
	for (ix = core->dwarf_index; ix; ix = ix->next)
		if (ix->dw == dw)
			return ix;
	if (!(ix = calloc(1, sizeof(*ix))))
		return NULL;
	ix->dw = dw;
	size_t cap = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;
		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &child) == 0) {
			do {
				const char *name = dwarf_diename(&child);
				if (!name)
					continue;
				if (ix->n == cap) {
					cap = cap ? 2 * cap : 4096;
					struct name_die *e = realloc(ix->e, cap * sizeof(*e));
					if (!e) {
						free(ix->e);
						free(ix);
						return NULL;
					}
					ix->e = e;
				}
				ix->e[ix->n++] = (struct name_die){ cprof_hash_str(name),
								    dwarf_dieoffset(&child) };
			} while (dwarf_siblingof(&child, &child) == 0);
		}
		off = next;
	}
	if (ix->n)
		qsort(ix->e, ix->n, sizeof(*ix->e), name_die_cmp);
	ix->next = core->dwarf_index;
	core->dwarf_index = ix;
	return ix;
}

void core_dwarf_release(struct cprof_core *core)
{
	while (core->dwarf_index) {
		struct cprof_dwarf_index *ix = core->dwarf_index;
		core->dwarf_index = ix->next;
		free(ix->e);
		free(ix);
	}
}

/* Calls fn for each top-level DIE named name (through the index), until fn
 * returns true.  Returns whether fn did; -1 when there is no index. */
static int each_named_die(struct cprof_core *core, Dwarf *dw, const char *name,
			  bool (*fn)(Dwarf_Die *die, void *arg), void *arg)
{
	const struct cprof_dwarf_index *ix = dwarf_index(core, dw);
	if (!ix)
		return -1;
	uint64_t h = cprof_hash_str(name);
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->e[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->n && ix->e[lo].hash == h; lo++) {
		Dwarf_Die die;
		if (dwarf_offdie(dw, ix->e[lo].off, &die) && fn(&die, arg))
			return 1;
	}
	return 0;
}

/*
 * Calls fn for each top-level DIE named name of every unit whose name ends
 * with cu_suffix (any unit: through the index), until fn returns true.
 * Returns whether fn did.
 */
static bool each_top_die(struct cprof_core *core, Dwarf *dw, const char *cu_suffix,
			 const char *name, bool (*fn)(Dwarf_Die *die, void *arg), void *arg)
{
	if (!cu_suffix) {
		int r = each_named_die(core, dw, name, fn, arg);
		if (r >= 0)
			return r;
	}
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		if (dwarf_offdie(dw, off + hsize, &cu)) {
			const char *cu_name = dwarf_diename(&cu);
			if (!cu_suffix || (cu_name && ends_with(cu_name, cu_suffix))) {
				Dwarf_Die child;
				if (dwarf_child(&cu, &child) == 0) {
					do {
						if (fn(&child, arg))
							return true;
					} while (dwarf_siblingof(&child, &child) == 0);
				}
			}
		}
		off = next;
	}
	return false;
}

struct struct_query {
	const char *name;
	struct cprof_dwarf_member *members;
	size_t n_members;
	uint64_t size;
};

/* die's type with typedefs and qualifiers peeled; false when it has none. */
static bool peel_type(Dwarf_Die *die, Dwarf_Die *ret)
{
	Dwarf_Attribute a;
	if (!dwarf_formref_die(dwarf_attr(die, DW_AT_type, &a), ret))
		return false;
	for (int depth = 0; depth < 16; depth++) {
		int tag = dwarf_tag(ret);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
		    tag != DW_TAG_atomic_type)
			return true;
		if (!dwarf_formref_die(dwarf_attr(ret, DW_AT_type, &a), ret))
			return false;
	}
	return false;
}

/*
 * Finds member `path` of the struct or union type: a name, or names joined
 * by dots ("e_slab_data.e_bitmap": a member of a member); the members of an
 * anonymous struct or union count as the type's own (C11).  Adds its offset
 * to *off and sets *size.  Bounded: a path has few parts, an anonymous
 * member nests a few levels.
 */
static bool find_member(Dwarf_Die *type, const char *path, int depth, int64_t *off,
			int64_t *size, int *budget)
{
	size_t len = strcspn(path, ".");
	Dwarf_Die m;
	if (depth > 8 || dwarf_child(type, &m) != 0)
		return false;
	do {
		if (--*budget < 0)
			return false;      /* a debug file's members are data too */
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		Dwarf_Attribute a;
		Dwarf_Word loc = 0;
		if ((dwarf_attr(&m, DW_AT_data_member_location, &a) &&
		     dwarf_formudata(&a, &loc) != 0) || dwarf_hasattr(&m, DW_AT_data_bit_offset))
			continue;          /* a location expression or a bit-field: no byte offset */
		const char *name = dwarf_diename(&m);
		Dwarf_Die mt;
		bool has_type = peel_type(&m, &mt);
		bool aggregate = has_type && (dwarf_tag(&mt) == DW_TAG_structure_type ||
					      dwarf_tag(&mt) == DW_TAG_union_type);
		int64_t sub = 0;
		if (!name) {
			if (aggregate && find_member(&mt, path, depth + 1, &sub, size, budget)) {
				*off += (int64_t)loc + sub;
				return true;
			}
			continue;
		}
		if (strlen(name) != len || strncmp(name, path, len))
			continue;
		if (path[len] == '.') {
			if (!aggregate || !find_member(&mt, path + len + 1, depth + 1, &sub, size, budget))
				return false;
			*off += (int64_t)loc + sub;
			return true;
		}
		Dwarf_Word msize;
		*size = has_type && dwarf_aggregate_size(&mt, &msize) == 0 ? (int64_t)msize : -1;
		*off += (int64_t)loc;
		return true;
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

static bool match_struct(Dwarf_Die *die, void *arg)
{
	struct struct_query *q = arg;
	int tag = dwarf_tag(die);
	if (tag != DW_TAG_structure_type && tag != DW_TAG_typedef)
		return false;
	const char *name = dwarf_diename(die);
	if (!name || strcmp(name, q->name))
		return false;
	Dwarf_Die type = *die, tmp;
	if (tag == DW_TAG_typedef) {
		Dwarf_Attribute a;
		if (!dwarf_formref_die(dwarf_attr(die, DW_AT_type, &a), &tmp))
			return false;
		type = tmp;
		if (dwarf_tag(&type) != DW_TAG_structure_type)
			return false;
	}
	if (dwarf_hasattr(&type, DW_AT_declaration))
		return false;
	Dwarf_Word size;
	if (dwarf_aggregate_size(&type, &size) != 0)
		return false;
	q->size = size;
	for (size_t i = 0; i < q->n_members; i++) {
		int64_t off = 0, msize = -1;
		int budget = 1 << 14;      /* members visited: anonymous ones nest */
		if (find_member(&type, q->members[i].name, 0, &off, &msize, &budget)) {
			q->members[i].offset = off;
			q->members[i].size = msize;
		}
	}
	return true;
}

bool cprof_dwarf_struct(struct cprof_core *core, const struct cprof_module *m,
			const char *cu_suffix, const char *name,
			struct cprof_dwarf_member *members, size_t n_members,
			uint64_t *size_ret)
{
	uint64_t bias;
	Dwarf *dw = cprof_core_module_dwarf(core, m, &bias);
	if (!dw)
		return false;
	for (size_t i = 0; i < n_members; i++)
		members[i].offset = members[i].size = -1;
	struct struct_query q = { name, members, n_members, 0 };
	if (!each_top_die(core, dw, cu_suffix, name, match_struct, &q))
		return false;
	*size_ret = q.size;
	return true;
}

struct var_query {
	const char *name;
	uint64_t bias;
	uint64_t value;
	bool is_tls;
};

static bool match_variable(Dwarf_Die *die, void *arg)
{
	struct var_query *q = arg;
	if (dwarf_tag(die) != DW_TAG_variable)
		return false;
	const char *name = dwarf_diename(die);
	if (!name || strcmp(name, q->name))
		return false;
	Dwarf_Attribute a;
	Dwarf_Op *expr;
	size_t len;
	if (!dwarf_attr(die, DW_AT_location, &a) ||
	    dwarf_getlocation(&a, &expr, &len) != 0)
		return false;
	if (len == 1 && expr[0].atom == DW_OP_addr) {
		q->value = expr[0].number + q->bias;
		q->is_tls = false;
		return true;
	}
	if (len == 2 &&
	    (expr[1].atom == DW_OP_form_tls_address ||
	     expr[1].atom == DW_OP_GNU_push_tls_address) &&
	    (expr[0].atom == DW_OP_const8u || expr[0].atom == DW_OP_const4u ||
	     expr[0].atom == DW_OP_constu || expr[0].atom == DW_OP_const1u ||
	     expr[0].atom == DW_OP_const2u)) {
		q->value = expr[0].number;
		q->is_tls = true;
		return true;
	}
	return false;
}

bool cprof_dwarf_variable(struct cprof_core *core, const struct cprof_module *m,
			  const char *cu_suffix, const char *name,
			  uint64_t *ret, bool *is_tls)
{
	uint64_t bias;
	Dwarf *dw = cprof_core_module_dwarf(core, m, &bias);
	if (!dw)
		return false;
	struct var_query q = { name, bias, 0, false };
	if (!each_top_die(core, dw, cu_suffix, name, match_variable, &q))
		return false;
	*ret = q.value;
	*is_tls = q.is_tls;
	return true;
}

bool cprof_dwarf_variable_address(struct cprof_core *core, const struct cprof_module *m,
				  uint64_t die_offset, uint64_t *ret)
{
	uint64_t bias;
	Dwarf *dw = cprof_core_module_dwarf(core, m, &bias);
	Dwarf_Die die;
	Dwarf_Attribute loc;
	Dwarf_Op *expr;
	size_t len;
	Dwarf_Block blk;
	if (!dw || !dwarf_offdie(dw, die_offset, &die) || !dwarf_attr(&die, DW_AT_location, &loc))
		return false;
	if (dwarf_getlocation(&loc, &expr, &len) == 0) {
		if (len != 1 || expr[0].atom != DW_OP_addr)
			return false;
		*ret = expr[0].number + bias;
		return true;
	}
	if (dwarf_formblock(&loc, &blk) != 0 || blk.length != 9 || blk.data[0] != DW_OP_addr)
		return false;
	memcpy(ret, blk.data + 1, 8);
	*ret += bias;
	return true;
}

struct const_query {
	const char *name;
	int64_t value;
};

static bool match_constant(Dwarf_Die *die, void *arg)
{
	struct const_query *q = arg;
	if (dwarf_tag(die) != DW_TAG_constant)
		return false;
	const char *name = dwarf_diename(die);
	if (!name || strcmp(name, q->name))
		return false;
	Dwarf_Attribute a;
	Dwarf_Sword sv;
	Dwarf_Word uv;
	if (!dwarf_attr(die, DW_AT_const_value, &a))
		return false;
	if (dwarf_whatform(&a) == DW_FORM_sdata && dwarf_formsdata(&a, &sv) == 0) {
		q->value = sv;
		return true;
	}
	if (dwarf_formudata(&a, &uv) == 0) {
		q->value = (int64_t)uv;
		return true;
	}
	return false;
}

bool cprof_dwarf_constant(struct cprof_core *core, const struct cprof_module *m,
			  const char *name, int64_t *ret)
{
	uint64_t bias;
	Dwarf *dw = cprof_core_module_dwarf(core, m, &bias);
	if (!dw)
		return false;
	struct const_query q = { name, 0 };
	if (!each_top_die(core, dw, NULL, name, match_constant, &q))
		return false;
	*ret = q.value;
	return true;
}

struct type_query {
	const char *name;
	uint64_t off;
};

static bool match_type(Dwarf_Die *die, void *arg)
{
	struct type_query *q = arg;
	int tag = dwarf_tag(die);
	const char *name = dwarf_diename(die);
	if ((tag != DW_TAG_pointer_type && tag != DW_TAG_structure_type &&
	     tag != DW_TAG_array_type && tag != DW_TAG_base_type && tag != DW_TAG_typedef) ||
	    !name || strcmp(name, q->name))
		return false;
	q->off = dwarf_dieoffset(die);
	return true;
}

bool cprof_dwarf_type(struct cprof_core *core, const struct cprof_module *m,
		      const char *name, uint64_t *ret)
{
	uint64_t bias;
	Dwarf *dw = cprof_core_module_dwarf(core, m, &bias);
	struct type_query q = { name, 0 };
	if (!dw || !each_top_die(core, dw, NULL, name, match_type, &q))
		return false;
	*ret = q.off;
	return true;
}
