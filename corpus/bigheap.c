/* bigheap: a large random pointer graph of three threads with known leaks,
 * for benchmarks (bench/bigheap) and, small, for tests (t0400).
 *
 * Usage: bigheap MANIFEST_PATH COUNT [SEED]
 *
 * Three threads - the main thread and two workers, one after the other, so
 * the addresses are the same on every run - each allocate a third of COUNT
 * live chunks in an arena of their own (the main arena and two thread
 * arenas, whose heaps fill up and are closed by sysmalloc's fenceposts), of
 * 24 to 2000 bytes (about 300 on average: 10^7 chunks make a 3 GB core), with
 * about 2% more chunks in between that are freed at the end.  Then the main
 * thread links them (SEED, default 1, drives one xorshift generator per
 * thread and one for the links: the same SEED gives the same graph):
 *   - kept chunks (about 95%): a binary tree over a random permutation of
 *     them (words 0 and 1 of each are its children), rooted at the global
 *     g_root, and 4 in 5 get a pointer to a random kept chunk in word 2 (one
 *     in 16 of those 8 bytes into it: an interior pointer);
 *   - leaked chunks (about 5%): in structures of 2 to 64 chunks, chains and
 *     cycles in turn, linked through word 0; 4 in 5 get a word 2 pointer to a
 *     random kept chunk too.  Nothing outside a structure points into it, so
 *     each is one leak root (the chain's head; a cycle's chunk with the lowest
 *     address) holding the rest.
 * About 1.8 pointers per live chunk.  Each thread then frees its other chunks
 * so that every kind of free list holds some: sizes above the fastbins first
 * (7 per size to its tcache, the rest to the unsorted bin), a 16 KiB request
 * no free chunk fits (kept by the global g_sorter: it sorts the unsorted bin
 * into the small and large bins), then the last 8 of more than 1040 bytes
 * (they stay in the unsorted bin) and the fastbin sizes (7 per size to the
 * tcache, the rest to the fastbins).  No thread allocates after that.
 *
 * The bookkeeping (addresses of every chunk) lives in mmapped memory that is
 * unmapped before the manifest is written, the program keeps no other copy
 * of a chunk's address, and every thread zeroes its dead stack and its vector
 * registers before it parks: what points to a leaked chunk is only what the
 * graph says.  The manifest (corpus/README.md protocol) gives count, kept,
 * leaked and leaked_bytes (usable sizes), leak_roots, chains, cycles,
 * pointers (words written; interior: those into the middle of a chunk;
 * self: those into their own chunk),
 * freed, used_chunks (every used chunk the program made: kept, leaked, the
 * three sorters, the two DTVs pthread_create calloc'ed; the three tcache
 * structs not included), and mallinfo2 - taken after the last free, with no
 * allocation after.
 */
#include "corpus.h"

#include <malloc.h>
#include <sys/mman.h>

enum { NTHREADS = 3, MAX_STRUCT = 64, SORTER = 16 * 1024, KEEP_UNSORTED = 8 };
enum { KEPT = 0, LEAKED = 1, GARBAGE = 2 };

/* Requests (usable sizes): chunks of 32 to 2016 bytes, 299 on average. */
static const unsigned short sizes[16] = {
	24, 24, 24, 40, 40, 56, 56, 72, 88, 120, 136, 200, 264, 504, 1000, 2000 };

void *g_root;                   /* the kept chunks' tree */
void *g_sorter[NTHREADS];       /* each thread's bin-sorting request */

/* The bookkeeping: mmapped, unmapped before the dump. */
static uintptr_t *addr;         /* every chunk, in allocation order */
static uint8_t *kind;           /* KEPT, LEAKED or GARBAGE | its sizes[] index << 2 */
static uint32_t *kept_ix, *leak_ix;
static size_t cap, n_alloc, n_kept, n_leaked;
static size_t bk_bytes;
static void *bk;

static struct {
	size_t lo, hi;                  /* its chunks: addr[lo, hi) */
	long live;                      /* how many live chunks it makes */
	int pipe[2];                    /* main -> worker: free now */
	uint64_t rng;
} part[NTHREADS];

/* What the manifest says (statics: nothing is allocated to write it). */
static unsigned long count_arg, seed_arg, leaked_bytes, n_roots, n_chains,
	n_cycles, n_pointers, n_self, n_interior, n_freed;
static struct mallinfo2 mi;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void die(const char *msg)
{
	errno = 0;
	corpus_die(msg);
}

static void *bookkeeping(size_t bytes)
{
	void *p = (char *)bk + bk_bytes;
	bk_bytes += (bytes + 4095) & ~(size_t)4095;
	return p;
}

/* Zeroes the dead stack below the caller: no stale copy of an address. */
static CORPUS_NOINLINE void scrub_stack(void)
{
	volatile char pad[65536];
	memset((char *)pad, 0, sizeof pad);
	__asm__ volatile("" ::: "memory");
}

