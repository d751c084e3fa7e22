/*
 * glibc.c - the glibc malloc (ptmalloc2) walker.
 *
 * What it reads, in order:
 *   1. libc: the module (libc.so.6, or the executable when linked statically),
 *      its version (the banner in the file) and the layout of malloc's structs
 *      (glibc-layout.c: DWARF, else a per-version table);
 *   2. main_arena and mp_: from symbols or DWARF when libc has debug info,
 *      else by disassembly (mallinfo2 takes &main_arena with a RIP-relative
 *      lea; malloc compares with mp_.tcache_bins), else by data patterns in
 *      libc's .data image; each candidate is validated in the core;
 *   3. the free lists: every thread's tcache (the TLS slot malloc loads
 *      through %fs, found by disassembly; else every in-use chunk shaped like
 *      a tcache_perthread_struct), each arena's fastbins and bins.  Whether
 *      the singly linked lists are mangled (safe-linking) is decided from the
 *      data, by which decoding gives well-formed lists;
 *   4. the chunks: each arena's heaps chunk by chunk (the others through
 *      heap_info->prev; the main arena's segments from mp_.sbrk_base, each
 *      to its top chunk or to the fenceposts that close it, the next one
 *      searched for), then the mmapped chunks by scanning anonymous mappings
 *      page by page.  The fenceposts sysmalloc leaves where it closes a
 *      heap or a segment are no chunks.
 * It reproduces mallinfo2() from what it walked, field by field.
 *
 * Data structures: the free lists become one array of (chunk, list) sorted by
 * address; the chunk walk runs through it with a cursor (chunks come in
 * address order), so classifying a chunk costs O(1) and the walk holds no
 * per-chunk state of its own.
 *
 * Corruption: every value read from the core is checked before it is used as
 * a size or a pointer; a bad chunk makes the walk warn and search forward for
 * the next chunk whose header chain is sound; a list that loops or leaves the
 * heap is cut where it goes wrong.  Every loop is bounded.
 */
#include <assert.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/chain.h"
#include "glibc.h"

enum {
	SIZE_SZ = 8,
	MINSIZE = 32,
	NBINS = 128,
	NFASTBINS = 10,
	MAX_ARENAS = 4096,
	MAX_HEAPS_PER_ARENA = 65536,
	MAX_WARNINGS = 100,
	RESYNC_DEPTH = 4,
};
enum { PREV_INUSE = 1, IS_MMAPPED = 2, NON_MAIN_ARENA = 4 };
enum { NONCONTIGUOUS_BIT = 2 };    /* malloc_state.flags */
static const uint64_t DEFAULT_HEAP_MAX = 64ull << 20;

struct free_entry {
	uint64_t chunk;
	uint8_t list;              /* enum cprof_free_list */
};

struct seg {
	uint64_t start, end;       /* chunks in [start, end) */
	uint64_t heap_info;        /* 0 for the main arena */
	uint32_t heap_id;
	bool has_top;
};

struct arena {
	uint64_t addr;
	bool is_main;
	uint64_t top, top_size, system_mem, flags;
	struct seg *segs;          /* oldest first */
	size_t n_segs;
	/* from the lists */
	uint64_t fast_count, fast_bytes, bin_count, bin_bytes;
	/* from the chunk walk */
	uint64_t hdr_free_count, hdr_free_bytes;
	struct cprof_arena_summary sum;
};

struct glibc {
	struct cprof_core *core;
	struct cprof_heap_walk *walk;
	cprof_object_fn *fn;
	void *fn_arg;
	bool stopped;

	const struct cprof_module *libc;
	uint64_t libc_bias;
	struct glibc_layout L;
	int minor;                 /* 2.<minor>, or -1 */
	char how_arena[64], how_mp[64], how_tcache[80];

	uint64_t main_arena, mp;
	uint64_t sbrk_base, mmapped_mem, tcache_count, heap_max;
	int64_t n_mmaps;
	bool mmap_counted;         /* n_mmaps and mmapped_mem were read */
	bool mangled;

	struct arena *arenas;
	size_t n_arenas;
	struct free_entry *free;
	size_t n_free, cap_free;
	uint64_t *tcaches;         /* user addresses of tcache structs */
	size_t n_tcaches;

	/* mmapped chunks */
	uint64_t mmap_count, mmap_bytes, mmap_used_bytes;

	/* a window of core memory for fast reads in the chunk walk */
	const uint8_t *span;
	uint64_t span_start, span_end;

	size_t n_warnings;
};

/* ---- reading and warning ---- */

/* A warning about the heap's data, with where it was noticed (the macro). */
#define gwarn(g, ...) gwarn_at((g), __FILE__, __LINE__, __VA_ARGS__)
static __attribute__((format(printf, 4, 5)))
void gwarn_at(struct glibc *g, const char *src_file, int src_line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cprof_heap_vwarn(g->core, "glibc", &g->n_warnings, MAX_WARNINGS, src_file, src_line, fmt, ap);
	va_end(ap);
}

static bool rd64(struct glibc *g, uint64_t addr, uint64_t *v)
{
	if (addr >= g->span_start && addr + 8 <= g->span_end && addr + 8 > addr) {
		memcpy(v, g->span + (addr - g->span_start), 8);
		return true;
	}
	return cprof_core_try_read(g->core, addr, v, 8);
}

static bool rd32(struct glibc *g, uint64_t addr, uint32_t *v)
{
	return cprof_core_try_read(g->core, addr, v, 4);
}

/* b when the core holds it, else where the run of memory it lacks that
 * holds b ends (up to end): page-by-page searches jump over what the core
 * does not hold - 2 GiB of MADV_DONTDUMP cost nothing. */
static uint64_t held_from(struct glibc *g, uint64_t b, uint64_t end)
{
	uint64_t run_end;
	if (b >= end || cprof_core_run(g->core, b, end, &run_end))
		return b;
	return run_end;
}

/* Makes [start, end) fast to read when the core holds it in one piece. */
static void set_span(struct glibc *g, uint64_t start, uint64_t end)
{
	g->span = end > start ? cprof_core_ptr(g->core, start, end - start) : NULL;
	g->span_start = g->span ? start : 0;
	g->span_end = g->span ? end : 0;
}

static bool mapped(struct glibc *g, uint64_t addr)
{
	return cprof_core_segment(g->core, addr) != NULL;
}

/* Whether a chunk of size at c ends by limit: c + size <= limit without
 * wrapping (a damaged size near 2^64 made c + size small, the walk went
 * backwards and never ended: a glibc fuzz target timeout). */
static bool ends_by(uint64_t c, uint64_t size, uint64_t limit)
{
	return c <= limit && size <= limit - c;
}

/* chunksize(p) with the flag bits, or false when unreadable. */
static bool chunk_size_field(struct glibc *g, uint64_t chunk, uint64_t *ret)
{
	return rd64(g, chunk + SIZE_SZ, ret);
}

/* ---- finding libc, its version and layout ---- */

static const struct cprof_module *find_libc(struct cprof_core *core)
{
	const struct cprof_module *m = cprof_core_find_module(core, "libc.so.");
	if (!m)
		m = cprof_core_find_module(core, "libc-2.");
	if (m)
		return m;
	/* Statically linked: malloc lives in the executable. */
	for (size_t i = 0; i < core->n_modules; i++) {
		uint64_t a;
		if (cprof_core_find_symbol(core, &core->modules[i], "main_arena", &a, NULL) ||
		    cprof_core_find_symbol(core, &core->modules[i], "__libc_malloc", &a, NULL))
			return &core->modules[i];
	}
	return NULL;
}

/* The minor version from the banner "... release version 2.36" in the file. */
static int version_from_banner(struct glibc *g)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(g->core, g->libc, &bias);
	if (!elf)
		return -1;
	size_t n;
	const char *raw = elf_rawfile(elf, &n);
	static const char key[] = "release version 2.";
	const char *p = raw ? memmem(raw, n, key, sizeof(key) - 1) : NULL;
	if (!p || (size_t)(p - raw) + sizeof(key) + 3 > n)
		return -1;
	p += sizeof(key) - 1;
	int minor = 0;
	for (int i = 0; i < 3 && p[i] >= '0' && p[i] <= '9'; i++)
		minor = minor * 10 + (p[i] - '0');
	return minor;
}

/* gnu_get_libc_version returns a pointer to "2.36": read it. */
static int version_from_function(struct glibc *g)
{
	uint64_t fn, size;
	if (!cprof_core_find_symbol(g->core, g->libc, "gnu_get_libc_version", &fn, &size))
		return -1;
	struct cprof_insn *ins;
	size_t n;
	struct cprof_error *err = cprof_disasm_refs(g->core, fn, size ? size : 16, &ins, &n);
	if (err) {
		cprof_error_destroy(err);
		return -1;
	}
	int minor = -1;
	for (size_t i = 0; i < n && minor < 0; i++) {
		char s[8] = { 0 };
		if (ins[i].kind != CPROF_INSN_LEA)
			continue;
		struct cprof_error *e = cprof_core_read(g->core, ins[i].target, s, 7);
		if (e) {
			cprof_error_destroy(e);
			continue;
		}
		if (s[0] == '2' && s[1] == '.')
			minor = atoi(s + 2);
	}
	free(ins);
	return minor;
}

