/*
 * jemalloc.c - the jemalloc 5.3 heap walker (docs/jemalloc.md).
 *
 * Found by its own entry points: a module defining mallctl (an unprefixed
 * build: Debian's libjemalloc.so.2, LD_PRELOAD=libjemalloc.so.2) or
 * je_mallctl (a prefixed build, often linked into the executable: then
 * malloc may still be glibc's).  Its version is the JEMALLOC_VERSION string
 * that mallctl("version") returns, "5.3.0-0-g<40 hex digits>", from the
 * module's file.
 *
 * What it reads, in order (claim, before any walker reads heap memory):
 *   1. the extent map: the radix tree of arena_emap_global, which maps every
 *      page jemalloc owns to its extent's edata_t (slabs: every page; large
 *      and free extents: their first and last pages).  Debian's library has
 *      no symbol for it: the tree is found through the lea that
 *      malloc_usable_size makes before it calls the tree's slow lookup, and
 *      each candidate is validated (every leaf's entries name extents that
 *      cover the leaf's own pages), which also gives the offset of the root
 *      array in rtree_t;
 *   2. each extent's edata_t (in address order: the leaves are walked in key
 *      order and an extent is taken at the entry of its first page): arena,
 *      state (active, dirty, muzzy, retained), size class, slab bitmap;
 *   3. the metadata blocks of jemalloc's base allocator (2 MiB aligned
 *      mappings holding the edata_t, the tree's leaves and the arenas),
 *      found from the edata_t addresses and their blocks' next links: they
 *      are claimed and never scanned as roots (an edata_t points to the
 *      first region of its slab and to its large allocation);
 *   4. every thread's tcache: the tcache_t and tcache_slow_t that the
 *      thread's TSD (static TLS, below its fs_base) holds point at each
 *      other; each cache bin's stack lists regions that jemalloc counts as
 *      allocated but that the thread holds free.
 * The walk then emits, extent by extent in address order, every region of
 * every slab (allocated, free in the slab, or cached in a tcache: free,
 * "tcache"), every large allocation (used, or cached), and every dirty,
 * muzzy or retained extent as one free object.
 *
 * Layouts: jemalloc 5.3 on x86-64 (LG_PAGE 12, LG_VADDR 48).  The offsets
 * and sizes of edata_t, cache_bin_t, tcache_t and base_block_t come from
 * jemalloc's DWARF when the module has it (a -g build, a debug file), else
 * from the table below (Debian's build: stripped, no dbgsym package); the
 * size classes from sz_index2size_tab when the module has that symbol (a
 * build that keeps .symtab, a debug file: any LG_QUANTUM), else computed for
 * LG_QUANTUM 4.  Nothing else is assumed and everything read is checked.
 * Corruption is a warning naming the address; every loop is bounded by the
 * tree's size or the memory it reads.
 */
#include <assert.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/heap.h"
#include "cprof/store.h"

/* ---- the layout of jemalloc 5.3 (x86-64) ---- */

enum {
	PAGE = 4096,
	LG_PAGE = 12,
	LG_VADDR = 48,             /* Debian's builds; LG_VADDR 57 too (struct geom) */
	MAX_ROOT_BITS = 18,
	MAX_NSIZES = 256,          /* SC_NSIZES fits EDATA_BITS_SZIND_WIDTH, 8 bits */
	LARGE_MINCLASS = 4 * PAGE, /* SC_LARGE_MINCLASS: smaller classes are slabs' */
	SLAB_MAXREGS = 512,
	EDATA_ALIGN = 128,         /* 5.3's EDATA_ALIGNMENT; 5.2's extent_t: 64 */
	MAX_TCACHE_NBINS = 256,
	MAX_CACHE_BIN = 64,
	HUGEPAGE = 2 << 20,        /* base blocks are aligned to it */
	TLS_WINDOW = 64 << 10,     /* searched below each thread's fs_base */
	MAX_ROOT_OFFSET = 1024,    /* rtree_t.root: after base and init_lock */
	MAX_WARNINGS = 50,
	MAX_BT = 128,              /* PROF_BT_MAX */
};
static const uint64_t MAX_EXTENT = 1ull << 46;    /* half the address space */

/* e_bits, the same in 5.2 and 5.3: the arena index, the slab flag; the
 * rest moved (struct je_layout) */
enum {
	ARENA_SHIFT = 0, ARENA_BITS = 12,
	SLAB_SHIFT = 12,
	SZIND_BITS = 8, NFREE_BITS = 10,
};
/* rtree leaf entry (RTREE_LEAF_COMPACT): 5.3 edata | szind << 48 | state << 2 |
 * head << 1 | slab; 5.2 extent | szind << 48 | slab */
enum { LEAF_STATE_SHIFT = 2 };

/*
 * What differs between the versions read (bytes, bits).  The tables' values
 * are jemalloc 5.3.0's on x86-64 (Debian 12's libjemalloc2, checked against a
 * -g build of Debian's source by t0340) and 5.2.1's (Debian 11's
 * libjemalloc2 5.2.1-3, checked against a -g build of upstream 5.2.1 and by
 * t0340 on Debian's library).
 */
struct je_layout {
	const char *name;          /* "5.3" */
	/* the extent map: root[] follows a base_t pointer (5.3: its first word
	   is nonzero, and a metadata block); the leaves' extent pointers are
	   aligned to leaf_align; their entries carry the extent's state */
	bool rtree_base, leaf_state;
	uint32_t leaf_align;
	/* e_bits: the state (its width), the size class, the free count */
	uint32_t state_shift, state_bits, szind_shift, nfree_shift;
	/* the tcache: 5.3's tcache_t points to its tcache_slow_t (below it in
	   the TSD); 5.2's is found by its cache_bin_array_descriptor_t, which
	   points to its small and large bins (tc52_desc: where its bins_small
	   pointer is; bins_large follows it) */
	bool tcache52;
	uint32_t tc52_small, tc52_desc, tc52_large, tc52_nlarge;
	uint32_t cb52_ncached, cb52_avail;     /* 5.2's cache_bin_t: items below avail */
	/* edata_t: e_bits, e_addr, e_size_esn, e_slab_data.bitmap,
	   e_prof_info.e_prof_tctx (large extents) */
	uint32_t e_bits, e_addr, e_size, e_bitmap, e_prof_tctx;
	/* cache_bin_t: stack_head, low_bits_full, low_bits_empty; its size */
	uint32_t cb_stack_head, cb_low_full, cb_low_empty, cb_size;
	uint32_t tc_bins, tc_nbins;            /* tcache_t.bins: where, how many */
	/* base_block_t: size, next, the edata_t of its tail; its size */
	uint32_t bb_size, bb_next, bb_edata, bb_header;
};
static const struct je_layout je53_table = {
	.name = "5.3", .rtree_base = true, .leaf_state = true, .leaf_align = 128,
	.state_shift = 17, .state_bits = 3, .szind_shift = 20, .nfree_shift = 28,
	.e_bits = 0, .e_addr = 8, .e_size = 16, .e_bitmap = 64, .e_prof_tctx = 80,
	.cb_stack_head = 0, .cb_low_full = 18, .cb_low_empty = 20, .cb_size = 24,
	.tc_bins = 8, .tc_nbins = 73,
	.bb_size = 0, .bb_next = 8, .bb_edata = 16, .bb_header = 144,
};
static const struct je_layout je52_table = {
	.name = "5.2", .rtree_base = false, .leaf_state = false, .leaf_align = 64,
	.state_shift = 16, .state_bits = 2, .szind_shift = 18, .nfree_shift = 26,
	.e_bits = 0, .e_addr = 8, .e_size = 16, .e_bitmap = 64, .e_prof_tctx = 72,
	.tcache52 = true, .tc52_small = 16, .tc52_desc = 936, .tc52_large = 1000,
	.tc52_nlarge = 196, .cb52_ncached = 4, .cb52_avail = 16, .cb_size = 24,
	.bb_size = 0, .bb_next = 8, .bb_edata = 16, .bb_header = 144,
};

/*
 * The extent map's shape, set by LG_VADDR at jemalloc's configure (which takes
 * it from the CPU it runs on): 48 bits, 36 of them significant above the page,
 * in two levels of 18 bits with one-word leaf entries (RTREE_LEAF_COMPACT:
 * the metadata in the pointer's unused high bits); or 57 bits (a CPU with
 * 5-level paging), 45 significant, in three levels of 15 bits with two-word
 * entries (le_edata, then le_metadata: slab | head << 1 | state << 2 |
 * szind << 5).  Both are tried on a build without DWARF.
 */
struct geom {
	uint32_t lg_vaddr, levels;
	uint32_t bits[3];          /* root, [middle,] leaf */
	bool compact;
};
static const struct geom geom48 = { 48, 2, { 18, 18 }, true };
static const struct geom geom57 = { 57, 3, { 15, 15, 15 }, false };

enum extent_state { ST_ACTIVE, ST_DIRTY, ST_MUZZY, ST_RETAINED, ST_N };

/* Where a free object sits: its free_list, an index into je_free_lists. */
enum je_free_list { JE_NONE, JE_TCACHE, JE_SLAB, JE_DIRTY, JE_MUZZY, JE_RETAINED, JE_N_LISTS };
static const char *const je_free_lists[JE_N_LISTS] = {
	NULL, "tcache", "slab", "dirty", "muzzy", "retained",
};

static uint64_t bits(uint64_t v, unsigned shift, unsigned width)
{
	return (v >> shift) & ((1ull << width) - 1);
}

/* ---- state ---- */

struct extent {
	uint64_t edata;
	uint64_t base, size;       /* [base, base + size) */
	uint64_t addr;             /* e_addr: a large allocation's user address */
	uint32_t arena;
	uint16_t szind;
	uint8_t state;             /* enum extent_state */
	bool slab;
};

struct cached {
	uint64_t addr;
	uint32_t szind;
};

struct range {
	uint64_t start, end;
};

struct arena_sum {
	bool seen;
	struct cprof_arena_summary s;
};

struct jem {
	struct cprof_core *core;
	const struct cprof_module *module;
	char how_tree[96], how_tcache[96];
	bool found;                /* the extent map was found (claim) */
	char why[200];             /* why not, when not */

