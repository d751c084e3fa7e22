/* heap: glibc malloc states with a known content, for the heap walker.
 *
 * Usage: heap MANIFEST_PATH SCENARIO [COUNT]
 *
 * SCENARIO is one of tcache, fastbins, bins, threads, mmap, apis, trim,
 * multiheap, many (COUNT chunks, default 100000), fencepost, sbrkgap,
 * noncontig (see "fenceposts" below) or all.  The program sets up
 * the state, takes mallinfo2(), writes the manifest (README.md) with write(2)
 * from a static buffer (no malloc, no stdio once the heap state is final),
 * renames MANIFEST_PATH.tmp to MANIFEST_PATH and parks in pause().  Every
 * other thread is parked in park_thread() (a read(2) on a pipe nobody
 * writes), so its arena and its tcache stay as they are.  On a setup failure
 * it exits with status 3 and a message on stderr, without a manifest.
 *
 * Written for x86-64 glibc 2.36 (Debian 12): tcache with 7 entries per bin
 * and 64 bins, fastbins up to chunk size 0x80, default mmap threshold 128 KiB
 * (dynamic), non-main heaps of at most 64 MiB (HEAP_MAX_SIZE).  The program
 * checks at run time what it can (a chunk is mmapped or not as designed; a
 * freed pointer comes back only where the design says it does; realloc moves
 * or not as designed) and fails otherwise.
 *
 * Scenarios on the main thread use the main arena.  `multiheap` and every
 * scenario of `all` run on threads of their own, one at a time (each one
 * parks before the next starts), and each such thread gets an arena of its
 * own (`all` raises M_ARENA_MAX so that this holds on any number of cores).
 * `all` runs trim first (malloc_trim consolidates every arena), then tcache,
 * fastbins, mmap, apis, multiheap and many each on a thread, then threads
 * (4 workers, and the main thread's part), then bins on the main thread, so
 * that no scenario disturbs another one.
 *
 * The manifest's "malloc" object:
 *   held[]   {"addr","usable","request","tid","api","mmapped"}: every pointer
 *            still held; usable = malloc_usable_size(); tid = allocating
 *            thread; api = the function that returned it (malloc, calloc,
 *            realloc, memalign, aligned_alloc, posix_memalign, valloc,
 *            pvalloc); mmapped = the chunk is an mmapped chunk.
 *   freed[]  {"addr","request","tid","where"}: every pointer freed (also the
 *            old pointer of a realloc that moved); tid = freeing thread;
 *            "where" (absent when the program cannot tell) is where the chunk
 *            of that address is in the final state:
 *              tcache   in the freeing thread's tcache
 *              fastbin  in a fastbin of its arena
 *              unsorted / smallbin / largebin   in that bin of its arena,
 *                       still starting at addr - 16 (its size may be larger
 *                       than the request when neighbours merged into it)
 *              merged   coalesced into the free chunk before it: addr is no
 *                       longer the start of a chunk
 *              unmapped an mmapped chunk, munmap'ed (or mremap'ed away); the
 *                       address range may have been mapped again since
 *              reused   handed out again by a later allocation: the same
 *                       address is in held[]
 *   internal[] {"addr","what":"dtv","tid"}: the DTV chunk of each thread
 *            the program created (calloc'ed by pthread_create, held by the
 *            thread's TCB only).
 *   fenceposts[], main_segments[], foreign[]: see "fenceposts" below.
 *   held_count, held_bytes (sum of usable), freed_count, held_complete
 *            (false when `many` had more than 200000 chunks and did not
 *            record them one by one; the counts still cover them).
 *   mallinfo2: all ten fields, taken after the last malloc/free.
 * "expect": what the scenario guarantees, computed from what it did:
 *   arenas, mmapped_chunks (= mp_.n_mmaps), mmap_threshold (mp_'s, after
 *   glibc's dynamic adjustment), non_main_heaps (heap_info segments of all
 *   non-main arenas), heaps_in_arena (most segments in one arena), and when
 *   known: tcache_chunks (all threads), fastbin_chunks, unsorted_chunks,
 *   smallbin_chunks, largebin_chunks (all arenas); per_thread[] gives the
 *   same per thread: its tcache, and the arena it allocates in ("main",
 *   "own": a non-main arena used by that thread alone, "none").  Chunks
 *   glibc frees by itself (realloc's shrunk tail, the old top of a full
 *   non-main heap) are counted too; memalign & co's leftovers make the
 *   counts of the apis thread unknown (absent, and so are the totals).
 *   Chunks glibc allocates for itself (each thread's tcache_perthread_struct,
 *   the DTV pthread_create callocs in the creating thread's arena) are in no
 *   list: they are in use and not held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---- glibc 2.36 x86-64 constants (used by the model, checked with gdb) */
#define TCACHE_FILL   7
#define TCACHE_MAXCS  0x410u    /* largest chunk size tcache takes */
#define FAST_MAXCS    0x80u     /* largest fastbin chunk size */
#define MIN_LARGE_CS  0x400u    /* smallest large-bin chunk size */
#define CONSOL_THRESH 65536u    /* FASTBIN_CONSOLIDATION_THRESHOLD */
#define HEAP_MAX      (64ul << 20)
#define MMAP_THR_MAX  (32ul << 20) /* DEFAULT_MMAP_THRESHOLD_MAX */

/* ---- bookkeeping (static: no malloc) ------------------------------------ */

enum api { A_MALLOC, A_CALLOC, A_REALLOC, A_MEMALIGN, A_ALIGNED_ALLOC,
           A_POSIX_MEMALIGN, A_VALLOC, A_PVALLOC };
static const char *const api_name[] = {
  "malloc", "calloc", "realloc", "memalign", "aligned_alloc",
  "posix_memalign", "valloc", "pvalloc" };

enum where { W_UNKNOWN, W_TCACHE, W_FASTBIN, W_UNSORTED, W_SMALLBIN,
             W_LARGEBIN, W_MERGED, W_UNMAPPED, W_REUSED };
static const char *const where_name[] = {
  "", "tcache", "fastbin", "unsorted", "smallbin", "largebin", "merged",
  "unmapped", "reused" };

struct held {
  uintptr_t addr;
  size_t usable, request;
  int32_t tid;
  uint8_t api, mmapped, live, ctx;
  uint8_t hidden;        /* addr kept complemented: no plain copy in memory */
};
struct freed {
  uintptr_t addr;
  size_t request;
  size_t csize;          /* size of the free chunk at addr (model) */
  int32_t tid;
  uint8_t where, ctx;
};

#define MAX_HELD   220000
#define MAX_FREED  100000
#define MANY_RECORD_MAX 200000
#define MANY_MAX   100000000L
static struct held held[MAX_HELD];
static int nheld;
static struct freed freed[MAX_FREED];
static int nfreed;
static size_t held_count, held_bytes, freed_count;
static int held_complete = 1;

/* freed addr -> index+1 (open addressing); finds the latest free of addr */
#define FH_BITS 18
static uint32_t fhash[1u << FH_BITS];

