/*
 * goruntime.h - the Go runtime of a process, read from its core.
 *
 * In:  an opened core (cprof/core.h) whose executable has the Go runtime
 *      (the symbol runtime.mheap_) and its DWARF.
 * Out: what the heap walker, the root finder, the types and the goroutine view
 *      share about the runtime:
 *        - its version (runtime.buildVersion) and the layouts it needs, every
 *          offset taken from DWARF (struct members; the DW_TAG_constant
 *          values the Go compiler emits for package constants);
 *        - the goroutines (runtime.allgs): id, status and wait reason (by the
 *          runtime's own names), stack bounds, where their stack is in use
 *          from, their frames (frame pointers: the Go compiler keeps them on
 *          amd64), who created them, and the thread running them;
 *        - the module data: where .data/.bss are and their pointer masks
 *          (runtime.firstmoduledata gcdatamask/gcbssmask), and the type
 *          descriptors' base, for runtime type names;
 *        - the runtime's accounting (gcController, mheap_, memstats), for a
 *          summary in the style of runtime.MemStats.
 *
 * This is the one place that knows the runtime's structures besides the Go
 * provider (src/heap/go.c, go-roots.c: the heap walk, the roots, the
 * summary, the goroutine and site tables); a new Go version touches these.
 */
#ifndef CPROF_GORUNTIME_H
#define CPROF_GORUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/error.h"
#include "cprof/heap.h"
#include "cprof/roots.h"

/* One call on a goroutine's stack as its source says: the calls the
 * compiler inlined into a physical frame come before the frame's own
 * function (the runtime's inline tree, pclntab's FUNCDATA_InlTree). */
struct cprof_go_call {
	const char *function;      /* "main.worker"; strings live as long as the core */
	const char *file;          /* "?" when the tables have no position */
	int line;
	bool inlined;              /* inlined into the next call of its frame */
};

/* A physical frame: a stack frame of its own. */
struct cprof_go_frame {
	uint64_t pc;               /* a return address, unless exact */
	uint64_t sp;               /* the frame's lowest address */
	bool exact;                /* pc is where the code stopped (frame 0 of a
				      running goroutine, a frame interrupted by a
				      signal or preempted), not a return address */
	uint32_t depth;            /* its first call's depth among all calls */
	const struct cprof_go_call *calls;   /* innermost first; the last is the
						frame's own function (never NULL) */
	uint32_t n_calls;
};

struct cprof_goroutine {
	uint64_t g;                /* the runtime.g's address */
	uint64_t goid;
	uint32_t status;           /* without _Gscan */
	const char *status_name;   /* "waiting", "runnable", "running", ... */
	const char *wait_reason;   /* "chan receive"; "" when not waiting */
	uint64_t stack_lo, stack_hi;
	uint64_t sp;               /* the stack is live from here to stack_hi */
	uint64_t gopc;             /* the go statement that made it (a return address) */
	uint64_t startpc;          /* its function */
	uint64_t parent_goid;      /* 0 when unknown */
	int thread;                /* index into core->threads when running or in a
				      system call, else -1 */
	bool sp_known;             /* false: running on a thread we could not place */
	bool signalled;            /* on the thread the fatal signal was delivered to
				      (the traceback prints it first) */
	bool frames_complete;      /* unwound to the stack's top frame (goexit) */
	struct cprof_go_frame *frames;       /* by the pclntab's pcsp tables, as
						the runtime unwinds */
	size_t n_frames;
	size_t n_calls;            /* calls in all its frames */
	uint32_t group;            /* goroutines with the same status, wait reason
				      and functions on the stack share a group */
};

