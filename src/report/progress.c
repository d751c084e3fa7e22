/*
 * progress.c - the progress line (see include/cprof/progress.h).
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cprof/progress.h"

double cprof_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cprof_progress_init(struct cprof_progress *p)
{
	p->tty = isatty(STDERR_FILENO);
	p->phase = NULL;
	p->last = 0;
	p->drawn = false;
}

/* Our own control sequences go to the descriptor itself: stderr is filtered
 * (cprof/terminal.h), and would show "\r\033[K" as text. */
static void tty_write(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;   /* a progress line is worth no error */
		s += w;
		n -= (size_t)w;
	}
}

void cprof_progress_update(struct cprof_progress *p, const char *phase,
			   uint64_t done, uint64_t total)
{
	if (!p->tty)
		return;
	double now = cprof_now();
	if (phase == p->phase && now - p->last < 0.1)
		return;
	p->phase = phase;
	p->last = now;
	char line[160];
	int n;
	if (total)
		n = snprintf(line, sizeof(line), "\r\033[K%s: %llu/%llu (%.0f%%)", phase,
			     (unsigned long long)done, (unsigned long long)total,
			     100.0 * (double)done / (double)total);
	else
		n = snprintf(line, sizeof(line), "\r\033[K%s: %llu", phase,
			     (unsigned long long)done);
	fflush(stderr);
	tty_write(line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	p->drawn = true;
}

void cprof_progress_done(struct cprof_progress *p)
{
	if (p->tty && p->drawn)
		tty_write("\r\033[K", 4);
	p->drawn = false;
	p->phase = NULL;
}
