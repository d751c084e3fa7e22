/*
 * tcmalloc.c - the tcmalloc (gperftools 2.x) walker.
 *
 * Found by its own entry points: a module defining tc_malloc (every
 * gperftools build: libtcmalloc.so.4, libtcmalloc_minimal.so.4, or linked
 * into the executable).  Its version is TC_VERSION_STRING, "gperftools 2.10",
 * from the module's file.  docs/tcmalloc.md says what is read and from where.
 *
 * What it reads, in order:
 *   1. the globals, without debug info (Debian ships none it can reach):
 *      ThreadCache::thread_heaps_ and Static::inited_ are in .dynsym;
 *      Static::pageheap_, sizemap_ and central_cache_ are hidden, and are
 *      the operands of the RIP-relative lea instructions of the exported
 *      Static::InitStaticVars(), each candidate validated by its shape
 *      (tcmalloc-layout.c has the offsets, per version and page size);
 *   2. the page heap's page map (a two-level radix tree from page number to
 *      Span*): every span in address order, each run of adjacent spans one
 *      heap, claimed before any walk;
 *   3. the free objects that are not in their span's own list: the transfer
 *      caches (each size class's tc_slots_) and every thread cache (the
 *      thread_heaps_ list), gathered into one array sorted by address;
 *   4. the objects: a size-class span's slots, free when in the span's own
 *      free list (the central cache) or in the sorted array (a cursor: the
 *      spans come in address order), used otherwise; an in-use span of size
 *      class 0 is one large object; a free span is one free object.
 * It reproduces MallocExtension's figures from what it walked, and checks
 * them against tcmalloc's own counters (warnings where they differ).
 *
 * Corruption: every value read from the core is checked before it is used as
 * a size, a count or a pointer; a list that leaves its span, loops or runs
 * past its count is cut where it goes wrong, with a warning.  Every loop is
 * bounded by the page map's size or a count read and checked.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/chain.h"
#include "tcmalloc.h"

enum {
	MAX_WARNINGS = 100,
	MAX_THREAD_CACHES = 1 << 16,   /* more threads than any process has */
	/* A thread cache list holds at most kMaxDynamicFreeListLength (8192)
	   objects, and one more while it is being trimmed. */
	MAX_THREAD_LIST = 1 << 16,
};

/* Where a free object sits (the object's free_list). */
enum tc_free_list {
	TC_FREE_NONE = 0,
	TC_FREE_THREAD,                /* a thread cache's list */
	TC_FREE_TRANSFER,              /* a transfer cache slot */
	TC_FREE_CENTRAL,               /* its span's own list (the central cache) */
	TC_FREE_PAGEHEAP,              /* a free span on a normal free list */
	TC_FREE_UNMAPPED,              /* a free span returned to the system */
	TC_N_FREE_LISTS
};
/* In the words of MallocExtension's properties, which count each of them. */
static const char *const tc_free_lists[TC_N_FREE_LISTS] = {
	NULL, "thread_cache", "transfer_cache", "central_cache", "pageheap",
	"pageheap_unmapped",
};

/* Span::location */
enum { SPAN_IN_USE = 0, SPAN_ON_NORMAL = 1, SPAN_ON_RETURNED = 2 };

/* An object held by a cache outside its span: (address, list). */
struct cached {
	uint64_t addr;
	uint8_t list;              /* enum tc_free_list */
};

/* One span, as the walk reads it. */
struct span {
	uint64_t addr;             /* of the Span struct */
	uint64_t start, length;    /* in pages */
	uint64_t objects;          /* free list head, or the StackTrace of a sample */
	uint32_t refcount, sizeclass, location;
	bool sample;
};

/* The provider's state: what detect and claim found, kept for the walk. */
struct tc {
	struct cprof_core *core;
	struct cprof_heap_walk *walk;
	cprof_object_fn *fn;
	void *fn_arg;
	bool stopped;
	bool oom;                  /* out of memory in a callback of the span walk */

	bool set_up;               /* setup ran (claim or walk) */
	enum cprof_heap_state state;
	char reason[200];

	struct tc_layout L;
	uint64_t pageheap, sizemap, central, thread_heaps;
	char how[320];

	/* the size map */
	uint32_t n_classes;
	uint32_t class_size[TC_MAX_CLASSES];
	uint64_t class_pages[TC_MAX_CLASSES];
	uint32_t num_move[TC_MAX_CLASSES];

	/* the page map's root, read once */
	uint64_t *root;

	/* runs of adjacent spans: the heaps (from claim) */
	struct cprof_range *ranges;
	size_t n_ranges;

	/* the walk's free objects outside their spans, sorted */
	struct cached *cached;
	size_t n_cached, cap_cached, cursor;
	/* per span: the list each slot sits in (0: used) */
	uint8_t *slot;
	size_t cap_slot;

	/* what the walk found */
	uint64_t span_bytes, free_span_bytes, unmapped_span_bytes;
	uint64_t central_bytes, transfer_bytes, thread_bytes, slack_bytes;
	uint64_t sampled_bytes;    /* whole sampled spans, as tcmalloc counts them */
	uint64_t used_count, used_bytes, free_count, free_bytes;
	struct cprof_arena_summary *threads;   /* one per thread cache */
	size_t n_threads;
	uint64_t central_found[TC_MAX_CLASSES], spans_of_class[TC_MAX_CLASSES];
	uint32_t heap_id, heap_base;

	size_t n_warnings;
};

/* ---- reading and warning ---- */

