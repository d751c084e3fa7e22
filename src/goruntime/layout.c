/*
 * layout.c - every layout and constant of the Go runtime that cprof-core
 * reads, from the binary's DWARF, once per opened runtime (struct go_layout in
 * goruntime-internal.h).
 *
 * The Go compiler writes the runtime's structs into DWARF and one
 * DW_TAG_constant per package constant ("runtime._PageSize",
 * "internal/abi.FUNCDATA_InlTree").  Only what DWARF does not carry is known
 * here: the pointer size (8), and the layout of runtime.inlinedCall and the
 * pclntab constants of Go 1.18-1.26 when a binary's DWARF leaves them out
 * (the linker writes only the types some variable uses).
 *
 * This is the file a new Go release touches: a struct renamed or a member
 * moved to another struct is handled here, and every reader takes its
 * offsets from the result.  A part whose structs are missing records why
 * (heap_missing, type_missing, ...) and its readers report that reason.
 */
#include <stdio.h>

#include "goruntime-internal.h"

/* Fills offs[i] with member names[i]'s offset in struct name (-1 when
 * absent), *size (may be NULL) with the struct's size.  False when the struct
 * is not in the DWARF. */
static bool offsets(struct cprof_core *core, const struct cprof_module *m, const char *name,
		    const char *const *names, int64_t *offs, size_t n, uint64_t *size)
{
	struct cprof_dwarf_member mem[24];
	uint64_t sz = 0;
	if (n > 24)
		return false;
	for (size_t i = 0; i < n; i++)
		mem[i] = (struct cprof_dwarf_member){ names[i], -1, -1 };
	if (!cprof_dwarf_struct(core, m, NULL, name, mem, n, &sz))
		return false;
	for (size_t i = 0; i < n; i++)
		offs[i] = mem[i].offset;
	if (size)
		*size = sz;
	return true;
}

/* Like offsets, but every member must be there. */
static bool all_offsets(struct cprof_core *core, const struct cprof_module *m,
			const char *name, const char *const *names, int64_t *offs, size_t n,
			uint64_t *size)
{
	if (!offsets(core, m, name, names, offs, n, size))
		return false;
	for (size_t i = 0; i < n; i++)
		if (offs[i] < 0)
			return false;
	return true;
}

/* Fills mem[0..n) (names set by the caller) from struct name; false unless
 * every member is there, is an integer of at most 8 bytes and lies within
 * the struct. */
static bool int_members(struct cprof_core *core, const struct cprof_module *m,
			const char *name, struct go_member *mem, size_t n, uint64_t *size)
{
	struct cprof_dwarf_member d[24];
	if (n > 24)
		return false;
	for (size_t i = 0; i < n; i++)
		d[i] = (struct cprof_dwarf_member){ mem[i].name, -1, -1 };
	if (!cprof_dwarf_struct(core, m, NULL, name, d, n, size))
		return false;
	for (size_t i = 0; i < n; i++) {
		mem[i].off = d[i].offset;
		mem[i].size = d[i].size;
		if (mem[i].off < 0 || mem[i].size <= 0 || mem[i].size > 8 ||
		    (uint64_t)(mem[i].off + mem[i].size) > *size)
			return false;
	}
	return true;
}

static void name_members(struct go_member *mem, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mem[i] = (struct go_member){ names[i], -1, -1 };
}

/* The DWARF constant name, or dflt: the value of the Go versions that lack it. */
static int64_t constant(struct cprof_core *core, const struct cprof_module *m,
			const char *name, int64_t dflt)
{
	int64_t v;
	return cprof_dwarf_constant(core, m, name, &v) ? v : dflt;
}

static int64_t plus(int64_t base, int64_t off)
{
	return base < 0 || off < 0 ? -1 : base + off;
}

/* ---- goroutines ---- */

