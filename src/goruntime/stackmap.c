/*
 * stackmap.c - which words of a goroutine's stack hold live pointers, by the
 * runtime's stack maps (see cprof_go_stack_mask in include/cprof/goruntime.h).
 *
 * Why: scanning [sp, stack_hi) word by word keeps whatever a dead local or an
 * old frame left there alive.  The GC scans precisely; we follow it:
 * runtime/mgcmark.go scanstack and scanframeworker, stkframe.go getStackMap,
 * traceback.go (*unwinder).resolveInternal for the frame layout on amd64:
 *
 *   fp   = sp + pcsp(pc) + 8         above the return address
 *   varp = fp - 8, less 8 more for the saved frame pointer when the frame
 *          has one (varp > sp)       the locals end here
 *   argp = fp                        the arguments and results (MinFrameSize 0)
 *
 * The locals map covers [varp - nbit*8, varp), the args map [argp, ...).
 * Stack objects (address-taken locals) are scanned only when a live pointer
 * into the stack reaches them, as the GC does, starting from the maps' words,
 * the defer records' fn and link, g._panic and g.sched.ctxt.
 *
 * Frames are unwound here from frame 0 with the pcsp tables (g->frames came
 * from frame pointers and stop at 64): frame k+1's pc is the word at fp - 8,
 * its sp is frame k's fp, until a function flagged TOPFRAME (goexit, mstart).
 *
 * Layouts (runtime._func, stackmap, stackObjectRecord, moduledata, pcHeader,
 * g, gobuf, _defer) and the FUNCDATA_, PCDATA_, FuncFlag constants come from
 * DWARF.  If a constant is missing, the values of Go 1.18-1.26 are used when
 * the pcHeader magic is one of those versions' (0xfffffff0: 1.18-1.19,
 * 0xfffffff1: 1.20+); otherwise we give up.
 *
 * Not handled (false: the caller scans conservatively): reflect.makeFuncStub
 * and methodValueCall frames (args size unknown: the runtime reads their map
 * from the closure), frames outside Go functions (cgo), SPWRITE functions
 * other than the innermost, modules with several text sections.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

enum { C_FD_ARGS, C_FD_LOCALS, C_FD_OBJS, C_PCD_STACKMAP, C_FF_TOP, C_FF_SPWRITE,
       C_ARGS_UNKNOWN, N_CONSTS };

static const struct { const char *name; int64_t go118; } const_names[N_CONSTS] = {
	{ "internal/abi.FUNCDATA_ArgsPointerMaps", 0 },
	{ "internal/abi.FUNCDATA_LocalsPointerMaps", 1 },
	{ "internal/abi.FUNCDATA_StackObjects", 2 },
	{ "internal/abi.PCDATA_StackMapIndex", 1 },
	{ "internal/abi.FuncFlagTopFrame", 1 },
	{ "internal/abi.FuncFlagSPWrite", 2 },
	{ "internal/abi.ArgsSizeUnknown", -0x80000000ll },
};

/* Read once per (core, rt). */
static struct layouts {
	const struct cprof_core *core;
	const struct cprof_go_runtime *rt;
	const struct cprof_module *module;
	bool ok;
	int64_t c[N_CONSTS];
	/* runtime._func; the pcdata offsets start right after nfuncdata */
	int64_t f_args, f_deferreturn, f_pcsp, f_npcdata, f_flag, f_nfuncdata;
	int64_t sm_n, sm_nbit, sm_bytedata;            /* runtime.stackmap */
	int64_t so_off, so_size, so_ptrbytes, so_gcdataoff;   /* stackObjectRecord */
	uint64_t so_sizeof;
	int64_t g_ctxt, g_defer, g_panic;              /* in runtime.g */
	int64_t d_fn, d_link;                          /* runtime._defer */
	uint64_t gofunc, rodata;                       /* firstmoduledata's */
} lay;