/* A warning about the heap's data, with where it was noticed (the macro). */
#define tcwarn(t, ...) tcwarn_at((t), __FILE__, __LINE__, __VA_ARGS__)
static __attribute__((format(printf, 4, 5)))
void tcwarn_at(struct tc *t, const char *src_file, int src_line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cprof_heap_vwarn(t->core, "tcmalloc", &t->n_warnings, MAX_WARNINGS, src_file, src_line, fmt, ap);
	va_end(ap);
}

static bool rd(struct tc *t, uint64_t addr, void *buf, size_t len)
{
	return cprof_core_try_read(t->core, addr, buf, len);
}

static bool rd64(struct tc *t, uint64_t addr, uint64_t *v)
{
	return rd(t, addr, v, 8);
}

static bool rd32(struct tc *t, uint64_t addr, uint32_t *v)
{
	return rd(t, addr, v, 4);
}

static bool read_span(struct tc *t, uint64_t addr, struct span *s)
{
	const struct tc_layout *L = &t->L;
	uint8_t b[TC_SPAN_READ];
	uint32_t bits;
	if (!addr || (addr & 7) || !rd(t, addr, b, sizeof(b)))
		return false;
	s->addr = addr;
	memcpy(&s->start, b + L->sp_start, 8);
	memcpy(&s->length, b + L->sp_length, 8);
	memcpy(&s->objects, b + L->sp_objects, 8);
	memcpy(&bits, b + L->sp_bits, 4);
	s->refcount = bits & 0xffff;
	s->sizeclass = (bits >> 16) & 0xff;
	s->location = (bits >> 24) & 3;
	s->sample = (bits >> 26) & 1;
	return true;
}

/* Reads n words at addr into buf; a page the core lacks reads as zeros
 * (*missing counts them). */
static void read_words(struct tc *t, uint64_t addr, uint64_t *buf, size_t n, size_t *missing)
{
	const void *p = cprof_core_ptr(t->core, addr, n * 8);
	if (p) {
		memcpy(buf, p, n * 8);
		return;
	}
	for (size_t i = 0; i < n; i += 512) {
		size_t k = n - i < 512 ? n - i : 512;
		if (!rd(t, addr + 8 * i, buf + i, k * 8)) {
			memset(buf + i, 0, k * 8);
			(*missing)++;
		}
	}
}

/* The n words at addr: the core's own bytes when it holds them in one piece,
 * else read into *buf as read_words does (allocated here the first time: a
 * fresh 2 MiB buffer per walk of the page map was a fuzz run's page faults);
 * NULL when out of memory. */
static const uint64_t *words_at(struct tc *t, uint64_t addr, uint64_t **buf, size_t n,
				size_t *missing)
{
	const uint64_t *p = cprof_core_ptr(t->core, addr, n * 8);
	if (p && (uintptr_t)p % 8 == 0)    /* a core may place a segment anywhere */
		return p;
	if (!*buf && !(*buf = malloc(n * 8)))
		return NULL;
	read_words(t, addr, *buf, n, missing);
	return *buf;
}

/* ---- finding the globals ---- */

/* A SizeMap: classes in [2, 128], class 0 of size 0, the others growing,
 * 8-byte multiples up to 256 KiB, each with its span size and batch size. */
static bool valid_sizemap(struct tc *t, uint64_t a)
{
	const struct tc_layout *L = &t->L;
	uint64_t n;
	if (!a || !rd64(t, a + L->sm_num_classes, &n) || n < 2 || n > TC_MAX_CLASSES)
		return false;
	uint32_t size[TC_MAX_CLASSES], move[TC_MAX_CLASSES];
	uint64_t pages[TC_MAX_CLASSES];
	if (!rd(t, a + L->sm_class_to_size, size, n * 4) ||
	    !rd(t, a + L->sm_class_to_pages, pages, n * 8) ||
	    !rd(t, a + L->sm_num_to_move, move, n * 4) || size[0] != 0)
		return false;
	for (uint64_t c = 1; c < n; c++)
		if (size[c] <= size[c - 1] || size[c] % 8 || size[c] > TC_MAX_SIZE ||
		    pages[c] == 0 || pages[c] > L->max_pages || move[c] == 0 ||
		    move[c] > 32768)
			return false;
	t->n_classes = (uint32_t)n;
	memcpy(t->class_size, size, n * 4);
	memcpy(t->class_pages, pages, n * 8);
	memcpy(t->num_move, move, n * 4);
	return true;
}

/* A circular doubly linked list head of Spans at head: empty (pointing to
 * itself) or its first element's prev pointing back. */
static bool valid_dll_head(struct tc *t, uint64_t head)
{
	uint64_t next, prev, back;
	if (!rd64(t, head + t->L.sp_next, &next) || !rd64(t, head + t->L.sp_prev, &prev))
		return false;
	if (next == head || prev == head)
		return next == head && prev == head;
	return next && !(next & 7) && rd64(t, next + t->L.sp_prev, &back) && back == head;
}

/* The central cache: one CentralFreeList per class, each knowing its class,
 * its two span lists sound, its transfer slots in range. */
static bool valid_central(struct tc *t, uint64_t a)
{
	const struct tc_layout *L = &t->L;
	for (uint32_t c = 0; a && c < t->n_classes; c++) {
		uint64_t cl = a + (uint64_t)c * L->cf_stride, sc;
		uint32_t used, max;
		if (!rd64(t, cl + L->cf_size_class, &sc) || sc != c ||
		    !rd32(t, cl + L->cf_used_slots, &used) ||
		    !rd32(t, cl + L->cf_max_cache_size, &max) ||
		    max > L->cf_slots || used > max ||
		    !valid_dll_head(t, cl + L->cf_empty) || !valid_dll_head(t, cl + L->cf_nonempty))
			return false;
	}
	return a != 0;
}

