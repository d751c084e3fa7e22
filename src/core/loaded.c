/*
 * loaded.c - which ELF modules the process had loaded: the dynamic linker's
 * list, not every ELF header found in memory.
 *
 * Debuggers, symbolizers and profilers map pieces of ELF files they read; the
 * kernel dumps the first page of such a mapping like that of any loaded
 * module, so a reader that takes every ELF header it finds for a module
 * invents "phantom" modules spanning the file's whole p_memsz, over libc or
 * over heap memory.  The authority on what is loaded is the dynamic linker:
 *
 *   AT_PHDR (auxv) -> the executable's PT_DYNAMIC -> DT_DEBUG -> struct r_debug
 *   (else ld.so's _r_debug, ld.so being at AT_BASE) -> r_map -> the link_map
 *   chain {l_addr, l_name, l_ld, l_next, l_prev}, and with r_version >= 2
 *   (glibc 2.35) r_next -> the r_debug of the next dlmopen namespace.
 *
 * Each entry is checked against NT_FILE: the file is the one mapped where its
 * dynamic section (l_ld) is, and the module starts at that file's mapping of
 * offset 0 below l_ld, whose ELF header and program headers (from the core,
 * else from the file) give its extent.  The range is then clipped to the
 * mappings of its own file, plus the anonymous memory its PT_LOADs declare
 * beyond their file bytes (.bss) and permissionless gaps between them: a
 * module never claims another file's mapping or unrelated anonymous memory.
 * The vdso comes from AT_SYSINFO_EHDR.
 *
 * Without a dynamic linker (static executables: no PT_INTERP) the modules are
 * the executable and the vdso.  When a dynamic executable's link map cannot be
 * read (cut from the core, corrupt, or the process died before ld.so made it),
 * every ELF file mapped from offset 0 is taken for a module, with a warning
 * saying that a file that was only mapped may be listed too.
 */
#include <elf.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"

enum {
	AT_PHDR_ = 3, AT_PHNUM_ = 5, AT_BASE_ = 7, AT_ENTRY_ = 9,
	AT_EXECFN_ = 31, AT_SYSINFO_EHDR_ = 33,
	MAX_PHNUM = 1024,              /* real objects have about 15 */
	MAX_LINK_MAP = 8192,           /* entries over all namespaces */
	MAX_NAMESPACES = 64,           /* glibc has DL_NNS = 16 */
	MAX_NOTES = 1 << 16,           /* bytes of PT_NOTE read for a build-id */
	MAX_NAME = 4096,
};

/* link_map and r_debug (x86-64, glibc's <link.h>) */
enum {
	LM_ADDR = 0, LM_NAME = 8, LM_LD = 16, LM_NEXT = 24, LM_PREV = 32, LM_SIZE = 40,
	RD_VERSION = 0, RD_MAP = 8, RD_NEXT = 40, RD_SIZE = 48,
};

uint64_t core_auxv(const struct cprof_core *core, uint64_t type)
{
	for (size_t i = 0; i < core->n_auxv; i++)
		if (core->auxv[i].type == type)
			return core->auxv[i].value;
	return 0;
}

int core_file_at(const struct cprof_core *core, uint64_t addr)
{
	for (size_t i = 0; i < core->n_priv_ranges; i++) {
		const struct core_file_range *r = &core->priv_ranges[i];
		if (r->start <= addr && addr < r->end)
			return (int)r->file;
	}
	return -1;
}

/* The ELF image of a module in memory: its headers, read at `hdr`. */
struct image {
	uint64_t hdr;              /* where offset 0 of the file is mapped */
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	size_t phnum;
	uint64_t bias;             /* run-time address - link-time address */
	uint64_t lo, hi;           /* bias + extent of the PT_LOADs */
};

static const Elf64_Phdr *first_load(const struct image *im)
{
	for (size_t i = 0; i < im->phnum; i++)
		if (im->ph[i].p_type == PT_LOAD)
			return &im->ph[i];
	return NULL;
}

/* Reads the ELF and program headers mapped at hdr; false when they are not
 * a usable ELF64 image (not there, not ELF, absurd). */
