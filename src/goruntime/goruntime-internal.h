/*
 * goruntime-internal.h - what the readers of the Go runtime share (the files of
 * src/goruntime/ and the Go provider, src/heap/go.c): the runtime's layouts and
 * constants, read once from DWARF into struct go_layout (layout.c), and the
 * private half of an opened runtime (its layout, the pclntab's tables).
 *
 * Everything here is written while the runtime is opened and only read after:
 * two cores opened in two threads share nothing.
 */
#ifndef CPROF_GORUNTIME_INTERNAL_H
#define CPROF_GORUNTIME_INTERNAL_H

#include <string.h>

#include "cprof/goruntime.h"

/* A member read as an integer: its name in, offset and size out. */
struct go_member {
	const char *name;
	int64_t off, size;
};

/* The value of member f in buf, a copy of the struct (little-endian). */
static inline uint64_t go_get(const uint8_t *buf, const struct go_member *f)
{
	uint64_t v = 0;
	memcpy(&v, buf + f->off, (size_t)f->size);
	return v;
}

/* runtime.mspan members the heap walk, the pointer masks and the profile read */
enum { SPAN_START, SPAN_NPAGES, SPAN_FREEINDEX, SPAN_NELEMS, SPAN_ALLOCBITS,
       SPAN_GCMARKBITS, SPAN_SWEEPGEN, SPAN_CLASS, SPAN_STATE, SPAN_ELEMSIZE,
       SPAN_LARGETYPE, SPAN_SPECIALS, SPAN_N };
/* internal/abi.Type members */
enum { TYPE_SIZE, TYPE_PTRBYTES, TYPE_TFLAG, TYPE_KIND, TYPE_GCDATA, TYPE_STR, TYPE_N };
enum { SPECIAL_NEXT, SPECIAL_OFFSET, SPECIAL_KIND, SPECIAL_N };    /* runtime.special */
enum { BUCKET_TYP, BUCKET_SIZE, BUCKET_NSTK, BUCKET_ALLNEXT, BUCKET_N };           /* runtime.bucket */
/* runtime.moduledata members (slices: the pointer; bitvectors: bytedata) */
enum { MD_DATA, MD_EDATA, MD_BSS, MD_EBSS, MD_NOPTRDATA, MD_ENOPTRDATA, MD_NOPTRBSS,
       MD_ENOPTRBSS, MD_GCDATAMASK, MD_GCBSSMASK, MD_TYPES, MD_ETYPES, MD_FUNCNAMETAB,
       MD_CUTAB, MD_FILETAB, MD_PCTAB, MD_PCLNTABLE, MD_FTAB, MD_TEXT, MD_TEXTSECTMAP,
       MD_GOFUNC, MD_RODATA, MD_PCHEADER, MD_N };
/* runtime._func members */
enum { FUNC_ENTRY, FUNC_NAME, FUNC_ARGS, FUNC_DEFERRETURN, FUNC_PCSP, FUNC_PCFILE,
       FUNC_PCLN, FUNC_NPCDATA, FUNC_CU, FUNC_STARTLINE, FUNC_FUNCID, FUNC_FLAG,
       FUNC_NFUNCDATA, FUNC_N };
/* Constants of the pclntab's encoding (internal/abi) */
enum { C_FD_ARGS, C_FD_LOCALS, C_FD_OBJS, C_FD_INLTREE, C_PCD_STACKMAP, C_PCD_INLTREE,
       C_FF_TOP, C_FF_SPWRITE, C_ARGS_UNKNOWN, C_N };

/*
 * Every layout and constant of the runtime that cprof-core reads, from the
 * binary's DWARF.  A part whose structs are missing says so in its *_missing
 * string (NULL: all there), and the readers of that part give up with that
 * reason; only the goroutines' own structs are required to open the runtime.
 * A new Go release that moves or renames something touches layout.c.
 */
struct go_layout {
	/* goroutines: runtime.g (with its stack and gobuf), runtime.m */
	int64_t g_stack_lo, g_stack_hi, g_sched_sp, g_sched_pc, g_sched_bp, g_sched_ctxt,
		g_m, g_atomicstatus, g_goid, g_waitreason, g_gopc, g_startpc, g_parent_goid,
		g_syscallsp, g_syscallpc, g_syscallbp, g_defer, g_panic;
	uint64_t g_size;
	int64_t m_procid, m_curg, m_alllink, m_gsignal;
	const char *status_names[16];      /* status value -> the runtime's word */
	int64_t gscan;

	/* the heap: mspan, mheap, heapArena and the arena index */
	const char *heap_missing;
	struct go_member span[SPAN_N];
	uint64_t span_size;
	int64_t h_sweepgen, h_allspans, h_arenas, ha_spans;
	int64_t page_size, span_in_use, span_manual;
	uint64_t arena_bytes, pages_per_arena, arena_base_offset;
	int64_t l1_bits, l2_bits;
	const char *arenas_missing;        /* the arena index (pointer masks) */
	uint64_t min_header, header_size;  /* malloc headers (Go 1.22+) */
	uint64_t inline_size;              /* sizeof(spanInlineMarkBits): green tea's
					      inline marks, 0 without them */
	int64_t inline_marks;              /* offsetof(spanInlineMarkBits, marks) */

