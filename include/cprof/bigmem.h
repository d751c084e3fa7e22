/*
 * bigmem.h - the big per-object and per-edge arrays of the analysis: huge
 * pages for them, and the process's memory for the benchmark's account.
 *
 * Why huge pages: the scan, the leak searches, the dominators and the
 * reversed graph read and write these arrays at random; over 10^7 objects
 * (40-80 MB an array) nearly every access misses the TLB's reach with 4 KiB
 * pages.  Transparent huge pages, asked for before the array is touched,
 * took 10-25% off those phases (bench/bigheap 10000000; the kernel's
 * setting here is "madvise", so nothing is given unasked).  Only arrays that
 * are written whole are advised: a huge page is resident as a whole.
 */
#ifndef CPROF_BIGMEM_H
#define CPROF_BIGMEM_H

#include <stddef.h>
#include <stdint.h>

/* Asks for huge pages on [p, p + size) when it is big enough to matter (it
 * changes nothing else; a kernel without them ignores it). */
void cprof_huge(void *p, size_t size);

/* The process's resident anonymous memory (RssAnon), bytes; 0 when unknown. */
uint64_t cprof_rss_anon(void);

#endif