struct cprof_go_runtime {
	const struct cprof_module *module;
	char version[32];          /* "1.26.8" */
	uint64_t mheap;            /* &runtime.mheap_ */
	/* module data (runtime.firstmoduledata) */
	uint64_t data, edata, bss, ebss, noptrdata, enoptrdata, noptrbss, enoptrbss;
	uint64_t gcdatamask, gcbssmask;    /* bitmaps, 1 bit per word; 0 when absent */
	uint64_t types, etypes;    /* type descriptors (for names) */
	struct cprof_goroutine *goroutines;     /* the dead ones left out */
	size_t n_goroutines;
	/* per thread of the core: 1 when it is an M of runtime.allm (a cgo
	   program's C threads are not), or NULL when the Ms were not read */
	uint8_t *m_threads;
	/* per thread of the core: the SP on its own stack that a signal
	   handler running on the M's signal stack interrupted, or 0 */
	uint64_t *thread_sp;
	size_t n_groups;
	size_t n_dead;             /* dead goroutines (Gdead: kept for reuse, no stack) */
	/* the heap arenas (filled by the heap walker): all Go heap memory,
	   spans, goroutine stacks and free pages */
	struct cprof_range *arenas;
	size_t n_arenas;
	/* objects whose runtime type is known (filled by the heap walker): a
	   malloc header's or a large span's largeType, sorted by address */
	struct cprof_go_typed { uint64_t addr, type; } *typed;
	size_t n_typed, cap_typed;
	/* the memory profiler's records (filled by the heap walker), or NULL */
	struct cprof_go_profile *profile;
	/* MemStats-style figures from the runtime's own counters */
	struct { const char *name; uint64_t value; const char *what; } stats[16];
	size_t n_stats;
	/* goroutine stacks scanned by the runtime's stack maps, and by every
	   word (a frame without maps): set when the roots are found */
	size_t stacks_precise, stacks_conservative;
	struct cprof_go_private *priv;
};

/*
 * Reads the runtime of the core's Go module.  *ret is NULL (and no error)
 * when the process has no Go runtime; an error when it has one that cannot
 * be read (no DWARF: the message says to rebuild without -ldflags=-w).
 * Goroutines that cannot be read are skipped with a warning.
 */
struct cprof_error *cprof_go_runtime_open(struct cprof_core *core,
					  struct cprof_go_runtime **ret);
void cprof_go_runtime_destroy(struct cprof_go_runtime *rt);

/* The Go runtime of a walk (its Go provider's), or NULL: for the readers of
 * Go types. */
const struct cprof_go_runtime *cprof_go_runtime_of(const struct cprof_heap_walk *walk);

/* The name of the runtime type descriptor (*abi.Type) at typ, into buf:
 * "main.Block", "[]uint8", "map.bucket[string]int".  False when unreadable. */
bool cprof_go_type_name(struct cprof_core *core, const struct cprof_go_runtime *rt,
			uint64_t typ, char *buf, size_t size);

/* The functions on g's stack, innermost first, one a line (malloc'd; NULL
 * when out of memory). */
char *cprof_go_stack_functions(struct cprof_core *core, const struct cprof_goroutine *g);
/* The function g runs, as its user names it: the innermost frame of code
 * that is neither the runtime's nor the standard library's, else the
 * function it started with (a server's own `go` helper starts every
 * goroutine in the same closure: what tells them apart is what it calls).
 * Returns the name (strings live as long as the core), "?" when unknown. */
const char *cprof_go_function(struct cprof_core *core, const struct cprof_goroutine *g);

/* An interface value's dynamic type, from its first word (an iface's itab;
 * an eface's type): the runtime type of the object its data word points to
 * (a pointer's element; a boxed value's own type), or 0 when the data word is
 * no pointer to a typed object (a map, a chan, a func, nil, unreadable); *func
 * says whether it is a func value (its data word points to a closure). */
uint64_t cprof_go_iface_target(struct cprof_core *core, const struct cprof_go_runtime *rt,
			       uint64_t word0, bool eface, bool *func);

/* The element size of the runtime type at typ (abi.Type.Size_), or 0. */
uint64_t cprof_go_type_size(struct cprof_core *core, const struct cprof_go_runtime *rt,
			    uint64_t typ);

/* Whether word i of a pointer mask (1 bit per word, LSB first) is set. */
static inline bool cprof_go_mask_bit(const uint8_t *mask, uint64_t i)
{
	return (mask[i / 8] >> (i % 8)) & 1;
}

/* ---- pointer masks of heap objects (src/goruntime/ptrmask.c) ---- */

