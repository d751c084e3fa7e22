/*
 * modules.c - the files behind the mappings, the ELF modules' libdwfl state,
 * their build-id check, debug info, symbols and backtraces.  The only file
 * that calls libdwfl (a convention from drgn's history: keep it behind one
 * door).
 *
 * Files: every path NT_FILE names is opened (files.c: regular files only,
 * never blocking, resolved under --sysroot without leaving it; the executable
 * from the EXE argument when given) and mmapped, so that memory.c can read the
 * bytes the core left out.
 *
 * Modules: loaded.c says which they are (the dynamic linker's list, checked
 * against NT_FILE, and the vdso).  Each is reported to libdwfl with
 * dwfl_report_module() at its place; libdwfl's dwfl_core_file_report() is not
 * used, because it takes every ELF header it finds in memory for a module.
 * libdwfl asks our find_elf callback for a module's ELF: we hand it the file
 * we mapped once it is a whole ELF file whose build-id is the one the core
 * holds (else a warning, and the file is used for nothing: a wrong binary's
 * code would be worse than none), or, for the vdso, its image in the core.
 * Separate debug files come from our find_debuginfo callback (the search is
 * debuginfo.c's), never from libdwfl's own, which opens files blindly.
 */
#include <assert.h>
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cprof/hash.h"
#include "cprof/search.h"
#include "core-internal.h"

struct unwound {
	int tid;
	struct cprof_frame *frames;
	size_t n;
	char *error;
};

struct sym_index;
static void sym_index_destroy(struct sym_index *x);

/* libdwfl's userdata of a module: the callbacks get no other context. */
struct modref {
	struct cprof_core *core;
	struct cprof_module *m;
	struct sym_index *syms;    /* built on the first lookup in the module */
	bool syms_failed;          /* out of memory: libdwfl answers instead */
};

