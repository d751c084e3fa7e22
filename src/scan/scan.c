/*
 * scan.c - the conservative pointer scan that builds the reference graph (see
 * include/cprof/graph.h).
 *
 * Objects are scanned in id (address) order, so the out-edges of each come
 * out contiguous and the CSR row array is filled as the scan goes: no edge
 * list is ever sorted.  Memory is read through one pointer per object (the
 * core is mmapped); only objects the core does not hold whole fall back to
 * word-by-word reads, and their missing bytes are counted, not invented.
 *
 * Objects of an allocator with pointer maps (struct cprof_heap_provider's
 * object_pointers: Go's runtime masks) are scanned by them when it has them:
 * a non-pointer word (an int, a hash, []byte contents) that happens to hold
 * a heap address would otherwise be a false edge - and false edges make
 * objects look shared or retained by the wrong root.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/bigmem.h"
#include "cprof/format.h"
#include "cprof/graph.h"

struct edges {
	uint32_t *dst, *src_off;
	uint64_t n, cap;
	uint64_t *interior;        /* a bit per edge: it points past its target's start */
	uint32_t *interior_off;    /* the offsets of those */
	uint64_t n_interior, cap_interior;
};

static bool edges_grow(struct edges *e)
{
	uint64_t cap = e->cap ? 2 * e->cap : 1 << 16;
	uint32_t *a = realloc(e->dst, cap * sizeof(*a));
	if (!a)
		return false;
	e->dst = a;
	cprof_huge(a, cap * sizeof(*a));
	a = realloc(e->src_off, cap * sizeof(*a));
	if (!a)
		return false;
	e->src_off = a;
	cprof_huge(a, cap * sizeof(*a));
	uint64_t *b = realloc(e->interior, cap / 8);
	if (!b)
		return false;
	memset(b + e->cap / 64, 0, (cap - e->cap) / 8);
	e->interior = b;
	e->cap = cap;
	return true;
}

static bool edges_push(struct edges *e, uint32_t dst, uint64_t src_off,
		       uint64_t dst_off)
{
	if (e->n == e->cap && !edges_grow(e))
		return false;
	if (dst_off) {
		if (e->n_interior == e->cap_interior) {
			uint64_t cap = e->cap_interior ? 2 * e->cap_interior : 1024;
			uint32_t *a = realloc(e->interior_off, cap * sizeof(*a));
			if (!a)
				return false;
			e->interior_off = a;
			e->cap_interior = cap;
		}
		e->interior[e->n >> 6] |= 1ull << (e->n & 63);
		e->interior_off[e->n_interior++] = dst_off > UINT32_MAX ? UINT32_MAX :
						   (uint32_t)dst_off;
	}
	e->dst[e->n] = dst;
	e->src_off[e->n] = src_off > UINT32_MAX ? UINT32_MAX : (uint32_t)src_off;
	e->n++;
	return true;
}

struct scan {
	struct cprof_core *core;
	const struct cprof_object *objs;
	const struct cprof_object_index *ix;
	uint64_t min, max;         /* the index's bounds: most words fall outside */
	struct cprof_graph *g;
	struct edges e;
	size_t cap_root_refs;
	bool oom;
	/* Pointer maps: per allocator its handle (NULL: none, or no metadata),
	   the allocator of the last object's heap (cached by heap index) */
	const struct cprof_heap_walk *walk;
	void **maps;
	uint32_t last_heap;
	const struct cprof_allocator *last_owner;
	uint8_t *mask;
	size_t mask_cap;
	/* the objects [lo, hi) this part scans, and what it counted */
	uint32_t lo, hi;
	struct cprof_progress *progress;
	uint64_t words, unreadable, precise, noscan, conservative;
	uint64_t *missing;         /* per segment, + 1: bytes not in the core */
	/* the root being scanned is a thread's own stack: no root of a
	   collected heap (Go's collector scans goroutine stacks, never a
	   thread's system or C stack: an idle M's scheduler frames hold
	   runtime.p and what it holds, as the runtime.allp global does) */
	bool no_collected;
};

/* A word found in memory: an edge when it points into another node.  The
 * bounds first, here: nearly every word is outside them (10^7 objects: 3.6 x
 * 10^8 words scanned for 1.8 x 10^7 pointers), and a call each costs. */
