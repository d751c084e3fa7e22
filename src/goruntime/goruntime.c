/*
 * goruntime.c - the Go runtime of a process, read from its core (see
 * include/cprof/goruntime.h).
 *
 * Layouts: every offset comes from the binary's DWARF (struct members, and
 * the DW_TAG_constant values of the runtime's package constants).  Only the
 * pointer size (8) and the encoding of the runtime's own data (a Go string is
 * {ptr, len}, a slice {ptr, len, cap}, an abi.Name a flag byte, a uvarint
 * length and the bytes) are known here without DWARF: they are the language.
 *
 * Goroutines come from runtime.allgs.  A goroutine that is not running saved
 * its SP, PC and frame pointer in g.sched (g.syscallsp/pc/bp in a system
 * call); a running one is on a thread: runtime.allm lists the Ms, m.curg is
 * the goroutine and m.procid the thread's id, whose registers are in the core.
 * Frames are walked by frame pointer ([bp] is the caller's bp, [bp+8] the
 * return address), which the Go compiler keeps on amd64.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

enum { MAX_GO_FRAMES = 64, MAX_G_WARNINGS = 20 };

/* Offsets of struct members, -1 when absent. */
struct layout_g {
	int64_t stack_lo, stack_hi, sched_sp, sched_pc, sched_bp, m, atomicstatus,
		goid, waitreason, gopc, startpc, parent_goid, syscallsp, syscallpc,
		syscallbp;
	uint64_t size;
};

struct cprof_go_private {
	struct layout_g g;
	int64_t m_procid, m_curg, m_alllink;
	/* status value -> name (the runtime's gStatusStrings) */
	const char *status_names[16];
	int64_t gscan;
	char **wait_reasons;
	size_t n_wait_reasons;
	int64_t type_str, type_tflag, type_size;   /* internal/abi.Type members */
	int64_t tflag_extra_star;
	struct cprof_core *core;   /* for unregistering the line source */
};

bool go_offsets(struct cprof_core *core, const struct cprof_module *m, const char *name,
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

bool go_read_members(struct cprof_core *core, const struct cprof_module *m,
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

static int64_t plus(int64_t base, int64_t off)
{
	return base < 0 || off < 0 ? -1 : base + off;
}

static struct cprof_error *read_layouts(struct cprof_core *core,
					const struct cprof_module *m,
					struct cprof_go_private *p)
{
	static const char *const gn[] = {
		"stack", "sched", "m", "atomicstatus", "goid", "waitreason", "gopc",
		"startpc", "parentGoid", "syscallsp", "syscallpc", "syscallbp",
	};
	int64_t go[12], st[2], gb[3], mm[3], ty[3];
	static const char *const sn[] = { "lo", "hi" };
	static const char *const bn[] = { "sp", "pc", "bp" };
	static const char *const mn[] = { "procid", "curg", "alllink" };
	static const char *const tn[] = { "Str", "TFlag", "Size_" };
	if (!go_offsets(core, m, "runtime.g", gn, go, 12, &p->g.size) ||
	    !go_offsets(core, m, "runtime.stack", sn, st, 2, NULL) ||
	    !go_offsets(core, m, "runtime.gobuf", bn, gb, 3, NULL) ||
	    !go_offsets(core, m, "runtime.m", mn, mm, 3, NULL))
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: the runtime's g, m, stack or gobuf structs are not in its DWARF",
					  m->name);
	struct layout_g *g = &p->g;
	g->stack_lo = plus(go[0], st[0]);
	g->stack_hi = plus(go[0], st[1]);
	g->sched_sp = plus(go[1], gb[0]);
	g->sched_pc = plus(go[1], gb[1]);
	g->sched_bp = plus(go[1], gb[2]);
	g->m = go[2];
	g->atomicstatus = go[3];   /* atomic.Uint32: its value is the first word */
	g->goid = go[4];
	g->waitreason = go[5];
	g->gopc = go[6];
	g->startpc = go[7];
	g->parent_goid = go[8];
	g->syscallsp = go[9];
	g->syscallpc = go[10];
	g->syscallbp = go[11];
	if (g->stack_lo < 0 || g->sched_sp < 0 || g->atomicstatus < 0 || g->goid < 0)
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: runtime.g lacks stack, sched, atomicstatus or goid in its DWARF",
					  m->name);
	p->m_procid = mm[0];
	p->m_curg = mm[1];
	p->m_alllink = mm[2];
	if (go_offsets(core, m, "internal/abi.Type", tn, ty, 3, NULL)) {
		p->type_str = ty[0];
		p->type_tflag = ty[1];
		p->type_size = ty[2];
	} else {
		p->type_str = p->type_tflag = p->type_size = -1;
	}
	if (!cprof_dwarf_constant(core, m, "internal/abi.TFlagExtraStar", &p->tflag_extra_star))
		p->tflag_extra_star = 0;
	return NULL;
}

