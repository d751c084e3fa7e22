/*
 * progress.h - a progress line for long phases, on stderr, only when stderr
 * is a terminal; redrawn at most ten times a second and erased when done.
 */
#ifndef CPROF_PROGRESS_H
#define CPROF_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct cprof_progress {
	bool tty;
	const char *phase;
	double last;               /* time of the last redraw, seconds */
	bool drawn;
};

void cprof_progress_init(struct cprof_progress *p);
/* Shows "phase: done/total (NN%)", or "phase: done" when total is 0. */
void cprof_progress_update(struct cprof_progress *p, const char *phase,
			   uint64_t done, uint64_t total);
void cprof_progress_done(struct cprof_progress *p);

/* Monotonic seconds, for timing phases. */
double cprof_now(void);

#endif