/* __nptl_version (in .dynsym of libc.so.6, and in static binaries' .symtab)
 * is the string "2.36". */
static int version_from_nptl(struct glibc *g)
{
	uint64_t addr;
	char s[8] = { 0 };
	if (!cprof_core_find_symbol(g->core, g->libc, "__nptl_version", &addr, NULL))
		return -1;
	struct cprof_error *err = cprof_core_read(g->core, addr, s, 7);
	if (err) {
		cprof_error_destroy(err);
		return -1;
	}
	return s[0] == '2' && s[1] == '.' ? atoi(s + 2) : -1;
}

/* ---- validating candidates ---- */

static bool valid_arena(struct glibc *g, uint64_t a)
{
	uint64_t top, sys, next = a;
	if (!a || a & 7 || !rd64(g, a + g->L.ms_top, &top) ||
	    !rd64(g, a + g->L.ms_system_mem, &sys))
		return false;
	if (top != a + g->L.ms_bins - 16 && !mapped(g, top))
		return false;
	if (sys > (1ull << 47))
		return false;
	for (int i = 0; i < MAX_ARENAS; i++) {
		if (!rd64(g, next + g->L.ms_next, &next) || !next)
			return false;
		if (next == a)
			return true;
	}
	return false;
}

static bool valid_mp(struct glibc *g, uint64_t mp)
{
	uint64_t sbrk, tcount, tbins, mm;
	uint32_t nmm;
	if (!mp || mp & 7 || !rd64(g, mp + g->L.mp_sbrk_base, &sbrk) ||
	    !rd32(g, mp + g->L.mp_n_mmaps, &nmm) ||
	    !rd64(g, mp + g->L.mp_mmapped_mem, &mm))
		return false;
	if (sbrk && !mapped(g, sbrk))
		return false;
	if ((int32_t)nmm < 0 || mm > (1ull << 47) || (nmm == 0) != (mm == 0))
		return false;
	/* Once malloc has run in the main arena, sbrk_base is where its chunks
	   start: at or below its top chunk, within its system_mem (unless mmap
	   stood in for brk: the top may then be anywhere). */
	uint64_t top, sys;
	uint32_t flags;
	if (g->main_arena && rd64(g, g->main_arena + g->L.ms_top, &top) &&
	    rd64(g, g->main_arena + g->L.ms_system_mem, &sys) &&
	    rd32(g, g->main_arena + g->L.ms_flags, &flags) &&
	    top != g->main_arena + g->L.ms_bins - 16 &&
	    (!sbrk || (!(flags & NONCONTIGUOUS_BIT) && (top < sbrk || top - sbrk >= sys))))
		return false;
	if (g->L.has_tcache) {
		if (!rd64(g, mp + g->L.mp_tcache_count, &tcount) ||
		    !rd64(g, mp + g->L.mp_tcache_bins, &tbins))
			return false;
		if (tcount > 65535 || tbins == 0 || tbins > 76)
			return false;
	}
	return true;
}

/* ---- finding main_arena and mp_ ---- */

/* Symbol or DWARF variable `name` in libc. */
static bool from_debug_info(struct glibc *g, const char *name, uint64_t *ret,
			    const char **how)
{
	bool tls;
	if (cprof_core_find_symbol(g->core, g->libc, name, ret, NULL)) {
		*how = "symbol";
		return true;
	}
	if (cprof_dwarf_variable(g->core, g->libc, "malloc.c", name, ret, &tls) && !tls) {
		*how = "DWARF variable";
		return true;
	}
	return false;
}

/* The RIP-relative operands of an exported function, of one kind. */
static size_t function_refs(struct glibc *g, const char *fn_name,
			    enum cprof_insn_kind kind, uint64_t *out, size_t max)
{
	return cprof_module_function_refs(g->core, g->libc, fn_name, kind, out, max);
}

/*
 * Searches the file image of libc's writable segment for an 8-byte-aligned
 * position satisfying match(); returns the run-time addresses found.
 */
static size_t search_data_image(struct glibc *g,
				bool (*match)(struct glibc *g, const uint8_t *p,
					      uint64_t vaddr, uint64_t *cand),
				uint64_t *out, size_t max)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(g->core, g->libc, &bias);
	size_t phnum, k = 0, rawn;
	if (!elf || elf_getphdrnum(elf, &phnum))
		return 0;
	const uint8_t *raw = (const uint8_t *)elf_rawfile(elf, &rawn);
	if (!raw)
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_W) || ph.p_offset > rawn ||
		    ph.p_filesz > rawn - ph.p_offset)
			continue;
		uint64_t skip = (8 - (ph.p_vaddr & 7)) & 7;
		for (uint64_t o = skip; o + 40 <= ph.p_filesz && k < max; o += 8) {
			uint64_t cand;
			if (match(g, raw + ph.p_offset + o, ph.p_vaddr + o, &cand))
				out[k++] = cand + bias;
		}
	}
	return k;
}

/* main_arena.next = &main_arena in the file's initialized data. */
static bool match_arena_self(struct glibc *g, const uint8_t *p, uint64_t vaddr,
			     uint64_t *cand)
{
	uint64_t v;
	memcpy(&v, p, 8);
	if (v + g->L.ms_next != vaddr)
		return false;
	*cand = v;
	return true;
}

/* mp_'s initializer: trim_threshold, top_pad, mmap_threshold = 128 KiB,
 * arena_test = 8 (the defaults of every release). */
static bool match_mp_image(struct glibc *g, const uint8_t *p, uint64_t vaddr,
			   uint64_t *cand)
{
	(void)g;
	uint64_t v[4];
	memcpy(v, p, sizeof(v));
	if (v[0] != 0x20000 || v[1] != 0x20000 || v[2] != 0x20000 || v[3] != 8)
		return false;
	*cand = vaddr;
	return true;
}

/* main_arena as its static initializer left it: malloc never ran (another
 * allocator serves malloc: LD_PRELOAD=libjemalloc.so.2). */
static bool never_initialized(struct glibc *g, uint64_t a)
{
	uint64_t top, sys, next;
	return a && !(a & 7) && rd64(g, a + g->L.ms_top, &top) && !top &&
	       rd64(g, a + g->L.ms_system_mem, &sys) && !sys &&
	       rd64(g, a + g->L.ms_next, &next) && next == a;
}

/* main_arena: the first candidate ok() accepts. */
static bool find_main_arena(struct glibc *g, bool (*ok)(struct glibc *g, uint64_t a))
{
	const char *how;
	uint64_t c[16];
	if (from_debug_info(g, "main_arena", &g->main_arena, &how) &&
	    ok(g, g->main_arena)) {
		snprintf(g->how_arena, sizeof(g->how_arena), "%s main_arena", how);
		return true;
	}
	static const char *const fns[] = { "mallinfo2", "mallinfo", "malloc_stats",
					   "malloc_trim" };
	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
		size_t n = function_refs(g, fns[f], CPROF_INSN_LEA, c, 16);
		for (size_t i = 0; i < n; i++) {
			if (ok(g, c[i])) {
				g->main_arena = c[i];
				snprintf(g->how_arena, sizeof(g->how_arena),
					 "disassembly of %s", fns[f]);
				return true;
			}
		}
	}
	size_t n = search_data_image(g, match_arena_self, c, 16);
	for (size_t i = 0; i < n; i++) {
		if (ok(g, c[i])) {
			g->main_arena = c[i];
			snprintf(g->how_arena, sizeof(g->how_arena),
				 "the self-pointer main_arena.next in libc's data");
			return true;
		}
	}
	return false;
}

static bool find_mp(struct glibc *g)
{
	const char *how;
	uint64_t c[16];
	if (from_debug_info(g, "mp_", &g->mp, &how) && valid_mp(g, g->mp)) {
		snprintf(g->how_mp, sizeof(g->how_mp), "%s mp_", how);
		return true;
	}
	/* malloc's tcache path: cmp mp_.tcache_bins(%rip), reg. */
	if (g->L.has_tcache) {
		static const char *const fns[] = { "malloc", "__libc_malloc" };
		for (size_t f = 0; f < 2; f++) {
			size_t n = function_refs(g, fns[f], CPROF_INSN_CMP, c, 16);
			for (size_t i = 0; i < n; i++) {
				uint64_t mp = c[i] - g->L.mp_tcache_bins;
				if (valid_mp(g, mp)) {
					g->mp = mp;
					snprintf(g->how_mp, sizeof(g->how_mp),
						 "disassembly of %s", fns[f]);
					return true;
				}
			}
		}
	}
	size_t n = search_data_image(g, match_mp_image, c, 16);
	for (size_t i = 0; i < n; i++) {
		if (valid_mp(g, c[i])) {
			g->mp = c[i];
			snprintf(g->how_mp, sizeof(g->how_mp),
				 "mp_'s initial values in libc's data");
			return true;
		}
	}
	return false;
}

/* ---- arenas and their heaps ---- */

