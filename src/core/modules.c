/*
 * modules.c - the files behind the mappings, the ELF modules, their build-id
 * check, debug info, symbols and backtraces.  The only file that calls
 * libdwfl (a convention from drgn's history: keep it behind one door).
 *
 * Files: every path NT_FILE names is opened under --sysroot (or as given by
 * the EXE argument, for the executable) and mmapped, so that memory.c can read
 * the bytes the core left out.
 *
 * Modules: libdwfl's dwfl_core_file_report() finds the ELF objects from the
 * core (the link map, NT_FILE, the vdso in memory) and their build-ids as the
 * core holds them.  Our find_elf callback hands it the file we opened, after
 * comparing build-ids: a file whose build-id differs is the wrong file - it is
 * rejected for symbols and for memory reads, with a warning naming both ids.
 * libdwfl calls find_elf lazily, from inside calls that do not let us pass a
 * context, so the core being loaded is kept in a thread-local for the one
 * place where every module's ELF is loaded (load_modules()).
 */
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cprof/hash.h"
#include "core-internal.h"

struct unwound {
	int tid;
	struct cprof_frame *frames;
	size_t n;
	char *error;
};

struct cprof_core_dwfl {
	Dwfl *dwfl;
	Dwfl_Callbacks callbacks;
	char *debuginfo_path;
	bool attached;             /* dwfl_core_file_attach succeeded */
	char *sysroot;
	int exe_file;              /* index of the executable in core->files, or -1 */
	char name_buf[256];        /* a symbol name without its @version */
	struct unwound *unwound;   /* every thread's backtrace, once unwound */
	size_t n_unwound;
	bool unwound_done;
	/* Symbolization cache, direct-mapped by address: naming root slots
	   and goroutine frames asks for the same PCs thousands of times, and
	   dwfl_module_addrinfo costs microseconds (measured: 60% of analyze
	   on a core with 1000 goroutines). */
	struct sym_cache { uint64_t key; struct cprof_symbol sym; } *sym_cache;
	/* the second line source (one module) and interned strings */
	const struct cprof_module *line_module;
	cprof_line_fn *line_fn;
	void *line_arg;
	cprof_calls_fn *calls_fn;  /* for line_module too */
	void *calls_arg;
	char **interned;
	size_t n_interned, cap_interned;   /* open addressing, cap a power of 2 */
};

enum { SYM_CACHE_SIZE = 1 << 13 };

static __thread struct cprof_core *loading_core;

const char *cprof_module_status_name(enum cprof_module_status s)
{
	switch (s) {
	case CPROF_MODULE_OK: return "ok";
	case CPROF_MODULE_MISMATCH: return "mismatch";
	case CPROF_MODULE_MISSING: return "missing";
	case CPROF_MODULE_UNVERIFIED: return "unverified";
	}
	return "?";
}

const char *cprof_unwind_method_name(enum cprof_unwind_method m)
{
	switch (m) {
	case CPROF_UNWIND_INITIAL: return "initial";
	case CPROF_UNWIND_CFI: return "cfi";
	case CPROF_UNWIND_FRAME_POINTER: return "frame_pointer";
	}
	return "?";
}

const char *const cprof_reg_names[CPROF_NREGS] = {
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
	"rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
};

static char *hex_string(const unsigned char *bits, size_t n)
{
	char *s = malloc(2 * n + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", bits[i]);
	s[2 * n] = '\0';
	return s;
}

static uint64_t auxv_value(const struct cprof_core *core, uint64_t type)
{
	for (size_t i = 0; i < core->n_auxv; i++)
		if (core->auxv[i].type == type)
			return core->auxv[i].value;
	return 0;
}

/* The file whose mapping holds addr, or -1. */
static int file_at(const struct cprof_core *core, uint64_t addr)
{
	for (size_t i = 0; i < core->n_priv_ranges; i++) {
		const struct core_file_range *r = &core->priv_ranges[i];
		if (r->start <= addr && addr < r->end)
			return (int)r->file;
	}
	return -1;
}

static char *join_path(const char *sysroot, const char *path)
{
	char *s = NULL;
	if (!sysroot || !*sysroot)
		return strdup(path);
	if (asprintf(&s, "%s%s%s", sysroot, path[0] == '/' ? "" : "/", path) < 0)
		return NULL;
	return s;
}

static void map_file(struct cprof_file *f, const char *open_path)
{
	int fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			f->data = p;
			f->size = st.st_size;
			f->open_path = strdup(open_path);
			f->usable = f->open_path != NULL;
		}
	}
	close(fd);
}

