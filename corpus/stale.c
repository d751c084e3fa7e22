/* stale: words `cprof-core path` must mark, known by construction.
 *
 * Three globals, each the only way to one heap chunk:
 *   g_rec    a struct rec (24 bytes, typed from this global by DWARF) in a
 *            40-byte chunk; the word at +32, past the end of the struct, holds
 *            the only pointer to slack_target.  It stands for what real
 *            programs leave in a chunk's slack: a word the program never wrote
 *            as a field, left by an earlier use of the memory (the program
 *            writes it here itself, so that the test knows it).
 *   g_mid    points 24 bytes into mid_target (an interior pointer from a root).
 *   g_chain  a struct rec whose .next (inside the struct) points 16 bytes
 *            into chain_target (an interior pointer from an object).
 * The manifest gives the addresses; the stack is cleared before parking, so
 * that no stale copy on it is a second way to a chunk.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <malloc.h>

struct rec {
	long id;
	long kind;
	struct rec *next;
};                              /* 24 bytes */

struct rec *g_rec;
char *g_mid;
struct rec *g_chain;

/* Bookkeeping, complemented (not pointers to the chunks). */
static uintptr_t rec_slack_target, rec_mid_target, rec_chain_target;
static size_t rec_usable;

static uintptr_t hide(const void *p) { return ~(uintptr_t)p; }
static void *unhide(uintptr_t v) { return (void *)~v; }

static CORPUS_NOINLINE void *must_malloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		corpus_die("malloc");
	memset(p, 0, n);
	return p;
}

static CORPUS_NOINLINE void build(void)
{
	g_rec = must_malloc(40);
	rec_usable = malloc_usable_size(g_rec);
	g_rec->id = 1;
	g_rec->kind = 2;
	void *slack = must_malloc(48);
	memcpy((char *)g_rec + 32, &slack, sizeof(slack));
	rec_slack_target = hide(slack);

	char *mid = must_malloc(64);
	g_mid = mid + 24;
	rec_mid_target = hide(mid);

	char *chain = must_malloc(64);
	g_chain = must_malloc(sizeof(*g_chain));
	g_chain->id = 3;
	g_chain->next = (struct rec *)(chain + 16);
	rec_chain_target = hide(chain);
}

static CORPUS_NOINLINE void clear_stack(void)
{
	volatile char buf[65536];
	memset((char *)buf, 0, sizeof(buf));
}

static void put_stale(void)
{
	corpus_put(",\n  \"rec\": {\"addr\": \"0x%lx\", \"usable\": %zu, \"type\": \"struct rec\", "
		   "\"type_size\": %zu, \"slack_word\": %d}",
		   (unsigned long)(uintptr_t)g_rec, rec_usable, sizeof(struct rec), 32);
	corpus_put(",\n  \"slack_target\": \"0x%lx\"", (unsigned long)unhide(rec_slack_target));
	corpus_put(",\n  \"mid_target\": \"0x%lx\", \"mid_offset\": 24",
		   (unsigned long)unhide(rec_mid_target));
	corpus_put(",\n  \"chain\": \"0x%lx\", \"chain_target\": \"0x%lx\", \"chain_offset\": 16",
		   (unsigned long)(uintptr_t)g_chain, (unsigned long)unhide(rec_chain_target));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stale MANIFEST_PATH\n");
		return 3;
	}
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	build();
	clear_stack();
	corpus_write_manifest_with(argv[1], "stale", put_stale);
	clear_stack();
	return park_main();
}