struct cprof_core_dwfl {
	Dwfl *dwfl;
	Dwfl_Callbacks callbacks;
	bool attached;             /* dwfl_attach_state succeeded */
	int exe_file;              /* index of the executable in core->files, or -1 */
	const char *exe_arg;       /* the EXE argument, when it was used */
	struct modref *refs;       /* one per module */
	char *vdso_copy;           /* the vdso's image, for libelf */
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

enum { SYM_CACHE_SIZE = 1 << 13, AT_ENTRY_ = 9 };

const char *cprof_module_status_name(enum cprof_module_status s)
{
	switch (s) {
	case CPROF_MODULE_OK: return "ok";
	case CPROF_MODULE_MISMATCH: return "mismatch";
	case CPROF_MODULE_MISSING: return "missing";
	case CPROF_MODULE_UNVERIFIED: return "unverified";
	case CPROF_MODULE_UNUSABLE: return "unusable";
	}
	return "?";
}

const char *cprof_module_source_name(enum cprof_module_source s)
{
	switch (s) {
	case CPROF_MODULE_LINK_MAP: return "link_map";
	case CPROF_MODULE_AUXV: return "auxv";
	case CPROF_MODULE_MAPPED: return "mapped";
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

/* ---- the files ---- */

/* mmaps fd (a regular file) as f's contents; takes open_path and closes fd. */
static void map_fd(struct cprof_file *f, int fd, char *open_path)
{
	struct stat st;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && st.st_size > 0)
		p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		free(open_path);
		return;
	}
	f->data = p;
	f->size = st.st_size;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->open_path = open_path;
	f->usable = true;
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

/* Whether the core names a path we may look up on this machine: absolute,
 * not a System V shm object, a memfd or a device. */
static bool openable(const char *path)
{
	return path[0] == '/' && strncmp(path, "/SYSV", 5) &&
	       strncmp(path, "/dev/", 5) && strncmp(path, "/memfd:", 7);
}

/* Opens the file the core names as f->path, under the sysroot (or the EXE
 * argument, for the executable): *ret and *shown_ret (malloc'd). */
static struct cprof_error *open_file(struct cprof_core *core, size_t i, int *ret,
				     char **shown_ret)
{
	const struct cprof_file *f = &core->files[i];
	if ((int)i == core->dw->exe_file && core->dw->exe_arg) {
		*shown_ret = strdup(core->dw->exe_arg);
		if (!*shown_ret)
			return &cprof_enomem;
		struct cprof_error *err = core_open_regular(core->dw->exe_arg, ret, NULL);
		if (err) {
			free(*shown_ret);
			*shown_ret = NULL;
		}
		return err;
	}
	char *p = strdup(f->path);
	if (!p)
		return &cprof_enomem;
	static const char deleted[] = " (deleted)";
	size_t n = strlen(p);
	if (n > sizeof(deleted) - 1 && !strcmp(p + n - (sizeof(deleted) - 1), deleted))
		p[n - (sizeof(deleted) - 1)] = '\0';
	struct cprof_error *err = core_open_in_root(core->sysroot, p, ret, shown_ret);
	free(p);
	return err;
}

/* Opens and maps the file the core names as f->path, under the sysroot. */
static struct cprof_error *open_named(struct cprof_core *core, size_t i)
{
	struct cprof_file *f = &core->files[i];
	int fd;
	char *shown;
	struct cprof_error *err = open_file(core, i, &fd, &shown);
	if (!err) {
		map_fd(f, fd, shown);
		return NULL;
	}
	if (err == &cprof_enomem)
		return err;
	/* A missing file is reported for the modules that need it (not for
	   every data file); anything else the core names is said here. */
	if (!(err->code == CPROF_ERROR_OS && err->errnum == ENOENT))
		cprof_warn(core->warnings, "%s: a file the core names cannot be used: %s",
			   core->path, err->message);
	cprof_error_destroy(err);
	return NULL;
}

/* The EXE argument: it must be a regular file (else an error); a file that
 * is not a whole ELF file is a warning, and is not used. */
static struct cprof_error *open_exe_arg(struct cprof_core *core,
					struct cprof_file *f, const char *exe_path)
{
	int fd;
	struct cprof_error *err = core_open_regular(exe_path, &fd, NULL);
	if (err)
		return err;
	char *copy = strdup(exe_path);
	if (!copy) {
		close(fd);
		return &cprof_enomem;
	}
	map_fd(f, fd, copy);
	char why[160];
	if (!f->data)
		snprintf(why, sizeof(why), "empty file, not an ELF file");
	if (!f->data || core_elf_problem(f->data, f->size, why, sizeof(why))) {
		cprof_warn(core->warnings, "%s: %s; it is not used (symbols, types and the code the core left out are unavailable)",
			   exe_path, why);
		f->usable = false;
		f->rejected = CPROF_MODULE_UNUSABLE;
		if (!f->open_path)
			f->open_path = strdup(exe_path);
	}
	return NULL;
}

/* Where debug files are looked for: the --debug-dir ones, then (unless
 * --no-default-debug-dirs) SYSROOT/usr/lib/debug and /usr/lib/debug. */
static struct cprof_error *debug_dirs(struct cprof_core *core,
				      const struct cprof_core_options *opts)
{
	size_t n = opts->n_debug_dirs + 2;
	core->debug_dirs = calloc(n, sizeof(*core->debug_dirs));
	if (!core->debug_dirs)
		return &cprof_enomem;
	for (size_t i = 0; i < opts->n_debug_dirs; i++)
		if (!(core->debug_dirs[core->n_debug_dirs++] = strdup(opts->debug_dirs[i])))
			return &cprof_enomem;
	if (opts->no_default_debug_dirs)
		return NULL;
	if (opts->sysroot &&
	    asprintf(&core->debug_dirs[core->n_debug_dirs++], "%s/usr/lib/debug",
		     opts->sysroot) < 0) {
		core->debug_dirs[--core->n_debug_dirs] = NULL;
		return &cprof_enomem;
	}
	if (!(core->debug_dirs[core->n_debug_dirs++] = strdup("/usr/lib/debug")))
		return &cprof_enomem;
	return NULL;
}

struct cprof_error *core_open_files(struct cprof_core *core,
				    const struct cprof_core_options *opts)
{
	struct cprof_error *err;
	core->dw = calloc(1, sizeof(*core->dw));
	if (!core->dw)
		return &cprof_enomem;
	core->dw->exe_file = -1;
	if (opts->sysroot && !(core->sysroot = strdup(opts->sysroot)))
		return &cprof_enomem;
	if ((err = debug_dirs(core, opts)))
		return err;

	/* The executable is the file that maps the entry point (AT_ENTRY). */
	uint64_t entry = core_auxv(core, AT_ENTRY_);
	if (entry)
		core->dw->exe_file = core_file_at(core, entry);
	if (opts->exe_path && core->dw->exe_file < 0) {
		/* Still an error when it cannot be opened: the user named it. */
		int fd;
		if ((err = core_open_regular(opts->exe_path, &fd, NULL)))
			return err;
		close(fd);
		cprof_warn(core->warnings,
			   "%s: the core does not say which mapping is the executable; %s is not used",
			   core->path, opts->exe_path);
	}
	for (size_t i = 0; i < core->n_files; i++) {
		struct cprof_file *f = &core->files[i];
		if ((int)i == core->dw->exe_file && opts->exe_path) {
			core->dw->exe_arg = opts->exe_path;
			err = open_exe_arg(core, f, opts->exe_path);
		} else {
			err = openable(f->path) ? open_named(core, i) : NULL;
		}
		if (err)
			return err;
	}
	file_only_flags(core);
	return NULL;
}

void core_file_reject(struct cprof_core *core, size_t file)
{
	struct cprof_file *f = &core->files[file];
	f->usable = false;
	if (!f->rejected)
		f->rejected = CPROF_MODULE_MISMATCH;
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

/* ---- libdwfl's callbacks ---- */

/* The vdso's ELF image, as the core holds it (it has no file), copied:
 * libelf may write into an image it did not read from a descriptor. */
static Elf *vdso_elf(struct cprof_core *core, const struct cprof_module *m)
{
	const struct cprof_segment *s = cprof_core_segment(core, m->start);
	if (!s || s->start + s->core_bytes <= m->start || core->dw->vdso_copy)
		return NULL;
	uint64_t size = s->start + s->core_bytes - m->start;
	const void *p = size <= (1u << 20) ? cprof_core_ptr(core, m->start, size) : NULL;
	if (!p || !(core->dw->vdso_copy = malloc(size)))
		return NULL;
	memcpy(core->dw->vdso_copy, p, size);
	return elf_memory(core->dw->vdso_copy, size);
}

/* The module's file opened again for libdwfl (which reads it with libelf
 * from a descriptor): the same file we mapped, or -1. */
static int reopen_file(struct cprof_core *core, size_t i)
{
	const struct cprof_file *f = &core->files[i];
	int fd;
	char *shown;
	struct cprof_error *err = open_file(core, i, &fd, &shown);
	if (err) {
		cprof_error_destroy(err);
		return -1;
	}
	free(shown);
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != f->dev ||
	    (uint64_t)st.st_ino != f->ino || (uint64_t)st.st_size != f->size) {
		cprof_warn(core->warnings, "%s: changed while it was read; it is not used for symbols",
			   f->open_path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Checks the module's file before libdwfl uses it: a whole ELF file whose
 * build-id is the one the core holds.  Otherwise a warning, and the file is
 * rejected for symbols and for memory reads.  False when rejected.
 */
static bool check_module_file(struct cprof_core *core, struct cprof_module *m)
{
	struct cprof_file *f = &core->files[m->file];
	bool is_exe_arg = m->file == core->dw->exe_file && core->dw->exe_arg;
	char why[160];
	if (core_elf_problem(f->data, f->size, why, sizeof(why))) {
		cprof_warn(core->warnings, "%s: %s; it is not used for %s",
			   f->open_path, why, f->path);
		f->usable = false;
		f->rejected = CPROF_MODULE_UNUSABLE;
		return false;
	}
	if (!m->build_id)
		return true;
	char *have = image_build_id(f->data, f->size);
	bool same = have && !strcmp(have, m->build_id);
	if (!same && is_exe_arg) {
		/* What to do instead: the file the core names, when it is
		   another file that is there; when it is this one, it was
		   rebuilt since the dump */
		char hint[PATH_MAX + 64] = "";
		struct stat st;
		size_t n = strlen(f->path);
		bool deleted = n > 10 && !strcmp(f->path + n - 10, " (deleted)");
		if (!deleted && !stat(f->path, &st) &&
		    ((uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino))
			snprintf(hint, sizeof(hint), " (the core names %s: pass that one, or leave EXE out)",
				 f->path);
		else if (!deleted && !stat(f->path, &st))
			snprintf(hint, sizeof(hint), " (the file the core names: rebuilt since the dump?)");
		cprof_warn(core->warnings,
			   "%s: build-id %s does not match the core's %s: not the executable that dumped this core%s; it is not used",
			   f->open_path, have ? have : "(none)", m->build_id, hint);
	}
	else if (!same)
		cprof_warn(core->warnings,
			   "%s: build-id %s does not match the core's %s for %s; the file is not used (pass the right binary, or --sysroot)",
			   f->open_path, have ? have : "(none)", m->build_id, f->path);
	free(have);
	if (!same)
		core_file_reject(core, m->file);
	return same;
}

/*
 * libdwfl's find_elf callback: the module's file (after check_module_file),
 * opened again the safe way, or the vdso's image from the core.  libdwfl
 * opens nothing itself.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	(void)mod;
	(void)modname;
	(void)base;
	struct modref *ref = *userdata;
	struct cprof_module *m = ref->m;
	*elfp = NULL;
	*file_name = NULL;
	if (m->file < 0) {
		if (m->source == CPROF_MODULE_AUXV)
			*elfp = vdso_elf(ref->core, m);
		return -1;
	}
	struct cprof_file *f = &ref->core->files[m->file];
	if (!f->usable || !f->data || !check_module_file(ref->core, m))
		return -1;
	int fd = reopen_file(ref->core, (size_t)m->file);
	if (fd >= 0 && !(*file_name = strdup(f->open_path))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * libdwfl's find_debuginfo callback.  Called for a module's separate debug
 * file (debuglink_file is its .gnu_debuglink, maybe NULL) and for the dwz
 * file its DWARF refers to (.gnu_debugaltlink: debuglink_file is that name,
 * crc 0).  The search and the checks are debuginfo.c's; only a verified
 * regular file comes back.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  GElf_Addr base, const char *file_name,
			  const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	(void)modname;
	(void)base;
	struct modref *ref = *userdata;
	struct cprof_module *m = ref->m;
	GElf_Addr bias;
	Elf *main_elf = dwfl_module_getelf(mod, &bias);
	*debuginfo_file_name = NULL;
	if (!main_elf)
		return -1;
	/* The vdso has no file: only its build-id can find a debug file. */
	struct core_debug_query q = {
		.core_path = m->file >= 0 ? ref->core->files[m->file].path : NULL,
		.main_path = m->file >= 0 ? ref->core->files[m->file].open_path : NULL,
		.from_path = file_name,
		.name = debuglink_file,
		.crc = debuglink_crc,
	};
	GElf_Word own_crc = 0;
	const char *own_link = dwelf_elf_gnu_debuglink(main_elf, &own_crc);
	/* Not the main file's debuglink: the dwz file of some DWARF. */
	q.alt = debuglink_file && (!own_link || strcmp(own_link, debuglink_file) ||
				   own_crc != debuglink_crc);
	const void *bits;
	ssize_t n = dwelf_elf_gnu_build_id(main_elf, &bits);
	if (!q.alt && n > 0) {
		q.build_id = bits;
		q.build_id_len = (size_t)n;
	}
	return core_find_debug_file(ref->core, &q, debuginfo_file_name);
}

/* ---- the modules ---- */

/*
 * Warns of the modules whose file was not found: one line each, or, past
 * three (a --sysroot that holds only the file one cares about), one line
 * naming the first few (`info` lists every module with its status).
 */
static void warn_missing(struct cprof_core *core, const char *const *names, size_t n)
{
	const char *where = core->sysroot ? " under sysroot " : "";
	const char *root = core->sysroot ? core->sysroot : "";
	if (n <= 3) {
		for (size_t i = 0; i < n; i++)
			cprof_warn(core->warnings,
				   "%s: not found%s%s; its symbols and the code the core left out are unavailable",
				   names[i], where, root);
		return;
	}
	char list[512];
	size_t len = 0;
	for (size_t i = 0; i < n && i < 4 && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					names[i]);
	cprof_warn(core->warnings,
		   "%zu files the core names were not found%s%s (%s%s): their symbols and the code the core left out are unavailable (info lists them)",
		   n, where, root, list, n > 4 ? ", ..." : "");
}

/* Loads each module's ELF (our find_elf runs here) and its debug info. */
static void load_modules(struct cprof_core *core)
{
	const char **missing = calloc(core->n_modules ? core->n_modules : 1, sizeof(*missing));
	size_t n_missing = 0;
	for (size_t i = 0; i < core->n_modules; i++) {
		struct cprof_module *m = &core->modules[i];
		Dwfl_Module *mod = m->dwfl_module;
		const struct cprof_file *f = m->file >= 0 ? &core->files[m->file] : NULL;
		GElf_Addr bias;
		Elf *elf = mod ? dwfl_module_getelf(mod, &bias) : NULL;
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
			if (debugfile)
				m->debug_file = strdup(debugfile);
			m->status = m->build_id ? CPROF_MODULE_OK :
						  CPROF_MODULE_UNVERIFIED;
		} else if (f && f->open_path && f->rejected) {
			m->status = f->rejected;
			m->path = strdup(f->open_path);
			if (f->data)
				m->file_build_id = image_build_id(f->data, f->size);
		} else if (f || m->source != CPROF_MODULE_AUXV) {
			m->status = CPROF_MODULE_MISSING;
			const char *name = f ? f->path : m->name;
			if (missing)
				missing[n_missing++] = name;
			else                       /* out of memory: a line each */
				warn_missing(core, &name, 1);
		} else {
			/* the vdso, whose image the core lacks */
			m->status = CPROF_MODULE_MISSING;
		}
	}
	warn_missing(core, missing, n_missing);
	free(missing);
}

/* Reports the modules to libdwfl, each at its place. */
static struct cprof_error *report_modules(struct cprof_core *core)
{
	struct cprof_core_dwfl *dw = core->dw;
	dw->refs = calloc(core->n_modules ? core->n_modules : 1, sizeof(*dw->refs));
	if (!dw->refs)
		return &cprof_enomem;
	dwfl_report_begin(dw->dwfl);
	for (size_t i = 0; i < core->n_modules; i++) {
		struct cprof_module *m = &core->modules[i];
		uint64_t hi = m->end > m->dwfl_low ? m->end : m->dwfl_low + 1;
		Dwfl_Module *mod = dwfl_report_module(dw->dwfl, m->name, m->dwfl_low, hi);
		if (!mod) {
			cprof_warn(core->warnings, "%s: module %s at 0x%016llx: dwfl_report_module: %s",
				   core->path, m->name, (unsigned long long)m->start,
				   dwfl_errmsg(-1));
			continue;
		}
		void **userdata;
		dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
		dw->refs[i] = (struct modref){ .core = core, .m = m };
		*userdata = &dw->refs[i];
		m->dwfl_module = mod;
	}
	if (dwfl_report_end(dw->dwfl, NULL, NULL) != 0)
		return cprof_error_create(CPROF_ERROR_LIB, "%s: dwfl_report_end: %s",
					  core->path, dwfl_errmsg(-1));
	return NULL;
}
/*
 * Whether libdwfl can be given the threads: it takes a pid of 0 in an
 * NT_PRSTATUS for the end of the list (and libdw 0.188 then leaks its
 * thread state), so a core with one is corrupt data we keep from it.
 */
static bool unwindable(struct cprof_core *core)
{
	for (size_t i = 0; i < core->n_threads; i++) {
		if (core->threads[i].tid <= 0) {
			cprof_warn(core->warnings, "%s: thread %zu of NT_PRSTATUS has pid %d: corrupt; no backtraces",
				   core->path, i, core->threads[i].tid);
			return false;
		}
	}
	return true;
}


/*
 * libdwfl's thread callbacks over the core model's threads, for unwinding.
 * Not dwfl_core_file_attach: it parses the notes again, and libdw 0.188's
 * core_next_thread leaks its cursor when a later NT_PRSTATUS is damaged (a
 * fuzzed core).  A thread's argument is its cprof_thread; memory is read as
 * every other reader of the core reads it (the files' bytes where the core
 * left them out).
 */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct cprof_core *core = arg;
	(void)dwfl;
	size_t i = *thread_argp ? (size_t)((struct cprof_thread *)*thread_argp - core->threads) + 1 : 0;
	if (i >= core->n_threads)
		return 0;
	*thread_argp = &core->threads[i];
	return core->threads[i].tid;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	(void)dwfl;
	return cprof_core_try_read(arg, addr, result, sizeof(*result));
}

/* DWARF's x86-64 numbering: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, then
 * the return address column (rip). */
static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	static const enum cprof_reg dwarf[17] = {
		CPROF_REG_RAX, CPROF_REG_RDX, CPROF_REG_RCX, CPROF_REG_RBX, CPROF_REG_RSI,
		CPROF_REG_RDI, CPROF_REG_RBP, CPROF_REG_RSP, CPROF_REG_R8, CPROF_REG_R9,
		CPROF_REG_R10, CPROF_REG_R11, CPROF_REG_R12, CPROF_REG_R13, CPROF_REG_R14,
		CPROF_REG_R15, CPROF_REG_RIP,
	};
	const struct cprof_thread *t = thread_arg;
	Dwarf_Word regs[17];
	for (int i = 0; i < 17; i++)
		regs[i] = t->regs[dwarf[i]];
	if (!dwfl_thread_state_registers(thread, 0, 17, regs))
		return false;
	dwfl_thread_state_register_pc(thread, t->regs[CPROF_REG_RIP]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct cprof_error *core_report_modules(struct cprof_core *core,
					const struct cprof_core_options *opts)
{
	(void)opts;
	struct cprof_core_dwfl *dw = core->dw;
	struct cprof_error *err = core_find_modules(core);
	if (err)
		return err;
	dw->callbacks.find_elf = find_elf;
	dw->callbacks.find_debuginfo = find_debuginfo;
	dw->dwfl = dwfl_begin(&dw->callbacks);
	if (!dw->dwfl)
		return cprof_error_create(CPROF_ERROR_LIB, "dwfl_begin: %s",
					  dwfl_errmsg(-1));
	if ((err = report_modules(core)))
		return err;
	load_modules(core);
	if (core->n_threads && !unwindable(core)) {
		/* nothing attached: backtraces say so */
	} else if (core->n_threads) {
		if (!dwfl_attach_state(dw->dwfl, core->elf, core->process.pid > 0 ?
				       core->process.pid : core->threads[0].tid,
				       &thread_callbacks, core)) {
			const char *msg = dwfl_errmsg(-1);
			cprof_warn(core->warnings, "%s: dwfl_attach_state: %s; no backtraces",
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
	for (size_t i = 0; i < core->n_debug_dirs; i++)
		free(core->debug_dirs[i]);
	free(core->debug_dirs);
	free(core->sysroot);
	if (core->dw) {
		for (size_t i = 0; i < core->dw->n_unwound; i++) {
			free(core->dw->unwound[i].frames);
			free(core->dw->unwound[i].error);
		}
		free(core->dw->unwound);
		if (core->dw->dwfl)
			dwfl_end(core->dw->dwfl);
		for (size_t i = 0; core->dw->refs && i < core->n_modules; i++)
			sym_index_destroy(core->dw->refs[i].syms);
		free(core->dw->refs);
		free(core->dw->vdso_copy);
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
	uint64_t entry = core_auxv(core, AT_ENTRY_);
	return entry ? cprof_core_module(core, entry) : NULL;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ---- a module's symbols by address ---- */

/*
 * dwfl_module_addrinfo reads every symbol of the module on each call
 * (measured: 92% of analyze's time on a core of Debian's redis-server, whose
 * thousands of root slots in .data and .bss each miss the cache), so each
 * module's symbols are sorted once, on its first lookup, and a lookup is a
 * binary search.  The answer is libdwfl's (elfutils 0.188,
 * dwfl_module_addrsym.c), which searches in two passes - the global part of
 * the table, then, if no symbol with a size there holds addr, the locals:
 *   - the symbol with a size that holds addr and starts highest; at the same
 *     start the smaller, then the better bound (global, weak, local), then
 *     the first in the table;
 *   - else a sizeless symbol (an assembly label): the one starting highest
 *     at or below addr of those the passes read, if no symbol they read
 *     below addr reaches past it, and it lies in addr's section (libdwfl's
 *     sections: the loaded ones by address, each with its end, unless the
 *     next starts there); of several at one address the last read.
 * The one difference: libdwfl, reading in table order, may prefer a global
 * holding addr from further below to a weak one closer; this says the
 * closer.
 */
struct sym {
	uint64_t value, end;       /* [value, end): end == value when sizeless */
	const char *name;
	uint32_t order;            /* in the order libdwfl reads the table */
	int32_t section;           /* a label's section (index into secs), -1:
				      none, -2: absolute (only its own address) */
	uint8_t rank;              /* GLOBAL 3, WEAK 2, LOCAL 1, other 0 */
};

/* A run of addresses that one sized symbol holds. */
struct sym_span {
	uint64_t start, end;
	const struct sym *sym;
};

/* The symbols of one pass, sorted by value, best first. */
struct sym_table {
	struct sym *syms;
	uint64_t *max_end;         /* max_end[i]: the highest end of syms[0..i] */
	size_t n;
	struct sym_span *spans;    /* sorted, disjoint */
	size_t n_spans;
};

/*
 * By name: the symbols cprof_core_find_symbol may answer with (an object,
 * function, untyped or ifunc symbol that is defined), sorted by name and
 * then table order, so that a binary search finds the first of a name.  A
 * lookup by name used to be a strcmp of every symbol: the Go walker asks
 * for twenty names in a table of 20,000 (a third of the go-walk fuzz
 * target's time).  Sorted rather than hashed: the names can come from the
 * core (the vdso's), and no choice of names makes a sort quadratic.
 */
struct sym_name {
	const char *name;
	uint64_t value, size;
	uint32_t order;
};

struct sym_index {
	struct sym_table pass[2];  /* the global part, the locals */
	struct sec_range { uint64_t start, end; } *secs;  /* the loaded sections */
	size_t n_secs;
	struct sym_name *names;
	size_t n_names;
};

static void sym_index_destroy(struct sym_index *x)
{
	if (!x)
		return;
	for (int p = 0; p < 2; p++) {
		free(x->pass[p].syms);
		free(x->pass[p].max_end);
		free(x->pass[p].spans);
	}
	free(x->secs);
	free(x->names);
	free(x);
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank > y->rank ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int range_cmp(const void *a, const void *b)
{
	const struct sec_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static uint8_t bind_rank(const GElf_Sym *s)
{
	switch (GELF_ST_BIND(s->st_info)) {
	case STB_GLOBAL: return 3;
	case STB_WEAK: return 2;
	case STB_LOCAL: return 1;
	}
	return 0;
}

/* The loaded sections of the module's ELF file, sorted by address. */
static bool collect_sections(Dwfl_Module *mod, struct sym_index *x)
{
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t n = 0;
	if (elf && elf_getshdrnum(elf, &n) != 0)
		n = 0;
	x->secs = malloc((n + 1) * sizeof(*x->secs));
	if (!x->secs)
		return false;
	Elf_Scn *scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn)) && x->n_secs < n) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_ALLOC) &&
		    sh.sh_addr + sh.sh_size >= sh.sh_addr)
			x->secs[x->n_secs++] = (struct sec_range){ sh.sh_addr + bias,
								     sh.sh_addr + bias + sh.sh_size };
	}
	qsort(x->secs, x->n_secs, sizeof(*x->secs), range_cmp);
	return true;
}

/* The section holding a, as libdwfl's find_section says: its end belongs
 * to it unless the next one starts there; -1 for none. */
static int32_t section_of(const struct sym_index *x, uint64_t a)
{
	size_t lo = 0, hi = x->n_secs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a < x->secs[mid].start)
			hi = mid;
		else if (a > x->secs[mid].end)
			lo = mid + 1;
		else {
			if (a == x->secs[mid].end && mid + 1 < x->n_secs &&
			    a == x->secs[mid + 1].start)
				mid++;
			return (int32_t)mid;
		}
	}
	return -1;
}

/* The symbols libdwfl would consider for an address, each in its pass. */
static bool collect_syms(Dwfl_Module *mod, struct sym_index *x)
{
	int n = dwfl_module_getsymtab(mod);
	int first_global = dwfl_module_getsymtab_first_global(mod);
	if (first_global < 1)
		first_global = 1;
	for (int p = 0; p < 2; p++) {
		x->pass[p].syms = malloc((n > 0 ? (size_t)n : 1) * sizeof(struct sym));
		if (!x->pass[p].syms)
			return false;
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym s;
		GElf_Addr value;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &s, &value, &shndx,
							   NULL, NULL);
		int type = GELF_ST_TYPE(s.st_info);
		if (!name || !name[0] || s.st_shndx == SHN_UNDEF || type == STT_SECTION ||
		    type == STT_FILE || type == STT_TLS || value + s.st_size < value)
			continue;
		bool global = i >= first_global;
		struct sym_table *t = &x->pass[global ? 0 : 1];
		int32_t section = -1;
		if (!s.st_size)
			section = shndx >= SHN_LORESERVE && shndx != SHN_XINDEX ? -2 :
				  section_of(x, value);
		t->syms[t->n++] = (struct sym){
			.value = value, .end = value + s.st_size, .name = name,
			.order = (uint32_t)i, .section = section, .rank = bind_rank(&s),
		};
	}
	return true;
}

/* The spans: a sweep over the sized symbols by start, with a stack of those
 * still open whose ends decrease upwards: the top holds the addresses.  At one
 * start the best symbol holds its run, a worse one only what lies past it. */
static bool build_spans(struct sym_table *t)
{
	const struct sym **stack = malloc((t->n + 1) * sizeof(*stack));
	const struct sym **group = malloc((t->n + 1) * sizeof(*group));
	t->spans = malloc((2 * t->n + 1) * sizeof(*t->spans));
	if (!stack || !group || !t->spans) {
		free(stack);
		free(group);
		return false;
	}
	size_t depth = 0;
	uint64_t cur = 0;
#define EMIT(a, b, s) do { \
		if ((a) < (b)) \
			t->spans[t->n_spans++] = (struct sym_span){ (a), (b), (s) }; \
	} while (0)
	for (size_t i = 0, j; i < t->n; i = j) {
		uint64_t v = t->syms[i].value, reach = v;
		size_t n_group = 0;
		/* the group at v, best first: each one kept reaches further */
		for (j = i; j < t->n && t->syms[j].value == v; j++)
			if (t->syms[j].end > reach) {
				group[n_group++] = &t->syms[j];
				reach = t->syms[j].end;
			}
		if (!n_group)
			continue;
		while (depth && stack[depth - 1]->end <= v) {
			EMIT(cur, stack[depth - 1]->end, stack[depth - 1]);
			cur = stack[--depth]->end;
		}
		if (depth)
			EMIT(cur, v, stack[depth - 1]);
		while (depth && stack[depth - 1]->end <= reach)
			depth--;
		while (n_group)
			stack[depth++] = group[--n_group];
		cur = v;
	}
	while (depth) {
		EMIT(cur, stack[depth - 1]->end, stack[depth - 1]);
		cur = stack[--depth]->end;
	}
#undef EMIT
	free(stack);
	free(group);
	assert(t->n_spans <= 2 * t->n);
	return true;
}

static bool build_table(struct sym_table *t)
{
	qsort(t->syms, t->n, sizeof(*t->syms), sym_cmp);
	t->max_end = malloc((t->n + 1) * sizeof(*t->max_end));
	if (!t->max_end)
		return false;
	for (size_t i = 0; i < t->n; i++)
		t->max_end[i] = i && t->max_end[i - 1] > t->syms[i].end ?
				t->max_end[i - 1] : t->syms[i].end;
	return build_spans(t);
}

static bool find_symbol_accepts(const GElf_Sym *sym)
{
	int type = GELF_ST_TYPE(sym->st_info);
	return sym->st_shndx != SHN_UNDEF &&
	       (type == STT_OBJECT || type == STT_FUNC || type == STT_NOTYPE ||
		type == STT_GNU_IFUNC);
}

static int sym_name_cmp(const void *a, const void *b)
{
	const struct sym_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* The first entry of name in x->names (table order among equals), or NULL. */
static const struct sym_name *name_find(const struct sym_index *x, const char *name)
{
	size_t lo = 0, hi = x->n_names;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x->names[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n_names && !strcmp(x->names[lo].name, name) ? &x->names[lo] : NULL;
}

static bool collect_names(Dwfl_Module *mod, struct sym_index *x)
{
	int n = dwfl_module_getsymtab(mod);
	x->names = malloc((n > 0 ? (size_t)n : 1) * sizeof(*x->names));
	if (!x->names)
		return false;
	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL,
							   NULL, NULL);
		if (name && find_symbol_accepts(&sym))
			x->names[x->n_names++] = (struct sym_name){ name, addr, sym.st_size,
								   (uint32_t)i };
	}
	qsort(x->names, x->n_names, sizeof(*x->names), sym_name_cmp);
	return true;
}

static struct sym_index *sym_index_create(Dwfl_Module *mod)
{
	struct sym_index *x = calloc(1, sizeof(*x));
	if (!x || !collect_sections(mod, x) || !collect_syms(mod, x) ||
	    !collect_names(mod, x) ||
	    !build_table(&x->pass[0]) || !build_table(&x->pass[1])) {
		sym_index_destroy(x);
		return NULL;
	}
	return x;
}

/* The sized symbol of t holding addr, or NULL. */
static const struct sym *span_find(const struct sym_table *t, uint64_t addr)
{
	size_t lo = CPROF_FIRST_ABOVE(t->spans, t->n_spans, end, addr);
	return lo < t->n_spans && t->spans[lo].start <= addr ? t->spans[lo].sym : NULL;
}

/* How many symbols of t start at or below addr. */
static size_t count_below(const struct sym_table *t, uint64_t addr)
{
	return CPROF_FIRST_ABOVE(t->syms, t->n, value, addr);
}

/* Of the labels of t at v, the last read that lies in addr's section. */
static const struct sym *label_at(const struct sym_table *t, size_t below, uint64_t v,
				  int32_t addr_section, uint64_t addr)
{
	const struct sym *best = NULL;
	for (size_t i = below; i-- && t->syms[i].value == v;) {
		const struct sym *s = &t->syms[i];
		bool same = s->section == -2 ? v == addr : s->section == addr_section;
		if (same && (!best || s->order > best->order))
			best = s;
	}
	return best;
}

/* The symbol libdwfl would name addr with, or NULL. */
static const struct sym *sym_index_find(const struct sym_index *x, uint64_t addr)
{
	const struct sym_table *g = &x->pass[0], *l = &x->pass[1];
	const struct sym *s = span_find(g, addr);
	if (s)
		return s;
	size_t ng = count_below(g, addr), nl = count_below(l, addr);
	/* a global label right at addr: the locals are not read */
	bool locals = !(ng && g->syms[ng - 1].value == addr && g->max_end[ng - 1] <= addr);
	if (locals && (s = span_find(l, addr)))
		return s;
	if (!locals)
		nl = 0;
	uint64_t v = 0;
	if (ng)
		v = g->syms[ng - 1].value;
	if (nl && l->syms[nl - 1].value > v)
		v = l->syms[nl - 1].value;
	/* nothing read below addr may reach past the label: no sized symbol
	   at v either */
	if ((!ng && !nl) || (ng && g->max_end[ng - 1] > v) || (nl && l->max_end[nl - 1] > v))
		return NULL;
	int32_t sec = section_of(x, addr);
	s = nl ? label_at(l, nl, v, sec, addr) : NULL;
	return s ? s : label_at(g, ng, v, sec, addr);
}

/* The module's index, built once; NULL when memory ran out. */
static const struct sym_index *module_syms(struct cprof_core *core,
					   const struct cprof_module *m)
{
	struct modref *r = &core->dw->refs[m - core->modules];
	if (!r->syms && !r->syms_failed) {
		r->syms = sym_index_create(m->dwfl_module);
		r->syms_failed = !r->syms;
	}
	return r->syms;
}

/* The name of the symbol holding lookup and lookup's offset from it. */
static const char *symbol_at(struct cprof_core *core, const struct cprof_module *m,
			     uint64_t lookup, uint64_t *off)
{
	const struct sym_index *x = module_syms(core, m);
	if (!x) {
		GElf_Off o;
		GElf_Sym sym;
		const char *name = dwfl_module_addrinfo(m->dwfl_module, lookup, &o, &sym,
							NULL, NULL, NULL);
		*off = o;
		return name;
	}
	const struct sym *s = sym_index_find(x, lookup);
	if (!s)
		return NULL;
	*off = lookup - s->value;
	return s->name;
}

char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);

