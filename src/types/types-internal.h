/*
 * types-internal.h - what the files of src/types/ share: the type table's
 * private state and the functions each file offers the others.
 *
 *   types.c       the type table, the slots of a DWARF type, C++ vtables,
 *                 assignment and breadth-first propagation over the graph;
 *   root-slots.c  what a root slot points to: a module's variables (static
 *                 and TLS), a stack frame's or goroutine frame's locals;
 *   layout.c      the guesses: objects no typed pointer reaches, typed by
 *                 their layout among the struct types of the module that
 *                 points to them;
 *   go-types.c    what only the Go runtime's words say: type descriptors
 *                 (malloc headers, interfaces, channels), a map's directory,
 *                 closures.
 */
#ifndef CPROF_TYPES_INTERNAL_H
#define CPROF_TYPES_INTERNAL_H

#include <elfutils/libdw.h>
#include <stddef.h>

#include "cprof/types.h"

/* Go's DWARF attributes: a type DIE's runtime descriptor (its offset in the
 * module's types section); a closure function's captured variable's offset
 * in the closure (Go 1.23 and later). */
enum { DW_AT_GO_RUNTIME_TYPE = 0x2904, DW_AT_GO_CLOSURE_OFFSET = 0x2907 };

enum { MAX_SCOPES = 32 };

enum { MAX_SLOTS = 1024, MAX_DEPTH = 8, MAX_ARRAY_EXPAND = 256, SLACK = 16 };
static const uint32_t NONE = UINT32_MAX;  /* no type */
/* key.count of "T at +off": an object a typed pointer enters at off, T
 * there and the rest unknown (key.elem is T + 1, key.off the offset) */
static const uint32_t INSIDE = UINT32_MAX;


/* A type's identity: a DWARF DIE, or a name (vtable class, array). */
struct key {
	uintptr_t dbg;             /* Dwarf *, or 0 for named types */
	uint64_t off;              /* DIE offset; INSIDE: the offset of T */
	uint32_t elem, count;      /* arrays: element type + 1 and length; or INSIDE */
};

/* A typed pointer into the middle of an untyped object (the Go timer heap's
 * *runtime.timer, 16 bytes into a runtime.timeTimer): typed "T at +off"
 * once every exact type is in, and followed from there. */
struct inside {
	uint32_t object, type;
	uint64_t off;
};

/* variable, cu_range and vtable start with their address, unit_funcs with
 * its unit's offset: types_count_le searches arrays of them. */
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

/* A unit's top-level functions' address ranges (a function with
 * DW_AT_ranges has several), sorted by lo; max_hi[i] is the largest hi of the
 * first i + 1, so a search stops as soon as no earlier range can hold a pc.
 * Built on the unit's first look-up: a Go unit is a whole package, thousands
 * of functions, and one look-up per frame slot went through all of them. */
struct unit_funcs {
	Dwarf_Off cu;
	struct cu_range *r;
	uint64_t *max_hi;
	size_t n;
};

struct module_vars {
	bool done;
	struct variable *vars, *tls;
	size_t n_vars, n_tls;
	bool cus_done;
	struct cu_range *cus;      /* sorted by lo */
	size_t n_cus;
	struct unit_funcs *units;  /* sorted by cu */
	size_t n_units, cap_units;
};

/* An open-addressed map from a word's value (a closure's code pointer, a Go
 * type descriptor) to the type id it gives, NONE included; it doubles to stay
 * at most half full.  Value 0 marks a free entry. */
struct value_cache {
	uint64_t *value;
	uint32_t *type;
	size_t cap, used;
};

/* A C++ vtable: a `_ZTV` symbol's extent and, once an object points into
 * it, its class. */
struct vtable {
	uint64_t lo, hi;
	const char *sym;           /* mangled; lives as long as the core */
	uint32_t type;             /* valid when named */
	bool named;
};

_Static_assert(offsetof(struct variable, addr) == 0 && offsetof(struct cu_range, lo) == 0 &&
	       offsetof(struct vtable, lo) == 0 && offsetof(struct unit_funcs, cu) == 0,
	       "types_count_le's key comes first");

