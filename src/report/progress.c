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
	if (total)
		fprintf(stderr, "\r\033[K%s: %llu/%llu (%.0f%%)", phase,
			(unsigned long long)done, (unsigned long long)total,
			100.0 * (double)done / (double)total);
	else
		fprintf(stderr, "\r\033[K%s: %llu", phase, (unsigned long long)done);
	p->drawn = true;
}

void cprof_progress_done(struct cprof_progress *p)
{
	if (p->tty && p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = false;
	p->phase = NULL;
}
