/*
 * heap.h - heap walkers: every chunk of every allocator in the core.
 *
 * In:  an opened core (cprof/core.h).
 * Out: for each allocator found, a stream of objects - the blocks the
 *      allocator handed out or holds free, each with its user address (what
 *      malloc returned), its usable size (what malloc_usable_size returns),
 *      its state, the heap it lives in and allocator flags - plus a summary
 *      (arenas, counts, and the allocator's own accounting, e.g. glibc's
 *      mallinfo2 figures, as named statistics).
 *
 * An allocator is a struct cprof_heap_walker (ops table).  Adding jemalloc or
 * a new Go version means one new file in src/heap/ and one row in the table
 * in src/heap/heap.c; nothing else knows an allocator's layout.
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

#include <stdbool.h>
#include <stdint.h>

#include "cprof/core.h"
#include "cprof/error.h"

enum cprof_object_state {
	CPROF_OBJECT_USED = 0,
	CPROF_OBJECT_FREE = 1,
};

/* Where a free object sits (allocator-neutral names; glibc uses them all). */
enum cprof_free_list {
	CPROF_FREE_NONE = 0,       /* used */
	CPROF_FREE_TCACHE,
	CPROF_FREE_FASTBIN,
	CPROF_FREE_UNSORTED,
	CPROF_FREE_SMALLBIN,
	CPROF_FREE_LARGEBIN,
	CPROF_FREE_TOP,
	CPROF_FREE_OTHER,          /* free by the chunk headers, in no list found */
};
const char *cprof_free_list_name(enum cprof_free_list l);

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
	uint8_t free_list;         /* enum cprof_free_list */
	uint16_t flags;            /* allocator flags (glibc: the size field's low bits) */
};

/* A region objects live in: an arena's heap, the mmapped chunks, a Go arena. */
struct cprof_heap {
	const char *allocator;     /* "glibc" */
	char kind[16];             /* "main_arena", "arena", "mmap" */
	uint64_t arena;            /* the arena that owns it (glibc: malloc_state address) */
	uint64_t start, end;       /* [start, end) */
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

struct cprof_allocator_summary {
	const char *name;          /* "glibc" */
	char version[32];          /* "2.36" */
	char found_by[320];        /* how its roots were found, for `info` */
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

struct cprof_heap_walk {
	struct cprof_heap *heaps;  /* appended to by walkers */
	size_t n_heaps, cap_heaps;
	/* Allocator metadata outside the heaps (glibc: main_arena, mp_ in
	   libc's .data): never scanned as roots. */
	struct cprof_range *excluded;
	size_t n_excluded;
	struct cprof_allocator_summary *allocators;
	size_t n_allocators;
	/* The Go runtime, when the process has one (cprof/goruntime.h): its
	   goroutines and module data are roots, its type headers name objects. */
	struct cprof_go_runtime *go;
};

struct cprof_heap_walker {
	const char *name;
	/*
	 * Finds the allocator in the core and walks it: appends its heaps to
	 * walk->heaps, streams its objects to fn, appends its summary.
	 * *found is false when the allocator is not in this process (not an
	 * error).  Errors are for what stops the walk entirely; corruption is a
	 * warning on core->warnings.
	 */
	struct cprof_error *(*walk)(struct cprof_core *core,
				    struct cprof_heap_walk *walk,
				    cprof_object_fn *fn, void *arg,
				    bool *found);
};

/* Every walker, in the order they run; NULL-terminated. */
extern const struct cprof_heap_walker *const cprof_heap_walkers[];

/* Runs every walker; walk is zero-initialized by the caller. */
struct cprof_error *cprof_heap_walk_all(struct cprof_core *core,
					struct cprof_heap_walk *walk,
					cprof_object_fn *fn, void *arg);
void cprof_heap_walk_deinit(struct cprof_heap_walk *walk);

/* For walkers: adds a heap, returns its index via ret. */
struct cprof_error *cprof_heap_add(struct cprof_heap_walk *walk,
				   const struct cprof_heap *heap,
				   uint32_t *ret);
/* For walkers: marks [start, end) as allocator metadata (not a root). */
struct cprof_error *cprof_heap_exclude(struct cprof_heap_walk *walk,
				       uint64_t start, uint64_t end);
/* For walkers: adds a summary; the walk owns s->arenas afterwards. */
struct cprof_error *cprof_heap_add_summary(struct cprof_heap_walk *walk,
					   const struct cprof_allocator_summary *s);

#endif /* CPROF_HEAP_H */
