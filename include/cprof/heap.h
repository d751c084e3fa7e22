/*
 * heap.h - allocator providers: which allocators the process has, which one
 * serves malloc, and every object of the heaps that can be walked.
 *
 * In:  an opened core (cprof/core.h).
 * Out: the allocators found (struct cprof_allocator: name, version, module,
 *      how found, whether malloc resolves to it, whether its heap was walked
 *      and why not), and for each one walked a stream of objects - the blocks
 *      it handed out or holds free, each with its user address (what malloc
 *      returned), its usable size (what malloc_usable_size returns), its
 *      state, the heap it lives in, the free list it sits in (in the
 *      allocator's own words) and allocator flags - plus its figures (arenas,
 *      counts, and its own accounting, e.g. glibc's mallinfo2, as named
 *      statistics).
 *
 * An allocator or runtime is a struct cprof_heap_provider (below): one file
 * in src/heap/ and one row of the table in src/heap/heap.c.  Everything the
 * later stages need to know about an allocator (precise pointer maps, its
 * own roots and where they sit in the root hierarchy, its summary, its own
 * tables) they ask through the provider's operations; nothing else knows an
 * allocator's layout.  A provider with no walk operation still says that its
 * allocator is there, so that no report pretends a heap it did not read is
 * empty.
 *
 * Objects are streamed to a callback in address order within each heap, so a
 * walk holds no per-chunk data of its own: the caller keeps what it needs.
 *
 * Corruption is reported, not fatal: a walker that meets a bad size field, a
 * cycle in a free list or a chunk running past its heap warns (naming the
 * address and the problem), skips to the next sound point and goes on.  A walk
 * always terminates: every loop is bounded by the bytes of the heap it walks.
 */
#ifndef CPROF_HEAP_H
#define CPROF_HEAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/error.h"

enum cprof_object_state {
	CPROF_OBJECT_USED = 0,
	CPROF_OBJECT_FREE = 1,
};

/* flags above the allocator's own bits */
enum {
	CPROF_OBJECT_ALLOCATOR_INTERNAL = 1 << 8,  /* the allocator's own metadata (a tcache) */
	CPROF_OBJECT_COLLECTED = 1 << 9,  /* a garbage collector frees it once
					     unreachable (Go): garbage, not a leak */
};

/* One object, as walkers emit it and the object table stores it: 24 bytes. */
struct cprof_object {
	uint64_t addr;             /* user address */
	uint64_t size;             /* usable size */
	uint32_t heap;             /* index into the walk's heaps */
	uint8_t state;             /* enum cprof_object_state */
	uint8_t free_list;         /* where a free object sits: an index into its
				      provider's free_lists (0: in no list) */
	uint16_t flags;            /* allocator flags (glibc: the size field's low bits) */
};

/* A region objects live in: an arena's heap, the mmapped chunks, a Go span. */
struct cprof_heap {
	const char *allocator;     /* "glibc" */
	char kind[16];             /* "main_arena", "arena", "mmap" */
	uint64_t arena;            /* the arena that owns it (glibc: malloc_state address) */
	uint64_t start, end;       /* [start, end) */
	uint32_t owner;            /* index into the walk's allocators */
};

/* A named figure of the allocator's own accounting, e.g. {"uordblks", N}. */
struct cprof_stat {
	const char *name;
	uint64_t value;
};

struct cprof_arena_summary {
	uint64_t addr;
	char kind[16];             /* "main_arena", "arena" */
	uint64_t system_mem;
	uint64_t n_heaps;
	uint64_t used_count, used_bytes, free_count, free_bytes;
};

/* Whether an allocator's heap is in the walk. */
enum cprof_heap_state {
	CPROF_HEAP_WALKED,         /* its objects are in the walk */
	CPROF_HEAP_UNUSED,         /* present, but never initialized: it has no heap */
	CPROF_HEAP_NOT_WALKED,     /* it has a heap that was not read (no walker, or
				      its metadata was not found): no figure covers it */
};
const char *cprof_heap_state_name(enum cprof_heap_state s);

