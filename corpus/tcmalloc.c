/* tcmalloc: a heap whose malloc is gperftools' tcmalloc, and what tcmalloc
 * says about it (tests/t0360).
 *
 * Usage: tcmalloc MANIFEST_PATH
 *
 * Built twice by corpus/build.sh: tcmalloc-minimal (-ltcmalloc_minimal) and
 * tcmalloc-full (-ltcmalloc, the build with the heap profiler and checker,
 * unused here).  Four worker threads, then the main thread, each allocate a
 * deterministic mix of sizes (every small size class, pages-sized blocks, and
 * in the main thread large ones of 300 KiB to 5 MiB), keep some, drop some
 * (leaked: the program keeps their addresses complemented) and free the rest:
 *   - worker 0 also frees 2000 blocks of one class, the others a few hundred
 *     of many classes: their thread caches stay full;
 *   - a fifth thread frees 1000 small blocks and exits: its thread cache's
 *     lists go back in batches, mostly into the transfer cache.  It runs on
 *     a stack the program maps itself and unmaps once the thread is joined:
 *     glibc would keep a stack of its own in its cache of dead threads' stacks,
 *     with stale words of the thread's last calls (into tcmalloc, freeing)
 *     pointing at addresses handed out again since, some to dropped blocks;
 *   - the main thread frees large blocks, returns the page heap's free memory
 *     to the system (MallocExtension_ReleaseFreeMemory: spans on the
 *     returned lists) and frees more (spans on the normal lists).
 * The workers wait at a gate until every thread exists (the fifth has
 * exited), so that no address the program freed becomes the C library's
 * own.  Every block is filled with a letter up to its usable size
 * (tc_malloc_size, not only the request: the bytes past the request would
 * keep whatever the memory held before, free list links among them), so that
 * no block holds a pointer.  Each worker records its own thread cache's size
 * (MallocExtension_GetThreadCacheSize) and parks in read(2); once every
 * worker is parked, the main thread records tcmalloc's figures
 * (MallocExtension_GetNumericProperty) - nothing is allocated or freed after
 * that - writes the manifest and parks in pause().
 *
 * The manifest adds:
 *   "tcmalloc": {"version": tc_version(), "module": where malloc is,
 *                "globals": [start, end] of that module's writable segments
 *                           (its .data and .bss, from dl_iterate_phdr),
 *                "properties": {name: value, ...},
 *                "thread_cache_bytes": [each worker's, 0 for the thread that
 *                                       exited, the main thread's]},
 *   "held":   [{"addr", "usable" (tc_malloc_size), "request", "thread"
 *              (0-3 the workers, 4 the thread that exited, 5 main)}, ...],
 *   "leaked": [{"addr", "usable", "request", "thread"}, ...],
 *   "freed":  ["0x...", ...] (freed by the program; tcmalloc may have handed
 *             an address out again: then it is also in held or leaked),
 *   "exited_stack": ["0x...", "0x..."] (the bounds of the exited thread's
 *             stack, unmapped before the dump: no core holds it).
 * By construction no word outside tcmalloc's heap (stacks, registers, the
 * program's globals, tcmalloc's metadata) and no held block points into a
 * dropped block: tests/t0360 checks that on every core by a scan of its words.
 * tcmalloc's own globals are the exception: they keep stale pointers to
 * objects handed out since (the transfer cache slots past used_slots_), and
 * the walker never takes its page heap, central cache and size map as roots.
 */
/* corpus.h is a kit: this program uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <gperftools/malloc_extension_c.h>
#include <gperftools/tcmalloc.h>

enum {
	N_WORKERS = 4,
	EXITED = N_WORKERS,            /* a thread that exits before the dump */
	MAIN = N_WORKERS + 1,
	N_THREADS = N_WORKERS + 2,
	MAX_HELD = 700,
	MAX_LEAKED = 120,
	MAX_FREED = 3000,
	EXITED_STACK = 8 << 20,        /* glibc's default thread stack size */
};

