/*
 * walker.c - the walker targets' entry point, built once per allocator
 * (fuzz/meson.build): FUZZ_ALLOCATOR names the provider whose heap is walked
 * ("glibc", "jemalloc", "tcmalloc", "go"), FUZZ_DEPTH how far each input goes
 * (FUZZ_WALK: the walk and the roots; FUZZ_ANALYZE: every stage of analyze
 * but the store).  The input: a core, usually a sparse one (fuzz/README.md),
 * of a process whose heap is that allocator's.
 */
#include "fuzz.h"

#if !defined(FUZZ_ALLOCATOR) || !defined(FUZZ_DEPTH)
#error "fuzz/walker.c is built with -DFUZZ_ALLOCATOR=\"name\" -DFUZZ_DEPTH=FUZZ_..."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_core(data, size, FUZZ_DEPTH, FUZZ_ALLOCATOR);
	return 0;
}

#ifdef CPROF_LIBFUZZER
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	return fuzz_mutate_segments(data, size, max_size, seed);
}
#endif