struct cprof_heap_provider;

/* One allocator found in the process, and what its walk found. */
struct cprof_allocator {
	const struct cprof_heap_provider *provider;
	void *state;               /* the provider's own, freed by its destroy */
	const char *name;          /* "glibc" */
	char version[32];          /* "2.36" */
	const struct cprof_module *module;  /* where its code is, or NULL */
	char found_by[320];        /* how it was found, for `info` */
	bool serves_malloc;        /* malloc resolves to it */
	char malloc_how[96];       /* how that was found ("the executable's GOT") */
	enum cprof_heap_state heap_state;
	char reason[200];          /* why not walked (or unused): "" when walked */
	struct cprof_arena_summary *arenas;
	size_t n_arenas;
	uint64_t used_count, used_bytes, free_count, free_bytes;
	/* Allocator-specific accounting (glibc: mallinfo2's fields, in order). */
	struct cprof_stat stats[16];
	size_t n_stats;
	const char *stats_name;    /* "mallinfo2" */
};

/* The object sink: return false to stop the walk (e.g. out of memory). */
typedef bool cprof_object_fn(const struct cprof_object *obj, void *arg);

/* An address range [start, end). */
struct cprof_range {
	uint64_t start, end;
};

/* Memory an allocator owns, declared before any walk reads heap memory. */
struct cprof_claim {
	uint64_t start, end;
	uint32_t owner;            /* index into the walk's allocators */
};

struct cprof_heap_walk {
	struct cprof_heap *heaps;  /* appended to by walkers */
	size_t n_heaps, cap_heaps;
	/* Allocator metadata outside the heaps (glibc: main_arena, mp_ in
	   libc's .data): never scanned as roots. */
	struct cprof_range *excluded;
	size_t n_excluded;
	/* Every allocator detected, in the order of the provider table. */
	struct cprof_allocator *allocators;
	size_t n_allocators;
	/* What the allocators claimed (sorted by start once all have). */
	struct cprof_claim *claims;
	size_t n_claims;
	uint32_t current;          /* the allocator whose operation runs */
	/* Set by the caller: only the provider of this name is asked (a fuzz
	   target's); NULL: all of them. */
	const char *only;
};

/* Whether bit i of a pointer mask (1 bit per word, LSB first) is set. */
static inline bool cprof_mask_bit(const uint8_t *mask, uint64_t i)
{
	return (mask[i / 8] >> (i % 8)) & 1;
}

/*
 * The index of the first nonzero word of w[i, n), or n (i <= n).  Page maps
 * and radix-tree leaves are arrays of 2^18 words, nearly all zero, read at
 * each walk: 32 words are tested at once (one branch instead of 32).  A fuzz
 * build (clang) leaves this loop out of its comparison tracing and pointer
 * checks, which made it most of the jemalloc and tcmalloc targets' time:
 * which zero words it skips is no coverage worth having; AddressSanitizer
 * still checks every read.
 */
#if defined(__clang__)
__attribute__((no_sanitize("coverage", "pointer-overflow"), noinline))
#endif
static inline size_t cprof_next_nonzero(const uint64_t *w, size_t i, size_t n)
{
	for (; n - i >= 32; i += 32) {
		uint64_t any = 0;
		for (size_t k = 0; k < 32; k++)    /* unrolled by the compiler */
			any |= w[i + k];
		if (any)
			break;
	}
	for (; i < n; i++)
		if (w[i])
			return i;
	return n;
}

/* ---- the provider interface ---- */

/* What an allocator's metadata says about an object's pointers. */
enum cprof_pointers {
	CPROF_POINTERS_UNKNOWN,    /* no metadata: scan it conservatively */
	CPROF_POINTERS_NONE,       /* it holds no pointer */
	CPROF_POINTERS_MASK,       /* exactly the words the mask sets */
};