/* The runtime's names for goroutine states (traceback.go gStatusStrings). */
static void read_status_names(struct cprof_core *core, const struct cprof_module *m,
			      struct cprof_go_private *p)
{
	static const struct { const char *constant, *name; } st[] = {
		{ "runtime._Gidle", "idle" }, { "runtime._Grunnable", "runnable" },
		{ "runtime._Grunning", "running" }, { "runtime._Gsyscall", "syscall" },
		{ "runtime._Gwaiting", "waiting" }, { "runtime._Gdead", "dead" },
		{ "runtime._Gcopystack", "copystack" },
		{ "runtime._Gpreempted", "preempted" }, { "runtime._Gleaked", "leaked" },
		{ "runtime._Gdeadextra", "dead" },
	};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		int64_t v;
		if (cprof_dwarf_constant(core, m, st[i].constant, &v) && v >= 0 && v < 16)
			p->status_names[v] = st[i].name;
	}
	if (!cprof_dwarf_constant(core, m, "runtime._Gscan", &p->gscan))
		p->gscan = 0x1000;
}

/* Reads a Go string {ptr, len} at addr into a malloc'd C string (NULL on error). */
static char *read_go_string(struct cprof_core *core, uint64_t addr, size_t max)
{
	uint64_t hdr[2];
	struct cprof_error *err = cprof_core_read(core, addr, hdr, sizeof(hdr));
	if (err || hdr[1] > max) {
		cprof_error_destroy(err);
		return NULL;
	}
	char *s = malloc(hdr[1] + 1);
	if (!s)
		return NULL;
	if (hdr[1] && (err = cprof_core_read(core, hdr[0], s, hdr[1]))) {
		cprof_error_destroy(err);
		free(s);
		return NULL;
	}
	s[hdr[1]] = '\0';
	return s;
}

/* runtime.waitReasonStrings: [N]string, N from the symbol's size. */
static void read_wait_reasons(struct cprof_core *core, const struct cprof_module *m,
			      struct cprof_go_private *p)
{
	uint64_t addr, size;
	if (!cprof_core_find_symbol(core, m, "runtime.waitReasonStrings", &addr, &size) ||
	    size / 16 == 0 || size / 16 > 256)
		return;
	p->wait_reasons = calloc(size / 16, sizeof(char *));
	if (!p->wait_reasons)
		return;
	p->n_wait_reasons = size / 16;
	for (size_t i = 0; i < p->n_wait_reasons; i++)
		p->wait_reasons[i] = read_go_string(core, addr + 16 * i, 256);
}

static void go_version(struct cprof_core *core, const struct cprof_module *m,
		       char *buf, size_t size)
{
	uint64_t addr;
	char *v = NULL;
	snprintf(buf, size, "unknown");
	if (cprof_core_find_symbol(core, m, "runtime.buildVersion", &addr, NULL))
		v = read_go_string(core, addr, 64);
	if (v)
		snprintf(buf, size, "%s", strncmp(v, "go", 2) ? v : v + 2);
	free(v);
}