/* Thread t's chunks: live ones until it has made its share, with about one
 * in 50 allocations a chunk to free at the end; the last one is live (a
 * chunk freed next to the top chunk would merge into it). */
static CORPUS_NOINLINE void allocate(int t)
{
	uint64_t *s = &part[t].rng;
	size_t i = part[t].lo;
	for (long live = 0; live < part[t].live; i++) {
		if (i >= cap)
			die("bookkeeping full");
		uint64_t r = xorshift(s);
		uint8_t k = r % 50 == 0 && live + 1 < part[t].live ? GARBAGE :
			    (r >> 8) % 20 == 0 ? LEAKED : KEPT;
		size_t n = sizes[(r >> 16) & 15];
		void *p = malloc(n);
		if (!p)
			die("malloc failed");
		/* A chunk malloc reuses keeps its free-list links (fd, bk, the
		   large bins' fd/bk_nextsize) in its first 32 bytes: the program
		   initializes its objects, so that no stale link is a pointer. */
		memset(p, 0, n < 32 ? n : 32);
		addr[i] = (uintptr_t)p;
		kind[i] = k | (uint8_t)(((r >> 16) & 15) << 2);
		live += k != GARBAGE;
	}
	part[t].hi = i;
}

static int is(size_t i, int k) { return (kind[i] & 3) == k; }
static unsigned request(size_t i) { return sizes[kind[i] >> 2]; }

/* The free lists of thread t's arena (see the top of the file). */
static CORPUS_NOINLINE void free_garbage(int t)
{
	size_t late[KEEP_UNSORTED], n_late = 0;
	for (size_t i = part[t].hi; i-- > part[t].lo && n_late < KEEP_UNSORTED;)
		if (is(i, GARBAGE) && request(i) > 1040)
			late[n_late++] = i;
	for (size_t i = part[t].lo; i < part[t].hi; i++) {
		if (!is(i, GARBAGE) || request(i) <= 120)
			continue;
		int is_late = 0;
		for (size_t k = 0; k < n_late; k++)
			is_late |= late[k] == i;
		if (!is_late)
			free((void *)addr[i]);
	}
	g_sorter[t] = malloc(SORTER);
	if (!g_sorter[t])
		die("malloc failed");
	memset(g_sorter[t], 0, SORTER);
	for (size_t k = 0; k < n_late; k++)
		free((void *)addr[late[k]]);
	for (size_t i = part[t].lo; i < part[t].hi; i++)
		if (is(i, GARBAGE) && request(i) <= 120)
			free((void *)addr[i]);
}

static CORPUS_NOINLINE long park_in_read(int fd)
{
	char c;
	corpus_clear_vector_regs();
	return read(fd, &c, 1);
}

static CORPUS_NOINLINE void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	static const char *const funcs[] = { "park_in_read", "worker", NULL };
	static const long sys[] = { SYS_read, -1 };
	corpus_add_thread(t, funcs, sys);
	allocate(t);
	corpus_thread_ready();
	char c;
	if (read(part[t].pipe[0], &c, 1) != 1)     /* the links are made */
		die("pipe");
	free_garbage(t);
	scrub_stack();
	corpus_thread_ready();
	for (;;)
		park_in_read(part[t].pipe[0]);
	return NULL;
}

static uintptr_t random_kept(uint64_t *s)
{
	uintptr_t p = addr[kept_ix[xorshift(s) % n_kept]];
	if (xorshift(s) % 16 == 0) {
		n_interior++;
		return p + 8;
	}
	return p;
}

/* Word 2 of 4 in 5 chunks: a random kept chunk (maybe itself). */
static void extra_pointer(uintptr_t *o, uint64_t *s)
{
	if (xorshift(s) % 5) {
		o[2] = random_kept(s);
		n_pointers++;
		n_self += (o[2] & ~(uintptr_t)15) == (uintptr_t)o;
	}
}

static void shuffle(uint32_t *v, size_t n, uint64_t *s)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = xorshift(s) % i;
		uint32_t x = v[i - 1];
		v[i - 1] = v[j];
		v[j] = x;
	}
}

/* The graph (see the top of the file). */
static CORPUS_NOINLINE void link_chunks(uint64_t *s)
{
	for (size_t i = 0; i < n_alloc; i++) {
		if (is(i, KEPT))
			kept_ix[n_kept++] = (uint32_t)i;
		else if (is(i, LEAKED))
			leak_ix[n_leaked++] = (uint32_t)i;
	}
	if (!n_kept || n_leaked < 2)
		die("COUNT too small");
	shuffle(kept_ix, n_kept, s);
	shuffle(leak_ix, n_leaked, s);
	for (size_t t = 0; t < n_kept; t++) {
		uintptr_t *o = (uintptr_t *)addr[kept_ix[t]];
		for (size_t c = 2 * t + 1; c <= 2 * t + 2 && c < n_kept; c++) {
			o[c - 2 * t - 1] = addr[kept_ix[c]];
			n_pointers++;
		}
		extra_pointer(o, s);
	}
	g_root = (void *)addr[kept_ix[0]];
	for (size_t i = 0; i < n_leaked;) {
		size_t len = 2 + xorshift(s) % (MAX_STRUCT - 1);
		if (n_leaked - i < len + 2)
			len = n_leaked - i;   /* the last one takes the rest */
		int cycle = (n_roots++) % 2;
		n_cycles += cycle;
		n_chains += !cycle;
		for (size_t j = 0; j < len; j++) {
			uintptr_t *o = (uintptr_t *)addr[leak_ix[i + j]];
			leaked_bytes += malloc_usable_size(o);
			if (j + 1 < len || cycle) {
				o[0] = addr[leak_ix[i + (j + 1) % len]];
				n_pointers++;
			}
			extra_pointer(o, s);
		}
		i += len;
	}
}