static bool read_image(const struct cprof_core *core, uint64_t hdr,
		       struct image *im)
{
	memset(im, 0, sizeof(*im));
	im->hdr = hdr;
	if (!cprof_core_try_read(core, hdr, &im->eh, sizeof(im->eh)))
		return false;
	const Elf64_Ehdr *eh = &im->eh;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > MAX_PHNUM || eh->e_phoff > (1u << 20) ||
	    (eh->e_type != ET_DYN && eh->e_type != ET_EXEC))
		return false;
	im->phnum = eh->e_phnum;
	im->ph = calloc(im->phnum, sizeof(*im->ph));
	if (!im->ph)
		return false;
	if (!cprof_core_try_read(core, hdr + eh->e_phoff, im->ph,
				 im->phnum * sizeof(*im->ph))) {
		free(im->ph);
		im->ph = NULL;
		return false;
	}
	const Elf64_Phdr *f = first_load(im);
	if (!f)
		goto bad;
	/* Offset 0 of the file is mapped at the page of (p_vaddr - p_offset). */
	uint64_t page = core->page_size;
	im->bias = hdr - ((f->p_vaddr - f->p_offset) & ~(page - 1));
	im->lo = hdr;
	im->hi = hdr;
	for (size_t i = 0; i < im->phnum; i++) {
		const Elf64_Phdr *p = &im->ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		uint64_t end = im->bias + p->p_vaddr + p->p_memsz;
		if (end < im->bias || p->p_memsz > (1ull << 40))
			goto bad;
		if (end > im->hi)
			im->hi = end;
	}
	return true;
bad:
	free(im->ph);
	im->ph = NULL;
	return false;
}

/* Whether anonymous memory from `start` is the .bss the image's PT_LOADs
 * declare beyond their file bytes (the kernel may have merged it with the
 * anonymous mapping after it: only the declared part is the module's, and
 * the module's range ends there). */
static bool is_declared_bss(const struct image *im, uint64_t page, uint64_t start)
{
	for (size_t i = 0; i < im->phnum; i++) {
		const Elf64_Phdr *p = &im->ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz <= p->p_filesz)
			continue;
		uint64_t lo = (im->bias + p->p_vaddr + p->p_filesz + page - 1) & ~(page - 1);
		uint64_t hi = im->bias + p->p_vaddr + p->p_memsz;
		if (lo <= start && start < hi)
			return true;
	}
	return false;
}

/*
 * The end of the module's range once clipped: walking the mappings up from
 * its header, stop at the first one that is neither its own file's, nor
 * anonymous .bss it declares, nor a gap without permissions.  A file of -1
 * (no NT_FILE, or the vdso) keeps only the mapping of the header.
 */
static uint64_t clipped_end(const struct cprof_core *core, const struct image *im,
			    int file)
{
	uint64_t end = im->hi;
	/* the first segment that ends above the header (they are sorted) */
	size_t lo = 0, hi = core->n_segments;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (core->segments[mid].end <= im->hdr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < core->n_segments && core->segments[i].start < end; i++) {
		const struct cprof_segment *s = &core->segments[i];
		if (s->start <= im->hdr) {
			if (file < 0 && s->end < end)
				end = s->end;
			continue;
		}
		bool own = file >= 0 && s->file == file;
		bool anon = s->file < 0;
		bool gap = anon && !(s->flags & (CPROF_SEG_R | CPROF_SEG_W | CPROF_SEG_X));
		if (own || (anon && file >= 0 && (gap ||
		    is_declared_bss(im, core->page_size, s->start))))
			continue;
		return s->start;
	}
	return end;
}

/*
 * The hex GNU build-id in the image's notes, as the core itself holds them
 * (never from a file: that would compare the file with itself), or NULL.
 * Go's linker writes .note.gnu.build-id right after .note.go.buildid but
 * leaves it out of its one PT_NOTE: the notes that follow a PT_NOTE in the
 * same page are read too (the kernel dumps that first page; the id is then
 * checked against the file's like any other).
 */
