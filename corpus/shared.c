/* shared: most of the heap held by several roots at once, known by construction.
 *
 * Usage: shared MANIFEST_PATH
 *
 *   store     a struct store -> an array of N_ITEMS struct item *, each item
 *             owning a payload of its own size; held by the globals g_primary
 *             and g_backup and by a local of worker_serve (a worker thread's
 *             frame): no single root retains it;
 *   cache     a struct cache -> N_BUCKETS chains of struct entry, each with a
 *             key buffer; held by the global g_cache and by a local of
 *             main_hold (the main thread's frame);
 *   sessions  N_SESSIONS struct session, each with a buffer, each pointed to
 *             by two arrays: g_sessions' (a global) and worker_serve's local
 *             one: every session is shared, the arrays are not;
 *   notes     a list of N_NOTES struct note held by the global g_notes only;
 *   vectors   one chunk per vector register word the CPU has (xmm7[1], ymm3[2],
 *             zmm20[5]), each held by nothing but that word of worker_vectors'
 *             thread, which loads them right before it parks.
 * The manifest records, per structure, its top chunk, its chunks' usable sizes
 * summed ("bytes") and counted, and the roots that hold it; per vector chunk,
 * the register word.  Addresses the program keeps are complemented (~p), dead
 * stack and registers are cleared before parking (corpus/README.md protocol).
 */
/* corpus.h is a kit: this program uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <malloc.h>
#include <stdbool.h>

enum { N_ITEMS = 4000, N_BUCKETS = 512, N_ENTRIES = 1500, N_SESSIONS = 600, N_NOTES = 20 };

struct item {
	long id;
	char *payload;
	struct item *next;
};

struct store {
	char name[16];
	struct item **items;
	long n;
};

struct entry {
	struct entry *next;
	char *key;
	long value;
};

struct cache {
	struct entry **buckets;
	long n_buckets;
	long n;
};

struct session {
	long id;
	char *buf;
	long len;
};

struct note {
	struct note *next;
	char text[40];
};

struct store *g_primary, *g_backup;
struct cache *g_cache;
struct session **g_sessions;
struct note *g_notes;

/* What each structure is made of, counted as it is built. */
struct tally {
	uintptr_t top;             /* complemented */
	size_t bytes, chunks;
};
static struct tally t_store, t_cache, t_sessions, t_notes;
static uintptr_t rec_session_array, rec_worker_array;
static size_t rec_session_array_size, rec_worker_array_size;

/* The vector chunks: the register word each is loaded into. */
enum { MAX_VEC = 3 };
static struct { uintptr_t chunk; size_t size; const char *reg; } vec[MAX_VEC];
static int n_vec;

static pid_t worker_tid, vectors_tid;
static int pipefd[2];

static uintptr_t hide(const void *p) { return ~(uintptr_t)p; }
static void *unhide(uintptr_t v) { return (void *)~v; }

static void *counted(struct tally *t, size_t n)
{
	void *p = malloc(n);
	if (!p)
		corpus_die("malloc");
	memset(p, 0, n);
	t->bytes += malloc_usable_size(p);
	t->chunks++;
	return p;
}

static CORPUS_NOINLINE void build_store(void)
{
	struct store *s = counted(&t_store, sizeof(*s));
	memcpy(s->name, "store", 6);
	s->items = counted(&t_store, N_ITEMS * sizeof(*s->items));
	for (long i = 0; i < N_ITEMS; i++) {
		struct item *it = counted(&t_store, sizeof(*it));
		it->id = i;
		it->payload = counted(&t_store, 24 + 8 * (size_t)(i % 50));
		memset(it->payload, 'p', 24);
		it->next = i ? s->items[i - 1] : NULL;
		s->items[i] = it;
	}
	s->n = N_ITEMS;
	t_store.top = hide(s);
	g_primary = g_backup = s;
}

static CORPUS_NOINLINE void build_cache(void)
{
	struct cache *c = counted(&t_cache, sizeof(*c));
	c->n_buckets = N_BUCKETS;
	c->buckets = counted(&t_cache, N_BUCKETS * sizeof(*c->buckets));
	for (long i = 0; i < N_ENTRIES; i++) {
		struct entry *e = counted(&t_cache, sizeof(*e));
		e->key = counted(&t_cache, 16 + (size_t)(i % 7) * 16);
		snprintf(e->key, 16, "key%ld", i);
		e->value = i;
		e->next = c->buckets[i % N_BUCKETS];
		c->buckets[i % N_BUCKETS] = e;
	}
	c->n = N_ENTRIES;
	t_cache.top = hide(c);
	g_cache = c;
}

