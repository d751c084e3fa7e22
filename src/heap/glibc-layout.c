/*
 * glibc-layout.c - where glibc malloc's fields are, per version, and from
 * DWARF when libc's debug info is present.
 *
 * The table below holds the x86-64 offsets for glibc 2.26 to 2.42, from
 * malloc/malloc.c and malloc/arena.c at each release tag; docs/glibc.md has
 * the evidence.  DWARF (libc6-dbg, --debug-dir, debuginfod) overrides the
 * table field by field, so a distribution's patched layout is still read
 * right when its debug info is at hand.
 */
#include <string.h>

#include "glibc.h"

/* One row: glibc versions [min, max] (minor numbers of 2.x). */
struct layout_row {
	int min, max;
	struct glibc_layout l;
};

/* malloc_state: 2.26 lacks have_fastchunks; 2.27 onwards is stable. */
#define STATE_2_26 .ms_size = 2192, .ms_flags = 4, .ms_fastbins = 8, .ms_top = 88, \
	.ms_bins = 104, .ms_next = 2152, .ms_system_mem = 2176
#define STATE_2_27 .ms_size = 2200, .ms_flags = 4, .ms_fastbins = 16, .ms_top = 96, \
	.ms_bins = 112, .ms_next = 2160, .ms_system_mem = 2184
/* malloc_par: 112 bytes up to 2.34; 136 from 2.35 (thp/hp page sizes). */
#define PAR_OLD .mp_size = 112, .mp_n_mmaps = 40, .mp_mmapped_mem = 56, \
	.mp_sbrk_base = 72, .mp_tcache_bins = 80, .mp_tcache_count = 96, \
	.mp_hp_pagesize = -1
#define PAR_2_35 .mp_size = 136, .mp_n_mmaps = 60, .mp_mmapped_mem = 80, \
	.mp_sbrk_base = 96, .mp_tcache_bins = 104, .mp_tcache_count = 120, \
	.mp_hp_pagesize = 48
#define HEAP_OLD .hi_size = 32, .hi_ar_ptr = 0, .hi_prev = 8, .hi_heap_size = 16
#define HEAP_2_35 .hi_size = 48, .hi_ar_ptr = 0, .hi_prev = 8, .hi_heap_size = 16
#define TC_CHAR .has_tcache = true, .tc_counts = 0, .tc_count_width = 1, \
	.tc_entries = 64, .tc_bins = 64, .tc_chunk_size = 0x250
#define TC_U16 .has_tcache = true, .tc_counts = 0, .tc_count_width = 2, \
	.tc_entries = 128, .tc_bins = 64, .tc_chunk_size = 0x290

static const struct layout_row rows[] = {
	{ 26, 26, { STATE_2_26, PAR_OLD, HEAP_OLD, TC_CHAR, .key = GLIBC_KEY_NONE } },
	{ 27, 28, { STATE_2_27, PAR_OLD, HEAP_OLD, TC_CHAR, .key = GLIBC_KEY_NONE } },
	{ 29, 29, { STATE_2_27, PAR_OLD, HEAP_OLD, TC_CHAR, .key = GLIBC_KEY_TCACHE } },
	{ 30, 33, { STATE_2_27, PAR_OLD, HEAP_OLD, TC_U16, .key = GLIBC_KEY_TCACHE } },
	{ 34, 34, { STATE_2_27, PAR_OLD, HEAP_OLD, TC_U16, .key = GLIBC_KEY_RANDOM } },
	{ 35, 41, { STATE_2_27, PAR_2_35, HEAP_2_35, TC_U16, .key = GLIBC_KEY_RANDOM } },
	{ 42, 42, { STATE_2_27, PAR_2_35, HEAP_2_35, .has_tcache = true, .tc_counts = 0,
		    .tc_count_width = 2, .tc_entries = 152, .tc_bins = 76,
		    .tc_chunk_size = 0x300, .tc_num_slots = true,
		    .key = GLIBC_KEY_RANDOM } },
};

bool glibc_layout_for_version(int minor, struct glibc_layout *ret)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].min <= minor && minor <= rows[i].max) {
			*ret = rows[i].l;
			snprintf(ret->source, sizeof(ret->source),
				 "table for glibc 2.%d-2.%d", rows[i].min, rows[i].max);
			return true;
		}
	}
	return false;
}