/* Capabilities a provider declares (flags of struct cprof_heap_provider). */
enum cprof_provider_flags {
	/* A collector frees its unreachable objects (they carry
	   CPROF_OBJECT_COLLECTED): unreachable is garbage, not a leak. */
	CPROF_PROVIDER_COLLECTED = 1 << 0,
	/* Its runtime scans only its own roots, which the provider lists:
	   anonymous memory outside every heap is no root. */
	CPROF_PROVIDER_OWN_ROOTS = 1 << 1,
	/* The C library's own malloc: another allocator found in the same
	   module (a static executable) is the one malloc resolves to. */
	CPROF_PROVIDER_LIBC = 1 << 2,
	/* Its runtime maps no anonymous memory read-only (Go reserves address
	   space with no access and maps what it uses read-write): in a gcore
	   core, which writes no-access mappings readable, read-only anonymous
	   memory of its process had no access. */
	CPROF_PROVIDER_NO_READONLY = 1 << 3,
};

/* Which registers of a thread are roots (thread_registers). */
enum cprof_thread_registers {
	CPROF_REGISTERS_DEFAULT = -1,      /* the provider has no opinion */
	CPROF_REGISTERS_NONE = 0,          /* nor the red zone below its SP */
	CPROF_REGISTERS_GENERAL = 1,
	CPROF_REGISTERS_ALL = 2,           /* general and vector */
};

/* A root node above a provider's root (struct cprof_root of kind RUNTIME),
 * outermost first.  Nodes of one allocator with the same level and key are
 * one node. */
struct cprof_root_level {
	const char *kind;          /* "goroutines", "goroutine", "frame", "special" */
	uint64_t key;
	int thread;                /* index into core->threads, or -1 */
};
enum { CPROF_MAX_ROOT_LEVELS = 4 };

/* A section of the summary in the allocator's own terms: its lines, and the
 * figures they say as named values (what the JSON carries). */
struct cprof_summary_section {
	char title[128];
	struct { char label[16]; char text[320]; } lines[16];
	size_t n_lines;
	struct cprof_stat values[32];
	size_t n_values;
};

/* What the analysis knows that an allocator's summary section may cite. */
struct cprof_summary_facts {
	uint64_t reachable, reachable_bytes;   /* objects a root reaches */
	uint64_t typed, typed_bytes;   /* of the reachable objects, those with a type */
	bool types_computed;
	/* objects of this allocator scanned by its pointer maps, not at all
	   (pointer-free), every word (no metadata) */
	uint64_t objects_precise, objects_noscan, objects_conservative;
};

struct cprof_roots;
struct cprof_root;
struct cprof_root_claims;
struct cprof_store;
struct cprof_retention;

/*
 * An allocator or runtime: one file in src/heap/ and one row of the table in
 * src/heap/heap.c.  Every operation but detect may be NULL: the allocator has
 * nothing to say there.  The pipeline asks in this order:
 *   1. detect, for every provider: present or not, version, how found, the
 *      module its code is in (no heap memory is read yet);
 *   2. (heap.c) which allocator serves malloc (cprof_heap_find_malloc);
 *   3. claim, for every allocator found: the memory it owns
 *      (cprof_heap_claim), so that no other walker reads into it;
 *   4. walk: heaps, objects and the allocator's own figures; an allocator
 *      without walk is reported as not walked;
 *   5. roots (and thread_registers), when the roots are found;
 *   6. pointers_open/object_pointers/pointers_close during the scan;
 *   7. root_levels, root_level_name, slot_name and slot_frame when root
 *      slots are named and placed in the dominator tree;
 *   8. summary when the summary is printed, store when cprof.db is written.
 * self->state is the provider's (set by detect); destroy frees it.
 */
