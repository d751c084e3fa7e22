/*
 * goroutines.c - the goroutines of a Go process, read from its core: who they
 * are (runtime.allgs), where their stacks are in use from, their frames and
 * the calls inlined in each, their groups (see include/cprof/goruntime.h).
 *
 * A goroutine that is not running saved its SP and PC in g.sched
 * (g.syscallsp/pc in a system call); a running one is on a thread:
 * runtime.allm lists the Ms, m.curg is the goroutine and m.procid the
 * thread's id, whose registers are in the core.  When the thread was in a
 * signal handler as the core was written (every thread of a GOTRACEBACK=crash
 * core is: the runtime signals them all to print their registers), its
 * registers are the handler's, on the M's signal stack (m.gsignal); the
 * goroutine's own are in the kernel's signal frame there, found by its
 * return address (the handler's restorer, runtime.sigreturn__sigaction or
 * libc's __restore_rt) and checked against the goroutine's stack.
 *
 * Frames are unwound as the runtime unwinds them (traceback.go): the pcsp
 * table of each function gives its frame size at the pc, the return address
 * is the word below the caller's SP, until a function flagged TOPFRAME
 * (goexit).  Frame pointers are not enough: an assembly function without a
 * frame (a raw system call) would hide its caller.  Each frame's pc then
 * expands into the calls inlined there (cprof_go_pc_calls).
 *
 * Dead goroutines (Gdead: kept in allgs for reuse, without a stack) are
 * counted, not listed.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

enum {
	MAX_GO_FRAMES = 1 << 16,   /* a deeper stack is scanned word by word */
	MAX_CALLS_PER_FRAME = 64,  /* inlined calls at one pc */
	MAX_G_WARNINGS = 20,
	MAX_MS = 1 << 16,
	SIGSTACK_SEARCH = 1 << 16, /* bytes of the signal stack searched */
	CALL_BLOCK = 4096,
};

/* An M of runtime.allm. */
struct m_info {
	uint64_t curg, procid, gsignal_lo, gsignal_hi;
	int thread;                /* index into core->threads, or -1 */
};

struct reader {
	struct cprof_core *core;
	struct cprof_go_runtime *rt;
	const struct go_layout *l;
	struct m_info *ms;
	size_t n_ms;
	/* calls per (pc, exact): open addressing; calls live in blocks that
	   never move (struct call_block) */
	struct pc_calls { uint64_t key; const struct cprof_go_call *calls; uint32_t n; } *cache;
	size_t n_cache, cap_cache;
};

/* The calls of every frame live in blocks of CALL_BLOCK, chained, freed with
 * the runtime (go_calls_free). */
struct call_block {
	struct call_block *next;
	size_t used;
	struct cprof_go_call calls[CALL_BLOCK];
};

static bool rd64(struct cprof_core *core, uint64_t addr, uint64_t *v)
{
	return cprof_core_try_read(core, addr, v, 8);
}

static uint64_t word_at(const uint8_t *buf, size_t len, int64_t off, size_t size)
{
	uint64_t v = 0;
	if (off >= 0 && (size_t)off + size <= len)
		memcpy(&v, buf + off, size);
	return v;
}

/* ---- the Ms ---- */

static void read_ms(struct reader *r)
{
	const struct go_layout *l = r->l;
	uint64_t allm_addr, mp = 0;
	if (!cprof_core_find_symbol(r->core, r->rt->module, "runtime.allm", &allm_addr, NULL) ||
	    !rd64(r->core, allm_addr, &mp))
		return;
	size_t cap = 0;
	for (size_t k = 0; mp && k < MAX_MS; k++) {
		struct m_info m = { .thread = -1 };
		uint64_t next = 0, gsignal = 0;
		if (!rd64(r->core, mp + l->m_curg, &m.curg) ||
		    !rd64(r->core, mp + l->m_procid, &m.procid) ||
		    !rd64(r->core, mp + l->m_alllink, &next))
			return;
		if (l->m_gsignal >= 0 && rd64(r->core, mp + l->m_gsignal, &gsignal) && gsignal &&
		    (!rd64(r->core, gsignal + l->g_stack_lo, &m.gsignal_lo) ||
		     !rd64(r->core, gsignal + l->g_stack_hi, &m.gsignal_hi)))
			m.gsignal_lo = m.gsignal_hi = 0;
		for (size_t t = 0; t < r->core->n_threads; t++)
			if ((uint64_t)r->core->threads[t].tid == m.procid)
				m.thread = (int)t;
		if (r->n_ms == cap) {
			struct m_info *a = realloc(r->ms, (cap = cap ? 2 * cap : 16) * sizeof(*a));
			if (!a)
				return;
			r->ms = a;
		}
		r->ms[r->n_ms++] = m;
		mp = next;
	}
}