static bool read_goroutine_layout(struct cprof_core *core, const struct cprof_module *m,
				  struct go_layout *l)
{
	static const char *const gn[] = {
		"stack", "sched", "m", "atomicstatus", "goid", "waitreason", "gopc",
		"startpc", "parentGoid", "syscallsp", "syscallpc", "syscallbp", "_defer",
		"_panic",
	};
	static const char *const sn[] = { "lo", "hi" };
	static const char *const bn[] = { "sp", "pc", "bp", "ctxt" };
	static const char *const mn[] = { "procid", "curg", "alllink", "gsignal" };
	int64_t g[14], st[2], gb[4], mm[4];
	if (!offsets(core, m, "runtime.g", gn, g, 14, &l->g_size) ||
	    !offsets(core, m, "runtime.stack", sn, st, 2, NULL) ||
	    !offsets(core, m, "runtime.gobuf", bn, gb, 4, NULL) ||
	    !offsets(core, m, "runtime.m", mn, mm, 4, NULL))
		return false;
	l->g_stack_lo = plus(g[0], st[0]);
	l->g_stack_hi = plus(g[0], st[1]);
	l->g_sched_sp = plus(g[1], gb[0]);
	l->g_sched_pc = plus(g[1], gb[1]);
	l->g_sched_bp = plus(g[1], gb[2]);
	l->g_sched_ctxt = plus(g[1], gb[3]);
	l->g_m = g[2];
	l->g_atomicstatus = g[3];  /* atomic.Uint32: its value is the first word */
	l->g_goid = g[4];
	l->g_waitreason = g[5];
	l->g_gopc = g[6];
	l->g_startpc = g[7];
	l->g_parent_goid = g[8];
	l->g_syscallsp = g[9];
	l->g_syscallpc = g[10];
	l->g_syscallbp = g[11];
	l->g_defer = g[12];
	l->g_panic = g[13];
	l->m_procid = mm[0];
	l->m_curg = mm[1];
	l->m_alllink = mm[2];
	l->m_gsignal = mm[3];
	if (l->g_stack_lo < 0 || l->g_sched_sp < 0 || l->g_atomicstatus < 0 || l->g_goid < 0)
		return false;
	/* The runtime's names for goroutine states (traceback.go gStatusStrings). */
	static const struct { const char *constant, *name; } status[] = {
		{ "runtime._Gidle", "idle" }, { "runtime._Grunnable", "runnable" },
		{ "runtime._Grunning", "running" }, { "runtime._Gsyscall", "syscall" },
		{ "runtime._Gwaiting", "waiting" }, { "runtime._Gdead", "dead" },
		{ "runtime._Gcopystack", "copystack" },
		{ "runtime._Gpreempted", "preempted" }, { "runtime._Gleaked", "leaked" },
		{ "runtime._Gdeadextra", "dead" },
	};
	for (size_t i = 0; i < sizeof(status) / sizeof(status[0]); i++) {
		int64_t v = constant(core, m, status[i].constant, -1);
		if (v >= 0 && v < 16)
			l->status_names[v] = status[i].name;
	}
	l->gscan = constant(core, m, "runtime._Gscan", 0x1000);
	return true;
}

/* ---- the heap ---- */

