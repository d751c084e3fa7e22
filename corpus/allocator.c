/* allocator: which allocator serves malloc, by the process's own word, and
 * blocks leaked in it by construction.
 *
 * Usage: allocator MANIFEST_PATH
 *
 * Run as it is (glibc), or with LD_PRELOAD of libjemalloc.so.2,
 * libtcmalloc_minimal.so.4, libtcmalloc_debug.so.4 or libmimalloc.so.2
 * (tests/t0330): the manifest says
 *   - "malloc_module": the file the dynamic linker bound malloc to (dladdr of
 *     the program's own &malloc, which goes through its GOT);
 *   - "allocator": {"name", "version"} by the allocator itself: jemalloc's
 *     mallctl("version"), gperftools' tc_version(), glibc's
 *     gnu_get_libc_version() (looked up with dlsym, so the program links
 *     with none of them); "unknown" with no version when malloc is neither
 *     glibc's nor answers to those (mimalloc);
 *   - "held" and "leaked": 200 blocks a global array keeps and 50 whose
 *     pointers the program dropped (their addresses kept complemented, so
 *     that its own bookkeeping points to none of them), each with its
 *     usable size by malloc_usable_size (which all three allocators have).
 * Then the main thread parks in pause().
 */
/* corpus.h is a kit: this program uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "corpus.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>

enum { N_HELD = 200, N_LEAKED = 50 };

static void **held;             /* the global that keeps the held blocks */
static uintptr_t rec_held[N_HELD], rec_leaked[N_LEAKED];
static size_t use_held[N_HELD], use_leaked[N_LEAKED];
static char malloc_module[PATH_MAX];
static char alloc_name[16], alloc_version[96];

/* What the process says about its allocator, before any block exists. */
static void identify(void)
{
	Dl_info info;
	void *(*volatile fn)(size_t) = malloc;
	corpus_find_modules(NULL);
	if (!dladdr((void *)fn, &info) || !info.dli_fname)
		corpus_die("dladdr(malloc) failed");
	snprintf(malloc_module, sizeof(malloc_module), "%s", info.dli_fname);
	int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
		(int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
	const char *(*tc_version)(int *, int *, const char **) =
		(const char *(*)(int *, int *, const char **))dlsym(RTLD_DEFAULT, "tc_version");
	if (mallctl) {
		const char *v = NULL;
		size_t sz = sizeof(v);
		if (mallctl("version", &v, &sz, NULL, 0) || !v)
			corpus_die("mallctl(version) failed");
		snprintf(alloc_name, sizeof(alloc_name), "jemalloc");
		snprintf(alloc_version, sizeof(alloc_version), "%s", v);
	} else if (tc_version) {
		int major, minor;
		const char *patch;
		snprintf(alloc_name, sizeof(alloc_name), "tcmalloc");
		snprintf(alloc_version, sizeof(alloc_version), "%s",
			 tc_version(&major, &minor, &patch));
	} else if (!strstr(malloc_module, "/libc.so")) {
		/* another allocator (mimalloc...): it has no version call we know */
		snprintf(alloc_name, sizeof(alloc_name), "unknown");
		alloc_version[0] = '\0';
	} else {
		snprintf(alloc_name, sizeof(alloc_name), "glibc");
		snprintf(alloc_version, sizeof(alloc_version), "%s", gnu_get_libc_version());
	}
}

static CORPUS_NOINLINE void build(void)
{
	held = malloc(N_HELD * sizeof(*held));
	if (!held)
		corpus_die("malloc");
	for (int i = 0; i < N_HELD + N_LEAKED; i++) {
		size_t req = 24 + 40 * (size_t)(i % 7);
		char *p = malloc(req);
		if (!p)
			corpus_die("malloc");
		memset(p, 'a' + i % 26, req);
		if (i < N_HELD) {
			held[i] = p;
			rec_held[i] = ~(uintptr_t)p;
			use_held[i] = malloc_usable_size(p);
		} else {
			rec_leaked[i - N_HELD] = ~(uintptr_t)p;
			use_leaked[i - N_HELD] = malloc_usable_size(p);
		}
	}
}

/* Overwrites the dead stack below this frame: no stale copy of a leaked
 * block's address is left there. */
static CORPUS_NOINLINE void clear_stack(void)
{
	volatile char junk[64 << 10];
	memset((char *)junk, 0, sizeof(junk));
}

static void put_blocks(const char *key, const uintptr_t *rec, const size_t *use, int n)
{
	corpus_put(",\n  \"%s\": [", key);
	for (int i = 0; i < n; i++)
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"usable\": %zu}", i ? "," : "",
			   (unsigned long)~rec[i], use[i]);
	corpus_put("\n  ]");
}

static void put_allocator(void)
{
	corpus_put(",\n  \"malloc_module\": ");
	corpus_put_str(malloc_module);
	corpus_put(",\n  \"allocator\": {\"name\": ");
	corpus_put_str(alloc_name);
	corpus_put(", \"version\": ");
	corpus_put_str(alloc_version);
	corpus_put("}");
	put_blocks("held", rec_held, use_held, N_HELD);
	put_blocks("leaked", rec_leaked, use_leaked, N_LEAKED);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: allocator MANIFEST_PATH\n");
		return 3;
	}
	static const char *const funcs[] = { "park_main", "main", NULL };
	static const long sys[] = { SYS_pause, -1 };
	corpus_add_thread(0, funcs, sys);
	identify();
	build();
	clear_stack();
	corpus_write_manifest_with(argv[1], "allocator", put_allocator);
	clear_stack();
	return park_main();
}
