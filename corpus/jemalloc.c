/* jemalloc: a process whose malloc is jemalloc (linked with -ljemalloc), and
 * what jemalloc itself says about its heap at the dump.
 *
 * Usage: jemalloc MANIFEST_PATH [basic | threads | mixed]
 *
 *   basic    the main thread allocates 1000 blocks of 24 sizes (8 bytes to
 *            600 KB: small regions in slabs, large extents cached by the
 *            tcache and not), keeps half of them in a global array, drops a
 *            sixth (leaked by construction: the program keeps their
 *            addresses complemented) and frees the rest (free regions,
 *            dirty extents);
 *   threads  the same in the main thread (400 blocks) and in three workers
 *            (300 each) on the arenas jemalloc gives them, the third on a
 *            manual arena (arenas.create); the second worker does not flush
 *            its tcache at the end: it frees 13 blocks (small and large)
 *            that stay cached there ("cached");
 *   mixed    basic, plus 40 blocks from glibc's own malloc (__libc_malloc:
 *            what a library calling glibc directly holds) - 25 kept, 8
 *            dropped, 7 freed - with glibc's malloc_usable_size and
 *            mallinfo2 (from libc.so.6 itself).
 *
 * Each block comes from one of three functions (make_node, make_buffer,
 * make_record: its "site").  Built with -DCORPUS_JE_PROF (jemalloc-prof),
 * the program sets malloc_conf "prof:true,prof_active:true,lg_prof_sample:0":
 * jemalloc's profiler samples every allocation and keeps its stack; once
 * every tcache is flushed the main thread writes jemalloc's own heap profile
 * (mallctl "prof.dump": jeprof's heap_v2 text, every stack with its objects
 * and bytes in use) to MANIFEST_PATH.heap, named in the manifest as
 * "heap_profile", before it reads the statistics.
 *
 * Every thread but the lazy worker flushes its tcache (thread.tcache.flush)
 * after its last allocation; then the main thread refreshes the statistics
 * (epoch) and records jemalloc's figures: stats.allocated, stats.active,
 * stats.retained, arenas.narenas, and for every initialized arena and the
 * merged one (MALLCTL_ARENAS_ALL, 4096): small/large nmalloc, ndalloc and
 * allocated, pdirty, pmuzzy, tcache_bytes and each bin's curregs, and each
 * bin's region size (arenas.bin.<j>.size) and the smallest large size
 * (arenas.lextent.0.size: what a sampled small allocation counts for).  Nothing
 * allocates after that: the manifest is written from a static buffer, then
 * the main thread parks in pause() and the workers in theirs.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <dlfcn.h>
#include <malloc.h>
#ifdef CORPUS_JE_MANGLE
/* a build with --with-jemalloc-prefix=je_: malloc, free, mallctl... are
   its je_ names (jemalloc_mangle.h), and the process's malloc stays glibc's */
#define JEMALLOC_MANGLE
#endif
#include <jemalloc/jemalloc.h>

enum {
	N_SIZES = 24,
	MAX_RECS = 4096,
	N_WORKERS = 3,
	MAX_NBINS = 64,            /* arenas.nbins: 36 in jemalloc 5.3's default build */
	MAX_ARENAS = 64,
	ARENAS_ALL = 4096,         /* MALLCTL_ARENAS_ALL */
	N_GLIBC = 40,
};

static const size_t sizes[N_SIZES] = {
	8, 16, 24, 40, 64, 100, 128, 200, 300, 512, 1000, 2000,
	3000, 5000, 9000, 14000, 17000, 20000, 30000, 40000, 70000, 150000, 600000, 24,
};

struct rec {
	uintptr_t addr_c;          /* complemented: no copy of the pointer */
	size_t usable, request;
	pid_t tid;
	int arena;
	const char *site;          /* the function that called malloc */
};

#ifdef CORPUS_JE_PROF
/* jemalloc-prof: every allocation sampled, with its stack */
const char *malloc_conf = "prof:true,prof_active:true,lg_prof_sample:0";
static char heap_profile[PATH_MAX];
#endif

/* Three allocation sites. */
static CORPUS_NOINLINE void *make_node(size_t n) { return malloc(n); }
static CORPUS_NOINLINE void *make_buffer(size_t n) { return malloc(n); }
static CORPUS_NOINLINE void *make_record(size_t n) { return malloc(n); }
static void *(*const makers[3])(size_t) = { make_node, make_buffer, make_record };
static const char *const maker_names[3] = { "make_node", "make_buffer", "make_record" };

struct stats {
	int index;
	uint64_t small_nmalloc, small_ndalloc, large_nmalloc, large_ndalloc;
	size_t small_allocated, large_allocated, pdirty, pmuzzy, tcache_bytes;
	size_t curregs[MAX_NBINS];
};