/* What the runtime's metadata says about an object's pointers. */
enum cprof_go_ptrs {
	CPROF_GO_PTRS_UNKNOWN,     /* no metadata: scan it conservatively */
	CPROF_GO_PTRS_NONE,        /* no pointers (a noscan span, a pointer-free type) */
	CPROF_GO_PTRS_MASK,        /* exactly the words the mask sets */
};

/* Why objects were UNKNOWN, counted per call. */
struct cprof_go_ptrmask_stats {
	uint64_t no_span;          /* no in-use span holds the object */
	uint64_t no_type;          /* header or largeType nil: still being allocated */
	uint64_t gc_program;       /* Go 1.22/1.23 types described by a GC program */
	uint64_t mask_not_built;   /* 1.24+ on-demand mask the GC has not built yet */
	uint64_t bad_type;         /* the type descriptor is unreadable or inconsistent */
};

/* Layouts read once from DWARF plus a cache of the last arena, span and type:
 * calls in address order are cheap. */
struct cprof_go_ptrmask;

/* An error (MISSING_DEBUG_INFO) when the runtime's layouts are not there, e.g.
 * before Go 1.22 (no allocation headers): then scan conservatively. */
struct cprof_error *cprof_go_ptrmask_open(struct cprof_core *core,
					  const struct cprof_go_runtime *rt,
					  struct cprof_go_ptrmask **ret);

/* The pointer words of the heap object [addr, addr + size) as the Go heap
 * walker reports it (after any malloc header).  For MASK, mask (at least
 * (size / 8 + 7) / 8 bytes) gets bit i set when word addr + 8 * i holds a
 * pointer; otherwise mask is left undefined. */
enum cprof_go_ptrs cprof_go_object_pointers(struct cprof_go_ptrmask *p, uint64_t addr,
					    uint64_t size, uint8_t *mask);
const struct cprof_go_ptrmask_stats *cprof_go_ptrmask_stats(const struct cprof_go_ptrmask *p);
void cprof_go_ptrmask_close(struct cprof_go_ptrmask *p);

/* ---- the memory profiler's records (src/goruntime/profile.c) ---- */

/* An object with a profile record (a runtime.specialprofile on its span). */
struct cprof_go_sample {
	uint64_t slot;             /* the object's slot */
	uint64_t object;           /* the object as the heap walk lists it: after
				      its malloc header, when it has one */
	uint32_t site;             /* index into cprof_go_profile.sites */
};

/* A runtime.bucket of the memory profile: one allocation stack. */
struct cprof_go_site {
	uint64_t bucket;           /* the bucket's address */
	uint64_t *pcs;             /* return addresses, innermost first, as the
				      runtime records them */
	size_t n_pcs;
	uint64_t size;             /* the allocation size it recorded (bucket.size) */
};

/* A span special the collector scans as a root (mgcmark.go markrootSpans):
 * a finalizer (its fn, and what its object points to, not the object), a
 * cleanup (its cleanupFn: fn and arg), a weak handle (the handle). */
enum cprof_go_special_kind {
	CPROF_GO_FINALIZER,
	CPROF_GO_CLEANUP,
	CPROF_GO_WEAK_HANDLE,
};

struct cprof_go_special {
	enum cprof_go_special_kind kind;
	uint64_t object, size;     /* the object it is attached to (after any
				      malloc header) and its size */
	uint64_t root, root_len;   /* the record's words the collector scans */
};

struct cprof_go_profile {
	struct cprof_go_sample *samples;   /* sorted by slot */
	size_t n_samples;
	struct cprof_go_site *sites;       /* one per bucket address */
	size_t n_sites;
	uint64_t rate;                     /* runtime.MemProfileRate */
	/* the same walk's root specials (empty for kinds whose layout the
	   DWARF lacks: cleanups before Go 1.24) */
	struct cprof_go_special *specials;
	size_t n_specials;
};

/*
 * Reads the profile records of every in-use span's objects.  A record exists
 * from the sampled allocation until the sweeper frees the object, so objects
 * dead but not yet swept, and those allocated since the last GC, are included
 * (the runtime's pprof "inuse" figures are as of the last completed GC).
 * Unreadable or inconsistent spans, specials and buckets are skipped with a
 * warning; an error when the layouts are not in the DWARF, or out of memory.
 */