/* per thread (scenario thread or main): its tcache and its arena's bins */
#define MAXCTX 16
#define MAXINT 64
struct ctx {
  int tid;
  int is_main;
  const char *fn[3];      /* functions in its backtrace, innermost first */
  int nfn;
  int allocs;             /* allocations made (0: no arena of its own) */
  int tcache_known, bins_known;
  int tc[64];             /* tcache counts */
  int tc_internal[64];    /* of which glibc put there by itself */
  long fast, unsorted, small, large;
  struct { size_t cs; int where; } intl[MAXINT]; /* chunks glibc freed */
  int nintl;
  uintptr_t heap_base, last_end; /* current non-main heap, end of last chunk */
  int heaps;
  uintptr_t dtv;          /* the DTV chunk pthread_create calloc'ed for it */
};
static struct ctx ctxs[MAXCTX];
static int nctx;
static __thread struct ctx *cur;
static size_t model_mmap_thr = 128 * 1024;
static int model_no_dyn_thr;

static const char *scenario_name;
static int park_pipe[2] = { -1, -1 };
static int done_pipe[2] = { -1, -1 };

/* ---- failure ------------------------------------------------------------ */

static void wr(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t r = write(fd, s, n);
    if (r <= 0) return;
    s += r; n -= (size_t)r;
  }
}

static void fail_num(const char *msg, unsigned long v) {
  char b[32]; int i = 31;
  b[i] = 0;
  do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v && i);
  wr(2, "heap: "); wr(2, msg); wr(2, " ("); wr(2, b + i); wr(2, ")\n");
  _exit(3);
}
static void fail(const char *msg) { wr(2, "heap: "); wr(2, msg); wr(2, "\n"); _exit(3); }

/* ---- model of where a freed chunk goes ---------------------------------- */

static size_t req2chunk(size_t n) {
  size_t s = (n + 8 + 15) & ~(size_t)15;
  return s < 32 ? 32 : s;
}
static int tidx(size_t cs) { return (int)((cs - 32) / 16); }

/* an isolated (non-coalescing) chunk of size cs freed by the current
   thread; internal: glibc freed it, the program has no pointer to it */
static int model_free(struct ctx *c, size_t cs, int mmapped, int internal) {
  if (mmapped) {
    if (!model_no_dyn_thr && cs > model_mmap_thr && cs <= MMAP_THR_MAX)
      model_mmap_thr = cs;
    return W_UNMAPPED;
  }
  if (cs <= TCACHE_MAXCS) {
    if (!c->tcache_known) { c->bins_known = 0; return W_UNKNOWN; }
    if (c->tc[tidx(cs)] < TCACHE_FILL) {
      c->tc[tidx(cs)]++;
      if (internal) c->tc_internal[tidx(cs)]++;
      return W_TCACHE;
    }
  }
  if (!c->bins_known) return W_UNKNOWN;
  int w;
  if (cs <= FAST_MAXCS) { c->fast++; w = W_FASTBIN; }
  else if (cs >= CONSOL_THRESH && c->fast) { c->bins_known = 0; return W_UNKNOWN; }
  else { c->unsorted++; w = W_UNSORTED; }
  if (internal) {
    if (c->nintl >= MAXINT) fail("too many internal chunks");
    c->intl[c->nintl].cs = cs;
    c->intl[c->nintl++].where = w;
  }
  return w;
}

/* malloc_consolidate() (malloc_trim, mallopt, large request) */
static void model_consolidate(struct ctx *c) {
  if (c->fast) c->bins_known = 0;
}

/* _int_malloc for chunk size nb: every allocation the tcache does not
   serve, mmapped ones too (sysmalloc comes last).  A large request first
   consolidates the fastbins.  When no free chunk can serve it (no fastbin
   chunk of exactly that size, no unsorted or binned chunk at least that
   large), the whole unsorted bin is sorted into the small and large bins
   and the chunk comes from top (or mmap).  Anything else (a free chunk is
   taken or split) is not modelled: strict fails, otherwise the bins of the
   arena become unknown. */
static int fits(size_t cs, int where, size_t nb) {
  if (where == W_FASTBIN) return cs == nb;
  if (where == W_UNSORTED || where == W_SMALLBIN || where == W_LARGEBIN) return cs >= nb;
  return 0;
}
static void model_int_malloc(struct ctx *c, size_t nb, int strict) {
  if (!c->bins_known) return;
  if (!(c->fast || c->unsorted || c->small || c->large)) return;
  if (nb >= MIN_LARGE_CS && c->fast) {
    if (strict) fail("int_malloc model: consolidation");
    c->bins_known = 0;
    return;
  }
  int fit = 0;
  for (int i = 0; i < nfreed && !fit; i++)
    if (&ctxs[freed[i].ctx] == c) fit = fits(freed[i].csize, freed[i].where, nb);
  for (int i = 0; i < c->nintl && !fit; i++)
    fit = fits(c->intl[i].cs, c->intl[i].where, nb);
  if (fit) {
    if (strict) fail_num("int_malloc model: a free chunk fits", nb);
    c->bins_known = 0;
    return;
  }
  for (int i = 0; i < nfreed; i++) {
    struct freed *f = &freed[i];
    if (&ctxs[f->ctx] != c || f->where != W_UNSORTED) continue;
    f->where = f->csize < MIN_LARGE_CS ? W_SMALLBIN : W_LARGEBIN;
    if (f->where == W_SMALLBIN) c->small++; else c->large++;
  }
  for (int i = 0; i < c->nintl; i++) {
    if (c->intl[i].where != W_UNSORTED) continue;
    c->intl[i].where = c->intl[i].cs < MIN_LARGE_CS ? W_SMALLBIN : W_LARGEBIN;
    if (c->intl[i].where == W_SMALLBIN) c->small++; else c->large++;
  }
  c->unsorted = 0;
}

/* ---- freed-address hash --------------------------------------------------- */

static uint32_t fh_slot(uintptr_t a) {
  uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ull;
  uint32_t s = (uint32_t)(h >> (64 - FH_BITS));
  while (fhash[s] && freed[fhash[s] - 1].addr != a)
    s = (s + 1) & ((1u << FH_BITS) - 1);
  return s;
}
static struct freed *fh_find(uintptr_t a) {
  uint32_t s = fh_slot(a);
  return fhash[s] ? &freed[fhash[s] - 1] : NULL;
}

/* ---- recording allocations and frees ------------------------------------ */

/* a new chunk of the current thread: follow its non-main heaps.  Chunks come
   from top one after the other in the scenarios that fill a heap, so when a
   chunk is in a new heap, the old top was the space after the previous
   chunk up to the end of the old heap: sysmalloc cut two fenceposts off it
   and freed the rest (glibc 2.36 sysmalloc). */