/* The M running goroutine gaddr (its curg), or NULL. */
static const struct m_info *m_of(const struct reader *r, uint64_t gaddr)
{
	for (size_t i = 0; i < r->n_ms; i++)
		if (r->ms[i].curg == gaddr)
			return &r->ms[i];
	return NULL;
}


/*
 * The registers a signal interrupted on goroutine g's stack: the kernel's
 * frame (x86-64 rt_sigframe: the restorer's address, then a ucontext whose
 * mcontext holds r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip) on the
 * M's signal stack above the thread's SP.  The lowest frame whose rsp is on
 * g's stack is the one being handled.
 */
/* The lowest kernel signal frame on m's signal stack above its thread's SP
 * whose interrupted rsp is in [lo, hi) but not on the signal stack itself
 * (a signal raised inside the handler: the runtime's crash re-raises it),
 * and rip is not 0. */
static bool sigframe_into(const struct reader *r, const struct m_info *m, uint64_t lo,
			  uint64_t hi, uint64_t *pc, uint64_t *sp);

static bool signal_frame(const struct reader *r, const struct m_info *m,
			 const struct cprof_goroutine *g, uint64_t *pc, uint64_t *sp)
{
	return sigframe_into(r, m, g->stack_lo, g->stack_hi, pc, sp);
}

/* What a signal interrupted on m's thread: the rsp of the lowest signal frame
 * on its signal stack, when that is off the signal stack (a goroutine's stack
 * in the heap arena, which the roots know as claimed, or the thread's own:
 * C code of a cgo call, the scheduler on a cgo M's pthread stack), else 0. */
static uint64_t thread_interrupted_sp(const struct reader *r, const struct m_info *m)
{
	uint64_t pc, sp;
	return sigframe_into(r, m, 0, UINT64_MAX, &pc, &sp) ? sp : 0;
}

static bool sigframe_into(const struct reader *r, const struct m_info *m, uint64_t lo,
			  uint64_t hi, uint64_t *pc, uint64_t *sp)
{
	enum { UC = 8, MC = UC + 40, RSP = MC + 8 * 15, RIP = MC + 8 * 16 };
	const struct cprof_thread *t = &r->core->threads[m->thread];
	uint64_t from = t->regs[CPROF_REG_RSP] & ~7ull;
	if (from < m->gsignal_lo || from >= m->gsignal_hi)
		return false;
	uint64_t to = m->gsignal_hi - from > SIGSTACK_SEARCH ? from + SIGSTACK_SEARCH :
		      m->gsignal_hi;
	uint64_t *w = malloc(to - from);
	struct cprof_error *err = w ? cprof_core_read(r->core, from, w, to - from) : &cprof_enomem;
	bool found = false;
	for (uint64_t a = from; !err && !found && a + RIP + 8 <= to; a += 8) {
		uint64_t v = w[(a - from) / 8];
		bool ret = false;
		/* the restorers the core model found (src/core/sigframe.c) */
		for (size_t i = 0; i < r->core->n_restorers; i++)
			ret |= v == r->core->restorers[i];
		uint64_t rsp = w[(a + RSP - from) / 8], rip = w[(a + RIP - from) / 8];
		bool want = rsp >= lo && rsp < hi && rip &&
			    !(rsp >= m->gsignal_lo && rsp < m->gsignal_hi);
		if (!ret && want)
			ret = cprof_core_is_sigreturn(r->core, v);
		if (ret && want) {
			*sp = rsp;
			*pc = rip;
			found = true;
		}
	}
	cprof_error_destroy(err);
	free(w);
	return found;
}