	uint64_t rtree, root;      /* &arena_emap_global.rtree, &rtree->root[0] */
	struct geom g;             /* the map's shape */
	uint64_t *seen_tcaches;    /* the tcaches read */
	size_t n_seen, cap_seen;
	struct node *nodes;        /* below the root: middle nodes, then leaves by key */
	size_t n_nodes, cap_nodes;
	struct je_layout lay;
	char how_layout[160];
	uint64_t sizes[MAX_NSIZES]; /* sz_index2size */
	uint32_t nsizes, nbins;    /* SC_NSIZES, SC_NBINS */

	struct extent *ext;        /* in address order */
	size_t n_ext, cap_ext;
	struct range *blocks;      /* base blocks, sorted */
	size_t n_blocks, cap_blocks;
	struct cached *cached;     /* tcache'd regions, sorted by address */
	size_t n_cached, cap_cached;
	uint64_t *internal;        /* tcache stacks (dyn_alloc), sorted */
	size_t n_internal, cap_internal;
	size_t n_tcaches;

	uint64_t *buf;             /* one root or leaf array */
	size_t n_warnings;

	/* the profiler's records (prof:true): a sampled allocation's
	   prof_tctx_t leads to its prof_gctx_t, which holds its stack */
	struct cprof_site_record *sites;
	size_t n_sites, cap_sites;
	struct cprof_site_sample *samples;
	size_t n_samples, cap_samples;
	uint32_t *site_slots;      /* open addressing on the gctx: site index + 1 */
	size_t n_slots;
	int64_t tctx_gctx, gctx_bt;  /* offsets found in the data, -1 until then */
};

/* A warning about the heap's data, with where it was noticed (the macro). */
#define jwarn(j, ...) jwarn_at((j), __FILE__, __LINE__, __VA_ARGS__)
static __attribute__((format(printf, 4, 5)))
void jwarn_at(struct jem *j, const char *src_file, int src_line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cprof_heap_vwarn(j->core, "jemalloc", &j->n_warnings, MAX_WARNINGS, src_file, src_line, fmt, ap);
	va_end(ap);
}

static bool rd(struct jem *j, uint64_t addr, void *buf, size_t len)
{
	return cprof_core_try_read(j->core, addr, buf, len);
}

static bool rd64(struct jem *j, uint64_t addr, uint64_t *v)
{
	return rd(j, addr, v, 8);
}

/* Grows *a (n used of *cap elements of size sz) for one more. */
static bool grow(void **a, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	void *p = realloc(*a, c * sz);
	if (!p)
		return false;
	*a = p;
	*cap = c;
	return true;
}

/* The size classes of LG_QUANTUM 4, LG_PAGE 12 (sc.c): 8; 16, 32, 48, 64;
 * then four per doubling, 2^g + k 2^(g-2) for k = 1..4: 232 of them. */
static uint32_t size_classes(uint64_t *sz)
{
	enum { NSIZES_Q4 = 232 };
	uint32_t k = 0;
	sz[k++] = 8;
	for (uint64_t n = 1; n <= 4; n++)
		sz[k++] = 16 * n;
	for (unsigned g = 6; k < NSIZES_Q4; g++)
		for (uint64_t n = 1; n <= 4 && k < NSIZES_Q4; n++)
			sz[k++] = (1ull << g) + (n << (g - 2));
	return k;
}

/*
 * Reads n words at addr into j->buf, or points *ret into the core; false
 * when some page is missing (the pages that are there are read, the others
 * zero, and *missing counts them).
 */
static bool words(struct jem *j, uint64_t addr, size_t n, const uint64_t **ret,
		  size_t *missing)
{
	*missing = 0;
	const uint64_t *p = cprof_core_ptr(j->core, addr, n * 8);
	if (p && (uintptr_t)p % 8 == 0) {  /* a core may place a segment anywhere */
		*ret = p;
		return true;
	}
	/* Run by run (a page at a time cost a lookup per page, 512 per
	   root); each PAGE-sized piece that lacks a byte reads as zeros. */
	uint8_t *out = (uint8_t *)j->buf;
	uint64_t len = n * 8, zero_to = 0;  /* [0, zero_to): zeroed pieces */
	*ret = j->buf;
	if (addr + len < addr) {
		memset(out, 0, len);
		*missing = (len + PAGE - 1) / PAGE;
		return false;
	}
	for (uint64_t a = addr, run_end; a < addr + len; a = run_end) {
		const uint8_t *src = cprof_core_run(j->core, a, addr + len, &run_end);
		uint64_t from = a - addr, to = run_end - addr;
		if (src) {
			if (to > zero_to)
				memcpy(out + (from > zero_to ? from : zero_to),
				       src + (from > zero_to ? 0 : zero_to - from),
				       to - (from > zero_to ? from : zero_to));
			continue;
		}
		uint64_t zs = from / PAGE * PAGE, ze = ((to - 1) / PAGE + 1) * PAGE;
		ze = ze < len ? ze : len;
		*missing += (ze - zs + PAGE - 1) / PAGE - (zs < zero_to);
		memset(out + zs, 0, ze - zs);
		zero_to = ze;
	}
	return *missing == 0;
}

/* One leaf entry: the edata_t it names and the metadata kept beside it
 * (5.2's compact entries carry no state). */
struct leaf_entry {
	uint64_t edata;
	uint32_t szind, state;
	bool slab;
};

/* Entry i of the leaf whose words are w. */
static void leaf_entry(const struct jem *j, const uint64_t *w, size_t i, struct leaf_entry *e)
{
	uint64_t align_mask = ~(uint64_t)(j->lay.leaf_align - 1);
	if (j->g.compact) {
		uint64_t v = w[i];
		unsigned hib = 64 - j->g.lg_vaddr;
		e->edata = (uint64_t)((int64_t)(v << hib) >> hib) & align_mask;
		e->szind = (uint32_t)(v >> j->g.lg_vaddr);
		e->state = (uint32_t)bits(v, LEAF_STATE_SHIFT, j->lay.state_bits);
		e->slab = v & 1;
		return;
	}
	uint32_t meta = (uint32_t)w[2 * i + 1];
	e->edata = w[2 * i] & align_mask;
	e->slab = meta & 1;
	e->state = (uint32_t)bits(meta, LEAF_STATE_SHIFT, j->lay.state_bits);
	e->szind = (uint32_t)bits(meta, LEAF_STATE_SHIFT + j->lay.state_bits, SZIND_BITS);
}

static size_t entry_words(const struct jem *j)
{
	return j->g.compact ? 1 : 2;
}

/* Entries of a node at level (the leaves: the last), and its size in words. */
static size_t level_entries(const struct jem *j, uint32_t level)
{
	return (size_t)1 << j->g.bits[level];
}

static size_t level_words(const struct jem *j, uint32_t level)
{
	return level_entries(j, level) * (level + 1 == j->g.levels ? entry_words(j) : 1);
}

/* The page of entry i of a leaf whose key so far is prefix (the indices of
 * the levels above, concatenated). */
static uint64_t leaf_key(const struct jem *j, uint64_t prefix, uint64_t i)
{
	return ((prefix << j->g.bits[j->g.levels - 1]) | i) << LG_PAGE;
}

/* The words of an edata_t that name its extent. */
struct edata_head {
	uint64_t bits, addr, size;
};

/* Reads edata_t e's head: one read of its first bytes up to the last of
 * the three words. */
static bool read_head(struct jem *j, uint64_t e, struct edata_head *h)
{
	const struct je_layout *l = &j->lay;
	uint32_t end = l->e_bits > l->e_addr ? l->e_bits : l->e_addr;
	end = (end > l->e_size ? end : l->e_size) + 8;
	uint8_t buf[EDATA_ALIGN];
	assert(end <= sizeof(buf));
	if (!rd(j, e, buf, end))
		return false;
	memcpy(&h->bits, buf + l->e_bits, 8);
	memcpy(&h->addr, buf + l->e_addr, 8);
	memcpy(&h->size, buf + l->e_size, 8);
	return true;
}

/* ---- finding the extent map ---- */

/* One leaf's first entry, decoded: the extent covering key index first. */
struct leaf_probe {
	uint64_t leaf;
	size_t first;              /* index of the first nonzero entry */
	uint64_t base, size;       /* of the extent it names */
	bool ok;
};

static void probe_leaf(struct jem *j, uint64_t leaf, struct leaf_probe *p)
{
	*p = (struct leaf_probe){ .leaf = leaf };
	const uint64_t *w;
	size_t missing;
	const uint32_t last = j->g.levels - 1;
	const size_t n = level_words(j, last), ew = entry_words(j);
	if (leaf % 8 || !words(j, leaf, n, &w, &missing))
		return;
	for (size_t k = cprof_next_nonzero(w, 0, n); k < n; k = cprof_next_nonzero(w, k + 1, n)) {
		struct leaf_entry le;
		leaf_entry(j, w, k / ew, &le);
		if (!le.edata)
			continue;
		struct edata_head e;
		if (!read_head(j, le.edata, &e))
			return;
		p->first = k / ew;
		p->base = e.addr & ~(uint64_t)(PAGE - 1);
		p->size = e.size & ~(uint64_t)(PAGE - 1);
		p->ok = p->size && p->base + p->size > p->base;
		return;
	}
}

/* Whether v can be a node of level (cache-line aligned, its bytes readable
 * at both ends: other globals lie around the root). */
static bool node_at(struct jem *j, uint64_t v, uint32_t level)
{
	uint64_t x;
	return v && v % 64 == 0 && rd64(j, v, &x) &&
	       rd64(j, v + 8 * level_words(j, level) - 8, &x);
}

/*
 * Whether rtree_t candidate r is the extent map, with the shape in j->g:
 * some offset o puts root[] at r + o such that every nonzero root entry i
 * leads (through its first middle entry, with three levels) to a leaf
 * whose first entry names an extent covering that entry's page.  Sets
 * j->root.
 */
