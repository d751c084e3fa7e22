/* uselib.c - a PIE program using the corpus's own shared library libcorpus.so
 * (linked with rpath $ORIGIN). Threads:
 *
 *   worker_cb    -> corpus_lib_park -> corpus_lib_inner -> park_in_callback  read(2) on a pipe
 *                   (program -> library -> back into the program)
 *   worker_inlib -> corpus_lib_block -> corpus_lib_block_inner               poll(2), in the library
 *   main         -> park_main                                                pause(2)
 *
 * Usage: uselib MANIFEST_PATH     (protocol: corpus/README.md)
 */
#define _GNU_SOURCE
#include "corpus.h"
#include "libcorpus.h"

uint64_t g_uselib_u64 = 0x05e11b0000000001ULL;

static int g_pipe[2];

static CORPUS_NOINLINE long park_in_callback(void *arg, volatile uint64_t *lib_marker)
{
	volatile uint64_t park_marker = 0xfeed0201ULL;
	char c;
	ssize_t n;
	(void)arg;
	corpus_add_obj(CORPUS_LOCAL, corpus_gettid(), "corpus_lib_park", "lib_marker",
		       lib_marker, sizeof *lib_marker, NULL);
	corpus_local("park_in_callback", park_marker);
	corpus_thread_ready();
	do
		n = read(g_pipe[0], &c, 1);
	while (n < 0 && errno == EINTR);
	return (long)n + (long)park_marker;
}

static void *worker_cb(void *arg)
{
	static const char *const funcs[] = {"park_in_callback", "corpus_lib_inner",
					    "corpus_lib_park", "worker_cb", NULL};
	static const long sys[] = {SYS_read, -1};
	volatile uint64_t marker = 0xfeed0011ULL;
	(void)arg;
	corpus_add_thread(1, funcs, sys);
	corpus_local("worker_cb", marker);
	long r = corpus_lib_park(park_in_callback, NULL);
	return (void *)(r + (long)marker);
}

static void inlib_ready(void *arg, volatile uint64_t *lib_marker)
{
	(void)arg;
	corpus_add_obj(CORPUS_LOCAL, corpus_gettid(), "corpus_lib_block", "lib_marker",
		       lib_marker, sizeof *lib_marker, NULL);
	corpus_thread_ready();
}

static void *worker_inlib(void *arg)
{
	static const char *const funcs[] = {"corpus_lib_block_inner", "corpus_lib_block",
					    "worker_inlib", NULL};
	static const long sys[] = {SYS_poll, SYS_ppoll, -1};
	volatile uint64_t marker = 0xfeed0012ULL;
	(void)arg;
	corpus_add_thread(2, funcs, sys);
	corpus_local("worker_inlib", marker);
	long r = corpus_lib_block(inlib_ready, NULL);
	return (void *)(r + (long)marker);
}

int main(int argc, char **argv)
{
	static const char *const funcs[] = {"park_main", "main", NULL};
	static const long sys[] = {SYS_pause, -1};
	volatile uint64_t main_marker = 0xfeed0010ULL;
	pthread_t th[2];

	if (argc < 2) {
		errno = 0;
		corpus_die("usage: uselib MANIFEST_PATH");
	}
	if (pipe(g_pipe) < 0)
		corpus_die("pipe");

	const struct corpus_lib_info *lib = corpus_lib_init();
	corpus_find_modules("libcorpus.so");
	corpus_add_thread(0, funcs, sys);
	corpus_local("main", main_marker);

	corpus_global(g_uselib_u64);
	corpus_add_obj(CORPUS_GLOBAL, 0, NULL, "corpus_lib_data", lib->data, sizeof *lib->data,
		       "libcorpus.so");
	corpus_add_obj(CORPUS_GLOBAL, 0, NULL, "corpus_lib_bss", lib->bss, sizeof *lib->bss,
		       "libcorpus.so");
	corpus_add_obj(CORPUS_GLOBAL, 0, NULL, "corpus_lib_string", lib->string,
		       lib->string_size, "libcorpus.so");
	corpus_symbol(main);
	corpus_symbol(park_main);
	corpus_symbol(park_in_callback);
	corpus_symbol(worker_cb);
	corpus_symbol(worker_inlib);
	corpus_add_obj(CORPUS_SYMBOL, 0, NULL, "corpus_lib_park", lib->park, 0, "libcorpus.so");
	corpus_add_obj(CORPUS_SYMBOL, 0, NULL, "corpus_lib_block", lib->block, 0, "libcorpus.so");

	int e = pthread_create(&th[0], NULL, worker_cb, NULL);
	if (!e)
		e = pthread_create(&th[1], NULL, worker_inlib, NULL);
	if (e) {
		errno = e;
		corpus_die("pthread_create");
	}
	corpus_wait_ready(2);
	corpus_wait_blocked();

	/* The state is final: no allocation from here on. */
	corpus_write_manifest(argv[1], corpus_basename(argv[0]));
	return park_main() + (int)main_marker;
}
