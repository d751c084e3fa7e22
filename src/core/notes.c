/*
 * notes.c - the notes of a core: threads, process, signal, auxv, mapped files.
 *
 * libelf walks the notes (gelf_getnote); the descriptors are kernel ABI
 * structures whose x86-64 layouts are fixed, so they are read at the offsets
 * below.  When this file is built on x86-64 the offsets are checked against
 * <sys/procfs.h> at compile time.
 *
 * The kernel writes, per thread, NT_PRSTATUS followed by that thread's other
 * register notes (NT_FPREGSET, NT_X86_XSTATE, ...), the thread that took the
 * fatal signal first.  Process-wide notes (NT_PRPSINFO, NT_SIGINFO, NT_AUXV,
 * NT_FILE) come once.  gdb's gcore writes the same notes.
 */
#include <elf.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef NT_SIGINFO
#define NT_SIGINFO 0x53494749
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* struct elf_prstatus (x86-64) */
enum {
	PRSTATUS_SIZE = 336,
	PRSTATUS_CURSIG = 12,      /* short */
	PRSTATUS_PID = 32,
	PRSTATUS_REG = 112,        /* elf_gregset_t: 27 x u64 */
};
/* struct elf_prpsinfo (x86-64) */
enum {
	PRPSINFO_SIZE = 136,
	PRPSINFO_FLAG = 8,         /* the task's flags (unsigned long) */
	PRPSINFO_UID = 16, PRPSINFO_GID = 20, PRPSINFO_PID = 24,
	PRPSINFO_PPID = 28, PRPSINFO_FNAME = 40, PRPSINFO_PSARGS = 56,
};
/* siginfo_t */
enum { SIGINFO_SIGNO = 0, SIGINFO_CODE = 8, SIGINFO_ADDR = 16, SIGINFO_MIN = 24 };
/* The FXSAVE area (NT_FPREGSET, and the start of XSAVE) */
enum { FXSAVE_XMM = 160, FXSAVE_SIZE = 512 };
/* XSAVE standard-format offsets of the components that can hold pointers. */
enum {
	XSAVE_XSTATE_BV = 512,
	XSAVE_YMMH = 576,          /* component 2, 16 x 16 bytes */
	XSAVE_ZMMH = 1152,         /* component 6, 16 x 32 bytes */
	XSAVE_HI16_ZMM = 1664,     /* component 7, 16 x 64 bytes */
};

#if defined(__x86_64__)
#include <stddef.h>
#include <sys/procfs.h>
_Static_assert(sizeof(struct elf_prstatus) == PRSTATUS_SIZE, "prstatus");
_Static_assert(offsetof(struct elf_prstatus, pr_reg) == PRSTATUS_REG, "pr_reg");
_Static_assert(offsetof(struct elf_prstatus, pr_pid) == PRSTATUS_PID, "pr_pid");
_Static_assert(offsetof(struct elf_prstatus, pr_cursig) == PRSTATUS_CURSIG, "cursig");
_Static_assert(sizeof(struct elf_prpsinfo) == PRPSINFO_SIZE, "prpsinfo");
_Static_assert(offsetof(struct elf_prpsinfo, pr_psargs) == PRPSINFO_PSARGS, "psargs");
_Static_assert(offsetof(struct elf_prpsinfo, pr_fname) == PRPSINFO_FNAME, "fname");
_Static_assert(offsetof(struct elf_prpsinfo, pr_flag) == PRPSINFO_FLAG, "flag");
#endif

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static struct cprof_error *add_thread(struct cprof_core *core,
				      const uint8_t *d, size_t size,
				      size_t *capacity)
{
	if (size < PRSTATUS_SIZE) {
		cprof_warn(core->warnings, "%s: NT_PRSTATUS note of %zu bytes is too short; thread ignored",
			   core->path, size);
		return NULL;
	}
	if (core->n_threads == *capacity) {
		size_t cap = *capacity ? 2 * *capacity : 8;
		struct cprof_thread *t = realloc(core->threads, cap * sizeof(*t));
		if (!t)
			return &cprof_enomem;
		core->threads = t;
		*capacity = cap;
	}
	struct cprof_thread *t = &core->threads[core->n_threads++];
	memset(t, 0, sizeof(*t));
	t->tid = (int)get32(d + PRSTATUS_PID);
	int16_t cursig;
	memcpy(&cursig, d + PRSTATUS_CURSIG, 2);
	t->cursig = cursig;
	for (int i = 0; i < CPROF_NREGS; i++)
		t->regs[i] = get64(d + PRSTATUS_REG + 8 * i);
	return NULL;
}