static const char *read_heap_layout(struct cprof_core *core, const struct cprof_module *m,
				    struct go_layout *l)
{
	static const char *const sn[SPAN_N] = {
		"startAddr", "npages", "freeindex", "nelems", "allocBits", "gcmarkBits",
		"sweepgen", "spanclass", "state", "elemsize", "largeType", "specials",
	};
	static const char *const hn[] = { "sweepgen", "allspans", "arenas" };
	static const char *const marks[] = { "marks" };
	int64_t h[3];
	l->arenas_missing = "runtime.mspan or runtime.mheap";
	l->arena_bytes = 64 << 20;        /* linux/amd64's, for the claim */
	name_members(l->span, sn, SPAN_N);
	/* largeType arrived with the allocation headers (Go 1.22): without it
	   the objects and their pointer metadata are laid out differently. */
	if (!int_members(core, m, "runtime.mspan", l->span, SPAN_N, &l->span_size) ||
	    l->span_size > 4096)
		return "runtime.mspan (with largeType: Go 1.22 or later)";
	/* state is mSpanStateBox{s atomic.Uint8{value uint8}}: its first byte. */
	l->span[SPAN_STATE].size = 1;
	if (!offsets(core, m, "runtime.mheap", hn, h, 3, NULL) || h[0] < 0 || h[1] < 0)
		return "runtime.mheap";
	l->h_sweepgen = h[0];
	l->h_allspans = h[1];
	l->h_arenas = h[2];
	l->page_size = constant(core, m, "runtime._PageSize", -1);
	l->span_in_use = constant(core, m, "runtime.mSpanInUse", -1);
	if (l->page_size <= 0 || l->span_in_use < 0)
		return "the runtime constants _PageSize and mSpanInUse";
	l->span_manual = constant(core, m, "runtime.mSpanManual", 2);
	l->min_header = (uint64_t)constant(core, m, "runtime.minSizeForMallocHeader",
					   constant(core, m, "internal/runtime/gc.MinSizeForMallocHeader", 512));
	l->header_size = (uint64_t)constant(core, m, "internal/runtime/gc.MallocHeaderSize",
					    constant(core, m, "runtime.mallocHeaderSize", 8));
	uint64_t isize = 0;
	if (offsets(core, m, "runtime.spanInlineMarkBits", marks, &l->inline_marks, 1, &isize) &&
	    l->inline_marks >= 0)
		l->inline_size = isize;   /* empty or absent without green tea */

	/* The arena index (mheap.go arenaIndex): for the pointer masks. */
	int64_t arena = constant(core, m, "runtime.heapArenaBytes", -1);
	int64_t l2 = constant(core, m, "runtime.arenaL2Bits", -1);
	static const char *const han[] = { "spans" };
	l->arenas_missing = "the arena geometry (heapArenaBytes, arenaL2Bits) or heapArena.spans";
	if (arena < l->page_size || (arena & (arena - 1)) || l2 <= 0 || l2 > 40 ||
	    l->h_arenas < 0 || !all_offsets(core, m, "runtime.heapArena", han, &l->ha_spans, 1, NULL))
		return NULL;
	l->arena_bytes = (uint64_t)arena;
	l->pages_per_arena = (uint64_t)constant(core, m, "runtime.pagesPerArena",
						arena / l->page_size);
	l->l1_bits = constant(core, m, "runtime.arenaL1Bits", 0);
	l->l2_bits = l2;
	/* an int64 constant in DWARF; the runtime uses it as a uintptr */
	l->arena_base_offset = (uint64_t)constant(core, m, "runtime.arenaBaseOffsetUintptr", 0);
	if (l->l1_bits >= 0 && l->l1_bits <= 32 && l->pages_per_arena)
		l->arenas_missing = NULL;
	return NULL;
}

/* ---- types ---- */

static void read_type_layout(struct cprof_core *core, const struct cprof_module *m,
			     struct go_layout *l)
{
	static const char *const tn[TYPE_N] = { "Size_", "PtrBytes", "TFlag", "Kind_", "GCData",
						"Str" };
	name_members(l->type, tn, TYPE_N);
	l->type_missing = NULL;
	if (!int_members(core, m, "internal/abi.Type", l->type, TYPE_N, &l->type_size) ||
	    l->type_size > 4096)
		l->type_missing = "internal/abi.Type";
	l->tflag_extra_star = constant(core, m, "internal/abi.TFlagExtraStar", 0);
	/* 1.24+: GCData may point to the mask's pointer.  Those masks replaced
	   the GC programs of 1.22/1.23, so look for the program kind (a full
	   DWARF search when absent) only without them. */
	l->tflag_on_demand = constant(core, m, "internal/abi.TFlagGCMaskOnDemand", 0);
	if (!l->tflag_on_demand)
		l->kind_gcprog = constant(core, m, "internal/abi.KindGCProg",
					  constant(core, m, "runtime.kindGCProg", 0));
	l->kind_pointer = constant(core, m, "internal/abi.Pointer", -1);
	l->kind_func = constant(core, m, "internal/abi.Func", -1);
	l->kind_direct = constant(core, m, "internal/abi.KindDirectIface", 0);
	l->tflag_direct = constant(core, m, "internal/abi.TFlagDirectIface", 0);

