/*
 * chain.c - the length of a list that may loop (see include/cprof/chain.h).
 */
#include "cprof/chain.h"

uint64_t cprof_chain_length(cprof_chain_next_fn *next, void *arg, uint64_t head,
			    uint64_t max, bool *loops)
{
	*loops = false;
	if (!head || !max)
		return 0;
	/* Brent: the hare runs ahead, the tortoise jumps to it at each power
	   of two; they meet inside a cycle of length lam. */
	uint64_t power = 1, lam = 1, tortoise = head, hare = next(arg, head), n;
	for (n = 1; hare && hare != tortoise && n < max; n++) {
		if (power == lam) {
			tortoise = hare;
			power *= 2;
			lam = 0;
		}
		hare = next(arg, hare);
		lam++;
	}
	if (!hare)
		return n;                  /* a proper end */
	if (hare != tortoise)
		return max;                /* longer than max: cut */
	/* A cycle of length lam: the first repeated element is mu steps in. */
	*loops = true;
	uint64_t mu = 0;
	tortoise = hare = head;
	for (uint64_t i = 0; i < lam; i++)
		hare = next(arg, hare);
	while (tortoise != hare && mu + lam < max) {
		tortoise = next(arg, tortoise);
		hare = next(arg, hare);
		mu++;
	}
	return mu + lam < max ? mu + lam : max;
}
