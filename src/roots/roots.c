/*
 * roots.c - the roots of a process (see include/cprof/roots.h).
 *
 * Memory roots are built from the segments: each thread's stack and TLS come
 * first, then the modules' writable segments, then whatever anonymous writable
 * memory nobody has claimed (heaps, stacks, TLS, modules, allocator metadata),
 * which becomes a `mapping` root.  Claimed ranges are kept in one sorted array
 * and subtracted from each candidate, so no byte is scanned twice.
 */
#include <assert.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roots-internal.h"

enum {
	RED_ZONE = 128,
	/* glibc's struct pthread and the TCB above fs_base fit in this. */
	TCB_SIZE = 4096,
	/* static TLS beyond the modules' own blocks, for dlopen (glibc's
	   default rtld.optional_static_tls surplus is 512 + 1664 bytes). */
	TLS_SURPLUS = 2048,
};

const char *cprof_root_kind_name(enum cprof_root_kind k)
{
	switch (k) {
	case CPROF_ROOT_REGISTERS: return "registers";
	case CPROF_ROOT_STACK: return "stack";
	case CPROF_ROOT_TLS: return "tls";
	case CPROF_ROOT_GLOBALS: return "globals";
	case CPROF_ROOT_MAPPING: return "mapping";
	case CPROF_ROOT_RUNTIME: return "runtime";
	}
	return "?";
}

const char *cprof_root_kind_label(const struct cprof_root *r)
{
	return r->kind == CPROF_ROOT_RUNTIME && r->owner_kind ? r->owner_kind :
	       cprof_root_kind_name(r->kind);
}

/* The allocator that added RUNTIME root r. */
static const struct cprof_allocator *owner_of(const struct cprof_roots *rs,
					      const struct cprof_root *r)
{
	return r->kind == CPROF_ROOT_RUNTIME && rs->walk && r->owner >= 0 &&
	       (size_t)r->owner < rs->walk->n_allocators ?
	       &rs->walk->allocators[r->owner] : NULL;
}

struct cprof_error *cprof_roots_add(struct cprof_roots *rs,
				    const struct cprof_root *r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 64;
		struct cprof_root *a = realloc(rs->roots, cap * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		rs->roots = a;
		rs->cap = cap;
	}
	rs->roots[rs->n++] = *r;
	return NULL;
}

struct cprof_error *cprof_roots_keep_mask(struct cprof_roots *rs, uint8_t *mask)
{
	uint8_t **a = realloc(rs->masks, (rs->n_masks + 1) * sizeof(*a));
	if (!a) {
		free(mask);
		return &cprof_enomem;
	}
	rs->masks = a;
	rs->masks[rs->n_masks++] = mask;
	return NULL;
}

/* ---- static objects ---- */

static void static_free(struct cprof_static_object *s)
{
	for (size_t k = 0; k < s->n_paths; k++)
		free(s->paths[k]);
	free(s->paths);
}