static inline void object_word(struct scan *s, uint32_t src, uint64_t off,
			       uint64_t v)
{
	if (v < s->min || v >= s->max)
		return;
	int64_t j = cprof_object_index_find(s->ix, v);
	if (j < 0 || (uint32_t)j == src)
		return;
	assert((uint64_t)j < s->g->n);
	if (!edges_push(&s->e, (uint32_t)j, off, v - s->objs[j].addr))
		s->oom = true;
}

static void root_word(struct scan *s, uint32_t root, uint64_t slot, uint64_t v)
{
	int64_t j = cprof_object_index_find(s->ix, v);
	if (j < 0 || (s->no_collected && (s->objs[j].flags & CPROF_OBJECT_COLLECTED)))
		return;
	assert((uint64_t)j < s->g->n);
	struct cprof_graph *g = s->g;
	if (g->n_root_refs == s->cap_root_refs) {
		size_t cap = s->cap_root_refs ? 2 * s->cap_root_refs : 1024;
		struct cprof_root_ref *a = realloc(g->root_refs, cap * sizeof(*a));
		if (!a) {
			s->oom = true;
			return;
		}
		g->root_refs = a;
		s->cap_root_refs = cap;
	}
	struct cprof_root_ref *r = &g->root_refs[g->n_root_refs++];
	r->root = root;
	r->dst = (uint32_t)j;
	r->slot = slot;
	r->dst_off = v - s->objs[j].addr;
}

/* Bytes a scan meant to read that the core does not hold, counted per
 * segment (index; the last slot: no segment) for one warning at the end. */
static void missing_range(struct scan *s, uint64_t start, uint64_t end)
{
	s->unreadable += end - start;
	const struct cprof_segment *seg = cprof_core_segment(s->core, start);
	size_t i = seg ? (size_t)(seg - s->core->segments) : s->core->n_segments;
	if (s->missing)
		s->missing[i] += end - start;
}

/* One word at a that straddles two runs (a file's end, a cut core). */
static bool straddling_word(struct scan *s, uint64_t a, uint64_t *v)
{
	if (cprof_core_try_read(s->core, a, v, 8))
		return true;
	missing_range(s, a, a + 8);
	return false;
}

/*
 * Scans [addr, addr + len) word by word, calling WORD for each aligned word.
 * The range is taken run by run (cprof_core_run): a pointer into the core
 * for each run it holds, and a run it does not hold - 2 GiB of a
 * MADV_DONTDUMP mapping, a p_memsz nothing backs - is skipped whole and
 * counted: the work is bounded by the bytes the core holds.
 */
#define SCAN_RANGE(s, addr, len, WORD)                                          \
	do {                                                                    \
		uint64_t a_ = ((addr) + 7) & ~7ull, end_ = (addr) + (len);      \
		if (end_ < (addr) || a_ < (addr))                               \
			break;                                                  \
		while (a_ + 8 <= end_) {                                        \
			uint64_t re_, v_;                                       \
			const uint8_t *p_ = cprof_core_run((s)->core, a_, end_, &re_); \
			if (!p_) {                                              \
				missing_range((s), a_, re_);                    \
				a_ = (re_ + 7) & ~7ull;                         \
				continue;                                       \
			}                                                       \
			uint64_t base_ = a_;                                    \
			for (; a_ + 8 <= re_; a_ += 8) {                        \
				memcpy(&v_, p_ + (a_ - base_), 8);              \
				(s)->words++;                           \
				if (v_)        /* no object is at 0: the index  \
						  is not asked of zero words */ \
					WORD(a_, v_);                           \
			}                                                       \
			if (a_ < re_ && a_ + 8 <= end_) {                       \
				if (straddling_word((s), a_, &v_)) {            \
					(s)->words++;                   \
					WORD(a_, v_);                           \
				}                                               \
				a_ += 8;                                        \
			}                                                       \
		}                                                               \
	} while (0)

/*
 * Whether segment i is a module's .bss that was never written: anonymous,
 * inside a module, and no byte of it in the core.  The kernel leaves out an
 * anonymous mapping no page of which was ever written (it reads as zeros)
 * as it does a MADV_DONTDUMP one, and every process has a few such pages at
 * the end of some library's .bss: they hold no pointer, and are no news.
 */
static bool untouched_bss(const struct cprof_core *core, size_t i)
{
	if (i >= core->n_segments)
		return false;
	const struct cprof_segment *seg = &core->segments[i];
	return seg->file < 0 && seg->declared_bytes == 0 && !seg->file_only &&
	       cprof_core_module(core, seg->start) != NULL;
}

