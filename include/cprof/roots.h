/*
 * roots.h - what keeps heap memory alive from outside the heap.
 *
 * In:  the address space (cprof/core.h) and the heap walk (cprof/heap.h:
 *      heap regions, and the allocator metadata to leave out).
 * Out: a list of roots, each a range of words to scan for pointers and a name
 *      a user understands:
 *        registers  each thread's general and vector registers
 *                   ("thread 1234 registers"; a slot is one register), unless
 *                   an allocator says otherwise (thread_registers);
 *        stack      each thread's stack, from SP minus the 128-byte red zone to
 *                   the top of its mapping ("thread 1234 stack");
 *        tls        each thread's static TLS and thread control block, below
 *                   and above fs_base ("thread 1234 tls"); dynamic TLS blocks
 *                   are heap chunks reached from the TCB's DTV;
 *        globals    the writable segments (.data, .bss, GOT) of each module
 *                   ("libfoo.so .data/.bss"), minus allocator metadata
 *                   (glibc's main_arena and mp_);
 *        mapping    anonymous writable memory that belongs to no walked heap,
 *                   no stack and no module: an unknown allocator's memory keeps
 *                   its targets alive rather than inventing leaks;
 *        runtime    an allocator's own roots (struct cprof_heap_provider's
 *                   roots operation), named in its words: in a Go process
 *                   each goroutine's stack from its SP to its top
 *                   ("goroutine 18"), scanned by the runtime's stack maps,
 *                   and what the collector scans of a span special (a
 *                   finalizer, a cleanup, a weak handle); the allocator
 *                   places them in the root hierarchy and names their slots.
 *      An allocator may also add masked GLOBALS roots (the Go module's .data
 *      and .bss by the runtime's pointer masks, leaving the module roots the
 *      rest), claim memory that is no thread's stack or TLS (Go's heap
 *      arenas), decide which threads' registers are roots (Go: the general
 *      ones of the threads running a goroutine) and, by declaring
 *      CPROF_PROVIDER_OWN_ROOTS, that anonymous memory is no root (the Go
 *      collector does not scan it, and cgo forbids C memory to hold Go
 *      pointers).
 *      Free chunks and the allocator's own structures (arena headers, tcache
 *      structs) are never roots: scanning them would make freed memory look
 *      reachable.
 *
 * Slot names (`cprof_root_slot_name`) say where a pointer sits: a register
 * name, "thread TID frame N function (file:line)" for a stack slot,
 * "module!symbol+off" for a global ("module!var.field[3]" in a static object
 * a variable points to), "thread TID tls exe!var" for a TLS variable of the
 * executable.
 */
#ifndef CPROF_ROOTS_H
#define CPROF_ROOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/heap.h"

enum cprof_root_kind {
	CPROF_ROOT_REGISTERS,
	CPROF_ROOT_STACK,
	CPROF_ROOT_TLS,
	CPROF_ROOT_GLOBALS,
	CPROF_ROOT_MAPPING,
	CPROF_ROOT_RUNTIME,        /* an allocator's own root: see owner */
};
const char *cprof_root_kind_name(enum cprof_root_kind k);

struct cprof_root {
	enum cprof_root_kind kind;
	int thread;                /* index into core->threads, or -1 */
	int module;                /* index into core->modules, or -1 */
	uint64_t start, end;       /* the memory scanned; 0, 0 for registers */
	int owner;                 /* RUNTIME: the allocator that added it (index
				      into the walk's allocators), else -1 */
	const char *owner_kind;    /* RUNTIME: what it calls it ("goroutine") */
	uint64_t key;              /* RUNTIME: its own number for it */
	const uint8_t *mask;       /* when set, only the words whose bit is set
				      (1 bit per word from start) hold pointers */
	bool vectors;              /* registers: the vector registers too */
	char name[160];
};

/* The kind a user reads: "stack", or the allocator's word ("goroutine"). */
const char *cprof_root_kind_label(const struct cprof_root *r);

/*
 * A static object a global variable points to: one the compiler laid out in a
 * module's data without a symbol of its own (Go's `var x = &T{...}` and
 * `var s = []T{...}`).  Its slots are named by the variable and the path to
 * them ("app!main.store.Blocks", "app!main.table[1].Items"), its root node is
 * the variable's ("app!main.store"), and it is typed as what the variable
 * points to.
 */