/* Fills offs[i] with member names[i] of struct name (all required). */
static bool members(struct cprof_core *core, const struct cprof_module *m,
		    const char *name, const char *const *names, int64_t *offs, size_t n,
		    uint64_t *size)
{
	if (!go_offsets(core, m, name, names, offs, n, size))
		return false;
	for (size_t i = 0; i < n; i++)
		if (offs[i] < 0)
			return false;
	return true;
}

/* Reads of the core; false when the bytes are not there. */
static bool rd64(struct cprof_core *core, uint64_t addr, uint64_t *v)
{
	struct cprof_error *err = cprof_core_read_u64(core, addr, v);
	cprof_error_destroy(err);
	return !err;
}

static bool rd32(struct cprof_core *core, uint64_t addr, uint32_t *v)
{
	struct cprof_error *err = cprof_core_read(core, addr, v, 4);
	cprof_error_destroy(err);
	return !err;
}

static bool rd8(struct cprof_core *core, uint64_t addr, uint8_t *v)
{
	struct cprof_error *err = cprof_core_read(core, addr, v, 1);
	cprof_error_destroy(err);
	return !err;
}

/* The constants from DWARF, else Go 1.18+'s when the pclntab is 1.18+'s. */
static bool constants(struct cprof_core *core, const struct cprof_module *m,
		      uint64_t pcheader, int64_t magic_off, int64_t *c)
{
	uint32_t magic = 0;
	bool known = rd32(core, pcheader + magic_off, &magic) &&
		     (magic == 0xfffffff0 || magic == 0xfffffff1);
	for (int i = 0; i < N_CONSTS; i++) {
		if (cprof_dwarf_constant(core, m, const_names[i].name, &c[i]))
			continue;
		if (!known)
			return false;
		c[i] = const_names[i].go118;
	}
	return true;
}

static bool open_layouts(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 struct layouts *l)
{
	static const char *const fn[] = { "args", "deferreturn", "pcsp", "npcdata",
					  "flag", "nfuncdata" };
	static const char *const smn[] = { "n", "nbit", "bytedata" };
	static const char *const son[] = { "off", "size", "gcdataoff", "ptrBytes" };
	static const char *const son_old[] = { "_ptrdata" };   /* before Go 1.24 */
	static const char *const mdn[] = { "gofunc", "rodata", "pcHeader" };
	static const char *const gn[] = { "sched", "_defer", "_panic" };
	static const char *const ctxtn[] = { "ctxt" };
	static const char *const dn[] = { "fn", "link" };
	static const char *const magicn[] = { "magic" };
	const struct cprof_module *m = rt->module;
	int64_t f[6], sm[3], so[4], md[3], g[3], ctxt, d[2], magic;
	uint64_t mdaddr, pchdr;
	if (!m || !cprof_core_find_symbol(core, m, "runtime.firstmoduledata", &mdaddr, NULL) ||
	    !members(core, m, "runtime._func", fn, f, 6, NULL) ||
	    !members(core, m, "runtime.stackmap", smn, sm, 3, NULL) ||
	    (!members(core, m, "runtime.stackObjectRecord", son, so, 4, &l->so_sizeof) &&
	     (!members(core, m, "runtime.stackObjectRecord", son, so, 3, &l->so_sizeof) ||
	      !members(core, m, "runtime.stackObjectRecord", son_old, &so[3], 1, NULL))) ||
	    !members(core, m, "runtime.moduledata", mdn, md, 3, NULL) ||
	    !members(core, m, "runtime.g", gn, g, 3, NULL) ||
	    !members(core, m, "runtime.gobuf", ctxtn, &ctxt, 1, NULL) ||
	    !members(core, m, "runtime._defer", dn, d, 2, NULL) ||
	    !members(core, m, "runtime.pcHeader", magicn, &magic, 1, NULL) ||
	    !rd64(core, mdaddr + md[0], &l->gofunc) || !rd64(core, mdaddr + md[1], &l->rodata) ||
	    !rd64(core, mdaddr + md[2], &pchdr) ||
	    !constants(core, m, pchdr, magic, l->c) || l->so_sizeof < 16)
		return false;
	l->f_args = f[0]; l->f_deferreturn = f[1]; l->f_pcsp = f[2];
	l->f_npcdata = f[3]; l->f_flag = f[4]; l->f_nfuncdata = f[5];
	l->sm_n = sm[0]; l->sm_nbit = sm[1]; l->sm_bytedata = sm[2];
	l->so_off = so[0]; l->so_size = so[1]; l->so_gcdataoff = so[2]; l->so_ptrbytes = so[3];
	l->g_ctxt = g[0] + ctxt; l->g_defer = g[1]; l->g_panic = g[2];
	l->d_fn = d[0]; l->d_link = d[1];
	return true;
}