static void set(int64_t v, uint32_t *field)
{
	if (v >= 0)
		*field = (uint32_t)v;
}

/*
 * Overrides the layout with what libc's DWARF says.  Returns false when the
 * debug info has no malloc_state (then the table stands alone).
 */
bool glibc_layout_from_dwarf(struct cprof_core *core,
			     const struct cprof_module *libc,
			     struct glibc_layout *l)
{
	struct cprof_dwarf_member ms[] = {
		{ "flags", -1, -1 }, { "fastbinsY", -1, -1 }, { "top", -1, -1 }, { "bins", -1, -1 }, { "next", -1, -1 },
		{ "system_mem", -1, -1 },
	};
	uint64_t size;
	if (!cprof_dwarf_struct(core, libc, "malloc.c", "malloc_state", ms,
				sizeof(ms) / sizeof(ms[0]), &size))
		return false;
	l->ms_size = (uint32_t)size;
	set(ms[0].offset, &l->ms_flags);
	set(ms[1].offset, &l->ms_fastbins);
	set(ms[2].offset, &l->ms_top);
	set(ms[3].offset, &l->ms_bins);
	set(ms[4].offset, &l->ms_next);
	set(ms[5].offset, &l->ms_system_mem);

	struct cprof_dwarf_member mp[] = {
		{ "n_mmaps", -1, -1 }, { "mmapped_mem", -1, -1 }, { "sbrk_base", -1, -1 }, { "tcache_bins", -1, -1 },
		{ "tcache_count", -1, -1 }, { "hp_pagesize", -1, -1 }, { "tcache_small_bins", -1, -1 },
	};
	if (cprof_dwarf_struct(core, libc, "malloc.c", "malloc_par", mp,
			       sizeof(mp) / sizeof(mp[0]), &size)) {
		l->mp_size = (uint32_t)size;
		set(mp[0].offset, &l->mp_n_mmaps);
		set(mp[1].offset, &l->mp_mmapped_mem);
		set(mp[2].offset, &l->mp_sbrk_base);
		set(mp[3].offset, &l->mp_tcache_bins);
		set(mp[6].offset, &l->mp_tcache_bins);
		set(mp[4].offset, &l->mp_tcache_count);
		l->mp_hp_pagesize = (int32_t)mp[5].offset;
	}
	struct cprof_dwarf_member hi[] = { { "ar_ptr", -1, -1 }, { "prev", -1, -1 }, { "size", -1, -1 } };
	if (cprof_dwarf_struct(core, libc, "arena.c", "_heap_info", hi, 3, &size) ||
	    cprof_dwarf_struct(core, libc, "malloc.c", "_heap_info", hi, 3, &size)) {
		l->hi_size = (uint32_t)size;
		set(hi[0].offset, &l->hi_ar_ptr);
		set(hi[1].offset, &l->hi_prev);
		set(hi[2].offset, &l->hi_heap_size);
	}
	struct cprof_dwarf_member tc[] = { { "counts", -1, -1 }, { "entries", -1, -1 }, { "num_slots", -1, -1 } };
	if (cprof_dwarf_struct(core, libc, "malloc.c", "tcache_perthread_struct",
			       tc, 3, &size)) {
		l->has_tcache = true;
		int64_t counts = tc[0].offset >= 0 ? tc[0].offset : tc[2].offset;
		int64_t csize = tc[0].offset >= 0 ? tc[0].size : tc[2].size;
		l->tc_num_slots = tc[0].offset < 0 && tc[2].offset >= 0;
		set(counts, &l->tc_counts);
		set(tc[1].offset, &l->tc_entries);
		if (tc[1].size > 0)
			l->tc_bins = (uint32_t)(tc[1].size / 8);
		if (csize > 0 && l->tc_bins)
			l->tc_count_width = (uint32_t)(csize / l->tc_bins);
		/* The chunk holding it: request rounded as malloc rounds it. */
		l->tc_chunk_size = (uint32_t)((size + 8 + 15) & ~15ull);
		if (l->tc_chunk_size < 32)
			l->tc_chunk_size = 32;
	}
	snprintf(l->source, sizeof(l->source), "DWARF");
	return true;
}