struct cprof_heap_provider {
	const char *name;
	unsigned flags;            /* enum cprof_provider_flags */
	/* The names of its free lists, in its own words: an object's
	   free_list indexes them ([0] is NULL: in no list). */
	const char *const *free_lists;
	size_t n_free_lists;
	/* Fills self (state, module, version, found_by) and *found. */
	struct cprof_error *(*detect)(struct cprof_core *core, struct cprof_allocator *self,
				      bool *found);
	struct cprof_error *(*claim)(struct cprof_core *core, struct cprof_heap_walk *walk,
				     struct cprof_allocator *self);
	/*
	 * Appends its heaps (cprof_heap_add), streams its objects to fn, adds
	 * its figures (cprof_heap_add_summary).  When it cannot walk (its
	 * metadata not found), it sets self->heap_state and self->reason and
	 * returns NULL.  Errors are for what stops the analysis; corruption is
	 * a warning on core->warnings.
	 */
	struct cprof_error *(*walk)(struct cprof_core *core, struct cprof_heap_walk *walk,
				    struct cprof_allocator *self, cprof_object_fn *fn, void *arg);
	void (*destroy)(void *state);

	/* Pointer maps for precise scanning of the objects of its heaps. */
	struct cprof_error *(*pointers_open)(struct cprof_core *core,
					     const struct cprof_allocator *self, void **ret);
	/* mask: at least (size / 8 + 7) / 8 bytes; bit i: word addr + 8 i */
	enum cprof_pointers (*object_pointers)(void *handle, uint64_t addr, uint64_t size,
					       uint8_t *mask);
	void (*pointers_close)(void *handle);

	/* Its own roots (kind RUNTIME, or GLOBALS with a mask), added with
	   cprof_roots_add; memory they cover is claimed in claims. */
	struct cprof_error *(*roots)(struct cprof_core *core, struct cprof_allocator *self,
				     uint32_t owner, struct cprof_roots *rs,
				     struct cprof_root_claims *claims);
	/* Which registers of thread (index into core->threads) are roots. */
	enum cprof_thread_registers (*thread_registers)(const struct cprof_allocator *self,
							int thread);
	/* The SP the thread's own stack was left at when its registers show
	   another stack (a signal handler on a stack of the runtime's): 0 when
	   not known.  Optional. */
	uint64_t (*thread_sp)(const struct cprof_allocator *self, int thread);
	/* The root nodes above slot of its root r: fills levels, returns how many. */
	size_t (*root_levels)(struct cprof_core *core, const struct cprof_allocator *self,
			      const struct cprof_roots *rs, const struct cprof_root *r,
			      uint64_t slot, struct cprof_root_level *levels);
	void (*root_level_name)(struct cprof_core *core, const struct cprof_allocator *self,
				const struct cprof_roots *rs, const struct cprof_root *r,
				uint64_t slot, size_t level, char *buf, size_t size);
	/* The name of slot of its root r ("goroutine 18 frame 2 main.f (x.go:4)"). */
	void (*slot_name)(struct cprof_core *core, const struct cprof_allocator *self,
			  const struct cprof_roots *rs, const struct cprof_root *r,
			  uint64_t slot, char *buf, size_t size);
	/* The code holding a stack slot of r: its pc (for a lookup: a return
	   address minus one) and its frame's CFA.  False when unknown. */
	bool (*slot_frame)(const struct cprof_allocator *self, const struct cprof_root *r,
			   uint64_t slot, uint64_t *pc, uint64_t *cfa);

	/* Its section of the summary (none when it leaves n_lines 0). */
	void (*summary)(const struct cprof_allocator *self, const struct cprof_heap_walk *walk,
			const struct cprof_summary_facts *facts,
			struct cprof_summary_section *ret);
	/* Tables of its own in cprof.db (goroutines, allocation sites). */
	struct cprof_error *(*store)(struct cprof_store *st, struct cprof_core *core,
				     const struct cprof_allocator *self, uint32_t owner,
				     const struct cprof_object *objs, size_t n,
				     const struct cprof_retention *rt);
};

/* Every provider, in the order they run; NULL-terminated. */
extern const struct cprof_heap_provider *const cprof_heap_providers[];

/* Detects, claims and walks every allocator; walk is zero-initialized by
 * the caller. */
struct cprof_error *cprof_heap_walk_all(struct cprof_core *core,
					struct cprof_heap_walk *walk,
					cprof_object_fn *fn, void *arg);
void cprof_heap_walk_deinit(struct cprof_heap_walk *walk);

