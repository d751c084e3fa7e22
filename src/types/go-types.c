/*
 * go-types.c - Go objects typed by what the runtime's own words say (see
 * types-internal.h): a malloc header's or a large span's type descriptor,
 * an interface's itab or type word, a channel's element type, a swiss map's
 * directory length, a closure's code pointer.
 *
 * Data structures:
 *   - the Go module's type DIEs by the descriptor each names
 *     (DW_AT_go_runtime_type), sorted, built on first use;
 *   - closures' types by code pointer, and Go types by descriptor (value
 *     caches).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "types-internal.h"

/*
 * A swiss map's slots (Go 1.24 and later: the struct the linker names
 * map<K,V>).  Its dirPtr, typed **table<K,V>, points to a directory of
 * tables, except in a small map (dirLen 0), where it points to the map's
 * one group: the type that table<K,V>.groups.data points to.
 */
bool types_map_dir_slot(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *map,
			uint64_t base, const char *prefix, struct slot_list *out)
{
	uint64_t dir, len, off;
	Dwarf_Die dir_type, tab_ptr, tab, groups, data, group;
	if (!types_find_member(map, "dirPtr", &dir, &dir_type) ||
	    !types_find_member(map, "dirLen", &len, NULL) ||
	    !types_deref(&dir_type, &tab_ptr) || !types_deref(&tab_ptr, &tab) ||
	    !types_find_member(&tab, "groups", &off, &groups) || !types_strip(&groups) ||
	    !types_find_member(&groups, "data", &off, &data) || !types_deref(&data, &group))
		return false;
	uint32_t dir_target = types_intern_die(t, dbg, &tab_ptr);
	uint32_t group_target = types_intern_die(t, dbg, &group);
	if (dir_target == NONE || group_target == NONE || base + dir > UINT32_MAX)
		return false;
	char name[200];
	snprintf(name, sizeof(name), "%s%sdirPtr", prefix, prefix[0] ? "." : "");
	out->s[out->n++] = (struct cprof_type_slot){
		.offset = (uint32_t)(base + dir), .target = dir_target, .name = strdup(name),
		.kind = CPROF_SLOT_MAP_DIR, .aux = (int32_t)(len - dir), .alt = group_target,
		.many = true };
	return true;
}

/* A closure's slots: the captured variables of its function (sub), at the
 * offsets Go's DWARF gives them. */
/*
 * A method value's closure (PKG.(*T).M-fm, made by the compiler: its
 * function's DWARF lists no captured variable) is the code pointer, then the
 * receiver.  The receiver's type *T, found by its name, in *ret.  Only
 * pointer receivers: a value receiver is copied in, at a size the name does
 * not say.
 */
static bool method_value_receiver(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *sub,
				  Dwarf_Die *ret)
{
	const char *fn = dwarf_diename(sub), *open, *close;
	size_t n = fn ? strlen(fn) : 0;
	if (n < 4 || strcmp(fn + n - 3, "-fm") || !(open = strstr(fn, ".(*")) ||
	    !(close = strchr(open, ')')) || close[1] != '.')
		return false;
	char name[512];
	snprintf(name, sizeof(name), "*%.*s.%.*s", (int)(open - fn), fn,
		 (int)(close - open - 3), open + 3);
	struct cprof_core *core = t->priv->core;
	for (size_t i = 0; i < core->n_modules; i++) {
		uint64_t bias, off;
		if (cprof_core_module_dwarf(core, &core->modules[i], &bias) == dbg)
			return cprof_dwarf_type(core, &core->modules[i], name, &off) &&
			       dwarf_offdie(dbg, off, ret);
	}
	return false;
}

void types_closure_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *sub,
			 struct slot_list *out)
{
	Dwarf_Die v;
	if (method_value_receiver(t, dbg, sub, &v)) {
		types_collect_slots(t, dbg, &v, 8, 1, "receiver", out);
		return;
	}
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
		types_collect_slots(t, dbg, &type, off, 1, vn ? vn : "?", out);
	} while (out->n < MAX_SLOTS && dwarf_siblingof(&v, &v) == 0);
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

/* The type id of the runtime type descriptor at typ: its DWARF type when
 * the module names it, else its runtime name. */
static uint32_t descriptor_type(struct cprof_types *t, uint64_t typ)
{
	struct cprof_types_private *p = t->priv;
	if (!p->rt_dies_done)
		index_runtime_types(t);
	Dwarf_Die die;
	struct rt_die key = { typ - p->go->types, 0 };
	const struct rt_die *hit = p->n_rt_dies ? bsearch(&key, p->rt_dies, p->n_rt_dies,
							  sizeof(key), rt_die_cmp) : NULL;
	if (hit && dwarf_offdie(p->rt_dbg, hit->die, &die))
		return types_intern_die(t, p->rt_dbg, &die);
	char name[256];
	if (!cprof_go_type_name(p->core, p->go, typ, name, sizeof(name)))
		return NONE;
	/* Not every type names its descriptor (pointer types often do not):
	   its name finds those. */
	uint64_t off;
	if (cprof_dwarf_type(p->core, p->go->module, name, &off) &&
	    dwarf_offdie(p->rt_dbg, off, &die))
		return types_intern_die(t, p->rt_dbg, &die);
	return types_intern_runtime(t, name, cprof_go_type_size(p->core, p->go, typ));
}