struct block {
	uintptr_t rec;             /* ~address: no pointer to the block here */
	size_t usable, request;
};

/* What each thread keeps: the held blocks, by their real addresses. */
static void *held[N_THREADS][MAX_HELD];
static struct block rec_held[N_THREADS][MAX_HELD], rec_leaked[N_THREADS][MAX_LEAKED];
static uintptr_t rec_freed[N_THREADS][MAX_FREED];
static int n_held[N_THREADS], n_leaked[N_THREADS], n_freed[N_THREADS];
static size_t cache_bytes[N_THREADS];
static int park_pipe[2];
/* The workers start freeing only once every thread exists: no block the
 * program freed can then become the C library's (a new thread's DTV), so
 * every used block after that is one the program recorded. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;

static const char *const props[] = {
	"generic.current_allocated_bytes", "generic.heap_size",
	"tcmalloc.pageheap_free_bytes", "tcmalloc.pageheap_unmapped_bytes",
	"tcmalloc.central_cache_free_bytes", "tcmalloc.transfer_cache_free_bytes",
	"tcmalloc.thread_cache_free_bytes",
};
enum { N_PROPS = sizeof(props) / sizeof(props[0]) };
static size_t prop_value[N_PROPS];
static char version[64], malloc_module[PATH_MAX];
static uintptr_t malloc_globals[2];    /* [start, end) of its writable segments */
static uintptr_t exited_stack[2];      /* [start, end) of the exited thread's stack */

/* A small deterministic generator: the same sizes on every run. */
static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* A block of req bytes, filled up to its usable size: no pointer in it. */
static void *get(size_t req)
{
	char *p = malloc(req);
	if (!p)
		corpus_die("malloc");
	memset(p, 'a' + (int)(req % 26), tc_malloc_size(p));
	return p;
}

static void keep(int t, void *p, size_t req)
{
	if (n_held[t] == MAX_HELD)
		corpus_die("too many held blocks");
	held[t][n_held[t]] = p;
	rec_held[t][n_held[t]++] = (struct block){ ~(uintptr_t)p, tc_malloc_size(p), req };
}

static void drop(int t, void *p, size_t req)
{
	if (n_leaked[t] == MAX_LEAKED)
		corpus_die("too many leaked blocks");
	rec_leaked[t][n_leaked[t]++] = (struct block){ ~(uintptr_t)p, tc_malloc_size(p), req };
}

static void release(int t, void *p)
{
	if (n_freed[t] == MAX_FREED)
		corpus_die("too many freed blocks");
	rec_freed[t][n_freed[t]++] = ~(uintptr_t)p;
	free(p);
}

/* Sizes over every small class: mostly under 1 KiB, some to 32 KiB, a few
 * to 256 KiB (the largest class). */
static size_t some_size(uint32_t *s)
{
	uint32_t r = next_rand(s);
	switch (r % 16) {
	case 0: return 1024 + next_rand(s) % (31 << 10);
	case 1: return r % 64 ? 1 + next_rand(s) % 8192 : 32768 + next_rand(s) % (224 << 10);
	default: return 1 + next_rand(s) % 1024;
	}
}

/* A worker's heap: keep, drop and free a mix; worker 0 also frees 2000 blocks
 * of one class, more than its thread cache keeps. */
static CORPUS_NOINLINE void worker_heap(int w)
{
	uint32_t seed = 1000u + (uint32_t)w;
	void *tmp[300];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 300; i++) {
			size_t req = some_size(&seed);
			void *p = get(req);
			if (i % 10 == 3)
				drop(w, p, req);
			else if (i % 3 == 0)
				keep(w, p, req);
			else
				tmp[i] = p;
		}
		for (int i = 0; i < 300; i++)
			if (i % 10 != 3 && i % 3 != 0)
				release(w, tmp[i]);
	}
	if (w == 0) {
		static void *many[1000];
		for (int k = 0; k < 2; k++) {
			for (int i = 0; i < 1000; i++)
				many[i] = get(48);
			for (int i = 0; i < 1000; i++)
				release(w, many[i]);
			memset(many, 0, sizeof(many));   /* no stale pointer */
		}
	}
}