/* runtime.firstmoduledata: the data/bss bounds, their masks, the types. */
static void read_moduledata(struct cprof_core *core, const struct cprof_module *m,
			    struct cprof_go_runtime *rt)
{
	static const char *const names[] = {
		"data", "edata", "bss", "ebss", "noptrdata", "enoptrdata", "noptrbss",
		"enoptrbss", "gcdatamask", "gcbssmask", "types", "etypes",
	};
	int64_t off[12];
	uint64_t md, size;
	if (!cprof_core_find_symbol(core, m, "runtime.firstmoduledata", &md, NULL) ||
	    !go_offsets(core, m, "runtime.moduledata", names, off, 12, &size) || size > 4096)
		return;
	uint8_t buf[4096];
	struct cprof_error *err = cprof_core_read(core, md, buf, size);
	if (err) {
		cprof_error_destroy(err);
		return;
	}
	uint64_t v[12];
	for (int i = 0; i < 12; i++) {
		v[i] = 0;
		if (off[i] >= 0 && (uint64_t)off[i] + 16 <= size)
			memcpy(&v[i], buf + off[i] + (i == 8 || i == 9 ? 8 : 0), 8);
	}
	rt->data = v[0]; rt->edata = v[1]; rt->bss = v[2]; rt->ebss = v[3];
	rt->noptrdata = v[4]; rt->enoptrdata = v[5];
	rt->noptrbss = v[6]; rt->enoptrbss = v[7];
	/* bitvector{n int32; bytedata *uint8}: the pointer is the second word */
	rt->gcdatamask = v[8];
	rt->gcbssmask = v[9];
	rt->types = v[10];
	rt->etypes = v[11];
}

/* ---- goroutines ---- */

static uint64_t word_at(const uint8_t *buf, int64_t off, size_t size)
{
	uint64_t v = 0;
	if (off >= 0 && (size_t)off + size <= 4096)
		memcpy(&v, buf + off, size);
	return v;
}

/* Walks frame pointers from (pc, sp, bp) within [lo, hi). */
static void unwind(struct cprof_core *core, struct cprof_goroutine *g, uint64_t pc,
		   uint64_t sp, uint64_t bp)
{
	struct cprof_go_frame *f = malloc(MAX_GO_FRAMES * sizeof(*f));
	size_t n = 0;
	if (!f)
		return;
	f[n++] = (struct cprof_go_frame){ pc, sp };
	while (n < MAX_GO_FRAMES && bp >= sp && bp + 16 <= g->stack_hi && !(bp & 7)) {
		uint64_t fr[2];
		struct cprof_error *err = cprof_core_read(core, bp, fr, sizeof(fr));
		if (err) {
			cprof_error_destroy(err);
			break;
		}
		if (!fr[1])
			break;
		f[n++] = (struct cprof_go_frame){ fr[1], bp + 16 };
		if (fr[0] <= bp)
			break;
		sp = bp + 16;
		bp = fr[0];
	}
	g->frames = f;
	g->n_frames = n;
}

/* The running goroutines' threads: m.curg -> the thread whose tid is m.procid. */
static int running_thread(struct cprof_core *core, const struct cprof_go_private *p,
			  uint64_t allm, uint64_t gaddr)
{
	uint64_t mp = allm;
	for (int k = 0; mp && k < 4096; k++) {
		uint64_t curg = 0, procid = 0, next = 0;
		struct cprof_error *err = NULL;
		if ((err = cprof_core_read_u64(core, mp + p->m_curg, &curg)) ||
		    (err = cprof_core_read_u64(core, mp + p->m_procid, &procid)) ||
		    (err = cprof_core_read_u64(core, mp + p->m_alllink, &next))) {
			cprof_error_destroy(err);
			return -1;
		}
		if (curg == gaddr)
			for (size_t t = 0; t < core->n_threads; t++)
				if ((uint64_t)core->threads[t].tid == procid)
					return (int)t;
		mp = next;
	}
	return -1;
}