static struct cprof_error *add_seg(struct glibc *g, struct arena *a,
				   uint64_t start, uint64_t end, uint64_t hinfo)
{
	struct seg *s = realloc(a->segs, (a->n_segs + 1) * sizeof(*s));
	if (!s)
		return &cprof_enomem;
	a->segs = s;
	s = &a->segs[a->n_segs++];
	memset(s, 0, sizeof(*s));
	s->start = start;
	s->end = end;
	s->heap_info = hinfo;
	struct cprof_heap h = {
		.allocator = "glibc",
		.arena = a->addr,
		.start = hinfo ? hinfo : start,
		.end = end,
	};
	strcpy(h.kind, a->is_main ? "main_arena" : "arena");
	return cprof_heap_add(g->walk, &h, &s->heap_id);
}

/* heap_info->prev of the heap_info at h (0: the end, or unreadable). */
static uint64_t heap_prev(void *arg, uint64_t h)
{
	struct glibc *g = arg;
	uint64_t prev;
	return rd64(g, h + g->L.hi_prev, &prev) ? prev : 0;
}

/* A non-main arena's heaps, through heap_info->prev from the top's heap. */
static struct cprof_error *arena_segs(struct glibc *g, struct arena *a)
{
	uint64_t h = a->top & ~(g->heap_max - 1);
	struct seg *tmp = NULL;
	size_t n = 0;
	struct cprof_error *err = NULL;
	/* A list that comes back to a heap it holds would hand out the same
	   heaps (and their chunks) again and again: each is walked once. */
	bool loops;
	uint64_t distinct = cprof_chain_length(heap_prev, g, h, MAX_HEAPS_PER_ARENA, &loops);
	if (loops)
		gwarn(g, "arena 0x%llx: its heap_info list (prev) loops after %llu heaps; each is walked once",
		      (unsigned long long)a->addr, (unsigned long long)distinct);
	for (uint64_t i = 0; h && i < distinct; i++) {
		uint64_t ar, prev, size;
		if (!rd64(g, h + g->L.hi_ar_ptr, &ar) || !rd64(g, h + g->L.hi_prev, &prev) ||
		    !rd64(g, h + g->L.hi_heap_size, &size)) {
			gwarn(g, "arena 0x%llx: heap_info at 0x%llx is not in the core; its heaps from there on are not walked",
			      (unsigned long long)a->addr, (unsigned long long)h);
			break;
		}
		if (ar != a->addr || size > g->heap_max || size < g->L.hi_size) {
			gwarn(g, "arena 0x%llx: heap_info at 0x%llx is corrupt (ar_ptr 0x%llx, size 0x%llx); its heaps from there on are not walked",
			      (unsigned long long)a->addr, (unsigned long long)h,
			      (unsigned long long)ar, (unsigned long long)size);
			break;
		}
		struct seg *t = realloc(tmp, (n + 1) * sizeof(*t));
		if (!t) {
			err = &cprof_enomem;
			break;
		}
		tmp = t;
		uint64_t start = h + g->L.hi_size;
		if (a->addr == h + g->L.hi_size)     /* the arena's first heap */
			start = (a->addr + g->L.ms_size + 15) & ~15ull;
		tmp[n].start = start;
		tmp[n].end = i == 0 ? a->top + a->top_size : h + size;
		tmp[n].heap_info = h;
		n++;
		if (prev && (prev & (g->heap_max - 1))) {
			gwarn(g, "arena 0x%llx: heap_info at 0x%llx has a misaligned prev 0x%llx",
			      (unsigned long long)a->addr, (unsigned long long)h,
			      (unsigned long long)prev);
			break;
		}
		h = prev;
	}
	/* Oldest first, so that objects come in allocation-history order. */
	for (size_t i = n; !err && i-- > 0;) {
		err = add_seg(g, a, tmp[i].start, tmp[i].end, tmp[i].heap_info);
		if (!err && i == 0)
			a->segs[a->n_segs - 1].has_top = true;
	}
	free(tmp);
	return err;
}

/* malloc_state.next of the arena at a: 0 at the end of the ring (back at
 * main_arena) or when unreadable. */
static uint64_t arena_next(void *arg, uint64_t a)
{
	struct glibc *g = arg;
	uint64_t next;
	return rd64(g, a + g->L.ms_next, &next) && next != g->main_arena ? next : 0;
}

static struct cprof_error *read_arenas(struct glibc *g)
{
	uint64_t a = g->main_arena;
	/* A ring that comes back to an arena other than main_arena would hand
	   out the same arenas (and their heaps) again: each is read once. */
	bool loops;
	uint64_t distinct = cprof_chain_length(arena_next, g, a, MAX_ARENAS, &loops);
	if (loops)
		gwarn(g, "the arena list (malloc_state.next) loops after %llu arenas without coming back to main_arena; each is read once",
		      (unsigned long long)distinct);
	for (uint64_t i = 0; i < distinct; i++) {
		struct arena *ar = realloc(g->arenas, (g->n_arenas + 1) * sizeof(*ar));
		if (!ar)
			return &cprof_enomem;
		g->arenas = ar;
		ar = &g->arenas[g->n_arenas++];
		memset(ar, 0, sizeof(*ar));
		ar->addr = a;
		ar->is_main = a == g->main_arena;
		uint32_t flags = 0;
		rd64(g, a + g->L.ms_top, &ar->top);
		rd64(g, a + g->L.ms_system_mem, &ar->system_mem);
		rd32(g, a + g->L.ms_flags, &flags);
		ar->flags = flags;
		uint64_t tsz = 0;
		if (ar->top != a + g->L.ms_bins - 16 && chunk_size_field(g, ar->top, &tsz))
			ar->top_size = tsz & ~7ull;
		uint64_t next;
		if (!rd64(g, a + g->L.ms_next, &next))
			return NULL;
		if (next == g->main_arena)
			return NULL;
		a = next;
	}
	if (!loops && distinct == MAX_ARENAS)
		gwarn(g, "the arena list does not return to main_arena after %d arenas", MAX_ARENAS);
	return NULL;
}

/* ---- free lists ---- */

static struct cprof_error *add_free(struct glibc *g, uint64_t chunk, uint8_t list)
{
	if (g->n_free == g->cap_free) {
		size_t cap = g->cap_free ? 2 * g->cap_free : 1024;
		struct free_entry *f = realloc(g->free, cap * sizeof(*f));
		if (!f)
			return &cprof_enomem;
		g->free = f;
		g->cap_free = cap;
	}
	g->free[g->n_free].chunk = chunk;
	g->free[g->n_free].list = list;
	g->n_free++;
	return NULL;
}

/*
 * Walks a singly linked list (a tcache bin or a fastbin) whose head points
 * at `head` (a chunk address), every chunk of size want.  Links are stored at
 * chunk+16; tcache links point at user addresses, fastbin links at chunks.
 * Returns the length, or -1 when the list is malformed under this decoding
 * (max elements at most, for cycles).  Adds the chunks to the free set when
 * list != 0.
 */
static long walk_slist(struct glibc *g, uint64_t head, bool mangled,
		       bool user_links, uint64_t want, long max, uint8_t list,
		       struct cprof_error **err)
{
	long n = 0;
	uint64_t p = head;
	while (p) {
		uint64_t size, link;
		if (n >= max || (p & 15) || !chunk_size_field(g, p, &size) ||
		    (size & ~7ull) != want || !rd64(g, p + 16, &link))
			return -1;
		if (list && (*err = add_free(g, p, list)))
			return -1;
		n++;
		uint64_t next = mangled ? link ^ ((p + 16) >> 12) : link;
		if (next && user_links)
			next -= 16;
		p = next;
	}
	return n;
}

/* Votes for or against mangling on one list; returns +1, -1 or 0. */
static int vote(struct glibc *g, uint64_t head, bool user_links, uint64_t want,
		long count)
{
	struct cprof_error *err = NULL;
	long m = walk_slist(g, head, true, user_links, want, count + 1, 0, &err);
	long u = walk_slist(g, head, false, user_links, want, count + 1, 0, &err);
	bool m_ok = m >= 0 && (count < 0 || m == count);
	bool u_ok = u >= 0 && (count < 0 || u == count);
	return m_ok && !u_ok ? 1 : u_ok && !m_ok ? -1 : 0;
}

/* Reads tcache bin i of the struct at t: head (a chunk) and count. */
static bool tcache_bin(struct glibc *g, uint64_t t, uint32_t i, uint64_t *head,
		       long *count)
{
	uint64_t e, c = 0;
	if (!rd64(g, t + g->L.tc_entries + 8ull * i, &e))
		return false;
	if (!cprof_core_try_read(g->core,
		t + g->L.tc_counts + (uint64_t)i * g->L.tc_count_width, &c,
		g->L.tc_count_width))
		return false;
	if (g->L.tc_num_slots) {
		if (c > g->tcache_count)
			return false;
		c = g->tcache_count - c;
	}
	*head = e ? e - 16 : 0;
	*count = (long)c;
	return true;
}

/* A tcache_perthread_struct at user address t: sane counts and heads. */
static bool valid_tcache(struct glibc *g, uint64_t t)
{
	uint64_t size;
	if (!t || (t & 15) || !chunk_size_field(g, t - 16, &size) ||
	    (size & ~7ull) != g->L.tc_chunk_size)
		return false;
	long total = 0;
	for (uint32_t i = 0; i < g->L.tc_bins; i++) {
		uint64_t head;
		long count;
		if (!tcache_bin(g, t, i, &head, &count))
			return false;
		if ((count == 0) != (head == 0) || count > (long)g->tcache_count)
			return false;
		total += count;
	}
	return true;
}