	/* An interface's dynamic type: itab.Type (runtime.itab._type before
	   Go 1.22), a pointer type's Elem. */
	static const char *const it[] = { "Type" }, *const oit[] = { "_type" },
			  *const pt[] = { "Elem" };
	l->iface_missing = "internal/abi.ITab, PtrType or the kind constants";
	if ((all_offsets(core, m, "internal/abi.ITab", it, &l->itab_type, 1, NULL) ||
	     all_offsets(core, m, "runtime.itab", oit, &l->itab_type, 1, NULL)) &&
	    all_offsets(core, m, "internal/abi.PtrType", pt, &l->ptr_elem, 1, NULL) &&
	    !l->type_missing && l->kind_pointer >= 0)
		l->iface_missing = NULL;
}

/* ---- module data, pclntab, stack maps ---- */

/* The pclntab's constants (internal/abi), and their values in Go 1.18-1.26
 * (used when DWARF lacks one and the pcHeader magic is 1.18+'s). */
static const struct { const char *name; int64_t go118; } pcln_constants[C_N] = {
	[C_FD_ARGS] = { "internal/abi.FUNCDATA_ArgsPointerMaps", 0 },
	[C_FD_LOCALS] = { "internal/abi.FUNCDATA_LocalsPointerMaps", 1 },
	[C_FD_OBJS] = { "internal/abi.FUNCDATA_StackObjects", 2 },
	[C_FD_INLTREE] = { "internal/abi.FUNCDATA_InlTree", 3 },
	[C_PCD_STACKMAP] = { "internal/abi.PCDATA_StackMapIndex", 1 },
	[C_PCD_INLTREE] = { "internal/abi.PCDATA_InlTreeIndex", 2 },
	[C_FF_TOP] = { "internal/abi.FuncFlagTopFrame", 1 },
	[C_FF_SPWRITE] = { "internal/abi.FuncFlagSPWrite", 2 },
	[C_ARGS_UNKNOWN] = { "internal/abi.ArgsSizeUnknown", -0x80000000ll },
};

static const char *read_pcln_layout(struct cprof_core *core, const struct cprof_module *m,
				    struct go_layout *l)
{
	static const char *const mdn[MD_N] = {
		"data", "edata", "bss", "ebss", "noptrdata", "enoptrdata", "noptrbss",
		"enoptrbss", "gcdatamask", "gcbssmask", "types", "etypes", "funcnametab",
		"cutab", "filetab", "pctab", "pclntable", "ftab", "text", "textsectmap",
		"gofunc", "rodata", "pcHeader",
	};
	static const char *const fn[FUNC_N] = {
		"entryOff", "nameOff", "args", "deferreturn", "pcsp", "pcfile", "pcln",
		"npcdata", "cuOffset", "startLine", "funcID", "flag", "nfuncdata",
	};
	static const char *const ftn[] = { "entryoff", "funcoff" };
	static const char *const inl[] = { "funcID", "nameOff", "parentPc" };
	int64_t ft[2], in[3];
	for (int i = 0; i < MD_N; i++)
		l->md[i] = -1;
	if (!offsets(core, m, "runtime.moduledata", mdn, l->md, MD_N, &l->md_size) ||
	    l->md_size > 4096)
		return "runtime.moduledata";
	if (!offsets(core, m, "runtime._func", fn, l->func, FUNC_N, NULL) ||
	    l->func[FUNC_ENTRY] < 0 || l->func[FUNC_NAME] < 0 || l->func[FUNC_PCFILE] < 0 ||
	    l->func[FUNC_PCLN] < 0 || l->func[FUNC_CU] < 0 || l->func[FUNC_NPCDATA] < 0 ||
	    l->func[FUNC_NFUNCDATA] < 0)
		return "runtime._func";
	if (!all_offsets(core, m, "runtime.functab", ftn, ft, 2, &l->ft_size) || !l->ft_size)
		return "runtime.functab";
	l->ft_entry = ft[0];
	l->ft_func = ft[1];
	for (int i = 0; i < C_N; i++)
		l->c[i] = constant(core, m, pcln_constants[i].name, INT64_MIN);
	/* runtime.inlinedCall, the same from Go 1.21 on: {funcID uint8; _
	   [3]byte; nameOff int32; parentPc int32; startLine int32}.  DWARF has
	   it only when some variable has its type. */
	if (all_offsets(core, m, "runtime.inlinedCall", inl, in, 3, &l->inl_size)) {
		l->inl_funcid = in[0];
		l->inl_name = in[1];
		l->inl_parentpc = in[2];
	} else {
		l->inl_funcid = 0;
		l->inl_name = 4;
		l->inl_parentpc = 8;
		l->inl_size = 16;
	}
	return NULL;
}

