/*
 * pcln.c - function, file and line of a Go PC from the runtime's own symbol
 * table, pclntab (see cprof_go_pc_info in include/cprof/goruntime.h).
 *
 * Why: the DWARF line tables of Go 1.26 binaries are not readable by the
 * elfutils we build against, but the runtime carries its own tables for
 * tracebacks.  We follow runtime/symtab.go: findfunc (here a binary search of
 * ftab instead of the findfunctab buckets), funcInfo, pcvalue, funcfile.
 *
 * Layouts (runtime.moduledata, runtime._func, runtime.functab) come from
 * DWARF; only the pointer size (8), a slice being {ptr, len, cap}, and the
 * pcvalue encoding (zigzag varint value delta, varint pc delta times
 * PCQuantum = 1 on amd64) are known here: they are the format.
 *
 * Not handled: inlining.  The name is that of the physical (outer) function,
 * while pcfile/pcln give the innermost inlined position, as `go tool
 * addr2line` (debug/gosym) does.  Modules with several text sections
 * (textsectmap, only for huge binaries on some architectures) give false.
 */
#include <stdio.h>
#include <string.h>

#include "cprof/goruntime.h"

/* A Go slice of the module data: where it is and, when the core or the
 * executable holds it contiguously, a zero-copy pointer. */
struct tab {
	uint64_t addr, len;
	const uint8_t *p;
};

/* Read once per runtime: the tables and the layouts of _func and functab. */
static struct pcln {
	const struct cprof_core *core;
	const struct cprof_go_runtime *rt;
	const struct cprof_module *module;
	bool ok;
	uint64_t text;
	struct tab funcnametab, cutab, filetab, pctab, pclntable, ftab;
	int64_t f_entry, f_name, f_pcfile, f_pcln, f_cu;   /* runtime._func */
	int64_t ft_entry, ft_func;                         /* runtime.functab */
	uint64_t ft_size;
} cache;

/* Copies [off, off + len) of t into buf; false when outside t or unreadable. */
static bool tab_read(struct cprof_core *core, const struct tab *t, uint64_t off,
		     void *buf, size_t len)
{
	if (off > t->len || len > t->len - off)
		return false;
	if (t->p) {
		memcpy(buf, t->p + off, len);
		return true;
	}
	struct cprof_error *err = cprof_core_read(core, t->addr + off, buf, len);
	cprof_error_destroy(err);
	return !err;
}

static bool tab_u32(struct cprof_core *core, const struct tab *t, uint64_t off,
		    uint32_t *v)
{
	return tab_read(core, t, off, v, 4);
}

/* The NUL-terminated string at off into buf (truncated to size). */
static bool tab_str(struct cprof_core *core, const struct tab *t, uint64_t off,
		    char *buf, size_t size)
{
	if (!size)
		return true;
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

/* Offsets of members in struct name; false when the struct or one is missing
 * or a uint32 member is not 4 bytes (another layout than we know). */
static bool layout(struct cprof_core *core, const struct cprof_module *m,
		   const char *name, const char *const *names, int64_t *offs,
		   size_t n, uint64_t *size)
{
	struct cprof_dwarf_member mem[8];
	for (size_t i = 0; i < n; i++)
		mem[i] = (struct cprof_dwarf_member){ names[i], -1, -1 };
	if (!cprof_dwarf_struct(core, m, NULL, name, mem, n, size))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (mem[i].offset < 0 || mem[i].size != 4)
			return false;
		offs[i] = mem[i].offset;
	}
	return true;
}

static bool open_pcln(struct cprof_core *core, const struct cprof_go_runtime *rt,
		      struct pcln *c)
{
	static const char *const mdn[] = {
		"funcnametab", "cutab", "filetab", "pctab", "pclntable", "ftab",
		"text", "textsectmap",
	};
	static const char *const fn[] = { "entryOff", "nameOff", "pcfile", "pcln", "cuOffset" };
	static const char *const ftn[] = { "entryoff", "funcoff" };
	struct cprof_dwarf_member mem[8];
	uint64_t md, size, fsize;
	int64_t foff[5], ftoff[2];
	for (size_t i = 0; i < 8; i++)
		mem[i] = (struct cprof_dwarf_member){ mdn[i], -1, -1 };
	if (!rt->module ||
	    !cprof_core_find_symbol(core, rt->module, "runtime.firstmoduledata", &md, NULL) ||
	    !cprof_dwarf_struct(core, rt->module, NULL, "runtime.moduledata", mem, 8, &size) ||
	    !layout(core, rt->module, "runtime._func", fn, foff, 5, &fsize) ||
	    !layout(core, rt->module, "runtime.functab", ftn, ftoff, 2, &c->ft_size) ||
	    size > 4096)
		return false;
	uint8_t buf[4096];
	struct cprof_error *err = cprof_core_read(core, md, buf, size);
	cprof_error_destroy(err);
	if (err)
		return false;
	/* The first six are slices {ptr, len, cap}: ptr and len are enough. */
	struct tab *tabs[6] = { &c->funcnametab, &c->cutab, &c->filetab, &c->pctab,
				&c->pclntable, &c->ftab };
	for (int i = 0; i < 7; i++)
		if (mem[i].offset < 0 || (uint64_t)mem[i].offset + 16 > size)
			return false;
	for (int i = 0; i < 6; i++) {
		memcpy(&tabs[i]->addr, buf + mem[i].offset, 8);
		memcpy(&tabs[i]->len, buf + mem[i].offset + 8, 8);
		tabs[i]->p = cprof_core_ptr(core, tabs[i]->addr, tabs[i]->len);
	}
	/* cutab is []uint32, ftab []functab: byte lengths for tab_read (the
	 * lengths are untrusted: no overflow) */
	if (!c->ft_size || c->cutab.len > UINT32_MAX || c->ftab.len > UINT32_MAX)
		return false;
	c->cutab.len *= 4;
	c->ftab.len *= c->ft_size;
	memcpy(&c->text, buf + mem[6].offset, 8);
	if (mem[7].offset >= 0 && (uint64_t)mem[7].offset + 16 <= size) {   /* optional */
		uint64_t nsect;
		memcpy(&nsect, buf + mem[7].offset + 8, 8);
		if (nsect > 1)
			return false;   /* pc -> text offset would need the section map */
	}
	c->f_entry = foff[0]; c->f_name = foff[1]; c->f_pcfile = foff[2];
	c->f_pcln = foff[3]; c->f_cu = foff[4];
	c->ft_entry = ftoff[0]; c->ft_func = ftoff[1];
	return c->ftab.len >= 2 * c->ft_size;   /* at least one function and the end */
}