static void copy_lanes(struct cprof_thread *t, int *count, const uint8_t *src,
		       int n)
{
	int base = t->n_xmm + t->n_ymmh + t->n_zmmh_lanes + t->n_hi16_lanes;
	if (base + n > CPROF_MAX_VEC_LANES)
		n = CPROF_MAX_VEC_LANES - base;
	memcpy(t->vec[base], src, 16 * (size_t)n);
	*count += n;
}

/* NT_FPREGSET: the FXSAVE area, xmm0-15.  NT_X86_XSTATE supersedes it. */
static void add_fpregs(struct cprof_thread *t, const uint8_t *d, size_t size)
{
	if (t->vec_source || size < FXSAVE_SIZE)
		return;
	t->vec_source = "NT_FPREGSET";
	copy_lanes(t, &t->n_xmm, d + FXSAVE_XMM, 16);
}

static void add_xstate(struct cprof_thread *t, const uint8_t *d, size_t size)
{
	if (size < XSAVE_XSTATE_BV + 8)
		return;
	uint64_t bv = get64(d + XSAVE_XSTATE_BV);
	t->vec_source = "NT_X86_XSTATE";
	t->n_xmm = t->n_ymmh = t->n_zmmh_lanes = t->n_hi16_lanes = 0;
	memset(t->vec, 0, sizeof(t->vec));
	/* A component whose xstate_bv bit is clear is in its initial state
	   (zero): it holds no pointer, and its bytes in the note are stale. */
	if (bv & (1u << 1))
		copy_lanes(t, &t->n_xmm, d + FXSAVE_XMM, 16);
	if ((bv & (1u << 2)) && size >= XSAVE_YMMH + 256)
		copy_lanes(t, &t->n_ymmh, d + XSAVE_YMMH, 16);
	if ((bv & (1u << 6)) && size >= XSAVE_ZMMH + 512)
		copy_lanes(t, &t->n_zmmh_lanes, d + XSAVE_ZMMH, 32);
	if ((bv & (1u << 7)) && size >= XSAVE_HI16_ZMM + 1024)
		copy_lanes(t, &t->n_hi16_lanes, d + XSAVE_HI16_ZMM, 64);
}

/* What the notes say about who wrote them (see dumper()). */
struct note_facts {
	bool any;                  /* a note was seen */
	uint32_t first_type;       /* the type of the first note */
	unsigned n_siginfo;
	uint64_t pr_flag;          /* NT_PRPSINFO's */
};

static void read_psinfo(struct cprof_core *core, const uint8_t *d, size_t size,
			struct note_facts *facts)
{
	if (size < PRPSINFO_SIZE)
		return;
	struct cprof_process *p = &core->process;
	facts->pr_flag = get64(d + PRPSINFO_FLAG);
	p->has_psinfo = true;
	p->uid = (int)get32(d + PRPSINFO_UID);
	p->gid = (int)get32(d + PRPSINFO_GID);
	p->pid = (int)get32(d + PRPSINFO_PID);
	p->ppid = (int)get32(d + PRPSINFO_PPID);
	memcpy(p->command, d + PRPSINFO_FNAME, 16);
	p->command[16] = '\0';
	memcpy(p->args, d + PRPSINFO_PSARGS, 80);
	p->args[80] = '\0';
	/* The kernel joins argv with spaces but leaves a trailing one. */
	size_t n = strlen(p->args);
	p->args_truncated = n == 79;
	while (n && p->args[n - 1] == ' ')
		p->args[--n] = '\0';
}

static void read_siginfo(struct cprof_core *core, const uint8_t *d, size_t size)
{
	if (size < SIGINFO_MIN)
		return;
	struct cprof_process *p = &core->process;
	p->has_siginfo = true;
	p->signo = (int)get32(d + SIGINFO_SIGNO);
	p->sigcode = (int)get32(d + SIGINFO_CODE);
	p->sigaddr = get64(d + SIGINFO_ADDR);
}

static struct cprof_error *read_auxv(struct cprof_core *core, const uint8_t *d,
				     size_t size)
{
	size_t n = size / 16;
	free(core->auxv);
	core->auxv = calloc(n ? n : 1, sizeof(*core->auxv));
	if (!core->auxv)
		return &cprof_enomem;
	core->n_auxv = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t type = get64(d + 16 * i);
		if (type == 0)         /* AT_NULL */
			break;
		core->auxv[core->n_auxv].type = type;
		core->auxv[core->n_auxv].value = get64(d + 16 * i + 8);
		core->n_auxv++;
	}
	return NULL;
}

