/*
 * chain.h - how long a linked list read from a core is, when it may loop.
 *
 * Every list the walkers follow through the core (heap_info->prev, arena
 * next, free lists, thread caches, allgs) is untrusted: a link to itself or
 * to an earlier element makes a naive walk run for ever, or for as long as
 * its cap and then hand out the same elements again.  cprof_chain_length
 * counts the distinct elements first (Brent's cycle detection: O(length)
 * steps, O(1) memory), so that the walk that follows visits each once.
 */
#ifndef CPROF_CHAIN_H
#define CPROF_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

/* The element after x, or 0 at the end (or when x cannot be read). */
typedef uint64_t cprof_chain_next_fn(void *arg, uint64_t x);

/**
 * The number of distinct elements of the list from head (0 when head is 0),
 * at most max.  *loops is set when the list comes back to an element it
 * holds: the walk should then stop after the count returned, where the
 * list starts to repeat.
 */
uint64_t cprof_chain_length(cprof_chain_next_fn *next, void *arg, uint64_t head,
			    uint64_t max, bool *loops);

#endif