/* ---- frames and their calls ---- */

static const struct cprof_go_call *store_calls(struct cprof_go_runtime *rt,
					       const struct cprof_go_call *calls, size_t n)
{
	struct call_block *b = (struct call_block *)rt->priv->calls;
	if (!b || b->used + n > CALL_BLOCK) {
		struct call_block *nb = malloc(sizeof(*nb));
		if (!nb)
			return NULL;
		nb->next = b;
		nb->used = 0;
		rt->priv->calls = (struct cprof_go_call *)nb;
		b = nb;
	}
	struct cprof_go_call *dst = &b->calls[b->used];
	memcpy(dst, calls, n * sizeof(*calls));
	b->used += n;
	return dst;
}

void go_calls_free(struct cprof_go_private *p)
{
	struct call_block *b = (struct call_block *)p->calls;
	while (b) {
		struct call_block *next = b->next;
		free(b);
		b = next;
	}
	p->calls = NULL;
}

/* The calls at a frame's pc, read once per (pc, exact). */
static bool frame_calls(struct reader *r, struct cprof_go_frame *f)
{
	uint64_t key = (f->pc << 1 | f->exact) + 1;
	if (2 * (r->n_cache + 1) > r->cap_cache) {
		size_t cap = r->cap_cache ? 2 * r->cap_cache : 1024;
		struct pc_calls *c = calloc(cap, sizeof(*c));
		if (!c)
			return false;
		for (size_t i = 0; i < r->cap_cache; i++) {
			if (!r->cache[i].key)
				continue;
			size_t h = (r->cache[i].key * 0x9e3779b97f4a7c15ull) & (cap - 1);
			while (c[h].key)
				h = (h + 1) & (cap - 1);
			c[h] = r->cache[i];
		}
		free(r->cache);
		r->cache = c;
		r->cap_cache = cap;
	}
	size_t h = (key * 0x9e3779b97f4a7c15ull) & (r->cap_cache - 1);
	while (r->cache[h].key && r->cache[h].key != key)
		h = (h + 1) & (r->cap_cache - 1);
	if (!r->cache[h].key) {
		struct cprof_go_call calls[MAX_CALLS_PER_FRAME];
		size_t n = cprof_go_pc_calls(r->core, r->rt, f->pc, !f->exact, calls,
					     MAX_CALLS_PER_FRAME);
		if (!n) {          /* not Go code: its address alone */
			calls[0] = (struct cprof_go_call){ "?", "?", 0, false };
			n = 1;
		}
		const struct cprof_go_call *stored = store_calls(r->rt, calls, n);
		if (!stored)
			return false;
		r->cache[h] = (struct pc_calls){ key, stored, (uint32_t)n };
		r->n_cache++;
	}
	f->calls = r->cache[h].calls;
	f->n_calls = r->cache[h].n;
	return true;
}

/* Whether the caller of f resumes exactly where it stopped (f was injected:
 * a trap's sigpanic, an asynchronous preemption, a debugger's call). */
static bool injected(const struct go_func *f)
{
	return !strcmp(f->name, "runtime.sigpanic") || !strcmp(f->name, "runtime.asyncPreempt") ||
	       !strcmp(f->name, "runtime.debugCallV2");
}

/* Unwinds g from (pc, sp), as the runtime's unwinder (traceback.go): fp = sp +
 * pcsp(pc) + 8, the return address at fp - 8, the caller's sp = fp. */
