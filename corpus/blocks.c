/* blocks: who retains which `struct block`, known by construction.
 *
 * Usage: blocks MANIFEST_PATH
 *
 *   1000 blocks held by the global `block_cache` (through an array it points to),
 *    500 held by a local of worker_blocks, on a worker thread's stack (also
 *        through an array),
 *    200 reachable from both arrays: shared, retained by no single root,
 *    100 leaked,
 *     10 in a list through ->next, held by the worker's __thread t_recent;
 * and 4 `struct note`s in a list from the global `notes`: a struct ending in a
 * flexible array member, whose chunk has room for several of its headers but
 * holds one note and its text.
 * Every block owns a payload that nothing else points to, so a block retains
 * itself and its payload.  The manifest lists every block with its group and
 * the usable sizes (corpus/README.md protocol; threads, then "blocks").
 * Addresses the program must remember are kept complemented (~p), so that its
 * own bookkeeping holds no pointer; dead stack is zeroed before parking.
 */
/* corpus.h is a kit: this program uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <malloc.h>

enum { N_CACHE = 1000, N_WORKER = 500, N_SHARED = 200, N_LEAKED = 100, N_TLS = 10 };
enum { N_ALL = N_CACHE + N_WORKER + N_SHARED + N_LEAKED };
enum { N_REC = N_ALL + N_TLS };

struct block {
	struct block *next;
	char *payload;
	long id;
	long group;
	char tag[8];
};                              /* 40 bytes: malloc_usable_size 40 */

/* One note: its header and then its text (a flexible array member). */
struct note {
	struct note *next;
	size_t len;
	char text[];
};
enum { N_NOTES = 4 };
struct note *notes;             /* the global that holds the notes */
static uintptr_t rec_note[N_NOTES];
static size_t rec_note_size[N_NOTES];

enum group { G_CACHE, G_WORKER, G_SHARED, G_LEAKED, G_TLS };
static const char *const group_names[] = { "cache", "worker", "shared", "leaked", "tls" };

struct block **block_cache;     /* the global that holds the cache */

/* Bookkeeping, complemented. */
static uintptr_t rec_block[N_REC], rec_payload[N_REC];
static size_t rec_bsize[N_REC], rec_psize[N_REC];
static int rec_group[N_REC];

/* The worker's most recent blocks: a list through ->next, from a TLS variable. */
static __thread struct block *t_recent;
static uintptr_t rec_cache_array, rec_worker_array;
static size_t rec_cache_array_size, rec_worker_array_size;
static pid_t worker_tid;
static int pipefd[2];

static uintptr_t hide(const void *p) { return ~(uintptr_t)p; }
static void *unhide(uintptr_t v) { return (void *)~v; }

static CORPUS_NOINLINE struct block *make_block(int i, int group)
{
	struct block *b = malloc(sizeof(*b));
	size_t psize = 24 + 16 * (size_t)(i % 10);
	char *p = malloc(psize);
	if (!b || !p)
		corpus_die("malloc");
	memset(p, 'a' + group, psize);
	memset(b, 0, sizeof(*b));
	b->payload = p;
	b->id = i;
	b->group = group;
	memcpy(b->tag, "block", 6);
	rec_block[i] = hide(b);
	rec_payload[i] = hide(p);
	rec_bsize[i] = malloc_usable_size(b);
	rec_psize[i] = malloc_usable_size(p);
	rec_group[i] = group;
	return b;
}

/* The threads park with the general registers and the dead stack cleared
 * (corpus.h): a leftover copy of an array pointer would be a second root for
 * it, and its thread rather than its frame would retain the blocks. */
static CORPUS_NOINLINE long park_in_read(void)
{
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	return corpus_park_read(pipefd[0]);
}

static CORPUS_NOINLINE long park_blocks_main(void)
{
	CORPUS_SCRUB_REGISTERS();
	corpus_clear_stack();
	corpus_clear_vector_regs();
	return corpus_park_pause();
}

/* In a function of its own, so that no local of worker_blocks keeps the
 * list's head: only t_recent does. */
static CORPUS_NOINLINE void build_recent(void)
{
	for (int i = 0; i < N_TLS; i++) {
		struct block *b = make_block(N_ALL + i, G_TLS);
		b->next = t_recent;
		t_recent = b;
	}
}

