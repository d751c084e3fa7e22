/* libjemalloc-oracle.so: preloaded into a real program whose malloc is
 * jemalloc (t0350: Debian's redis-server), it records jemalloc's own
 * statistics at the moment of the dump.
 *
 * CPROF_JE_ORACLE=PATH (removed from the environment at once, so that
 * children do not inherit it) arms it.  On SIGUSR2 (sent to the thread that
 * must stop: the tests send it to the main thread with tgkill), the handler
 * refreshes jemalloc's statistics (mallctl "epoch"), reads stats.allocated,
 * stats.active, stats.retained and the merged arena's (4096) small and large
 * nmalloc/ndalloc, small/large allocated, pdirty, pmuzzy, tcache_bytes and
 * every bin's curregs, writes them as one JSON object to PATH (write(2) from
 * a static buffer: nothing is allocated), and then either waits in pause()
 * for gcore (CPROF_JE_ORACLE_THEN=wait) or dies of SIGQUIT at once, so that
 * the kernel writes the core (CPROF_JE_ORACLE_THEN=quit).  Nothing runs
 * between the reading and the dump in that thread.
 *
 * mallctl is looked up in the constructor (dlsym may allocate): the program
 * must have jemalloc as its malloc (mallctl is then in the global scope).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NBINS = 36 };

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *ctl;
static char path[4096];
static bool quit;
static char out[8192];
static size_t len;

static void put(const char *fmt, unsigned long long v)
{
	int n = snprintf(out + len, sizeof(out) - len, fmt, v);
	if (n > 0 && (size_t)n < sizeof(out) - len)
		len += (size_t)n;
}

static unsigned long long get(const char *name, size_t size)
{
	uint64_t v = 0;
	size_t sz = size;
	if (ctl(name, &v, &sz, NULL, 0))
		return ~0ull;
	return v;
}

static void record(void)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	ctl("epoch", &epoch, &sz, &epoch, sz);
	len = 0;
	/* each figure: its key in the output, its mallctl name */
	static const char *const figures[][2] = {
		{ "allocated", "stats.allocated" },
		{ "active", "stats.active" },
		{ "retained", "stats.retained" },
		{ "small.nmalloc", "stats.arenas.4096.small.nmalloc" },
		{ "small.ndalloc", "stats.arenas.4096.small.ndalloc" },
		{ "large.nmalloc", "stats.arenas.4096.large.nmalloc" },
		{ "large.ndalloc", "stats.arenas.4096.large.ndalloc" },
		{ "small.allocated", "stats.arenas.4096.small.allocated" },
		{ "large.allocated", "stats.arenas.4096.large.allocated" },
		{ "pdirty", "stats.arenas.4096.pdirty" },
		{ "pmuzzy", "stats.arenas.4096.pmuzzy" },
		{ "tcache_bytes", "stats.arenas.4096.tcache_bytes" },
	};
	for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
		char fmt[64];
		snprintf(fmt, sizeof(fmt), "%s\"%s\": %%llu", i ? ", " : "{", figures[i][0]);
		put(fmt, get(figures[i][1], 8));
	}
	put(", \"curregs\": [%llu", get("stats.arenas.4096.bins.0.curregs", 8));
	for (int b = 1; b < NBINS; b++) {
		char name[64];
		snprintf(name, sizeof(name), "stats.arenas.4096.bins.%d.curregs", b);
		put(", %llu", get(name, 8));
	}
	put("], \"pid\": %llu}\n", (unsigned long long)getpid());
}

static void on_signal(int sig)
{
	(void)sig;
	record();
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, out, len) == (ssize_t)len && !close(fd))
			rename(tmp, path);
	}
	if (quit) {
		signal(SIGQUIT, SIG_DFL);
		raise(SIGQUIT);
	}
	for (;;)
		pause();
}

__attribute__((constructor)) static void init(void)
{
	const char *p = getenv("CPROF_JE_ORACLE"), *then = getenv("CPROF_JE_ORACLE_THEN");
	if (!p || strlen(p) >= sizeof(path))
		return;
	snprintf(path, sizeof(path), "%s", p);
	quit = then && !strcmp(then, "quit");
	unsetenv("CPROF_JE_ORACLE");
	unsetenv("CPROF_JE_ORACLE_THEN");
	ctl = (mallctl_fn *)dlsym(RTLD_DEFAULT, "mallctl");
	if (ctl)
		signal(SIGUSR2, on_signal);
}