/* The pclntab constants DWARF lacked, from the pcHeader's magic: Go 1.18+
 * (0xfffffff0: 1.18-1.19, 0xfffffff1: 1.20+) has the values above. */
void go_layout_pcln_constants(struct go_layout *l, uint32_t magic)
{
	bool known = magic == 0xfffffff0 || magic == 0xfffffff1;
	l->c_ok = true;
	for (int i = 0; i < C_N; i++) {
		if (l->c[i] != INT64_MIN)
			continue;
		if (!known)
			l->c_ok = false;
		else
			l->c[i] = pcln_constants[i].go118;
	}
}

static const char *read_stackmap_layout(struct cprof_core *core, const struct cprof_module *m,
					struct go_layout *l)
{
	static const char *const smn[] = { "n", "nbit", "bytedata" };
	static const char *const son[] = { "off", "size", "gcdataoff", "ptrBytes" };
	static const char *const son_old[] = { "_ptrdata" };   /* before Go 1.24 */
	static const char *const dn[] = { "fn", "link" };
	static const char *const magicn[] = { "magic" };
	int64_t sm[3], so[4], d[2];
	if (l->func[FUNC_ARGS] < 0 || l->func[FUNC_DEFERRETURN] < 0 || l->func[FUNC_PCSP] < 0 ||
	    l->func[FUNC_FLAG] < 0 || l->md[MD_GOFUNC] < 0 || l->md[MD_RODATA] < 0 ||
	    l->md[MD_PCHEADER] < 0 || l->g_sched_ctxt < 0 || l->g_defer < 0 || l->g_panic < 0)
		return "runtime._func, runtime.moduledata or runtime.g members";
	if (!all_offsets(core, m, "runtime.stackmap", smn, sm, 3, NULL))
		return "runtime.stackmap";
	if (!all_offsets(core, m, "runtime.stackObjectRecord", son, so, 4, &l->so_sizeof) &&
	    (!all_offsets(core, m, "runtime.stackObjectRecord", son, so, 3, &l->so_sizeof) ||
	     !all_offsets(core, m, "runtime.stackObjectRecord", son_old, &so[3], 1, NULL)))
		return "runtime.stackObjectRecord";
	if (l->so_sizeof < 16)
		return "runtime.stackObjectRecord (too small)";
	if (!all_offsets(core, m, "runtime._defer", dn, d, 2, NULL))
		return "runtime._defer";
	if (!all_offsets(core, m, "runtime.pcHeader", magicn, &l->pch_magic, 1, NULL))
		return "runtime.pcHeader";
	l->sm_n = sm[0]; l->sm_nbit = sm[1]; l->sm_bytedata = sm[2];
	l->so_off = so[0]; l->so_size = so[1]; l->so_gcdataoff = so[2]; l->so_ptrbytes = so[3];
	l->d_fn = d[0]; l->d_link = d[1];
	return NULL;
}

/* ---- the profile records ---- */

