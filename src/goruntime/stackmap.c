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
 * The frames are the goroutine's, unwound with the pcsp tables as the runtime
 * does (goroutines.c): frame k+1's pc is the word at fp - 8, its sp is frame
 * k's fp, up to a function flagged TOPFRAME (goexit, mstart).
 *
 * Layouts (runtime._func, stackmap, stackObjectRecord, moduledata, pcHeader,
 * g, gobuf, _defer) and the FUNCDATA_, PCDATA_, FuncFlag constants come from
 * the runtime's layout (layout.c).
 *
 * Not handled (false: the caller scans conservatively): reflect.makeFuncStub
 * and methodValueCall frames (args size unknown: the runtime reads their map
 * from the closure), frames outside Go functions (cgo), SPWRITE functions
 * other than the innermost, modules with several text sections.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

/* Reads of the core; false when the bytes are not there. */
static bool rd64(struct cprof_core *core, uint64_t addr, uint64_t *v)
{
	return cprof_core_try_read(core, addr, v, 8);
}

static bool rd32(struct cprof_core *core, uint64_t addr, uint32_t *v)
{
	return cprof_core_try_read(core, addr, v, 4);
}

/* ---- one goroutine ---- */

struct object {                /* a stack object in some frame */
	uint64_t addr, size, ptrbytes, gcdata;
	bool scanned;
};

struct scan {
	struct cprof_core *core;
	const struct cprof_go_runtime *rt;
	const struct go_layout *l;
	const struct go_pcln *pcln;
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
		if (!cprof_core_try_read(s->core, bits + i / 8, buf, n))
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

/* runtime.pcdatavalue and runtime.funcdata of a frame's function */
static int32_t pcdatavalue(struct scan *s, const struct go_func *f, int64_t table, uint64_t pc)
{
	return go_func_pcdata(s->core, s->rt, f, table, pc);
}

static uint64_t funcdata(struct scan *s, const struct go_func *f, int64_t i)
{
	return go_func_funcdata(s->core, s->rt, f, i);
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
static bool add_objects(struct scan *s, const struct go_func *f, uint64_t sp, uint64_t varp,
			uint64_t argp)
{
	const struct go_layout *l = s->l;
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
							s->pcln->rodata + gcdataoff, false };
	}
	return true;
}

/* getStackMap + the precise half of scanframeworker for one frame. */
static bool scan_precise(struct scan *s, const struct go_func *f, uint64_t continpc,
			 uint64_t sp, uint64_t varp, uint64_t argp)
{
	const struct go_layout *l = s->l;
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

/* The conservative half of scanframeworker: locals and args, every word.
 * An assembly function interrupted where it stood (a running goroutine's
 * frame 0; the collector never scans one there) may not say its argument
 * size: its locals alone then (its arguments were in registers, or are its
 * caller's words, which that frame's maps cover). */
static bool scan_conservative(struct scan *s, const struct go_func *f, uint64_t sp,
			      uint64_t varp, uint64_t argp, bool interrupted)
{
	bool unknown = f->args == (int32_t)s->l->c[C_ARGS_UNKNOWN] || f->args < 0;
	if (unknown && !interrupted)
		return false;
	return mark_all(s, sp, varp) &&
	       (unknown || mark_all(s, argp, argp + (uint64_t)f->args));
}

/* The goroutine's frames, from frame 0 to its TOPFRAME function, each
 * scanned. */
static bool scan_frames(struct scan *s)
{
	const struct cprof_goroutine *g = s->g;
	bool conservative = false, callee_sigpanic = false;
	struct go_func f;
	if (!g->frames_complete || g->frames[0].sp != s->lo)
		return false;
	for (size_t k = 0; k < g->n_frames; k++) {
		uint64_t pc = g->frames[k].pc, sp = g->frames[k].sp;
		if (!go_func_find(s->core, s->rt, pc, &f) || f.npcdata >= 256)
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
		bool anywhere = k == 0 && g->frames[0].exact;
		bool ok = conservative || async || anywhere
			? scan_conservative(s, &f, sp, varp, argp, anywhere)
			: scan_precise(s, &f, continpc, sp, varp, argp);
		if (!ok)
			return false;
		/* asyncPreempt saved the registers of the frame it interrupted,
		   which is scanned conservatively too. */
		conservative = async;
		callee_sigpanic = !strcmp(f.name, "runtime.sigpanic");
	}
	return true;
}

/* Pointers into the stack held outside the frames (scanstack). */
static bool seed_g(struct scan *s)
{
	const struct go_layout *l = s->l;
	uint64_t v, d;
	if (rd64(s->core, s->g->g + l->g_sched_ctxt, &v))
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
	const struct go_layout *l = &rt->priv->l;
	if (l->stackmap_missing || !l->c_ok || !rt->priv->pcln.ok || !g->sp_known ||
	    !g->n_frames || g->sp >= g->stack_hi || (g->sp & 7) || g->sp < g->stack_lo)
		return false;
	struct scan s = { .core = core, .rt = rt, .l = l, .pcln = &rt->priv->pcln, .g = g,
			  .mask = mask, .lo = g->sp, .hi = g->stack_hi };
	bool ok = scan_frames(&s) && seed_g(&s) && scan_objects(&s);
	free(s.objs);
	free(s.ptrs);
	return ok;
}