/* The name of the free list o sits in ("tcache"), or NULL. */
const char *cprof_object_free_list(const struct cprof_heap_walk *walk,
				   const struct cprof_object *o);
/* The allocator that owns heap h, or NULL. */
const struct cprof_allocator *cprof_heap_owner(const struct cprof_heap_walk *walk,
					       const struct cprof_heap *h);
/* The allocator serving malloc, or NULL. */
const struct cprof_allocator *cprof_heap_malloc(const struct cprof_heap_walk *walk);
/* Whether some walked allocator declares flag (enum cprof_provider_flags). */
bool cprof_heap_any_flag(const struct cprof_heap_walk *walk, unsigned flag);
/* The claim holding addr, or NULL (the claims are sorted). */
const struct cprof_claim *cprof_heap_claimed(const struct cprof_heap_walk *walk,
					     uint64_t addr);

/* Has every allocator with a store operation write its tables. */
struct cprof_error *cprof_heap_store(struct cprof_store *st, struct cprof_core *core,
				     const struct cprof_heap_walk *walk,
				     const struct cprof_object *objs, size_t n,
				     const struct cprof_retention *rt);

/*
 * Where malloc resolves in the process (src/heap/malloc.c): the executable's
 * GOT slot for malloc read from the core, else the first module defining
 * malloc (another one before libc: libc comes after the executable's
 * libraries and LD_PRELOAD's).  *how says which; NULL when no module defines
 * malloc (a Go program without cgo).
 */
const struct cprof_module *cprof_heap_find_malloc(struct cprof_core *core,
						  const char **how);

/* For providers: the RIP-relative operands (targets) of the instructions of
 * one kind (CPROF_INSN_LEA, CMP, ...) in m's function fn_name, in order, at
 * most max of them; 0 when the function is not found or not disassembled. */
size_t cprof_module_function_refs(struct cprof_core *core, const struct cprof_module *m,
				  const char *fn_name, enum cprof_insn_kind kind,
				  uint64_t *out, size_t max);
/* For providers: whether module m defines (not imports) the symbol name in
 * its dynamic or static symbol table. */
bool cprof_module_defines(struct cprof_core *core, const struct cprof_module *m,
			  const char *name);
/* For providers: the first string in m's file that starts with prefix and
 * whose next character is a digit, copied into buf up to a character that
 * is not a digit or '.' ("gperftools 2.10"); false when there is none. */
bool cprof_module_version_string(struct cprof_core *core, const struct cprof_module *m,
				 const char *prefix, char *buf, size_t size);

/* For walkers: a warning "CORE: NAME heap: MESSAGE" on core->warnings, for
 * the first max of them (*count counts them); past max, one line says the
 * rest are suppressed.  src_file and src_line: where the walker noticed the
 * bad data (shown with CPROF_DEBUG=1, as cprof_warn's): each walker's warning
 * helper is a macro that passes __FILE__ and __LINE__. */
void cprof_heap_vwarn(struct cprof_core *core, const char *name, size_t *count, size_t max,
		      const char *src_file, int src_line, const char *fmt, va_list ap);
/* For walkers: adds a heap, returns its index via ret. */
struct cprof_error *cprof_heap_add(struct cprof_heap_walk *walk,
				   const struct cprof_heap *heap,
				   uint32_t *ret);
/* For walkers: marks [start, end) as allocator metadata (not a root). */
struct cprof_error *cprof_heap_exclude(struct cprof_heap_walk *walk,
				       uint64_t start, uint64_t end);
/* For claim operations: [start, end) belongs to the current allocator.  A
 * range another allocator claimed is a conflict (a warning, not claimed). */
struct cprof_error *cprof_heap_claim(struct cprof_core *core, struct cprof_heap_walk *walk,
				     uint64_t start, uint64_t end);
/* For walkers: the current allocator's figures (name, version, found_by,
 * counts, arenas, stats); it is walked.  The walk owns s->arenas afterwards. */
struct cprof_error *cprof_heap_add_summary(struct cprof_heap_walk *walk,
					   const struct cprof_allocator *s);

#endif /* CPROF_HEAP_H */