/* Permissions of a file-only segment: from the ELF program header that maps
 * its file offset, when the file is an ELF object. */
static void file_only_flags(struct cprof_core *core)
{
	for (size_t i = 0; i < core->n_segments; i++) {
		struct cprof_segment *s = &core->segments[i];
		if (!s->file_only || !core->files[s->file].data)
			continue;
		const struct cprof_file *f = &core->files[s->file];
		Elf *elf = elf_memory((char *)f->data, f->size);
		size_t phnum;
		if (!elf)
			continue;
		if (elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &phnum) == 0) {
			for (size_t k = 0; k < phnum; k++) {
				GElf_Phdr ph;
				if (!gelf_getphdr(elf, k, &ph) || ph.p_type != PT_LOAD)
					continue;
				uint64_t lo = ph.p_offset & ~(core->page_size - 1);
				if (lo <= s->file_offset &&
				    s->file_offset < ph.p_offset + ph.p_filesz) {
					s->flags = (ph.p_flags & PF_R ? CPROF_SEG_R : 0) |
						   (ph.p_flags & PF_W ? CPROF_SEG_W : 0) |
						   (ph.p_flags & PF_X ? CPROF_SEG_X : 0);
					break;
				}
			}
		}
		elf_end(elf);
	}
}

struct cprof_error *core_open_files(struct cprof_core *core,
				    const struct cprof_core_options *opts)
{
	core->dw = calloc(1, sizeof(*core->dw));
	if (!core->dw)
		return &cprof_enomem;
	core->dw->exe_file = -1;
	if (opts->sysroot && !(core->dw->sysroot = strdup(opts->sysroot)))
		return &cprof_enomem;

	/* The executable is the file that maps the entry point (AT_ENTRY). */
	uint64_t entry = auxv_value(core, 9 /* AT_ENTRY */);
	if (entry)
		core->dw->exe_file = file_at(core, entry);

	if (opts->exe_path) {
		if (access(opts->exe_path, R_OK) < 0)
			return cprof_error_os(errno, opts->exe_path, "%s", "");
		if (core->dw->exe_file < 0)
			cprof_warn(core->warnings,
				   "%s: the core does not say which mapping is the executable; %s is used only for symbols",
				   core->path, opts->exe_path);
	}
	for (size_t i = 0; i < core->n_files; i++) {
		struct cprof_file *f = &core->files[i];
		if ((int)i == core->dw->exe_file && opts->exe_path) {
			map_file(f, opts->exe_path);
			continue;
		}
		/* Files are searched only by absolute path (not "/SYSV..." shm
		   objects or "[...]" names). */
		if (f->path[0] != '/' || !strncmp(f->path, "/SYSV", 5) ||
		    !strncmp(f->path, "/dev/", 5) || !strncmp(f->path, "/memfd:", 7))
			continue;
		char *p = join_path(opts->sysroot, f->path);
		if (!p)
			return &cprof_enomem;
		size_t n = strlen(p);
		static const char deleted[] = " (deleted)";
		if (n > sizeof(deleted) - 1 &&
		    !strcmp(p + n - (sizeof(deleted) - 1), deleted))
			p[n - (sizeof(deleted) - 1)] = '\0';
		map_file(f, p);
		free(p);
	}
	file_only_flags(core);
	return NULL;
}

void core_file_reject(struct cprof_core *core, size_t file)
{
	struct cprof_file *f = &core->files[file];
	f->usable = false;
}

/* The hex build-id of an ELF image in memory, or NULL. */
static char *image_build_id(const uint8_t *data, size_t size)
{
	Elf *elf = elf_memory((char *)data, size);
	if (!elf)
		return NULL;
	const void *bits;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
	char *s = n > 0 ? hex_string(bits, n) : NULL;
	elf_end(elf);
	return s;
}