static int static_cmp(const void *a, const void *b)
{
	const struct cprof_static_object *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

struct cprof_error *cprof_roots_add_statics(struct cprof_roots *rs,
					    struct cprof_static_object *s, size_t n)
{
	if (!n)
		return NULL;
	struct cprof_static_object *a = realloc(rs->statics, (rs->n_statics + n) * sizeof(*a));
	if (!a) {
		for (size_t i = 0; i < n; i++)
			static_free(&s[i]);
		return &cprof_enomem;
	}
	rs->statics = a;
	memcpy(a + rs->n_statics, s, n * sizeof(*s));
	rs->n_statics += n;
	qsort(rs->statics, rs->n_statics, sizeof(*rs->statics), static_cmp);
	for (size_t i = 1; i < rs->n_statics; i++)   /* the provider's promise */
		assert(rs->statics[i - 1].end <= rs->statics[i].start);
	return NULL;
}

const struct cprof_static_object *cprof_roots_static(const struct cprof_roots *rs,
						     uint64_t addr)
{
	size_t lo = 0, hi = rs->n_statics;
	while (lo < hi) {          /* the first object starting above addr */
		size_t mid = lo + (hi - lo) / 2;
		if (rs->statics[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < rs->statics[lo - 1].end ? &rs->statics[lo - 1] : NULL;
}

/* ---- claimed ranges ---- */

struct cprof_error *cprof_root_claim_memory(struct cprof_root_claims *c, uint64_t start,
					    uint64_t end)
{
	return cprof_claim(c->memory, start, end);
}

struct cprof_error *cprof_root_claim_data(struct cprof_root_claims *c, uint64_t start,
					  uint64_t end)
{
	return cprof_claim(c->data, start, end);
}

struct cprof_error *cprof_claim(struct cprof_claims *c, uint64_t start, uint64_t end)
{
	if (end <= start)
		return NULL;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct cprof_range *a = realloc(c->r, cap * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		c->r = a;
		c->cap = cap;
	}
	c->r[c->n].start = start;
	c->r[c->n].end = end;
	c->n++;
	return NULL;
}

static int range_cmp(const void *a, const void *b)
{
	const struct cprof_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Calls fn for each piece of [start, end) that no claim covers. */
static struct cprof_error *each_unclaimed(const struct cprof_claims *c, uint64_t start,
					  uint64_t end,
					  struct cprof_error *(*fn)(uint64_t, uint64_t, void *),
					  void *arg)
{
	uint64_t pos = start;
	for (size_t i = 0; i < c->n && pos < end; i++) {
		if (c->r[i].end <= pos)
			continue;
		if (c->r[i].start >= end)
			break;
		if (c->r[i].start > pos) {
			struct cprof_error *err = fn(pos, c->r[i].start, arg);
			if (err)
				return err;
		}
		if (c->r[i].end > pos)
			pos = c->r[i].end;
	}
	return pos < end ? fn(pos, end, arg) : NULL;
}

/* Whether a claim covers addr (claims need not be sorted). */
static bool claimed(const struct cprof_claims *c, uint64_t addr)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->r[i].start <= addr && addr < c->r[i].end)
			return true;
	return false;
}

/* ---- threads ---- */

/* Sum of the modules' PT_TLS blocks, each rounded to its alignment. */
static uint64_t static_tls_size(struct cprof_core *core)
{
	uint64_t total = 0;
	for (size_t i = 0; i < core->n_modules; i++) {
		uint64_t bias;
		Elf *elf = cprof_core_module_elf(core, &core->modules[i], &bias);
		size_t phnum;
		if (!elf || elf_getphdrnum(elf, &phnum))
			continue;
		for (size_t k = 0; k < phnum; k++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, k, &ph) || ph.p_type != PT_TLS)
				continue;
			uint64_t align = ph.p_align ? ph.p_align : 1;
			total += (ph.p_memsz + align - 1) / align * align;
		}
	}
	return total;
}

void cprof_vector_lane(const struct cprof_thread *t, int lane, const char **kind,
		       int *reg, int *word)
{
	int l = lane;
	if (l < t->n_xmm) {
		*kind = "xmm";
		*reg = l;
		*word = 0;
		return;
	}
	l -= t->n_xmm;
	if (l < t->n_ymmh) {
		*kind = "ymm";
		*reg = l;
		*word = 2;              /* bits 128-255 */
		return;
	}
	l -= t->n_ymmh;
	*kind = "zmm";
	if (l < t->n_zmmh_lanes) {
		*reg = l / 2;           /* bits 256-511 of zmm0-15, two lanes each */
		*word = 4 + 2 * (l % 2);
		return;
	}
	l -= t->n_zmmh_lanes;
	*reg = 16 + l / 4;              /* zmm16-31, four lanes each */
	*word = 2 * (l % 4);
}

size_t cprof_root_register_words(const struct cprof_thread *t, bool vectors,
				 uint64_t *words, char (*names)[16], size_t max)
{
	size_t n = 0;
	for (int r = 0; r < CPROF_NREGS && n < max; r++) {
		/* Selectors and orig_rax never hold pointers. */
		if (r == CPROF_REG_ORIG_RAX || r == CPROF_REG_CS || r == CPROF_REG_SS ||
		    r == CPROF_REG_DS || r == CPROF_REG_ES || r == CPROF_REG_FS ||
		    r == CPROF_REG_GS || r == CPROF_REG_EFLAGS)
			continue;
		words[n] = t->regs[r];
		snprintf(names[n], 16, "%s", cprof_reg_names[r]);
		n++;
	}
	/* Each 16-byte lane of the note gives two words, named by the whole
	   register and the word's index in it, as `info` lists them: xmm7[1]
	   is xmm7's upper 8 bytes, ymm3[2] and ymm3[3] the upper half of ymm3,
	   zmm5[4..7] the upper half of zmm5, zmm20[0..7] all of zmm20. */
	int lanes = vectors ? t->n_xmm + t->n_ymmh + t->n_zmmh_lanes + t->n_hi16_lanes : 0;
	for (int l = 0; l < lanes && n + 2 <= max; l++) {
		const char *kind;
		int reg, word;
		cprof_vector_lane(t, l, &kind, &reg, &word);
		for (int h = 0; h < 2; h++) {
			memcpy(&words[n], t->vec[l] + 8 * h, 8);
			snprintf(names[n], 16, "%s%d[%d]", kind, reg % 100, (word + h) % 100);
			n++;
		}
	}
	return n;
}

/* Where thread i's own stack was left when its registers are on another
 * stack (a Go M in its signal handler, on the runtime's signal stack: every
 * M of a core the Go runtime wrote as it crashed): the first walked
 * allocator that knows says, else 0. */
static uint64_t thread_own_sp(const struct cprof_heap_walk *walk, int i)
{
	for (size_t k = 0; k < walk->n_allocators; k++) {
		const struct cprof_allocator *a = &walk->allocators[k];
		uint64_t sp;
		if (a->heap_state == CPROF_HEAP_WALKED && a->provider->thread_sp &&
		    (sp = a->provider->thread_sp(a, i)))
			return sp;
	}
	return 0;
}

/* Which registers of thread i are roots: the first walked allocator with an
 * opinion decides, else all of them. */
static enum cprof_thread_registers thread_registers(const struct cprof_heap_walk *walk, int i)
{
	for (size_t k = 0; k < walk->n_allocators; k++) {
		const struct cprof_allocator *a = &walk->allocators[k];
		enum cprof_thread_registers tr;
		if (a->heap_state == CPROF_HEAP_WALKED && a->provider->thread_registers &&
		    (tr = a->provider->thread_registers(a, i)) != CPROF_REGISTERS_DEFAULT)
			return tr;
	}
	return CPROF_REGISTERS_ALL;
}

/*
 * The thread's DTV when no heap holds it: the main thread's comes from the
 * dynamic linker's own early allocator (anonymous pages), and its entries
 * point to the TLS blocks of modules loaded later, which malloc allocated.
 * Scanned as part of the thread's TLS ("thread N dtv"), not as anonymous
 * memory nobody owns.  glibc's dtv_t is 16 bytes; the TCB's word at +8
 * points one entry into the array (INSTALL_DTV stores dtv + 1), the entry
 * before holds the modules' count n, and the array has n + 2 entries.
 */
static struct cprof_error *dtv_root(struct cprof_core *core, struct cprof_roots *rs,
				    struct cprof_claims *cl, int i, uint64_t fs)
{
	enum { MAX_DTV = 1 << 16 };  /* modules with TLS: more is no DTV */
	uint64_t dtv, len;
	if (!cprof_core_try_read(core, fs + 8, &dtv, 8) || !dtv || (dtv & 7) || dtv < 16 ||
	    claimed(cl, dtv) || !cprof_core_try_read(core, dtv - 16, &len, 8) || len > MAX_DTV)
		return NULL;
	const struct cprof_segment *seg = cprof_core_segment(core, dtv);
	uint64_t lo = dtv - 16, hi = dtv + 16 * (len + 1);
	if (!seg || !(seg->flags & CPROF_SEG_W) || lo < seg->start || hi > seg->end ||
	    claimed(cl, lo) || claimed(cl, hi - 1))
		return NULL;
	struct cprof_root r = { .kind = CPROF_ROOT_TLS, .thread = i, .module = -1,
				.owner = -1, .start = lo, .end = hi };
	snprintf(r.name, sizeof(r.name), "thread %d dtv", core->threads[i].tid);
	struct cprof_error *err = cprof_roots_add(rs, &r);
	return err ? err : cprof_claim(cl, lo, hi);
}

/* What bounds a thread's stack root besides its mapping: the red zone kept
 * below SP, and the thread's TLS when it sits above the stack. */
struct stack_bounds {
	uint64_t red;
	const struct cprof_segment *tls_seg;
	uint64_t tls_lo;
};

/* Thread i's stack from sp (less the red zone) to the top of its mapping,
 * or to the first claimed range (a heap) or its TLS above it; the whole
 * mapping is claimed, for below SP is dead stack. */
static struct cprof_error *stack_root(struct cprof_core *core, struct cprof_roots *rs,
				      struct cprof_claims *cl, int i, uint64_t sp,
				      const struct stack_bounds *sb)
{
	const struct cprof_thread *t = &core->threads[i];
	const struct cprof_segment *seg = cprof_core_segment(core, sp);
	if (!seg) {
		cprof_warn(core->warnings, "%s: thread %d: stack pointer 0x%llx is in no mapping; its stack is not scanned",
			   core->path, t->tid, (unsigned long long)sp);
		return NULL;
	}
	uint64_t base = seg->start, hi = seg->end;
	/* A stack inside a bigger mapping (a Go goroutine's stack sits in
	   the heap arena, among spans) stops at the heaps around it:
	   otherwise every object above it would be "on the stack". */
	for (size_t c = 0; c < cl->n; c++) {
		const struct cprof_range *cr = &cl->r[c];
		if (cr->start > sp && cr->start < hi)
			hi = cr->start;
		if (cr->end <= sp && cr->end > base)
			base = cr->end;
	}
	/* The red zone holds a leaf function's values, as its registers
	   would: a thread whose registers are no roots (Go's scheduler on
	   its system stack) has none, only stale words. */
	uint64_t lo = sp - sb->red < base || sp < sb->red ? base : (sp - sb->red) & ~7ull;
	if (sb->tls_seg == seg && sb->tls_lo > sp && sb->tls_lo < hi)
		hi = sb->tls_lo;
	struct cprof_root sr = { .kind = CPROF_ROOT_STACK, .thread = i,
				 .module = -1, .owner = -1, .start = lo, .end = hi };
	snprintf(sr.name, sizeof(sr.name), "thread %d stack", t->tid);
	struct cprof_error *err = cprof_roots_add(rs, &sr);
	if (!err)
		err = cprof_claim(cl, base, hi);
	return err;
}

static struct cprof_error *thread_roots(struct cprof_core *core,
					struct cprof_roots *rs, struct cprof_claims *cl,
					const struct cprof_claims *data, uint64_t tls_below)
{
	struct cprof_error *err;
	for (size_t i = 0; i < core->n_threads; i++) {
		const struct cprof_thread *t = &core->threads[i];
		/* A kernel worker of the process (io_uring's iou-wrk threads)
		   never ran user code: its registers are zero or stale, its
		   "stack" none.  Nothing of it is a root. */
		if (!t->regs[CPROF_REG_RSP] && !t->regs[CPROF_REG_RIP]) {
			cprof_warn(core->warnings, "%s: thread %d has no user-space state (rip and rsp are 0: a kernel worker such as io_uring's iou-wrk); none of its registers is a root",
				   core->path, t->tid);
			continue;
		}
		enum cprof_thread_registers regs = thread_registers(rs->walk, (int)i);
		struct cprof_root r = { .kind = CPROF_ROOT_REGISTERS, .thread = (int)i,
					.module = -1, .owner = -1,
					.vectors = regs == CPROF_REGISTERS_ALL };
		snprintf(r.name, sizeof(r.name), "thread %d registers", t->tid);
		if (regs != CPROF_REGISTERS_NONE && (err = cprof_roots_add(rs, &r)))
			return err;

		/* TLS and the TCB around fs_base, within its mapping.  A pthread's
		   TLS sits right above its stack: the outermost frame's SP
		   bounds the TLS from below, so that no frame is taken for TLS. */
		/* In a Go program without cgo, fs_base points into the M (a heap
		   object, or runtime.m0 in the module's .bss, which the
		   runtime's masks scan): heap memory and module data an
		   allocator scans itself are no TLS. */
		uint64_t fs = t->regs[CPROF_REG_FS_BASE];
		const struct cprof_segment *fseg = fs && !claimed(cl, fs) && !claimed(data, fs) ?
						   cprof_core_segment(core, fs) : NULL;
		uint64_t tls_lo = 0, tls_hi = 0, top_sp = 0;
		for (size_t k = 0; k < rs->n_frames[i]; k++)
			if (rs->frames[i][k].sp > top_sp && rs->frames[i][k].sp < fs)
				top_sp = rs->frames[i][k].sp;
		if (fseg) {
			tls_lo = fs - tls_below > fs || fs - tls_below < fseg->start ?
				 fseg->start : (fs - tls_below) & ~7ull;
			if (top_sp >= tls_lo && top_sp < fs &&
			    cprof_core_segment(core, top_sp) == fseg)
				tls_lo = (top_sp + 8) & ~7ull;
			tls_hi = fs + TCB_SIZE > fseg->end ? fseg->end : fs + TCB_SIZE;
			struct cprof_root tr = { .kind = CPROF_ROOT_TLS, .thread = (int)i,
						 .module = -1, .owner = -1, .start = tls_lo,
						 .end = tls_hi };
			snprintf(tr.name, sizeof(tr.name), "thread %d tls", t->tid);
			if ((err = cprof_roots_add(rs, &tr)) || (err = cprof_claim(cl, tls_lo, tls_hi)) ||
			    (err = dtv_root(core, rs, cl, (int)i, fs)))
				return err;
		}

		/* The stack: from below the red zone to the top of its mapping,
		   stopping at the TLS when a thread's TLS sits above its stack. */
		uint64_t sp = t->regs[CPROF_REG_RSP];
		/* A stack some root already covers (a goroutine's, or a Go
		   system stack in the heap arena) is not this thread's; a
		   signal handler's there may have left the thread's own. */
		if (claimed(cl, sp)) {
			sp = thread_own_sp(rs->walk, (int)i);
			if (!sp)
				sp = t->interrupted_sp;
			if (!sp || claimed(cl, sp))
				continue;
		}
		struct stack_bounds sb = { regs == CPROF_REGISTERS_NONE ? 0 : RED_ZONE, fseg, tls_lo };
		if ((err = stack_root(core, rs, cl, (int)i, sp, &sb)))
			return err;
		/* A handler on an alternate signal stack (sigaltstack) left
		   the thread's own stack where the signal came: it is live
		   from there up, the interrupted code's red zone included. */
		uint64_t isp = t->interrupted_sp;
		if (isp && isp != sp && !claimed(cl, isp)) {
			sb.red = RED_ZONE;
			if ((err = stack_root(core, rs, cl, (int)i, isp, &sb)))
				return err;
		}
	}
	return NULL;
}

/* ---- modules ---- */

struct piece_arg {
	struct cprof_roots *rs;
	struct cprof_root proto;
	const char *label;
};

static struct cprof_error *add_piece(uint64_t start, uint64_t end, void *arg)
{
	struct piece_arg *a = arg;
	struct cprof_root r = a->proto;
	r.start = start;
	r.end = end;
	if (r.kind == CPROF_ROOT_MAPPING)
		snprintf(r.name, sizeof(r.name), "mapping 0x%llx-0x%llx",
			 (unsigned long long)start, (unsigned long long)end);
	else
		snprintf(r.name, sizeof(r.name), "%s", a->label);
	return cprof_roots_add(a->rs, &r);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static struct cprof_error *module_roots(struct cprof_core *core,
					struct cprof_roots *rs,
					struct cprof_claims *cl,
					const struct cprof_claims *metadata)
{
	struct cprof_error *err;
	for (size_t i = 0; i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		if ((err = cprof_claim(cl, m->start, m->end)))
			return err;
		char label[160];
		snprintf(label, sizeof(label), "%s data", base_name(m->name));
		for (size_t k = 0; k < core->n_segments; k++) {
			const struct cprof_segment *s = &core->segments[k];
			if (!(s->flags & CPROF_SEG_W) || s->end <= m->start ||
			    s->start >= m->end)
				continue;
			struct piece_arg a = {
				.rs = rs, .label = label,
				.proto = { .kind = CPROF_ROOT_GLOBALS, .thread = -1,
					   .module = (int)i, .owner = -1 },
			};
			uint64_t lo = s->start > m->start ? s->start : m->start;
			uint64_t hi = s->end < m->end ? s->end : m->end;
			/* The rest of the module's own last data page, past _end,
			   is its too: ld.so's early allocator takes it (the
			   main thread's scope list, a PostgreSQL trial's
			   "unowned" 408 bytes) */
			if (s->end > m->end && s->file >= 0 && s->file == m->file) {
				hi = s->end;
				if ((err = cprof_claim(cl, m->end, hi)))
					return err;
			}
			if ((err = each_unclaimed(metadata, lo, hi, add_piece, &a)))
				return err;
		}
	}
	return NULL;
}

struct cprof_error *cprof_roots_find(struct cprof_core *core,
				     const struct cprof_heap_walk *walk,
				     struct cprof_roots *rs)
{
	struct cprof_error *err = NULL;
	struct cprof_claims cl = { 0 }, meta = { 0 };
	for (size_t i = 0; i < walk->n_excluded && !err; i++) {
		err = cprof_claim(&meta, walk->excluded[i].start, walk->excluded[i].end);
		if (!err)
			err = cprof_claim(&cl, walk->excluded[i].start, walk->excluded[i].end);
	}
	for (size_t i = 0; i < walk->n_heaps && !err; i++)
		err = cprof_claim(&cl, walk->heaps[i].start, walk->heaps[i].end);
	/* What the allocators own (Go's heap arenas: spans, goroutine stacks
	   and free pages) is no thread's stack or TLS, nor memory to scan. */
	for (size_t i = 0; i < walk->n_claims && !err; i++)
		err = cprof_claim(&cl, walk->claims[i].start, walk->claims[i].end);
	if (err)
		goto out;
	rs->walk = walk;
	struct cprof_root_claims rc = { &cl, &meta };
	for (size_t i = 0; i < walk->n_allocators; i++) {
		struct cprof_allocator *a = &walk->allocators[i];
		if (a->heap_state == CPROF_HEAP_WALKED && a->provider->roots &&
		    (err = a->provider->roots(core, a, (uint32_t)i, rs, &rc)))
			goto out;
	}
	if (meta.n)
		qsort(meta.r, meta.n, sizeof(*meta.r), range_cmp);

	/* Frames first: they name stack slots and bound each thread's stack. */
	rs->n_threads = core->n_threads;
	rs->frames = calloc(core->n_threads + 1, sizeof(*rs->frames));
	rs->n_frames = calloc(core->n_threads + 1, sizeof(*rs->n_frames));
	if (!rs->frames || !rs->n_frames) {
		err = &cprof_enomem;
		goto out;
	}
	for (size_t i = 0; i < core->n_threads; i++)
		cprof_error_destroy(cprof_core_backtrace(core, core->threads[i].tid,
							 CPROF_MAX_FRAMES,
							 &rs->frames[i], &rs->n_frames[i]));
	if ((err = thread_roots(core, rs, &cl, &meta, static_tls_size(core) + TLS_SURPLUS)) ||
	    (err = module_roots(core, rs, &cl, &meta)))
		goto out;
	if (cl.n)
		qsort(cl.r, cl.n, sizeof(*cl.r), range_cmp);
	/* A runtime that scans only its own roots: anonymous memory is no
	   root of its heap (see roots.h). */
	bool own_roots = cprof_heap_any_flag(walk, CPROF_PROVIDER_OWN_ROOTS);
	for (size_t k = 0; k < core->n_segments && !err && !own_roots; k++) {
		const struct cprof_segment *s = &core->segments[k];
		if ((s->flags & (CPROF_SEG_R | CPROF_SEG_W)) != (CPROF_SEG_R | CPROF_SEG_W))
			continue;
		struct piece_arg a = {
			.rs = rs,
			.proto = { .kind = CPROF_ROOT_MAPPING, .thread = -1, .module = -1,
				   .owner = -1 },
		};
		err = each_unclaimed(&cl, s->start, s->end, add_piece, &a);
	}
	if (err)
		goto out;

out:
	free(cl.r);
	free(meta.r);
	return err;
}

void cprof_roots_deinit(struct cprof_roots *rs)
{
	for (size_t i = 0; i < rs->n_threads && rs->frames; i++)
		free(rs->frames[i]);
	free(rs->frames);
	free(rs->n_frames);
	free(rs->roots);
	for (size_t i = 0; i < rs->n_masks; i++)
		free(rs->masks[i]);
	free(rs->masks);
	for (size_t i = 0; i < rs->n_statics; i++)
		static_free(&rs->statics[i]);
	free(rs->statics);
	memset(rs, 0, sizeof(*rs));
}

/* ---- slot names ---- */

/* The executable's TLS variable at offset off of its TLS block, or NULL. */
static const char *exe_tls_symbol(struct cprof_core *core, uint64_t off,
				  uint64_t *sym_off)
{
	const struct cprof_module *exe = cprof_core_executable(core);
	uint64_t bias;
	Elf *elf = exe ? cprof_core_module_elf(core, exe, &bias) : NULL;
	Elf_Scn *scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; data && i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_TLS)
				continue;
			if (sym.st_value <= off && off < sym.st_value + (sym.st_size ? sym.st_size : 8)) {
				*sym_off = off - sym.st_value;
				return elf_strptr(elf, sh.sh_link, sym.st_name);
			}
		}
	}
	return NULL;
}

