/*
 * glibc.h - private to the glibc walker (src/heap/glibc*.c).
 */
#ifndef CPROF_HEAP_GLIBC_H
#define CPROF_HEAP_GLIBC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cprof/core.h"
#include "cprof/heap.h"

/* Where a free chunk sits: the object's free_list, an index into
 * glibc_free_lists (the provider's names for them). */
enum cprof_free_list {
	CPROF_FREE_NONE = 0,       /* used */
	CPROF_FREE_TCACHE,
	CPROF_FREE_FASTBIN,
	CPROF_FREE_UNSORTED,
	CPROF_FREE_SMALLBIN,
	CPROF_FREE_LARGEBIN,
	CPROF_FREE_TOP,
	CPROF_FREE_OTHER,          /* free by the chunk headers, in no list found */
	GLIBC_N_FREE_LISTS
};
extern const char *const glibc_free_lists[GLIBC_N_FREE_LISTS];
static inline const char *cprof_free_list_name(enum cprof_free_list l)
{
	return l < GLIBC_N_FREE_LISTS ? glibc_free_lists[l] : "?";
}

/* What the tcache_entry.key field holds, by version. */
enum glibc_key {
	GLIBC_KEY_NONE,            /* < 2.29: no key */
	GLIBC_KEY_TCACHE,          /* 2.29-2.33: the owning tcache struct */
	GLIBC_KEY_RANDOM,          /* >= 2.34: tcache_key, random per process */
};

/* x86-64 offsets of the fields the walker reads. */
struct glibc_layout {
	char source[48];           /* "DWARF" or "table for glibc 2.35-2.41" */
	/* struct malloc_state */
	uint32_t ms_size, ms_flags, ms_fastbins, ms_top, ms_bins, ms_next,
		 ms_system_mem;
	/* struct malloc_par (mp_) */
	uint32_t mp_size, mp_n_mmaps, mp_mmapped_mem, mp_sbrk_base,
		 mp_tcache_bins, mp_tcache_count;
	int32_t mp_hp_pagesize;    /* -1 before 2.35 */
	/* heap_info */
	uint32_t hi_size, hi_ar_ptr, hi_prev, hi_heap_size;
	/* tcache_perthread_struct */
	bool has_tcache;
	bool tc_num_slots;         /* 2.42: counts are free slots left */
	uint32_t tc_counts, tc_count_width, tc_entries, tc_bins, tc_chunk_size;
	enum glibc_key key;
};

bool glibc_layout_for_version(int minor, struct glibc_layout *ret);
bool glibc_layout_from_dwarf(struct cprof_core *core,
			     const struct cprof_module *libc,
			     struct glibc_layout *l);

#endif