	/* types: internal/abi.Type, ITab, PtrType */
	const char *type_missing;
	struct go_member type[TYPE_N];
	uint64_t type_size;
	int64_t tflag_extra_star, tflag_on_demand, tflag_direct, kind_gcprog, kind_pointer,
		kind_func, kind_direct;
	const char *iface_missing;
	int64_t itab_type, ptr_elem;

	/* module data and the pclntab: moduledata, _func, functab, inlinedCall */
	const char *pcln_missing;
	int64_t md[MD_N];                  /* -1 when absent */
	uint64_t md_size;
	int64_t func[FUNC_N];              /* -1 when absent */
	int64_t ft_entry, ft_func;
	uint64_t ft_size;
	int64_t c[C_N];                    /* from DWARF, else Go 1.18+'s values */
	bool c_ok;                         /* c[] known */
	int64_t inl_funcid, inl_name, inl_parentpc;   /* runtime.inlinedCall */
	uint64_t inl_size;

	/* the stack maps: stackmap, stackObjectRecord, _defer, pcHeader */
	const char *stackmap_missing;
	int64_t sm_n, sm_nbit, sm_bytedata;
	int64_t so_off, so_size, so_ptrbytes, so_gcdataoff;
	uint64_t so_sizeof;
	int64_t d_fn, d_link, pch_magic;

	/* the profile records: special, specialprofile, bucket */
	const char *profile_missing;
	struct go_member special[SPECIAL_N], bucket[BUCKET_N];
	uint64_t special_size, bucket_size;
	int64_t profile_b, kind_profile, mem_profile, max_stack;
	/* root specials (enum cprof_go_special_kind): kind, and the offset and
	   length of the words the collector scans (-1: not in this Go) */
	struct { int64_t kind, off, len; } roots[3];

	/* the runtime's accounting: gcControllerState, mstats */
	int64_t gc_heap_inuse, gc_heap_released, gc_heap_free;
	int64_t ms_stacks_sys, ms_mspan_sys, ms_mcache_sys, ms_buckhash_sys, ms_gc_sys,
		ms_other_sys;
};

/* Reads the layout of module m's runtime.  An error only when the
 * goroutines' structs are missing (no DWARF: the caller says so). */
struct cprof_error *go_layout_read(struct cprof_core *core, const struct cprof_module *m,
				   struct go_layout *ret);
/* Completes l->c (the pclntab's constants) from the pcHeader's magic: c_ok. */
void go_layout_pcln_constants(struct go_layout *l, uint32_t magic);

/* A table of the pclntab (a Go slice of the module data): where it is and,
 * when the core or the executable holds it contiguously, a zero-copy pointer. */
struct go_tab {
	uint64_t addr, len;        /* len in bytes */
	const uint8_t *p;
};

/* The pclntab's tables (runtime.firstmoduledata), read at open. */
struct go_pcln {
	bool ok;
	uint64_t text;
	struct go_tab funcnametab, cutab, filetab, pctab, pclntable, ftab;
	uint64_t gofunc, rodata, pcheader;
};

/* The private half of struct cprof_go_runtime. */
struct cprof_go_private {
	struct go_layout l;
	struct go_pcln pcln;
	char **wait_reasons;
	size_t n_wait_reasons;
	/* the inlined calls at each frame's pc (cprof_go_frame.calls) */
	struct cprof_go_call *calls;
	size_t n_calls, cap_calls;
	struct cprof_core *core;   /* for unregistering the line source */
};

/* Reads the pclntab's tables of rt (its layout read) from a copy of its
 * runtime.firstmoduledata (NULL: unreadable, no tables). */
void go_pcln_open(struct cprof_core *core, struct cprof_go_runtime *rt,
		  const uint8_t *moduledata);

/* A function's record in the pclntab (runtime._func), as its readers need it. */
struct go_func {
	uint64_t addr;             /* of the record */
	uint32_t off;              /* in pclntable */
	uint64_t entry;
	uint32_t nameoff, pcsp, pcfile, pcln, cu, npcdata, deferreturn;
	int32_t args;
	uint8_t flag, nfuncdata;
	char name[128];            /* truncated */
};

/* The function holding pc (runtime.findfunc: no pc - 1 here); false when
 * pc is in no Go function or the tables are unreadable. */
bool go_func_find(struct cprof_core *core, const struct cprof_go_runtime *rt, uint64_t pc,
		  struct go_func *ret);
/* runtime.pcdatavalue: pcdata table `table` of f at pc, -1 when absent. */
int32_t go_func_pcdata(struct cprof_core *core, const struct cprof_go_runtime *rt,
		       const struct go_func *f, int64_t table, uint64_t pc);
/* runtime.funcdata: the address of f's funcdata i, 0 when absent. */
uint64_t go_func_funcdata(struct cprof_core *core, const struct cprof_go_runtime *rt,
			  const struct go_func *f, int64_t i);

/* goroutines.c: rt->goroutines (and n_dead), then their groups; the calls
 * of their frames are freed by go_calls_free. */
struct cprof_error *go_read_goroutines(struct cprof_core *core, struct cprof_go_runtime *rt);
struct cprof_error *go_group_goroutines(struct cprof_core *core, struct cprof_go_runtime *rt);
void go_calls_free(struct cprof_go_private *p);

#endif