struct cprof_types_private {
	struct key *keys;          /* parallel to types */
	size_t cap;
	/* hash: key -> type id */
	uint32_t *slots;
	size_t n_slots;
	struct module_vars *mods;
	size_t n_mods;
	struct vtable *vtables;    /* every module's, sorted, disjoint */
	size_t n_vtables;
	/* RTTI, for vtables no symbol names (a stripped executable): where
	   the vtables of the C++ ABI's type_info classes point their objects
	   (libstdc++'s, exported), and each vtable pointer seen -> its class */
	uint64_t typeinfo_vptr[8];
	size_t n_typeinfo_vptr;
	struct value_cache rtti;
	/* frame slots: (pc, slot - CFA) -> what it points to; thousands of
	   goroutines park at the same pcs */
	struct frame_key { uint64_t pc; int64_t off; } *fr_keys;
	struct cprof_type_slot *fr_slots;
	size_t fr_cap, fr_used;
	struct value_cache closures;       /* a closure's code pointer -> its type */
	struct value_cache descriptors;    /* a Go type descriptor -> its type */
	/* Go: the runtime, and its type descriptors' DIEs (DW_AT_go_runtime_type:
	   the descriptor's offset in the module's types), sorted by offset */
	struct cprof_core *core;
	const struct cprof_go_runtime *go;
	struct rt_die { uint64_t off; Dwarf_Off die; } *rt_dies;
	size_t n_rt_dies;
	Dwarf *rt_dbg;
	bool rt_dies_done;
	struct inside *inside;     /* found while following, assigned after */
	size_t n_inside, cap_inside;
};

struct slot_list {
	struct cprof_type_slot *s;
	uint32_t n;
};

/* Objects typed but not yet followed (a FIFO). */
struct queue {
	uint32_t *q;
	size_t head, tail;
};

/* types.c */
uint32_t types_lookup(const struct cprof_types *t, const struct key *k);
uint32_t types_add(struct cprof_types *t, const struct key *k, const char *name,
		   uint64_t size);
bool types_strip(Dwarf_Die *die);
bool types_is_go(Dwarf_Die *die);
bool types_deref(Dwarf_Die *die, Dwarf_Die *ret);
bool types_find_member(Dwarf_Die *die, const char *name, uint64_t *off, Dwarf_Die *type);
uint32_t types_intern_die(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die);
uint32_t types_intern_runtime(struct cprof_types *t, const char *name, uint64_t size);
void types_collect_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
			 uint64_t base, int depth, const char *prefix,
			 struct slot_list *out);
struct cprof_type_slot types_pointee_at(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *die,
					uint64_t off, int depth);
void types_ensure_slots(struct cprof_types *t, uint32_t id);
void types_assign(struct cprof_types *t, const struct cprof_object *objs, uint32_t o,
		  uint32_t type, enum cprof_type_source src, bool many, uint64_t count,
		  struct queue *q);
size_t types_count_le(const void *a, size_t n, size_t size, uint64_t v);
bool types_cache_init(struct value_cache *c);
void types_cache_deinit(struct value_cache *c);
bool types_cache_find(const struct value_cache *c, uint64_t v, uint32_t *type);
uint32_t types_cache_put(struct value_cache *c, uint64_t v, uint32_t type);

/* layout.c */
void types_by_layout(struct cprof_types *t, const struct cprof_object *objs,
		     const struct cprof_roots *rs, const struct cprof_graph *g,
		     struct cprof_progress *progress, struct queue *q);

/* root-slots.c */
struct cprof_type_slot types_root_slot(struct cprof_types *t, const struct cprof_roots *rs,
				       const struct cprof_root_ref *ref);
int types_scopes_at(struct cprof_types *t, struct cprof_core *core,
		    const struct cprof_module *m, Dwarf *dbg, uint64_t pc, Dwarf_Die *ret);
void types_root_slots_deinit(struct cprof_types_private *p);

/* go-types.c */
bool types_map_dir_slot(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *map,
			uint64_t base, const char *prefix, struct slot_list *out);
void types_closure_slots(struct cprof_types *t, Dwarf *dbg, Dwarf_Die *sub,
			 struct slot_list *out);
bool types_read_word(struct cprof_core *core, uint64_t addr, uint64_t *w);
uint32_t types_iface_target(struct cprof_types *t, uint64_t addr, bool eface, uint64_t dst);
uint32_t types_chan_elem(struct cprof_types *t, uint64_t addr);
uint32_t types_closure(struct cprof_types *t, uint64_t addr);
void types_runtime_objects(struct cprof_types *t, const struct cprof_go_runtime *go,
			   const struct cprof_object *objs, uint32_t n, bool dwarf_only,
			   struct queue *q);
void types_go_deinit(struct cprof_types_private *p);

#endif