static struct cprof_error *add_tcache(struct glibc *g, uint64_t t)
{
	for (size_t i = 0; i < g->n_tcaches; i++)
		if (g->tcaches[i] == t)
			return NULL;
	uint64_t *a = realloc(g->tcaches, (g->n_tcaches + 1) * sizeof(*a));
	if (!a)
		return &cprof_enomem;
	g->tcaches = a;
	g->tcaches[g->n_tcaches++] = t;
	return NULL;
}

/*
 * Every thread's tcache, through the TLS slot that malloc loads with a
 * `mov %fs:(reg)` (the initial-exec GOT slot holds the thread-pointer offset),
 * or a `mov %fs:disp` in a static binary.  A slot counts only when every
 * thread's value there is NULL or a valid tcache struct.
 */
static struct cprof_error *tcaches_from_tls(struct glibc *g, bool *found)
{
	uint64_t fn, size;
	*found = false;
	if (!cprof_core_find_symbol(g->core, g->libc, "malloc", &fn, &size) &&
	    !cprof_core_find_symbol(g->core, g->libc, "__libc_malloc", &fn, &size))
		return NULL;
	struct cprof_insn *ins;
	size_t n;
	struct cprof_error *err = cprof_disasm_refs(g->core, fn, size ? size : 1024,
						    &ins, &n);
	if (err) {
		cprof_error_destroy(err);
		return NULL;
	}
	for (size_t i = 0; i < n && !*found; i++) {
		int64_t tpoff;
		if (ins[i].fs_abs) {
			tpoff = ins[i].fs_disp;
		} else if (ins[i].kind == CPROF_INSN_LOAD && ins[i].target) {
			/* the GOT load, then the %fs load through its register */
			bool used = false;
			for (size_t k = i + 1; k < n && k <= i + 4; k++)
				if (ins[k].fs_base && ins[k].fs_base == ins[i].reg)
					used = true;
			uint64_t v;
			if (!used || !rd64(g, ins[i].target, &v))
				continue;
			tpoff = (int64_t)v;
		} else {
			continue;
		}
		if (tpoff >= 0 || tpoff < -(1 << 20))
			continue;  /* variant II: TLS sits below the thread pointer */
		bool ok = g->core->n_threads > 0, any = false;
		for (size_t t = 0; ok && t < g->core->n_threads; t++) {
			uint64_t fs = g->core->threads[t].regs[CPROF_REG_FS_BASE], v;
			if (!fs)
				continue;
			if (!rd64(g, fs + tpoff, &v) || (v && !valid_tcache(g, v)))
				ok = false;
			any |= v != 0;
		}
		if (!ok || !any)
			continue;
		for (size_t t = 0; t < g->core->n_threads && !err; t++) {
			uint64_t fs = g->core->threads[t].regs[CPROF_REG_FS_BASE], v;
			if (fs && rd64(g, fs + tpoff, &v) && v)
				err = add_tcache(g, v);
		}
		*found = true;
		snprintf(g->how_tcache, sizeof(g->how_tcache),
			 "each thread's TLS (slot found in malloc)");
	}
	free(ins);
	return err;
}