struct cprof_static_object {
	uint64_t start, end;
	int module;                /* index into core->modules */
	char var[128];             /* the variable: "main.store" */
	char name[192];            /* the path to the object: "main.store",
				      "main.cfg.Limits", "main.table[1]" */
	uint64_t type;             /* its type's DIE offset in the module's DWARF
				      (an array's element type), 0 when unknown */
	uint64_t elem_size;        /* an array's element size; 0: one object */
	char **paths;              /* per word from start: the path below name
				      (".Blocks", "[3].Items"), or NULL */
	size_t n_paths;
};

struct cprof_roots {
	struct cprof_root *roots;
	size_t n, cap;
	struct cprof_static_object *statics;   /* sorted by start, disjoint */
	size_t n_statics;
	/* Backtraces, for naming stack slots: per thread, frames' SPs. */
	struct cprof_frame **frames;
	size_t *n_frames;
	size_t n_threads;
	const struct cprof_heap_walk *walk;  /* the allocators of RUNTIME roots */
	uint8_t **masks;           /* owned copies of the roots' masks */
	size_t n_masks;
};

/* Finds every root; ret is zero-initialized by the caller. */
struct cprof_error *cprof_roots_find(struct cprof_core *core,
				     const struct cprof_heap_walk *walk,
				     struct cprof_roots *ret);
void cprof_roots_deinit(struct cprof_roots *r);

/*
 * Which register 16-byte lane `lane` of t->vec is part of: *kind "xmm", "ymm"
 * or "zmm", *reg its number, *word the index in that whole register of the
 * lane's first 8 bytes (xmm7's second lane does not exist: lane 7 is xmm7,
 * words 0-1; ymm3's upper half is words 2-3; zmm20's lanes words 0-7).
 */
void cprof_vector_lane(const struct cprof_thread *t, int lane, const char **kind,
		       int *reg, int *word);

/*
 * The words of a register root: general registers (except orig_rax and the
 * segment selectors), then, when vectors, every 8 bytes of the vector
 * registers (unless an allocator's thread_registers says general ones only:
 * Go keeps no pointer there across a safe point).  Returns
 * the count; names[i] says which register word i is ("rbx", "xmm3[1]",
 * "ymm3[2]": see cprof_vector_lane).
 */
size_t cprof_root_register_words(const struct cprof_thread *t, bool vectors,
				 uint64_t *words, char (*names)[16], size_t max);
enum { CPROF_MAX_REGISTER_WORDS = CPROF_NREGS + 2 * CPROF_MAX_VEC_LANES };

/* The frame (index into rs->frames[r->thread]) holding a slot of a thread's
 * stack root r. */
size_t cprof_root_slot_frame(const struct cprof_roots *rs,
			     const struct cprof_root *r, uint64_t slot);

/* The code whose frame holds slot of a RUNTIME root r (a goroutine's
 * stack): its pc (for a look-up: a return address minus one) and the
 * frame's CFA.  False when r's allocator does not say. */
bool cprof_root_slot_code(const struct cprof_roots *rs, const struct cprof_root *r,
			  uint64_t slot, uint64_t *pc, uint64_t *cfa);

/* The static object holding addr, or NULL. */
const struct cprof_static_object *cprof_roots_static(const struct cprof_roots *rs,
						     uint64_t addr);

/* The name of the slot at `slot` (an address, or a register word index) of
 * root r, into buf. */
void cprof_root_slot_name(struct cprof_core *core, const struct cprof_roots *rs,
			  const struct cprof_root *r, uint64_t slot, char *buf,
			  size_t size);

/* ---- for providers' roots operations (struct cprof_heap_provider) ---- */

struct cprof_root_claims;
/* Adds a root. */
struct cprof_error *cprof_roots_add(struct cprof_roots *rs, const struct cprof_root *r);
/* The roots take the static objects s[0..n) (their paths too: malloc'd);
 * they must lie in GLOBALS roots and not overlap. */
struct cprof_error *cprof_roots_add_statics(struct cprof_roots *rs,
					    struct cprof_static_object *s, size_t n);
/* The roots keep mask (malloc'd: a root's pointer mask) and free it. */
struct cprof_error *cprof_roots_keep_mask(struct cprof_roots *rs, uint8_t *mask);
/* [start, end) is the provider's: no thread's stack or TLS lies there. */
struct cprof_error *cprof_root_claim_memory(struct cprof_root_claims *c, uint64_t start,
					    uint64_t end);
/* [start, end) of a module's data is scanned by the provider's own roots:
 * the module's roots leave it out. */
struct cprof_error *cprof_root_claim_data(struct cprof_root_claims *c, uint64_t start,
					  uint64_t end);

#endif
