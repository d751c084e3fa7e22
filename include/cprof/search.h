/*
 * search.h - binary search over the sorted arrays every stage keeps
 * (segments, claims, symbols, spans): one lower bound instead of a loop
 * written again for each struct.
 */
#ifndef CPROF_SEARCH_H
#define CPROF_SEARCH_H

#include <stddef.h>

/*
 * The index of the first of the n elements of array a whose member m is
 * above key (n when none is), for an array sorted by m: with m an end, the
 * first element that ends above key - the only one that can hold it.
 * A GNU statement expression (gcc and clang), evaluating a, n and key once.
 */
#define CPROF_FIRST_ABOVE(a, n, m, key)                                         \
	__extension__({                                                         \
		__typeof__(&(a)[0]) a_ = (a);                                   \
		__typeof__(key) k_ = (key);                                     \
		size_t lo_ = 0, hi_ = (n);                                      \
		while (lo_ < hi_) {                                             \
			size_t mid_ = lo_ + (hi_ - lo_) / 2;                    \
			if (a_[mid_].m <= k_)                                   \
				lo_ = mid_ + 1;                                 \
			else                                                    \
				hi_ = mid_;                                     \
		}                                                               \
		lo_;                                                            \
	})

#endif