static bool read_goroutine(struct cprof_core *core, struct cprof_go_runtime *rt,
			   uint64_t allm, uint64_t gaddr, struct cprof_goroutine *g)
{
	const struct cprof_go_private *p = rt->priv;
	const struct layout_g *l = &p->g;
	uint8_t buf[4096];
	size_t size = p->g.size < sizeof(buf) ? p->g.size : sizeof(buf);
	struct cprof_error *err = cprof_core_read(core, gaddr, buf, size);
	if (err) {             /* the caller counts and warns */
		cprof_error_destroy(err);
		return false;
	}
	memset(g, 0, sizeof(*g));
	g->g = gaddr;
	g->thread = -1;
	g->goid = word_at(buf, l->goid, 8);
	uint32_t status = (uint32_t)word_at(buf, l->atomicstatus, 4) & ~(uint32_t)p->gscan;
	g->status = status;
	g->status_name = status < 16 && p->status_names[status] ? p->status_names[status] : "?";
	g->wait_reason = "";
	uint64_t wr = word_at(buf, l->waitreason, 1);
	if (!strcmp(g->status_name, "waiting") && wr < p->n_wait_reasons &&
	    p->wait_reasons[wr])
		g->wait_reason = p->wait_reasons[wr];
	g->stack_lo = word_at(buf, l->stack_lo, 8);
	g->stack_hi = word_at(buf, l->stack_hi, 8);
	g->gopc = word_at(buf, l->gopc, 8);
	g->startpc = word_at(buf, l->startpc, 8);
	g->parent_goid = word_at(buf, l->parent_goid, 8);
	uint64_t sp = word_at(buf, l->sched_sp, 8), pc = word_at(buf, l->sched_pc, 8),
		 bp = word_at(buf, l->sched_bp, 8);
	if (!strcmp(g->status_name, "syscall") && l->syscallsp >= 0) {
		sp = word_at(buf, l->syscallsp, 8);
		pc = word_at(buf, l->syscallpc, 8);
		bp = word_at(buf, l->syscallbp, 8);
	}
	g->sp_known = true;
	/* A goroutine in a system call (or a cgo call) is its M's curg too. */
	if (!strcmp(g->status_name, "syscall"))
		g->thread = running_thread(core, p, allm, gaddr);
	if (!strcmp(g->status_name, "running")) {
		g->thread = running_thread(core, p, allm, gaddr);
		const struct cprof_thread *t = g->thread >= 0 ? &core->threads[g->thread] : NULL;
		if (t && t->regs[CPROF_REG_RSP] >= g->stack_lo &&
		    t->regs[CPROF_REG_RSP] < g->stack_hi) {
			sp = t->regs[CPROF_REG_RSP];
			pc = t->regs[CPROF_REG_RIP];
			bp = t->regs[CPROF_REG_RBP];
			g->pc0_exact = true;
		} else {
			/* On the thread's system or signal stack: where this
			   stack is in use from is not known; all of it is live. */
			g->sp_known = false;
		}
	}
	if (g->stack_hi <= g->stack_lo || g->stack_hi - g->stack_lo > (1ull << 30) ||
	    ((g->stack_lo | g->stack_hi) & 7)) {
		cprof_warn(core->warnings, "%s: goroutine %llu: bad stack bounds 0x%llx-0x%llx; not scanned",
			   core->path, (unsigned long long)g->goid,
			   (unsigned long long)g->stack_lo, (unsigned long long)g->stack_hi);
		g->stack_lo = g->stack_hi = g->sp = 0;
		return true;
	}
	g->sp = g->sp_known && sp >= g->stack_lo && sp < g->stack_hi ? sp : g->stack_lo;
	if (g->sp_known && pc)
		unwind(core, g, pc, g->sp, bp);
	return true;
}