/* ---- one goroutine ---- */

struct object {                /* a stack object in some frame */
	uint64_t addr, size, ptrbytes, gcdata;
	bool scanned;
};

struct scan {
	struct cprof_core *core;
	const struct cprof_go_runtime *rt;
	const struct layouts *l;
	const struct cprof_goroutine *g;
	uint8_t *mask;
	uint64_t lo, hi;           /* the mask's range: [g->sp, g->stack_hi) */
	struct object *objs;
	size_t n_objs, cap_objs;
	uint64_t *ptrs;            /* pointers into the stack still to resolve */
	size_t n_ptrs, cap_ptrs;
	bool oom;
};

static bool grow(void **p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	void *q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

/* A value the GC would put on its stack-pointer queue (state.putPtr). */
static void push_ptr(struct scan *s, uint64_t v)
{
	if (v < s->g->stack_lo || v >= s->g->stack_hi)
		return;
	if (!grow((void **)&s->ptrs, &s->cap_ptrs, s->n_ptrs, sizeof(*s->ptrs))) {
		s->oom = true;
		return;
	}
	s->ptrs[s->n_ptrs++] = v;
}

/* The word at addr holds a live pointer: mark it and follow it if it points
 * into the stack.  False when addr is outside the mask (a bad frame). */
static bool mark(struct scan *s, uint64_t addr)
{
	uint64_t v;
	/* The whole word inside: the mask has (hi - lo) / 8 bits. */
	if (addr < s->lo || addr + 8 > s->hi || addr + 8 < addr || (addr & 7))
		return false;
	uint64_t i = (addr - s->lo) / 8;
	s->mask[i / 8] |= (uint8_t)(1u << (i % 8));
	if (rd64(s->core, addr, &v))
		push_ptr(s, v);
	return true;
}

/* Words [base, base + 8 * nbit) by the bitmap at bits (1 bit per word). */
static bool mark_bits(struct scan *s, uint64_t base, uint64_t bits, uint64_t nbit)
{
	if (base < s->lo || base > s->hi || nbit > (s->hi - base) / 8)
		return false;
	uint8_t buf[256];
	for (uint64_t i = 0; i < nbit; i += 8 * sizeof(buf)) {
		uint64_t n = (nbit - i + 7) / 8 < sizeof(buf) ? (nbit - i + 7) / 8 : sizeof(buf);
		struct cprof_error *err = cprof_core_read(s->core, bits + i / 8, buf, n);
		cprof_error_destroy(err);
		if (err)
			return false;
		for (uint64_t j = 0; j < 8 * n && i + j < nbit; j++)
			if ((buf[j / 8] >> (j % 8)) & 1)
				mark(s, base + 8 * (i + j));
	}
	return true;
}

/* Every word of [from, to): a frame the runtime scans conservatively. */
static bool mark_all(struct scan *s, uint64_t from, uint64_t to)
{
	if (from < s->lo || to > s->hi || from > to)
		return false;
	for (uint64_t a = from; a < to; a += 8)
		mark(s, a);
	return true;
}

/* A function's record: what getStackMap and the unwinder read of it. */
struct func {
	uint64_t func, entry;
	int32_t args;
	uint32_t deferreturn, pcsp, npcdata;
	uint8_t flag, nfuncdata;
	char name[128];
};

static bool read_func(struct scan *s, uint64_t pc, struct func *f)
{
	const struct layouts *l = s->l;
	uint32_t args;
	if (!cprof_go_func_at(s->core, s->rt, pc, &f->func, &f->entry, f->name, sizeof(f->name)) ||
	    !rd32(s->core, f->func + l->f_args, &args) ||
	    !rd32(s->core, f->func + l->f_deferreturn, &f->deferreturn) ||
	    !rd32(s->core, f->func + l->f_pcsp, &f->pcsp) ||
	    !rd32(s->core, f->func + l->f_npcdata, &f->npcdata) ||
	    !rd8(s->core, f->func + l->f_flag, &f->flag) ||
	    !rd8(s->core, f->func + l->f_nfuncdata, &f->nfuncdata))
		return false;
	f->args = (int32_t)args;
	return f->npcdata < 256;   /* a handful in practice: more is garbage */
}

/* runtime.pcdatavalue */
static int32_t pcdatavalue(struct scan *s, const struct func *f, int64_t table, uint64_t pc)
{
	uint32_t off;
	if (table < 0 || table >= f->npcdata ||
	    !rd32(s->core, f->func + s->l->f_nfuncdata + 1 + 4 * (uint64_t)table, &off))
		return -1;
	return cprof_go_pcvalue(s->core, s->rt, off, f->entry, pc);
}

/* runtime.funcdata: its address, 0 when absent (or unreadable). */
static uint64_t funcdata(struct scan *s, const struct func *f, int64_t i)
{
	uint32_t off;
	if (i < 0 || i >= f->nfuncdata ||
	    !rd32(s->core, f->func + s->l->f_nfuncdata + 1 + 4 * ((uint64_t)f->npcdata + i), &off) ||
	    off == UINT32_MAX)
		return 0;
	return s->l->gofunc + off;
}

/* Map `index` of the runtime.stackmap at addr: its bits' address and count.
 * False when the map is missing or index is out of range ("missing
 * stackmap", "bad symbol table" for the runtime). */
static bool stackmap(struct scan *s, uint64_t addr, int32_t index, uint64_t *bits,
		     uint64_t *nbit)
{
	uint32_t n, nb;
	if (!addr || !rd32(s->core, addr + s->l->sm_n, &n) ||
	    !rd32(s->core, addr + s->l->sm_nbit, &nb) || (int32_t)n <= 0 || (int32_t)nb < 0)
		return false;
	*nbit = nb;
	if (!nb)
		return true;   /* nothing to scan: no index needed */
	if (index < 0 || (uint32_t)index >= n)
		return false;
	*bits = addr + s->l->sm_bytedata + (uint64_t)index * ((nb + 7) / 8);
	return true;
}

/* The frame's stack objects (funcdata: a uintptr count, then the records). */
static bool add_objects(struct scan *s, const struct func *f, uint64_t sp, uint64_t varp,
			uint64_t argp)
{
	const struct layouts *l = s->l;
	uint64_t p = funcdata(s, f, l->c[C_FD_OBJS]), n;
	if (!p)
		return true;
	if (!rd64(s->core, p, &n) || n > (s->hi - s->lo) / 8)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = p + 8 + i * l->so_sizeof;
		uint32_t off, size, ptrbytes, gcdataoff;
		if (!rd32(s->core, r + l->so_off, &off) || !rd32(s->core, r + l->so_size, &size) ||
		    !rd32(s->core, r + l->so_ptrbytes, &ptrbytes) ||
		    !rd32(s->core, r + l->so_gcdataoff, &gcdataoff))
			return false;
		uint64_t addr = ((int32_t)off < 0 ? varp : argp) + (int64_t)(int32_t)off;
		if (addr < sp)
			continue;   /* not allocated in the frame yet */
		if (!grow((void **)&s->objs, &s->cap_objs, s->n_objs, sizeof(*s->objs)))
			return false;
		s->objs[s->n_objs++] = (struct object){ addr, size, ptrbytes,
							l->rodata + gcdataoff, false };
	}
	return true;
}

