/*
 * types.h - what each heap object is.
 *
 * In:  the objects, the roots and the graph (cprof/graph.h), the address
 *      space with its DWARF.
 * Out: per object, a type and where it came from:
 *        vtable  the object's first word points into a C++ vtable (`_ZTV...`
 *                symbol): its class, demangled ("Circle");
 *        dwarf   a typed pointer leads to it: a global or TLS variable of a
 *                module with DWARF, or a local of a stack frame at its PC, and
 *                from there through struct fields and arrays ("struct block",
 *                "struct block[12]"); in Go also through what the runtime's
 *                words decide per object (enum cprof_slot_kind): interfaces,
 *                channel buffers, a map's directory or single group, closures
 *                ("closure main.f.func1");
 *        runtime a Go object no DWARF-typed pointer reached, but whose
 *                malloc header (pointerful objects over 512 bytes) or span
 *                (large objects) names its runtime type ("main.Big",
 *                "[40]*main.Node"): its DWARF type when DWARF names the
 *                descriptor (then followed like a dwarf one), else its name;
 *        layout  a guess: no typed pointer reaches it (a leaked object, say),
 *                but its size and words fit exactly one struct type that DWARF
 *                gave other objects, of the module whose memory points to it
 *                (the executable's when no root reaches it): every pointer
 *                member NULL or pointing at the start of an object, at least
 *                one not NULL, and no other word pointing into the heap.  A
 *                guess is never followed;
 *        unknown no evidence (size only).
 *      Types are interned: an object stores a type id; the table names them.
 *
 * Propagation is breadth-first from the roots, so an object gets the type of
 * its nearest typed referrer; the first type assigned wins.  A struct ending
 * in a flexible array member is never an array.  A pointer into
 * the middle of an object says nothing about its type.  Unions are ambiguous
 * and contribute no pointers.  void * and function pointers carry no type.
 */
#ifndef CPROF_TYPES_H
#define CPROF_TYPES_H

#include <stdint.h>

#include "cprof/core.h"
#include "cprof/goruntime.h"
#include "cprof/graph.h"
#include "cprof/heap.h"
#include "cprof/progress.h"
#include "cprof/roots.h"

enum cprof_type_source {
	CPROF_TYPE_UNKNOWN = 0,
	CPROF_TYPE_DWARF = 1,
	CPROF_TYPE_VTABLE = 2,
	CPROF_TYPE_LAYOUT = 3,     /* no typed pointer reaches it: its size and
				      pointer words match one struct typed
				      elsewhere (leaked objects, mostly) */
	CPROF_TYPE_RUNTIME = 4,    /* a Go object's type from the runtime: its
				      malloc header or its span's largeType */
};
const char *cprof_type_source_name(enum cprof_type_source s);

/* How a slot's pointee type is known.  Go's runtime data decides some of
 * them per object (types.c reads the word the kind names). */
enum cprof_slot_kind {
	CPROF_SLOT_STATIC = 0,     /* target */
	CPROF_SLOT_IFACE,          /* an iface's data word: its itab (the word
				      before) names the type */
	CPROF_SLOT_EFACE,          /* an eface's data word: its type word */
	CPROF_SLOT_CHAN,           /* a channel's buffer: an array of the type
				      its elemtype word (at slot + aux) names */
	CPROF_SLOT_MAP_DIR,        /* a swiss map's dirPtr: a directory of
				      tables (target) or, when dirLen (at slot +
				      aux) is 0, a small map's one group (alt) */
	CPROF_SLOT_CLOSURE,        /* a func value: the closure whose code
				      pointer (its first word) names the
				      function, and so its captured variables */
};

struct cprof_type_slot {
	uint32_t offset;
	uint32_t target;           /* type id of the pointee (static kinds) */
	char *name;                /* the member's path: "next", "hdr.owner", "items[3]" */
	uint8_t kind;              /* enum cprof_slot_kind */
	int32_t aux;               /* CHAN, MAP_DIR: where the word deciding the
				      type is, from the slot */
	uint32_t alt;              /* MAP_DIR: the group type */
	bool many;                 /* Go: the storage of a slice, string, map or
				      channel: an array of targets (types.c:
				      types_assign) */
	int32_t count_at;          /* many: where the array's length is, from the
				      slot (a slice's cap, a string's len); 0
				      when unknown: as many as fit */
};

struct cprof_type {
	char *name;                /* "struct block", "Circle", "char" */
	uint64_t size;             /* 0 when unknown (vtable classes) */
	struct cprof_type_slot *slots;     /* typed pointers inside one element */
	uint32_t n_slots;
	bool slots_done;
	uint32_t element, count;   /* arrays "T[n]": T's id and n; else UINT32_MAX, 0 */
	uint32_t inside;           /* "T at +off": T's id, else UINT32_MAX */
	uint64_t inside_off;       /* and off: T's slots, shifted, are its own */
	bool go;                   /* a Go type: named in Go's syntax ("[n]T") */
	bool one;                  /* never an array of it (a closure) */
};

struct cprof_types {
	struct cprof_type *types;
	size_t n_types;
	uint32_t *object_type;     /* per object: type id or UINT32_MAX */
	uint32_t *object_count;    /* per object: array length (1: a single one) */
	uint8_t *object_source;    /* per object: enum cprof_type_source */
	uint64_t typed, typed_bytes;       /* objects typed, and their bytes */
	uint64_t guessed;          /* of them, typed by layout (a guess) */
	double t_types;
	struct cprof_types_private *priv;
};

struct cprof_error *cprof_types_compute(struct cprof_core *core,
					const struct cprof_object *objs,
					const struct cprof_roots *roots,
					const struct cprof_graph *g,
					struct cprof_progress *progress,
					struct cprof_types *ret);
void cprof_types_deinit(struct cprof_types *t);

#endif