static void manifest_extra(void)
{
	corpus_put(",\n  \"seed\": %lu, \"count\": %lu, \"kept\": %zu, \"leaked\": %zu,"
		   " \"leaked_bytes\": %lu, \"leak_roots\": %lu, \"chains\": %lu,"
		   " \"cycles\": %lu,\n  \"pointers\": %lu, \"interior\": %lu, \"self\": %lu,"
		   " \"freed\": %lu, \"used_chunks\": %zu, \"tcache_structs\": %d,",
		   seed_arg, count_arg, n_kept, n_leaked, leaked_bytes, n_roots, n_chains,
		   n_cycles, n_pointers, n_interior, n_self, n_freed,
		   n_kept + n_leaked + NTHREADS + (NTHREADS - 1), NTHREADS);
	corpus_put("\n  \"mallinfo2\": {\"arena\": %zu, \"ordblks\": %zu, \"smblks\": %zu,"
		   " \"hblks\": %zu, \"hblkhd\": %zu, \"usmblks\": %zu, \"fsmblks\": %zu,"
		   " \"uordblks\": %zu, \"fordblks\": %zu, \"keepcost\": %zu}",
		   mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd, mi.usmblks,
		   mi.fsmblks, mi.uordblks, mi.fordblks, mi.keepcost);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: bigheap MANIFEST_PATH COUNT [SEED]\n");
		return 3;
	}
	char *e;
	count_arg = strtoul(argv[2], &e, 10);
	if (*e || count_arg < 1000 || count_arg > 200000000)
		die("COUNT must be 1000 to 2*10^8");
	seed_arg = argc > 3 ? strtoul(argv[3], &e, 10) : 1;
	if (argc > 3 && *e)
		die("bad SEED");
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long none[] = { -1 };
	corpus_add_thread(0, funcs, none);
	corpus_find_modules(NULL);

	cap = count_arg + count_arg / 20 + 1024;
	size_t need = cap * (sizeof(*addr) + sizeof(*kind) + 2 * sizeof(*kept_ix)) + 5 * 4096;
	bk = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bk == MAP_FAILED)
		corpus_die("mmap");
	addr = bookkeeping(cap * sizeof(*addr));
	kind = bookkeeping(cap * sizeof(*kind));
	kept_ix = bookkeeping(cap * sizeof(*kept_ix));
	leak_ix = bookkeeping(cap * sizeof(*leak_ix));

	/* Allocations in order: worker 1, worker 2 (each parks until the
	   links are made), then the main thread. */
	size_t next = 0;
	for (int t = 0; t < NTHREADS; t++) {
		part[t].live = (long)(count_arg / NTHREADS + (t < (int)(count_arg % NTHREADS)));
		part[t].rng = (seed_arg + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)t;
		if (pipe(part[t].pipe))
			corpus_die("pipe");
	}
	for (int t = 1; t <= NTHREADS; t++) {
		int p = t % NTHREADS;           /* 1, 2, then 0 (main) */
		part[p].lo = next;
		if (p) {
			pthread_t th;
			if (pthread_create(&th, NULL, worker, (void *)(intptr_t)p))
				corpus_die("pthread_create");
			corpus_wait_ready(p);
		} else {
			allocate(0);
		}
		next = part[p].hi;
	}
	n_alloc = next;
	uint64_t s = seed_arg * 0xD1B54A32D192ED03ull + 1;
	link_chunks(&s);

	for (size_t i = 0; i < n_alloc; i++)
		n_freed += is(i, GARBAGE);
	for (int t = 1; t < NTHREADS; t++)     /* one after the other */
		if (write(part[t].pipe[1], "f", 1) != 1 ||
		    (corpus_wait_ready(NTHREADS - 1 + t), 0))
			corpus_die("pipe");
	free_garbage(0);
	corpus_wait_blocked();
	munmap(bk, need);
	addr = NULL;
	scrub_stack();
	mi = mallinfo2();
	corpus_global(g_root);
	corpus_global(g_sorter);
	(void)corpus_write_manifest;
	corpus_write_manifest_with(argv[1], corpus_basename(argv[0]), manifest_extra);
	scrub_stack();
	park_main();
	return 0;
}