/* One varint of pctab at *off (runtime.readvarint). */
static bool varint(struct cprof_core *core, const struct pcln *c, uint64_t *off,
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
static int32_t pcvalue(struct cprof_core *core, const struct pcln *c, uint32_t off,
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

/* The tables of (core, rt), opened once: a single-entry cache. */
static struct pcln *pcln_get(struct cprof_core *core, const struct cprof_go_runtime *rt)
{
	struct pcln *c = &cache;
	if (c->core != core || c->rt != rt || c->module != rt->module) {
		memset(c, 0, sizeof(*c));
		c->core = core;
		c->rt = rt;
		c->module = rt->module;
		c->ok = open_pcln(core, rt, c);
	}
	return c->ok ? c : NULL;
}

/* The offset in pclntable of the _func holding pc (ftab is sorted by
 * entryoff; its last entry marks etext). */
static bool find_func(struct cprof_core *core, const struct pcln *c, uint64_t pc,
		      uint32_t *funcoff)
{
	if (pc < c->text || pc - c->text > UINT32_MAX)
		return false;
	uint32_t off = (uint32_t)(pc - c->text), e;
	uint64_t n = c->ftab.len / c->ft_size, lo = 0, hi = n - 1;
	if (n < 2 ||
	    !tab_u32(core, &c->ftab, (n - 1) * c->ft_size + c->ft_entry, &e) || off >= e ||
	    !tab_u32(core, &c->ftab, c->ft_entry, &e) || off < e)
		return false;
	while (hi - lo > 1) {   /* entry[lo] <= off < entry[hi] */
		uint64_t mid = lo + (hi - lo) / 2;
		if (!tab_u32(core, &c->ftab, mid * c->ft_size + c->ft_entry, &e))
			return false;
		if (e <= off)
			lo = mid;
		else
			hi = mid;
	}
	return tab_u32(core, &c->ftab, lo * c->ft_size + c->ft_func, funcoff);
}

bool cprof_go_pc_info(struct cprof_core *core, const struct cprof_go_runtime *rt,
		      uint64_t pc, bool is_return, char *func, size_t func_size,
		      char *file, size_t file_size, int *line)
{
	const struct pcln *c = pcln_get(core, rt);
	uint32_t funcoff;
	if (!c)
		return false;
	if (is_return)
		pc--;   /* the call, not the instruction after it */
	if (!find_func(core, c, pc, &funcoff))
		return false;

	/* The _func at pclntable[funcoff]. */
	uint32_t entryoff, nameoff, pcfile, pcln, cu, fileoff;
	if (!tab_u32(core, &c->pclntable, funcoff + c->f_entry, &entryoff) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_name, &nameoff) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_pcfile, &pcfile) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_pcln, &pcln) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_cu, &cu) ||
	    !tab_str(core, &c->funcnametab, nameoff, func, func_size))
		return false;
	uint64_t entry = c->text + entryoff;
	int32_t fileno = pcvalue(core, c, pcfile, entry, pc);
	int32_t ln = pcvalue(core, c, pcln, entry, pc);
	/* As runtime.funcline1: no file or line (-1, not any negative: padding
	 * can hold others) is "?" and 0; the name still holds. */
	*line = 0;
	if (fileno < 0 || ln == -1 ||
	    !tab_u32(core, &c->cutab, ((uint64_t)cu + (uint32_t)fileno) * 4, &fileoff) ||
	    fileoff == UINT32_MAX || !tab_str(core, &c->filetab, fileoff, file, file_size)) {
		if (file_size)
			snprintf(file, file_size, "?");
		return true;
	}
	*line = ln;
	return true;
}

/* ---- for the stack maps (src/goruntime/stackmap.c) ---- */

bool cprof_go_func_at(struct cprof_core *core, const struct cprof_go_runtime *rt,
		      uint64_t pc, uint64_t *func, uint64_t *entry,
		      char *name, size_t name_size)
{
	const struct pcln *c = pcln_get(core, rt);
	uint32_t funcoff, entryoff, nameoff;
	if (!c || !find_func(core, c, pc, &funcoff) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_entry, &entryoff) ||
	    !tab_u32(core, &c->pclntable, funcoff + c->f_name, &nameoff) ||
	    funcoff >= c->pclntable.len)
		return false;
	if (name && !tab_str(core, &c->funcnametab, nameoff, name, name_size))
		return false;
	*func = c->pclntable.addr + funcoff;
	*entry = c->text + entryoff;
	return true;
}

int32_t cprof_go_pcvalue(struct cprof_core *core, const struct cprof_go_runtime *rt,
			 uint32_t off, uint64_t entry, uint64_t targetpc)
{
	const struct pcln *c = pcln_get(core, rt);
	return c ? pcvalue(core, c, off, entry, targetpc) : -1;
}