static void note_heap(struct ctx *c, uintptr_t p, size_t cs) {
  if (c->is_main) return;
  uintptr_t base = p & ~(HEAP_MAX - 1);
  if (base != c->heap_base) {
    if (c->heap_base) {
      /* heap_info.size of the old heap (its usable length; glibc grows a
         heap page by page and gives up when the next step would pass
         64 MiB, so the old heap may be a little short of that) */
      size_t hsize = ((const size_t *)c->heap_base)[2];
      size_t old = c->heap_base + hsize - c->last_end;
      if (old < 32) fail("old top too small");
      old = (old - 32) & ~(size_t)15;
      if (old >= 32) model_free(c, old, 0, 1);
    }
    c->heap_base = base;
    c->heaps++;
  }
  c->last_end = p - 16 + cs;
}

/* Account for pointer p just returned by an allocation.  path: P_MALLOC,
   the call went through __libc_malloc (the tcache first, then _int_malloc);
   P_INT, straight to _int_malloc (calloc; memalign & co, which ask it for
   more than req); P_NONE, no _int_malloc (realloc: R() models it).  rec:
   keep a record.  Returns the held index, or -1 when not recorded. */
enum { P_NONE, P_MALLOC, P_INT };
static int H(void *p, size_t req, int api, int mm, int path, int rec) {
  struct ctx *c = cur;
  if (!p) fail_num("allocation failed", req);
  size_t hdr = ((size_t *)p)[-1];
  int is_mm = (hdr & 2) != 0;
  if (is_mm != mm) fail_num(mm ? "expected an mmapped chunk" : "unexpected mmapped chunk", req);
  size_t us = malloc_usable_size(p);
  if (us < req) fail_num("usable < request", req);
  c->allocs++;

  int expect_reuse = 0;
  size_t cs = req2chunk(req);
  if (path == P_MALLOC && cs <= TCACHE_MAXCS && c->tcache_known && c->tc[tidx(cs)] > 0) {
    c->tc[tidx(cs)]--;
    expect_reuse = 1;
  }
  if (path != P_NONE && !expect_reuse) model_int_malloc(c, cs, 0);
  struct freed *f = nfreed ? fh_find((uintptr_t)p) : NULL;
  if (f && f->where == W_REUSED) f = NULL;
  if (f) {
    if (expect_reuse ? f->where != W_TCACHE
                     : (f->where != W_UNKNOWN && f->where != W_UNMAPPED && c->bins_known))
      fail_num("unexpected reuse of a freed chunk", req);
    f->where = W_REUSED;
  } else if (expect_reuse) {
    if (c->tc_internal[tidx(cs)] > 0) c->tc_internal[tidx(cs)]--;
    else fail_num("expected a chunk from the tcache", req);
  }
  if (!is_mm) note_heap(c, (uintptr_t)p, us + 8);

  held_count++;
  held_bytes += us;
  if (!rec) return -1;
  if (nheld >= MAX_HELD) fail("too many held records");
  struct held *h = &held[nheld];
  h->addr = (uintptr_t)p;
  h->usable = us;
  h->request = req;
  h->tid = c->tid;
  h->api = (uint8_t)api;
  h->mmapped = (uint8_t)is_mm;
  h->live = 1;
  h->ctx = (uint8_t)(c - ctxs);
  return nheld++;
}

static void add_freed(uintptr_t a, size_t req, size_t cs, int where) {
  freed_count++;
  if (nfreed >= MAX_FREED) fail("too many freed records");
  struct freed *f = &freed[nfreed];
  f->addr = a;
  f->request = req;
  f->csize = cs;
  f->tid = cur->tid;
  f->where = (uint8_t)where;
  f->ctx = (uint8_t)(cur - ctxs);
  nfreed++;
  fhash[fh_slot(a)] = (uint32_t)nfreed;
}

/* free held[hi]; where < 0: the model says where it goes (it must not
   coalesce: its neighbours are held) */
static void Fw(int hi, int where) {
  struct held *h = &held[hi];
  if (!h->live) fail("double free in the program");
  if (&ctxs[h->ctx] != cur) fail("free from another thread");
  size_t cs = h->mmapped ? h->usable + 16 : h->usable + 8;
  if (where < 0) where = model_free(cur, cs, h->mmapped, 0);
  free((void *)h->addr);
  h->live = 0;
  held_count--;
  held_bytes -= h->usable;
  add_freed(h->addr, h->request, cs, where);
}
static void F(int hi) { Fw(hi, -1); }

static int M(size_t req) { return H(malloc(req), req, A_MALLOC, 0, P_MALLOC, 1); }
static int MM(size_t req) { return H(malloc(req), req, A_MALLOC, 1, P_MALLOC, 1); }
/* a small chunk that stays held, to keep neighbours apart */
static void G(void) { M(24); }

enum { RE_SAME, RE_MOVE, RE_MMAP };
static void R(int hi, size_t n, int mode) {
  struct held *h = &held[hi];
  struct ctx *c = cur;
  void *old = (void *)h->addr;
  size_t oldcs = h->mmapped ? h->usable + 16 : h->usable + 8;
  void *p = realloc(old, n);
  if (!p) fail_num("realloc failed", n);
  if (h->mmapped) {
    if (mode != RE_MMAP) fail("realloc: mmapped");
    if (p != old) add_freed((uintptr_t)old, h->request, oldcs, W_UNMAPPED);
  } else if (p == old) {
    if (mode != RE_SAME) fail_num("realloc did not move", n);
    size_t nb = req2chunk(n);
    if (oldcs >= nb + 32) model_free(c, oldcs - nb, 0, 1); /* the cut tail */
  } else {
    if (mode != RE_MOVE) fail_num("realloc moved", n);
    /* _int_realloc: _int_malloc a new chunk, _int_free the old one */
    model_int_malloc(c, req2chunk(n), 0);
    add_freed((uintptr_t)old, h->request, oldcs, model_free(c, oldcs, 0, 0));
  }
  held_count--;
  held_bytes -= h->usable;
  h->live = 0;
  int ni = H(p, n, A_REALLOC, mode == RE_MMAP, P_NONE, 1);
  /* keep the order of held[]: move the new record into the old slot */
  held[hi] = held[ni];
  nheld--;
}

/* ---- scenarios ----------------------------------------------------------- */

/* tcache: bin 0x30 full (7), 0x60 with 3, 0x410 (the last bin) with 2,
   0x20 with 1; every freed chunk between held ones */
static void sc_tcache(void) {
  int v[16], n = 0;
  M(0); M(17); M(100);               /* held: usable 24, 24, 104 */
  for (int i = 0; i < 7; i++) { v[n++] = M(40); G(); }   /* 0x30: 7, full */
  for (int i = 0; i < 3; i++) { v[n++] = M(88); G(); }   /* 0x60: 3 */
  for (int i = 0; i < 2; i++) { v[n++] = M(1032); G(); } /* 0x410: 2 (last bin) */
  v[n++] = M(20); G();                                   /* 0x20: 1 */
  M(72); M(120);
  for (int i = 0; i < n; i++) F(v[i]);
}