/* descriptor_type, cached by descriptor: every interface value and header
 * object of a type asks again. */
static uint32_t runtime_type(struct cprof_types *t, uint64_t typ)
{
	struct value_cache *c = &t->priv->descriptors;
	uint32_t id;
	if (types_cache_find(c, typ, &id))
		return id;
	return types_cache_put(c, typ, descriptor_type(t, typ));
}

bool types_read_word(struct cprof_core *core, uint64_t addr, uint64_t *w)
{
	return cprof_core_try_read(core, addr, w, 8);
}

/* The type of what an interface's data word points to (the object at dst);
 * word0 is at addr. */
uint32_t types_iface_target(struct cprof_types *t, uint64_t addr, bool eface, uint64_t dst)
{
	struct cprof_types_private *p = t->priv;
	uint64_t w;
	bool func;
	if (!p->go || !types_read_word(p->core, addr, &w))
		return NONE;
	uint64_t typ = cprof_go_iface_target(p->core, p->go, w, eface, &func);
	/* a func value in an interface (time.AfterFunc's f, an any holding a
	   method value): its data word is the closure */
	if (func)
		return types_closure(t, dst);
	return typ ? runtime_type(t, typ) : NONE;
}

/* The element type of a channel whose elemtype word is at addr. */
uint32_t types_chan_elem(struct cprof_types *t, uint64_t addr)
{
	struct cprof_types_private *p = t->priv;
	uint64_t typ;
	if (!p->go || !types_read_word(p->core, addr, &typ))
		return NONE;
	return typ ? runtime_type(t, typ) : NONE;
}

/*
 * The type of the closure at addr: its first word is its function's entry,
 * and Go's DWARF (1.23 and later) gives that function's captured variables
 * their offsets in the closure (DW_AT_go_closure_offset).  Before 1.23 the
 * closure is named by its function, its variables untyped.  A method value's
 * (PKG.(*T).M-fm) holds its receiver after the code pointer, on every
 * version.  Cached by the entry.
 */
uint32_t types_closure(struct cprof_types *t, uint64_t addr)
{
	struct cprof_types_private *p = t->priv;
	struct cprof_core *core = p->core;
	uint64_t pc, bias;
	uint32_t id;
	if (!types_read_word(core, addr, &pc))
		return NONE;
	if (types_cache_find(&p->closures, pc, &id))
		return id;
	const struct cprof_module *m = cprof_core_module(core, pc);
	Dwarf *dbg = m ? cprof_core_module_dwarf(core, m, &bias) : NULL;
	Dwarf_Die scopes[MAX_SCOPES];
	Dwarf_Addr entry;
	if (!dbg)
		return types_cache_put(&p->closures, pc, NONE);
	int n = types_scopes_at(t, core, m, dbg, pc - bias, scopes);
	/* The outermost scope is the function; a closure points at its entry. */
	if (n < 1 || dwarf_tag(&scopes[n - 1]) != DW_TAG_subprogram ||
	    dwarf_lowpc(&scopes[n - 1], &entry) != 0 || entry != pc - bias ||
	    !types_is_go(&scopes[n - 1]))
		return types_cache_put(&p->closures, pc, NONE);
	Dwarf_Die *sub = &scopes[n - 1], v;
	struct key k = { (uintptr_t)dbg, dwarf_dieoffset(sub), 0, 0 };
	id = types_lookup(t, &k);
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
		Dwarf_Die recv;
		if (!size && method_value_receiver(t, dbg, sub, &recv))
			size = 16;         /* the code pointer and *T */
		char name[300];
		const char *fn = dwarf_diename(sub);
		snprintf(name, sizeof(name), "closure %s", fn ? fn : "?");
		id = types_add(t, &k, name, (size + 7) & ~7ull);
		if (id != NONE) {
			t->types[id].go = true;
			t->types[id].one = true;
		}
	}
	return types_cache_put(&p->closures, pc, id);
}

/* Types the objects the Go runtime types (a malloc header, a large span's
 * type).  With dwarf_only, only those whose type DWARF has: a type known by
 * its runtime name alone has no slots to follow, and a typed pointer may yet
 * give the object its DWARF type (the runtime names a map's buckets
 * "map.bucket[K]V", which DWARF calls bucket<K,V> without naming its
 * descriptor). */
void types_runtime_objects(struct cprof_types *t, const struct cprof_go_runtime *go,
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
			types_assign(t, objs, o, type, CPROF_TYPE_RUNTIME, true, 0, q);
	}
}

void types_go_deinit(struct cprof_types_private *p)
{
	free(p->rt_dies);
	types_cache_deinit(&p->closures);
	types_cache_deinit(&p->descriptors);
}