static struct cprof_error *read_goroutines(struct cprof_core *core,
					   struct cprof_go_runtime *rt)
{
	const struct cprof_module *m = rt->module;
	uint64_t allgs, allm_addr, allm = 0, hdr[2];
	if (!cprof_core_find_symbol(core, m, "runtime.allgs", &allgs, NULL))
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: no symbol runtime.allgs", m->name);
	struct cprof_error *err = cprof_core_read(core, allgs, hdr, sizeof(hdr));
	if (err)
		return cprof_error_prefix(err, "%s: runtime.allgs", m->name);
	if (cprof_core_find_symbol(core, m, "runtime.allm", &allm_addr, NULL))
		cprof_error_destroy(cprof_core_read_u64(core, allm_addr, &allm));
	/* allglen is what the runtime trusts (allgs may have grown past it), and
	   the whole array must be there: a bad header would make each of 2^26
	   entries a warning and a scan. */
	uint64_t allglen, allglen_addr, last;
	if (cprof_core_find_symbol(core, m, "runtime.allglen", &allglen_addr, NULL) &&
	    !(err = cprof_core_read_u64(core, allglen_addr, &allglen)) && allglen < hdr[1])
		hdr[1] = allglen;
	cprof_error_destroy(err);
	err = NULL;
	if (hdr[1] > (1u << 26) ||
	    (hdr[1] && (err = cprof_core_read_u64(core, hdr[0] + 8 * (hdr[1] - 1), &last)))) {
		cprof_error_destroy(err);
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: runtime.allgs (%llu goroutines at 0x%llx) is not in the core",
					  core->path, (unsigned long long)hdr[1],
					  (unsigned long long)hdr[0]);
	}
	size_t bad = 0;
	rt->goroutines = calloc(hdr[1] + 1, sizeof(*rt->goroutines));
	if (!rt->goroutines)
		return &cprof_enomem;
	for (uint64_t i = 0; i < hdr[1]; i++) {
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
		if (!read_goroutine(core, rt, allm, gaddr, g)) {
			if (++bad <= MAX_G_WARNINGS)
				cprof_warn(core->warnings, "%s: goroutine at 0x%llx is not in the core; left out%s",
					   core->path, (unsigned long long)gaddr,
					   bad == MAX_G_WARNINGS ? " (further ones are not listed)" : "");
			continue;
		}
		if (!strcmp(g->status_name, "?") && ++bad <= MAX_G_WARNINGS)
			cprof_warn(core->warnings, "%s: goroutine at 0x%llx: unknown status %u; left out%s",
				   core->path, (unsigned long long)gaddr, g->status,
				   bad == MAX_G_WARNINGS ? " (further ones are not listed)" : "");
		if (!strcmp(g->status_name, "dead") || !strcmp(g->status_name, "?")) {
			free(g->frames);
			continue;
		}
		rt->n_goroutines++;
	}
	if (bad > MAX_G_WARNINGS)
		cprof_warn(core->warnings, "%s: %zu goroutines of runtime.allgs unreadable or with an unknown status in all",
			   core->path, bad);
	return NULL;
}

/* ---- groups: the same state and the same functions on the stack ---- */

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

char *cprof_go_stack_functions(struct cprof_core *core, const struct cprof_goroutine *g)
{
	size_t cap = 256, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t k = 0; k < g->n_frames; k++) {
		struct cprof_symbol sym;
		cprof_core_symbolize(core, g->frames[k].pc, k > 0 || !g->pc0_exact, &sym);
		const char *f = sym.function ? sym.function : "?";
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
	if (*goroot_src && file && strncmp(file, goroot_src, strlen(goroot_src)))
		return false;              /* a dotless module outside GOROOT */
	return true;
}

/* The file function sym (at pc) is defined in: the file of its first
 * instruction.  The frame's own file:line may be an inlined callee's, from
 * another package. */
static const char *defined_in(struct cprof_core *core, const struct cprof_symbol *sym,
			      uint64_t pc)
{
	struct cprof_symbol entry;
	if (!sym->function || sym->offset > pc ||
	    !cprof_core_symbolize(core, pc - sym->offset, false, &entry) ||
	    !entry.function || strcmp(entry.function, sym->function))
		return NULL;
	return entry.file;
}