static char *core_build_id(const struct cprof_core *core, const struct image *im)
{
	for (size_t i = 0; i < im->phnum; i++) {
		const Elf64_Phdr *p = &im->ph[i];
		if (p->p_type != PT_NOTE || p->p_filesz < 12 || p->p_filesz > MAX_NOTES)
			continue;
		uint64_t start = im->bias + p->p_vaddr, page = core->page_size ? core->page_size : 4096;
		uint64_t page_end = (start + p->p_filesz + page - 1) / page * page;
		size_t len = (size_t)(page_end - start);
		if (len > MAX_NOTES)
			len = p->p_filesz;
		uint8_t *buf = malloc(len);
		if (!buf)
			return NULL;
		char *id = NULL;
		if (core_read_dumped(core, start, buf, len))
			id = core_note_build_id(buf, len);
		else if (len > p->p_filesz && core_read_dumped(core, start, buf, p->p_filesz))
			id = core_note_build_id(buf, p->p_filesz);
		free(buf);
		if (id)
			return id;
	}
	return NULL;
}

/* The highest mapping of offset 0 of `file` at or below addr, or 0. */
static uint64_t header_below(const struct cprof_core *core, int file, uint64_t addr)
{
	uint64_t best = 0;
	for (size_t i = 0; i < core->n_priv_ranges; i++) {
		const struct core_file_range *r = &core->priv_ranges[i];
		if ((int)r->file == file && r->offset == 0 && r->start <= addr &&
		    r->start > best)
			best = r->start;
	}
	return best;
}

static struct cprof_error *push_module(struct cprof_core *core, size_t *cap,
				       struct cprof_module **ret)
{
	if (core->n_modules == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct cprof_module *m = realloc(core->modules, c * sizeof(*m));
		if (!m)
			return &cprof_enomem;
		core->modules = m;
		*cap = c;
	}
	*ret = &core->modules[core->n_modules++];
	memset(*ret, 0, sizeof(**ret));
	return NULL;
}

/* Adds the module whose image `im` is; takes `name` (malloc'd). */
static struct cprof_error *add_module(struct cprof_core *core, size_t *cap,
				      const struct image *im, int file, char *name,
				      enum cprof_module_source source)
{
	struct cprof_module *m;
	struct cprof_error *err = name ? push_module(core, cap, &m) : &cprof_enomem;
	if (err) {
		free(name);
		return err;
	}
	m->name = name;
	m->start = im->hdr;
	m->end = clipped_end(core, im, file);
	m->load_bias = im->bias;
	m->source = source;
	m->file = file;
	const Elf64_Phdr *f = first_load(im);
	uint64_t align = f->p_align > 1 ? f->p_align : 1;
	m->dwfl_low = im->bias + (f->p_vaddr & ~(align - 1));
	m->build_id = core_build_id(core, im);
	return NULL;
}

/* ---- the dynamic linker's list ---- */

struct lm_walk {
	struct cprof_core *core;
	size_t *cap;
	uint64_t vdso;             /* AT_SYSINFO_EHDR */
	char *vdso_name;           /* the link map's name for it */
	size_t entries;
};

static bool read_u64(const struct cprof_core *core, uint64_t addr, uint64_t *ret)
{
	return cprof_core_try_read(core, addr, ret, 8);
}