/* fastbins: four sizes, the tcache of each filled first */
static void sc_fastbins(void) {
  static const struct { size_t req; int n; } cl[] = {
    { 24, 10 },   /* 0x20: 7 tcache + 3 fastbin */
    { 50, 9 },    /* 0x40: 7 + 2 (request not 8 mod 16) */
    { 72, 8 },    /* 0x50: 7 + 1 */
    { 120, 11 },  /* 0x80: 7 + 4 */
  };
  int v[64], n = 0;
  for (unsigned k = 0; k < sizeof cl / sizeof cl[0]; k++)
    for (int i = 0; i < cl[k].n; i++) { v[n++] = M(cl[k].req); M(200); }
  M(88);
  for (int i = 0; i < n; i++) F(v[i]);
}

/* bins: small and large bins (sorted by a malloc), then two chunks left in
   the unsorted bin (freed last, no malloc after) */
static void sc_bins(void) {
  static const struct { size_t req; int n; } cl[] = {
    { 136, 9 },   /* 0x90: 7 tcache + 2 -> small bin */
    { 504, 8 },   /* 0x200: 7 + 1 -> small bin */
    { 1000, 8 },  /* 0x3f0: 7 + 1 -> small bin (the last one) */
    { 1032, 8 },  /* 0x410: 7 + 1 -> large bin (tcache-able large size) */
    { 1048, 2 },  /* 0x420 x2: large bin 64, same size twice */
    { 1064, 1 },  /* 0x430: large bin 64 too */
    { 1500, 1 },  /* 0x5f0 */
    { 3000, 1 },  /* 0xbc0 */
    { 10000, 1 }, /* 0x2720 */
    { 40000, 1 }, /* 0x9c50 */
  };
  int v[64], n = 0;
  for (unsigned k = 0; k < sizeof cl / sizeof cl[0]; k++)
    for (int i = 0; i < cl[k].n; i++) { v[n++] = M(cl[k].req); G(); }
  int late1 = M(5000); G();          /* 0x1390 -> stays in unsorted */
  int late2 = M(130); G();           /* 0x90 (tcache full) -> unsorted */
  for (int i = 0; i < n; i++) F(v[i]);
  /* a request larger than every free chunk: _int_malloc sorts the whole
     unsorted bin into small and large bins, then cuts the chunk from top */
  void *p = malloc(64000);
  model_int_malloc(cur, req2chunk(64000), 1);
  H(p, 64000, A_MALLOC, 0, P_MALLOC, 1);
  F(late1);
  F(late2);
}

/* mmap: mmapped chunks held and freed, the threshold raised by a free */
static void sc_mmap(void) {
  MM(200000);
  MM(300000);
  MM(1 << 20);
  int x = MM(250000);
  int d = MM(500000);
  F(d);                  /* munmap; raises the mmap threshold to its size */
  if (model_mmap_thr != 503808) fail_num("mmap threshold model", model_mmap_thr);
  M(400000);             /* now below the threshold: from the heap */
  int g = M(150000);     /* from the heap */
  G();
  MM(600000);            /* above the new threshold */
  MM(3 << 20);
  F(g);                  /* heap chunk >= 64 KiB -> unsorted */
  F(x);                  /* munmap; smaller than the threshold: no change */
}

/* apis: calloc, realloc (in place, moving, shrinking, mremap), the aligned
   allocators */
static void sc_apis(void) {
  struct ctx *c = cur;
  void *p;
  H(calloc(10, 24), 240, A_CALLOC, 0, P_INT, 1);
  H(calloc(1, 1 << 20), 1 << 20, A_CALLOC, 1, P_INT, 1);
  H(calloc(3, 1000), 3000, A_CALLOC, 0, P_INT, 1);
  /* alignment <= 16 goes through malloc */
  if (posix_memalign(&p, 16, 72)) fail("posix_memalign 16");
  H(p, 72, A_POSIX_MEMALIGN, 0, P_MALLOC, 1);
  H(aligned_alloc(16, 40), 40, A_ALIGNED_ALLOC, 0, P_MALLOC, 1);
  G();
  int a = M(100);                    /* next to top: grows in place */
  R(a, 200, RE_SAME);
  G();
  int b = M(104); G();
  R(b, 1000, RE_MOVE);               /* old 0x70 chunk -> tcache */
  G();
  int r = M(2000); G();
  R(r, 500, RE_SAME);                /* shrinks: the 0x5e0 tail -> unsorted */
  int m = MM(3 << 20);               /* sorts the tail into a large bin */
  R(m, 6 << 20, RE_MMAP);            /* mremap */
  G();
  /* memalign & co free the leading and trailing parts of a larger chunk
     (glibc 2.36 _int_memalign): from here on the bins and the tcache of
     this thread are not modelled */
  c->tcache_known = 0;
  c->bins_known = 0;
  H(memalign(64, 100), 100, A_MEMALIGN, 0, P_INT, 1);
  H(memalign(256, 1000), 1000, A_MEMALIGN, 0, P_INT, 1);
  H(memalign(4096, 5000), 5000, A_MEMALIGN, 0, P_INT, 1);
  H(aligned_alloc(32, 64), 64, A_ALIGNED_ALLOC, 0, P_INT, 1);
  H(aligned_alloc(1024, 3000), 3000, A_ALIGNED_ALLOC, 0, P_INT, 1);
  if (posix_memalign(&p, 128, 200)) fail("posix_memalign 128");
  H(p, 200, A_POSIX_MEMALIGN, 0, P_INT, 1);
  if (posix_memalign(&p, 4096, 40)) fail("posix_memalign 4096");
  H(p, 40, A_POSIX_MEMALIGN, 0, P_INT, 1);
  H(valloc(1000), 1000, A_VALLOC, 0, P_INT, 1);
  H(pvalloc(5000), 5000, A_PVALLOC, 0, P_INT, 1);
  /* mmapped and aligned beyond a page: the chunk starts inside the mapping,
     its prev_size is the offset from the mapping's start */
  H(memalign(65536, 1 << 20), 1 << 20, A_MEMALIGN, 1, P_INT, 1);
  G();
}

/* trim: 8 MB of chunks, most freed (runs of 7 coalesce), malloc_trim(0),
   then a few more allocations */
static void sc_trim(void) {
  struct ctx *c = cur;
  enum { N = 4000 };
  static int big[N];
  int v[7];
  for (int i = 0; i < 7; i++) { v[i] = M(40); G(); }
  for (int i = 0; i < N; i++) big[i] = M(2024);        /* 0x7f0 each */
  /* free all but every 8th and the last (which keeps top apart): runs of 7
     (6 at the end) chunks coalesce into one unsorted chunk each */
  int start = -1;
  for (int i = 0; i < N - 1; i++) {
    if (i % 8 == 0) continue;
    if (i % 8 == 1) {
      F(big[i]);
      start = nfreed - 1;
    } else {
      size_t cs = held[big[i]].usable + 8;
      Fw(big[i], W_MERGED);
      freed[start].csize += cs;
    }
  }
  for (int i = 0; i < 7; i++) F(v[i]);                 /* tcache 0x30: 7 */
  malloc_trim(0);
  model_consolidate(c);
  /* a few more: the first sorts the unsorted bin (no free chunk fits),
     both come from top; then three from the tcache (reused addresses) */
  void *p = malloc(20000);
  model_int_malloc(c, req2chunk(20000), 1);
  H(p, 20000, A_MALLOC, 0, P_MALLOC, 1);
  M(20000);
  for (int i = 0; i < 3; i++) M(40);
}