static int free_cmp(const void *a, const void *b)
{
	const struct free_entry *x = a, *y = b;
	return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

/* Decides mangling from the data (safe-linking), the version breaking ties. */
static void decide_mangling(struct glibc *g)
{
	int votes = 0;
	for (size_t t = 0; t < g->n_tcaches; t++) {
		for (uint32_t i = 0; i < g->L.tc_bins; i++) {
			uint64_t head;
			long count;
			if (tcache_bin(g, g->tcaches[t], i, &head, &count) && head)
				votes += vote(g, head, true, MINSIZE + 16ull * i, count);
		}
	}
	for (size_t a = 0; a < g->n_arenas; a++) {
		for (int i = 0; i < NFASTBINS; i++) {
			uint64_t head;
			if (rd64(g, g->arenas[a].addr + g->L.ms_fastbins + 8ull * i, &head) && head)
				votes += vote(g, head, false, MINSIZE + 16ull * i, -1);
		}
	}
	g->mangled = votes > 0 ? true : votes < 0 ? false : g->minor >= 32;
}

static struct cprof_error *collect_tcache_lists(struct glibc *g)
{
	struct cprof_error *err = NULL;
	for (size_t t = 0; t < g->n_tcaches; t++) {
		for (uint32_t i = 0; i < g->L.tc_bins; i++) {
			uint64_t head;
			long count;
			if (!tcache_bin(g, g->tcaches[t], i, &head, &count) || !head)
				continue;
			long n = walk_slist(g, head, g->mangled, true, MINSIZE + 16ull * i,
					    count, CPROF_FREE_TCACHE, &err);
			if (err)
				return err;
			if (n != count)
				gwarn(g, "tcache 0x%llx bin %u: the list does not hold its count of %ld chunks (broken link or cycle); kept what was sound",
				      (unsigned long long)g->tcaches[t], i, count);
		}
	}
	return NULL;
}

static struct cprof_error *collect_fastbins(struct glibc *g, struct arena *a)
{
	struct cprof_error *err = NULL;
	long max = (long)(a->system_mem / MINSIZE) + 1;
	for (int i = 0; i < NFASTBINS; i++) {
		uint64_t head;
		if (!rd64(g, a->addr + g->L.ms_fastbins + 8ull * i, &head) || !head)
			continue;
		size_t before = g->n_free;
		long n = walk_slist(g, head, g->mangled, false, MINSIZE + 16ull * i,
				    max, CPROF_FREE_FASTBIN, &err);
		if (err)
			return err;
		if (n < 0)
			gwarn(g, "arena 0x%llx fastbin %d: the list breaks (bad link, wrong chunk size or a cycle); kept the chunks before the break",
			      (unsigned long long)a->addr, i);
		for (size_t k = before; k < g->n_free; k++) {
			uint64_t sz = 0;
			chunk_size_field(g, g->free[k].chunk, &sz);
			a->fast_count++;
			a->fast_bytes += sz & ~7ull;
		}
	}
	return NULL;
}

static uint8_t bin_list(int i)
{
	return i == 1 ? CPROF_FREE_UNSORTED : i < 64 ? CPROF_FREE_SMALLBIN :
						       CPROF_FREE_LARGEBIN;
}

/* The doubly linked bins 1..127, forwards, checking each back link. */
static struct cprof_error *collect_bins(struct glibc *g, struct arena *a)
{
	struct cprof_error *err;
	long max = (long)(a->system_mem / MINSIZE) + 1;
	for (int i = 1; i < NBINS; i++) {
		uint64_t b = a->addr + g->L.ms_bins + 16ull * (i - 1) - 16;
		uint64_t p, prev = b;
		if (!rd64(g, b + 16, &p))
			continue;
		long n = 0;
		while (p != b) {
			uint64_t bk, size, fd;
			if (n >= max || (p & 15) || !rd64(g, p + 24, &bk) || bk != prev ||
			    !chunk_size_field(g, p, &size) || !rd64(g, p + 16, &fd)) {
				gwarn(g, "arena 0x%llx bin %d: broken at chunk 0x%llx (bad back link, unreadable chunk or a cycle); kept the chunks before it",
				      (unsigned long long)a->addr, i, (unsigned long long)p);
				break;
			}
			if ((err = add_free(g, p, bin_list(i))))
				return err;
			a->bin_count++;
			a->bin_bytes += size & ~7ull;
			prev = p;
			p = fd;
			n++;
		}
	}
	return NULL;
}

/* ---- the chunk walk ---- */

/* A chunk at c whose header chain is sound for RESYNC_DEPTH chunks. */
static bool sound_at(struct glibc *g, uint64_t c, uint64_t end, uint64_t top)
{
	for (int d = 0; d < RESYNC_DEPTH; d++) {
		uint64_t size;
		if (c == top || c == end)
			return true;
		if (!chunk_size_field(g, c, &size))
			return false;
		size &= ~7ull;
		if (size < MINSIZE || (size & 15) || !ends_by(c, size, end))
			return false;
		c += size;
	}
	return true;
}

/* The next sound chunk after c, at c's alignment; end when there is none.
 * The search jumps over memory the core does not hold: a segment whose end
 * came from a damaged size field may declare exabytes. */
static uint64_t resync(struct glibc *g, uint64_t c, uint64_t end, uint64_t top)
{
	for (uint64_t p = c + 16; p < end && p > c; p += 16) {
		uint64_t h = held_from(g, p, end);
		if (h != p) {
			if (h >= end)
				break;
			p = c + ((h - c + 15) & ~15ull) - 16;   /* the loop adds 16 */
			continue;
		}
		if (sound_at(g, p, end, top))
			return p;
	}
	return end;
}

static bool is_tcache_struct(const struct glibc *g, uint64_t user)
{
	for (size_t i = 0; i < g->n_tcaches; i++)
		if (g->tcaches[i] == user)
			return true;
	return false;
}

static void emit(struct glibc *g, struct arena *a, const struct cprof_object *o,
		 uint64_t chunk_size)
{
	if (o->state == CPROF_OBJECT_USED) {
		a->sum.used_count++;
		a->sum.used_bytes += o->size;
	} else {
		a->sum.free_count++;
		a->sum.free_bytes += chunk_size;
	}
	if (!g->stopped && !g->fn(o, g->fn_arg))
		g->stopped = true;
}

/*
 * Whether the chunk at c of the given size is where sysmalloc closed a
 * non-main heap it gave up for a new one: a 16- or 32-byte fencepost chunk
 * (32 when the old top had 48 bytes) before a header of size 0 in the heap's
 * last 16 bytes, or that header itself.
 */
static bool closes_heap(struct glibc *g, uint64_t c, uint64_t size, uint64_t end)
{
	uint64_t last;
	if (size == 0 && c + 16 == end)
		return true;
	return (size == 16 || size == 32) && c + size + 16 == end &&
	       chunk_size_field(g, c + size, &last) && (last & ~7ull) == 0;
}

/*
 * Walks one heap segment chunk by chunk.  `cursor` indexes g->free, which is
 * sorted; it only moves forward.
 */
static void walk_seg(struct glibc *g, struct arena *a, const struct seg *s)
{
	uint64_t top = s->has_top ? a->top : 0;
	uint64_t end = s->end;
	set_span(g, s->start, end);
	size_t lo = 0, hi = g->n_free;
	while (lo < hi) {          /* first free entry >= start */
		size_t mid = lo + (hi - lo) / 2;
		if (g->free[mid].chunk < s->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t cursor = lo;
	uint64_t c = s->start;
	while (c < end && !g->stopped) {
		uint64_t field;
		if (c == top) {
			if (a->top_size >= MINSIZE) {
				struct cprof_object o = {
					.addr = top + 16, .size = a->top_size - SIZE_SZ,
					.heap = s->heap_id, .state = CPROF_OBJECT_FREE,
					.free_list = CPROF_FREE_TOP, .flags = PREV_INUSE,
				};
				emit(g, a, &o, a->top_size);
			}
			break;
		}
		if (!chunk_size_field(g, c, &field)) {
			gwarn(g, "arena 0x%llx: chunk at 0x%llx is not in the core; the rest of this heap is not walked",
			      (unsigned long long)a->addr, (unsigned long long)c);
			break;
		}
		uint64_t size = field & ~7ull;
		if (!s->has_top && s->heap_info && closes_heap(g, c, size, end))
			break;
		if (size == 16) {          /* a main arena segment's fenceposts */
			c += 16;
			continue;
		}
		uint64_t next_field = 0;
		uint64_t limit = top ? top : end;
		bool bad = size < MINSIZE || (size & 15) || !ends_by(c, size, limit) ||
			   !chunk_size_field(g, c + size, &next_field) ||
			   (field & IS_MMAPPED);
		if (bad) {
			uint64_t to = resync(g, c, limit, top);
			gwarn(g, "arena 0x%llx: chunk at 0x%llx has a bad size field 0x%llx; skipped %llu bytes to the next sound chunk at 0x%llx",
			      (unsigned long long)a->addr, (unsigned long long)c,
			      (unsigned long long)field,
			      (unsigned long long)(to - c), (unsigned long long)to);
			c = to;
			continue;
		}
		while (cursor < g->n_free && g->free[cursor].chunk < c)
			cursor++;
		uint8_t list = cursor < g->n_free && g->free[cursor].chunk == c ?
			       g->free[cursor].list : CPROF_FREE_NONE;
		bool in_use = next_field & PREV_INUSE;
		struct cprof_object o = {
			.addr = c + 16,
			.size = size - SIZE_SZ,
			.heap = s->heap_id,
			.flags = (uint16_t)(field & 7),
		};
		if (in_use) {
			if (list == CPROF_FREE_TCACHE || list == CPROF_FREE_FASTBIN) {
				o.state = CPROF_OBJECT_FREE;
				o.free_list = list;
			} else {
				if (list)
					gwarn(g, "chunk at 0x%llx is in a bin but the next chunk says it is in use",
					      (unsigned long long)c);
				o.state = CPROF_OBJECT_USED;
				if (is_tcache_struct(g, c + 16))
					o.flags |= CPROF_OBJECT_ALLOCATOR_INTERNAL;
			}
		} else {
			o.state = CPROF_OBJECT_FREE;
			o.free_list = list;
			if (!list || list == CPROF_FREE_TCACHE || list == CPROF_FREE_FASTBIN) {
				if (!list)
					gwarn(g, "chunk at 0x%llx is free but in no bin",
					      (unsigned long long)c);
				o.free_list = list ? list : CPROF_FREE_OTHER;
			}
			a->hdr_free_count++;
			a->hdr_free_bytes += size;
		}
		emit(g, a, &o, size);
		c += size;
	}
	set_span(g, 0, 0);
}

/*
 * The tcache fallback: any in-use chunk of the tcache struct's size that
 * validates as one.  Runs before the free lists exist, so it walks the heap
 * headers only.
 */
static struct cprof_error *tcaches_from_chunks(struct glibc *g)
{
	struct cprof_error *err = NULL;
	for (size_t i = 0; i < g->n_arenas && !err; i++) {
		struct arena *a = &g->arenas[i];
		for (size_t k = 0; k < a->n_segs && !err; k++) {
			const struct seg *s = &a->segs[k];
			uint64_t end = s->has_top ? a->top : s->end, c = s->start;
			set_span(g, s->start, s->end);
			while (c < end) {
				uint64_t f;
				if (!chunk_size_field(g, c, &f))
					break;
				uint64_t size = f & ~7ull;
				if (size == 16) {
					c += 16;
					continue;
				}
				if (size < MINSIZE || (size & 15) || !ends_by(c, size, end)) {
					c = resync(g, c, end, s->has_top ? a->top : 0);
					continue;
				}
				if (size == g->L.tc_chunk_size && valid_tcache(g, c + 16))
					err = add_tcache(g, c + 16);
				c += size;
			}
			set_span(g, 0, 0);
		}
	}
	if (g->n_tcaches)
		snprintf(g->how_tcache, sizeof(g->how_tcache),
			 "in-use chunks shaped like a tcache (TLS slot not found)");
	return err;
}

/* ---- mmapped chunks ---- */

static bool in_arena_heap(const struct glibc *g, uint64_t addr, uint64_t *skip_to)
{
	for (size_t i = 0; i < g->n_arenas; i++) {
		const struct arena *a = &g->arenas[i];
		for (size_t k = 0; k < a->n_segs; k++) {
			uint64_t lo = a->segs[k].heap_info ? a->segs[k].heap_info :
				      a->segs[k].start;
			uint64_t hi = a->segs[k].heap_info ?
				      a->segs[k].heap_info + g->heap_max : a->segs[k].end;
			if (lo <= addr && addr < hi) {
				*skip_to = hi;
				return true;
			}
		}
	}
	return false;
}

/* Memory another allocator claimed (a Go arena, a jemalloc extent) holds no
 * glibc chunk: its page headers must not be taken for mmapped chunks. */
static bool claimed_by_other(const struct glibc *g, uint64_t addr, uint64_t *skip_to)
{
	const struct cprof_claim *c = cprof_heap_claimed(g->walk, addr);
	if (!c || c->owner == g->walk->current)
		return false;
	*skip_to = c->end;
	return true;
}

static bool is_stack(const struct cprof_core *core, const struct cprof_segment *s)
{
	for (size_t i = 0; i < core->n_threads; i++) {
		uint64_t sp = core->threads[i].regs[CPROF_REG_RSP];
		if (s->start <= sp && sp < s->end)
			return true;
	}
	return false;
}

/* An mmapped chunk header at c: prev_size == lead, size & 7 == IS_MMAPPED. */
static bool mmap_header(struct glibc *g, uint64_t c, uint64_t lead,
			uint64_t limit, uint64_t *size_ret)
{
	uint64_t prev, f;
	if (!rd64(g, c, &prev) || !rd64(g, c + 8, &f))
		return false;
	uint64_t size = f & ~7ull;
	if (prev != lead || (f & 7) != IS_MMAPPED || size < MINSIZE ||
	    ((lead + size) & (g->core->page_size - 1)) || c + size > limit ||
	    c + size < c)
		return false;
	*size_ret = size;
	return true;
}

/*
 * Looks past a stale header at b for the memalign'd chunk that ends where it
 * ends.  Its user address is aligned, so beyond the first page (searched in
 * 16-byte steps) it sits at a page boundary or 16 bytes below one.
 */
static void find_realigned(struct glibc *g, uint64_t b, uint64_t size,
			   uint64_t *chunk, uint64_t *csize)
{
	uint64_t page = g->core->page_size;
	for (uint64_t o = 16; o < size; o += 16) {
		if (o > page && ((o + 16) & (page - 1)) > 16) {
			o = (o & ~(page - 1)) + page - 32;   /* next: k*page - 16 */
			continue;
		}
		uint64_t sz2, h = held_from(g, b + o, b + size);
		if (h != b + o) {          /* next candidate past the hole */
			uint64_t next = ((h - b) + page - 1) & ~(page - 1);
			if (next - 32 > o)
				o = next - 32;
			continue;
		}
		if (mmap_header(g, b + o, o, b + size, &sz2) && o + sz2 == size) {
			*chunk = b + o;
			*csize = sz2;
			return;
		}
	}
}

/*
 * The first page in [b, end) (b page-aligned) that the core holds and whose
 * first 16 bytes could be a fresh mmapped chunk's header (prev_size 0, size
 * & 7 == IS_MMAPPED), or end: one look at each page's bytes in place, the
 * lookups of mmap_header and the heap tests only for candidates (most pages
 * are not; a profile of the glibc fuzz target had 2/3 of its time in them).
 * A header that straddles two runs is a candidate too: mmap_header decides.
 */
static uint64_t next_mmap_candidate(const struct glibc *g, uint64_t b, uint64_t end)
{
	uint64_t page = g->core->page_size;
	while (b < end) {
		uint64_t run_end;
		const uint8_t *p = cprof_core_run(g->core, b, end, &run_end);
		if (!p) {
			b = (run_end + page - 1) & ~(page - 1);
			continue;
		}
		for (const uint64_t run_start = b; b < run_end; b += page) {
			uint64_t h[2];
			if (run_end - b < sizeof(h))
				return b;
			memcpy(h, p + (b - run_start), sizeof(h));
			if (h[0] == 0 && (h[1] & 7) == IS_MMAPPED)
				return b;
			if (end - b <= page)   /* the last page (b + page may wrap) */
				return end;
		}
	}
	return end;
}

/* A page that reads as an mmapped chunk: the mapping's start b, its size,
 * and the chunk in it (memalign's realigned one, past a stale header). */
struct mmap_candidate {
	uint64_t b, size, chunk, csize;
};

/*
 * glibc counts its mmapped chunks (mp_.n_mmaps, mp_.mmapped_mem).  Memory
 * no walker claims can hold a page that reads as one (a Go runtime's span
 * structures in a cgo process did: prev_size 0, a size with IS_MMAPPED):
 * when the pages found are more than glibc counts and leaving out one set
 * of the surplus makes both counts agree, that set is not glibc's.  With
 * glibc counting none, every candidate goes; with a surplus of one, the one
 * candidate whose size is the difference, if exactly one is.  Otherwise
 * they all stay, and the summary's check warns that the counts differ.
 */
static void reconcile_mmapped(struct glibc *g, struct mmap_candidate *c, size_t *n)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < *n; i++)
		bytes += c[i].size;
	if (!g->mmap_counted || g->n_mmaps < 0 || (uint64_t)g->n_mmaps >= *n ||
	    bytes <= g->mmapped_mem)
		return;
	size_t drop = SIZE_MAX;
	if (!g->n_mmaps && !g->mmapped_mem) {
		for (size_t i = 0; i < *n; i++)
			gwarn(g, "0x%llx reads as an mmapped chunk of %llu bytes, but mp_ counts none: "
			      "not glibc's memory, left out", (unsigned long long)c[i].chunk,
			      (unsigned long long)c[i].size);
		*n = 0;
		return;
	}
	if ((uint64_t)g->n_mmaps + 1 != *n)
		return;
	for (size_t i = 0; i < *n; i++)
		if (c[i].size == bytes - g->mmapped_mem) {
			if (drop != SIZE_MAX)
				return;    /* two fit: which is not glibc's is unknown */
			drop = i;
		}
	if (drop == SIZE_MAX)
		return;
	gwarn(g, "0x%llx reads as an mmapped chunk of %llu bytes, but mp_ counts %lld chunks "
	      "(%llu bytes), which are the others: not glibc's memory, left out",
	      (unsigned long long)c[drop].chunk, (unsigned long long)c[drop].size,
	      (long long)g->n_mmaps, (unsigned long long)g->mmapped_mem);
	memmove(c + drop, c + drop + 1, (*n - drop - 1) * sizeof(*c));
	(*n)--;
}

/* Every page of anonymous rw memory that reads as an mmapped chunk. */
static struct cprof_error *find_mmapped(struct glibc *g, struct mmap_candidate **ret,
					size_t *n_ret)
{
	struct cprof_core *core = g->core;
	uint64_t page = core->page_size;
	struct mmap_candidate *c = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < core->n_segments && !g->stopped; i++) {
		const struct cprof_segment *s = &core->segments[i];
		if (s->file >= 0 || (s->flags & (CPROF_SEG_R | CPROF_SEG_W)) !=
		    (CPROF_SEG_R | CPROF_SEG_W) || is_stack(core, s))
			continue;
		uint64_t b = s->start;
		while ((b = next_mmap_candidate(g, b, s->end)) < s->end && !g->stopped) {
			uint64_t skip, size;
			if (in_arena_heap(g, b, &skip) || claimed_by_other(g, b, &skip) ||
			    (skip = held_from(g, b, s->end)) != b) {
				uint64_t next = (skip + page - 1) & ~(page - 1);
				if (next <= b)     /* past the top of the address space */
					break;
				b = next;
				continue;
			}
			if (!mmap_header(g, b, 0, s->end, &size)) {
				if (s->end - b <= page)
					break;
				b += page;
				continue;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				struct mmap_candidate *m = realloc(c, cap * sizeof(*c));
				if (!m) {
					free(c);
					return &cprof_enomem;
				}
				c = m;
			}
			/* memalign leaves the original header at the mapping's start
			   stale; the real chunk sits at b + lead with prev_size ==
			   lead and the same end. */
			c[n] = (struct mmap_candidate){ b, size, b, size };
			find_realigned(g, b, size, &c[n].chunk, &c[n].csize);
			n++;
			b += size;
		}
	}
	*ret = c;
	*n_ret = n;
	return NULL;
}