/* getStackMap + the precise half of scanframeworker for one frame. */
static bool scan_precise(struct scan *s, const struct func *f, uint64_t continpc,
			 uint64_t sp, uint64_t varp, uint64_t argp)
{
	const struct layouts *l = s->l;
	if (!continpc)
		return true;   /* the frame is dead (sigpanic without deferreturn) */
	int32_t index = -1;
	if (continpc != f->entry)   /* back up to the CALL; at entry the entry map */
		index = pcdatavalue(s, f, l->c[C_PCD_STACKMAP], continpc - 1);
	if (index == -1)
		index = 0;     /* "likely the prologue": as the runtime */
	uint64_t bits = 0, nbit = 0;
	if (varp > sp) {   /* locals, when the frame has any (MinFrameSize 0) */
		if (!stackmap(s, funcdata(s, f, l->c[C_FD_LOCALS]), index, &bits, &nbit) ||
		    (nbit && !mark_bits(s, varp - 8 * nbit, bits, nbit)))
			return false;
	}
	if (f->args == (int32_t)l->c[C_ARGS_UNKNOWN] || f->args < 0)
		return false;  /* reflect stubs: their map is in the closure */
	if (f->args > 0) {
		if (!stackmap(s, funcdata(s, f, l->c[C_FD_ARGS]), index, &bits, &nbit) ||
		    (nbit && !mark_bits(s, argp, bits, nbit)))
			return false;
	}
	return add_objects(s, f, sp, varp, argp);
}