/*
 * libdwfl's find_elf callback: hands libdwfl the file we mapped for this
 * module, when its build-id agrees with the one in the core.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	(void)userdata;
	(void)base;
	(void)modname;
	struct cprof_core *core = loading_core;
	*elfp = NULL;
	if (!core)
		return -1;
	Dwarf_Addr start;
	dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	int fi = file_at(core, start);
	if (fi < 0 || !core->files[fi].usable)
		return -1;
	struct cprof_file *f = &core->files[fi];
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (n > 0) {
		char *want = hex_string(bits, n);
		char *have = image_build_id(f->data, f->size);
		bool same = want && have && !strcmp(want, have);
		if (!same) {
			cprof_warn(core->warnings,
				   "%s: build-id %s does not match the core's %s for %s; the file is not used (pass the right binary, or --sysroot)",
				   f->open_path, have ? have : "(none)",
				   want ? want : "?", f->path);
			core_file_reject(core, fi);
		}
		free(want);
		free(have);
		if (!same)
			return -1;
	}
	int fd = open(f->open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*file_name = strdup(f->open_path);
	return fd;
}

static char *debuginfo_path_for(const struct cprof_core_options *opts)
{
	/* libdwfl's syntax: a colon-separated list; a leading '+' checks the
	   .gnu_debuglink CRC.  Build-id lookups use <dir>/.build-id/xx/yyy.debug
	   under each absolute entry. */
	size_t len = 16;
	for (size_t i = 0; i < opts->n_debug_dirs; i++)
		len += strlen(opts->debug_dirs[i]) + 1;
	if (opts->sysroot)
		len += strlen(opts->sysroot) + 32;
	len += 32;
	char *s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, "+:.debug");
	for (size_t i = 0; i < opts->n_debug_dirs; i++) {
		strcat(s, ":");
		strcat(s, opts->debug_dirs[i]);
	}
	if (!opts->no_default_debug_dirs) {
		if (opts->sysroot) {
			strcat(s, ":");
			strcat(s, opts->sysroot);
			strcat(s, "/usr/lib/debug");
		}
		strcat(s, ":/usr/lib/debug");
	}
	return s;
}

