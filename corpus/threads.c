/* threads.c - main + 4 worker threads, each parked (blocked forever) in a
 * different function of the program, reached through at least two program
 * functions:
 *
 *   worker_read  -> park_in_read       read(2) on a pipe nobody writes
 *   worker_cond  -> park_in_cond       pthread_cond_wait on a condition never signalled
 *   worker_sleep -> park_in_nanosleep  nanosleep(2), one hour at a time
 *   worker_deep  -> recurse x5 -> park_in_futex   raw futex(FUTEX_WAIT) via syscall(2)
 *   main         -> park_main          pause(2)
 *
 * Usage: threads MANIFEST_PATH     (protocol: corpus/README.md)
 */
#define _GNU_SOURCE
#include "corpus.h"

#include <linux/futex.h>
#include <sys/time.h>

/* Globals with distinctive values, in every kind of section. */
uint64_t g_data_u64 = 0x1122334455667788ULL;              /* .data */
uint64_t g_bss_u64;                                        /* .bss, set at runtime */
const uint64_t g_rodata_u64 = 0xc0dec0dec0de0001ULL;      /* .rodata */
char g_string[] = "cprof-core corpus: threads.c .data string"; /* .data */
const char g_rostring[] = "cprof-core corpus: read-only string"; /* .rodata */
unsigned char g_pattern[6000];                             /* .bss, spans pages */

__thread uint64_t t_tls_u64 = 0x7150000000000000ULL;      /* .tdata, per thread */

static int g_pipe[2];
static pthread_mutex_t g_never_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_never_cond = PTHREAD_COND_INITIALIZER;
static volatile int g_never;      /* never set: parked threads stay parked */
static uint32_t g_futex_word;     /* stays 0: FUTEX_WAIT(0) blocks forever */

static void register_tls(uint64_t value)
{
	t_tls_u64 = value;
	corpus_tls(t_tls_u64);
}

/* ---- worker 1: read ---------------------------------------------------- */

static CORPUS_NOINLINE long park_in_read(int fd)
{
	volatile uint64_t park_marker = 0xfeed0101ULL;
	char c;
	ssize_t n;
	corpus_local("park_in_read", park_marker);
	corpus_thread_ready();
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return (long)n + (long)park_marker;
}

static void *worker_read(void *arg)
{
	static const char *const funcs[] = {"park_in_read", "worker_read", NULL};
	static const long sys[] = {SYS_read, -1};
	volatile uint64_t marker = 0xfeed0001ULL;
	(void)arg;
	corpus_add_thread(1, funcs, sys);
	corpus_local("worker_read", marker);
	register_tls(0x7150000000000001ULL);
	long r = park_in_read(g_pipe[0]);
	return (void *)(r + (long)marker);
}

/* ---- worker 2: condition variable -------------------------------------- */

static CORPUS_NOINLINE long park_in_cond(void)
{
	volatile uint64_t park_marker = 0xfeed0102ULL;
	long waits = 0;
	corpus_local("park_in_cond", park_marker);
	pthread_mutex_lock(&g_never_mutex);
	corpus_thread_ready();
	while (!g_never) {
		pthread_cond_wait(&g_never_cond, &g_never_mutex);
		waits++;
	}
	pthread_mutex_unlock(&g_never_mutex);
	return waits + (long)park_marker;
}

static void *worker_cond(void *arg)
{
	static const char *const funcs[] = {"park_in_cond", "worker_cond", NULL};
	static const long sys[] = {SYS_futex, -1};
	volatile uint64_t marker = 0xfeed0002ULL;
	(void)arg;
	corpus_add_thread(2, funcs, sys);
	corpus_local("worker_cond", marker);
	register_tls(0x7150000000000002ULL);
	long r = park_in_cond();
	return (void *)(r + (long)marker);
}

/* ---- worker 3: nanosleep ----------------------------------------------- */

static CORPUS_NOINLINE long park_in_nanosleep(void)
{
	volatile uint64_t park_marker = 0xfeed0103ULL;
	long naps = 0;
	corpus_local("park_in_nanosleep", park_marker);
	corpus_thread_ready();
	for (;;) {
		struct timespec ts = {3600, 0};
		nanosleep(&ts, NULL);
		naps++;
		if (g_never)
			break;
	}
	return naps + (long)park_marker;
}