/* The specials the collector scans as roots, and which of their words. */
static void read_root_specials(struct cprof_core *core, const struct cprof_module *m,
			       struct go_layout *l)
{
	static const struct { const char *kind, *type, *member; } k[3] = {
		[CPROF_GO_FINALIZER] = { "runtime._KindSpecialFinalizer", "runtime.specialfinalizer", "fn" },
		[CPROF_GO_CLEANUP] = { "runtime._KindSpecialCleanup", "runtime.specialCleanup", "cleanup" },
		[CPROF_GO_WEAK_HANDLE] = { "runtime._KindSpecialWeakHandle", "runtime.specialWeakHandle", "handle" },
	};
	for (int i = 0; i < 3; i++) {
		struct cprof_dwarf_member mem = { k[i].member, -1, -1 };
		uint64_t size;
		l->roots[i].kind = constant(core, m, k[i].kind, -1);
		l->roots[i].off = l->roots[i].len = -1;
		if (l->roots[i].kind >= 0 &&
		    cprof_dwarf_struct(core, m, NULL, k[i].type, &mem, 1, &size) &&
		    mem.offset >= 0 && mem.size > 0 && mem.size <= 64) {
			l->roots[i].off = mem.offset;
			l->roots[i].len = mem.size;
		}
	}
}

static const char *read_profile_layout(struct cprof_core *core, const struct cprof_module *m,
				       struct go_layout *l)
{
	static const char *const special[SPECIAL_N] = { "next", "offset", "kind" };
	static const char *const bucket[BUCKET_N] = { "typ", "size", "nstk", "allnext" };
	static const char *const b[] = { "b" };
	name_members(l->special, special, SPECIAL_N);
	name_members(l->bucket, bucket, BUCKET_N);
	read_root_specials(core, m, l);
	if (!int_members(core, m, "runtime.special", l->special, SPECIAL_N, &l->special_size))
		return "runtime.special";
	if (!int_members(core, m, "runtime.bucket", l->bucket, BUCKET_N, &l->bucket_size))
		return "runtime.bucket";
	if (!all_offsets(core, m, "runtime.specialprofile", b, &l->profile_b, 1, NULL))
		return "runtime.specialprofile";
	l->kind_profile = constant(core, m, "runtime._KindSpecialProfile", -1);
	if (l->kind_profile < 0)
		return "runtime._KindSpecialProfile";
	l->mem_profile = constant(core, m, "runtime.memProfile", -1);
	l->max_stack = constant(core, m, "runtime.maxProfStackDepth", 1024);
	if (l->max_stack <= 0 || l->max_stack > 1 << 16)
		l->max_stack = 1024;
	return NULL;
}

/* ---- the runtime's accounting ---- */

static void read_stats_layout(struct cprof_core *core, const struct cprof_module *m,
			      struct go_layout *l)
{
	static const char *const gcn[] = { "heapInUse", "heapReleased", "heapFree" };
	static const char *const msn[] = { "stacks_sys", "mspan_sys", "mcache_sys",
					   "buckhash_sys", "gcMiscSys", "other_sys" };
	int64_t gc[3] = { -1, -1, -1 }, ms[6] = { -1, -1, -1, -1, -1, -1 };
	offsets(core, m, "runtime.gcControllerState", gcn, gc, 3, NULL);
	offsets(core, m, "runtime.mstats", msn, ms, 6, NULL);
	l->gc_heap_inuse = gc[0];
	l->gc_heap_released = gc[1];
	l->gc_heap_free = gc[2];
	l->ms_stacks_sys = ms[0];
	l->ms_mspan_sys = ms[1];
	l->ms_mcache_sys = ms[2];
	l->ms_buckhash_sys = ms[3];
	l->ms_gc_sys = ms[4];
	l->ms_other_sys = ms[5];
}

struct cprof_error *go_layout_read(struct cprof_core *core, const struct cprof_module *m,
				   struct go_layout *l)
{
	memset(l, 0, sizeof(*l));
	if (!read_goroutine_layout(core, m, l))
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: the runtime's g, m, stack or gobuf structs are not in its DWARF",
					  m->name);
	l->heap_missing = read_heap_layout(core, m, l);
	read_type_layout(core, m, l);
	l->pcln_missing = read_pcln_layout(core, m, l);
	l->stackmap_missing = l->pcln_missing ? l->pcln_missing :
			      read_stackmap_layout(core, m, l);
	l->profile_missing = l->heap_missing ? l->heap_missing :
			     read_profile_layout(core, m, l);
	read_stats_layout(core, m, l);
	return NULL;
}