/* Where the executable's TLS block starts for fs_base (x86-64 variant II:
 * the first module's block ends at the thread pointer). */
static bool exe_tls_block(struct cprof_core *core, uint64_t fs, uint64_t *ret,
			  uint64_t *size)
{
	const struct cprof_module *exe = cprof_core_executable(core);
	uint64_t bias;
	Elf *elf = exe ? cprof_core_module_elf(core, exe, &bias) : NULL;
	size_t phnum;
	if (!elf || elf_getphdrnum(elf, &phnum))
		return false;
	for (size_t k = 0; k < phnum; k++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, k, &ph) || ph.p_type != PT_TLS)
			continue;
		uint64_t align = ph.p_align ? ph.p_align : 1;
		uint64_t off = (ph.p_memsz + align - 1) / align * align;
		*ret = fs - off;
		*size = ph.p_memsz;
		return true;
	}
	return false;
}

size_t cprof_root_slot_frame(const struct cprof_roots *rs,
			     const struct cprof_root *r, uint64_t slot)
{
	size_t k = 0;
	const struct cprof_frame *f = rs->frames ? rs->frames[r->thread] : NULL;
	size_t nf = rs->n_frames ? rs->n_frames[r->thread] : 0;
	/* Frame k's slots lie between its SP and its caller's SP. */
	while (k + 1 < nf && f[k + 1].sp && f[k + 1].sp <= slot)
		k++;
	return k;
}