static int module_cmp(const void *a, const void *b)
{
	const struct cprof_module *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int collect_module(Dwfl_Module *mod, void **userdata, const char *name,
			  Dwarf_Addr start, void *arg)
{
	(void)userdata;
	struct cprof_core *core = arg;
	struct cprof_module *m = realloc(core->modules,
					 (core->n_modules + 1) * sizeof(*m));
	if (!m)
		return DWARF_CB_ABORT;
	core->modules = m;
	m = &core->modules[core->n_modules++];
	memset(m, 0, sizeof(*m));
	m->dwfl_module = mod;
	m->name = strdup(name ? name : "?");
	m->start = start;
	Dwarf_Addr end;
	dwfl_module_info(mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
	m->end = end;
	return DWARF_CB_OK;
}

/* Loads each module's ELF (our find_elf runs here) and its debug info. */
static void load_modules(struct cprof_core *core)
{
	for (size_t i = 0; i < core->n_modules; i++) {
		struct cprof_module *m = &core->modules[i];
		Dwfl_Module *mod = m->dwfl_module;
		const unsigned char *bits;
		GElf_Addr vaddr;
		int n = dwfl_module_build_id(mod, &bits, &vaddr);
		if (n > 0)
			m->build_id = hex_string(bits, n);
		int fi = file_at(core, m->start);
		GElf_Addr bias;
		Elf *elf = dwfl_module_getelf(mod, &bias);
		const char *mainfile = NULL, *debugfile = NULL;
		if (elf) {
			const void *b;
			ssize_t bn = dwelf_elf_gnu_build_id(elf, &b);
			if (bn > 0)
				m->file_build_id = hex_string(b, bn);
			m->has_dwarf = dwfl_module_getdwarf(mod, &bias) != NULL;
			dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL,
					 &mainfile, &debugfile);
			if (mainfile)
				m->path = strdup(mainfile);
			else if (fi >= 0 && core->files[fi].open_path)
				m->path = strdup(core->files[fi].open_path);
			if (debugfile)
				m->debug_file = strdup(debugfile);
			m->status = m->build_id ? CPROF_MODULE_OK :
						  CPROF_MODULE_UNVERIFIED;
		} else if (fi >= 0 && core->files[fi].open_path &&
			   !core->files[fi].usable) {
			m->status = CPROF_MODULE_MISMATCH;
			m->path = strdup(core->files[fi].open_path);
			m->file_build_id = image_build_id(core->files[fi].data,
							  core->files[fi].size);
		} else if (fi >= 0 || m->name[0] == '/') {
			m->status = CPROF_MODULE_MISSING;
			cprof_warn(core->warnings,
				   "%s: not found%s%s; its symbols and the code the core left out are unavailable",
				   fi >= 0 ? core->files[fi].path : m->name,
				   core->dw->sysroot ? " under sysroot " : "",
				   core->dw->sysroot ? core->dw->sysroot : "");
		} else {
			/* The vdso and other images that live only in memory:
			   libdwfl reads them from the core. */
			m->status = m->build_id ? CPROF_MODULE_OK :
						  CPROF_MODULE_UNVERIFIED;
		}
	}
}

/*
 * The EXE argument against the core: libdwfl may have found the executable
 * on its own at the path the core records, so the file the user named is
 * checked here, and a mismatch is reported even then.
 */
static void check_exe_arg(struct cprof_core *core, const char *exe_path)
{
	int fi = core->dw->exe_file;
	uint64_t entry = auxv_value(core, 9 /* AT_ENTRY */);
	struct cprof_module *m = NULL;
	for (size_t i = 0; i < core->n_modules; i++)
		if (core->modules[i].start <= entry && entry < core->modules[i].end)
			m = &core->modules[i];
	if (!exe_path || fi < 0 || !m || !m->build_id || !core->files[fi].data)
		return;
	char *have = image_build_id(core->files[fi].data, core->files[fi].size);
	if (have && !strcmp(have, m->build_id)) {
		free(have);
		return;
	}
	cprof_warn(core->warnings,
		   "%s: build-id %s does not match the core's %s: not the executable that dumped this core; it is not used%s",
		   exe_path, have ? have : "(none)", m->build_id,
		   m->path && strcmp(m->path, exe_path) ?
		   " (symbols come from the file at the path the core records, whose build-id matches)" : "");
	core_file_reject(core, fi);
	m->status = CPROF_MODULE_MISMATCH;
	free(m->file_build_id);
	m->file_build_id = have;
	free(m->path);
	m->path = strdup(exe_path);
}

struct cprof_error *core_report_modules(struct cprof_core *core,
					const struct cprof_core_options *opts)
{
	struct cprof_core_dwfl *dw = core->dw;
	dw->debuginfo_path = debuginfo_path_for(opts);
	if (!dw->debuginfo_path)
		return &cprof_enomem;
	dw->callbacks.find_elf = find_elf;
	dw->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	dw->callbacks.debuginfo_path = &dw->debuginfo_path;
	dw->dwfl = dwfl_begin(&dw->callbacks);
	if (!dw->dwfl)
		return cprof_error_create(CPROF_ERROR_LIB, "dwfl_begin: %s",
					  dwfl_errmsg(-1));
	loading_core = core;
	dwfl_report_begin(dw->dwfl);
	const char *exe = dw->exe_file >= 0 && core->files[dw->exe_file].usable ?
			  core->files[dw->exe_file].open_path : NULL;
	int n = dwfl_core_file_report(dw->dwfl, core->elf, exe);
	if (n < 0)
		cprof_warn(core->warnings, "%s: dwfl_core_file_report: %s; no modules, symbols or backtraces",
			   core->path, dwfl_errmsg(-1));
	dwfl_report_end(dw->dwfl, NULL, NULL);
	if (dwfl_getmodules(dw->dwfl, collect_module, core, 0) != 0) {
		loading_core = NULL;
		return &cprof_enomem;
	}
	if (core->n_modules)
		qsort(core->modules, core->n_modules, sizeof(*core->modules),
		      module_cmp);
	load_modules(core);
	loading_core = NULL;
	check_exe_arg(core, opts->exe_path);
	if (core->n_threads) {
		if (dwfl_core_file_attach(dw->dwfl, core->elf) < 0) {
			const char *msg = dwfl_errmsg(-1);
			cprof_warn(core->warnings, "%s: dwfl_core_file_attach: %s; no backtraces",
				   core->path, msg ? msg : "failed");
		}
		else
			dw->attached = true;
	}
	return NULL;
}

void core_modules_release(struct cprof_core *core)
{
	for (size_t i = 0; i < core->n_modules; i++) {
		struct cprof_module *m = &core->modules[i];
		free(m->name);
		free(m->path);
		free(m->build_id);
		free(m->file_build_id);
		free(m->debug_file);
	}
	free(core->modules);
	if (core->dw) {
		for (size_t i = 0; i < core->dw->n_unwound; i++) {
			free(core->dw->unwound[i].frames);
			free(core->dw->unwound[i].error);
		}
		free(core->dw->unwound);
		if (core->dw->dwfl)
			dwfl_end(core->dw->dwfl);
		free(core->dw->debuginfo_path);
		free(core->dw->sysroot);
		free(core->dw->sym_cache);
		for (size_t i = 0; i < core->dw->cap_interned; i++)
			free(core->dw->interned[i]);
		free(core->dw->interned);
		free(core->dw);
	}
}

const struct cprof_module *cprof_core_module(const struct cprof_core *core,
					     uint64_t addr)
{
	size_t lo = 0, hi = core->n_modules;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cprof_module *m = &core->modules[mid];
		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

const struct cprof_module *cprof_core_executable(const struct cprof_core *core)
{
	uint64_t entry = auxv_value(core, 9 /* AT_ENTRY */);
	return entry ? cprof_core_module(core, entry) : NULL;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

bool cprof_core_symbolize(struct cprof_core *core, uint64_t addr,
			  bool is_return, struct cprof_symbol *ret)
{
	memset(ret, 0, sizeof(*ret));
	const struct cprof_module *m = cprof_core_module(core, addr);
	if (!m || !core->dw->dwfl)
		return false;
	struct cprof_core_dwfl *dwc = core->dw;
	uint64_t key = (addr << 1 | is_return) + 1;   /* never 0: 0 is empty */
	struct sym_cache *c = NULL;
	if (!dwc->sym_cache)
		dwc->sym_cache = calloc(SYM_CACHE_SIZE, sizeof(*dwc->sym_cache));
	if (dwc->sym_cache) {
		c = &dwc->sym_cache[(key * 0x9e3779b97f4a7c15ull) >> 51];
		if (c->key == key) {
			*ret = c->sym;
			return true;
		}
	}
	Dwfl_Module *mod = m->dwfl_module;
	uint64_t lookup = is_return && addr > m->start ? addr - 1 : addr;
	ret->module = base_name(m->name);
	ret->offset = addr - m->start;
	GElf_Off off;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(mod, lookup, &off, &sym, NULL,
						NULL, NULL);
	if (name) {
		/* "__libc_start_main@@GLIBC_2.34": the version is noise here. */
		const char *at = strchr(name, '@');
		if (at) {
			struct cprof_core_dwfl *dw = core->dw;
			size_t n = at - name;
			if (n >= sizeof(dw->name_buf))
				n = sizeof(dw->name_buf) - 1;
			memcpy(dw->name_buf, name, n);
			dw->name_buf[n] = '\0';
			name = dw->name_buf;
		}
		ret->function = name;
		ret->offset = off + (addr - lookup);
	}
	Dwfl_Line *line = dwfl_module_getsrc(mod, lookup);
	if (line) {
		int lineno = 0;
		const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL,
						 NULL, NULL);
		if (file) {
			ret->file = file;
			ret->line = lineno;
		}
	}
	/* The module's own line source wins when it knows addr: libdw may
	   answer for a Go function with the nearest line of a C unit (cgo). */
	const char *lf = NULL, *lfile = NULL;
	int lline = 0;
	if (dwc->line_fn && m == dwc->line_module &&
	    dwc->line_fn(core, dwc->line_arg, addr, is_return, &lf, &lfile, &lline)) {
		if (!ret->function && lf) {
			ret->function = lf;
			ret->offset = 0;
		}
		ret->file = lfile && strcmp(lfile, "?") ? lfile : NULL;
		ret->line = ret->file ? lline : 0;
	}
	/* A name without its @version lives in name_buf: not cacheable. */
	if (c && ret->function != core->dw->name_buf) {
		c->key = key;
		c->sym = *ret;
	}
	return true;
}

void cprof_symbol_where(const struct cprof_symbol *sym, uint64_t addr, char *buf,
			size_t size)
{
	const char *b = sym->file ? strrchr(sym->file, '/') : NULL;
	if (!sym->function)
		snprintf(buf, size, "0x%llx", (unsigned long long)addr);
	else if (sym->file)
		snprintf(buf, size, "%s (%s:%d)", sym->function, b ? b + 1 : sym->file,
			 sym->line);
	else
		snprintf(buf, size, "%s", sym->function);
}

void cprof_symbol_format(const struct cprof_symbol *sym, uint64_t addr,
			 char *buf, size_t size)
{
	if (sym->module && sym->function)
		snprintf(buf, size, "%s!%s+0x%llx", sym->module, sym->function,
			 (unsigned long long)sym->offset);
	else if (sym->module)
		snprintf(buf, size, "%s+0x%llx", sym->module,
			 (unsigned long long)sym->offset);
	else
		snprintf(buf, size, "0x%llx", (unsigned long long)addr);
}

struct backtrace_state {
	struct cprof_core *core;
	struct cprof_frame *frames;
	size_t n, cap, max;
	bool oom;
};

/* Whether libdwfl had CFI for pc (so it unwound the caller with CFI rather
 * than with frame pointers, its fallback on x86-64). */
static bool has_cfi(struct cprof_core *core, uint64_t pc)
{
	Dwfl_Module *mod = dwfl_addrmodule(core->dw->dwfl, pc);
	if (!mod)
		return false;
	Dwarf_Addr bias;
	Dwarf_CFI *cfi;
	Dwarf_Frame *frame;
	if ((cfi = dwfl_module_dwarf_cfi(mod, &bias)) &&
	    dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
		free(frame);
		return true;
	}
	if ((cfi = dwfl_module_eh_cfi(mod, &bias)) &&
	    dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
		free(frame);
		return true;
	}
	return false;
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct backtrace_state *bt = arg;
	Dwarf_Addr pc;
	bool activation;
	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (bt->n == bt->cap) {
		size_t cap = bt->cap ? 2 * bt->cap : 32;
		struct cprof_frame *f = realloc(bt->frames, cap * sizeof(*f));
		if (!f) {
			bt->oom = true;
			return DWARF_CB_ABORT;
		}
		bt->frames = f;
		bt->cap = cap;
	}
	struct cprof_frame *f = &bt->frames[bt->n];
	memset(f, 0, sizeof(*f));
	f->pc = pc;
	f->is_activation = activation;
	Dwarf_Word sp;
	if (dwfl_frame_reg(state, 7 /* DWARF rsp */, &sp) == 0)
		f->sp = sp;
	if (bt->n == 0) {
		f->method = CPROF_UNWIND_INITIAL;
	} else {
		const struct cprof_frame *callee = &bt->frames[bt->n - 1];
		uint64_t lookup = callee->is_activation ? callee->pc : callee->pc - 1;
		f->method = has_cfi(bt->core, lookup) ? CPROF_UNWIND_CFI :
							CPROF_UNWIND_FRAME_POINTER;
	}
	bt->n++;
	return bt->n >= bt->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/*
 * All threads are unwound in one pass over dwfl_getthreads (looking threads
 * up one by one with dwfl_getthread_frames walks the thread list each time,
 * and leaks in libdw 0.188), and kept for later calls.
 */
struct unwind_all_state {
	struct cprof_core *core;
	size_t max;
	bool oom;
};

static int thread_cb(Dwfl_Thread *thread, void *arg)
{
	struct unwind_all_state *st = arg;
	struct cprof_core_dwfl *dw = st->core->dw;
	struct unwound *u = realloc(dw->unwound, (dw->n_unwound + 1) * sizeof(*u));
	if (!u) {
		st->oom = true;
		return DWARF_CB_ABORT;
	}
	dw->unwound = u;
	u = &dw->unwound[dw->n_unwound++];
	memset(u, 0, sizeof(*u));
	u->tid = (int)dwfl_thread_tid(thread);
	struct backtrace_state bt = { .core = st->core, .max = st->max };
	int rc = dwfl_thread_getframes(thread, frame_cb, &bt);
	u->frames = bt.frames;
	u->n = bt.n;
	if (bt.oom) {
		st->oom = true;
		return DWARF_CB_ABORT;
	}
	if (rc == -1 && bt.n < bt.max) {
		const char *msg = dwfl_errmsg(-1);
		if (asprintf(&u->error, "unwinding stopped after %zu frames: %s", bt.n,
			     msg ? msg : "unknown error") < 0)
			u->error = NULL;
	}
	return DWARF_CB_OK;
}

static struct cprof_error *unwind_all(struct cprof_core *core, size_t max_frames)
{
	struct cprof_core_dwfl *dw = core->dw;
	if (dw->unwound_done)
		return NULL;
	dw->unwound_done = true;
	struct unwind_all_state st = { core, max_frames, false };
	dwfl_getthreads(dw->dwfl, thread_cb, &st);
	return st.oom ? &cprof_enomem : NULL;
}

struct cprof_error *cprof_core_backtrace(struct cprof_core *core, int tid,
					 size_t max_frames,
					 struct cprof_frame **ret,
					 size_t *n_ret)
{
	*ret = NULL;
	*n_ret = 0;
	if (!core->dw || !core->dw->attached)
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED,
					  "%s: thread %d: no backtrace: the core could not be attached for unwinding",
					  core->path, tid);
	struct cprof_error *err = unwind_all(core, CPROF_MAX_FRAMES);
	if (err)
		return err;
	for (size_t i = 0; i < core->dw->n_unwound; i++) {
		const struct unwound *u = &core->dw->unwound[i];
		if (u->tid != tid)
			continue;
		size_t n = u->n < max_frames ? u->n : max_frames;
		*ret = malloc((n ? n : 1) * sizeof(**ret));
		if (!*ret)
			return &cprof_enomem;
		if (n)
			memcpy(*ret, u->frames, n * sizeof(**ret));
		*n_ret = n;
		if (u->error)
			return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: thread %d: %s",
						  core->path, tid, u->error);
		return NULL;
	}
	return cprof_error_create(CPROF_ERROR_BAD_DATA,
				  "%s: thread %d: libdwfl found no such thread to unwind",
				  core->path, tid);
}

/* ---- symbols, ELF and DWARF for the walkers ---- */

const struct cprof_module *cprof_core_find_module(const struct cprof_core *core,
						  const char *prefix)
{
	for (size_t i = 0; i < core->n_modules; i++) {
		const char *base = base_name(core->modules[i].name);
		if (!strncmp(base, prefix, strlen(prefix)))
			return &core->modules[i];
	}
	return NULL;
}

bool cprof_core_find_symbol(struct cprof_core *core,
			    const struct cprof_module *m, const char *name,
			    uint64_t *ret, uint64_t *size_ret)
{
	Dwfl_Module *mod = m->dwfl_module;
	int n = dwfl_module_getsymtab(mod);
	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL,
							NULL, NULL);
		if (!s || strcmp(s, name) || sym.st_shndx == SHN_UNDEF)
			continue;
		int type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE &&
		    type != STT_GNU_IFUNC)
			continue;
		*ret = addr;
		if (size_ret)
			*size_ret = sym.st_size;
		return true;
	}
	return false;
}