static CORPUS_NOINLINE void build_sessions(void)
{
	g_sessions = malloc(N_SESSIONS * sizeof(*g_sessions));
	if (!g_sessions)
		corpus_die("malloc");
	rec_session_array = hide(g_sessions);
	rec_session_array_size = malloc_usable_size(g_sessions);
	for (long i = 0; i < N_SESSIONS; i++) {
		struct session *s = counted(&t_sessions, sizeof(*s));
		s->id = i;
		s->len = 64 + 32 * (i % 10);
		s->buf = counted(&t_sessions, (size_t)s->len);
		memset(s->buf, 's', (size_t)s->len);
		g_sessions[i] = s;
	}
}

static CORPUS_NOINLINE void build_notes(void)
{
	for (int i = 0; i < N_NOTES; i++) {
		struct note *n = counted(&t_notes, sizeof(*n));
		snprintf(n->text, sizeof(n->text), "note %d", i);
		n->next = g_notes;
		g_notes = n;
	}
	t_notes.top = hide(g_notes);
}

/* The threads park with the general registers and the dead stack cleared
 * (corpus.h): a leftover copy of a pointer would be another root. */
static CORPUS_NOINLINE long park_in_read(void)
{
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	return corpus_park_read(pipefd[0]);
}

/*
 * Loads each vector chunk's address into its register word, then blocks in
 * read(2).  The addresses go through a 64-byte buffer on this frame, zeroed
 * again before the system call: afterwards only the registers hold them.
 */
static CORPUS_NOINLINE long park_with_vectors(void)
{
	volatile uint64_t buf[8];
	bool avx = __builtin_cpu_supports("avx"), avx512 = __builtin_cpu_supports("avx512f");
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	for (int i = 0; i < 8; i++)
		buf[i] = 0;
	/* xmm7[1]: the upper 8 bytes of xmm7 */
	buf[1] = (uint64_t)unhide(vec[0].chunk);
	asm volatile("movdqu (%0), %%xmm7" :: "r"(buf) : "xmm7", "memory");
	buf[1] = 0;
	if (avx) {                  /* ymm3[2]: the low 8 bytes of ymm3's upper half */
		buf[2] = (uint64_t)unhide(vec[1].chunk);
		asm volatile("vmovdqu (%0), %%ymm3" :: "r"(buf) : "xmm3", "memory");
		buf[2] = 0;
	}
	if (avx512) {               /* zmm20[5] */
		buf[5] = (uint64_t)unhide(vec[2].chunk);
		asm volatile("vmovdqu64 (%0), %%zmm20" :: "r"(buf) : "memory");
		buf[5] = 0;
	}
	return corpus_park_read(pipefd[0]);
}

static CORPUS_NOINLINE long park_hold_main(void)
{
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	return corpus_park_pause();
}

/* The worker: its frame holds the store and an array of every session. */
static CORPUS_NOINLINE long worker_serve(void)
{
	static const char *const funcs[] = { "park_in_read", "worker_serve", NULL };
	static const long sys[] = { SYS_read, -1 };
	corpus_add_thread(1, funcs, sys);
	worker_tid = corpus_gettid();
	struct store *volatile store = g_primary;
	struct session **volatile mine = malloc(N_SESSIONS * sizeof(*mine));
	if (!mine)
		corpus_die("malloc");
	rec_worker_array = hide((void *)mine);
	rec_worker_array_size = malloc_usable_size((void *)mine);
	for (int i = 0; i < N_SESSIONS; i++)
		mine[i] = g_sessions[i];
	corpus_thread_ready();
	long r = park_in_read();
	return r + store->n + (long)(uintptr_t)mine[0];
}

static void *worker_main(void *arg)
{
	(void)arg;
	worker_serve();
	return NULL;
}

static CORPUS_NOINLINE long worker_vectors(void)
{
	static const char *const funcs[] = { "park_with_vectors", "worker_vectors", NULL };
	static const long sys[] = { SYS_read, -1 };
	corpus_add_thread(2, funcs, sys);
	vectors_tid = corpus_gettid();
	corpus_thread_ready();
	return park_with_vectors();
}