/* A NUL-terminated string of at most MAX_NAME bytes at addr, or NULL. */
static char *read_string(const struct cprof_core *core, uint64_t addr)
{
	char buf[MAX_NAME];
	size_t n = 0;
	while (n < sizeof(buf)) {
		/* by pieces that do not cross a page: the string may end
		   right before unreadable memory */
		uint64_t a = addr + n;
		size_t piece = core->page_size - (a & (core->page_size - 1));
		if (piece > sizeof(buf) - n)
			piece = sizeof(buf) - n;
		if (!cprof_core_try_read(core, a, buf + n, piece))
			return NULL;
		char *nul = memchr(buf + n, '\0', piece);
		if (nul)
			return strdup(buf);
		n += piece;
	}
	return NULL;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/*
 * A module's name, the file name a user knows it by: the one the dynamic
 * linker recorded (l_name: ldd's, "libc.so.6"); for the executable, whose
 * entry has no name, the one it was run as (AT_EXECFN: "redis-server", where
 * NT_FILE has the symlink's target); else NT_FILE's.  Malloc'd, or NULL.
 */
static char *module_name(const struct cprof_core *core, const char *l_name, int file)
{
	if (l_name && *l_name)
		return strdup(base_name(l_name));
	uint64_t execfn = core_auxv(core, AT_EXECFN_);
	int exe = core_file_at(core, core_auxv(core, AT_ENTRY_));
	char *s = execfn && file >= 0 && file == exe ? read_string(core, execfn) : NULL;
	char *name = s && *s ? strdup(base_name(s)) :
		     strdup(file >= 0 ? base_name(core->files[file].path) : "?");
	free(s);
	return name;
}

/* One link_map entry: the module of the file mapped where l_ld is. */
static struct cprof_error *link_map_entry(struct lm_walk *w, uint64_t l_addr,
					  uint64_t l_ld, const char *l_name)
{
	struct cprof_core *core = w->core;
	const struct cprof_segment *vs = w->vdso ? cprof_core_segment(core, w->vdso) : NULL;
	if (vs && vs->start <= l_ld && l_ld < vs->end) {
		/* the vdso: added from AT_SYSINFO_EHDR, under this name */
		if (!w->vdso_name && *l_name)
			w->vdso_name = strdup(l_name);
		return NULL;
	}
	int file = core_file_at(core, l_ld);
	uint64_t hdr = 0;
	if (file >= 0)
		hdr = header_below(core, file, l_ld);
	else if (core->n_priv_ranges == 0)
		hdr = l_addr;          /* no NT_FILE to check against */
	if (!hdr) {
		cprof_warn(core->warnings,
			   "%s: the dynamic linker lists '%s' with its dynamic section at 0x%016llx, where no file is mapped from its start (NT_FILE); not taken for a module",
			   core->path, l_name, (unsigned long long)l_ld);
		return NULL;
	}
	for (size_t i = 0; i < core->n_modules; i++)
		if (core->modules[i].start == hdr)
			return NULL;   /* listed again (ld.so in another namespace) */
	struct image im;
	if (!read_image(core, hdr, &im)) {
		cprof_warn(core->warnings,
			   "%s: the dynamic linker lists '%s' at 0x%016llx, where no ELF header can be read; not taken for a module",
			   core->path, l_name, (unsigned long long)hdr);
		return NULL;
	}
	if (im.bias != l_addr)
		cprof_warn(core->warnings,
			   "%s: the dynamic linker's load address of '%s' (0x%016llx) disagrees with where its file is mapped (load address 0x%016llx); the mapping is used",
			   core->path, l_name, (unsigned long long)l_addr,
			   (unsigned long long)im.bias);
	struct cprof_error *err = add_module(core, w->cap, &im, file,
					     module_name(core, l_name, file),
					     CPROF_MODULE_LINK_MAP);
	free(im.ph);
	return err;
}

/* Walks the link_map chain of one namespace.  False when it is unreadable
 * or corrupt at its start (nothing added). */
static struct cprof_error *walk_chain(struct lm_walk *w, uint64_t l, bool *ok)
{
	uint64_t prev = 0;
	*ok = false;
	while (l) {
		uint64_t f[LM_SIZE / 8];
		struct cprof_error *err = cprof_core_read(w->core, l, f, sizeof(f));
		if (err) {
			cprof_warn(w->core->warnings, "%s: the dynamic linker's list is cut at 0x%016llx: %s",
				   w->core->path, (unsigned long long)l, err->message);
			cprof_error_destroy(err);
			return NULL;
		}
		if (f[LM_PREV / 8] != prev) {
			cprof_warn(w->core->warnings, "%s: the dynamic linker's list is corrupt at 0x%016llx (l_prev 0x%llx, expected 0x%llx); the rest is ignored",
				   w->core->path, (unsigned long long)l,
				   (unsigned long long)f[LM_PREV / 8], (unsigned long long)prev);
			return NULL;
		}
		if (++w->entries > MAX_LINK_MAP) {
			cprof_warn(w->core->warnings, "%s: the dynamic linker's list has more than %d entries (a loop?); the rest is ignored",
				   w->core->path, MAX_LINK_MAP);
			return NULL;
		}
		char *name = f[LM_NAME / 8] ? read_string(w->core, f[LM_NAME / 8]) : NULL;
		err = link_map_entry(w, f[LM_ADDR / 8], f[LM_LD / 8], name ? name : "");
		free(name);
		if (err)
			return err;
		*ok = true;
		prev = l;
		l = f[LM_NEXT / 8];
	}
	return NULL;
}

/* The address of ld.so's _r_debug (ld.so being mapped at AT_BASE), or 0. */
static uint64_t ldso_r_debug(const struct cprof_core *core)
{
	uint64_t base = core_auxv(core, AT_BASE_);
	int fi = base ? core_file_at(core, base) : -1;
	if (fi < 0 || !core->files[fi].data)
		return 0;
	struct image im;
	if (!read_image(core, base, &im))
		return 0;
	uint64_t bias = im.bias, found = 0;
	free(im.ph);
	const struct cprof_file *f = &core->files[fi];
	Elf *elf = elf_memory((char *)f->data, f->size);
	Elf_Scn *scn = NULL;
	while (elf && !found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) ||
		    !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t n = d ? d->d_size / sh.sh_entsize : 0;
		for (size_t i = 0; i < n && !found; i++) {
			GElf_Sym sym;
			const char *name;
			if (gelf_getsym(d, (int)i, &sym) &&
			    (name = elf_strptr(elf, sh.sh_link, sym.st_name)) &&
			    !strcmp(name, "_r_debug") && sym.st_shndx != SHN_UNDEF)
				found = bias + sym.st_value;
		}
	}
	if (elf)
		elf_end(elf);
	return found;
}