static bool valid_rtree(struct jem *j, uint64_t r)
{
	uint64_t base;
	const size_t n_root = level_entries(j, 0);
	const size_t span = MAX_ROOT_OFFSET / 8 + n_root;
	if (r % 8 || !rd64(j, r, &base) || (j->lay.rtree_base && !base))
		return false;
	const uint64_t *w;
	size_t missing;
	if (!words(j, r, span, &w, &missing))
		return false;
	/* the nonzero words that can be nodes, each probed once */
	struct leaf_probe probes[64] = { 0 };
	size_t pos[64], n = 0;
	for (size_t i = cprof_next_nonzero(w, 2, span); i < span;
	     i = cprof_next_nonzero(w, i + 1, span)) {
		if (!node_at(j, w[i], 1))
			continue;
		if (n == 64)
			return false;      /* a root has a node per GiB (2 levels) in use */
		pos[n] = i;
		probes[n++].leaf = w[i];
	}
	/* with three levels, each middle node's first child: mid[k] its index */
	uint64_t mid[64] = { 0 };
	for (size_t k = 0; k < n && j->g.levels == 3; k++) {
		const uint64_t *m;
		size_t nm = level_entries(j, 1), i;
		uint64_t node = probes[k].leaf;    /* w may be j->buf: not read again */
		probes[k].leaf = 0;
		if (!words(j, node, nm, &m, &missing))
			continue;
		i = cprof_next_nonzero(m, 0, nm);
		if (i < nm && node_at(j, m[i], 2)) {
			mid[k] = i;
			probes[k].leaf = m[i];
		}
	}
	for (size_t k = 0; k < n; k++)
		if (probes[k].leaf)
			probe_leaf(j, probes[k].leaf, &probes[k]);
		else
			probes[k].ok = false;
	for (size_t o = 2; o < MAX_ROOT_OFFSET / 8; o++) {
		size_t good = 0, bad = 0;
		for (size_t k = 0; k < n && !bad; k++) {
			if (pos[k] < o || pos[k] >= o + n_root)
				continue;
			uint64_t prefix = pos[k] - o;
			if (j->g.levels == 3)
				prefix = (prefix << j->g.bits[1]) | mid[k];
			uint64_t key = leaf_key(j, prefix, probes[k].first);
			if (probes[k].ok && probes[k].base <= key && key < probes[k].base + probes[k].size)
				good++;
			else
				bad++;
		}
		if (good && !bad) {
			j->rtree = r;
			j->root = r + 8 * o;
			return true;
		}
	}
	return false;
}

static bool in_module_data(struct jem *j, uint64_t addr)
{
	const struct cprof_segment *s = cprof_core_segment(j->core, addr);
	return s && (s->flags & CPROF_SEG_W) && cprof_core_module(j->core, addr) == j->module;
}

/* The RIP-relative lea targets of function fn in the module's data. */
static size_t lea_targets(struct jem *j, const char *fn, uint64_t *out, size_t max)
{
	uint64_t addr, size = 0;
	if (!cprof_core_find_symbol(j->core, j->module, fn, &addr, &size))
		return 0;
	struct cprof_insn *ins;
	size_t n, k = 0;
	struct cprof_error *err = cprof_disasm_refs(j->core, addr, size ? size : 1024, &ins, &n);
	if (err) {
		cprof_error_destroy(err);
		return 0;
	}
	for (size_t i = 0; i < n && k < max; i++)
		if (ins[i].kind == CPROF_INSN_LEA && in_module_data(j, ins[i].target))
			out[k++] = ins[i].target;
	free(ins);
	return k;
}

/* arena_emap_global (5.2: extents_rtree): its symbol (builds that keep
 * .symtab), else a lea of malloc_usable_size or sallocx (the tree's slow
 * lookup takes its address). */
static bool find_rtree(struct jem *j)
{
	static const char *const syms53[] = { "je_arena_emap_global", "arena_emap_global" };
	static const char *const syms52[] = { "je_extents_rtree", "extents_rtree" };
	const char *const *syms = j->lay.tcache52 ? syms52 : syms53;
	static const char *const fns[] = {
		"malloc_usable_size", "je_malloc_usable_size", "sallocx", "je_sallocx",
	};
	for (size_t i = 0; i < 2; i++) {
		uint64_t a;
		if (cprof_core_find_symbol(j->core, j->module, syms[i], &a, NULL) &&
		    valid_rtree(j, a)) {
			snprintf(j->how_tree, sizeof(j->how_tree), "symbol %s", syms[i]);
			return true;
		}
	}
	for (size_t i = 0; i < 4; i++) {
		uint64_t c[32];
		size_t n = lea_targets(j, fns[i], c, 32);
		for (size_t k = 0; k < n; k++)
			if (valid_rtree(j, c[k])) {
				snprintf(j->how_tree, sizeof(j->how_tree),
					 "the lea at its slow lookup in %s", fns[i]);
				return true;
			}
	}
	return false;
}

/* ---- the extents ---- */

/* Checks edata e's head as leaf entry v names it. */
static bool sound_extent(struct jem *j, uint64_t edata, const struct edata_head *e,
			 const struct leaf_entry *v, struct extent *x)
{
	const struct je_layout *l = &j->lay;
	uint64_t state = bits(e->bits, l->state_shift, l->state_bits);
	*x = (struct extent){
		.edata = edata,
		.addr = e->addr,
		.base = e->addr & ~(uint64_t)(PAGE - 1),
		.size = e->size & ~(uint64_t)(PAGE - 1),
		.arena = (uint32_t)bits(e->bits, ARENA_SHIFT, ARENA_BITS),
		.szind = (uint16_t)bits(e->bits, l->szind_shift, SZIND_BITS),
		.slab = bits(e->bits, SLAB_SHIFT, 1),
		.state = (uint8_t)state,
	};
	const char *bad = NULL;
	if (state >= ST_N)
		bad = "in transition (a thread was changing it)";
	else if (l->leaf_state && state != v->state)
		bad = "its state differs from the extent map's";
	else if (!x->size || x->size > MAX_EXTENT || x->base + x->size < x->base)
		bad = "impossible size";
	else if (!cprof_core_segment(j->core, x->base))
		bad = "not in the process's mappings";
	else if (state == ST_ACTIVE && (x->szind >= j->nsizes || x->szind != v->szind ||
					x->slab != v->slab))
		bad = "its size class or slab flag differs from the extent map's";
	else if (state == ST_ACTIVE && x->slab &&
		 (x->szind >= j->nbins || x->size / j->sizes[x->szind] > SLAB_MAXREGS ||
		  x->addr != x->base))
		bad = "a slab with an impossible size class";
	else if (state == ST_ACTIVE && !x->slab &&
		 (x->addr - x->base >= PAGE || x->addr + j->sizes[x->szind] > x->base + x->size))
		bad = "a large allocation that does not fit its extent";
	if (bad)
		jwarn(j, "extent 0x%llx (edata 0x%llx): %s; skipped",
		      (unsigned long long)x->base, (unsigned long long)edata, bad);
	return !bad;
}

/* The extents of the leaf at key prefix, in address order. */
static struct cprof_error *leaf_extents(struct jem *j, uint64_t prefix, uint64_t leaf)
{
	const uint64_t *w;
	size_t missing;
	const size_t n = level_words(j, j->g.levels - 1), ew = entry_words(j);
	if (!words(j, leaf, n, &w, &missing))
		jwarn(j, "extent map leaf 0x%llx: %zu pages not in the core",
		      (unsigned long long)leaf, missing);
	uint64_t last = 0;
	for (size_t k = cprof_next_nonzero(w, 0, n); k < n; k = cprof_next_nonzero(w, k + 1, n)) {
		size_t i = k / ew;
		struct leaf_entry v;
		leaf_entry(j, w, i, &v);
		/* no edata: a cleared entry (its size class says none) */
		if (!v.edata || v.edata == last)
			continue;
		uint64_t edata = v.edata;
		last = edata;
		uint64_t key = leaf_key(j, prefix, i);
		struct edata_head e;
		struct extent x;
		if (!read_head(j, edata, &e)) {
			jwarn(j, "page 0x%llx: its edata 0x%llx is not in the core",
			      (unsigned long long)key, (unsigned long long)edata);
			continue;
		}
		if ((e.addr & ~(uint64_t)(PAGE - 1)) != key) {
			/* a large or free extent's last page: seen at its first */
			if (!j->n_ext || j->ext[j->n_ext - 1].edata != edata)
				jwarn(j, "page 0x%llx: its extent (edata 0x%llx) starts at 0x%llx, whose page is not in the map",
				      (unsigned long long)key, (unsigned long long)edata,
				      (unsigned long long)e.addr);
			continue;
		}
		if (!sound_extent(j, edata, &e, &v, &x))
			continue;
		if (j->n_ext && x.base < j->ext[j->n_ext - 1].base + j->ext[j->n_ext - 1].size) {
			jwarn(j, "extent 0x%llx overlaps the one before it; skipped",
			      (unsigned long long)x.base);
			continue;
		}
		if (!grow((void **)&j->ext, j->n_ext, &j->cap_ext, sizeof(*j->ext)))
			return &cprof_enomem;
		j->ext[j->n_ext++] = x;
	}
	return NULL;
}

/*
 * The extent map's nodes below the root, read once (collect_nodes): the
 * leaves in key order, each with its key prefix, and with three levels the
 * middle nodes.  Each is checked before it is read: cache-line aligned,
 * wholly in the core, and apart from every other node (a tree shares no
 * node) - so that a damaged root, whose 2^18 entries could all name one
 * leaf, costs no more than the bytes the core holds.
 */
struct node {
	uint64_t addr, prefix;
	uint32_t level;
};

/* Whether the node of level at addr is cache-line aligned and wholly in the
 * core (no read yet: a run at a time). */
static bool node_present(struct jem *j, uint64_t addr, uint32_t level)
{
	uint64_t len = 8 * level_words(j, level), end = addr + len, run_end;
	if (!addr || addr % 64 || end < addr)
		return false;
	for (uint64_t a = addr; a < end; a = run_end)
		if (!cprof_core_run(j->core, a, end, &run_end))
			return false;
	return true;
}