void cprof_core_each_symbol(struct cprof_core *core, const struct cprof_module *m,
			    const char *prefix, cprof_symbol_fn *fn, void *arg)
{
	(void)core;
	Dwfl_Module *mod = m->dwfl_module;
	size_t len = strlen(prefix);
	int n = mod ? dwfl_module_getsymtab(mod) : 0;
	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL,
							NULL, NULL);
		if (s && !strncmp(s, prefix, len) && sym.st_shndx != SHN_UNDEF &&
		    !fn(s, addr, sym.st_size, arg))
			return;
	}
}

struct Elf *cprof_core_module_elf(struct cprof_core *core,
				  const struct cprof_module *m, uint64_t *bias)
{
	(void)core;
	GElf_Addr b = 0;
	Elf *elf = dwfl_module_getelf(m->dwfl_module, &b);
	*bias = b;
	return elf;
}

struct Dwarf *cprof_core_module_dwarf(struct cprof_core *core,
				      const struct cprof_module *m,
				      uint64_t *bias)
{
	(void)core;
	Dwarf_Addr b = 0;
	Dwarf *dw = dwfl_module_getdwarf(m->dwfl_module, &b);
	*bias = b;
	return dw;
}

void cprof_core_set_line_source(struct cprof_core *core, const struct cprof_module *m,
				cprof_line_fn *fn, void *arg)
{
	struct cprof_core_dwfl *dw = core->dw;
	if (!dw)
		return;
	dw->line_module = fn ? m : NULL;
	dw->line_fn = fn;
	dw->line_arg = arg;
	if (!fn)
		dw->calls_fn = NULL;
	/* Symbols cached before came without this source. */
	if (dw->sym_cache)
		memset(dw->sym_cache, 0, SYM_CACHE_SIZE * sizeof(*dw->sym_cache));
}