static void *worker_sleep(void *arg)
{
	static const char *const funcs[] = {"park_in_nanosleep", "worker_sleep", NULL};
	static const long sys[] = {SYS_clock_nanosleep, SYS_nanosleep, -1};
	volatile uint64_t marker = 0xfeed0003ULL;
	(void)arg;
	corpus_add_thread(3, funcs, sys);
	corpus_local("worker_sleep", marker);
	register_tls(0x7150000000000003ULL);
	long r = park_in_nanosleep();
	return (void *)(r + (long)marker);
}

/* ---- worker 4: recursion, then a raw futex wait ------------------------ */

static CORPUS_NOINLINE long park_in_futex(void)
{
	volatile uint64_t park_marker = 0xfeed0104ULL;
	long r = 0;
	corpus_local("park_in_futex", park_marker);
	corpus_thread_ready();
	while (!g_never)
		r += syscall(SYS_futex, &g_futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return r + (long)park_marker;
}

static CORPUS_NOINLINE long recurse(int depth)
{
	volatile uint64_t depth_marker = 0xdee90000ULL + (uint64_t)depth;
	long r;
	corpus_local("recurse", depth_marker);
	if (depth > 1)
		r = recurse(depth - 1);
	else
		r = park_in_futex();
	return r + (long)depth_marker;
}

static void *worker_deep(void *arg)
{
	static const char *const funcs[] = {"park_in_futex", "recurse", "recurse", "recurse",
					    "recurse", "recurse", "worker_deep", NULL};
	static const long sys[] = {SYS_futex, -1};
	volatile uint64_t marker = 0xfeed0004ULL;
	(void)arg;
	corpus_add_thread(4, funcs, sys);
	corpus_local("worker_deep", marker);
	register_tls(0x7150000000000004ULL);
	long r = recurse(5);
	return (void *)(r + (long)marker);
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const char *const funcs[] = {"park_main", "main", NULL};
	static const long sys[] = {SYS_pause, -1};
	static void *(*const workers[4])(void *) = {worker_read, worker_cond, worker_sleep,
						    worker_deep};
	volatile uint64_t main_marker = 0xfeed0000ULL;
	pthread_t th[4];

	if (argc < 2) {
		errno = 0;
		corpus_die("usage: threads MANIFEST_PATH");
	}
	if (pipe(g_pipe) < 0)
		corpus_die("pipe");

	corpus_find_modules(NULL);
	corpus_add_thread(0, funcs, sys);
	corpus_local("main", main_marker);
	register_tls(0x7150000000000000ULL);

	g_bss_u64 = 0x0b55000000c0ffeeULL;
	for (size_t i = 0; i < sizeof g_pattern; i++)
		g_pattern[i] = (unsigned char)(i * 7 + 3);
	corpus_global(g_data_u64);
	corpus_global(g_bss_u64);
	corpus_global(g_rodata_u64);
	corpus_global(g_string);
	corpus_global(g_rostring);
	corpus_global(g_pattern);

	corpus_symbol(main);
	corpus_symbol(park_main);
	corpus_symbol(park_in_read);
	corpus_symbol(park_in_cond);
	corpus_symbol(park_in_nanosleep);
	corpus_symbol(park_in_futex);
	corpus_symbol(recurse);
	corpus_symbol(worker_read);
	corpus_symbol(worker_cond);
	corpus_symbol(worker_sleep);
	corpus_symbol(worker_deep);

	for (int i = 0; i < 4; i++) {
		int e = pthread_create(&th[i], NULL, workers[i], NULL);
		if (e) {
			errno = e;
			corpus_die("pthread_create");
		}
	}
	corpus_wait_ready(4);
	corpus_wait_blocked();

	/* The state is final: no allocation from here on. */
	corpus_write_manifest(argv[1], corpus_basename(argv[0]));
	return park_main() + (int)main_marker;
}