/* Returns the index of path in core->files, adding it when new. */
static struct cprof_error *intern_file(struct cprof_core *core, const char *path,
				       size_t len, size_t *ret)
{
	for (size_t i = 0; i < core->n_files; i++) {
		if (strlen(core->files[i].path) == len &&
		    !memcmp(core->files[i].path, path, len)) {
			*ret = i;
			return NULL;
		}
	}
	struct cprof_file *f = realloc(core->files,
				       (core->n_files + 1) * sizeof(*f));
	if (!f)
		return &cprof_enomem;
	core->files = f;
	f = &core->files[core->n_files];
	memset(f, 0, sizeof(*f));
	f->path = strndup(path, len);
	if (!f->path)
		return &cprof_enomem;
	*ret = core->n_files++;
	return NULL;
}

/*
 * NT_FILE: u64 count, u64 page_size, count x {start, end, page_offset}, then
 * count NUL-terminated paths.
 */
static struct cprof_error *read_nt_file(struct cprof_core *core,
					const uint8_t *d, size_t size)
{
	if (core->priv_ranges) {
		/* a core has one NT_FILE: a second one would be a second list of
		   the same mappings (and overrun the first one's array) */
		cprof_warn(core->warnings, "%s: a second NT_FILE note; ignored", core->path);
		return NULL;
	}
	if (size < 16)
		goto bad;
	uint64_t count = get64(d), page = get64(d + 8);
	/* `page` is the unit of the offsets: the page size for the kernel, 1 for
	   gdb's gcore.  The system's page size comes from AT_PAGESZ. */
	if (count > (size - 16) / 24 || page == 0 || (page & (page - 1)))
		goto bad;
	const char *names = (const char *)d + 16 + 24 * count;
	const char *end = (const char *)d + size;
	core->priv_ranges = calloc(count ? count : 1, sizeof(*core->priv_ranges));
	if (!core->priv_ranges)
		return &cprof_enomem;
	for (uint64_t i = 0; i < count; i++) {
		const char *nul = memchr(names, '\0', end - names);
		if (!nul)
			goto bad;
		struct core_file_range *r = &core->priv_ranges[core->n_priv_ranges];
		r->start = get64(d + 16 + 24 * i);
		r->end = get64(d + 16 + 24 * i + 8);
		r->offset = get64(d + 16 + 24 * i + 16) * page;
		struct cprof_error *err = intern_file(core, names, nul - names,
						      &r->file);
		if (err)
			return err;
		if (r->end > r->start)
			core->n_priv_ranges++;
		names = nul + 1;
	}
	return NULL;
bad:
	cprof_warn(core->warnings, "%s: NT_FILE note is malformed; file-backed mappings are unknown",
		   core->path);
	core->n_priv_ranges = 0;
	return NULL;
}

const char *cprof_dumper_name(enum cprof_dumper d)
{
	switch (d) {
	case CPROF_DUMPER_UNKNOWN: return "unknown";
	case CPROF_DUMPER_KERNEL: return "kernel";
	case CPROF_DUMPER_GCORE: return "gcore";
	}
	return "?";
}

/*
 * Who wrote the core, and the signal that killed the process.
 *   - The kernel writes the dumping thread's NT_PRSTATUS first and one
 *     NT_SIGINFO, and NT_PRPSINFO's pr_flag is the task's flags: PF_DUMPCORE
 *     (0x200) and PF_SIGNALED (0x400) when the leader is the thread that
 *     took the signal.  The fatal signal is NT_SIGINFO's (else pr_cursig).
 *   - gdb's gcore writes NT_PRPSINFO first, an NT_SIGINFO per thread (the
 *     ptrace stop: SIGSTOP, si_code SI_KERNEL) and pr_cursig 0 for a process
 *     it attached to.  Its pr_flag is 0, or the task's flags as /proc says
 *     them - never PF_DUMPCORE or PF_SIGNALED, but PF_RANDOMIZE (0x400000)
 *     whenever address space randomization is on.  The process was stopped,
 *     not killed.
 */
static void dumper(struct cprof_core *core, const struct note_facts *f)
{
	enum { PF_DUMPCORE = 0x200, PF_SIGNALED = 0x400 };
	struct cprof_process *p = &core->process;
	int signo = p->has_siginfo ? p->signo :
		    core->n_threads ? core->threads[0].cursig : 0;
	if ((f->pr_flag & (PF_DUMPCORE | PF_SIGNALED)) ||
	    (f->first_type == NT_PRSTATUS && f->n_siginfo <= 1 && p->has_psinfo)) {
		p->dumper = CPROF_DUMPER_KERNEL;
		p->fatal_signal = signo;
	} else if (f->first_type == NT_PRPSINFO &&
		   !(f->pr_flag & (PF_DUMPCORE | PF_SIGNALED))) {
		p->dumper = CPROF_DUMPER_GCORE;
		p->fatal_signal = 0;
	} else {
		p->dumper = CPROF_DUMPER_UNKNOWN;
		p->fatal_signal = signo;
	}
}

