/*
 * tcmalloc.h - private to the tcmalloc walker (src/heap/tcmalloc*.c).
 */
#ifndef CPROF_HEAP_TCMALLOC_H
#define CPROF_HEAP_TCMALLOC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cprof/core.h"
#include "cprof/format.h"
#include "cprof/heap.h"

enum {
	TC_MAX_CLASSES = 128,          /* kClassSizesMax (2.8 onwards) */
	TC_MAX_SIZE = 256 * 1024,      /* kMaxSize: the largest size class */
	TC_SPAN_READ = 48,             /* bytes of a Span the walker reads */
	TC_FLAG_SAMPLED = 0x80,        /* object flags: a sampled allocation's span */
};

/* The mangled names of the globals gperftools exports. */
#define TC_SYM_THREAD_HEAPS "_ZN8tcmalloc11ThreadCache13thread_heaps_E"
#define TC_SYM_INITED "_ZN8tcmalloc6Static7inited_E"
#define TC_SYM_INIT_STATIC_VARS "_ZN8tcmalloc6Static14InitStaticVarsEv"
/* MallocBlock::alloc_map_: only the debug allocator (debugallocation.cc) has it. */
#define TC_SYM_DEBUG_ALLOC_MAP "_ZN11MallocBlock10alloc_map_E"

/* x86-64 offsets and sizes of what the walker reads. */
struct tc_layout {
	char source[64];           /* "table for gperftools 2.8-2.10" */
	unsigned page_shift;       /* kPageShift */
	uint64_t max_pages;        /* kMaxPages: the page heap's small free lists */
	unsigned root_bits, leaf_bits;  /* TCMalloc_PageMap2<48 - kPageShift> */
	/* PageHeap (Static::pageheap_) */
	uint32_t ph_size, ph_pagemap_root, ph_free, ph_stats;
	/* Span */
	uint32_t sp_size, sp_start, sp_length, sp_next, sp_prev, sp_objects, sp_bits;
	/* CentralFreeListPadded (Static::central_cache_[]) */
	uint32_t cf_stride, cf_size_class, cf_empty, cf_nonempty, cf_num_spans,
		 cf_counter, cf_tc_slots, cf_slots, cf_used_slots, cf_max_cache_size;
	/* SizeMap (Static::sizemap_) */
	uint32_t sm_size, sm_class_array, sm_num_to_move, sm_class_to_size,
		 sm_class_to_pages, sm_num_classes;
	/* ThreadCache and its FreeList */
	uint32_t tc_size, tc_list, tc_size_field, tc_next;
	uint32_t fl_size, fl_list, fl_length;
	/* StackTrace (a sampled span's objects) */
	uint32_t st_size, st_bytes;
};

/* The layout of gperftools major.minor built with 2^page_shift-byte pages;
 * false when the table has no row for that version. */
bool tc_layout_for_version(int major, int minor, unsigned page_shift,
			   struct tc_layout *ret);

#endif