const char *cprof_go_function(struct cprof_core *core, const struct cprof_goroutine *g)
{
	char goroot_src[512] = "";
	struct cprof_symbol sym;
	/* GOROOT/src from the runtime's own frames (runtime.goexit is on every
	   goroutine's stack). */
	for (size_t k = g->n_frames; k-- > 0 && !*goroot_src;) {
		uint64_t pc = g->frames[k].pc;
		cprof_core_symbolize(core, pc, k > 0 || !g->pc0_exact, &sym);
		const char *file = sym.function && !strncmp(sym.function, "runtime.", 8) ?
				   defined_in(core, &sym, pc) : NULL;
		const char *at = file ? strstr(file, "/src/runtime/") : NULL;
		if (at && (size_t)(at - file) + 6 < sizeof(goroot_src))
			snprintf(goroot_src, sizeof(goroot_src), "%.*s", (int)(at - file) + 5, file);
	}
	for (size_t k = 0; k < g->n_frames; k++) {
		uint64_t pc = g->frames[k].pc;
		cprof_core_symbolize(core, pc, k > 0 || !g->pc0_exact, &sym);
		if (sym.function && !go_std(sym.function, defined_in(core, &sym, pc), goroot_src))
			return sym.function;
	}
	cprof_core_symbolize(core, g->startpc, false, &sym);
	return sym.function ? sym.function : "?";
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

static struct cprof_error *group_goroutines(struct cprof_core *core,
					    struct cprof_go_runtime *rt)
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

/* ---- the runtime's accounting ---- */

static void add_stat(struct cprof_go_runtime *rt, const char *name, uint64_t v,
		     const char *what)
{
	if (rt->n_stats < sizeof(rt->stats) / sizeof(rt->stats[0]))
		rt->stats[rt->n_stats++] = (typeof(rt->stats[0])){ name, v, what };
}

/* Reads the uint64 member `name` of the global `sym` (of struct type `type`). */
static bool global_member(struct cprof_core *core, const struct cprof_module *m,
			  const char *sym, const char *type, const char *name,
			  int64_t extra, uint64_t *ret)
{
	uint64_t addr;
	int64_t off;
	const char *names[1] = { name };
	if (!cprof_core_find_symbol(core, m, sym, &addr, NULL) ||
	    !go_offsets(core, m, type, names, &off, 1, NULL) || off < 0)
		return false;
	struct cprof_error *err = cprof_core_read_u64(core, addr + off + extra, ret);
	cprof_error_destroy(err);
	return !err;
}

static void read_stats(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	const struct cprof_module *m = rt->module;
	uint64_t inuse, released, freeb, v;
	if (global_member(core, m, "runtime.gcController", "runtime.gcControllerState",
			  "heapInUse", 0, &inuse) &&
	    global_member(core, m, "runtime.gcController", "runtime.gcControllerState",
			  "heapReleased", 0, &released) &&
	    global_member(core, m, "runtime.gcController", "runtime.gcControllerState",
			  "heapFree", 0, &freeb)) {
		add_stat(rt, "HeapInuse", inuse, "spans with objects");
		add_stat(rt, "HeapIdle", freeb + released, "free spans, mapped or released");
		add_stat(rt, "HeapReleased", released, "returned to the OS");
		add_stat(rt, "HeapSys", inuse + freeb + released, "heap address space obtained");
	}
	static const struct { const char *member, *name, *what; } ms[] = {
		{ "stacks_sys", "StackSys", "goroutine and system stacks" },
		{ "mspan_sys", "MSpanSys", "span structures" },
		{ "mcache_sys", "MCacheSys", "per-P caches" },
		{ "buckhash_sys", "BuckHashSys", "profiling bucket hash table" },
		{ "gcMiscSys", "GCSys", "garbage collector metadata" },
		{ "other_sys", "OtherSys", "other runtime allocations" },
	};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (global_member(core, m, "runtime.memstats", "runtime.mstats",
				  ms[i].member, 0, &v))
			add_stat(rt, ms[i].name, v, ms[i].what);
}

/* ---- open, close ---- */

/* The core's second line source: Go's pclntab (libdw cannot read the line
 * tables of Go 1.26's DWARF 5). */
static bool pcln_lines(struct cprof_core *core, void *arg, uint64_t addr, bool is_return,
		       const char **function, const char **file, int *line)
{
	char fn[512], fl[1024];
	if (!cprof_go_pc_info(core, arg, addr, is_return, fn, sizeof(fn), fl, sizeof(fl), line))
		return false;
	*function = cprof_core_intern(core, fn);
	*file = cprof_core_intern(core, fl);
	return true;
}

struct cprof_error *cprof_go_runtime_open(struct cprof_core *core,
					  struct cprof_go_runtime **ret)
{
	*ret = NULL;
	const struct cprof_module *m = NULL;
	uint64_t mheap = 0;
	for (size_t i = 0; i < core->n_modules && !m; i++)
		if (cprof_core_find_symbol(core, &core->modules[i], "runtime.mheap_", &mheap, NULL))
			m = &core->modules[i];
	if (!m)
		return NULL;
	struct cprof_go_runtime *rt = calloc(1, sizeof(*rt));
	struct cprof_go_private *p = calloc(1, sizeof(*p));
	if (!rt || !p) {
		free(rt);
		free(p);
		return &cprof_enomem;
	}
	rt->module = m;
	rt->mheap = mheap;
	rt->priv = p;
	struct cprof_error *err = read_layouts(core, m, p);
	if (err) {
		cprof_go_runtime_destroy(rt);
		if (err->code == CPROF_ERROR_MISSING_DEBUG_INFO && !cprof_core_module_dwarf(core, m, &mheap)) {
			cprof_error_destroy(err);
			err = cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
						 "%s: a Go program without DWARF (built with -ldflags=-w?): its heap cannot be walked; rebuild without -w (the runtime's layouts come from DWARF)",
						 m->name);
		}
		return err;
	}
	go_version(core, m, rt->version, sizeof(rt->version));
	read_status_names(core, m, p);
	read_wait_reasons(core, m, p);
	read_moduledata(core, m, rt);
	read_stats(core, rt);
	p->core = core;
	cprof_core_set_line_source(core, m, pcln_lines, rt);
	if ((err = read_goroutines(core, rt))) {
		cprof_warn(core->warnings, "%s: goroutines not read: %s", core->path,
			   err->message);
		cprof_error_destroy(err);
	}
	if ((err = group_goroutines(core, rt))) {
		cprof_go_runtime_destroy(rt);
		return err;
	}
	*ret = rt;
	return NULL;
}