static int node_addr_cmp(const void *x, const void *y)
{
	const struct node *a = x, *b = y;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int node_key_cmp(const void *x, const void *y)
{
	const struct node *a = x, *b = y;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

/* Adds the node at addr, or counts it as absent. */
static struct cprof_error *add_node(struct jem *j, uint64_t addr, uint64_t prefix,
				    uint32_t level, size_t *absent)
{
	if (!node_present(j, addr, level)) {
		++*absent;
		return NULL;
	}
	if (!grow((void **)&j->nodes, j->n_nodes, &j->cap_nodes, sizeof(*j->nodes)))
		return &cprof_enomem;
	j->nodes[j->n_nodes++] = (struct node){ addr, prefix, level };
	return NULL;
}

/* Drops the nodes (sorted by address) that meet the one kept before them. */
static void drop_shared_nodes(struct jem *j)
{
	size_t k = 0, dropped = 0;
	uint64_t end = 0;
	for (size_t i = 0; i < j->n_nodes; i++) {
		const struct node *n = &j->nodes[i];
		if (k && n->addr < end) {
			dropped++;
			continue;
		}
		end = n->addr + 8 * level_words(j, n->level);
		j->nodes[k++] = *n;
	}
	if (dropped)
		jwarn(j, "extent map: %zu entries name a node another entry names or overlaps; skipped",
		      dropped);
	j->n_nodes = k;
}

static struct cprof_error *collect_nodes(struct jem *j)
{
	size_t absent = 0, n_root = level_entries(j, 0), missing;
	const uint64_t *w;
	if (!words(j, j->root, n_root, &w, &missing))
		jwarn(j, "extent map root 0x%llx: %zu pages not in the core",
		      (unsigned long long)j->root, missing);
	uint64_t *root = malloc(n_root * sizeof(*root));
	if (!root)
		return &cprof_enomem;
	memcpy(root, w, n_root * 8);
	struct cprof_error *err = NULL;
	for (size_t i = cprof_next_nonzero(root, 0, n_root); i < n_root && !err;
	     i = cprof_next_nonzero(root, i + 1, n_root))
		err = add_node(j, root[i], i, 1, &absent);   /* a leaf, or a middle node */
	free(root);
	if (!err && j->g.levels == 3) {
		/* the middle nodes, apart, then their children */
		qsort(j->nodes, j->n_nodes, sizeof(*j->nodes), node_addr_cmp);
		drop_shared_nodes(j);
		size_t n_mid = j->n_nodes, nm = level_entries(j, 1);
		for (size_t k = 0; k < n_mid && !err; k++) {
			struct node mid = j->nodes[k];
			const uint64_t *m;
			words(j, mid.addr, nm, &m, &missing);   /* wholly there: checked */
			for (size_t i = cprof_next_nonzero(m, 0, nm); i < nm && !err;
			     i = cprof_next_nonzero(m, i + 1, nm))
				err = add_node(j, m[i], (mid.prefix << j->g.bits[1]) | i, 2, &absent);
		}
	}
	if (err)
		return err;
	if (absent)
		jwarn(j, "extent map: %zu entries name a node that is misaligned or not wholly in the core; skipped",
		      absent);
	qsort(j->nodes, j->n_nodes, sizeof(*j->nodes), node_addr_cmp);
	drop_shared_nodes(j);
	/* the middle nodes first, then the leaves in key order */
	qsort(j->nodes, j->n_nodes, sizeof(*j->nodes), node_key_cmp);
	return NULL;
}

static struct cprof_error *read_extents(struct jem *j)
{
	struct cprof_error *err = collect_nodes(j);
	for (size_t i = 0; i < j->n_nodes && !err; i++)
		if (j->nodes[i].level == j->g.levels - 1)
			err = leaf_extents(j, j->nodes[i].prefix, j->nodes[i].addr);
	return err;
}

/* ---- base blocks (metadata) ---- */

static bool in_blocks(const struct jem *j, uint64_t a)
{
	for (size_t i = 0; i < j->n_blocks; i++)
		if (j->blocks[i].start <= a && a < j->blocks[i].end)
			return true;
	return false;
}

/* Whether a base block starts at b (and holds a when a is nonzero). */
static bool base_block(struct jem *j, uint64_t b, uint64_t a, uint64_t *size)
{
	const struct je_layout *l = &j->lay;
	uint64_t next;
	struct edata_head tail;
	if (b % HUGEPAGE || !rd64(j, b + l->bb_size, size) || !rd64(j, b + l->bb_next, &next) ||
	    !read_head(j, b + l->bb_edata, &tail))
		return false;
	return *size && *size % HUGEPAGE == 0 && *size <= (1ull << 40) &&
	       next % HUGEPAGE == 0 && (!a || a < b + *size) &&
	       tail.addr >= b + l->bb_header && tail.addr <= b + *size &&
	       tail.addr + tail.size == b + *size;
}

static struct cprof_error *add_block(struct jem *j, uint64_t b, uint64_t size)
{
	if (!grow((void **)&j->blocks, j->n_blocks, &j->cap_blocks, sizeof(*j->blocks)))
		return &cprof_enomem;
	j->blocks[j->n_blocks++] = (struct range){ b, b + size };
	return NULL;
}

/* The base block holding metadata address a, and the blocks its next links
 * reach (a base's older blocks). */
static struct cprof_error *block_of(struct jem *j, uint64_t a)
{
	if (in_blocks(j, a))
		return NULL;
	uint64_t b = a & ~(uint64_t)(HUGEPAGE - 1), size;
	for (int k = 0; k < 512 && b; k++, b -= HUGEPAGE) {
		if (!base_block(j, b, a, &size))
			continue;
		struct cprof_error *err;
		for (int n = 0; n < 4096 && b && !in_blocks(j, b); n++) {
			if ((err = add_block(j, b, size)))
				return err;
			uint64_t next;
			if (!rd64(j, b + j->lay.bb_next, &next) || !next)
				break;
			if (!base_block(j, next, 0, &size)) {
				jwarn(j, "base block 0x%llx: its next link 0x%llx is no block",
				      (unsigned long long)b, (unsigned long long)next);
				break;
			}
			b = next;
		}
		return NULL;
	}
	return NULL;
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The first extent (sorted, disjoint) ending past a, or n_ext. */
static size_t extent_after(const struct jem *j, uint64_t a)
{
	size_t lo = 0, hi = j->n_ext;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->ext[mid].base + j->ext[mid].size <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Drops the blocks (sorted) that overlap the one before them or an extent:
 * damaged metadata (a block's size, an extent's) can make them meet, and
 * every region is claimed once (cprof_heap_claim: twice is a bug).
 */
static void drop_overlapping_blocks(struct jem *j)
{
	size_t k = 0;
	for (size_t i = 0; i < j->n_blocks; i++) {
		struct range b = j->blocks[i];
		size_t e = extent_after(j, b.start);
		if (k && b.start < j->blocks[k - 1].end)
			jwarn(j, "base block 0x%llx-0x%llx overlaps the block at 0x%llx; skipped",
			      (unsigned long long)b.start, (unsigned long long)b.end,
			      (unsigned long long)j->blocks[k - 1].start);
		else if (e < j->n_ext && j->ext[e].base < b.end)
			jwarn(j, "base block 0x%llx-0x%llx overlaps the extent at 0x%llx; skipped",
			      (unsigned long long)b.start, (unsigned long long)b.end,
			      (unsigned long long)j->ext[e].base);
		else
			j->blocks[k++] = b;
	}
	j->n_blocks = k;
}

/* Every block holding an edata_t, an extent map leaf or the map's base_t. */
static struct cprof_error *find_blocks(struct jem *j)
{
	struct cprof_error *err = NULL;
	uint64_t b0;
	if (j->lay.rtree_base && rd64(j, j->rtree, &b0) && (err = block_of(j, b0)))
		return err;
	for (size_t i = 0; i < j->n_nodes && !err; i++)
		err = block_of(j, j->nodes[i].addr);
	if (err)
		return err;
	for (size_t i = 0; i < j->n_ext && !err; i++)
		err = block_of(j, j->ext[i].edata);
	if (!err && j->n_blocks)
		qsort(j->blocks, j->n_blocks, sizeof(*j->blocks), range_cmp);
	if (!err)
		drop_overlapping_blocks(j);
	return err;
}

/* ---- the tcaches ---- */

/* Whether tcache t was found from another thread already (damaged fs_base
 * values can lead every thread to one tcache: it is read once).  Quadratic
 * in the threads' tcaches, which are as many as the threads at most. */
static bool tcache_seen(struct jem *j, uint64_t t)
{
	for (size_t i = 0; i < j->n_seen; i++)
		if (j->seen_tcaches[i] == t) {
			jwarn(j, "tcache 0x%llx is found from two threads; read once",
			      (unsigned long long)t);
			return true;
		}
	if (grow((void **)&j->seen_tcaches, j->n_seen, &j->cap_seen, sizeof(*j->seen_tcaches)))
		j->seen_tcaches[j->n_seen++] = t;
	return false;
}

/* Adds the items of one cache bin (n of them at stack) as cached in bin szind. */
static struct cprof_error *add_cached(struct jem *j, uint64_t stack, uint32_t n,
				      uint32_t szind, int thread)
{
	uint64_t *items = malloc((size_t)n * 8);
	if (!items)
		return &cprof_enomem;
	if (!rd(j, stack, items, (size_t)n * 8)) {
		jwarn(j, "thread %d: tcache bin %u's stack 0x%llx is not in the core",
		      j->core->threads[thread].tid, szind, (unsigned long long)stack);
		free(items);
		return NULL;
	}
	for (uint32_t k = 0; k < n; k++) {
		if (!grow((void **)&j->cached, j->n_cached, &j->cap_cached, sizeof(*j->cached))) {
			free(items);
			return &cprof_enomem;
		}
		j->cached[j->n_cached++] = (struct cached){ items[k], szind };
	}
	free(items);
	return NULL;
}

/* The bins of the tcache_t at t: each one's cached regions. */
static struct cprof_error *tcache_bins(struct jem *j, uint64_t t, int thread)
{
	const struct je_layout *l = &j->lay;
	for (uint32_t i = 0; i < l->tc_nbins; i++) {
		uint8_t cb[MAX_CACHE_BIN];
		uint64_t head;
		uint16_t full, empty;
		assert(l->cb_size <= sizeof(cb));
		if (!rd(j, t + l->tc_bins + (uint64_t)i * l->cb_size, cb, l->cb_size))
			break;
		memcpy(&head, cb + l->cb_stack_head, 8);
		memcpy(&full, cb + l->cb_low_full, 2);
		memcpy(&empty, cb + l->cb_low_empty, 2);
		if (!head)
			continue;              /* bins past nhbins: never set up */
		uint16_t max = (uint16_t)(empty - full) / 8;
		uint16_t n = (uint16_t)(empty - (uint16_t)head) / 8;
		if (!max || !n)
			continue;
		if (n > max) {
			jwarn(j, "thread %d: tcache 0x%llx bin %u holds %u items but has room for %u; skipped",
			      j->core->threads[thread].tid, (unsigned long long)t, i, n, max);
			continue;
		}
		struct cprof_error *err = add_cached(j, head, n, i, thread);
		if (err)
			return err;
	}
	return NULL;
}

/*
 * 5.2's tcache_t at t: bins_small[nbins] at tc52_small, bins_large at
 * tc52_large (the bins past nhbins never set up: no avail).  A bin's
 * ncached items lie right below its avail pointer.  The bins' stacks are
 * one allocation of jemalloc's own, holding bin 0's last slot.
 */
static struct cprof_error *tcache52_bins(struct jem *j, uint64_t t, int thread)
{
	const struct je_layout *l = &j->lay;
	uint32_t n_bins = j->nbins + l->tc52_nlarge;
	for (uint32_t i = 0; i < n_bins && i < MAX_NSIZES; i++) {
		uint64_t at = i < j->nbins ? t + l->tc52_small + (uint64_t)i * l->cb_size :
			      t + l->tc52_large + (uint64_t)(i - j->nbins) * l->cb_size;
		uint8_t cb[MAX_CACHE_BIN];
		int32_t ncached;
		uint64_t avail;
		if (!rd(j, at, cb, l->cb_size))
			break;
		memcpy(&ncached, cb + l->cb52_ncached, 4);
		memcpy(&avail, cb + l->cb52_avail, 8);
		if (!avail)
			continue;          /* bins past nhbins: never set up */
		if (i == 0 && !grow((void **)&j->internal, j->n_internal, &j->cap_internal,
				    sizeof(*j->internal)))
			return &cprof_enomem;
		if (i == 0)
			j->internal[j->n_internal++] = avail - 8;
		if (ncached < 0 || ncached > 8191 || (uint64_t)ncached * 8 > avail) {
			jwarn(j, "thread %d: tcache 0x%llx bin %u holds %d items; skipped",
			      j->core->threads[thread].tid, (unsigned long long)t, i, ncached);
			continue;
		}
		struct cprof_error *err;
		if (ncached && (err = add_cached(j, avail - (uint64_t)ncached * 8,
						 (uint32_t)ncached, i, thread)))
			return err;
	}
	return NULL;
}

/*
 * 5.2: the tcache in thread i's TSD (tsd_t holds it): its
 * cache_bin_array_descriptor_t's bins_small and bins_large point into the
 * tcache itself, at fixed offsets from its start.
 */
static struct cprof_error *thread_tcache52(struct jem *j, int i, uint64_t start,
					   const uint64_t *w, const bool *valid)
{
	const struct je_layout *l = &j->lay;
	const size_t n = TLS_WINDOW / 8;
	for (size_t p = 0; p + 1 < n; p++) {
		uint64_t at = start + p * 8, t = w[p] - l->tc52_small;
		if (!valid[p * 8 / PAGE] || !valid[(p + 1) * 8 / PAGE] ||
		    at != t + l->tc52_desc || w[p + 1] != t + l->tc52_large)
			continue;
		if (tcache_seen(j, t))
			return NULL;
		j->n_tcaches++;
		return tcache52_bins(j, t, i);
	}
	return NULL;
}

/* Reads the TLS window below fs into w (n words from start); *valid says
 * which pages are there. */
static void read_window(struct jem *j, uint64_t start, uint64_t *w, bool *valid)
{
	for (size_t p = 0; p < TLS_WINDOW / PAGE; p++) {
		valid[p] = rd(j, start + p * PAGE, (uint8_t *)w + p * PAGE, PAGE);
		if (!valid[p])
			memset((uint8_t *)w + p * PAGE, 0, PAGE);
	}
}

/*
 * The tcache of thread i: in its TSD, a tcache_t t whose first word points
 * to the tcache_slow_t s just below it, and s holds &t->bins[0] (its cache
 * bin array descriptor) and, further on, dyn_alloc (the bins' stack
 * memory) and t itself.
 */
static struct cprof_error *thread_tcache(struct jem *j, int i, uint64_t *w, bool *valid)
{
	uint64_t fs = j->core->threads[i].regs[CPROF_REG_FS_BASE];
	if (fs < TLS_WINDOW)
		return NULL;
	uint64_t start = fs - TLS_WINDOW;
	read_window(j, start, w, valid);
	if (j->lay.tcache52)
		return j->nbins == 36 ? thread_tcache52(j, i, start, w, valid) : NULL;
	const size_t n = TLS_WINDOW / 8;
	for (size_t ti = 0; ti < n; ti++) {
		uint64_t t = start + ti * 8, s = w[ti];
		if (!valid[ti * 8 / PAGE] || s >= t || s < start || t - s > 4096 || s % 8)
			continue;
		size_t si = (s - start) / 8, bins_at = 0;
		for (size_t k = 0; k < 64 && si + k < ti; k++) {
			if (!valid[(si + k) * 8 / PAGE])
				break;
			if (w[si + k] == t + j->lay.tc_bins && !bins_at)
				bins_at = k + 1;
			if (w[si + k] == t && bins_at && k > 0) {
				uint64_t dyn = w[si + k - 1];
				if (!grow((void **)&j->internal, j->n_internal, &j->cap_internal,
					  sizeof(*j->internal)))
					return &cprof_enomem;
				if (dyn)
					j->internal[j->n_internal++] = dyn;
				if (tcache_seen(j, t))
					return NULL;
				j->n_tcaches++;
				return tcache_bins(j, t, i);
			}
		}
	}
	return NULL;
}

static int cached_cmp(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int u64_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

static struct cprof_error *find_tcaches(struct jem *j)
{
	if (j->lay.tcache52 && j->nbins != 36) {
		jwarn(j, "jemalloc 5.2's tcache is read for 36 small size classes (LG_QUANTUM 4), not %u: tcaches not read, their regions count as used",
		      j->nbins);
		snprintf(j->how_tcache, sizeof(j->how_tcache), "not read (5.2 with %u small classes)",
			 j->nbins);
		return NULL;
	}
	uint64_t *w = malloc(TLS_WINDOW);
	bool valid[TLS_WINDOW / PAGE];
	if (!w)
		return &cprof_enomem;
	struct cprof_error *err = NULL;
	for (size_t i = 0; i < j->core->n_threads && !err; i++)
		err = thread_tcache(j, (int)i, w, valid);
	free(w);
	if (j->n_cached)
		qsort(j->cached, j->n_cached, sizeof(*j->cached), cached_cmp);
	if (j->n_internal)
		qsort(j->internal, j->n_internal, sizeof(*j->internal), u64_cmp);
	for (size_t i = 1; i < j->n_cached; i++)
		if (j->cached[i].addr == j->cached[i - 1].addr)
			jwarn(j, "region 0x%llx is cached twice in the tcaches",
			      (unsigned long long)j->cached[i].addr);
	/* a thread that never allocated has none: no failure to find it */
	snprintf(j->how_tcache, sizeof(j->how_tcache),
		 "each thread's TSD (%zu of %zu threads have one)", j->n_tcaches, j->core->n_threads);
	return err;
}

/* ---- claim: find everything, claim the extents and the metadata ---- */

static void jem_release(struct jem *j)
{
	free(j->ext);
	free(j->nodes);
	j->nodes = NULL;
	free(j->seen_tcaches);
	j->seen_tcaches = NULL;
	j->n_seen = j->cap_seen = 0;
	j->n_nodes = j->cap_nodes = 0;
	free(j->blocks);
	free(j->cached);
	free(j->internal);
	free(j->buf);
	j->ext = NULL;
	j->blocks = NULL;
	j->cached = NULL;
	j->internal = NULL;
	j->buf = NULL;
	j->n_ext = j->n_blocks = j->n_cached = j->n_internal = 0;
}

/* ---- layouts ---- */

/* LG_VADDR by the DWARF's rtree_s: the root's entries and the levels the
 * rest of the address needs (rtree.h: one level for 10 bits or fewer, two up
 * to 36, else three, split evenly); 0 when unknown. */
static uint32_t dwarf_lg_vaddr(struct jem *j)
{
	struct cprof_dwarf_member root = { .name = "root" };
	uint64_t size;
	if (!cprof_dwarf_struct(j->core, j->module, NULL, "rtree_s", &root, 1, &size) ||
	    root.size <= 0 || root.size % 8)
		return 0;
	uint64_t n = (uint64_t)root.size / 8;
	uint32_t bits = 0;
	while ((1ull << bits) < n && bits < 40)
		bits++;
	if ((1ull << bits) != n)
		return 0;
	/* two levels split 36 bits 18 + 18; three split 45 bits 15 + 15 + 15 */
	uint32_t nsb = bits == 18 ? 36 : bits == 15 ? 45 : 0;
	return nsb ? nsb + LG_PAGE : 0;
}

/* Member m of struct name from DWARF into *ret; false when absent or
 * implausible (past max, misaligned for its size). */
/* want[i]: the size the walker reads member i with (it must be that), or
 * the least it reads (a bitmap, an array: at least that). */
static bool dwarf_layout(struct jem *j, const char *name, const char *const *members,
			 const int64_t *want, uint32_t *const *ret, size_t n,
			 uint32_t *size_ret, uint32_t max)
{
	struct cprof_dwarf_member mem[8];
	uint64_t size;
	assert(n <= 8);
	for (size_t i = 0; i < n; i++)
		mem[i] = (struct cprof_dwarf_member){ .name = members[i] };
	if (!cprof_dwarf_struct(j->core, j->module, NULL, name, mem, n, &size) || !size ||
	    size > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (mem[i].offset < 0 || mem[i].size <= 0 ||
		    (want[i] > 0 ? mem[i].size != want[i] : mem[i].size < -want[i]) ||
		    (uint64_t)mem[i].offset + (uint64_t)mem[i].size > size ||
		    mem[i].offset % (mem[i].size < 8 ? mem[i].size : 8))
			return false;
		*ret[i] = (uint32_t)mem[i].offset;
	}
	*size_ret = (uint32_t)size;
	return true;
}

/*
 * The layout from the module's DWARF (struct edata_s, cache_bin_s, tcache_s,
 * base_block_s), checked against what the walker's reads need; false, with
 * the table kept, when the module has none or it does not fit.
 */
static bool layout_from_dwarf(struct jem *j, struct je_layout *l, const char **why)
{
	uint64_t bias;
	uint32_t size, slow, bins, edata_size;
	*why = "no DWARF";
	if (!cprof_core_module_dwarf(j->core, j->module, &bias))
		return false;
	*why = "its DWARF has no edata_s, cache_bin_s, tcache_s or base_block_s as expected";
	static const char *const edata[] = { "e_bits", "e_addr", "e_size_esn",
					     "e_slab_data.bitmap", "e_prof_info.e_prof_tctx" };
	static const char *const cb[] = { "stack_head", "low_bits_full", "low_bits_empty" };
	static const char *const tc[] = { "tcache_slow", "bins" };
	static const char *const bb[] = { "size", "next", "edata" };
	uint32_t *const edata_ret[] = { &l->e_bits, &l->e_addr, &l->e_size, &l->e_bitmap,
					&l->e_prof_tctx };
	uint32_t *const cb_ret[] = { &l->cb_stack_head, &l->cb_low_full, &l->cb_low_empty };
	uint32_t *const tc_ret[] = { &slow, &bins };
	uint32_t *const bb_ret[] = { &l->bb_size, &l->bb_next, &l->bb_edata };
	/* the sizes the walker reads them with (negative: at least) */
	static const int64_t edata_want[] = { 8, 8, 8, -(SLAB_MAXREGS / 8), 8 };
	static const int64_t cb_want[] = { 8, 2, 2 };
	static const int64_t tc_want[] = { 8, -1 };
	static const int64_t bb_want[] = { 8, 8, -24 };
	if (!dwarf_layout(j, "edata_s", edata, edata_want, edata_ret, 5, &edata_size, EDATA_ALIGN) ||
	    !dwarf_layout(j, "cache_bin_s", cb, cb_want, cb_ret, 3, &l->cb_size, MAX_CACHE_BIN) ||
	    !dwarf_layout(j, "tcache_s", tc, tc_want, tc_ret, 2, &size, 1 << 16) ||
	    !dwarf_layout(j, "base_block_s", bb, bb_want, bb_ret, 3, &l->bb_header, 1 << 12))
		return false;
	/* the tcache search reads tcache_slow at the tcache's start; the
	   bitmap must hold a slab's regions */
	l->tc_bins = bins;
	l->tc_nbins = (size - bins) / l->cb_size;
	if (slow != 0 || !l->tc_nbins || l->tc_nbins > MAX_TCACHE_NBINS ||
	    l->e_bitmap + SLAB_MAXREGS / 8 > edata_size ||
	    l->bb_edata + edata_size > l->bb_header) {
		*why = "its DWARF's tcache_s, edata_s or base_block_s do not fit the walker";
		return false;
	}
	return true;
}

/* The size classes from sz_index2size_tab (its symbol, with its size): true
 * when it is there and is a size class table (8 first, increasing). */
static bool sizes_from_table(struct jem *j)
{
	static const char *const syms[] = { "je_sz_index2size_tab", "sz_index2size_tab" };
	for (size_t i = 0; i < 2; i++) {
		uint64_t addr, size;
		if (!cprof_core_find_symbol(j->core, j->module, syms[i], &addr, &size) ||
		    size % 8 || size / 8 <= 4 || size / 8 > MAX_NSIZES ||
		    !rd(j, addr, j->sizes, size))
			continue;
		uint32_t n = (uint32_t)(size / 8);
		bool ok = j->sizes[0] == 8;
		for (uint32_t k = 1; k < n && ok; k++)
			ok = j->sizes[k] > j->sizes[k - 1] && j->sizes[k] % 8 == 0;
		if (ok) {
			j->nsizes = n;
			return true;
		}
	}
	return false;
}

/* j->lay, j->sizes, j->nsizes and j->nbins, and how they were had: 5.2's
 * table (its structs have other names and members: no DWARF is read for
 * it), or 5.3's, or 5.3's DWARF. */
static void read_layout(struct jem *j, const char *version)
{
	const char *why = "no DWARF";
	bool v52 = !strncmp(version, "5.2.", 4);
	j->lay = v52 ? je52_table : je53_table;
	struct je_layout l = j->lay;
	bool dwarf = !v52 && layout_from_dwarf(j, &l, &why);
	if (dwarf)
		j->lay = l;
	bool table = sizes_from_table(j);
	if (!table)
		j->nsizes = size_classes(j->sizes);
	j->nbins = 0;
	while (j->nbins < j->nsizes && j->sizes[j->nbins] < LARGE_MINCLASS)
		j->nbins++;
	if (j->nbins >= j->nsizes) {           /* a table without large classes */
		j->nsizes = size_classes(j->sizes);
		table = false;
		for (j->nbins = 0; j->sizes[j->nbins] < LARGE_MINCLASS; j->nbins++)
			;
	}
	snprintf(j->how_layout, sizeof(j->how_layout),
		 "layout: %s%s%s; %u size classes (%u small): %s", dwarf ? "its DWARF" :
		 "table for jemalloc ", dwarf ? "" : j->lay.name, dwarf ? "" : " (x86-64)",
		 j->nsizes, j->nbins,
		 table ? "its sz_index2size_tab" : "computed for LG_QUANTUM 4");
	if (!dwarf && strcmp(why, "no DWARF"))
		jwarn(j, "%s: %s; the table for jemalloc %s (x86-64) is used", j->module->name, why,
		      j->lay.name);
}

/*
 * The extent map, in each shape its DWARF allows (both without DWARF; 5.2's
 * two-word entries are not read); false, with the reason in j->why and a
 * warning, when none is found.
 */
static bool find_map(struct jem *j)
{
	static const struct geom *const shapes[] = { &geom48, &geom57 };
	uint32_t lg_vaddr = dwarf_lg_vaddr(j);
	for (size_t i = 0; i < 2; i++) {
		if ((lg_vaddr && shapes[i]->lg_vaddr != lg_vaddr) ||
		    (j->lay.tcache52 && !shapes[i]->compact))
			continue;
		j->g = *shapes[i];
		if (find_rtree(j)) {
			if (j->g.lg_vaddr != 48) {
				size_t len = strlen(j->how_tree);
				snprintf(j->how_tree + len, sizeof(j->how_tree) - len,
					 " (LG_VADDR %u: %u levels)", j->g.lg_vaddr, j->g.levels);
			}
			return true;
		}
	}
	if (lg_vaddr && (lg_vaddr != 48 && (lg_vaddr != 57 || j->lay.tcache52))) {
		jwarn(j, "%s: its extent map is for %u-bit addresses (LG_VADDR %u, by its DWARF): cprof-core reads LG_VADDR 48%s builds only; heap not walked",
		      j->module->name, lg_vaddr, lg_vaddr, j->lay.tcache52 ? "" : " and 57");
		snprintf(j->why, sizeof(j->why),
			 "it was built for %u-bit addresses (LG_VADDR %u): cprof-core reads LG_VADDR 48%s builds only",
			 lg_vaddr, lg_vaddr, j->lay.tcache52 ? "" : " and 57");
		return false;
	}
	jwarn(j, "%s: %s (the extent map) not found; heap not walked", j->module->name,
	      j->lay.tcache52 ? "extents_rtree" : "arena_emap_global");
	snprintf(j->why, sizeof(j->why), "its extent map (%s) was not found",
		 j->lay.tcache52 ? "extents_rtree" : "arena_emap_global");
	return false;
}

static bool supported_version(const char *v)
{
	return !strncmp(v, "5.3.", 4) || !strncmp(v, "5.2.", 4);
}

static struct cprof_error *jemalloc_claim(struct cprof_core *core, struct cprof_heap_walk *walk,
					  struct cprof_allocator *self)
{
	struct jem *j = self->state;
	struct cprof_error *err;
	j->core = core;
	if (!strcmp(self->version, "unknown")) {
		/* its file was not read (a core from another machine, a --sysroot
		   without it), or holds no version string: not a version refused */
		snprintf(j->why, sizeof(j->why),
			 "its version is unknown: its file %s (%s) was not read or holds no JEMALLOC_VERSION",
			 j->module->name, cprof_module_status_name(j->module->status));
		return NULL;
	}
	if (!supported_version(self->version)) {
		snprintf(j->why, sizeof(j->why),
			 "jemalloc %s: cprof-core reads jemalloc 5.2 and 5.3 only", self->version);
		return NULL;
	}
	read_layout(j, self->version);
	/* the largest read into it: a root with the words around it (a leaf
	   is no larger) */
	j->buf = malloc((MAX_ROOT_OFFSET / 8 + ((size_t)1 << MAX_ROOT_BITS)) * 8);
	if (!j->buf)
		return &cprof_enomem;
	if (!find_map(j))
		return NULL;
	j->found = true;
	if ((err = read_extents(j)) || (err = find_blocks(j)) || (err = find_tcaches(j)))
		return err;
	/* The extents, as contiguous runs, and the metadata blocks. */
	for (size_t i = 0; i < j->n_ext; i++) {
		uint64_t s = j->ext[i].base, e = s + j->ext[i].size;
		while (i + 1 < j->n_ext && j->ext[i + 1].base == e) {
			i++;
			e = j->ext[i].base + j->ext[i].size;
		}
		if ((err = cprof_heap_claim(core, walk, s, e)))
			return err;
	}
	for (size_t i = 0; i < j->n_blocks; i++)
		if ((err = cprof_heap_claim(core, walk, j->blocks[i].start, j->blocks[i].end)))
			return err;
	return NULL;
}

/* ---- the profiler's records ---- */

/* Whether g is a prof_gctx_t: its bt.vec points to its own trailing vec[]
 * (prof_bt_t {vec, len} right before it); the stack's pcs go into *vec, *len.
 * The offset found is kept: every gctx has the same layout. */
static bool gctx_stack(struct jem *j, uint64_t g, uint64_t *vec, uint32_t *len)
{
	uint64_t w[40];
	if (g % 8 || !rd(j, g, w, sizeof(w)))
		return false;
	for (int64_t k = j->gctx_bt >= 0 ? j->gctx_bt : 1; k < 38; k++) {
		uint32_t n = (uint32_t)w[k + 1];
		if (w[k] == g + 8 * (uint64_t)(k + 2) && n >= 1 && n <= MAX_BT) {
			j->gctx_bt = k;
			*vec = w[k];
			*len = n;
			return true;
		}
		if (j->gctx_bt >= 0)
			break;
	}
	return false;
}

static size_t slot_of(uint64_t key, size_t n)
{
	return (size_t)((key >> 4) * 0x9e3779b97f4a7c15ull) & (n - 1);
}

/* The site index of gctx g: looked up, else read and added; -1 when g is
 * no gctx. */
static int64_t site_of(struct jem *j, uint64_t g)
{
	for (size_t i = j->n_slots ? slot_of(g, j->n_slots) : 0; j->n_slots && j->site_slots[i];
	     i = (i + 1) & (j->n_slots - 1))
		if (j->sites[j->site_slots[i] - 1].key == g)
			return j->site_slots[i] - 1;
	uint64_t vec;
	uint32_t len;
	if (!gctx_stack(j, g, &vec, &len))
		return -1;
	uint64_t *pcs = malloc((size_t)len * 8);
	if (!pcs)
		return -2;
	if (!rd(j, vec, pcs, (size_t)len * 8) ||
	    !grow((void **)&j->sites, j->n_sites, &j->cap_sites, sizeof(*j->sites))) {
		free(pcs);
		return -1;
	}
	j->sites[j->n_sites++] = (struct cprof_site_record){ g, pcs, len, 0 };
	if (2 * j->n_sites > j->n_slots) {        /* rehash at half full */
		size_t n = j->n_slots ? 2 * j->n_slots : 256;
		uint32_t *t = calloc(n, sizeof(*t));
		if (!t)
			return -2;
		for (size_t s = 0; s < j->n_sites; s++) {
			size_t i = slot_of(j->sites[s].key, n);
			while (t[i])
				i = (i + 1) & (n - 1);
			t[i] = (uint32_t)s + 1;
		}
		free(j->site_slots);
		j->site_slots = t;
		j->n_slots = n;
	} else {
		size_t i = slot_of(g, j->n_slots);
		while (j->site_slots[i])
			i = (i + 1) & (j->n_slots - 1);
		j->site_slots[i] = (uint32_t)j->n_sites;
	}
	return (int64_t)j->n_sites - 1;
}

/* The allocation site of large allocation x, when the profiler sampled it
 * (e_prof_tctx is a prof_tctx_t, not 0 or 1: "not sampled"). */
static struct cprof_error *prof_sample(struct jem *j, const struct extent *x)
{
	uint64_t t, w[32];
	if (!rd64(j, x->edata + j->lay.e_prof_tctx, &t) || t < PAGE || t % 8 || !rd(j, t, w, sizeof(w)))
		return NULL;
	for (int64_t k = j->tctx_gctx >= 0 ? j->tctx_gctx : 1; k < 32; k++) {
		int64_t site = site_of(j, w[k]);
		if (site == -2)
			return &cprof_enomem;
		if (site >= 0) {
			j->tctx_gctx = k;
			if (!grow((void **)&j->samples, j->n_samples, &j->cap_samples,
				  sizeof(*j->samples)))
				return &cprof_enomem;
			j->samples[j->n_samples++] = (struct cprof_site_sample){ x->addr,
										 (uint32_t)site };
			return NULL;
		}
		if (j->tctx_gctx >= 0)
			break;
	}
	return NULL;
}

static void release_sites(struct jem *j)
{
	for (size_t i = 0; i < j->n_sites; i++)
		free((void *)j->sites[i].pcs);
	free(j->sites);
	free(j->samples);
	free(j->site_slots);
}

static struct cprof_error *jemalloc_store(struct cprof_store *st, struct cprof_core *core,
					  const struct cprof_allocator *self, uint32_t owner,
					  const struct cprof_object *objs, size_t n,
					  const struct cprof_retention *rt)
{
	(void)owner;
	(void)rt;
	const struct jem *j = self->state;
	static const char *const own[] = { "je_", NULL };
	/* jemalloc linked into the executable (or another library) shares its
	   module with the program's code: its frames end at its entry point */
	static const char *const entries[] = {
		"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign",
		"valloc", "mallocx", "rallocx", "je_malloc", "je_calloc", "je_realloc",
		"je_posix_memalign", "je_aligned_alloc", "je_memalign", "je_valloc",
		"je_mallocx", "je_rallocx", NULL,
	};
	const char *base = strrchr(j->module->name, '/');
	base = base ? base + 1 : j->module->name;
	bool own_library = !strncmp(base, "libjemalloc", 11);
	struct cprof_sites si = { j->sites, j->n_sites, j->samples, j->n_samples, 0,
				  own_library ? j->module : NULL, own,
				  own_library ? NULL : entries };
	return cprof_store_sites(st, core, &si, objs, n);
}

/* ---- walk: emit the objects ---- */

struct emitter {
	struct jem *j;
	cprof_object_fn *fn;
	void *arg;
	bool stopped;
	size_t cur_cached, cur_internal;   /* cursors through the sorted lists */
	uint64_t cached_count, cached_bytes;
	uint64_t used_count, used_bytes, free_count, free_bytes;
	uint64_t cached_large_bytes;       /* in a large bin (5.2's tcache_bytes omits them) */
	uint64_t small_bytes, large_bytes, active, by_state[ST_N];
	uint64_t promoted_count, promoted_bytes;   /* sampled small ones, their extents' */
	struct arena_sum *arenas;
	size_t n_arenas;
};

/* Whether addr is cached in a tcache (cursor: addresses come in order). */
static bool is_cached(struct emitter *m, uint64_t addr, uint32_t szind)
{
	struct jem *j = m->j;
	while (m->cur_cached < j->n_cached && j->cached[m->cur_cached].addr < addr) {
		jwarn(j, "tcache item 0x%llx is no allocated region",
		      (unsigned long long)j->cached[m->cur_cached].addr);
		m->cur_cached++;
	}
	if (m->cur_cached >= j->n_cached || j->cached[m->cur_cached].addr != addr)
		return false;
	if (j->cached[m->cur_cached].szind != szind)
		jwarn(j, "tcache item 0x%llx sits in bin %u but its size class is %u",
		      (unsigned long long)addr, j->cached[m->cur_cached].szind, szind);
	m->cur_cached++;
	return true;
}

/* Whether [addr, addr + size) holds an address of jemalloc's own (a
 * tcache's stacks: 5.3's dyn_alloc, 5.2's bin 0 slot). */
static bool is_internal(struct emitter *m, uint64_t addr, uint64_t size)
{
	struct jem *j = m->j;
	while (m->cur_internal < j->n_internal && j->internal[m->cur_internal] < addr)
		m->cur_internal++;
	return m->cur_internal < j->n_internal && j->internal[m->cur_internal] - addr < size;
}

static void emit(struct emitter *m, uint32_t heap, const struct extent *x, uint64_t addr,
		 uint64_t size, uint8_t list)
{
	if (m->stopped)
		return;
	bool used = list == JE_NONE;
	struct cprof_object o = {
		.addr = addr, .size = size, .heap = heap,
		.state = used ? CPROF_OBJECT_USED : CPROF_OBJECT_FREE,
		.free_list = list,
		.flags = used && is_internal(m, addr, size) ? CPROF_OBJECT_ALLOCATOR_INTERNAL : 0,
	};
	struct cprof_arena_summary *a = &m->arenas[x->arena].s;
	m->arenas[x->arena].seen = true;
	if (used) {
		m->used_count++;
		m->used_bytes += size;
		a->used_count++;
		a->used_bytes += size;
	} else {
		m->free_count++;
		m->free_bytes += size;
		a->free_count++;
		a->free_bytes += size;
	}
	if (list == JE_TCACHE) {
		m->cached_count++;
		m->cached_bytes += size;
		m->cached_large_bytes += x->slab ? 0 : size;
	}
	if (!m->fn(&o, m->arg))
		m->stopped = true;
}

/* The regions of slab x: allocated unless free in its bitmap (a set bit is
 * a free region) or cached in a tcache. */
static void emit_slab(struct emitter *m, uint32_t heap, const struct extent *x)
{
	struct jem *j = m->j;
	uint64_t reg = j->sizes[x->szind], bitmap[SLAB_MAXREGS / 64], nfree = 0, e0;
	uint64_t nregs = x->size / reg;
	if (!rd(j, x->edata + j->lay.e_bitmap, bitmap, sizeof(bitmap)) ||
	    !rd64(j, x->edata + j->lay.e_bits, &e0)) {
		jwarn(j, "slab 0x%llx: its bitmap is not in the core; skipped",
		      (unsigned long long)x->base);
		return;
	}
	for (uint64_t r = 0; r < nregs; r++) {
		uint64_t addr = x->base + r * reg;
		bool free_bit = (bitmap[r / 64] >> (r % 64)) & 1;
		nfree += free_bit;
		if (free_bit)
			emit(m, heap, x, addr, reg, JE_SLAB);
		else
			emit(m, heap, x, addr, reg, is_cached(m, addr, x->szind) ? JE_TCACHE : JE_NONE);
		if (!free_bit)
			m->small_bytes += reg;
	}
	uint64_t count = bits(e0, j->lay.nfree_shift, NFREE_BITS);
	if (nfree != count)
		jwarn(j, "slab 0x%llx: %llu regions free by its bitmap, %llu by its count",
		      (unsigned long long)x->base, (unsigned long long)nfree,
		      (unsigned long long)count);
}

static const char *const heap_kinds[ST_N] = { "slab", "dirty", "muzzy", "retained" };

static struct cprof_error *emit_extent(struct emitter *m, struct cprof_heap_walk *walk,
				       const struct extent *x)
{
	struct cprof_heap h = { .allocator = "jemalloc", .arena = x->arena, .start = x->base,
				.end = x->base + x->size };
	snprintf(h.kind, sizeof(h.kind), "%s",
		 x->state == ST_ACTIVE && !x->slab ? "large" : heap_kinds[x->state]);
	uint32_t id;
	struct cprof_error *err = cprof_heap_add(walk, &h, &id);
	if (err)
		return err;
	m->by_state[x->state] += x->size;
	m->arenas[x->arena].s.system_mem += x->state == ST_RETAINED ? 0 : x->size;
	m->arenas[x->arena].s.n_heaps++;
	if (x->state != ST_ACTIVE) {
		emit(m, id, x, x->base, x->size, (uint8_t)(JE_DIRTY + x->state - ST_DIRTY));
		return NULL;
	}
	m->active += x->size;
	if (x->slab) {
		emit_slab(m, id, x);
		return NULL;
	}
	uint64_t usize = m->j->sizes[x->szind];
	bool cached = is_cached(m, x->addr, x->szind);
	emit(m, id, x, x->addr, usize, cached ? JE_TCACHE : JE_NONE);
	/* A small allocation the profiler sampled lives in a large extent of
	   the smallest large class, which is what jemalloc counts for it. */
	m->large_bytes += x->szind < m->j->nbins ? m->j->sizes[m->j->nbins] : usize;
	if (x->szind < m->j->nbins) {
		m->promoted_count++;
		m->promoted_bytes += m->j->sizes[m->j->nbins];
	}
	return cached ? NULL : prof_sample(m->j, x);
}

static void stat(struct cprof_allocator *s, const char *name, uint64_t v)
{
	assert(s->n_stats < sizeof(s->stats) / sizeof(s->stats[0]));
	s->stats[s->n_stats].name = name;
	s->stats[s->n_stats].value = v;
	s->n_stats++;
}

/* The figures, under jemalloc's own names (mallctl "stats.*" and the merged
 * "stats.arenas.<i>.*"): what mallctl would have said at the dump. */
static struct cprof_error *summarize(struct emitter *m, struct cprof_heap_walk *walk,
				     const struct cprof_allocator *self)
{
	struct jem *j = m->j;
	struct cprof_allocator s = { .name = "jemalloc", .stats_name = "mallctl" };
	snprintf(s.version, sizeof(s.version), "%s", self->version);
	snprintf(s.found_by, sizeof(s.found_by),
		 "extent map: %.72s; tcaches: %.60s; %zu base blocks; %.120s",
		 j->how_tree, j->how_tcache, j->n_blocks, j->how_layout);
	size_t n = 0;
	for (size_t i = 0; i < m->n_arenas; i++)
		n += m->arenas[i].seen;
	s.arenas = calloc(n ? n : 1, sizeof(*s.arenas));
	if (!s.arenas)
		return &cprof_enomem;
	for (size_t i = 0; i < m->n_arenas; i++) {
		if (!m->arenas[i].seen)
			continue;
		struct cprof_arena_summary *a = &s.arenas[s.n_arenas++];
		*a = m->arenas[i].s;
		snprintf(a->kind, sizeof(a->kind), "arena %u", (unsigned)i & 0xfff);
	}
	s.used_count = m->used_count;
	s.used_bytes = m->used_bytes;
	s.free_count = m->free_count;
	s.free_bytes = m->free_bytes;
	stat(&s, "allocated", m->small_bytes + m->large_bytes);
	stat(&s, "active", m->active);
	stat(&s, "retained", m->by_state[ST_RETAINED]);
	stat(&s, "pdirty", m->by_state[ST_DIRTY] / PAGE);
	stat(&s, "pmuzzy", m->by_state[ST_MUZZY] / PAGE);
	stat(&s, "small.allocated", m->small_bytes);
	stat(&s, "large.allocated", m->large_bytes);
	/* jemalloc 5.2's tcache_bytes counts the small bins only (its
	   arena_stats_merge reads bins_large from index SC_NBINS on, past the
	   bins in use): mallctl's figure, then what it leaves out */
	if (j->lay.tcache52) {
		stat(&s, "tcache_bytes", m->cached_bytes - m->cached_large_bytes);
		stat(&s, "tcache_large_bytes", m->cached_large_bytes);
	} else {
		stat(&s, "tcache_bytes", m->cached_bytes);
	}
	stat(&s, "tcache_count", m->cached_count);
	struct cprof_error *err = cprof_heap_add_summary(walk, &s);
	if (err)
		free(s.arenas);
	return err;
}

static struct cprof_error *jemalloc_walk(struct cprof_core *core, struct cprof_heap_walk *walk,
					 struct cprof_allocator *self, cprof_object_fn *fn,
					 void *arg)
{
	struct jem *j = self->state;
	j->core = core;
	if (!j->found) {
		self->heap_state = CPROF_HEAP_NOT_WALKED;
		snprintf(self->reason, sizeof(self->reason), "%s",
			 j->why[0] ? j->why : "its metadata was not found");
		return NULL;
	}
	struct cprof_error *err = NULL;
	for (size_t i = 0; i < j->n_blocks && !err; i++)
		err = cprof_heap_exclude(walk, j->blocks[i].start, j->blocks[i].end);
	if (err)
		return err;
	struct emitter m = { .j = j, .fn = fn, .arg = arg,
			     .n_arenas = (size_t)1 << ARENA_BITS };
	m.arenas = calloc(m.n_arenas, sizeof(*m.arenas));
	if (!m.arenas)
		return &cprof_enomem;
	for (size_t i = 0; i < j->n_ext && !err && !m.stopped; i++)
		err = emit_extent(&m, walk, &j->ext[i]);
	for (; !err && m.cur_cached < j->n_cached; m.cur_cached++)
		jwarn(j, "tcache item 0x%llx is no allocated region",
		      (unsigned long long)j->cached[m.cur_cached].addr);
	if (!err)
		err = summarize(&m, walk, self);
	/* Every object is its usable size, what the program may use; a small
	   allocation the profiler sampled takes a whole extent of the smallest
	   large class, which mallctl's allocated counts: with prof:true and a
	   small lg_prof_sample, most of the heap (a trial: 129 MiB of objects,
	   618 MB allocated). */
	if (!err && m.promoted_count) {
		char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
		cprof_warn(j->core->warnings,
			   "%s: jemalloc: %llu small allocations the profiler sampled take a %s extent each: %s in all, which mallctl's allocated counts and the objects' usable sizes do not",
			   j->core->path, (unsigned long long)m.promoted_count,
			   fmt_bytes(b1, j->sizes[j->nbins]), fmt_bytes(b2, m.promoted_bytes));
	}
	free(m.arenas);
	jem_release(j);
	return err;
}

/* ---- detect ---- */

/* Whether p (in a string of n bytes) starts "X.Y.Z-N-g" followed by 40 hex
 * digits; the version "X.Y.Z" goes into buf. */
static bool version_at(const char *p, size_t n, char *buf, size_t size)
{
	size_t k = 0, dots = 0;
	while (k < n && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.'))
		dots += p[k++] == '.';
	if (dots != 2 || k == 0 || k >= n || p[k] != '-' || k >= size)
		return false;
	size_t v = k++;
	while (k < n && p[k] >= '0' && p[k] <= '9')
		k++;
	if (k + 42 > n || p[k] != '-' || p[k + 1] != 'g')
		return false;
	for (size_t h = k + 2; h < k + 42; h++)
		if (!((p[h] >= '0' && p[h] <= '9') || (p[h] >= 'a' && p[h] <= 'f')))
			return false;
	memcpy(buf, p, v);
	buf[v] = '\0';
	return true;
}

/* JEMALLOC_VERSION in m's file: a NUL-terminated string shaped as above. */
static bool find_version(struct cprof_core *core, const struct cprof_module *m,
			 char *buf, size_t size)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(core, m, &bias);
	size_t n;
	const char *raw = elf ? elf_rawfile(elf, &n) : NULL;
	for (const char *p = raw; p && (size_t)(p - raw) + 2 < n; p += 2) {
		p = memmem(p, n - (size_t)(p - raw), "-g", 2);
		if (!p)
			return false;
		/* back to the start of the string: digits, dots and one '-' */
		const char *s = p;
		while (s > raw && ((s[-1] >= '0' && s[-1] <= '9') || s[-1] == '.' || s[-1] == '-'))
			s--;
		if ((s == raw || !s[-1]) && version_at(s, n - (size_t)(s - raw), buf, size))
			return true;
	}
	return false;
}

static struct cprof_error *jemalloc_detect(struct cprof_core *core, struct cprof_allocator *self,
					   bool *found)
{
	static const char *const entries[] = { "mallctl", "je_mallctl" };
	for (size_t i = 0; i < core->n_modules && !*found; i++) {
		const struct cprof_module *m = &core->modules[i];
		for (size_t e = 0; e < 2 && !*found; e++) {
			if (!cprof_module_defines(core, m, entries[e]))
				continue;
			*found = true;
			self->module = m;
			snprintf(self->found_by, sizeof(self->found_by), "the symbol %s in %s",
				 entries[e], m->name);
		}
	}
	/* A library whose file is not to be had (a core from another machine,
	   a --sysroot without it) has no symbols: jemalloc is then known by
	   its file name alone, and its heap cannot be walked. */
	for (size_t i = 0; i < core->n_modules && !*found; i++) {
		const struct cprof_module *m = &core->modules[i];
		if ((m->status == CPROF_MODULE_OK || m->status == CPROF_MODULE_UNVERIFIED) ||
		    strncmp(m->name, "libjemalloc.so", 14))
			continue;
		*found = true;
		self->module = m;
		snprintf(self->found_by, sizeof(self->found_by),
			 "the name of its library %s (its file is %s: no symbols)", m->name,
			 cprof_module_status_name(m->status));
	}
	if (!*found)
		return NULL;
	if (!find_version(core, self->module, self->version, sizeof(self->version)))
		snprintf(self->version, sizeof(self->version), "unknown");
	struct jem *j = calloc(1, sizeof(*j));
	if (!j)
		return &cprof_enomem;
	j->core = core;
	j->module = self->module;
	j->tctx_gctx = j->gctx_bt = -1;
	self->state = j;
	return NULL;
}

static void jemalloc_destroy(void *state)
{
	struct jem *j = state;
	if (!j)
		return;
	jem_release(j);
	release_sites(j);
	free(j);
}

const struct cprof_heap_provider cprof_jemalloc_provider = {
	.name = "jemalloc",
	.free_lists = je_free_lists,
	.n_free_lists = JE_N_LISTS,
	.detect = jemalloc_detect,
	.claim = jemalloc_claim,
	.walk = jemalloc_walk,
	.destroy = jemalloc_destroy,
	.store = jemalloc_store,
};