/* multiheap: a thread's arena grows past one heap */
static void sc_multiheap(void) {
  enum { N = 700 };
  static int big[N];
  int v[2];
  for (int i = 0; i < 2; i++) { v[i] = M(24); G(); }
  /* 700 x 100 KiB (below the mmap threshold): 70 MiB do not fit in one
     64 MiB heap */
  for (int i = 0; i < N; i++) big[i] = M(102400);
  for (int i = 25; i < N; i += 50) F(big[i]);          /* 14 -> unsorted */
  for (int i = 0; i < 2; i++) F(v[i]);
  if (cur->heaps < 2) fail_num("multiheap: heaps", (unsigned long)cur->heaps);
}

static long many_count = 100000;
static int many_hi[MANY_RECORD_MAX / 4 + 1];

/* many: COUNT chunks of varied sizes, one after the other from top; then
   every 4th one (i % 4 == 1, never the last) is freed, with no allocation
   after: its neighbours are held, so each goes to the tcache (7 per size), a
   fastbin or the unsorted bin, as the model says.  Above 200000 chunks the
   pointers to free are kept in a list threaded through the payload of the
   held chunk that follows each (no bookkeeping array). */
static void sc_many(void) {
  static const unsigned short sz[] = {
    8, 24, 24, 40, 40, 56, 72, 88, 100, 120, 136, 168, 200, 264, 300, 500,
    1000, 1500 };
  long n = many_count;
  int rec = n <= MANY_RECORD_MAX;
  if (!rec) held_complete = 0;
  uint64_t x = 0x2545F4914F6CDD1Dull;
  long nf = 0;
  void *pending = NULL;              /* the chunk to free, awaiting its successor */
  void **head = NULL, **tail = NULL; /* list: node[0] = chunk to free, node[1] = next node */
  for (long i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    size_t req = sz[(x >> 33) % (sizeof sz / sizeof sz[0])];
    void *p = malloc(req);
    int hi = H(p, req, A_MALLOC, 0, P_MALLOC, rec);
    if (!rec && pending) {
      void **node = p;               /* usable >= 24 */
      node[0] = pending;
      node[1] = NULL;
      if (tail) tail[1] = node; else head = node;
      tail = node;
      pending = NULL;
    }
    if (i % 4 == 1 && i != n - 1) {
      if (rec) many_hi[nf++] = hi; else pending = p;
    }
  }
  if (rec) {
    for (long k = 0; k < nf; k++) F(many_hi[k]);
    return;
  }
  for (void **node = head; node; node = node[1]) {
    void *p = node[0];
    size_t us = malloc_usable_size(p);
    model_free(cur, us + 8, 0, 0);
    free(p);
    held_count--;
    held_bytes -= us;
    freed_count++;
  }
}

/* ---- threads ---------------------------------------------------------------- */

NOINLINE static void park_thread(void) {
  char ch;
  for (;;) {
    ssize_t r = read(park_pipe[0], &ch, 1);
    if (r < 0 && errno == EINTR) continue;
    BARRIER();
  }
}

static void signal_done(void) {
  char ch = 'd';
  if (write(done_pipe[1], &ch, 1) != 1) fail("done pipe");
}

static struct ctx *new_ctx(int is_main) {
  if (nctx >= MAXCTX) fail("too many threads");
  struct ctx *c = &ctxs[nctx++];
  c->is_main = is_main;
  c->tcache_known = 1;
  c->bins_known = 1;
  c->tid = is_main ? getpid() : 0;
  return c;
}

/* The thread's DTV chunk: pthread_create calloc'ed it in the creating
   thread's arena; the TCB (%fs:8) points 16 bytes into it (glibc's
   INSTALL_DTV stores dtv + 1).  A used chunk the program holds no pointer
   to: the manifest lists it under "internal". */
static uintptr_t thread_dtv(void) {
  uintptr_t d;
  __asm__ volatile("mov %%fs:8, %0" : "=r"(d));
  return d - 16;
}

struct tstart { void (*fn)(void); struct ctx *c; };
static struct tstart tstarts[MAXCTX];

/* scenario bodies on a thread of their own */
NOINLINE static void *scenario_thread(void *arg) {
  struct tstart *ts = arg;
  cur = ts->c;
  cur->tid = gettid();
  cur->dtv = thread_dtv();
  ts->fn();
  signal_done();
  park_thread();
  BARRIER();
  return NULL;
}

/* the workers of the threads scenario: worker i holds chunks, and frees
   8+i of 0x30 (7 tcache, 1+i fastbin), i+1 of 0x40 (tcache) and one of
   about 3000 bytes (unsorted) */
static int worker_no;
NOINLINE static void *worker_thread(void *arg) {
  struct tstart *ts = arg;
  cur = ts->c;
  cur->tid = gettid();
  cur->dtv = thread_dtv();
  int i = worker_no;
  int v[32], n = 0;
  for (int k = 0; k < 5 + i; k++) M(24 + 16 * (size_t)k);
  M(2000);
  for (int k = 0; k < 8 + i; k++) { v[n++] = M(40); G(); }
  for (int k = 0; k < i + 1; k++) { v[n++] = M(56); G(); }
  v[n++] = M(3000 + 100 * (size_t)i); G();
  M(1000 + 8 * (size_t)i);
  for (int k = 0; k < n; k++) F(v[k]);
  signal_done();
  park_thread();
  BARRIER();
  return NULL;
}

static void start_thread(void *(*entry)(void *), void (*fn)(void), const char *fname) {
  struct ctx *c = new_ctx(0);
  struct tstart *ts = &tstarts[c - ctxs];
  ts->fn = fn;
  ts->c = c;
  c->fn[0] = "park_thread";
  c->fn[1] = fname;
  c->nfn = 2;
  pthread_t t;
  int e = pthread_create(&t, NULL, entry, ts);
  if (e) fail_num("pthread_create", (unsigned long)e);
  char ch;
  for (;;) {
    ssize_t r = read(done_pipe[0], &ch, 1);
    if (r == 1) break;
    if (r < 0 && errno == EINTR) continue;
    fail("done pipe read");
  }
}

static void run_on_thread(void (*fn)(void)) {
  start_thread(scenario_thread, fn, "scenario_thread");
}

/* threads: 4 workers, each in an arena of its own (5 arenas: glibc makes
   a new arena per thread up to arena_test = 8 arenas whatever the number
   of cores), then the main thread's part */
static void sc_threads(void) {
  for (int i = 0; i < 4; i++) {
    worker_no = i;
    start_thread(worker_thread, NULL, "worker_thread");
  }
  /* the main thread holds some and frees two into its tcache */
  int v[2];
  M(1000);
  for (int i = 0; i < 2; i++) { v[i] = M(104); G(); }
  for (int i = 0; i < 2; i++) F(v[i]);
}

/* ---- fenceposts ------------------------------------------------------------ */