struct cprof_error *cprof_go_profile_read(struct cprof_core *core,
					  const struct cprof_go_runtime *rt,
					  struct cprof_go_profile *ret);
void cprof_go_profile_deinit(struct cprof_go_profile *p);

/* ---- file and line from the runtime's pclntab (src/goruntime/pcln.c) ---- */

/* The function, file and line of pc in the Go module, from the runtime's
 * pclntab (runtime.firstmoduledata: funcnametab, cutab, filetab, pctab,
 * pclntable, ftab), for binaries whose DWARF lines libdw cannot read.
 * is_return: pc is a return address (look up pc - 1).  Strings are copied
 * into the caller's buffers (truncated to their size).  func is the physical
 * function, file:line the innermost inlined position (as `go tool
 * addr2line`; cprof_go_pc_calls tells the inlined calls apart).  file is "?"
 * and *line 0 when the tables have no position.  False when pc is in no Go
 * function or the tables are unreadable. */
bool cprof_go_pc_info(struct cprof_core *core, const struct cprof_go_runtime *rt,
		      uint64_t pc, bool is_return, char *func, size_t func_size,
		      char *file, size_t file_size, int *line);

/* The calls at pc, innermost first, as the runtime's traceback and
 * runtime.CallersFrames name them: the calls inlined there (the inline tree,
 * each with its own file:line) and last the physical function, whose line is
 * where it calls the first of them.  is_return: pc is a return address (the
 * call is at pc - 1).  Fills up to max calls (strings interned in the core);
 * returns how many, 0 when pc is in no Go function. */
size_t cprof_go_pc_calls(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 uint64_t pc, bool is_return, struct cprof_go_call *ret, size_t max);

/* runtime.pcvalue: the value at targetpc of the pctab table at off (a
 * _func's pcsp, or one of its pcdata offsets) of the function starting at
 * entry; -1 when off is 0 or the table has no value there. */
int32_t cprof_go_pcvalue(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 uint32_t off, uint64_t entry, uint64_t targetpc);

/* ---- static objects (src/goruntime/statics.c) ---- */

/*
 * The composite literals the compiler laid out in the module's .data and
 * .bss for what package variables point to (`var x = &T{...}`, `var s =
 * []T{...}`, a literal's pointer fields): objects without a symbol of their
 * own, each named by the variable and the path to it, typed by the pointer's
 * target, its words' paths below it (struct cprof_static_object).  Disjoint,
 * in discovery order; *ret is malloc'd (cprof_roots_add_statics takes it
 * over).  An error only when out of memory; none without DWARF.
 */
struct cprof_error *cprof_go_statics(struct cprof_core *core, const struct cprof_go_runtime *rt,
				     struct cprof_static_object **ret, size_t *n_ret);

/* ---- precise goroutine stack scanning (src/goruntime/stackmap.c) ---- */

/*
 * Marks in mask (1 bit per word from g->sp to g->stack_hi, LSB first; the
 * caller zeroes it: (stack_hi - sp) / 8 bits) the words of goroutine g's
 * stack that hold live pointers by the runtime's stack maps, as the GC's
 * scanstack does (runtime/mgcmark.go, stkframe.go getStackMap): per frame the
 * locals (FUNCDATA_LocalsPointerMaps at pcdata PCDATA_StackMapIndex), the
 * arguments and results (FUNCDATA_ArgsPointerMaps), and the stack objects
 * (FUNCDATA_StackObjects: address-taken locals, by their type's pointer
 * mask) that live pointers into the stack reach.  Frames the runtime scans
 * conservatively (asyncPreempt, debugCallV2 and their callers; here also a
 * running goroutine's innermost frame, stopped anywhere) have all their words
 * marked.  False when some frame has no usable map, the frames do not reach
 * the stack's top or the layouts are not in the DWARF: then scan
 * conservatively (mask is undefined).
 */
bool cprof_go_stack_mask(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 const struct cprof_goroutine *g, uint8_t *mask);

#endif
