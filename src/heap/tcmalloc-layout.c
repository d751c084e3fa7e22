/*
 * tcmalloc-layout.c - where gperftools' fields are, per version and page
 * size (x86-64).
 *
 * Derived from gperftools' sources (src/page_heap.h, span.h, pagemap.h,
 * packed-cache-inl.h, central_freelist.h, common.h, thread_cache.h,
 * sampler.h) at the tags gperftools-2.8 to gperftools-2.10, whose layouts
 * of these structs are the same, for the default build (not
 * TCMALLOC_SMALL_BUT_SLOW).  Checked on Debian 12's 2.10
 * (libtcmalloc_minimal.so.4 and libtcmalloc.so.4) against the machine code
 * that uses them: Static::InitStaticVars steps through central_cache_ by
 * 0x4c0 and sets pageheap_ + 0x1830cc (aggressive_decommit_), sizemap_ ends
 * at pageheap_lock_, ThreadCache::GetThreadStats reads size_ at 0x1000 and
 * next_ at 0x1030, CentralFreeList::tc_length reads used_slots_ at 0x480
 * and num_objects_to_move_ at sizemap_ + 0x87c (docs/tcmalloc.md).
 *
 * The page size is a build option (TCMALLOC_PAGE_SIZE_SHIFT, 8 KiB by
 * default): the page map's shape and the page heap's free lists follow from
 * it, so the layout is computed for each candidate size and the walker keeps
 * the one whose globals validate.  Debian ships no debug info for
 * gperftools in any archive the project can reach, and cprof-core's DWARF
 * index reads no C++ classes in namespaces: there is no DWARF path.
 */
#include <string.h>

#include "tcmalloc.h"

enum {
	PACKED_CACHE_BYTES = 8 << 16,  /* PackedCache: 2^kHashbits words */
	SPAN_SIZE = 48,
	STD_SET_SIZE = 48,             /* libstdc++'s std::set with an empty compare */
	PAGEHEAP_STATS_SIZE = 11 * 8,
	SIZEMAP_CLASS_ARRAY = ((TC_MAX_SIZE + 127 + (120 << 7)) >> 7) + 1,
	TRANSFER_SLOTS = 64,           /* kMaxNumTransferEntries */
};

static uint32_t align_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) & ~(a - 1);
}

bool tc_layout_for_version(int major, int minor, unsigned page_shift,
			   struct tc_layout *ret)
{
	if (major != 2 || minor < 8 || minor > 10 || page_shift < 12 || page_shift > 18)
		return false;
	struct tc_layout *L = ret;
	memset(L, 0, sizeof(*L));
	snprintf(L->source, sizeof(L->source), "table for gperftools 2.8-2.10");
	L->page_shift = page_shift;
	L->max_pages = 1ull << (20 - page_shift);
	unsigned bits = 48 - page_shift;
	L->leaf_bits = (bits + 1) / 2;
	L->root_bits = bits - L->leaf_bits;

	/* PageHeap: pagemap_cache_, pagemap_ {root_, allocator_},
	   large_normal_, large_returned_, free_[kMaxPages] {normal, returned},
	   stats_, scavenge_counter_, release_index_, aggressive_decommit_. */
	L->ph_pagemap_root = PACKED_CACHE_BYTES;
	uint32_t after_map = L->ph_pagemap_root + (8u << L->root_bits) + 8;
	L->ph_free = after_map + 2 * STD_SET_SIZE;
	L->ph_stats = L->ph_free + (uint32_t)L->max_pages * 2 * SPAN_SIZE;
	L->ph_size = align_up(L->ph_stats + PAGEHEAP_STATS_SIZE + 8 + 4 + 1, 8);

	/* Span: start, length, next, prev, objects, then the bit fields
	   refcount:16 sizeclass:8 location:2 sample:1. */
	L->sp_size = SPAN_SIZE;
	L->sp_start = 0;
	L->sp_length = 8;
	L->sp_next = 16;
	L->sp_prev = 24;
	L->sp_objects = 32;
	L->sp_bits = 40;

	/* CentralFreeList: lock_, size_class_, empty_, nonempty_, num_spans_,
	   counter_, tc_slots_[64] {head, tail}, used_slots_, cache_size_,
	   max_cache_size_; padded to a multiple of 64 bytes. */
	L->cf_size_class = 8;
	L->cf_empty = 16;
	L->cf_nonempty = L->cf_empty + SPAN_SIZE;
	L->cf_num_spans = L->cf_nonempty + SPAN_SIZE;
	L->cf_counter = L->cf_num_spans + 8;
	L->cf_tc_slots = L->cf_counter + 8;
	L->cf_slots = TRANSFER_SLOTS;
	L->cf_used_slots = L->cf_tc_slots + 16 * TRANSFER_SLOTS;
	L->cf_max_cache_size = L->cf_used_slots + 8;
	L->cf_stride = align_up(align_up(L->cf_max_cache_size + 4, 8), 64);

	/* SizeMap: class_array_, num_objects_to_move_, class_to_size_,
	   class_to_pages_, num_size_classes. */
	L->sm_class_array = 0;
	L->sm_num_to_move = align_up(SIZEMAP_CLASS_ARRAY, 4);
	L->sm_class_to_size = L->sm_num_to_move + 4 * TC_MAX_CLASSES;
	L->sm_class_to_pages = align_up(L->sm_class_to_size + 4 * TC_MAX_CLASSES, 8);
	L->sm_num_classes = L->sm_class_to_pages + 8 * TC_MAX_CLASSES;
	L->sm_size = L->sm_num_classes + 8;

	/* ThreadCache: list_[kClassSizesMax] of FreeList {list_, length_,
	   lowater_, max_length_, length_overages_, size_}, size_, max_size_,
	   sampler_ {bytes_until_sample_, rnd_, initialized_}, tid_,
	   in_setspecific_, next_, prev_; cache-line aligned. */
	L->fl_list = 0;
	L->fl_length = 8;
	L->fl_size = 32;
	L->tc_list = 0;
	L->tc_size_field = L->fl_size * TC_MAX_CLASSES;
	uint32_t sampler = L->tc_size_field + 8;
	uint32_t tid = sampler + 24;
	L->tc_next = tid + 16;
	L->tc_size = align_up(L->tc_next + 16, 64);

	/* StackTrace: size, depth, stack[kMaxStackDepth = 31]. */
	L->st_size = 0;
	L->st_bytes = 8 + 8 + 31 * 8;
	return true;
}