/* A PageHeap: every free list head sound, its statistics in proportion. */
static bool valid_pageheap(struct tc *t, uint64_t a)
{
	const struct tc_layout *L = &t->L;
	uint64_t st[3];
	if (!a || (a & 7) || !rd(t, a + L->ph_stats, st, sizeof(st)))
		return false;
	uint64_t page = 1ull << L->page_shift;
	if (st[0] % page || st[1] % page || st[2] % page || st[1] + st[2] > st[0] ||
	    st[0] > (1ull << 47))
		return false;
	for (uint64_t i = 0; i < L->max_pages; i++) {
		uint64_t head = a + L->ph_free + i * 2 * L->sp_size;
		if (!valid_dll_head(t, head) || !valid_dll_head(t, head + L->sp_size))
			return false;
	}
	return true;
}

/* Every lea target of InitStaticVars that ok() accepts; the first wins. */
static bool pick(struct tc *t, const uint64_t *c, size_t n, bool (*ok)(struct tc *, uint64_t),
		 uint64_t *ret)
{
	for (size_t i = 0; i < n; i++) {
		if (ok(t, c[i])) {
			*ret = c[i];
			return true;
		}
	}
	return false;
}

static __attribute__((format(printf, 3, 4)))
bool not_walked(struct tc *t, enum cprof_heap_state st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
	t->state = st;
	return false;
}

/*
 * Finds the globals and the layout; false (with t->state and t->reason set)
 * when the heap cannot be walked.
 */
static bool find_globals(struct tc *t, const struct cprof_allocator *self)
{
	struct cprof_core *core = t->core;
	const struct cprof_module *m = self->module;
	int major = 0, minor = 0;
	if (sscanf(self->version, "%d.%d", &major, &minor) != 2)
		return not_walked(t, CPROF_HEAP_NOT_WALKED, "unknown gperftools version '%s'",
				  self->version);
	/* libtcmalloc_debug (and _minimal_debug) wrap tcmalloc: each block the
	   program holds sits behind a MallocBlock header inside a bigger
	   tcmalloc object, and freed blocks wait in a queue, filled with 0xcd,
	   still allocated for tcmalloc.  Walking tcmalloc's spans would call
	   those blocks used and every object "reached only inside": say no. */
	if (cprof_module_defines(core, m, TC_SYM_DEBUG_ALLOC_MAP))
		return not_walked(t, CPROF_HEAP_NOT_WALKED,
				  "it is gperftools' debug allocator (blocks behind MallocBlock "
				  "headers, freed ones held in a queue), which cprof-core does not walk");
	uint64_t inited_addr;
	uint8_t inited = 1;
	if (cprof_core_find_symbol(core, m, TC_SYM_INITED, &inited_addr, NULL) &&
	    rd(t, inited_addr, &inited, 1) && !inited)
		return not_walked(t, CPROF_HEAP_UNUSED,
				  "tcmalloc was never initialized (Static::inited_ is false)");
	if (!cprof_core_find_symbol(core, m, TC_SYM_THREAD_HEAPS, &t->thread_heaps, NULL))
		return not_walked(t, CPROF_HEAP_NOT_WALKED,
				  "ThreadCache::thread_heaps_ not found in %s's symbols", m->name);
	uint64_t c[64];
	size_t n = cprof_module_function_refs(core, m, TC_SYM_INIT_STATIC_VARS, CPROF_INSN_LEA,
					      c, 64);
	if (!n)
		return not_walked(t, CPROF_HEAP_NOT_WALKED,
				  "Static::InitStaticVars not found or not disassembled in %s", m->name);
	/* The page size is a build option (8 KiB by default): the layout that
	   validates is the one. */
	static const unsigned shifts[] = { 13, 12, 14, 15, 16, 17, 18 };
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		if (!tc_layout_for_version(major, minor, shifts[i], &t->L))
			return not_walked(t, CPROF_HEAP_NOT_WALKED,
					  "no layout for gperftools %d.%d (cprof-core knows 2.8 to 2.10)",
					  major, minor);
		if (pick(t, c, n, valid_sizemap, &t->sizemap) &&
		    pick(t, c, n, valid_central, &t->central) &&
		    pick(t, c, n, valid_pageheap, &t->pageheap)) {
			snprintf(t->how, sizeof(t->how),
				 "the symbol tc_malloc in %s; pageheap_, sizemap_ and central_cache_ by disassembly of Static::InitStaticVars; %s, %u-byte pages",
				 m->name, t->L.source, 1u << t->L.page_shift);
			return true;
		}
	}
	return not_walked(t, CPROF_HEAP_NOT_WALKED,
			  "Static::pageheap_, sizemap_ or central_cache_ not found (no lea operand of InitStaticVars validates)");
}

/* ---- the page map ---- */

typedef bool span_fn(struct tc *t, const struct span *s, void *arg);

/*
 * Calls fn for every span of the page map, in address order.  A span is
 * recorded at its first (and last) page; pages inside it may still hold
 * stale entries from spans merged away, so the walk skips over each span's
 * pages once it has it.  Returns false when fn stopped it.
 */