static struct cprof_error *walk_mmapped(struct glibc *g)
{
	struct arena none = { 0 };
	struct mmap_candidate *c;
	size_t n;
	struct cprof_error *err = find_mmapped(g, &c, &n);
	if (err)
		return err;
	reconcile_mmapped(g, c, &n);
	for (size_t i = 0; i < n && !err && !g->stopped; i++) {
		/* One heap row per mapping of a chunk: the kernel may merge
		   neighbouring mappings, and what lies between chunks is not
		   the allocator's. */
		struct cprof_heap h = { .allocator = "glibc",
					.start = c[i].b, .end = c[i].b + c[i].size };
		strcpy(h.kind, "mmap");
		uint32_t heap_id;
		if ((err = cprof_heap_add(g->walk, &h, &heap_id)))
			break;
		struct cprof_object o = {
			.addr = c[i].chunk + 16, .size = c[i].csize - 16, .heap = heap_id,
			.state = CPROF_OBJECT_USED, .flags = IS_MMAPPED,
		};
		g->mmap_count++;
		g->mmap_bytes += c[i].size;
		g->mmap_used_bytes += o.size;
		emit(g, &none, &o, c[i].csize);
	}
	free(c);
	return err;
}

/* ---- the main arena's segments ---- */

/*
 * sysmalloc grows the main arena with sbrk.  When the new memory does not
 * follow the old top - a foreign sbrk moved the break (the arena stays
 * "contiguous" and counts the foreign bytes in system_mem), or brk could not
 * grow and mmap stood in (the arena becomes NONCONTIGUOUS) - it closes the
 * old top with two 16-byte fenceposts that end at the segment's page-aligned
 * end, and the top moves to the new memory.  glibc keeps no list of these
 * segments: each is followed header by header to its double fencepost (or
 * the top chunk), and the next one is searched for.
 */

enum run_end { RUN_TOP, RUN_FENCE, RUN_BROKEN };

struct runs {
	struct run { uint64_t start, end; bool top; } *v;
	size_t n;
	size_t n_brk;              /* the first n_brk: in the brk mapping, in order */
	uint64_t steps;            /* headers read for candidates that failed */
	uint64_t budget;           /* ... at most */
};

/*
 * Follows chunk headers from c, below limit: to the top chunk (RUN_TOP), or to
 * the end of a double fencepost at a page boundary (RUN_FENCE); *ret is where
 * it stopped.  tolerant (a known segment start): a bad header resyncs as the
 * walk does; else (a candidate) it ends the run.  Counts headers in *steps.
 */
static enum run_end follow_run(struct glibc *g, uint64_t c, uint64_t limit,
			       uint64_t top, bool tolerant, uint64_t *steps,
			       uint64_t *ret)
{
	uint64_t page = g->core->page_size;
	bool after_fence = false;
	enum run_end r = RUN_BROKEN;
	while (c < limit) {
		uint64_t field;
		if (c == top) {
			r = RUN_TOP;
			break;
		}
		(*steps)++;
		if (!chunk_size_field(g, c, &field))
			break;
		uint64_t size = field & ~7ull;
		if (size == 16) {
			c += 16;
			if (after_fence && !(c & (page - 1))) {
				r = RUN_FENCE;
				break;
			}
			after_fence = true;
			continue;
		}
		after_fence = false;
		if (size < MINSIZE || (size & 15) || !ends_by(c, size, limit) ||
		    (field & (IS_MMAPPED | NON_MAIN_ARENA))) {
			if (!tolerant)
				break;
			c = resync(g, c, limit, top);
			continue;
		}
		c += size;
	}
	*ret = c;
	return r;
}

static struct cprof_error *add_run(struct runs *rs, uint64_t start, uint64_t end,
				   bool top)
{
	struct run *v = realloc(rs->v, (rs->n + 1) * sizeof(*v));
	if (!v)
		return &cprof_enomem;
	rs->v = v;
	v[rs->n++] = (struct run){ .start = start, .end = end, .top = top };
	return NULL;
}

