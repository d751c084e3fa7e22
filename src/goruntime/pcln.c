/*
 * pcln.c - function, file and line of a Go PC, and the calls inlined there,
 * from the runtime's own symbol table, pclntab (see cprof_go_pc_info and
 * cprof_go_pc_calls in include/cprof/goruntime.h).
 *
 * Why: the DWARF line tables of Go 1.26 binaries are not readable by the
 * elfutils we build against, but the runtime carries its own tables for
 * tracebacks.  We follow runtime/symtab.go: findfunc (here a binary search of
 * ftab instead of the findfunctab buckets), funcInfo, pcvalue, funcfile; and
 * symtabinl.go for the inline tree: at a pc, PCDATA_InlTreeIndex names the
 * innermost inlined call (-1: none) in the function's FUNCDATA_InlTree, whose
 * entry gives the callee's name and parentPc, an instruction of the caller
 * whose position is the call site; the tree index there is the caller's, and
 * so on out to the physical function.
 *
 * The tables are read once, when the runtime is opened (go_pcln_open), into
 * the runtime's private half; afterwards everything here only reads.  Layouts
 * come from src/goruntime/layout.c; only the pointer size (8), a slice being
 * {ptr, len, cap}, and the pcvalue encoding (zigzag varint value delta, varint
 * pc delta times PCQuantum = 1 on amd64) are known here: they are the format.
 *
 * Not handled: modules with several text sections (textsectmap, only for
 * huge binaries on some architectures) give false.
 */
#include <stdio.h>
#include <string.h>

#include "goruntime-internal.h"

enum { MAX_INLINE_DEPTH = 100 };   /* a longer chain of parents is a loop */

/* Copies [off, off + len) of t into buf; false when outside t or unreadable. */
static bool tab_read(struct cprof_core *core, const struct go_tab *t, uint64_t off,
		     void *buf, size_t len)
{
	if (off > t->len || len > t->len - off)
		return false;
	if (t->p) {
		memcpy(buf, t->p + off, len);
		return true;
	}
	return cprof_core_try_read(core, t->addr + off, buf, len);
}

static bool tab_u32(struct cprof_core *core, const struct go_tab *t, uint64_t off,
		    uint32_t *v)
{
	return tab_read(core, t, off, v, 4);
}

/* The NUL-terminated string at off into buf (truncated to size). */
static bool tab_str(struct cprof_core *core, const struct go_tab *t, uint64_t off,
		    char *buf, size_t size)
{
	if (!size)
		return true;
	if (t->p && off < t->len) {        /* the common case: no copy per byte */
		const char *s = (const char *)t->p + off;
		size_t n = strnlen(s, t->len - off);
		if (n == t->len - off)
			return false;      /* no terminator inside the table */
		snprintf(buf, size, "%s", s);
		return true;
	}
	size_t i = 0;
	for (; i + 1 < size; i++) {
		char c;
		if (!tab_read(core, t, off + i, &c, 1))
			return false;
		if (!c)
			break;
		buf[i] = c;
	}
	buf[i] = 0;
	return true;
}

/* Function nameoff's name as the runtime prints it (funcNameForPrint, and
 * runtime.Func.Name, so pprof too): a generic instantiation's shape
 * arguments become "[...]" ("Cache[go.shape.string,go.shape.int].Get" is
 * "Cache[...].Get"); false as tab_str. */
static bool func_name(struct cprof_core *core, const struct go_tab *t, uint64_t off,
		      char *buf, size_t size)
{
	if (!tab_str(core, t, off, buf, size))
		return false;
	char *open = strchr(buf, '['), *close = strrchr(buf, ']');
	if (open && close > open + 3)
		memmove(open + 4, close, strlen(close) + 1), memcpy(open + 1, "...", 3);
	return true;
}