/* The conservative half of scanframeworker: locals and args, every word. */
static bool scan_conservative(struct scan *s, const struct func *f, uint64_t sp,
			      uint64_t varp, uint64_t argp)
{
	if (f->args == (int32_t)s->l->c[C_ARGS_UNKNOWN] || f->args < 0)
		return false;
	return mark_all(s, sp, varp) && mark_all(s, argp, argp + (uint64_t)f->args);
}

/* The frames from frame 0 to a TOPFRAME function, each scanned. */
static bool scan_frames(struct scan *s)
{
	const struct cprof_goroutine *g = s->g;
	uint64_t pc = g->frames[0].pc, sp = g->frames[0].sp;
	bool innermost = true, conservative = false, callee_sigpanic = false;
	struct func f;
	if (sp != s->lo)
		return false;
	for (;;) {
		if (!read_func(s, pc, &f))
			return false;   /* not Go code: cgo, or a bad return address */
		int32_t spdelta = cprof_go_pcvalue(s->core, s->rt, f.pcsp, f.entry, pc);
		if (spdelta < 0 || (spdelta & 7))
			return false;
		uint64_t fp = sp + (uint64_t)spdelta + 8, varp = fp - 8, argp = fp;
		if (fp > s->hi)
			return false;
		if (varp > sp)
			varp -= 8;  /* the saved frame pointer */
		/* As the unwinder: a frame whose callee trapped continues at its
		   deferreturn call, if any, else never. */
		uint64_t continpc = pc;
		if (callee_sigpanic)
			continpc = f.deferreturn ? f.entry + f.deferreturn + 1 : 0;
		bool async = !strcmp(f.name, "runtime.asyncPreempt") ||
			     !strcmp(f.name, "runtime.debugCallV2");
		/* A running goroutine's frame 0 stopped anywhere, not at a safe
		   point: its maps do not hold there. */
		bool anywhere = innermost && g->pc0_exact;
		bool ok = conservative || async || anywhere
			? scan_conservative(s, &f, sp, varp, argp)
			: scan_precise(s, &f, continpc, sp, varp, argp);
		if (!ok)
			return false;
		/* asyncPreempt saved the registers of the frame it interrupted,
		   which is scanned conservatively too. */
		conservative = async;
		if (f.flag & s->l->c[C_FF_TOP])
			return true;
		if (f.flag & s->l->c[C_FF_SPWRITE])
			return innermost;   /* the runtime stops there, or throws */
		uint64_t lr;
		if (!rd64(s->core, fp - 8, &lr))
			return false;
		if (!lr)
			return true;
		callee_sigpanic = !strcmp(f.name, "runtime.sigpanic");
		pc = lr;
		sp = fp;
		innermost = false;
	}
}