static CORPUS_NOINLINE long worker_blocks(void)
{
	static const char *const funcs[] = { "park_in_read", "worker_blocks", NULL };
	static const long sys[] = { SYS_read, -1 };
	corpus_add_thread(1, funcs, sys);
	worker_tid = corpus_gettid();
	/* The local that holds this thread's blocks. */
	struct block **volatile mine = malloc((N_WORKER + N_SHARED) * sizeof(*mine));
	if (!mine)
		corpus_die("malloc");
	build_recent();
	rec_worker_array = hide((void *)mine);
	rec_worker_array_size = malloc_usable_size((void *)mine);
	for (int i = 0; i < N_WORKER; i++)
		mine[i] = unhide(rec_block[N_CACHE + i]);
	for (int i = 0; i < N_SHARED; i++)
		mine[N_WORKER + i] = unhide(rec_block[N_CACHE + N_WORKER + i]);
	corpus_thread_ready();
	long r = park_in_read();
	return r + (long)(uintptr_t)mine[0];
}

static void *worker_main(void *arg)
{
	(void)arg;
	worker_blocks();
	return NULL;
}

static CORPUS_NOINLINE void build(void)
{
	for (int i = 0; i < N_ALL; i++) {
		int g = i < N_CACHE ? G_CACHE : i < N_CACHE + N_WORKER ? G_WORKER :
			i < N_CACHE + N_WORKER + N_SHARED ? G_SHARED : G_LEAKED;
		make_block(i, g);
	}
	block_cache = malloc((N_CACHE + N_SHARED) * sizeof(*block_cache));
	if (!block_cache)
		corpus_die("malloc");
	rec_cache_array = hide(block_cache);
	rec_cache_array_size = malloc_usable_size(block_cache);
	for (int i = 0; i < N_CACHE; i++)
		block_cache[i] = unhide(rec_block[i]);
	for (int i = 0; i < N_SHARED; i++)
		block_cache[N_CACHE + i] = unhide(rec_block[N_CACHE + N_WORKER + i]);
	/* the leaked ones: nothing keeps them */
	for (int i = 0; i < N_NOTES; i++) {
		size_t len = 100 + 100 * (size_t)i;
		struct note *n = malloc(sizeof(*n) + len);
		if (!n)
			corpus_die("malloc");
		n->next = notes;
		n->len = len;
		memset(n->text, 'n', len);
		notes = n;
		rec_note[i] = hide(n);
		rec_note_size[i] = malloc_usable_size(n);
	}
}

static const char *manifest_path;

static void put_blocks(void)
{
	corpus_put(",\n  \"worker_tid\": %d", (int)worker_tid);
	corpus_put(",\n  \"cache_array\": {\"addr\": \"0x%lx\", \"usable\": %zu}",
		   (unsigned long)unhide(rec_cache_array), rec_cache_array_size);
	corpus_put(",\n  \"worker_array\": {\"addr\": \"0x%lx\", \"usable\": %zu}",
		   (unsigned long)unhide(rec_worker_array), rec_worker_array_size);
	corpus_put(",\n  \"blocks\": [");
	for (int i = 0; i < N_REC; i++)
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu, \"payload\": \"0x%lx\", "
			   "\"payload_usable\": %zu, \"group\": \"%s\"}",
			   i ? "," : "", (unsigned long)unhide(rec_block[i]), rec_bsize[i],
			   (unsigned long)unhide(rec_payload[i]), rec_psize[i],
			   group_names[rec_group[i]]);
	corpus_put("\n  ]");
	corpus_put(",\n  \"notes\": [");
	for (int i = 0; i < N_NOTES; i++)
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu, \"header\": %zu}",
			   i ? "," : "", (unsigned long)unhide(rec_note[i]), rec_note_size[i],
			   sizeof(struct note));
	corpus_put("\n  ]");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: blocks MANIFEST_PATH\n");
		return 3;
	}
	manifest_path = argv[1];
	static const char *const funcs[] = { "park_blocks_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	if (pipe(pipefd) < 0)
		corpus_die("pipe");
	build();
	corpus_clear_stack();
	pthread_t t;
	if (pthread_create(&t, NULL, worker_main, NULL))
		corpus_die("pthread_create");
	corpus_wait_ready(1);
	corpus_wait_blocked();
	corpus_clear_stack();
	corpus_write_manifest_with(manifest_path, "blocks", put_blocks);
	corpus_clear_stack();
	return (int)park_blocks_main();
}