/* What sysmalloc (glibc 2.26-2.42) leaves of a top chunk of size T it gives
   up because a request does not fit and the heap cannot grow in place:
   - a non-main heap (a new heap is made): the first T - 32 bytes stay a
     chunk, freed (tcache, fastbin or unsorted) when at least 32 bytes; then a
     16-byte fencepost chunk; the heap's last 16 bytes are a header of size 0.
     T = 48 leaves a 32-byte fencepost chunk instead, T = 32 a 16-byte one.
   - the main arena (brk does not extend the segment: a foreign sbrk moved
     the break, or a mapping right after the break blocks it and mmap stands
     in): the first T - 32 bytes stay a chunk, freed when at least 32 bytes;
     two 16-byte fenceposts end the segment at its page-aligned end.  T = 48
     leaves three 16-byte pieces.
   fenceposts[] records each closed top (start..end: the fenceposts' bytes,
   after the freed remainder), msegs[] the main arena's segments and
   foreign[] the memory around them that is not malloc's; each foreign range
   holds the only pointer to one held chunk (a root outside the heap). */

#define MAXFENCE 8
static struct fence {
  uintptr_t start, end, top;
  size_t top_size;
  int is_main;
  int32_t tid;
} fences[MAXFENCE];
static int nfences;
static struct { uintptr_t start, end; } msegs[MAXFENCE];
static int nmsegs;
static struct { uintptr_t start, end; const char *what; int holds; } foreign[MAXFENCE];
static int nforeign;
static uintptr_t initial_brk;        /* sbrk(0) before the first malloc */
static size_t fp_left;               /* the fencepost threads' top size */

static size_t csize_at(uintptr_t chunk) { return ((const size_t *)chunk)[1] & ~(size_t)7; }
static uintptr_t chunk_end(uintptr_t user) { return user - 16 + csize_at(user - 16); }

/* A held chunk whose address the program keeps only complemented: the
   pointer a scenario then stores in foreign memory is its only one. */
static int hidden_chunk(size_t req) {
  int hi = M(req);
  held[hi].addr = ~held[hi].addr;
  held[hi].hidden = 1;
  return hi;
}

/* Zeroes dead stack below the caller, where stale copies of addresses lie. */
NOINLINE static void scrub_stack(void) {
  volatile char pad[65536];
  memset((char *)pad, 0, sizeof pad);
  BARRIER();
}

/* Records foreign memory [start, end) and stores in it a marker and the
   only plain pointer to held[hi]. */
NOINLINE static void foreign_range(uintptr_t start, uintptr_t end, const char *what, int hi) {
  if (nforeign >= MAXFENCE) fail("too many foreign ranges");
  static const char mark[] = "not malloc's memory: a foreign ";
  memcpy((void *)start, mark, sizeof mark);
  ((uintptr_t *)start)[6] = ~held[hi].addr;
  foreign[nforeign].start = start;
  foreign[nforeign].end = end;
  foreign[nforeign].what = what;
  foreign[nforeign].holds = hi;
  nforeign++;
}

/* Allocates from the top chunk at `top` until exactly `left` bytes of top
   remain before `end`; every chunk comes from top.  Returns the new top. */
static uintptr_t fill_top(uintptr_t top, uintptr_t end, size_t left) {
  if (end < top + left) fail("fill_top: the top chunk is already too small");
  size_t rem = end - top - left;
  while (rem) {
    size_t cs = rem > 110 * 1024 ? 100 * 1024 : rem;
    if (cs < 32) fail_num("fill_top: a piece below MINSIZE", cs);
    int hi = M(cs - 8);
    if (held[hi].addr - 16 != top) fail("fill_top: a chunk not cut from top");
    top += cs;
    rem -= cs;
  }
  return top;
}

/* The top chunk at `top` has `left` bytes: a request of left - 24 (chunk
   size left - 16) does not fit, so sysmalloc closes the top.  Records the
   fenceposts; returns the new chunk's held index. */
static int close_top(uintptr_t top, size_t left, int is_main) {
  int hi = M(left - 24);
  uintptr_t c = held[hi].addr - 16;
  if (c >= top && c < top + left) fail("close_top: served from the old top");
  if (nfences >= MAXFENCE) fail("too many fenceposts");
  size_t keep = left - 32;
  struct fence *f = &fences[nfences++];
  f->start = keep >= 32 ? top + keep : top;
  f->end = top + left;
  f->top = top;
  f->top_size = left;
  f->is_main = is_main;
  f->tid = cur->tid;
  if (is_main && keep >= 32) model_free(cur, keep, 0, 1);  /* note_heap does the others */
  return hi;
}

/* fencepost: three threads, each in an arena of its own, fill their first
   heap to its 64 MiB maximum so that 48, 32 and 64 bytes of top remain, and
   ask for one chunk more: a new heap, the old top closed as above (a 32-byte
   fencepost chunk; a 16-byte one; a freed 32-byte chunk, to the tcache, and a
   16-byte fencepost). */
static void sc_fencepost_thread(void) {
  int g = M(24);
  uintptr_t top = chunk_end(held[g].addr);
  uintptr_t base = top & ~(HEAP_MAX - 1);
  top = fill_top(top, base + HEAP_MAX, fp_left);
  close_top(top, fp_left, 0);
  if (cur->heaps != 2) fail_num("fencepost: heaps", (unsigned long)cur->heaps);
  M(100);
}

/* sbrkgap: the main arena's segment is filled to 48 bytes of top, then the
   program moves the break itself (sbrk(4104): a foreign sbrk, by a size that
   is not a multiple of 16); the next request's sbrk is not contiguous with
   the old top, which glibc closes with two fenceposts; the arena stays
   "contiguous" and counts the foreign bytes in system_mem. */
/* How sbrkgap and noncontig start: the main arena's first segment (at the
   break malloc finds), a hidden chunk (*hidden), and the top chunk after
   one more chunk: returns its address, *end its end (the break). */
static uintptr_t first_segment(int *hidden, uintptr_t *end) {
  struct mallinfo2 mi = mallinfo2();
  if (mi.arena) fail("malloc ran before the scenario");
  initial_brk = (uintptr_t)sbrk(0);
  msegs[0].start = (initial_brk + 15) & ~(uintptr_t)15;
  nmsegs = 1;
  *hidden = hidden_chunk(200);
  int g = M(24);
  uintptr_t top = chunk_end(held[g].addr);
  *end = top + csize_at(top);
  if ((uintptr_t)sbrk(0) != *end) fail("the break is not the top chunk's end");
  return top;
}

static void sc_sbrkgap(void) {
  int h;
  uintptr_t end, top = first_segment(&h, &end);
  top = fill_top(top, end, 48);
  char *gap = sbrk(4096 + 8);
  if ((uintptr_t)gap != end) fail("sbrkgap: sbrk");
  msegs[0].end = end;
  int t = close_top(top, 48, 1);
  uintptr_t start = held[t].addr - 16;
  if (start < end + 4096 + 8 || start > end + 4096 + 8 + 15) fail("sbrkgap: the new segment is not after the gap");
  foreign_range(end, end + 4096 + 8, "sbrk", h);
  msegs[nmsegs].start = start;
  top = chunk_end(held[t].addr);
  msegs[nmsegs++].end = top + csize_at(top);
  scrub_stack();
}