static bool unwind(struct reader *r, struct cprof_goroutine *g, uint64_t pc, uint64_t sp,
		   bool exact)
{
	const struct go_layout *l = r->l;
	size_t cap = 16;
	struct cprof_go_frame *frames = malloc(cap * sizeof(*frames));
	if (!frames)
		return false;
	g->frames = frames;
	for (size_t n = 0;; n++) {
		struct go_func f;
		if (n == MAX_GO_FRAMES)
			break;
		if (n == cap) {
			struct cprof_go_frame *a = realloc(g->frames, (cap *= 2) * sizeof(*a));
			if (!a)
				return false;
			g->frames = a;
		}
		struct cprof_go_frame *fr = &g->frames[n];
		*fr = (struct cprof_go_frame){ .pc = pc, .sp = sp, .exact = exact,
					       .depth = (uint32_t)g->n_calls };
		if (!frame_calls(r, fr))
			return false;
		g->n_frames = n + 1;
		g->n_calls += fr->n_calls;
		if (!go_func_find(r->core, r->rt, pc, &f))
			break;             /* not Go code: a bad return address */
		if (f.flag & l->c[C_FF_TOP]) {
			g->frames_complete = true;
			break;
		}
		if (f.flag & l->c[C_FF_SPWRITE]) {
			/* the runtime cannot unwind past it either */
			g->frames_complete = n == 0;
			break;
		}
		int32_t spdelta = cprof_go_pcvalue(r->core, r->rt, f.pcsp, f.entry, pc);
		uint64_t fp = sp + (uint64_t)spdelta + 8, lr;
		if (spdelta < 0 || (spdelta & 7) || fp > g->stack_hi || !rd64(r->core, fp - 8, &lr))
			break;
		if (!lr) {
			g->frames_complete = true;
			break;
		}
		exact = injected(&f);
		pc = lr;
		sp = fp;
	}
	return true;
}

/* ---- one goroutine ---- */

/* Where g's stack is in use from, and its frames. */
static bool place(struct reader *r, struct cprof_goroutine *g, const uint8_t *buf, size_t len)
{
	const struct go_layout *l = r->l;
	uint64_t sp = word_at(buf, len, l->g_sched_sp, 8), pc = word_at(buf, len, l->g_sched_pc, 8);
	bool exact = false;
	bool syscall = !strcmp(g->status_name, "syscall"),
	     running = !strcmp(g->status_name, "running");
	/* As the runtime's unwinder: a goroutine with a system call's SP
	   (also one made runnable on its way out, without a P) is there. */
	uint64_t syscallsp = word_at(buf, len, l->g_syscallsp, 8);
	if (syscallsp && l->g_syscallsp >= 0) {
		sp = syscallsp;
		pc = word_at(buf, len, l->g_syscallpc, 8);
	}
	g->sp_known = true;
	/* A goroutine in a system call (or a cgo call) is its M's curg too. */
	const struct m_info *m = syscall || running ? m_of(r, g->g) : NULL;
	g->thread = m ? m->thread : -1;
	g->signalled = m && m->thread == 0 && r->core->threads[0].cursig;
	if (running) {
		const struct cprof_thread *t = g->thread >= 0 ? &r->core->threads[g->thread] : NULL;
		if (t && t->regs[CPROF_REG_RSP] >= g->stack_lo && t->regs[CPROF_REG_RSP] < g->stack_hi) {
			sp = t->regs[CPROF_REG_RSP];
			pc = t->regs[CPROF_REG_RIP];
			exact = true;
		} else if (t && signal_frame(r, m, g, &pc, &sp)) {
			exact = true;
		} else {
			/* On the thread's system stack, or no thread: where this
			   stack is in use from is not known; all of it is live. */
			g->sp_known = false;
		}
	}
	g->sp = g->sp_known && sp >= g->stack_lo && sp < g->stack_hi ? sp : g->stack_lo;
	if (g->sp_known && pc && g->sp == sp)   /* sp inside the stack */
		return unwind(r, g, pc, sp, exact);
	return true;
}

/* Reads the goroutine at gaddr into g; false when it is not in the core.
 * Dead ones have a status and nothing else. */