void cprof_go_runtime_destroy(struct cprof_go_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n_goroutines; i++)
		free(rt->goroutines[i].frames);
	free(rt->goroutines);
	free(rt->arenas);
	free(rt->typed);
	if (rt->profile) {
		cprof_go_profile_deinit(rt->profile);
		free(rt->profile);
	}
	if (rt->priv) {
		if (rt->priv->core)
			cprof_core_set_line_source(rt->priv->core, NULL, NULL, NULL);
		for (size_t i = 0; i < rt->priv->n_wait_reasons; i++)
			free(rt->priv->wait_reasons[i]);
		free(rt->priv->wait_reasons);
		free(rt->priv);
	}
	free(rt);
}

/* ---- type names ---- */

bool cprof_go_type_name(struct cprof_core *core, const struct cprof_go_runtime *rt,
			uint64_t typ, char *buf, size_t size)
{
	const struct cprof_go_private *p = rt->priv;
	if (!typ || p->type_str < 0 || !rt->types || size < 2)
		return false;
	int32_t str;
	uint8_t tflag = 0;
	struct cprof_error *err = cprof_core_read(core, typ + p->type_str, &str, 4);
	if (!err && p->type_tflag >= 0)
		err = cprof_core_read(core, typ + p->type_tflag, &tflag, 1);
	if (err || str <= 0 || rt->types + (uint64_t)str >= rt->etypes) {
		cprof_error_destroy(err);
		return false;
	}
	/* abi.Name: a flag byte, the length as a uvarint, the bytes. */
	uint8_t hdr[11];
	uint64_t name = rt->types + (uint64_t)str;
	if ((err = cprof_core_read(core, name, hdr, sizeof(hdr)))) {
		cprof_error_destroy(err);
		return false;
	}
	uint64_t len = 0;
	int i = 1, shift = 0;
	for (; i < 11; i++, shift += 7) {
		len |= (uint64_t)(hdr[i] & 0x7f) << shift;
		if (!(hdr[i] & 0x80))
			break;
	}
	if (i >= 11 || len == 0)
		return false;
	bool star = p->tflag_extra_star && (tflag & p->tflag_extra_star);
	if (len >= size)
		len = size - 1;
	if ((err = cprof_core_read(core, name + i + 1, buf, len))) {
		cprof_error_destroy(err);
		return false;
	}
	buf[len] = '\0';
	if (star && buf[0] == '*')
		memmove(buf, buf + 1, len);
	return true;
}