static void *held[MAX_RECS];    /* the global that keeps the held blocks */
static int n_held_ptrs;
static struct rec rec_held[MAX_RECS], rec_leaked[MAX_RECS], rec_cached[64];
static int n_held, n_leaked, n_cached;
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

static void *glibc_held[N_GLIBC];
static struct rec glibc_rec_held[N_GLIBC], glibc_rec_leaked[N_GLIBC];
static int n_glibc_held, n_glibc_leaked;
static struct mallinfo2 glibc_mi;

static const char *version;
static size_t st_allocated, st_active, st_retained;
static unsigned narenas;
static struct stats arena_stats[MAX_ARENAS + 1];
static int n_arena_stats;
static unsigned manual_arena;
static size_t bin_sizes[MAX_NBINS], large_minclass;
static unsigned nbins;
static const char *scenario;

static void ctl(const char *name, void *out, size_t size)
{
	size_t sz = size;
	if (mallctl(name, out, &sz, NULL, 0) || sz != size) {
		errno = 0;
		corpus_die(name);
	}
}

static int my_arena(void)
{
	unsigned a = 0;
	ctl("thread.arena", &a, sizeof(a));
	return (int)a;
}

/* n blocks: keep half, drop a sixth, free the rest (at the end, in
 * allocation order: free regions between used ones, and dirty extents). */
static CORPUS_NOINLINE void build(int n, int salt)
{
	void *to_free[MAX_RECS / 2];
	int n_free = 0;
	pid_t tid = corpus_gettid();
	int arena = my_arena();
	for (int i = 0; i < n; i++) {
		size_t req = sizes[(i * 7 + salt) % N_SIZES];
		if (req >= 150000 && (i / N_SIZES) % 4)
			req = 64;      /* the biggest ones less often */
		char *p = makers[i % 5 % 3](req);
		if (!p)
			corpus_die("malloc");
		memset(p, 'a' + i % 26, req);
		struct rec r = { ~(uintptr_t)p, malloc_usable_size(p), req, tid, arena,
				 maker_names[i % 5 % 3] };
		pthread_mutex_lock(&rec_lock);
		if (i % 6 == 1) {
			rec_leaked[n_leaked++] = r;
		} else if (i % 3 == 2) {
			to_free[n_free++] = p;
		} else {
			held[n_held_ptrs++] = p;
			rec_held[n_held++] = r;
		}
		pthread_mutex_unlock(&rec_lock);
	}
	for (int i = 0; i < n_free; i++)
		free(to_free[i]);
	memset(to_free, 0, sizeof(to_free));
}

/* Blocks freed into this thread's tcache and left there. */
static CORPUS_NOINLINE void fill_tcache(void)
{
	static const size_t cached_sizes[] = { 48, 48, 48, 48, 48, 48, 48, 48, 300, 300, 300,
					       20000, 20000 };
	void *p[13];
	pid_t tid = corpus_gettid();
	int arena = my_arena();
	for (int i = 0; i < 13; i++) {
		if (!(p[i] = malloc(cached_sizes[i])))
			corpus_die("malloc");
		rec_cached[n_cached++] = (struct rec){ ~(uintptr_t)p[i], malloc_usable_size(p[i]),
						       cached_sizes[i], tid, arena, "fill_tcache" };
	}
	for (int i = 0; i < 13; i++)
		free(p[i]);
	memset(p, 0, sizeof(p));
}

static void flush_tcache(void)
{
	if (mallctl("thread.tcache.flush", NULL, NULL, NULL, 0))
		corpus_die("thread.tcache.flush");
}

static CORPUS_NOINLINE long park_in_pause(void)
{
	corpus_thread_ready();
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_vector_regs();
	return corpus_park_pause();
}