/* Pointers into the stack held outside the frames (scanstack). */
static bool seed_g(struct scan *s)
{
	const struct layouts *l = s->l;
	uint64_t v, d;
	if (rd64(s->core, s->g->g + l->g_ctxt, &v))
		push_ptr(s, v);
	if (rd64(s->core, s->g->g + l->g_panic, &v) && v)
		push_ptr(s, v);   /* panics are always on the stack */
	if (!rd64(s->core, s->g->g + l->g_defer, &d))
		return false;
	/* A defer record on the stack: its fn and link are live pointer words
	   (mark), one in the heap only leads to stack objects (push). */
	for (size_t k = 0; d && k < 100000; k++) {
		uint64_t fn = 0, link = 0;
		if (!rd64(s->core, d + l->d_fn, &fn) || !rd64(s->core, d + l->d_link, &link))
			return false;
		if (fn && !mark(s, d + l->d_fn))
			push_ptr(s, fn);
		if (link && !mark(s, d + l->d_link))
			push_ptr(s, link);
		d = link;
	}
	return true;
}

static int object_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct object *)a)->addr, y = ((const struct object *)b)->addr;
	return x < y ? -1 : x > y;
}

/* The object holding p (state.findObject), or NULL. */
static struct object *find_object(struct scan *s, uint64_t p)
{
	size_t lo = 0, hi = s->n_objs;
	while (lo < hi) {   /* the first object above p */
		size_t mid = lo + (hi - lo) / 2;
		if (s->objs[mid].addr <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || p - s->objs[lo - 1].addr >= s->objs[lo - 1].size)
		return NULL;
	return &s->objs[lo - 1];
}

/* Scans the stack objects the queued pointers reach, each once, by their
 * type's pointer mask (the loop at the end of scanstack). */
static bool scan_objects(struct scan *s)
{
	if (s->n_objs)     /* qsort's array may not be NULL, even empty */
		qsort(s->objs, s->n_objs, sizeof(*s->objs), object_cmp);
	while (s->n_ptrs && !s->oom) {
		struct object *o = find_object(s, s->ptrs[--s->n_ptrs]);
		if (!o || o->scanned)
			continue;
		o->scanned = true;
		if (o->ptrbytes > o->size || !mark_bits(s, o->addr, o->gcdata, o->ptrbytes / 8))
			return false;
	}
	return !s->oom;
}

bool cprof_go_stack_mask(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 const struct cprof_goroutine *g, uint8_t *mask)
{
	struct layouts *l = &lay;
	if (l->core != core || l->rt != rt || l->module != rt->module) {
		memset(l, 0, sizeof(*l));
		l->core = core;
		l->rt = rt;
		l->module = rt->module;
		l->ok = open_layouts(core, rt, l);
	}
	if (!l->ok || !g->sp_known || !g->n_frames || g->sp >= g->stack_hi || (g->sp & 7) ||
	    g->sp < g->stack_lo)
		return false;
	struct scan s = { .core = core, .rt = rt, .l = l, .g = g, .mask = mask,
			  .lo = g->sp, .hi = g->stack_hi };
	bool ok = scan_frames(&s) && seed_g(&s) && scan_objects(&s);
	free(s.objs);
	free(s.ptrs);
	return ok;
}