/* A thread that frees 1000 blocks and exits: its thread cache's lists go back
 * to the central cache in batches, most of them into the transfer cache. */
static CORPUS_NOINLINE void *exiting(void *arg)
{
	(void)arg;
	static void *many[1000];
	for (int i = 0; i < 1000; i++)
		many[i] = get(i % 5 ? 64 : 1024);
	for (int i = 0; i < 1000; i++)
		release(EXITED, many[i]);
	memset(many, 0, sizeof(many));           /* no stale pointer */
	return NULL;
}

/* Runs exiting() to its end on a stack of the program's own, then unmaps it:
 * nothing of that thread's stack is left for the core (after pthread_join,
 * glibc no longer uses a stack the application gave it). */
static void run_exiting(void)
{
	pthread_attr_t attr;
	pthread_t ex;
	void *stack = mmap(NULL, EXITED_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		corpus_die("mmap of a thread stack");
	if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, stack, EXITED_STACK) ||
	    pthread_create(&ex, &attr, exiting, NULL) || pthread_join(ex, NULL) ||
	    pthread_attr_destroy(&attr))
		corpus_die("pthread_create or pthread_join");
	if (munmap(stack, EXITED_STACK))
		corpus_die("munmap of a thread stack");
	exited_stack[0] = (uintptr_t)stack;
	exited_stack[1] = (uintptr_t)stack + EXITED_STACK;
}

static CORPUS_NOINLINE void *worker(void *arg)
{
	int w = (int)(intptr_t)arg;
	static const char *const funcs[] = { "worker", NULL };
	static const long sys[] = { SYS_read, -1 };
	corpus_add_thread(1 + w, funcs, sys);
	pthread_mutex_lock(&gate_lock);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	worker_heap(w);
	cache_bytes[w] = MallocExtension_GetThreadCacheSize();
	corpus_thread_ready();
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	corpus_park_read(park_pipe[0]);
	return NULL;
}

/* The main thread's heap: the same mix, then large blocks (their own spans),
 * some freed before the page heap returns its free memory to the system and
 * some after. */
static CORPUS_NOINLINE void main_heap(void)
{
	int t = MAIN;
	uint32_t seed = 7;
	void *tmp[400];
	for (int i = 0; i < 400; i++) {
		size_t req = some_size(&seed);
		void *p = get(req);
		if (i % 9 == 4)
			drop(t, p, req);
		else if (i % 2)
			keep(t, p, req);
		else
			tmp[i] = p;
	}
	for (int i = 0; i < 400; i += 2)
		if (i % 9 != 4)
			release(t, tmp[i]);
	static const size_t large[] = { 300 << 10, 3 << 20, 1536 << 10, 512 << 10, 2 << 20,
					640 << 10, 1 << 20, 5 << 20 };
	void *big[8];
	for (int i = 0; i < 8; i++)
		big[i] = get(large[i]);
	release(t, big[1]);
	release(t, big[3]);
	MallocExtension_ReleaseFreeMemory();
	release(t, big[5]);
	release(t, big[7]);
	keep(t, big[0], large[0]);
	keep(t, big[2], large[2]);
	drop(t, big[4], large[4]);
	keep(t, big[6], large[6]);
	cache_bytes[t] = MallocExtension_GetThreadCacheSize();
}

/* The writable segments of the module named by data (its globals): from the
 * start of the first to the end of the last, as the dynamic linker mapped
 * them. */
