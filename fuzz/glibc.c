/*
 * glibc.c - the glibc walker's fuzz target: a core of a process whose heap is
 * glibc's (seeds: fuzz/make-seeds), opened from memory, its heap walked
 * and its roots found (the scan, leaks, dominators and types that follow are
 * generic: the go target runs them).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_core(data, size, FUZZ_WALK, "glibc");
	return 0;
}

#ifdef CPROF_LIBFUZZER
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	return fuzz_mutate_segments(data, size, max_size, seed);
}
#endif