void go_pcln_open(struct cprof_core *core, struct cprof_go_runtime *rt,
		  const uint8_t *md)
{
	const struct go_layout *l = &rt->priv->l;
	struct go_pcln *c = &rt->priv->pcln;
	memset(c, 0, sizeof(*c));
	if (l->pcln_missing || !md)
		return;
	/* The six tables are slices {ptr, len, cap}: ptr and len are enough. */
	static const int slices[6] = { MD_FUNCNAMETAB, MD_CUTAB, MD_FILETAB, MD_PCTAB,
				       MD_PCLNTABLE, MD_FTAB };
	struct go_tab *tabs[6] = { &c->funcnametab, &c->cutab, &c->filetab, &c->pctab,
				   &c->pclntable, &c->ftab };
	for (int i = 0; i < 6; i++) {
		int64_t off = l->md[slices[i]];
		if (off < 0 || (uint64_t)off + 16 > l->md_size)
			return;
		memcpy(&tabs[i]->addr, md + off, 8);
		memcpy(&tabs[i]->len, md + off + 8, 8);
	}
	/* cutab is []uint32, ftab []functab: byte lengths for tab_read (the
	 * lengths are untrusted: no overflow) */
	if (c->cutab.len > UINT32_MAX || c->ftab.len > UINT32_MAX ||
	    l->md[MD_TEXT] < 0 || (uint64_t)l->md[MD_TEXT] + 8 > l->md_size)
		return;
	c->cutab.len *= 4;
	c->ftab.len *= l->ft_size;
	for (int i = 0; i < 6; i++)
		tabs[i]->p = cprof_core_ptr(core, tabs[i]->addr, tabs[i]->len);
	memcpy(&c->text, md + l->md[MD_TEXT], 8);
	int64_t tsm = l->md[MD_TEXTSECTMAP];
	if (tsm >= 0 && (uint64_t)tsm + 16 <= l->md_size) {   /* optional */
		uint64_t nsect;
		memcpy(&nsect, md + tsm + 8, 8);
		if (nsect > 1)
			return;    /* pc -> text offset would need the section map */
	}
	/* For the stack maps: funcdata's base, type masks' base, the header. */
	static const int words[3] = { MD_GOFUNC, MD_RODATA, MD_PCHEADER };
	uint64_t *vals[3] = { &c->gofunc, &c->rodata, &c->pcheader };
	for (int i = 0; i < 3; i++)
		if (l->md[words[i]] >= 0 && (uint64_t)l->md[words[i]] + 8 <= l->md_size)
			memcpy(vals[i], md + l->md[words[i]], 8);
	uint32_t magic = 0;
	if (c->pcheader && l->pch_magic >= 0)
		cprof_core_try_read(core, c->pcheader + l->pch_magic, &magic, 4);
	go_layout_pcln_constants(&rt->priv->l, magic);
	c->ok = c->ftab.len >= 2 * l->ft_size;   /* one function and the end */
}

