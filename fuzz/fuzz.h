/*
 * fuzz.h - what the fuzz targets share (fuzz/README.md).
 *
 * Each target is one LLVMFuzzerTestOneInput over bytes in memory: a core
 * (opened from the buffer, no file written) or a heap profile.  The same
 * entry point is linked three ways: with libFuzzer (-Dfuzz=true, clang), with
 * AFL++'s afl-clang-fast (driver.c reads the file AFL names), and into the
 * plain and sanitizer builds, where driver.c runs the regression cases of
 * tests/fuzz-regressions/<target>/ through it (t0230).
 */
#ifndef CPROF_FUZZ_H
#define CPROF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_depth {
	FUZZ_CORE,                 /* the core model: headers, notes, modules, threads */
	FUZZ_WALK,                 /* and the heap walk and the roots */
	FUZZ_ANALYZE,              /* and every stage of analyze but the store */
};

/* Opens data[0, size) as a core and runs it to depth, walking the heap of
 * the provider named allocator only; crashes, sanitizer reports and hangs
 * are the findings, errors and warnings are not. */
void fuzz_core(const uint8_t *data, size_t size, enum fuzz_depth depth,
	       const char *allocator);

/* Where a core's headers and notes end (fuzz inputs that differ only past
 * it reuse the walker targets' open core). */
size_t fuzz_core_head(const uint8_t *data, size_t size);

/* libFuzzer's mutations in one window past the headers and notes, the size
 * kept (the walker targets' LLVMFuzzerCustomMutator). */
#ifdef CPROF_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t fuzz_mutate_segments(uint8_t *data, size_t size, size_t max_size, unsigned seed);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);
#endif

#endif