static bool read_goroutine(struct reader *r, uint64_t gaddr, struct cprof_goroutine *g,
			   bool *oom)
{
	const struct go_layout *l = r->l;
	uint8_t buf[4096];
	size_t len = l->g_size < sizeof(buf) ? l->g_size : sizeof(buf);
	struct cprof_error *err = cprof_core_read(r->core, gaddr, buf, len);
	if (err) {             /* the caller counts and warns */
		cprof_error_destroy(err);
		return false;
	}
	memset(g, 0, sizeof(*g));
	g->g = gaddr;
	g->thread = -1;
	g->goid = word_at(buf, len, l->g_goid, 8);
	uint32_t status = (uint32_t)word_at(buf, len, l->g_atomicstatus, 4) & ~(uint32_t)l->gscan;
	g->status = status;
	g->status_name = status < 16 && l->status_names[status] ? l->status_names[status] : "?";
	if (!strcmp(g->status_name, "dead") || !strcmp(g->status_name, "?"))
		return true;
	g->wait_reason = "";
	uint64_t wr = word_at(buf, len, l->g_waitreason, 1);
	if (!strcmp(g->status_name, "waiting") && wr < r->rt->priv->n_wait_reasons &&
	    r->rt->priv->wait_reasons[wr])
		g->wait_reason = r->rt->priv->wait_reasons[wr];
	g->stack_lo = word_at(buf, len, l->g_stack_lo, 8);
	g->stack_hi = word_at(buf, len, l->g_stack_hi, 8);
	g->gopc = word_at(buf, len, l->g_gopc, 8);
	g->startpc = word_at(buf, len, l->g_startpc, 8);
	g->parent_goid = word_at(buf, len, l->g_parent_goid, 8);
	if (g->stack_hi <= g->stack_lo || g->stack_hi - g->stack_lo > (1ull << 30) ||
	    ((g->stack_lo | g->stack_hi) & 7)) {
		cprof_warn(r->core->warnings, "%s: goroutine %llu: bad stack bounds 0x%llx-0x%llx; not scanned",
			   r->core->path, (unsigned long long)g->goid,
			   (unsigned long long)g->stack_lo, (unsigned long long)g->stack_hi);
		g->stack_lo = g->stack_hi = g->sp = 0;
		return true;
	}
	*oom = !place(r, g, buf, len);
	return true;
}

/* allgs' array and length: allglen is what the runtime trusts (allgs may
 * have grown past it), and the whole array must be there: a bad header would
 * make each of 2^26 entries a warning and a scan. */
static struct cprof_error *read_allgs(struct cprof_core *core, const struct cprof_module *m,
				      uint64_t *hdr)
{
	uint64_t allgs, allglen, allglen_addr, last;
	if (!cprof_core_find_symbol(core, m, "runtime.allgs", &allgs, NULL))
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: no symbol runtime.allgs", m->name);
	struct cprof_error *err = cprof_core_read(core, allgs, hdr, 16);
	if (err)
		return cprof_error_prefix(err, "%s: runtime.allgs", m->name);
	if (cprof_core_find_symbol(core, m, "runtime.allglen", &allglen_addr, NULL) &&
	    rd64(core, allglen_addr, &allglen) && allglen < hdr[1])
		hdr[1] = allglen;
	if (hdr[1] > (1u << 26) || (hdr[1] && !rd64(core, hdr[0] + 8 * (hdr[1] - 1), &last)))
		return cprof_corrupt(core->path, hdr[0], "runtime.allgs (%llu goroutines) is not in the core",
				     (unsigned long long)hdr[1]);
	return NULL;
}

static void warn_bad(struct cprof_core *core, size_t bad, const char *what, uint64_t gaddr)
{
	if (bad <= MAX_G_WARNINGS)
		cprof_warn(core->warnings, "%s: goroutine at 0x%llx %s; left out%s", core->path,
			   (unsigned long long)gaddr, what,
			   bad == MAX_G_WARNINGS ? " (further ones are not listed)" : "");
}