static void *worker(void *arg)
{
	int k = (int)(intptr_t)arg;
	static const char *const funcs[] = { "park_in_pause", "worker", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(k, funcs, sys);
	if (k == 3) {
		unsigned a = manual_arena;
		if (mallctl("thread.arena", NULL, NULL, &a, sizeof(a)))
			corpus_die("thread.arena");
	}
	build(300, k);
	corpus_clear_stack();
	flush_tcache();
	if (k == 2)
		fill_tcache();  /* and no flush after it */
	park_in_pause();
	return NULL;
}

/* glibc's own malloc, next to jemalloc's. */
static CORPUS_NOINLINE void glibc_blocks(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	size_t (*usable)(void *) = libc ? (size_t (*)(void *))dlsym(libc, "malloc_usable_size") : NULL;
	struct mallinfo2 (*mi)(void) = libc ? (struct mallinfo2 (*)(void))dlsym(libc, "mallinfo2") : NULL;
	extern void *__libc_malloc(size_t);
	extern void __libc_free(void *);
	if (!usable || !mi)
		corpus_die("glibc's malloc_usable_size or mallinfo2 not found");
	void *to_free[N_GLIBC];
	int n_free = 0;
	pid_t tid = corpus_gettid();
	for (int i = 0; i < N_GLIBC; i++) {
		size_t req = i == 5 ? 200000 : 24 + 56 * (size_t)(i % 9);
		char *p = __libc_malloc(req);
		if (!p)
			corpus_die("__libc_malloc");
		memset(p, 'A' + i % 26, req);
		struct rec r = { ~(uintptr_t)p, usable(p), req, tid, -1, "glibc_blocks" };
		if (i % 5 == 1)
			glibc_rec_leaked[n_glibc_leaked++] = r;
		else if (i % 6 == 3)
			to_free[n_free++] = p;
		else {
			glibc_held[n_glibc_held] = p;
			glibc_rec_held[n_glibc_held++] = r;
		}
	}
	for (int i = 0; i < n_free; i++)
		__libc_free(to_free[i]);
	memset(to_free, 0, sizeof(to_free));
	glibc_mi = mi();
}

static void read_arena(int i, struct stats *s)
{
	char name[96];
	s->index = i;
#define ARENA_STAT(field, key) \
	snprintf(name, sizeof(name), "stats.arenas.%d." key, i); \
	ctl(name, &s->field, sizeof(s->field))
	ARENA_STAT(small_nmalloc, "small.nmalloc");
	ARENA_STAT(small_ndalloc, "small.ndalloc");
	ARENA_STAT(large_nmalloc, "large.nmalloc");
	ARENA_STAT(large_ndalloc, "large.ndalloc");
	ARENA_STAT(small_allocated, "small.allocated");
	ARENA_STAT(large_allocated, "large.allocated");
	ARENA_STAT(pdirty, "pdirty");
	ARENA_STAT(pmuzzy, "pmuzzy");
	ARENA_STAT(tcache_bytes, "tcache_bytes");
#undef ARENA_STAT
	for (int b = 0; b < (int)nbins; b++) {
		snprintf(name, sizeof(name), "stats.arenas.%d.bins.%d.curregs", i, b);
		ctl(name, &s->curregs[b], sizeof(s->curregs[b]));
	}
}

#ifdef CORPUS_JE_PROF
/* jemalloc's own heap profile of what is in use now (prof.dump writes it
 * with no allocation of the program's: the statistics read after it are
 * those it describes). */
static void dump_profile(const char *manifest)
{
	const char *path = heap_profile;
	snprintf(heap_profile, sizeof(heap_profile), "%s.heap", manifest);
	if (mallctl("prof.dump", NULL, NULL, &path, sizeof(path)))
		corpus_die("prof.dump");
}
#endif

/* jemalloc's own figures, refreshed: nothing allocates after this. */
static void read_stats(void)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	if (mallctl("epoch", &epoch, &sz, &epoch, sz))
		corpus_die("epoch");
	ctl("stats.allocated", &st_allocated, sizeof(st_allocated));
	ctl("stats.active", &st_active, sizeof(st_active));
	ctl("stats.retained", &st_retained, sizeof(st_retained));
	ctl("arenas.narenas", &narenas, sizeof(narenas));
	ctl("arenas.nbins", &nbins, sizeof(nbins));
	if (nbins > MAX_NBINS)
		corpus_die("arenas.nbins is above MAX_NBINS");
	ctl("arenas.lextent.0.size", &large_minclass, sizeof(large_minclass));
	for (int b = 0; b < (int)nbins; b++) {
		char name[64];
		snprintf(name, sizeof(name), "arenas.bin.%d.size", b);
		ctl(name, &bin_sizes[b], sizeof(bin_sizes[b]));
	}
	for (unsigned i = 0; i < narenas && n_arena_stats < MAX_ARENAS; i++) {
		char name[64];
		bool init = false;
		snprintf(name, sizeof(name), "arena.%u.initialized", i);
		ctl(name, &init, sizeof(init));
		if (init)
			read_arena((int)i, &arena_stats[n_arena_stats++]);
	}
	read_arena(ARENAS_ALL, &arena_stats[n_arena_stats++]);
}

static void put_recs(const char *key, const struct rec *r, int n)
{
	corpus_put(",\n  \"%s\": [", key);
	for (int i = 0; i < n; i++)
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu, \"request\": %zu, \"tid\": %d, \"arena\": %d, \"site\": \"%s\"}",
			   i ? "," : "", (unsigned long)~r[i].addr_c, r[i].usable, r[i].request,
			   (int)r[i].tid, r[i].arena, r[i].site);
	corpus_put("\n  ]");
}