static bool each_span(struct tc *t, span_fn *fn, void *arg)
{
	const struct tc_layout *L = &t->L;
	uint64_t leaf_len = 1ull << L->leaf_bits, next_page = 0;
	uint64_t *buf = NULL;
	size_t missing = 0;
	bool go_on = true;
	const size_t n_root = (size_t)1 << L->root_bits;
	for (size_t r = cprof_next_nonzero(t->root, 0, n_root); r < n_root && go_on;
	     r = cprof_next_nonzero(t->root, r + 1, n_root)) {
		if (t->root[r] & 7) {
			tcwarn(t, "page map root entry %llu is misaligned (0x%llx)",
			       (unsigned long long)r, (unsigned long long)t->root[r]);
			continue;
		}
		const uint64_t *leaf = words_at(t, t->root[r], &buf, leaf_len, &missing);
		if (!leaf) {
			tcwarn(t, "out of memory reading the page map");
			return false;
		}
		for (size_t i = cprof_next_nonzero(leaf, 0, leaf_len); i < leaf_len && go_on;
		     i = cprof_next_nonzero(leaf, i + 1, leaf_len)) {
			uint64_t page = ((uint64_t)r << L->leaf_bits) | i;
			struct span s;
			if (page < next_page)
				continue;
			if (!read_span(t, leaf[i], &s)) {
				tcwarn(t, "page 0x%llx: its Span at 0x%llx is not in the core",
				       (unsigned long long)(page << L->page_shift),
				       (unsigned long long)leaf[i]);
				continue;
			}
			if (s.start != page) {
				/* the last page of a span already passed, or stale */
				continue;
			}
			if (!s.length || s.length > (1ull << (L->root_bits + L->leaf_bits)) - page) {
				tcwarn(t, "Span at 0x%llx (page 0x%llx) has an impossible length %llu",
				       (unsigned long long)s.addr,
				       (unsigned long long)(page << L->page_shift),
				       (unsigned long long)s.length);
				continue;
			}
			next_page = page + s.length;
			go_on = fn(t, &s, arg);
		}
	}
	if (missing)
		tcwarn(t, "%zu pieces of the page map are not in the core; spans there are not walked",
		       missing);
	free(buf);
	return go_on;
}

/* Gathers the runs of adjacent spans. */
static bool add_range(struct tc *t, const struct span *s, void *arg)
{
	(void)arg;
	uint64_t start = s->start << t->L.page_shift;
	uint64_t end = (s->start + s->length) << t->L.page_shift;
	if (t->n_ranges && t->ranges[t->n_ranges - 1].end == start) {
		t->ranges[t->n_ranges - 1].end = end;
		return true;
	}
	if (t->n_ranges % 64 == 0) {
		struct cprof_range *r = realloc(t->ranges, (t->n_ranges + 64) * sizeof(*r));
		if (!r)
			return false;
		t->ranges = r;
	}
	t->ranges[t->n_ranges++] = (struct cprof_range){ start, end };
	return true;
}

/* Finds everything once (claim or walk, whichever runs first). */
static bool setup(struct tc *t, const struct cprof_allocator *self)
{
	if (t->set_up)
		return t->state == CPROF_HEAP_WALKED;
	t->set_up = true;
	t->state = CPROF_HEAP_WALKED;
	if (!find_globals(t, self))
		return false;
	size_t n_root = 1ull << t->L.root_bits, missing = 0;
	t->root = malloc(n_root * 8);
	if (!t->root)
		return not_walked(t, CPROF_HEAP_NOT_WALKED, "out of memory");
	read_words(t, t->pageheap + t->L.ph_pagemap_root, t->root, n_root, &missing);
	if (missing)
		tcwarn(t, "parts of the page map's root (at 0x%llx) are not in the core",
		       (unsigned long long)(t->pageheap + t->L.ph_pagemap_root));
	if (!each_span(t, add_range, NULL))
		return not_walked(t, CPROF_HEAP_NOT_WALKED, "out of memory");
	return true;
}

/* ---- the caches ---- */

static bool add_cached(struct tc *t, uint64_t addr, uint8_t list)
{
	if (t->n_cached == t->cap_cached) {
		size_t cap = t->cap_cached ? 2 * t->cap_cached : 4096;
		struct cached *c = realloc(t->cached, cap * sizeof(*c));
		if (!c)
			return false;
		t->cached = c;
		t->cap_cached = cap;
	}
	t->cached[t->n_cached++] = (struct cached){ addr, list };
	return true;
}

/*
 * Follows a NULL-terminated list of free objects of class c from head, at
 * most max of them; adds each to the cached array.  Returns how many, or -1
 * when out of memory.  A link that is misaligned or unreadable ends it.
 */
static long take_list(struct tc *t, uint64_t head, uint32_t c, uint64_t max, uint8_t list,
		      const char *what, uint64_t where)
{
	long n = 0;
	for (uint64_t p = head; p; n++) {
		uint64_t next;
		if ((uint64_t)n >= max) {
			tcwarn(t, "%s at 0x%llx (class %u) holds more than its %llu objects; cut there",
			       what, (unsigned long long)where, c, (unsigned long long)max);
			break;
		}
		if ((p & 7) || !rd64(t, p, &next)) {
			tcwarn(t, "%s at 0x%llx (class %u): object 0x%llx is misaligned or not in the core",
			       what, (unsigned long long)where, c, (unsigned long long)p);
			break;
		}
		if (!add_cached(t, p, list))
			return -1;
		p = next;
	}
	return n;
}