/* What the executable's program headers (at AT_PHDR) say: whether it has an
 * interpreter, and its DT_DEBUG (r_debug's address, 0 if none yet). */
static void executable_dynamic(const struct cprof_core *core, bool *has_interp,
			       uint64_t *r_debug)
{
	uint64_t phdr = core_auxv(core, AT_PHDR_), phnum = core_auxv(core, AT_PHNUM_);
	*has_interp = false;
	*r_debug = 0;
	if (!phdr || !phnum || phnum > MAX_PHNUM)
		return;
	Elf64_Phdr *ph = calloc(phnum, sizeof(*ph));
	if (!ph)
		return;
	struct cprof_error *err = cprof_core_read(core, phdr, ph, phnum * sizeof(*ph));
	if (err) {
		cprof_error_destroy(err);
		free(ph);
		return;
	}
	uint64_t bias = 0, dyn = 0, dynsz = 0;
	for (size_t i = 0; i < phnum; i++) {
		if (ph[i].p_type == PT_PHDR)
			bias = phdr - ph[i].p_vaddr;
		else if (ph[i].p_type == PT_INTERP)
			*has_interp = true;
	}
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC) {
			dyn = bias + ph[i].p_vaddr;
			dynsz = ph[i].p_memsz;
		}
	for (uint64_t off = 0; dyn && off + 16 <= dynsz && off < (1u << 16); off += 16) {
		uint64_t tag, val;
		if (!read_u64(core, dyn + off, &tag) || tag == DT_NULL ||
		    !read_u64(core, dyn + off + 8, &val))
			break;
		if (tag == DT_DEBUG)
			*r_debug = val;
	}
	free(ph);
}

/* Every namespace's chain from r_debug.  False when not one entry is read. */
static struct cprof_error *walk_r_debug(struct lm_walk *w, uint64_t r_debug,
					bool *ok)
{
	*ok = false;
	for (int ns = 0; r_debug && ns < MAX_NAMESPACES; ns++) {
		uint64_t rd[RD_SIZE / 8];
		struct cprof_error *err = cprof_core_read(w->core, r_debug, rd, sizeof(rd));
		if (err) {
			/* glibc < 2.35 has no r_next: read the first 40 bytes */
			cprof_error_destroy(err);
			memset(rd, 0, sizeof(rd));
			if (!read_u64(w->core, r_debug + RD_VERSION, &rd[0]) ||
			    !read_u64(w->core, r_debug + RD_MAP, &rd[1]))
				return NULL;
		}
		uint32_t version = (uint32_t)rd[RD_VERSION / 8];
		if (version < 1 || version > 16)
			return NULL;
		bool chain_ok;
		if ((err = walk_chain(w, rd[RD_MAP / 8], &chain_ok)))
			return err;
		*ok |= chain_ok;
		r_debug = version >= 2 ? rd[RD_NEXT / 8] : 0;
	}
	return NULL;
}