struct cprof_error *core_read_notes(struct cprof_core *core)
{
	struct cprof_error *err;
	size_t phnum = core->phnum, thread_cap = 0;
	bool have_notes = false;
	struct note_facts facts = { 0 };
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(core->elf, i, &ph) || ph.p_type != PT_NOTE)
			continue;
		have_notes = true;
		uint64_t size = ph.p_filesz;
		if (ph.p_offset >= core->size) {
			cprof_warn(core->warnings, "%s: core file is truncated before its notes: no threads, no mapped file names",
				   core->path);
			continue;
		}
		if (size > core->size - ph.p_offset) {
			cprof_warn(core->warnings, "%s: core file is truncated inside its notes: some threads or mapped file names are lost",
				   core->path);
			size = core->size - ph.p_offset;
		}
		Elf_Data *data = elf_getdata_rawchunk(core->elf, ph.p_offset, size,
						      ELF_T_NHDR);
		if (!data) {
			cprof_warn(core->warnings, "%s: notes at offset %llu: %s",
				   core->path, (unsigned long long)ph.p_offset,
				   elf_errmsg(-1));
			continue;
		}
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;
		while (off < data->d_size &&
		       (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)data->d_buf + name_off;
			const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
			size_t dsz = nh.n_descsz;
			bool is_core = nh.n_namesz == 5 && !memcmp(name, "CORE", 5);
			bool is_linux = nh.n_namesz == 6 && !memcmp(name, "LINUX", 6);
			struct cprof_thread *cur = core->n_threads ?
				&core->threads[core->n_threads - 1] : NULL;
			if (!facts.any) {
				facts.any = true;
				facts.first_type = is_core ? nh.n_type : 0;
			}
			if (is_core && nh.n_type == NT_SIGINFO)
				facts.n_siginfo++;
			err = NULL;
			if (is_core && nh.n_type == NT_PRSTATUS)
				err = add_thread(core, desc, dsz, &thread_cap);
			else if (is_core && nh.n_type == NT_PRPSINFO)
				read_psinfo(core, desc, dsz, &facts);
			else if (is_core && nh.n_type == NT_SIGINFO)
				read_siginfo(core, desc, dsz);
			else if (is_core && nh.n_type == NT_AUXV)
				err = read_auxv(core, desc, dsz);
			else if (is_core && nh.n_type == NT_FILE)
				err = read_nt_file(core, desc, dsz);
			else if (is_core && nh.n_type == NT_FPREGSET && cur)
				add_fpregs(cur, desc, dsz);
			else if (is_linux && nh.n_type == NT_X86_XSTATE && cur)
				add_xstate(cur, desc, dsz);
			if (err)
				return err;
		}
	}
	for (size_t i = 0; i < core->n_auxv; i++)
		if (core->auxv[i].type == 6 /* AT_PAGESZ */ && core->auxv[i].value >= 4096 &&
		    !(core->auxv[i].value & (core->auxv[i].value - 1)))
			core->page_size = core->auxv[i].value;
	dumper(core, &facts);
	if (!have_notes)
		cprof_warn(core->warnings, "%s: core has no notes: no threads, registers or mapped file names",
			   core->path);
	else if (core->n_threads == 0)
		cprof_warn(core->warnings, "%s: core has no thread (no NT_PRSTATUS note)",
			   core->path);
	return NULL;
}

char *core_note_build_id(const uint8_t *notes, size_t size)
{
	size_t off = 0;
	while (size - off >= 12) {
		uint32_t namesz = get32(notes + off), descsz = get32(notes + off + 4),
			 type = get32(notes + off + 8);
		size_t name_off = off + 12;
		size_t desc_off = name_off + ((namesz + 3ull) & ~3ull);
		if (namesz > size || descsz > size || desc_off > size ||
		    descsz > size - desc_off)
			return NULL;
		if (type == NT_GNU_BUILD_ID && namesz == 4 &&
		    !memcmp(notes + name_off, "GNU", 4) && descsz > 0 && descsz <= 64) {
			char *s = malloc(2 * descsz + 1);
			if (!s)
				return NULL;
			for (size_t i = 0; i < descsz; i++)
				snprintf(s + 2 * i, 3, "%02x", notes[desc_off + i]);
			return s;
		}
		off = desc_off + ((descsz + 3ull) & ~3ull);
	}
	return NULL;
}