/* The warning for what the scan could not read: its size and the mappings
 * with the most of it (a module's untouched .bss left out); returns the size. */
static uint64_t warn_missing(struct scan *s)
{
	const struct cprof_core *core = s->core;
	if (!s->missing || !s->unreadable)
		return 0;
	size_t top[3] = { SIZE_MAX, SIZE_MAX, SIZE_MAX }, n_maps = 0;
	bool all_rw = true, file = false, anon = false;
	uint64_t total = 0;
	for (size_t i = 0; i <= core->n_segments; i++) {
		if (!s->missing[i] || untouched_bss(core, i))
			continue;
		total += s->missing[i];
		n_maps++;
		if (i == core->n_segments ||
		    (core->segments[i].flags & (CPROF_SEG_R | CPROF_SEG_W)) != (CPROF_SEG_R | CPROF_SEG_W))
			all_rw = false;
		if (i < core->n_segments && core->segments[i].file >= 0)
			file = true;
		else
			anon = true;
		for (size_t k = 0; k < 3; k++) {
			if (top[k] == SIZE_MAX || s->missing[i] > s->missing[top[k]]) {
				memmove(&top[k + 1], &top[k], (2 - k) * sizeof(top[0]));
				top[k] = i;
				break;
			}
		}
	}
	if (!n_maps)
		return 0;
	char total_b[FMT_BYTES_SIZE], list[512] = "";
	size_t len = 0;
	for (size_t k = 0; k < 3 && top[k] != SIZE_MAX && len < sizeof(list); k++) {
		char b[FMT_BYTES_SIZE];
		size_t i = top[k];
		const struct cprof_segment *seg = i < core->n_segments ? &core->segments[i] : NULL;
		const char *what = !seg ? "outside every mapping" :
				   seg->file >= 0 ? core->files[seg->file].path : "anonymous";
		if (seg)
			len += snprintf(list + len, sizeof(list) - len, "%s0x%llx-0x%llx %s: %s",
					k ? ", " : "", (unsigned long long)seg->start,
					(unsigned long long)seg->end, what, fmt_bytes(b, s->missing[i]));
		else
			len += snprintf(list + len, sizeof(list) - len, "%s%s: %s", k ? ", " : "",
					what, fmt_bytes(b, s->missing[i]));
	}
	/* Why, as far as the mappings tell: the kernel leaves out what
	   MADV_DONTDUMP marks and, by its default coredump_filter, every
	   file-backed shared mapping (gcore too), whose bytes are then read
	   from the file when it is still there; a cut core loses the rest. */
	const char *why = core->truncated ? "the core is truncated" :
			  file && anon ? "MADV_DONTDUMP, or file-backed shared mappings, which the kernel's default coredump_filter and gcore leave out, whose files were not read, or the core is damaged" :
			  file ? "file-backed shared mappings, which the kernel's default coredump_filter and gcore leave out, whose files were not read" :
			  "MADV_DONTDUMP, or the core is damaged";
	cprof_warn(core->warnings,
		   "%s: %s of %smemory is not in the core (%s): not scanned (%zu mapping%s: %s%s)",
		   core->path, fmt_bytes(total_b, total), all_rw ? "rw " : "", why,
		   n_maps, n_maps == 1 ? "" : "s", list, n_maps > 3 ? ", ..." : "");
	return total;
}

/*
 * Mappings the core names in NT_FILE but writes no program header for: gdb's
 * gcore leaves out shared mappings so (a PostgreSQL backend's /dev/shm
 * segments), and the core model takes them as read-only for want of their
 * permissions: they may have been writable and held pointers, and nothing
 * scanned them.  Modules' files are no news (their bytes are the file's).
 */
static void warn_file_only(const struct cprof_core *core)
{
	uint64_t total = 0;
	size_t n = 0, len = 0;
	char list[512] = "";
	for (size_t i = 0; i < core->n_segments; i++) {
		const struct cprof_segment *seg = &core->segments[i];
		if (!seg->file_only || seg->file < 0 || cprof_core_module(core, seg->start))
			continue;
		char b[FMT_BYTES_SIZE];
		total += seg->end - seg->start;
		if (n++ < 3 && len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - len, "%s0x%llx-0x%llx %s: %s",
					n > 1 ? ", " : "", (unsigned long long)seg->start,
					(unsigned long long)seg->end, core->files[seg->file].path,
					fmt_bytes(b, seg->end - seg->start));
	}
	char total_b[FMT_BYTES_SIZE];
	if (n)
		cprof_warn(core->warnings,
			   "%s: %s of file mappings the core names have no program header (gcore leaves out shared mappings): their permissions are unknown, and they were not scanned (%zu mapping%s: %s%s)",
			   core->path, fmt_bytes(total_b, total), n, n == 1 ? "" : "s", list,
			   n > 3 ? ", ..." : "");
}