/*
 * Whether a segment starts at c: its first chunk has only PREV_INUSE set (as
 * sysmalloc makes a new top), and its headers lead to the top chunk or to a
 * double fencepost.  Sets *end and *top.
 */
static bool run_at(struct glibc *g, struct arena *a, struct runs *rs, uint64_t c,
		   uint64_t limit, uint64_t *end, bool *top)
{
	uint64_t field, steps = 0;
	if (!chunk_size_field(g, c, &field) || (c != a->top && (field & 7) != PREV_INUSE))
		return false;
	enum run_end r = follow_run(g, c, limit, a->top, false, &steps, end);
	if (r == RUN_BROKEN)
		rs->steps += steps;
	if (r == RUN_TOP)
		*end = a->top + a->top_size;
	*top = r == RUN_TOP;
	return r != RUN_BROKEN;
}

/* The first segment start in [from, to], 16 bytes at a time (where the break
   was left by a foreign sbrk), or 0. */
static uint64_t search_run(struct glibc *g, struct arena *a, struct runs *rs,
			   uint64_t from, uint64_t to, uint64_t limit)
{
	set_span(g, from, limit);
	uint64_t found = 0;
	for (uint64_t c = from; c <= to && c >= from && rs->steps < rs->budget && !found; c += 16) {
		uint64_t end, h = held_from(g, c, to + 1 > to ? to + 1 : to);
		bool top;
		if (h != c) {              /* over what the core does not hold */
			if (h > to)
				break;
			c = from + ((h - from + 15) & ~15ull) - 16;
			continue;
		}
		if (run_at(g, a, rs, c, limit, &end, &top))
			found = c;
	}
	set_span(g, 0, 0);
	return found;
}

static bool in_runs(const struct runs *rs, uint64_t addr, uint64_t *skip_to)
{
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->v[i].start <= addr && addr < rs->v[i].end) {
			*skip_to = rs->v[i].end;
			return true;
		}
	}
	return false;
}

static bool is_stack(const struct cprof_core *core, const struct cprof_segment *s);

/*
 * A non-contiguous arena's other segments: mmap stood in for brk (mappings of
 * their own, page-aligned, fresh: prev_size 0), or brk grew again somewhere
 * else.  Every page of writable anonymous memory outside the known heaps and
 * the stacks is a candidate.
 */
static struct cprof_error *scan_runs(struct glibc *g, struct arena *a, struct runs *rs)
{
	struct cprof_core *core = g->core;
	uint64_t page = core->page_size;
	for (size_t i = 0; i < core->n_segments && rs->steps < rs->budget; i++) {
		const struct cprof_segment *s = &core->segments[i];
		if (s->file >= 0 || (s->flags & (CPROF_SEG_R | CPROF_SEG_W)) !=
		    (CPROF_SEG_R | CPROF_SEG_W) || is_stack(core, s))
			continue;
		set_span(g, s->start, s->end);
		uint64_t b = (s->start + page - 1) & ~(page - 1);
		while (b < s->end && rs->steps < rs->budget) {
			uint64_t skip, end, prev;
			bool top;
			if (in_runs(rs, b, &skip) || in_arena_heap(g, b, &skip) ||
			    (skip = held_from(g, b, s->end)) != b) {
				b = (skip + page - 1) & ~(page - 1);
				continue;
			}
			if (rd64(g, b, &prev) && prev == 0 &&
			    run_at(g, a, rs, b, s->end, &end, &top)) {
				struct cprof_error *err = add_run(rs, b, end, top);
				if (err) {
					set_span(g, 0, 0);
					return err;
				}
				b = (end + page - 1) & ~(page - 1);
				continue;
			}
			b += page;
		}
		set_span(g, 0, 0);
	}
	return NULL;
}

/*
 * The segments of the main arena, from ALIGN(mp_.sbrk_base): each is followed
 * to its double fencepost, the next one searched for after it (up to the top
 * chunk in a contiguous arena, to the end of the brk mapping otherwise), then,
 * in a non-contiguous arena, everywhere else.
 */
static struct cprof_error *find_main_runs(struct glibc *g, struct arena *a,
					  struct runs *rs, uint64_t start)
{
	bool contiguous = !(a->flags & NONCONTIGUOUS_BIT);
	const struct cprof_segment *cs = cprof_core_segment(g->core, start);
	uint64_t top_end = a->top + a->top_size;
	uint64_t limit = contiguous ? top_end : cs ? cs->end : start;
	rs->budget = (a->system_mem >> 4) + (1u << 24);
	bool tolerant = true;      /* the first segment starts at sbrk_base */
	for (uint64_t c = start; c && c < limit;) {
		uint64_t end, steps = 0;
		set_span(g, c, limit);
		enum run_end r = follow_run(g, c, limit, a->top, tolerant, &steps, &end);
		set_span(g, 0, 0);
		struct cprof_error *err = add_run(rs, c, r == RUN_TOP ? top_end : end,
						  r == RUN_TOP);
		if (err)
			return err;
		if (r == RUN_BROKEN) {
			gwarn(g, "main arena: the segment at 0x%llx ends at 0x%llx with neither the top chunk nor a fencepost",
			      (unsigned long long)c, (unsigned long long)end);
			break;
		}
		if (r == RUN_TOP && contiguous)
			break;
		uint64_t from = r == RUN_TOP ? top_end : end;
		c = search_run(g, a, rs, from, contiguous ? a->top : limit - 16, limit);
		tolerant = false;
	}
	rs->n_brk = rs->n;
	return contiguous ? NULL : scan_runs(g, a, rs);
}

/* What system_mem counts of the segments found: the brk mapping from
   sbrk_base to the end of its last segment (what lies between its segments
   is a foreign sbrk's, counted while the arena was contiguous), and each
   segment elsewhere. */
static uint64_t runs_span(const struct glibc *g, const struct runs *rs)
{
	uint64_t n = rs->n_brk ? rs->v[rs->n_brk - 1].end - g->sbrk_base : 0;
	for (size_t i = rs->n_brk; i < rs->n; i++)
		n += rs->v[i].end - rs->v[i].start;
	return n;
}

/* The main arena's heaps: its segments, from mp_.sbrk_base. */
static struct cprof_error *main_segs(struct glibc *g, struct arena *a)
{
	if (!g->sbrk_base || a->top == a->addr + g->L.ms_bins - 16)
		return NULL;       /* malloc never ran */
	uint64_t start = (g->sbrk_base + 15) & ~15ull;
	bool contiguous = !(a->flags & NONCONTIGUOUS_BIT);
	if (contiguous && (a->top < start || a->top - start > (1ull << 46))) {
		gwarn(g, "main arena: top 0x%llx is not above sbrk_base 0x%llx; main arena not walked",
		      (unsigned long long)a->top, (unsigned long long)g->sbrk_base);
		return NULL;
	}
	struct runs rs = { 0 };
	struct cprof_error *err = find_main_runs(g, a, &rs, start);
	bool found_top = false;
	for (size_t i = 0; i < rs.n && !err; i++) {
		err = add_seg(g, a, rs.v[i].start, rs.v[i].end, 0);
		if (!err && rs.v[i].top) {
			a->segs[a->n_segs - 1].has_top = true;
			found_top = true;
		}
	}
	if (!err && rs.steps >= rs.budget)
		gwarn(g, "main arena: gave up searching for its segments after %llu chunk headers; some may not be walked",
		      (unsigned long long)rs.steps);
	if (!err && !found_top)
		gwarn(g, "main arena: no segment leads to its top chunk 0x%llx; the segment holding it is not walked",
		      (unsigned long long)a->top);
	uint64_t span = runs_span(g, &rs);
	if (!err && !contiguous && span != a->system_mem)
		gwarn(g, "main arena: its %zu segments hold %llu bytes but system_mem counts %llu; some segments were not found",
		      rs.n, (unsigned long long)span, (unsigned long long)a->system_mem);
	free(rs.v);
	return err;
}

/* ---- the summary ---- */

static void stat(struct cprof_allocator *s, const char *name, uint64_t v)
{
	assert(s->n_stats < sizeof(s->stats) / sizeof(s->stats[0]));
	s->stats[s->n_stats].name = name;
	s->stats[s->n_stats].value = v;
	s->n_stats++;
}