/* Each class's transfer cache: used_slots_ batches of num_objects_to_move. */
static bool collect_transfer(struct tc *t)
{
	const struct tc_layout *L = &t->L;
	for (uint32_t c = 1; c < t->n_classes; c++) {
		uint64_t cl = t->central + (uint64_t)c * L->cf_stride;
		uint32_t used = 0;
		rd32(t, cl + L->cf_used_slots, &used);
		for (uint32_t k = 0; k < used && k < L->cf_slots; k++) {
			uint64_t head = 0;
			uint64_t slot = cl + L->cf_tc_slots + 16ull * k;
			rd64(t, slot, &head);
			long got = take_list(t, head, c, t->num_move[c], TC_FREE_TRANSFER,
					     "transfer cache slot", slot);
			if (got < 0)
				return false;
			if ((uint64_t)got != t->num_move[c])
				tcwarn(t, "transfer cache slot at 0x%llx (class %u) holds %ld objects, not %u",
				       (unsigned long long)slot, c, got, t->num_move[c]);
			t->transfer_bytes += (uint64_t)got * t->class_size[c];
		}
	}
	return true;
}

/* A thread cache's figures: one arena of the summary. */
static bool add_thread(struct tc *t, uint64_t addr, uint64_t bytes_before, uint64_t count)
{
	struct cprof_arena_summary *a = realloc(t->threads, (t->n_threads + 1) * sizeof(*a));
	if (!a)
		return false;
	t->threads = a;
	a = &t->threads[t->n_threads++];
	memset(a, 0, sizeof(*a));
	a->addr = addr;
	strcpy(a->kind, "thread_cache");
	a->free_bytes = t->thread_bytes - bytes_before;
	a->free_count = count;
	return true;
}

/* The next thread cache after h, or 0 at the end (or where unreadable). */
static uint64_t next_cache(struct tc *t, uint64_t h)
{
	uint64_t next = 0;
	if (!h || (h & 7) || !rd64(t, h + t->L.tc_next, &next))
		return 0;
	return next;
}

/* next_cache for cprof_chain_length. */
static uint64_t chain_next_cache(void *arg, uint64_t h)
{
	return next_cache(arg, h);
}

/*
 * How many distinct thread caches the list from head holds (a list that
 * loops is cut after its last new element: cprof_chain_length), at most
 * MAX_THREAD_CACHES.
 */
static uint64_t count_caches(struct tc *t, uint64_t head, bool *loops)
{
	return cprof_chain_length(chain_next_cache, t, head, MAX_THREAD_CACHES, loops);
}

/* Every thread cache, through thread_heaps_ and next_. */
static bool collect_threads(struct tc *t)
{
	const struct tc_layout *L = &t->L;
	uint64_t h = 0, said_bytes = 0;
	bool loops;
	rd64(t, t->thread_heaps, &h);
	uint64_t n = count_caches(t, h, &loops);
	if (loops || n == MAX_THREAD_CACHES)
		tcwarn(t, "the thread cache list (ThreadCache::thread_heaps_) %s; %llu caches read",
		       loops ? "loops" : "is too long", (unsigned long long)n);
	for (uint64_t k = 0; h && k < n; k++) {
		int32_t size = 0;
		if (h & 7) {
			tcwarn(t, "the thread cache list holds a misaligned 0x%llx; cut there",
			       (unsigned long long)h);
			break;
		}
		uint8_t *tc = malloc(L->tc_size);
		if (!tc)
			return false;
		if (!rd(t, h, tc, L->tc_size)) {
			tcwarn(t, "thread cache at 0x%llx is not in the core", (unsigned long long)h);
			free(tc);
			break;
		}
		memcpy(&size, tc + L->tc_size_field, 4);
		said_bytes += size > 0 ? (uint64_t)size : 0;
		uint64_t bytes_before = t->thread_bytes, count = 0;
		for (uint32_t c = 1; c < t->n_classes; c++) {
			const uint8_t *fl = tc + L->tc_list + (uint64_t)c * L->fl_size;
			uint64_t head;
			uint32_t len;
			memcpy(&head, fl + L->fl_list, 8);
			memcpy(&len, fl + L->fl_length, 4);
			long got = take_list(t, head, c, len < MAX_THREAD_LIST ? len : MAX_THREAD_LIST,
					     TC_FREE_THREAD, "thread cache", h);
			if (got < 0) {
				free(tc);
				return false;
			}
			if ((uint64_t)got != len)
				tcwarn(t, "thread cache at 0x%llx, class %u: %ld objects in the list, %u counted",
				       (unsigned long long)h, c, got, len);
			t->thread_bytes += (uint64_t)got * t->class_size[c];
			count += (uint64_t)got;
		}
		if (!add_thread(t, h, bytes_before, count)) {
			free(tc);
			return false;
		}
		memcpy(&h, tc + L->tc_next, 8);
		free(tc);
	}
	if (said_bytes != t->thread_bytes)
		tcwarn(t, "the thread caches hold %llu bytes; their size_ fields say %llu",
		       (unsigned long long)t->thread_bytes, (unsigned long long)said_bytes);
	return true;
}