/* The allocator of o's heap when it has pointer maps, else NULL.  Objects
 * come in address order, so heap indices repeat in runs: cache the answer. */
static const struct cprof_allocator *mapped_owner(struct scan *s, const struct cprof_object *o)
{
	const struct cprof_heap_walk *w = s->walk;
	if (!w || o->heap >= w->n_heaps)
		return NULL;
	if (o->heap != s->last_heap) {
		const struct cprof_allocator *a = cprof_heap_owner(w, &w->heaps[o->heap]);
		s->last_heap = o->heap;
		s->last_owner = a && a->provider->object_pointers ? a : NULL;
	}
	return s->last_owner;
}

/* Scans only the words of object i that mask sets. */
static void scan_masked(struct scan *s, uint32_t i, const uint8_t *mask)
{
	const struct cprof_object *o = &s->objs[i];
	const uint8_t *p = cprof_core_ptr(s->core, o->addr, o->size);
	for (uint64_t w = 0; w < o->size / 8; w++) {
		if (!mask[w / 8]) {
			w |= 7;            /* eight non-pointer words */
			continue;
		}
		if (!cprof_mask_bit(mask, w))
			continue;
		uint64_t v;
		if (p) {
			memcpy(&v, p + 8 * w, 8);
		} else if (!cprof_core_try_read(s->core, o->addr + 8 * w, &v, 8)) {
			missing_range(s, o->addr + 8 * w, o->addr + 8 * w + 8);
			continue;
		}
		s->words++;
		object_word(s, i, 8 * w, v);
	}
}

/* An object of allocator a: precisely when a's metadata allows.  False
 * (and counted) when it must be scanned conservatively. */
static bool scan_mapped_object(struct scan *s, const struct cprof_allocator *a, uint32_t i)
{
	const struct cprof_object *o = &s->objs[i];
	void *map = s->maps[a - s->walk->allocators];
	size_t need = (size_t)(o->size / 8 + 7) / 8;
	enum cprof_pointers ptrs = CPROF_POINTERS_UNKNOWN;
	if (map && need > s->mask_cap) {
		uint8_t *m = realloc(s->mask, need);
		if (m) {
			s->mask = m;
			s->mask_cap = need;
		}
	}
	if (map && need <= s->mask_cap)
		ptrs = a->provider->object_pointers(map, o->addr, o->size, s->mask);
	switch (ptrs) {
	case CPROF_POINTERS_NONE:
		s->noscan++;
		return true;
	case CPROF_POINTERS_MASK:
		s->precise++;
		scan_masked(s, i, s->mask);
		return true;
	default:
		s->conservative++;
		return false;
	}
}

/* Opens every walked allocator's pointer maps; without them its objects are
 * scanned conservatively (counted), with a warning saying why. */
static bool open_maps(struct scan *s)
{
	if (!s->walk)
		return true;
	s->maps = calloc(s->walk->n_allocators + 1, sizeof(*s->maps));
	if (!s->maps)
		return false;
	for (size_t i = 0; i < s->walk->n_allocators; i++) {
		const struct cprof_allocator *a = &s->walk->allocators[i];
		if (a->heap_state != CPROF_HEAP_WALKED || !a->provider->pointers_open)
			continue;
		struct cprof_error *err = a->provider->pointers_open(s->core, a, &s->maps[i]);
		if (err) {
			cprof_warn(s->core->warnings, "%s", err->message);
			cprof_error_destroy(err);
			s->maps[i] = NULL;
		}
	}
	return true;
}

static void close_maps(struct scan *s)
{
	for (size_t i = 0; s->maps && i < s->walk->n_allocators; i++)
		if (s->maps[i])
			s->walk->allocators[i].provider->pointers_close(s->maps[i]);
	free(s->maps);
	free(s->mask);
}