static void put_stats(const struct stats *s)
{
	corpus_put("{\"index\": %d, \"small.nmalloc\": %llu, \"small.ndalloc\": %llu, "
		   "\"large.nmalloc\": %llu, \"large.ndalloc\": %llu, \"small.allocated\": %zu, "
		   "\"large.allocated\": %zu, \"pdirty\": %zu, \"pmuzzy\": %zu, \"tcache_bytes\": %zu, "
		   "\"curregs\": [", s->index, (unsigned long long)s->small_nmalloc,
		   (unsigned long long)s->small_ndalloc, (unsigned long long)s->large_nmalloc,
		   (unsigned long long)s->large_ndalloc, s->small_allocated, s->large_allocated,
		   s->pdirty, s->pmuzzy, s->tcache_bytes);
	for (int b = 0; b < (int)nbins; b++)
		corpus_put("%s%zu", b ? ", " : "", s->curregs[b]);
	corpus_put("]}");
}

static void put_jemalloc(void)
{
	corpus_put(",\n  \"scenario\": \"%s\"", scenario);
#ifdef CORPUS_JE_PROF
	corpus_put(",\n  \"malloc_conf\": \"%s\", \"heap_profile\": ", malloc_conf);
	corpus_put_str(heap_profile);
#endif
	corpus_put(",\n  \"jemalloc\": {\"version\": ");
	corpus_put_str(version);
	corpus_put(", \"allocated\": %zu, \"active\": %zu, \"retained\": %zu, \"narenas\": %u, "
		   "\"manual_arena\": %u, \"large_minclass\": %zu, \"arenas\": [", st_allocated,
		   st_active, st_retained, narenas, manual_arena, large_minclass);
	for (int i = 0; i < n_arena_stats; i++) {
		corpus_put("%s\n    ", i ? "," : "");
		put_stats(&arena_stats[i]);
	}
	corpus_put("\n  ], \"bin_sizes\": [");
	for (int b = 0; b < (int)nbins; b++)
		corpus_put("%s%zu", b ? ", " : "", bin_sizes[b]);
	corpus_put("]}");
	put_recs("held", rec_held, n_held);
	put_recs("leaked", rec_leaked, n_leaked);
	put_recs("cached", rec_cached, n_cached);
	if (!strcmp(scenario, "mixed")) {
		put_recs("glibc_held", glibc_rec_held, n_glibc_held);
		put_recs("glibc_leaked", glibc_rec_leaked, n_glibc_leaked);
		corpus_put(",\n  \"mallinfo2\": {\"arena\": %zu, \"ordblks\": %zu, \"smblks\": %zu, "
			   "\"hblks\": %zu, \"hblkhd\": %zu, \"usmblks\": %zu, \"fsmblks\": %zu, "
			   "\"uordblks\": %zu, \"fordblks\": %zu, \"keepcost\": %zu}",
			   glibc_mi.arena, glibc_mi.ordblks, glibc_mi.smblks, glibc_mi.hblks,
			   glibc_mi.hblkhd, glibc_mi.usmblks, glibc_mi.fsmblks, glibc_mi.uordblks,
			   glibc_mi.fordblks, glibc_mi.keepcost);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: jemalloc MANIFEST_PATH [basic | threads | mixed]\n");
		return 3;
	}
	scenario = argc == 3 ? argv[2] : "basic";
	bool threads = !strcmp(scenario, "threads");
	if (!threads && strcmp(scenario, "basic") && strcmp(scenario, "mixed")) {
		fprintf(stderr, "jemalloc: unknown scenario '%s'\n", scenario);
		return 3;
	}
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	corpus_find_modules(NULL);
	ctl("version", &version, sizeof(version));
	if (threads) {
		ctl("arenas.create", &manual_arena, sizeof(manual_arena));
		for (int k = 1; k <= N_WORKERS; k++) {
			pthread_t t;
			if (pthread_create(&t, NULL, worker, (void *)(intptr_t)k))
				corpus_die("pthread_create");
		}
		corpus_wait_ready(N_WORKERS);
		corpus_wait_blocked();
	}
	build(threads ? 400 : 1000, 0);
	if (!strcmp(scenario, "mixed"))
		glibc_blocks();
	corpus_clear_stack();
	flush_tcache();
#ifdef CORPUS_JE_PROF
	dump_profile(argv[1]);
#endif
	read_stats();
	corpus_write_manifest_with(argv[1], "jemalloc", put_jemalloc);
	corpus_clear_stack();
	return park_main();
}