static int globals_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strcmp(info->dlpi_name, (const char *)data))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!malloc_globals[0] || lo < malloc_globals[0])
			malloc_globals[0] = lo;
		if (hi > malloc_globals[1])
			malloc_globals[1] = hi;
	}
	return 1;
}

/* The allocator's own word: its version and where malloc is (its module, and
 * that module's globals). */
static void identify(void)
{
	int major, minor;
	const char *patch;
	Dl_info info;
	void *(*volatile fn)(size_t) = malloc;
	snprintf(version, sizeof(version), "%s", tc_version(&major, &minor, &patch));
	if (!dladdr((void *)fn, &info) || !info.dli_fname)
		corpus_die("dladdr(malloc) failed");
	snprintf(malloc_module, sizeof(malloc_module), "%s", info.dli_fname);
	if (!dl_iterate_phdr(globals_cb, malloc_module) || !malloc_globals[1])
		corpus_die("no writable segment in malloc's module");
}

static void put_list(const struct block *b, int n, int t, int *first)
{
	for (int i = 0; i < n; i++) {
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu, \"request\": %zu, \"thread\": %d}",
			   *first ? "" : ",", (unsigned long)~b[i].rec, b[i].usable, b[i].request, t);
		*first = 0;
	}
}

static void put_tcmalloc(void)
{
	corpus_put(",\n  \"tcmalloc\": {\"version\": ");
	corpus_put_str(version);
	corpus_put(", \"module\": ");
	corpus_put_str(malloc_module);
	corpus_put(", \"globals\": [\"0x%lx\", \"0x%lx\"]", (unsigned long)malloc_globals[0],
		   (unsigned long)malloc_globals[1]);
	corpus_put(", \"properties\": {");
	for (int i = 0; i < N_PROPS; i++)
		corpus_put("%s\"%s\": %zu", i ? ", " : "", props[i], prop_value[i]);
	corpus_put("}, \"thread_cache_bytes\": [");
	for (int t = 0; t < N_THREADS; t++)
		corpus_put("%s%zu", t ? ", " : "", cache_bytes[t]);
	corpus_put("]}");
	int first = 1;
	corpus_put(",\n  \"held\": [");
	for (int t = 0; t < N_THREADS; t++)
		put_list(rec_held[t], n_held[t], t, &first);
	corpus_put("\n  ],\n  \"leaked\": [");
	first = 1;
	for (int t = 0; t < N_THREADS; t++)
		put_list(rec_leaked[t], n_leaked[t], t, &first);
	corpus_put("\n  ],\n  \"freed\": [");
	for (int t = 0, k = 0; t < N_THREADS; t++)
		for (int i = 0; i < n_freed[t]; i++, k++)
			corpus_put("%s\"0x%lx\"", k ? (k % 8 ? ", " : ",\n    ") : "\n    ",
				   (unsigned long)~rec_freed[t][i]);
	corpus_put("\n  ],\n  \"exited_stack\": [\"0x%lx\", \"0x%lx\"]",
		   (unsigned long)exited_stack[0], (unsigned long)exited_stack[1]);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tcmalloc MANIFEST_PATH\n");
		return 3;
	}
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	corpus_find_modules(NULL);
	identify();
	if (pipe(park_pipe))
		corpus_die("pipe");
	pthread_t th[N_WORKERS];
	for (int w = 0; w < N_WORKERS; w++)
		if (pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w))
			corpus_die("pthread_create");
	run_exiting();
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	corpus_wait_ready(N_WORKERS);
	main_heap();
	corpus_clear_stack();
	corpus_wait_blocked();
	/* Nothing allocates or frees from here on: these figures describe the
	   heap the core holds. */
	for (int i = 0; i < N_PROPS; i++)
		if (!MallocExtension_GetNumericProperty(props[i], &prop_value[i]))
			corpus_die("MallocExtension_GetNumericProperty failed");
	corpus_write_manifest_with(argv[1], "tcmalloc", put_tcmalloc);
	corpus_clear_stack();
	return park_main();
}