/* One varint of pctab at *off (runtime.readvarint). */
static bool varint(struct cprof_core *core, const struct go_pcln *c, uint64_t *off,
		   uint32_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 35; shift += 7) {
		uint8_t b;
		if (!tab_read(core, &c->pctab, (*off)++, &b, 1))
			return false;
		*v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* runtime.pcvalue: the value of table off at targetpc, -1 when not found.
 * Pairs (value delta, pc delta) run from the entry; the value holds until pc
 * passes targetpc.  A zero value delta after the first pair ends the table. */
static int32_t pcvalue(struct cprof_core *core, const struct go_pcln *c, uint32_t off,
		       uint64_t entry, uint64_t targetpc)
{
	if (!off)
		return -1;
	uint64_t p = off, pc = entry;
	int32_t val = -1;
	for (bool first = true;; first = false) {
		uint32_t uv, pcd;
		if (!varint(core, c, &p, &uv) || (uv == 0 && !first) ||
		    !varint(core, c, &p, &pcd))
			return -1;
		val += (int32_t)(-(uv & 1) ^ (uv >> 1));    /* zigzag */
		pc += pcd;                                  /* * PCQuantum (1) */
		if (targetpc < pc)
			return val;
	}
}

/* The tables of rt, when they could be read. */
static const struct go_pcln *pcln_of(const struct cprof_go_runtime *rt)
{
	return rt->priv && rt->priv->pcln.ok ? &rt->priv->pcln : NULL;
}

/* The offset in pclntable of the _func holding pc (ftab is sorted by
 * entryoff; its last entry marks etext). */
static bool find_func(struct cprof_core *core, const struct go_layout *l,
		      const struct go_pcln *c, uint64_t pc, uint32_t *funcoff)
{
	if (pc < c->text || pc - c->text > UINT32_MAX)
		return false;
	uint32_t off = (uint32_t)(pc - c->text), e;
	uint64_t n = c->ftab.len / l->ft_size, lo = 0, hi = n - 1;
	if (n < 2 ||
	    !tab_u32(core, &c->ftab, (n - 1) * l->ft_size + l->ft_entry, &e) || off >= e ||
	    !tab_u32(core, &c->ftab, l->ft_entry, &e) || off < e)
		return false;
	while (hi - lo > 1) {   /* entry[lo] <= off < entry[hi] */
		uint64_t mid = lo + (hi - lo) / 2;
		if (!tab_u32(core, &c->ftab, mid * l->ft_size + l->ft_entry, &e))
			return false;
		if (e <= off)
			lo = mid;
		else
			hi = mid;
	}
	return tab_u32(core, &c->ftab, lo * l->ft_size + l->ft_func, funcoff) &&
	       *funcoff < c->pclntable.len;
}

static bool func_u32(struct cprof_core *core, const struct go_pcln *c, const struct go_func *f,
		     int64_t member, uint32_t *v)
{
	return member >= 0 && tab_u32(core, &c->pclntable, f->off + (uint64_t)member, v);
}

static bool func_u8(struct cprof_core *core, const struct go_pcln *c, const struct go_func *f,
		    int64_t member, uint8_t *v)
{
	return member >= 0 && tab_read(core, &c->pclntable, f->off + (uint64_t)member, v, 1);
}

static bool read_func(struct cprof_core *core, const struct go_layout *l,
		      const struct go_pcln *c, uint64_t pc, struct go_func *f)
{
	const int64_t *o = l->func;
	uint32_t entryoff, args = 0;
	memset(f, 0, sizeof(*f));
	if (!find_func(core, l, c, pc, &f->off) ||
	    !func_u32(core, c, f, o[FUNC_ENTRY], &entryoff) ||
	    !func_u32(core, c, f, o[FUNC_NAME], &f->nameoff) ||
	    !func_u32(core, c, f, o[FUNC_PCFILE], &f->pcfile) ||
	    !func_u32(core, c, f, o[FUNC_PCLN], &f->pcln) ||
	    !func_u32(core, c, f, o[FUNC_CU], &f->cu) ||
	    !func_u32(core, c, f, o[FUNC_NPCDATA], &f->npcdata) ||
	    !func_u8(core, c, f, o[FUNC_NFUNCDATA], &f->nfuncdata))
		return false;
	/* for the unwinder and the stack maps (absent: 0) */
	func_u32(core, c, f, o[FUNC_PCSP], &f->pcsp);
	func_u32(core, c, f, o[FUNC_ARGS], &args);
	func_u32(core, c, f, o[FUNC_DEFERRETURN], &f->deferreturn);
	func_u8(core, c, f, o[FUNC_FLAG], &f->flag);
	f->args = (int32_t)args;
	f->addr = c->pclntable.addr + f->off;
	f->entry = c->text + entryoff;
	if (!tab_str(core, &c->funcnametab, f->nameoff, f->name, sizeof(f->name)))
		snprintf(f->name, sizeof(f->name), "?");
	return true;
}

/* The file and line at pc of f (runtime.funcline1): "?" and 0 when the
 * tables have none (-1, not any negative: padding can hold others). */
static void file_line(struct cprof_core *core, const struct go_pcln *c, const struct go_func *f,
		      uint64_t pc, char *file, size_t file_size, int *line)
{
	int32_t fileno = pcvalue(core, c, f->pcfile, f->entry, pc);
	int32_t ln = pcvalue(core, c, f->pcln, f->entry, pc);
	uint32_t fileoff;
	*line = 0;
	if (fileno < 0 || ln == -1 ||
	    !tab_u32(core, &c->cutab, ((uint64_t)f->cu + (uint32_t)fileno) * 4, &fileoff) ||
	    fileoff == UINT32_MAX || !tab_str(core, &c->filetab, fileoff, file, file_size)) {
		if (file_size)
			snprintf(file, file_size, "?");
		return;
	}
	*line = ln;
}

bool cprof_go_pc_info(struct cprof_core *core, const struct cprof_go_runtime *rt,
		      uint64_t pc, bool is_return, char *func, size_t func_size,
		      char *file, size_t file_size, int *line)
{
	const struct go_pcln *c = pcln_of(rt);
	struct go_func f;
	if (!c)
		return false;
	if (is_return)
		pc--;   /* the call, not the instruction after it */
	if (!read_func(core, &rt->priv->l, c, pc, &f) ||
	    !func_name(core, &c->funcnametab, f.nameoff, func, func_size))
		return false;
	file_line(core, c, &f, pc, file, file_size, line);
	return true;
}

/* ---- the inline tree ---- */

static int32_t pcdata(struct cprof_core *core, const struct go_layout *l,
		      const struct go_pcln *c, const struct go_func *f, int64_t table, uint64_t pc)
{
	uint32_t off;
	if (table < 0 || table >= f->npcdata ||
	    !func_u32(core, c, f, l->func[FUNC_NFUNCDATA] + 1 + 4 * table, &off))
		return -1;
	return pcvalue(core, c, off, f->entry, pc);
}

static uint64_t funcdata(struct cprof_core *core, const struct go_layout *l,
			 const struct go_pcln *c, const struct go_func *f, int64_t i)
{
	uint32_t off;
	if (i < 0 || i >= f->nfuncdata || !c->gofunc ||
	    !func_u32(core, c, f, l->func[FUNC_NFUNCDATA] + 1 + 4 * ((int64_t)f->npcdata + i),
		      &off) ||
	    off == UINT32_MAX)
		return 0;
	return c->gofunc + off;
}

static size_t add_call(struct cprof_core *core, struct cprof_go_call *ret, size_t n,
		       size_t max, const char *func, const char *file, int line, bool inlined)
{
	if (n < max) {
		const char *fn = cprof_core_intern(core, func), *fl = cprof_core_intern(core, file);
		ret[n] = (struct cprof_go_call){ fn ? fn : "?", fl ? fl : "?", line, inlined };
	}
	return n + 1;
}

size_t cprof_go_pc_calls(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 uint64_t pc, bool is_return, struct cprof_go_call *ret, size_t max)
{
	const struct go_pcln *c = pcln_of(rt);
	const struct go_layout *l = rt->priv ? &rt->priv->l : NULL;
	struct go_func f;
	char name[512], file[1024];
	int line;
	if (!c || !max)
		return 0;
	if (is_return)
		pc--;
	if (!read_func(core, l, c, pc, &f))
		return 0;
	uint64_t tree = l->c_ok ? funcdata(core, l, c, &f, l->c[C_FD_INLTREE]) : 0;
	int32_t index = tree ? pcdata(core, l, c, &f, l->c[C_PCD_INLTREE], pc) : -1;
	size_t n = 0;
	/* newInlineUnwinder and next: each inlined call's position is at the
	   current pc; its caller's at entry + parentPc. */
	for (int depth = 0; index >= 0 && depth < MAX_INLINE_DEPTH && n < max; depth++) {
		uint8_t rec[64];
		int32_t nameoff, parentpc;
		struct cprof_error *err = l->inl_size <= sizeof(rec) ?
			cprof_core_read(core, tree + (uint64_t)index * l->inl_size, rec,
					l->inl_size) :
			cprof_error_create(CPROF_ERROR_UNSUPPORTED, "inlinedCall too big");
		if (err) {
			cprof_error_destroy(err);
			break;     /* the physical function still holds */
		}
		memcpy(&nameoff, rec + l->inl_name, 4);
		memcpy(&parentpc, rec + l->inl_parentpc, 4);
		if (nameoff < 0 || !func_name(core, &c->funcnametab, (uint64_t)nameoff, name,
					      sizeof(name)))
			snprintf(name, sizeof(name), "?");
		file_line(core, c, &f, pc, file, sizeof(file), &line);
		n = add_call(core, ret, n, max, name, file, line, true);
		if (parentpc < 0)
			break;     /* corrupt: keep the physical function's line */
		pc = f.entry + (uint64_t)parentpc;
		index = pcdata(core, l, c, &f, l->c[C_PCD_INLTREE], pc);
	}
	if (n >= max)
		n = max - 1;       /* room for the physical function */
	if (!func_name(core, &c->funcnametab, f.nameoff, name, sizeof(name)))
		snprintf(name, sizeof(name), "?");   /* f.name may be truncated */
	file_line(core, c, &f, pc, file, sizeof(file), &line);
	return add_call(core, ret, n, max, name, file, line, false);
}

/* ---- for the unwinder and the stack maps ---- */

bool go_func_find(struct cprof_core *core, const struct cprof_go_runtime *rt, uint64_t pc,
		  struct go_func *ret)
{
	const struct go_pcln *c = pcln_of(rt);
	return c && read_func(core, &rt->priv->l, c, pc, ret);
}

int32_t go_func_pcdata(struct cprof_core *core, const struct cprof_go_runtime *rt,
		       const struct go_func *f, int64_t table, uint64_t pc)
{
	const struct go_pcln *c = pcln_of(rt);
	return c ? pcdata(core, &rt->priv->l, c, f, table, pc) : -1;
}

uint64_t go_func_funcdata(struct cprof_core *core, const struct cprof_go_runtime *rt,
			  const struct go_func *f, int64_t i)
{
	const struct go_pcln *c = pcln_of(rt);
	return c ? funcdata(core, &rt->priv->l, c, f, i) : 0;
}

int32_t cprof_go_pcvalue(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 uint32_t off, uint64_t entry, uint64_t targetpc)
{
	const struct go_pcln *c = pcln_of(rt);
	return c ? pcvalue(core, c, off, entry, targetpc) : -1;
}