uint64_t cprof_go_type_size(struct cprof_core *core, const struct cprof_go_runtime *rt,
			    uint64_t typ)
{
	uint64_t size = 0;
	if (typ && rt->priv->type_size >= 0)
		cprof_error_destroy(cprof_core_read_u64(core, typ + rt->priv->type_size, &size));
	return size;
}

/* ---- interfaces ---- */

/* The layouts an interface's dynamic type needs, read on first use. */
struct iface_layout {
	bool done, ok;
	int64_t itab_type, type_kind, type_tflag, ptr_elem;
	int64_t kind_pointer, kind_direct, tflag_direct;
};

static bool iface_layout(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 struct iface_layout *l)
{
	if (l->done)
		return l->ok;
	l->done = true;
	const struct cprof_module *m = rt->module;
	static const char *const it[] = { "Type" }, *const oit[] = { "_type" },
			  *const ty[] = { "Kind_", "TFlag" }, *const pt[] = { "Elem" };
	int64_t ti[2];
	if ((!go_offsets(core, m, "internal/abi.ITab", it, &l->itab_type, 1, NULL) ||
	     l->itab_type < 0) &&
	    (!go_offsets(core, m, "runtime.itab", oit, &l->itab_type, 1, NULL) ||
	     l->itab_type < 0))
		return false;
	if (!go_offsets(core, m, "internal/abi.Type", ty, ti, 2, NULL) || ti[0] < 0 ||
	    !go_offsets(core, m, "internal/abi.PtrType", pt, &l->ptr_elem, 1, NULL) ||
	    l->ptr_elem < 0)
		return false;
	l->type_kind = ti[0];
	l->type_tflag = ti[1];
	l->kind_pointer = go_constant(core, m, "internal/abi.Pointer", -1);
	l->kind_direct = go_constant(core, m, "internal/abi.KindDirectIface", 0);
	l->tflag_direct = go_constant(core, m, "internal/abi.TFlagDirectIface", 0);
	return l->ok = l->kind_pointer >= 0;
}

uint64_t cprof_go_iface_target(struct cprof_core *core, const struct cprof_go_runtime *rt,
			       uint64_t word0, bool eface)
{
	static struct iface_layout l;
	static const struct cprof_go_runtime *for_rt;
	if (for_rt != rt) {
		memset(&l, 0, sizeof(l));
		for_rt = rt;
	}
	uint64_t typ = word0;
	uint8_t kind = 0, tflag = 0;
	struct cprof_error *err = NULL;
	if (!word0 || !iface_layout(core, rt, &l))
		return 0;
	if (!eface && (err = cprof_core_read_u64(core, word0 + l.itab_type, &typ)))
		goto fail;
	if (!typ || (err = cprof_core_read(core, typ + l.type_kind, &kind, 1)) ||
	    (l.type_tflag >= 0 && (err = cprof_core_read(core, typ + l.type_tflag, &tflag, 1))))
		goto fail;
	/* A pointer is stored in the data word itself: it points to an Elem.
	   Other pointer-shaped values (maps, chans, funcs) are not followed;
	   any other value is boxed: the data word points to a copy of it. */
	if ((kind & (l.kind_direct - 1 > 0 ? l.kind_direct - 1 : 31)) == l.kind_pointer) {
		if ((err = cprof_core_read_u64(core, typ + l.ptr_elem, &typ)))
			goto fail;
		return typ;
	}
	if ((l.kind_direct && (kind & l.kind_direct)) || (l.tflag_direct && (tflag & l.tflag_direct)))
		return 0;
	return typ;
fail:
	cprof_error_destroy(err);
	return 0;
}