struct cprof_error *go_read_goroutines(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	uint64_t hdr[2];
	struct cprof_error *err = read_allgs(core, rt->module, hdr);
	if (err)
		return err;
	struct reader r = { .core = core, .rt = rt, .l = &rt->priv->l };
	rt->goroutines = calloc(hdr[1] + 1, sizeof(*rt->goroutines));
	if (!rt->goroutines)
		return &cprof_enomem;
	read_ms(&r);
	if ((rt->m_threads = calloc(core->n_threads + 1, 1)))
		for (size_t i = 0; i < r.n_ms; i++)
			if (r.ms[i].thread >= 0)
				rt->m_threads[r.ms[i].thread] = 1;
	/* Ms in a signal handler (every M, in a core the runtime wrote as it
	   crashed: GOTRACEBACK=crash): where their own stack was left */
	if ((rt->thread_sp = calloc(core->n_threads + 1, sizeof(*rt->thread_sp))))
		for (size_t i = 0; i < r.n_ms; i++)
			if (r.ms[i].thread >= 0)
				rt->thread_sp[r.ms[i].thread] = thread_interrupted_sp(&r, &r.ms[i]);
	size_t bad = 0;
	bool oom = false;
	for (uint64_t i = 0; i < hdr[1] && !oom; i++) {
		uint64_t gaddr;
		struct cprof_goroutine *g = &rt->goroutines[rt->n_goroutines];
		if ((err = cprof_core_read_u64(core, hdr[0] + 8 * i, &gaddr))) {
			cprof_warn(core->warnings, "%s: runtime.allgs[%llu]: %s", core->path,
				   (unsigned long long)i, err->message);
			cprof_error_destroy(err);
			continue;
		}
		if (!gaddr)
			continue;
		if (!read_goroutine(&r, gaddr, g, &oom)) {
			warn_bad(core, ++bad, "is not in the core", gaddr);
			continue;
		}
		if (!strcmp(g->status_name, "?")) {
			char what[64];
			snprintf(what, sizeof(what), "has an unknown status %u", g->status);
			warn_bad(core, ++bad, what, gaddr);
			free(g->frames);
		} else if (!strcmp(g->status_name, "dead")) {
			rt->n_dead++;
		} else {
			rt->n_goroutines++;
		}
	}
	if (bad > MAX_G_WARNINGS)
		cprof_warn(core->warnings, "%s: %zu goroutines of runtime.allgs unreadable or with an unknown status in all",
			   core->path, bad);
	free(r.ms);
	free(r.cache);
	return oom ? &cprof_enomem : NULL;
}

/* ---- what a goroutine runs ---- */

/* The calls on g's stack, innermost first: call k of all its frames. */
static const struct cprof_go_call *call_at(const struct cprof_goroutine *g, size_t *frame,
					   size_t k)
{
	while (*frame + 1 < g->n_frames && g->frames[*frame + 1].depth <= k)
		(*frame)++;
	const struct cprof_go_frame *f = &g->frames[*frame];
	return &f->calls[k - f->depth];
}

char *cprof_go_stack_functions(struct cprof_core *core, const struct cprof_goroutine *g)
{
	(void)core;
	size_t cap = 256, len = 0, frame = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t k = 0; k < g->n_calls; k++) {
		const char *f = call_at(g, &frame, k)->function;
		size_t fl = strlen(f);
		if (len + fl + 2 > cap) {
			char *t = realloc(s, cap = 2 * (len + fl + 2));
			if (!t) {
				free(s);
				return NULL;
			}
			s = t;
		}
		len += (size_t)sprintf(s + len, "%s%s", k ? "\n" : "", f);
	}
	return s;
}

/*
 * Whether function fn (file: its source) is the Go runtime's or the standard
 * library's.  The standard library's import paths have no dot in their first
 * element ("net/http", "internal/poll"); a module's do ("github.com/...").
 * A dotless module path ("cprofcorpus/internal/manifest") is told apart by
 * its file lying outside GOROOT/src (goroot_src: "/usr/local/go/src/", "" when
 * unknown, as with -trimpath).
 */
static bool go_std(const char *fn, const char *file, const char *goroot_src)
{
	/* The import path ends at the first dot after its last slash; type
	   arguments ("[...]") may hold paths of their own. */
	size_t len = strcspn(fn, "["), pkg = 0, first;
	for (size_t i = 0; i < len; i++)
		if (fn[i] == '/')
			pkg = i;
	while (pkg < len && fn[pkg] != '.')
		pkg++;
	if (pkg >= len)
		return true;               /* no package: not Go code (a C function) */
	first = strcspn(fn, "/");
	if (first > pkg)
		first = pkg;
	if (memchr(fn, '.', first) || (first == 4 && !strncmp(fn, "main", 4)))
		return false;              /* "github.com/...", "main" */
	if (*goroot_src && file && strcmp(file, "?") &&
	    strncmp(file, goroot_src, strlen(goroot_src)))
		return false;              /* a dotless module outside GOROOT */
	return true;
}