static void *vectors_main(void *arg)
{
	(void)arg;
	worker_vectors();
	return NULL;
}

static CORPUS_NOINLINE void make_vector_chunks(void)
{
	static const char *const regs[MAX_VEC] = { "xmm7[1]", "ymm3[2]", "zmm20[5]" };
	/* __builtin_cpu_supports returns a feature bit, not 0 or 1 */
	n_vec = 1 + !!__builtin_cpu_supports("avx") +
		(__builtin_cpu_supports("avx") && __builtin_cpu_supports("avx512f"));
	for (int i = 0; i < n_vec; i++) {
		char *p = malloc(72 + 16 * (size_t)i);
		if (!p)
			corpus_die("malloc");
		memset(p, 'v', 72);
		vec[i].chunk = hide(p);
		vec[i].size = malloc_usable_size(p);
		vec[i].reg = regs[i];
	}
}

static void put_tally(const char *name, const struct tally *t, const char *type,
		      const char *roots)
{
	corpus_put(",\n  \"%s\": {\"top\": \"0x%lx\", \"type\": \"%s\", \"bytes\": %zu, "
		   "\"chunks\": %zu, \"roots\": [%s]}", name, (unsigned long)unhide(t->top), type,
		   t->bytes, t->chunks, roots);
}

static void put_shared(void)
{
	char roots[256];
	corpus_put(",\n  \"worker_tid\": %d, \"vectors_tid\": %d", (int)worker_tid,
		   (int)vectors_tid);
	snprintf(roots, sizeof(roots), "\"global g_primary\", \"global g_backup\", "
		 "\"frame worker_serve\"");
	put_tally("store", &t_store, "struct store", roots);
	put_tally("cache", &t_cache, "struct cache", "\"global g_cache\", \"frame main_hold\"");
	corpus_put(",\n  \"sessions\": {\"count\": %d, \"type\": \"struct session\", "
		   "\"bytes\": %zu, \"chunks\": %zu, \"roots\": [\"global g_sessions\", "
		   "\"frame worker_serve\"], \"arrays\": [{\"addr\": \"0x%lx\", \"usable\": %zu, "
		   "\"root\": \"global g_sessions\"}, {\"addr\": \"0x%lx\", \"usable\": %zu, "
		   "\"root\": \"frame worker_serve\"}]}",
		   N_SESSIONS, t_sessions.bytes, t_sessions.chunks,
		   (unsigned long)unhide(rec_session_array), rec_session_array_size,
		   (unsigned long)unhide(rec_worker_array), rec_worker_array_size);
	put_tally("notes", &t_notes, "struct note", "\"global g_notes\"");
	corpus_put(",\n  \"vectors\": [");
	for (int i = 0; i < n_vec; i++)
		corpus_put("%s\n    {\"chunk\": \"0x%lx\", \"usable\": %zu, \"register\": \"%s\"}",
			   i ? "," : "", (unsigned long)unhide(vec[i].chunk), vec[i].size,
			   vec[i].reg);
	corpus_put("\n  ]");
}

static const char *manifest_path;

/* main's frame holds the cache while the main thread parks. */
static CORPUS_NOINLINE long main_hold(void)
{
	static const char *const funcs[] = { "park_hold_main", "main_hold", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	struct cache *volatile cache = g_cache;
	pthread_t t;
	if (pthread_create(&t, NULL, worker_main, NULL) ||
	    pthread_create(&t, NULL, vectors_main, NULL))
		corpus_die("pthread_create");
	corpus_wait_ready(2);
	corpus_wait_blocked();
	corpus_clear_stack();
	corpus_write_manifest_with(manifest_path, "shared", put_shared);
	corpus_clear_stack();
	long r = park_hold_main();
	return r + cache->n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: shared MANIFEST_PATH\n");
		return 3;
	}
	manifest_path = argv[1];
	corpus_find_modules(NULL);
	if (pipe(pipefd) < 0)
		corpus_die("pipe");
	build_store();
	build_cache();
	build_sessions();
	build_notes();
	make_vector_chunks();
	corpus_clear_stack();
	return (int)main_hold();
}