void cprof_core_set_call_source(struct cprof_core *core, cprof_calls_fn *fn, void *arg)
{
	if (!core->dw)
		return;
	core->dw->calls_fn = fn;
	core->dw->calls_arg = arg;
}

size_t cprof_core_calls(struct cprof_core *core, uint64_t addr, bool is_return,
			struct cprof_symbol *ret, size_t max)
{
	struct cprof_symbol sym;
	struct cprof_core_dwfl *dw = core->dw;
	if (!max || !cprof_core_symbolize(core, addr, is_return, &sym))
		return 0;
	size_t n = 0;
	if (dw->calls_fn && cprof_core_module(core, addr) == dw->line_module)
		n = dw->calls_fn(core, dw->calls_arg, addr, is_return, ret, max);
	if (!n) {
		ret[0] = sym;
		return 1;
	}
	ret[n - 1].module = sym.module;
	ret[n - 1].offset = sym.offset;
	if (!ret[n - 1].function)
		ret[n - 1].function = sym.function;
	return n;
}

const char *cprof_core_intern(struct cprof_core *core, const char *s)
{
	struct cprof_core_dwfl *dw = core->dw;
	if (!dw || !s)
		return NULL;
	if (2 * (dw->n_interned + 1) > dw->cap_interned) {
		size_t cap = dw->cap_interned ? 2 * dw->cap_interned : 1024;
		char **a = calloc(cap, sizeof(*a));
		if (!a)
			return NULL;
		for (size_t i = 0; i < dw->cap_interned; i++) {
			if (!dw->interned[i])
				continue;
			size_t h = cprof_hash_str(dw->interned[i]) & (cap - 1);
			while (a[h])
				h = (h + 1) & (cap - 1);
			a[h] = dw->interned[i];
		}
		free(dw->interned);
		dw->interned = a;
		dw->cap_interned = cap;
	}
	size_t h = cprof_hash_str(s) & (dw->cap_interned - 1);
	for (; dw->interned[h]; h = (h + 1) & (dw->cap_interned - 1))
		if (!strcmp(dw->interned[h], s))
			return dw->interned[h];
	if (!(dw->interned[h] = strdup(s)))
		return NULL;
	dw->n_interned++;
	return dw->interned[h];
}