/* noncontig: the main arena's segment is filled to 48 bytes of top, and a
   page is mapped right after the break: brk cannot grow, mmap stands in (a
   1 MiB segment, the arena non-contiguous from then on).  Each new segment is
   filled in turn and closed: 48, 32, 96 (the 64-byte rest to the tcache) and
   4128 bytes of top (the 4096-byte rest to the unsorted bin). */
static void sc_noncontig(void) {
  static const size_t left[] = { 48, 32, 96, 4128 };
  int h;
  uintptr_t end, top = first_segment(&h, &end);
  for (unsigned i = 0; i < sizeof left / sizeof left[0]; i++) {
    top = fill_top(top, end, left[i]);
    msegs[nmsegs - 1].end = end;
    if (i == 0) {
      void *pg = mmap((void *)end, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (pg != (void *)end) fail("noncontig: mmap after the break");
      foreign_range(end, end + 4096, "mapping", h);
    }
    int t = close_top(top, left[i], 1);
    uintptr_t start = held[t].addr - 16;
    if (start % 4096) fail("noncontig: a new segment not page-aligned");
    top = chunk_end(held[t].addr);
    end = top + csize_at(top);
    if (nmsegs >= MAXFENCE) fail("too many segments");
    msegs[nmsegs].start = start;
    msegs[nmsegs++].end = end;
  }
  if ((uintptr_t)sbrk(0) != msegs[0].end) fail("noncontig: the break moved");
  scrub_stack();
}

static void sc_fencepost(void) {
  static const size_t left[] = { 48, 32, 64 };
  for (unsigned i = 0; i < sizeof left / sizeof left[0]; i++) {
    fp_left = left[i];
    run_on_thread(sc_fencepost_thread);
  }
}

/* ---- manifest ------------------------------------------------------------ */

static char out[32 << 20];
static size_t outn;

static void put(const char *s) {
  size_t n = strlen(s);
  if (outn + n >= sizeof out) fail("manifest buffer full");
  memcpy(out + outn, s, n);
  outn += n;
}
static void put_u(unsigned long v) {
  char b[24]; int i = 23;
  b[i] = 0;
  do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  put(b + i);
}
static void put_l(long v) {
  if (v < 0) { put("-"); put_u((unsigned long)-v); } else put_u((unsigned long)v);
}
static void put_x(uintptr_t v) {
  char b[24]; int i = 23;
  b[i] = 0;
  do { b[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  put("\"0x"); put(b + i); put("\"");
}
static void put_jstr(const char *s) {
  char b[2] = { 0, 0 };
  put("\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') put("\\");
    if ((unsigned char)*s < 0x20) { put("?"); continue; }
    b[0] = *s;
    put(b);
  }
  put("\"");
}
static void kv_u(const char *k, unsigned long v) { put("\""); put(k); put("\": "); put_u(v); }
static void kv_l(const char *k, long v) { put("\""); put(k); put("\": "); put_l(v); }

static int ctx_tcache(struct ctx *c) {
  int n = 0;
  for (int i = 0; i < 64; i++) n += c->tc[i];
  return n;
}

static void write_manifest(const char *path, const struct mallinfo2 *mi) {
  static char exe[4096];
  ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[el > 0 ? el : 0] = 0;

  put("{\n\"program\": \"heap\",\n\"scenario\": ");
  put_jstr(scenario_name);
  put(",\n"); kv_u("pid", (unsigned long)getpid());
  put(",\n\"exe\": "); put_jstr(exe);
  put(",\n\"threads\": [\n");
  for (int i = 0; i < nctx; i++) {
    struct ctx *c = &ctxs[i];
    put(i ? ",\n  {" : "  {");
    kv_u("tid", (unsigned long)c->tid);
    if (c->is_main) put(", \"main\": true");
    put(", \"functions\": [");
    for (int k = 0; k < c->nfn; k++) { if (k) put(", "); put_jstr(c->fn[k]); }
    put("]}");
  }
  put("\n],\n\"malloc\": {\n\"held\": [\n");
  int first = 1;
  for (int i = 0; i < nheld; i++) {
    struct held *h = &held[i];
    if (!h->live) continue;
    put(first ? "  {\"addr\": " : ",\n  {\"addr\": ");
    first = 0;
    put_x(h->hidden ? ~h->addr : h->addr);
    if (h->hidden) put(", \"hidden\": true");
    put(", "); kv_u("usable", h->usable);
    put(", "); kv_u("request", h->request);
    put(", "); kv_u("tid", (unsigned long)h->tid);
    put(", \"api\": \""); put(api_name[h->api]);
    put(h->mmapped ? "\", \"mmapped\": true}" : "\", \"mmapped\": false}");
  }
  put("\n],\n\"freed\": [\n");
  for (int i = 0; i < nfreed; i++) {
    struct freed *f = &freed[i];
    put(i ? ",\n  {\"addr\": " : "  {\"addr\": ");
    put_x(f->addr);
    put(", "); kv_u("request", f->request);
    put(", "); kv_u("tid", (unsigned long)f->tid);
    if (f->where != W_UNKNOWN) { put(", \"where\": \""); put(where_name[f->where]); put("\""); }
    put("}");
  }
  put("\n],\n"); kv_u("held_count", held_count);
  put(",\n"); kv_u("held_bytes", held_bytes);
  put(",\n"); kv_u("freed_count", freed_count);
  put(",\n\"held_complete\": "); put(held_complete ? "true" : "false");
  put(",\n\"internal\": [");
  first = 1;
  for (int i = 0; i < nctx; i++) {
    if (!ctxs[i].dtv) continue;
    put(first ? "\n  {\"addr\": " : ",\n  {\"addr\": ");
    first = 0;
    put_x(ctxs[i].dtv);
    put(", \"what\": \"dtv\", "); kv_u("tid", (unsigned long)ctxs[i].tid); put("}");
  }
  put("],\n\"fenceposts\": [");
  for (int i = 0; i < nfences; i++) {
    struct fence *f = &fences[i];
    put(i ? ",\n  {\"start\": " : "\n  {\"start\": ");
    put_x(f->start);
    put(", \"end\": "); put_x(f->end);
    put(", \"top\": "); put_x(f->top);
    put(", "); kv_u("top_size", f->top_size);
    put(f->is_main ? ", \"arena\": \"main\", " : ", \"arena\": \"own\", ");
    kv_u("tid", (unsigned long)f->tid); put("}");
  }
  put("],\n\"main_segments\": [");
  for (int i = 0; i < nmsegs; i++) {
    put(i ? ",\n  {\"start\": " : "\n  {\"start\": ");
    put_x(msegs[i].start);
    put(", \"end\": "); put_x(msegs[i].end); put("}");
  }
  put("],\n\"foreign\": [");
  for (int i = 0; i < nforeign; i++) {
    put(i ? ",\n  {\"start\": " : "\n  {\"start\": ");
    put_x(foreign[i].start);
    put(", \"end\": "); put_x(foreign[i].end);
    put(", \"what\": "); put_jstr(foreign[i].what);
    put(", \"holds\": "); put_x(~held[foreign[i].holds].addr); put("}");
  }
  put("]");
  put(",\n\"mallinfo2\": {");
  kv_u("arena", mi->arena); put(", ");
  kv_u("ordblks", mi->ordblks); put(", ");
  kv_u("smblks", mi->smblks); put(", ");
  kv_u("hblks", mi->hblks); put(", ");
  kv_u("hblkhd", mi->hblkhd); put(", ");
  kv_u("usmblks", mi->usmblks); put(", ");
  kv_u("fsmblks", mi->fsmblks); put(", ");
  kv_u("uordblks", mi->uordblks); put(", ");
  kv_u("fordblks", mi->fordblks); put(", ");
  kv_u("keepcost", mi->keepcost);
  put("}\n},\n");

  /* expectations */
  int arenas = 1, all_tc = 1, all_bins = 1, heaps = 0, maxheaps = 0;
  long tc = 0, fast = 0, uns = 0, small = 0, large = 0, mmapped = 0;
  for (int i = 0; i < nheld; i++) mmapped += held[i].live && held[i].mmapped;
  for (int i = 0; i < nctx; i++) {
    struct ctx *c = &ctxs[i];
    if (!c->is_main && c->allocs) arenas++;
    heaps += c->heaps;
    if (c->heaps > maxheaps) maxheaps = c->heaps;
    if (!c->tcache_known) all_tc = 0; else tc += ctx_tcache(c);
    if (!c->bins_known) { all_bins = 0; continue; }
    fast += c->fast; uns += c->unsorted; small += c->small; large += c->large;
  }
  put("\"expect\": {"); kv_l("arenas", arenas);
  put(", "); kv_l("mmapped_chunks", mmapped);
  put(", "); kv_u("mmap_threshold", model_mmap_thr);
  put(", "); kv_l("non_main_heaps", heaps);
  put(", "); kv_l("heaps_in_arena", maxheaps);
  if (all_tc) { put(", "); kv_l("tcache_chunks", tc); }
  if (all_bins) {
    put(", "); kv_l("fastbin_chunks", fast);
    put(", "); kv_l("unsorted_chunks", uns);
    put(", "); kv_l("smallbin_chunks", small);
    put(", "); kv_l("largebin_chunks", large);
  }
  put(",\n  \"per_thread\": [");
  for (int i = 0; i < nctx; i++) {
    struct ctx *c = &ctxs[i];
    put(i ? ",\n    {" : "\n    {");
    kv_u("tid", (unsigned long)c->tid);
    put(c->is_main ? ", \"arena\": \"main\"" : c->allocs ? ", \"arena\": \"own\"" : ", \"arena\": \"none\"");
    if (!c->is_main) { put(", "); kv_l("heaps", c->heaps); }
    if (c->tcache_known) { put(", "); kv_l("tcache_chunks", ctx_tcache(c)); }
    if (c->bins_known) {
      put(", "); kv_l("fastbin_chunks", c->fast);
      put(", "); kv_l("unsorted_chunks", c->unsorted);
      put(", "); kv_l("smallbin_chunks", c->small);
      put(", "); kv_l("largebin_chunks", c->large);
    }
    put("}");
  }
  put("\n  ]}\n}\n");

  static char tmp[4096 + 8];
  size_t pl = strlen(path);
  if (pl + 5 > sizeof tmp) fail("manifest path too long");
  memcpy(tmp, path, pl);
  memcpy(tmp + pl, ".tmp", 5);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open manifest");
  for (size_t off = 0; off < outn;) {
    ssize_t r = write(fd, out + off, outn - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("write manifest");
    off += (size_t)r;
  }
  if (close(fd)) fail("close manifest");
  if (rename(tmp, path)) fail("rename manifest");
}

/* ---- main ---------------------------------------------------------------- */

static const struct { const char *name; void (*fn)(void); } scenarios[] = {
  { "tcache", sc_tcache }, { "fastbins", sc_fastbins }, { "bins", sc_bins },
  { "threads", sc_threads }, { "mmap", sc_mmap }, { "apis", sc_apis },
  { "trim", sc_trim }, { "many", sc_many }, { "fencepost", sc_fencepost },
  { "sbrkgap", sc_sbrkgap }, { "noncontig", sc_noncontig },
};

int main(int argc, char **argv) {
  if (argc < 3) {
    wr(2, "usage: heap MANIFEST_PATH SCENARIO [COUNT]\n"
          "scenarios: tcache fastbins bins threads mmap apis trim multiheap many\n"
          "           fencepost sbrkgap noncontig all\n");
    return 2;
  }
  scenario_name = argv[2];
  if (argc > 3) {
    char *e;
    many_count = strtol(argv[3], &e, 10);
    if (*e || many_count < 2 || many_count > MANY_MAX) fail("bad COUNT");
  }
  if (pipe(park_pipe) || pipe(done_pipe)) fail("pipe");
  /* the model assumes glibc's default malloc settings (MALLOC_PERTURB_
     only fills memory; MALLOC_CHECK_ does nothing without
     libc_malloc_debug.so, which LD_PRELOAD would bring) */
  for (char **e = environ; *e; e++)
    if ((!strncmp(*e, "MALLOC_", 7) && strncmp(*e, "MALLOC_PERTURB_=", 16) &&
         strncmp(*e, "MALLOC_CHECK_=", 14)) ||
        !strncmp(*e, "LD_PRELOAD=", 11) ||
        (!strncmp(*e, "GLIBC_TUNABLES=", 15) && strstr(*e, "malloc")))
      fail("malloc settings in the environment (MALLOC_*, GLIBC_TUNABLES, LD_PRELOAD)");

  struct ctx *mainc = new_ctx(1);
  mainc->fn[0] = "main";
  mainc->nfn = 1;
  cur = mainc;

  const char *s = argv[2];
  if (!strcmp(s, "all")) {
    /* an arena per thread however many cores there are */
    if (!mallopt(M_ARENA_MAX, 64)) fail("mallopt");
    run_on_thread(sc_trim);
    run_on_thread(sc_tcache);
    run_on_thread(sc_fastbins);
    run_on_thread(sc_mmap);
    run_on_thread(sc_apis);
    run_on_thread(sc_multiheap);
    run_on_thread(sc_many);
    sc_threads();
    sc_bins();
  } else if (!strcmp(s, "multiheap")) {
    run_on_thread(sc_multiheap);

  } else {
    unsigned i;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
      if (!strcmp(s, scenarios[i].name)) break;
    if (i == sizeof scenarios / sizeof scenarios[0]) {
      wr(2, "heap: unknown scenario\n");
      return 2;
    }
    scenarios[i].fn();
  }

  /* the heap state is final: no malloc/free from here on (mallinfo2 does
     not allocate; the manifest is built in a static buffer) */
  struct mallinfo2 mi = mallinfo2();
  write_manifest(argv[1], &mi);
  for (;;) pause();
}
