/*
 * bigmem.c - huge pages for big arrays, and RssAnon (see include/cprof/bigmem.h).
 */
#include <stdio.h>
#include <sys/mman.h>

#include "cprof/bigmem.h"

enum { HUGE_PAGE = 2 << 20, SMALL_PAGE = 4096 };

void cprof_huge(void *p, size_t size)
{
	/* Below a few huge pages, whatever sits around the array in the same
	   huge page would be made resident for nothing. */
	if (!p || size < 4 * (size_t)HUGE_PAGE)
		return;
	uintptr_t lo = ((uintptr_t)p + SMALL_PAGE - 1) & ~(uintptr_t)(SMALL_PAGE - 1);
	uintptr_t hi = ((uintptr_t)p + size) & ~(uintptr_t)(SMALL_PAGE - 1);
	madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

uint64_t cprof_rss_anon(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb * 1024;
}