bool cprof_root_slot_code(const struct cprof_roots *rs, const struct cprof_root *r,
			  uint64_t slot, uint64_t *pc, uint64_t *cfa)
{
	const struct cprof_allocator *a = owner_of(rs, r);
	return a && a->provider->slot_frame && a->provider->slot_frame(a, r, slot, pc, cfa);
}

void cprof_root_slot_name(struct cprof_core *core, const struct cprof_roots *rs,
			  const struct cprof_root *r, uint64_t slot, char *buf,
			  size_t size)
{
	const struct cprof_thread *t = r->thread >= 0 ? &core->threads[r->thread] : NULL;
	switch (r->kind) {
	case CPROF_ROOT_REGISTERS: {
		uint64_t words[CPROF_MAX_REGISTER_WORDS];
		char names[CPROF_MAX_REGISTER_WORDS][16];
		size_t n = cprof_root_register_words(t, r->vectors, words, names,
						     CPROF_MAX_REGISTER_WORDS);
		snprintf(buf, size, "thread %d register %s", t->tid,
			 slot < n ? names[slot] : "?");
		return;
	}
	case CPROF_ROOT_STACK: {
		const struct cprof_frame *f = rs->frames ? rs->frames[r->thread] : NULL;
		size_t nf = rs->n_frames ? rs->n_frames[r->thread] : 0;
		size_t k = cprof_root_slot_frame(rs, r, slot);
		if (!nf) {
			snprintf(buf, size, "thread %d stack 0x%llx", t->tid,
				 (unsigned long long)slot);
			return;
		}
		struct cprof_symbol sym;
		char fn[256];
		cprof_core_symbolize(core, f[k].pc, !f[k].is_activation, &sym);
		/* A stripped module's frame is named as `info` names it:
		   "git+0x206b2" (the address for no module at all). */
		if (sym.function)
			snprintf(fn, sizeof(fn), "%s", sym.function);
		else
			cprof_symbol_format(&sym, f[k].pc, fn, sizeof(fn));
		if (sym.file) {
			const char *b = strrchr(sym.file, '/');
			snprintf(buf, size, "thread %d frame %zu %s (%s:%d)", t->tid, k, fn,
				 b ? b + 1 : sym.file, sym.line);
		} else {
			snprintf(buf, size, "thread %d frame %zu %s", t->tid, k, fn);
		}
		return;
	}
	case CPROF_ROOT_TLS: {
		uint64_t fs = t->regs[CPROF_REG_FS_BASE], blk, bsize, off;
		const struct cprof_module *exe = cprof_core_executable(core);
		if (exe && exe_tls_block(core, fs, &blk, &bsize) && blk <= slot &&
		    slot < blk + bsize) {
			const char *var = exe_tls_symbol(core, slot - blk, &off);
			if (var) {
				snprintf(buf, size, "thread %d tls %s!%s+0x%llx", t->tid,
					 base_name(exe->name), var, (unsigned long long)off);
				return;
			}
		}
		/* x86-64 tcbhead_t: tcb, dtv, self, ... at fs_base. */
		if (slot == fs + 8)
			snprintf(buf, size, "thread %d tcb dtv", t->tid);
		else if (slot >= fs)
			snprintf(buf, size, "thread %d tcb+0x%llx", t->tid,
				 (unsigned long long)(slot - fs));
		else
			snprintf(buf, size, "thread %d tls fs_base-0x%llx", t->tid,
				 (unsigned long long)(fs - slot));
		return;
	}
	case CPROF_ROOT_GLOBALS: {
		struct cprof_symbol sym;
		char text[256];
		const struct cprof_static_object *so = cprof_roots_static(rs, slot);
		if (so) {          /* "app!main.store.Blocks" */
			size_t w = (slot - so->start) / 8;
			const char *path = w < so->n_paths ? so->paths[w] : NULL;
			const char *mn = core->modules[so->module].name, *b = strrchr(mn, '/');
			if (path)
				snprintf(buf, size, "%s!%s%s", b ? b + 1 : mn, so->name, path);
			else
				snprintf(buf, size, "%s!%s+0x%llx", b ? b + 1 : mn, so->name,
					 (unsigned long long)(slot - so->start));
			return;
		}
		cprof_core_symbolize(core, slot, false, &sym);
		cprof_symbol_format(&sym, slot, text, sizeof(text));
		snprintf(buf, size, "%s", text);
		return;
	}
	case CPROF_ROOT_RUNTIME:
	case CPROF_ROOT_MAPPING: {
		/* an allocator's root as it names it, else by its offset */
		const struct cprof_allocator *a = owner_of(rs, r);
		if (a && a->provider->slot_name)
			a->provider->slot_name(core, a, rs, r, slot, buf, size);
		else
			snprintf(buf, size, "%s +0x%llx", r->name,
				 (unsigned long long)(slot - r->start));
		return;
	}
	}
	snprintf(buf, size, "?");
}