static void scan_roots(struct scan *s, const struct cprof_roots *roots)
{
	for (uint32_t r = 0; r < roots->n && !s->oom; r++) {
		const struct cprof_root *root = &roots->roots[r];
		s->no_collected = root->kind == CPROF_ROOT_STACK;
		if (root->kind == CPROF_ROOT_REGISTERS) {
			uint64_t words[CPROF_MAX_REGISTER_WORDS];
			char names[CPROF_MAX_REGISTER_WORDS][16];
			size_t n = cprof_root_register_words(
				&s->core->threads[root->thread], root->vectors, words, names,
				CPROF_MAX_REGISTER_WORDS);
			for (size_t k = 0; k < n; k++)
				root_word(s, r, k, words[k]);
			s->words += n;
			continue;
		}
		if (root->mask) {
			/* precise: only the words the mask says hold pointers */
#define MASKED_WORD(a, v)                                                       \
	do {                                                                    \
		if (cprof_mask_bit(root->mask, ((a) - root->start) / 8))        \
			root_word(s, r, (a), (v));                              \
	} while (0)
			SCAN_RANGE(s, root->start, root->end - root->start, MASKED_WORD);
#undef MASKED_WORD
			continue;
		}
#define ROOT_WORD(a, v) root_word(s, r, (a), (v))
		SCAN_RANGE(s, root->start, root->end - root->start, ROOT_WORD);
#undef ROOT_WORD
	}
}

/* Scans objects [s->lo, s->hi): g->row[i] is where object i's edges start in
 * this part's edges. */
static void scan_objects(struct scan *s)
{
	struct cprof_graph *g = s->g;
	for (uint32_t i = s->lo; i < s->hi && !s->oom; i++) {
		assert(i == s->lo || g->row[i - 1] <= s->e.n);  /* rows monotonic */
		g->row[i] = s->e.n;
		const struct cprof_object *o = &s->objs[i];
		if (!cprof_object_is_node(o))
			continue;
		const struct cprof_allocator *a = mapped_owner(s, o);
		if (!a || !scan_mapped_object(s, a, i)) {
#define OBJECT_WORD(a, v) object_word(s, i, (a) - o->addr, (v))
			SCAN_RANGE(s, o->addr, o->size, OBJECT_WORD);
#undef OBJECT_WORD
		}
		if (s->progress && (i & 0xffff) == 0)
			cprof_progress_update(s->progress, "scanning objects", i, g->n);
	}
}

static void *scan_part(void *arg)
{
	scan_objects(arg);
	return NULL;
}

/* Appends b's edges to a's (b's objects come after a's); frees b's. */
static bool edges_append(struct edges *a, struct edges *b)
{
	uint64_t n = a->n + b->n;
	bool ok = true;
	while (ok && a->cap < n)
		ok = edges_grow(a);
	if (ok && a->n_interior + b->n_interior > a->cap_interior) {
		uint32_t *v = realloc(a->interior_off, (a->n_interior + b->n_interior) * sizeof(*v));
		if ((ok = v)) {
			a->interior_off = v;
			a->cap_interior = a->n_interior + b->n_interior;
		}
	}
	if (ok && b->n) {
		memcpy(a->dst + a->n, b->dst, b->n * sizeof(*b->dst));
		memcpy(a->src_off + a->n, b->src_off, b->n * sizeof(*b->src_off));
		for (uint64_t w = 0; w < (b->n + 63) / 64; w++) {
			for (uint64_t bits = b->interior[w]; bits; bits &= bits - 1) {
				uint64_t e = a->n + 64 * w + (uint64_t)__builtin_ctzll(bits);
				a->interior[e >> 6] |= 1ull << (e & 63);
			}
		}
		if (b->n_interior)
			memcpy(a->interior_off + a->n_interior, b->interior_off,
			       b->n_interior * sizeof(*b->interior_off));
		a->n = n;
		a->n_interior += b->n_interior;
	}
	free(b->dst);
	free(b->src_off);
	free(b->interior);
	free(b->interior_off);
	return ok;
}

/*
 * The objects in two parts of about as many bytes each, scanned by two
 * threads, when that is safe and pays: no allocator's pointer maps (their
 * handles keep caches and counts), and enough objects.  Returns the first
 * object of the second part, or n (one part).
 */
static uint32_t split_point(const struct scan *s, uint32_t n)
{
	enum { MIN_OBJECTS = 1 << 18 };
	for (size_t i = 0; s->walk && i < s->walk->n_allocators; i++)
		if (s->maps && s->maps[i])
			return n;
	if (n < MIN_OBJECTS)
		return n;
	uint64_t total = 0, half = 0;
	for (uint32_t i = 0; i < n; i++)
		if (cprof_object_is_node(&s->objs[i]))
			total += s->objs[i].size;
	for (uint32_t i = 0; i < n; i++) {
		if (cprof_object_is_node(&s->objs[i]))
			half += s->objs[i].size;
		if (2 * half >= total)
			return i + 1;
	}
	return n;
}