/* ---- without the link map ---- */

/* Every file mapped from offset 0 with an ELF header there. */
static struct cprof_error *mapped_elf_files(struct cprof_core *core, size_t *cap)
{
	for (size_t i = 0; i < core->n_priv_ranges; i++) {
		const struct core_file_range *r = &core->priv_ranges[i];
		struct image im;
		if (r->offset != 0 || !read_image(core, r->start, &im))
			continue;
		struct cprof_error *err = add_module(core, cap, &im, (int)r->file,
						     module_name(core, NULL, (int)r->file),
						     CPROF_MODULE_MAPPED);
		free(im.ph);
		if (err)
			return err;
	}
	return NULL;
}

/* The executable of a static program: the file mapping AT_ENTRY. */
static struct cprof_error *static_executable(struct cprof_core *core, size_t *cap)
{
	uint64_t entry = core_auxv(core, AT_ENTRY_);
	int file = entry ? core_file_at(core, entry) : -1;
	uint64_t hdr = file >= 0 ? header_below(core, file, entry) : 0;
	struct image im;
	if (!hdr || !read_image(core, hdr, &im))
		return NULL;
	struct cprof_error *err = add_module(core, cap, &im, file,
					     module_name(core, NULL, file),
					     CPROF_MODULE_AUXV);
	free(im.ph);
	return err;
}

static struct cprof_error *add_vdso(struct cprof_core *core, size_t *cap,
				    uint64_t vdso, const char *name)
{
	struct image im;
	if (!vdso || !read_image(core, vdso, &im))
		return NULL;
	struct cprof_error *err = add_module(core, cap, &im, -1,
					     strdup(name ? name : "[vdso]"),
					     CPROF_MODULE_AUXV);
	free(im.ph);
	return err;
}

static int module_cmp(const void *a, const void *b)
{
	const struct cprof_module *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorted and disjoint: a module that starts inside the one before (a
 * corrupt list) ends that one. */
static void sort_modules(struct cprof_core *core)
{
	if (core->n_modules)
		qsort(core->modules, core->n_modules, sizeof(*core->modules), module_cmp);
	for (size_t i = 1; i < core->n_modules; i++) {
		struct cprof_module *p = &core->modules[i - 1], *m = &core->modules[i];
		if (m->start < p->end) {
			cprof_warn(core->warnings, "%s: modules '%s' and '%s' overlap at 0x%016llx; the first is cut there",
				   core->path, p->name, m->name, (unsigned long long)m->start);
			p->end = m->start;
		}
	}
}

struct cprof_error *core_find_modules(struct cprof_core *core)
{
	size_t cap = 0;
	struct cprof_error *err = NULL;
	bool has_interp, ok = false;
	uint64_t r_debug;
	struct lm_walk w = { .core = core, .cap = &cap,
			     .vdso = core_auxv(core, AT_SYSINFO_EHDR_) };
	executable_dynamic(core, &has_interp, &r_debug);
	if (!has_interp) {
		err = static_executable(core, &cap);
	} else {
		if (r_debug)
			err = walk_r_debug(&w, r_debug, &ok);
		if (!err && !ok && (r_debug = ldso_r_debug(core)))
			err = walk_r_debug(&w, r_debug, &ok);
		if (!err && !ok) {
			cprof_warn(core->warnings,
				   "%s: the dynamic linker's list of loaded modules (r_debug) cannot be read; modules are guessed from the ELF files mapped in the process, and a file that was only mapped, not loaded, may be listed as a module",
				   core->path);
			err = mapped_elf_files(core, &cap);
		}
	}
	if (!err)
		err = add_vdso(core, &cap, w.vdso, w.vdso_name);
	free(w.vdso_name);
	if (err)
		return err;
	sort_modules(core);
	return NULL;
}