/*
 * A C++ function's name as a frame shows it: demangled, without its
 * parameter list ("_Z16dispatch_command19enum_server_commandP3THDPcjb" is
 * "dispatch_command"; "Foo::operator()(int) const" is "Foo::operator()"),
 * as gdb's and perf's frames name it (less the arguments): the last balanced
 * "(...)" and what follows it go.  Interned; NULL when it does not demangle.
 */
static const char *demangled(struct cprof_core *core, const char *name)
{
	int status;
	char *dm = __cxa_demangle(name, NULL, NULL, &status);
	if (!dm || status)
		return free(dm), NULL;
	char *close = strrchr(dm, ')');
	int depth = 0;
	for (char *p = close; p && p > dm; p--) {
		depth += *p == ')' ? 1 : *p == '(' ? -1 : 0;
		if (!depth) {
			*p = '\0';
			break;
		}
	}
	const char *r = dm[0] ? cprof_core_intern(core, dm) : NULL;
	free(dm);
	return r;
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
	uint64_t off = 0;
	const char *name = symbol_at(core, m, lookup, &off);
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
		if (!strncmp(name, "_Z", 2)) {
			const char *dm = demangled(core, name);
			name = dm ? dm : name;
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
	/* a caller's pc lies in code: one that does not (a stack address, read
	   past a frame that switched stacks, as Go's runtime.mcall does) ends
	   the unwind rather than showing garbage as a frame */
	if (bt->n > 0) {
		const struct cprof_segment *seg = cprof_core_segment(bt->core,
								     activation ? pc : pc - 1);
		if (!seg || !(seg->flags & CPROF_SEG_X))
			return DWARF_CB_ABORT;
	}
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
	assert(m >= core->modules && m < core->modules + core->n_modules);
	const struct sym_index *x = core->dw && mod ? module_syms(core, m) : NULL;
	if (x) {
		const struct sym_name *e = name_find(x, name);
		if (!e)
			return false;
		*ret = e->value;
		if (size_ret)
			*size_ret = e->size;
		return true;
	}
	/* no index (out of memory): the table, in order */
	int n = mod ? dwfl_module_getsymtab(mod) : 0;
	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL,
							NULL, NULL);
		if (!s || strcmp(s, name) || !find_symbol_accepts(&sym))
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