struct cprof_error *cprof_graph_build(struct cprof_core *core,
				      const struct cprof_heap_walk *walk,
				      const struct cprof_object *objs, size_t n,
				      const struct cprof_roots *roots,
				      struct cprof_progress *progress,
				      struct cprof_graph *g)
{
	double t0 = cprof_now();
	memset(g, 0, sizeof(*g));
	if (n >= UINT32_MAX)
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED,
					  "%s: %zu objects: more than 32-bit ids can number",
					  core->path, n);
	/* the object table's invariant (cprof_objects_sort drops what would
	   break it, with a warning): ids in address order, no two overlapping */
	for (size_t i = 1; i < n; i++)
		assert(objs[i - 1].addr + objs[i - 1].size <= objs[i].addr);
	struct cprof_object_index *ix;
	struct cprof_error *err = cprof_object_index_build(objs, n, &ix);
	if (err)
		return err;
	g->n = (uint32_t)n;
	g->row = malloc((n + 1) * sizeof(*g->row));
	cprof_huge(g->row, (n + 1) * sizeof(*g->row));
	if (!g->row) {
		cprof_object_index_destroy(ix);
		return &cprof_enomem;
	}
	struct scan s = { .core = core, .objs = objs, .ix = ix, .g = g,
			  .walk = walk, .last_heap = UINT32_MAX, .hi = (uint32_t)n,
			  .progress = progress };
	cprof_object_index_bounds(ix, &s.min, &s.max);
	s.missing = calloc(core->n_segments + 1, sizeof(*s.missing));
	s.oom = !s.missing || !open_maps(&s);
	/* The second part on another thread; without one, here after the first. */
	struct scan b = { .core = core, .objs = objs, .ix = ix, .min = s.min, .max = s.max,
			  .g = g, .walk = walk, .last_heap = UINT32_MAX, .hi = (uint32_t)n };
	pthread_t thread;
	bool threaded = false;
	b.missing = calloc(core->n_segments + 1, sizeof(*b.missing));
	s.oom |= !b.missing;
	if (!s.oom) {
		b.maps = s.maps;   /* none is open when there are two parts */
		s.hi = b.lo = split_point(&s, (uint32_t)n);
		if (b.lo < n)
			threaded = !pthread_create(&thread, NULL, scan_part, &b);
	}
	scan_objects(&s);
	if (threaded)
		pthread_join(thread, NULL);
	else if (!s.oom)
		scan_objects(&b);
	uint64_t first = s.e.n;
	if (!s.oom && !b.oom && !edges_append(&s.e, &b.e))
		s.oom = true;
	s.oom |= b.oom;
	for (uint32_t i = b.lo; i < n; i++)
		g->row[i] += first;
	g->row[n] = s.e.n;
	if (!s.oom)
		scan_roots(&s, roots);
	if (progress)
		cprof_progress_done(progress);
	close_maps(&s);
	/* the second part's counts into the first's, for one warning */
	s.unreadable += b.unreadable;
	for (size_t i = 0; s.missing && b.missing && i <= core->n_segments; i++)
		s.missing[i] += b.missing[i];
	uint64_t not_in_core = s.oom ? 0 : warn_missing(&s);
	warn_file_only(core);
	free(s.missing);
	free(b.missing);
	cprof_object_index_destroy(ix);
	if (!s.oom && !s.e.cap && !edges_grow(&s.e))
		s.oom = true;
	g->dst = s.e.dst;
	g->src_off = s.e.src_off;
	g->interior = s.e.interior;
	g->interior_off = s.e.interior_off;
	g->n_interior = s.e.n_interior;
	g->n_edges = s.e.n;
	g->words_scanned = s.words + b.words;
	g->bytes_unreadable = s.unreadable;
	g->bytes_not_in_core = not_in_core;
	g->objects_precise = s.precise + b.precise;
	g->objects_noscan = s.noscan + b.noscan;
	g->objects_conservative = s.conservative + b.conservative;
	g->t_scan = cprof_now() - t0;
	if (s.oom) {
		cprof_graph_deinit(g);
		return &cprof_enomem;
	}
	return NULL;
}