static int cached_cmp(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* ---- the objects ---- */

static void emit(struct tc *t, uint64_t addr, uint64_t size, bool used, uint8_t list,
		 uint16_t flags)
{
	struct cprof_object o = {
		.addr = addr, .size = size, .heap = t->heap_id,
		.state = used ? CPROF_OBJECT_USED : CPROF_OBJECT_FREE,
		.free_list = list, .flags = flags,
	};
	if (used) {
		t->used_count++;
		t->used_bytes += size;
	} else {
		t->free_count++;
		t->free_bytes += size;
	}
	if (!t->stopped && !t->fn(&o, t->fn_arg))
		t->stopped = true;
}

/* Cached objects below addr lie in no size-class span: report them. */
static void skip_cached_below(struct tc *t, uint64_t addr)
{
	for (; t->cursor < t->n_cached && t->cached[t->cursor].addr < addr; t->cursor++)
		tcwarn(t, "0x%llx, in a %s, is in no span of small objects",
		       (unsigned long long)t->cached[t->cursor].addr,
		       tc_free_lists[t->cached[t->cursor].list]);
}

/* What tc_malloc_size says of a sampled object: its request's class size,
 * or its pages. */
static uint64_t sampled_size(struct tc *t, const struct span *s)
{
	uint64_t req = 0, page = 1ull << t->L.page_shift;
	if (!rd64(t, s->objects + t->L.st_size, &req) || req > (s->length << t->L.page_shift))
		return s->length << t->L.page_shift;
	if (req <= TC_MAX_SIZE) {
		uint64_t idx = req <= 1024 ? (req + 7) >> 3 : (req + 127 + (120 << 7)) >> 7;
		uint8_t c = 0;
		if (rd(t, t->sizemap + t->L.sm_class_array + idx, &c, 1) && c && c < t->n_classes)
			return t->class_size[c];
	}
	return (req + page - 1) & ~(page - 1);
}

/* A size-class span: each slot used or free, in address order. */
static bool walk_small(struct tc *t, const struct span *s)
{
	uint32_t c = s->sizeclass;
	uint64_t start = s->start << t->L.page_shift, bytes = s->length << t->L.page_shift;
	uint64_t size = t->class_size[c], n = bytes / size;
	if (n > t->cap_slot) {
		uint8_t *sl = realloc(t->slot, n);
		if (!sl)
			return false;
		t->slot = sl;
		t->cap_slot = n;
	}
	memset(t->slot, 0, n);
	/* the span's own free list: the central cache */
	uint64_t central = 0;
	for (uint64_t p = s->objects; p; central++) {
		uint64_t off = p - start;
		if (p < start || off >= n * size || off % size || t->slot[off / size]) {
			tcwarn(t, "span 0x%llx (class %u): free list entry 0x%llx is %s; the list is cut there",
			       (unsigned long long)start, c, (unsigned long long)p,
			       p < start || off >= n * size ? "outside the span" :
			       off % size ? "not on an object boundary" : "listed twice");
			break;
		}
		t->slot[off / size] = TC_FREE_CENTRAL;
		if (!rd64(t, p, &p)) {
			tcwarn(t, "span 0x%llx: free object 0x%llx is not in the core",
			       (unsigned long long)start, (unsigned long long)(start + off));
			break;
		}
	}
	/* the caches' objects in this span */
	skip_cached_below(t, start);
	for (; t->cursor < t->n_cached && t->cached[t->cursor].addr < start + bytes; t->cursor++) {
		const struct cached *k = &t->cached[t->cursor];
		uint64_t off = k->addr - start;
		if (off >= n * size || off % size || t->slot[off / size])
			tcwarn(t, "0x%llx, in a %s, is %s of span 0x%llx (class %u)",
			       (unsigned long long)k->addr, tc_free_lists[k->list],
			       off >= n * size ? "in the tail" : off % size ? "not an object" :
			       "also in another free list", (unsigned long long)start, c);
		else
			t->slot[off / size] = k->list;
	}
	if (s->refcount != n - central)
		tcwarn(t, "span 0x%llx (class %u): refcount %u, but %llu of its %llu objects are in its free list",
		       (unsigned long long)start, c, s->refcount, (unsigned long long)central,
		       (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++)
		emit(t, start + i * size, size, !t->slot[i], t->slot[i], (uint16_t)c);
	t->central_bytes += central * size;
	t->central_found[c] += central;
	t->spans_of_class[c]++;
	t->slack_bytes += bytes - n * size;
	return true;
}

static bool walk_span(struct tc *t, const struct span *s, void *arg)
{
	(void)arg;
	uint64_t start = s->start << t->L.page_shift, bytes = s->length << t->L.page_shift;
	t->span_bytes += bytes;
	if (s->location != SPAN_IN_USE) {
		bool returned = s->location == SPAN_ON_RETURNED;
		if (s->location != SPAN_ON_NORMAL && !returned)
			tcwarn(t, "Span at 0x%llx has an unknown location %u",
			       (unsigned long long)s->addr, s->location);
		skip_cached_below(t, start + bytes);
		*(returned ? &t->unmapped_span_bytes : &t->free_span_bytes) += bytes;
		emit(t, start, bytes, false, returned ? TC_FREE_UNMAPPED : TC_FREE_PAGEHEAP, 0);
		return !t->stopped;
	}
	if (s->sizeclass) {
		if (s->sizeclass >= t->n_classes || t->class_pages[s->sizeclass] != s->length) {
			tcwarn(t, "span 0x%llx: size class %u with %llu pages does not fit the size map",
			       (unsigned long long)start, s->sizeclass, (unsigned long long)s->length);
			skip_cached_below(t, start + bytes);
			emit(t, start, bytes, true, 0, 0);
			return !t->stopped;
		}
		return walk_small(t, s) && !t->stopped;
	}
	/* A large object; a sampled one is as big as its request says. */
	skip_cached_below(t, start + bytes);
	if (s->sample) {
		/* Its StackTrace is copied whole from a local whose words past
		   depth are whatever the stack held (stale heap pointers):
		   metadata, no root. */
		struct cprof_error *err = cprof_heap_exclude(t->walk, s->objects,
							     s->objects + t->L.st_bytes);
		if (err) {
			t->oom = true;
			return false;
		}
		t->sampled_bytes += bytes;
		emit(t, start, sampled_size(t, s), true, 0, TC_FLAG_SAMPLED);
	} else {
		emit(t, start, bytes, true, 0, 0);
	}
	return !t->stopped;
}

/* Walks the spans of each range as one heap. */
static bool walk_range_span(struct tc *t, const struct span *s, void *arg)
{
	size_t *r = arg;
	uint64_t start = s->start << t->L.page_shift;
	while (*r + 1 < t->n_ranges && start >= t->ranges[*r].end)
		(*r)++;
	t->heap_id = t->heap_base + (uint32_t)*r;
	return walk_span(t, s, NULL);
}

/* ---- MallocExtension's figures, reproduced ---- */

static void stat(struct cprof_allocator *s, const char *name, uint64_t v)
{
	if (s->n_stats < sizeof(s->stats) / sizeof(s->stats[0]))
		s->stats[s->n_stats++] = (struct cprof_stat){ name, v };
}

/* Compares the walk with tcmalloc's own counters. */
static void check_counters(struct tc *t)
{
	const struct tc_layout *L = &t->L;
	uint64_t st[3] = { 0 };
	if (rd(t, t->pageheap + L->ph_stats, st, sizeof(st)) &&
	    (st[0] != t->span_bytes || st[1] != t->free_span_bytes ||
	     st[2] != t->unmapped_span_bytes))
		tcwarn(t, "the page heap's statistics (system %llu, free %llu, unmapped %llu bytes) differ from its spans (%llu, %llu, %llu)",
		       (unsigned long long)st[0], (unsigned long long)st[1],
		       (unsigned long long)st[2], (unsigned long long)t->span_bytes,
		       (unsigned long long)t->free_span_bytes,
		       (unsigned long long)t->unmapped_span_bytes);
	for (uint32_t c = 1; c < t->n_classes; c++) {
		uint64_t cl = t->central + (uint64_t)c * L->cf_stride, counter = 0, spans = 0;
		rd64(t, cl + L->cf_counter, &counter);
		rd64(t, cl + L->cf_num_spans, &spans);
		if (counter != t->central_found[c] || spans != t->spans_of_class[c])
			tcwarn(t, "class %u: the central cache counts %llu free objects in %llu spans; the walk found %llu in %llu",
			       c, (unsigned long long)counter, (unsigned long long)spans,
			       (unsigned long long)t->central_found[c],
			       (unsigned long long)t->spans_of_class[c]);
	}
}

static struct cprof_error *summarize(struct tc *t, const struct cprof_allocator *self)
{
	struct cprof_allocator s = { .name = "tcmalloc", .stats_name = "MallocExtension" };
	snprintf(s.version, sizeof(s.version), "%s", self->version);
	snprintf(s.found_by, sizeof(s.found_by), "%s", t->how);
	s.used_count = t->used_count;
	s.used_bytes = t->used_bytes;
	s.free_count = t->free_count;
	s.free_bytes = t->free_bytes;
	/* The page heap, then each thread cache. */
	s.arenas = calloc(1 + t->n_threads, sizeof(*s.arenas));
	if (!s.arenas)
		return &cprof_enomem;
	s.n_arenas = 1 + t->n_threads;
	if (t->n_threads)
		memcpy(s.arenas + 1, t->threads, t->n_threads * sizeof(*t->threads));
	struct cprof_arena_summary *a = s.arenas;
	a->addr = t->pageheap;
	strcpy(a->kind, "pageheap");
	a->system_mem = t->span_bytes;
	a->n_heaps = t->n_ranges;
	a->used_count = t->used_count;
	a->used_bytes = t->used_bytes;
	a->free_count = t->free_count;
	a->free_bytes = t->free_bytes;
	/* As TCMallocImplementation::GetNumericProperty computes them. */
	uint64_t central = t->central_bytes + t->slack_bytes;
	uint64_t busy = t->thread_bytes + central + t->transfer_bytes + t->free_span_bytes +
			t->unmapped_span_bytes;
	stat(&s, "generic.current_allocated_bytes", t->span_bytes - busy);
	stat(&s, "generic.heap_size", t->span_bytes);
	stat(&s, "tcmalloc.pageheap_free_bytes", t->free_span_bytes);
	stat(&s, "tcmalloc.pageheap_unmapped_bytes", t->unmapped_span_bytes);
	stat(&s, "tcmalloc.central_cache_free_bytes", central);
	stat(&s, "tcmalloc.transfer_cache_free_bytes", t->transfer_bytes);
	stat(&s, "tcmalloc.thread_cache_free_bytes", t->thread_bytes);
	struct cprof_error *err = cprof_heap_add_summary(t->walk, &s);
	if (err)
		free(s.arenas);
	return err;
}

/* ---- the provider ---- */

static void tc_release_walk(struct tc *t)
{
	free(t->cached);
	free(t->slot);
	free(t->threads);
	t->cached = NULL;
	t->slot = NULL;
	t->threads = NULL;
	t->n_threads = 0;
	t->n_cached = t->cap_cached = t->cap_slot = 0;
}

static void tcmalloc_destroy(void *state)
{
	struct tc *t = state;
	if (!t)
		return;
	tc_release_walk(t);
	free(t->root);
	free(t->ranges);
	free(t);
}

static struct cprof_error *tcmalloc_claim(struct cprof_core *core, struct cprof_heap_walk *walk,
					  struct cprof_allocator *self)
{
	struct tc *t = self->state;
	t->core = core;
	t->walk = walk;
	if (!setup(t, self))
		return NULL;
	struct cprof_error *err = NULL;
	for (size_t i = 0; i < t->n_ranges && !err; i++)
		err = cprof_heap_claim(core, walk, t->ranges[i].start, t->ranges[i].end);
	return err;
}

static struct cprof_error *tcmalloc_walk(struct cprof_core *core, struct cprof_heap_walk *walk,
					 struct cprof_allocator *self, cprof_object_fn *fn,
					 void *arg)
{
	struct tc *t = self->state;
	struct cprof_error *err = NULL;
	t->core = core;
	t->walk = walk;
	t->fn = fn;
	t->fn_arg = arg;
	if (!setup(t, self)) {
		self->heap_state = t->state;
		snprintf(self->reason, sizeof(self->reason), "%s", t->reason);
		if (t->state == CPROF_HEAP_NOT_WALKED)
			tcwarn(t, "%s: heap not walked: %s", self->module->name, t->reason);
		return NULL;
	}
	const struct tc_layout *L = &t->L;
	/* tcmalloc's own state, whose stale words (transfer slots past
	   used_slots_) point into the heap: no root. */
	if ((err = cprof_heap_exclude(walk, t->pageheap, t->pageheap + L->ph_size)) ||
	    (err = cprof_heap_exclude(walk, t->central,
				      t->central + (uint64_t)L->cf_stride * TC_MAX_CLASSES)) ||
	    (err = cprof_heap_exclude(walk, t->sizemap, t->sizemap + L->sm_size)))
		goto out;
	for (size_t i = 0; i < t->n_ranges; i++) {
		struct cprof_heap h = {
			.allocator = "tcmalloc", .kind = "pageheap", .arena = t->pageheap,
			.start = t->ranges[i].start, .end = t->ranges[i].end,
		};
		uint32_t id;
		if ((err = cprof_heap_add(walk, &h, &id)))
			goto out;
		if (i == 0)
			t->heap_base = id;
	}
	if (!collect_transfer(t) || !collect_threads(t)) {
		err = &cprof_enomem;
		goto out;
	}
	if (t->n_cached)
		qsort(t->cached, t->n_cached, sizeof(*t->cached), cached_cmp);
	size_t r = 0;
	if ((!each_span(t, walk_range_span, &r) && !t->stopped) || t->oom) {
		err = &cprof_enomem;
		goto out;
	}
	skip_cached_below(t, UINT64_MAX);
	check_counters(t);
	err = summarize(t, self);
out:
	tc_release_walk(t);
	return err;
}

static struct cprof_error *tcmalloc_detect(struct cprof_core *core, struct cprof_allocator *self,
					   bool *found)
{
	for (size_t i = 0; i < core->n_modules && !*found; i++) {
		const struct cprof_module *m = &core->modules[i];
		if (!cprof_module_defines(core, m, "tc_malloc"))
			continue;
		struct tc *t = calloc(1, sizeof(*t));
		if (!t)
			return &cprof_enomem;
		t->core = core;
		self->state = t;
		*found = true;
		self->module = m;
		snprintf(self->found_by, sizeof(self->found_by), "the symbol tc_malloc in %s",
			 m->name);
		if (!cprof_module_version_string(core, m, "gperftools ", self->version,
						 sizeof(self->version)))
			snprintf(self->version, sizeof(self->version), "unknown");
	}
	return NULL;
}

/* The summary's section: MallocExtension's figures in its own words. */
static void tcmalloc_summary(const struct cprof_allocator *self,
			     const struct cprof_heap_walk *walk,
			     const struct cprof_summary_facts *facts,
			     struct cprof_summary_section *ret)
{
	(void)walk;
	(void)facts;
	size_t n_threads = self->n_arenas ? self->n_arenas - 1 : 0;
	static const char *const labels[] = {
		"allocated", "heap size", "page heap", "unmapped", "central cache",
		"transfer", "thread caches",
	};
	snprintf(ret->title, sizeof(ret->title),
		 "tcmalloc %s (MallocExtension's figures, from the walk)", self->version);
	for (size_t i = 0; i < self->n_stats && i < sizeof(labels) / sizeof(labels[0]); i++) {
		char b[FMT_BYTES_SIZE];
		snprintf(ret->lines[i].label, sizeof(ret->lines[i].label), "%s", labels[i]);
		snprintf(ret->lines[i].text, sizeof(ret->lines[i].text), "%s (%s)",
			 fmt_bytes(b, self->stats[i].value), self->stats[i].name);
		ret->n_lines++;
	}
	if (ret->n_lines == 7)
		snprintf(ret->lines[6].text + strlen(ret->lines[6].text),
			 sizeof(ret->lines[6].text) - strlen(ret->lines[6].text),
			 ", in %zu thread caches", n_threads);
}

const struct cprof_heap_provider cprof_tcmalloc_provider = {
	.name = "tcmalloc",
	.free_lists = tc_free_lists,
	.n_free_lists = TC_N_FREE_LISTS,
	.detect = tcmalloc_detect,
	.claim = tcmalloc_claim,
	.walk = tcmalloc_walk,
	.destroy = tcmalloc_destroy,
	.summary = tcmalloc_summary,
};
