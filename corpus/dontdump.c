/* dontdump: a process with a big mapping the core leaves out.
 *
 * Usage: dontdump MANIFEST_PATH [MIB]
 *
 * Maps MIB MiB (default 2048) of anonymous read-write memory, touches every
 * page (so that it is resident, as a real cache or arena is), stores in it
 * the only pointer to one malloc'd block, then marks it MADV_DONTDUMP: the
 * kernel writes its program header with no bytes (p_filesz 0), gdb's gcore
 * leaves it out.  The manifest says
 *   - "dontdump": {"start", "size"}: the mapping;
 *   - "held": 100 blocks a global array keeps (each with its usable size),
 *     and "hidden": the block only the left-out mapping points to.
 * Then the main thread parks in pause().  A reader of the core must skip
 * the mapping as one range (t0240: in seconds, with a warning naming its
 * size) and cannot see the pointer in it.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <malloc.h>
#include <sys/mman.h>

enum { N_HELD = 100 };

static void **held;
static uintptr_t rec_held[N_HELD], hidden;
static size_t use_held[N_HELD];
static void *big;
static size_t big_size;

static CORPUS_NOINLINE void build(void)
{
	held = malloc(N_HELD * sizeof(*held));
	if (!held)
		corpus_die("malloc");
	for (int i = 0; i < N_HELD; i++) {
		held[i] = malloc(32 + 16 * (size_t)(i % 5));
		if (!held[i])
			corpus_die("malloc");
		memset(held[i], 'a' + i % 26, 32);
		rec_held[i] = (uintptr_t)held[i];
		use_held[i] = malloc_usable_size(held[i]);
	}
	big = mmap(NULL, big_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED)
		corpus_die("mmap");
	for (size_t off = 0; off < big_size; off += 4096)
		((volatile char *)big)[off] = 1;
	void *h = malloc(64);
	if (!h)
		corpus_die("malloc");
	memcpy((char *)big + big_size / 2, &h, sizeof(h));
	hidden = ~(uintptr_t)h;
	if (madvise(big, big_size, MADV_DONTDUMP))
		corpus_die("madvise(MADV_DONTDUMP)");
}

static void put_dontdump(void)
{
	corpus_put(",\n  \"dontdump\": {\"start\": \"0x%lx\", \"size\": %zu}",
		   (unsigned long)big, big_size);
	corpus_put(",\n  \"hidden\": \"0x%lx\"", (unsigned long)~hidden);
	corpus_put(",\n  \"held\": [");
	for (int i = 0; i < N_HELD; i++)
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu}", i ? "," : "",
			   (unsigned long)rec_held[i], use_held[i]);
	corpus_put("\n  ]");
}

static CORPUS_NOINLINE void clear_stack(void)
{
	volatile char junk[64 << 10];
	memset((char *)junk, 0, sizeof(junk));
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: dontdump MANIFEST_PATH [MIB]\n");
		return 3;
	}
	big_size = (size_t)(argc == 3 ? atol(argv[2]) : 2048) << 20;
	if (!big_size)
		corpus_die("bad MIB");
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	build();
	clear_stack();
	corpus_write_manifest_with(argv[1], "dontdump", put_dontdump);
	clear_stack();
	return park_main();
}