/* Whether fn is the wrapper the compiler makes for a go statement
 * ("main.main.gowrap1"): the function it calls is what the goroutine runs. */
static bool go_wrapper(const char *fn)
{
	const char *w = NULL;
	for (const char *p = fn; (p = strstr(p, ".gowrap")); p++)
		w = p;             /* the last one: a name may hold another */
	if (!w || !w[7])
		return false;
	for (w += 7; *w; w++)
		if (*w < '0' || *w > '9')
			return false;
	return true;
}

const char *cprof_go_function(struct cprof_core *core, const struct cprof_goroutine *g)
{
	char goroot_src[512] = "";
	size_t frame = 0;
	/* GOROOT/src from the runtime's own calls (runtime.goexit is on every
	   goroutine's stack).  Each call's file is its own function's: inlined
	   calls have positions of their own. */
	for (size_t k = 0; k < g->n_calls && !*goroot_src; k++) {
		const struct cprof_go_call *c = call_at(g, &frame, k);
		const char *at = !strncmp(c->function, "runtime.", 8) ?
				 strstr(c->file, "/src/runtime/") : NULL;
		if (at && (size_t)(at - c->file) + 6 < sizeof(goroot_src))
			snprintf(goroot_src, sizeof(goroot_src), "%.*s", (int)(at - c->file) + 5,
				 c->file);
	}
	frame = 0;
	const char *outermost = NULL;
	for (size_t k = 0; k < g->n_calls; k++) {
		const struct cprof_go_call *c = call_at(g, &frame, k);
		/* a compiler's wrapper (a promoted method: context.(*valueCtx).Done,
		   file <autogenerated>; a go statement's main.main.gowrap1) is
		   nobody's code */
		if (!strcmp(c->function, "?") || (c->file && !strcmp(c->file, "<autogenerated>")) ||
		    go_wrapper(c->function))
			continue;
		if (!go_std(c->function, c->file, goroot_src))
			return c->function;
		if (strcmp(c->function, "runtime.goexit"))
			outermost = c->function;
	}
	/* All the standard library's: the function the go statement ran
	   (net/http.(*conn).serve), not its wrapper (...Serve.gowrap3) - when
	   the stack was unwound to its top: else the outermost frame seen is
	   some frame in the middle */
	if (outermost && g->frames_complete)
		return outermost;
	struct cprof_symbol sym;
	cprof_core_symbolize(core, g->startpc, false, &sym);
	return sym.function ? sym.function : "?";
}

/* ---- groups: the same state and the same calls on the stack ---- */

struct sig {
	char *text;
	size_t index;
};

static int sig_cmp(const void *a, const void *b)
{
	const struct sig *x = a, *y = b;
	int c = strcmp(x->text, y->text);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* "waiting|chan receive|runtime.gopark\nruntime.chanrecv\nmain.worker" */
static char *signature(struct cprof_core *core, const struct cprof_goroutine *g)
{
	char *stack = cprof_go_stack_functions(core, g), *s = NULL;
	if (stack && asprintf(&s, "%s|%s|%s", g->status_name, g->wait_reason, stack) < 0)
		s = NULL;
	free(stack);
	return s;
}

struct cprof_error *go_group_goroutines(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	size_t n = rt->n_goroutines;
	struct sig *sv = calloc(n + 1, sizeof(*sv));
	struct cprof_error *err = NULL;
	if (!sv)
		return &cprof_enomem;
	for (size_t i = 0; i < n && !err; i++) {
		sv[i].index = i;
		if (!(sv[i].text = signature(core, &rt->goroutines[i])))
			err = &cprof_enomem;
	}
	if (!err) {
		qsort(sv, n, sizeof(*sv), sig_cmp);
		for (size_t i = 0; i < n; i++) {
			if (i && strcmp(sv[i].text, sv[i - 1].text))
				rt->n_groups++;
			rt->goroutines[sv[i].index].group = (uint32_t)rt->n_groups;
		}
		if (n)
			rt->n_groups++;
	}
	for (size_t i = 0; i < n; i++)
		free(sv[i].text);
	free(sv);
	return err;
}