static struct cprof_error *summarize(struct glibc *g)
{
	struct cprof_allocator s = { .name = "glibc", .stats_name = "mallinfo2" };
	if (g->minor >= 0)
		snprintf(s.version, sizeof(s.version), "2.%d", g->minor);
	else
		snprintf(s.version, sizeof(s.version), "unknown");
	snprintf(s.found_by, sizeof(s.found_by),
		 "main_arena: %s; mp_: %s; tcache: %s; layout: %s",
		 g->how_arena, g->how_mp, g->how_tcache[0] ? g->how_tcache : "none",
		 g->L.source);
	s.arenas = calloc(g->n_arenas ? g->n_arenas : 1, sizeof(*s.arenas));
	if (!s.arenas)
		return &cprof_enomem;
	uint64_t arena = 0, ordblks = 0, smblks = 0, fsmblks = 0, fordblks = 0,
		 uordblks = 0, keepcost = 0;
	for (size_t i = 0; i < g->n_arenas; i++) {
		struct arena *a = &g->arenas[i];
		struct cprof_arena_summary *as = &s.arenas[s.n_arenas++];
		*as = a->sum;
		as->addr = a->addr;
		strcpy(as->kind, a->is_main ? "main_arena" : "arena");
		as->system_mem = a->system_mem;
		as->n_heaps = a->n_segs;
		s.used_count += as->used_count;
		s.used_bytes += as->used_bytes;
		s.free_count += as->free_count;
		s.free_bytes += as->free_bytes;
		/* mallinfo2, as int_mallinfo computes it, from the walk:
		   free-by-header chunks are the bins' chunks. */
		if (a->hdr_free_count != a->bin_count || a->hdr_free_bytes != a->bin_bytes)
			gwarn(g, "arena 0x%llx: the bins hold %llu chunks (%llu bytes) but the walk found %llu free chunks (%llu bytes)",
			      (unsigned long long)a->addr, (unsigned long long)a->bin_count,
			      (unsigned long long)a->bin_bytes,
			      (unsigned long long)a->hdr_free_count,
			      (unsigned long long)a->hdr_free_bytes);
		uint64_t avail = a->top_size + a->fast_bytes + a->hdr_free_bytes;
		arena += a->system_mem;
		ordblks += 1 + a->hdr_free_count;
		smblks += a->fast_count;
		fsmblks += a->fast_bytes;
		fordblks += avail;
		uordblks += a->system_mem - avail;
		if (a->is_main)
			keepcost = a->top_size;
	}
	s.used_count += g->mmap_count;
	s.used_bytes += g->mmap_used_bytes;
	if ((uint64_t)g->n_mmaps != g->mmap_count || g->mmapped_mem != g->mmap_bytes)
		gwarn(g, "mp_ counts %lld mmapped chunks (%llu bytes) but the scan found %llu (%llu bytes)",
		      (long long)g->n_mmaps, (unsigned long long)g->mmapped_mem,
		      (unsigned long long)g->mmap_count, (unsigned long long)g->mmap_bytes);
	stat(&s, "arena", arena);
	stat(&s, "ordblks", ordblks);
	stat(&s, "smblks", smblks);
	stat(&s, "hblks", g->mmap_count);
	stat(&s, "hblkhd", g->mmap_bytes);
	stat(&s, "usmblks", 0);
	stat(&s, "fsmblks", fsmblks);
	stat(&s, "uordblks", uordblks);
	stat(&s, "fordblks", fordblks);
	stat(&s, "keepcost", keepcost);
	struct cprof_error *err = cprof_heap_add_summary(g->walk, &s);
	if (err)
		free(s.arenas);
	return err;
}

/* ---- the walker ---- */

static void glibc_release(struct glibc *g)
{
	for (size_t i = 0; i < g->n_arenas; i++)
		free(g->arenas[i].segs);
	free(g->arenas);
	free(g->free);
	free(g->tcaches);
}

/* Sets self's state and reason when the heap cannot be walked. */
static __attribute__((format(printf, 3, 4)))
void not_walked(struct cprof_allocator *self, enum cprof_heap_state st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(self->reason, sizeof(self->reason), fmt, ap);
	va_end(ap);
	self->heap_state = st;
}

/* Finds the version, the layouts, main_arena and mp_; false (with self's
 * reason set) when the heap cannot be walked. */
static bool setup(struct glibc *g, struct cprof_allocator *self)
{
	struct cprof_core *core = g->core;
	g->libc = self->module;
	g->minor = version_from_banner(g);
	if (g->minor < 0)
		g->minor = version_from_function(g);
	if (g->minor < 0)
		g->minor = version_from_nptl(g);
	if (g->minor >= 0)
		snprintf(self->version, sizeof(self->version), "2.%d", g->minor);
	bool have_table = g->minor >= 0 && glibc_layout_for_version(g->minor, &g->L);
	bool have_dwarf = glibc_layout_from_dwarf(core, g->libc, &g->L);
	if (!have_table && !have_dwarf) {
		gwarn(g, "%s: cannot tell the glibc version (%d) and no debug info describes malloc; heap not walked (install libc6-dbg or pass --debug-dir)",
		      g->libc->name, g->minor);
		not_walked(self, CPROF_HEAP_NOT_WALKED,
			   "unknown glibc version and no debug info for malloc");
		return false;
	}
	if (!find_main_arena(g, valid_arena)) {
		if (find_main_arena(g, never_initialized)) {
			not_walked(self, CPROF_HEAP_UNUSED,
				   "malloc was never initialized (main_arena.top is 0)");
			return false;
		}
		gwarn(g, "%s: main_arena not found (no symbol, no recognizable code or data); heap not walked",
		      g->libc->name);
		not_walked(self, CPROF_HEAP_NOT_WALKED,
			   "main_arena not found (no symbol, no recognizable code or data)");
		return false;
	}
	if (!find_mp(g)) {
		gwarn(g, "%s: mp_ not found; heap not walked", g->libc->name);
		not_walked(self, CPROF_HEAP_NOT_WALKED, "mp_ not found");
		return false;
	}
	uint32_t nmm = 0;
	rd64(g, g->mp + g->L.mp_sbrk_base, &g->sbrk_base);
	g->mmap_counted = rd32(g, g->mp + g->L.mp_n_mmaps, &nmm) &&
			  rd64(g, g->mp + g->L.mp_mmapped_mem, &g->mmapped_mem);
	g->n_mmaps = (int32_t)nmm;
	if (g->L.has_tcache)
		rd64(g, g->mp + g->L.mp_tcache_count, &g->tcache_count);
	g->heap_max = DEFAULT_HEAP_MAX;
	uint64_t hp = 0;
	if (g->L.mp_hp_pagesize >= 0 && rd64(g, g->mp + g->L.mp_hp_pagesize, &hp) &&
	    hp && !(hp & (hp - 1)) && hp <= (1ull << 30))
		g->heap_max = 4 * hp;
	return true;
}

static struct cprof_error *glibc_walk(struct cprof_core *core,
				      struct cprof_heap_walk *walk,
				      struct cprof_allocator *self,
				      cprof_object_fn *fn, void *arg)
{
	struct glibc g = { .core = core, .walk = walk, .fn = fn, .fn_arg = arg };
	struct cprof_error *err = NULL;
	if (!setup(&g, self))
		goto out;
	if ((err = read_arenas(&g)) ||
	    (err = cprof_heap_exclude(walk, g.main_arena, g.main_arena + g.L.ms_size)) ||
	    (err = cprof_heap_exclude(walk, g.mp, g.mp + g.L.mp_size)))
		goto out;
	/* The main arena last: a search for its segments skips the others' heaps. */
	for (size_t i = 0; i < g.n_arenas && !err; i++)
		if (!g.arenas[i].is_main)
			err = arena_segs(&g, &g.arenas[i]);
	for (size_t i = 0; i < g.n_arenas && !err; i++)
		if (g.arenas[i].is_main)
			err = main_segs(&g, &g.arenas[i]);
	if (err)
		goto out;
	if (g.L.has_tcache) {
		bool tls = false;
		if ((err = tcaches_from_tls(&g, &tls)))
			goto out;
		if (!tls && (err = tcaches_from_chunks(&g)))
			goto out;
	}
	decide_mangling(&g);
	if ((err = collect_tcache_lists(&g)))
		goto out;
	for (size_t i = 0; i < g.n_arenas; i++) {
		if ((err = collect_fastbins(&g, &g.arenas[i])) ||
		    (err = collect_bins(&g, &g.arenas[i])))
			goto out;
	}
	if (g.n_free)
		qsort(g.free, g.n_free, sizeof(*g.free), free_cmp);
	for (size_t i = 1; i < g.n_free; i++)
		if (g.free[i].chunk == g.free[i - 1].chunk)
			gwarn(&g, "chunk at 0x%llx is in two free lists (%s and %s)",
			      (unsigned long long)g.free[i].chunk,
			      cprof_free_list_name(g.free[i - 1].list),
			      cprof_free_list_name(g.free[i].list));
	for (size_t i = 0; i < g.n_arenas && !g.stopped; i++)
		for (size_t k = 0; k < g.arenas[i].n_segs && !g.stopped; k++)
			walk_seg(&g, &g.arenas[i], &g.arenas[i].segs[k]);
	if ((err = walk_mmapped(&g)))
		goto out;
	err = summarize(&g);
out:
	glibc_release(&g);
	return err;
}

const char *const glibc_free_lists[GLIBC_N_FREE_LISTS] = {
	NULL, "tcache", "fastbin", "unsorted", "smallbin", "largebin", "top", "other",
};

/* glibc is there when libc is (or a static executable has malloc's
 * symbols); whether malloc ever ran is the walk's to say. */
static struct cprof_error *glibc_detect(struct cprof_core *core, struct cprof_allocator *self,
					bool *found)
{
	self->module = find_libc(core);
	*found = self->module != NULL;
	if (*found)
		snprintf(self->found_by, sizeof(self->found_by), "the module %s",
			 self->module->name);
	return NULL;
}

const struct cprof_heap_provider cprof_glibc_provider = {
	.name = "glibc",
	.flags = CPROF_PROVIDER_LIBC,
	.free_lists = glibc_free_lists,
	.n_free_lists = GLIBC_N_FREE_LISTS,
	.detect = glibc_detect,
	.walk = glibc_walk,
};
