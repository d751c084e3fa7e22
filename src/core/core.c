/*
 * core.c - opening a core: the ELF checks, the segments, and the files behind
 * them.  The notes are parsed in notes.c, the modules in modules.c, reads in
 * memory.c.
 *
 * A segment is one PT_LOAD of the core, which the kernel (and gdb's gcore)
 * writes one per mapping of the process.  Of its p_memsz bytes the core holds
 * the first p_filesz; the kernel writes p_filesz = 0 or one page (the ELF
 * header) for file mappings it leaves out, and then the rest is read from the
 * file that NT_FILE names.  A core cut short holds fewer than p_filesz bytes:
 * those bytes are missing - they are not the file's bytes (the mapping may have
 * been written to) and not zeros.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-internal.h"

const char *cprof_source_name(enum cprof_source s)
{
	switch (s) {
	case CPROF_SOURCE_CORE: return "core";
	case CPROF_SOURCE_FILE: return "file";
	case CPROF_SOURCE_MISSING: return "missing";
	}
	return "?";
}

static const char *machine_name(unsigned machine)
{
	switch (machine) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86-64";
	case EM_AARCH64: return "aarch64";
	case EM_ARM: return "arm";
	case EM_PPC64: return "ppc64";
	case EM_PPC: return "ppc";
	case EM_S390: return "s390";
	case EM_RISCV: return "riscv";
	case EM_MIPS: return "mips";
	case EM_SPARCV9: return "sparc64";
	}
	return NULL;
}

/*
 * How many program headers the core has (core->phnum), before anything
 * reads them.  e_phnum = 0xffff (PN_XNUM) says that the count is section
 * header 0's sh_info (a process of 65535 mappings or more); when there is no
 * section header 0 to say it, the headers are read up to the first that a
 * core does not have (neither PT_LOAD nor PT_NOTE), with a warning, instead
 * of taking 65535 headers' worth of the file's bytes for headers.
 */
static struct cprof_error *count_phdrs(struct cprof_core *core, Elf *elf,
				       const GElf_Ehdr *ehdr)
{
	if (ehdr->e_phnum && ehdr->e_phentsize != sizeof(Elf64_Phdr))
		return cprof_corrupt_file("%s: e_phentsize is %u, not %zu: not a core's program headers",
					  core->path, ehdr->e_phentsize, sizeof(Elf64_Phdr));
	core->phnum = ehdr->e_phnum;
	if (ehdr->e_phnum != PN_XNUM)
		return NULL;
	GElf_Shdr sh;
	Elf_Scn *scn0 = ehdr->e_shoff && ehdr->e_shoff < core->size ? elf_getscn(elf, 0) : NULL;
	if (scn0 && gelf_getshdr(scn0, &sh) && sh.sh_info >= PN_XNUM) {
		core->phnum = sh.sh_info;
		return NULL;
	}
	uint64_t room = ehdr->e_phoff < core->size ?
			(core->size - ehdr->e_phoff) / sizeof(Elf64_Phdr) : 0;
	size_t n = 0;
	for (; n < PN_XNUM && n < room; n++) {
		Elf64_Phdr ph;
		memcpy(&ph, core->data + ehdr->e_phoff + n * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			break;
	}
	core->phnum = n;
	cprof_warn(core->warnings,
		   "%s: e_phnum is 0xffff (PN_XNUM) and no section header 0 gives the count: %zu program headers read, up to the first that is neither PT_LOAD nor PT_NOTE",
		   core->path, n);
	return NULL;
}

/* Checks that the file is a 64-bit x86-64 ELF core whose headers are whole. */
static struct cprof_error *check_header(struct cprof_core *core, Elf *elf)
{
	struct cprof_error *err;
	if (elf_kind(elf) != ELF_K_ELF)
		return cprof_corrupt_file(
					  "%s: not an ELF file", core->path);
	size_t ident_size;
	const char *ident = elf_getident(elf, &ident_size);
	if (!ident || ident_size < EI_NIDENT)
		return cprof_corrupt_file(
					  "%s: truncated ELF header", core->path);
	GElf_Ehdr ehdr;
	if (!gelf_getehdr(elf, &ehdr))
		return cprof_corrupt_file(
					  "%s: bad ELF header: %s", core->path,
					  elf_errmsg(-1));
	if (ehdr.e_type != ET_CORE) {
		const char *kind = ehdr.e_type == ET_EXEC ? "an executable" :
				   ehdr.e_type == ET_DYN ? "a shared object or PIE executable" :
				   ehdr.e_type == ET_REL ? "an object file" :
				   "an ELF file of unknown type";
		return cprof_corrupt_file(
					  "%s: not a core file (it is %s)",
					  core->path, kind);
	}
	if (ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64) {
		const char *m = machine_name(ehdr.e_machine);
		char num[32];
		if (!m) {
			snprintf(num, sizeof(num), "machine %u", ehdr.e_machine);
			m = num;
		}
		return cprof_error_create(
			CPROF_ERROR_UNSUPPORTED,
			"%s: core of another architecture (%s, %d-bit); only x86-64 cores are supported",
			core->path, m, ident[EI_CLASS] == ELFCLASS32 ? 32 : 64);
	}
	if (ident[EI_DATA] != ELFDATA2LSB)
		return cprof_corrupt_file(
					  "%s: big-endian x86-64 core", core->path);
	if ((err = count_phdrs(core, elf, &ehdr)))
		return err;
	uint64_t phbytes = (uint64_t)core->phnum * ehdr.e_phentsize;
	if (ehdr.e_phoff > core->size || phbytes > core->size - ehdr.e_phoff)
		return cprof_corrupt_file("%s: truncated in its program headers (file has %llu bytes, %zu headers end at %llu)",
					  core->path, (unsigned long long)core->size, core->phnum,
					  (unsigned long long)(ehdr.e_phoff + phbytes));
	return NULL;
}

static int segment_cmp(const void *a, const void *b)
{
	const struct cprof_segment *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Fills core->segments from the PT_LOAD headers; notes.c has run already so
 * that NT_FILE can name the file behind each segment. */
static struct cprof_error *read_segments(struct cprof_core *core, Elf *elf)
{
	size_t phnum = core->phnum;
	core->segments = calloc(phnum ? phnum : 1, sizeof(*core->segments));
	if (!core->segments)
		return &cprof_enomem;
	uint64_t cut_bytes = 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD ||
		    ph.p_memsz == 0)
			continue;
		if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
			cprof_warn(core->warnings,
				   "%s: program header %zu: segment wraps around the address space; ignored",
				   core->path, i);
			continue;
		}
		struct cprof_segment *s = &core->segments[core->n_segments++];
		s->start = ph.p_vaddr;
		s->end = ph.p_vaddr + ph.p_memsz;
		s->flags = (ph.p_flags & PF_R ? CPROF_SEG_R : 0) |
			   (ph.p_flags & PF_W ? CPROF_SEG_W : 0) |
			   (ph.p_flags & PF_X ? CPROF_SEG_X : 0);
		s->declared_bytes = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
		s->core_offset = ph.p_offset;
		if (ph.p_offset >= core->size)
			s->core_bytes = 0;
		else if (s->declared_bytes > core->size - ph.p_offset)
			s->core_bytes = core->size - ph.p_offset;
		else
			s->core_bytes = s->declared_bytes;
		cut_bytes += s->declared_bytes - s->core_bytes;
		s->file = -1;
	}
	if (core->n_segments)
		qsort(core->segments, core->n_segments, sizeof(*core->segments),
		      segment_cmp);
	/* Overlapping segments mean a forged or corrupt core: keep the first. */
	size_t kept = 0;
	for (size_t i = 0; i < core->n_segments; i++) {
		if (kept && core->segments[i].start < core->segments[kept - 1].end) {
			cprof_warn(core->warnings,
				   "%s: segment 0x%016llx-0x%016llx overlaps the one before; ignored",
				   core->path,
				   (unsigned long long)core->segments[i].start,
				   (unsigned long long)core->segments[i].end);
			continue;
		}
		core->segments[kept++] = core->segments[i];
	}
	core->n_segments = kept;
	if (cut_bytes) {
		core->truncated = true;
		cprof_warn(core->warnings,
			   "%s: core file is truncated: %llu bytes of memory it declares are missing (is the file complete? was the disk full when it was written?)",
			   core->path, (unsigned long long)cut_bytes);
	}
	return NULL;
}

/* Links each segment to the NT_FILE entry that maps it. */
static void attach_files(struct cprof_core *core)
{
	struct core_file_range *r = core->priv_ranges;
	for (size_t i = 0; i < core->n_segments; i++) {
		struct cprof_segment *s = &core->segments[i];
		for (size_t j = 0; j < core->n_priv_ranges; j++) {
			if (r[j].start <= s->start && s->start < r[j].end) {
				s->file = (int)r[j].file;
				s->file_offset = r[j].offset + (s->start - r[j].start);
				break;
			}
		}
	}
}

static struct cprof_error *push_segment(struct cprof_core *core, size_t *cap,
				       const struct cprof_segment *seg)
{
	if (core->n_segments == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct cprof_segment *s = realloc(core->segments, c * sizeof(*s));
		if (!s)
			return &cprof_enomem;
		core->segments = s;
		*cap = c;
	}
	core->segments[core->n_segments++] = *seg;
	return NULL;
}

/*
 * gdb's gcore writes no PT_LOAD for read-only file mappings, only their
 * NT_FILE entries: such ranges become segments whose bytes all come from the
 * file.  Their permissions are filled in from the file's program headers once
 * the files are open (modules.c).
 */
static struct cprof_error *add_file_only_segments(struct cprof_core *core)
{
	size_t cap = core->n_segments, n_load = core->n_segments;
	struct cprof_error *err;
	for (size_t i = 0; i < core->n_priv_ranges; i++) {
		const struct core_file_range *r = &core->priv_ranges[i];
		uint64_t addr = r->start;
		/* The PT_LOAD segments are sorted: subtract them from r. */
		for (size_t k = 0; k <= n_load && addr < r->end; k++) {
			uint64_t gap_end = k < n_load ? core->segments[k].start : r->end;
			if (gap_end > r->end)
				gap_end = r->end;
			if (gap_end > addr) {
				struct cprof_segment seg = {
					.start = addr, .end = gap_end,
					.flags = CPROF_SEG_R, .file = (int)r->file,
					.file_offset = r->offset + (addr - r->start),
					.file_only = true,
				};
				if ((err = push_segment(core, &cap, &seg)))
					return err;
			}
			if (k < n_load && core->segments[k].end > addr)
				addr = core->segments[k].end;
		}
	}
	if (core->n_segments != n_load)
		qsort(core->segments, core->n_segments, sizeof(*core->segments),
		      segment_cmp);
	return NULL;
}

/* Maps the core file (a regular file only), or borrows the caller's buffer. */
static struct cprof_error *map_core(struct cprof_core *core,
				    const struct cprof_core_options *opts)
{
	if (opts->core_data) {
		core->data = opts->core_data;
		core->size = opts->core_size;
		core->data_borrowed = true;
	} else {
		struct stat st;
		struct cprof_error *err = core_open_regular(opts->core_path, &core->fd, &st);
		if (err)
			return err;
		core->size = st.st_size;
	}
	if (core->size == 0)
		return cprof_corrupt_file(
					  "%s: empty file, not a core", core->path);
	if (core->data_borrowed)
		return NULL;
	core->data = mmap(NULL, core->size, PROT_READ, MAP_PRIVATE, core->fd, 0);
	if (core->data == MAP_FAILED) {
		core->data = NULL;
		return cprof_error_os(errno, core->path, "mmap");
	}
	return NULL;
}

struct cprof_error *cprof_core_open(const struct cprof_core_options *opts,
				    struct cprof_core **ret)
{
	struct cprof_error *err;
	struct cprof_core *core = calloc(1, sizeof(*core));
	if (!core)
		return &cprof_enomem;
	core->warnings = opts->warnings;
	core->page_size = 4096;
	core->fd = -1;
	core->path = strdup(opts->core_path);
	if (!core->path) {
		err = &cprof_enomem;
		goto fail;
	}

	if ((err = map_core(core, opts)))
		goto fail;
	elf_version(EV_CURRENT);
	core->elf = elf_memory((char *)core->data, core->size);
	if (!core->elf) {
		err = cprof_error_create(CPROF_ERROR_LIB, "%s: elf_memory: %s",
					 core->path, elf_errmsg(-1));
		goto fail;
	}
	if ((err = check_header(core, core->elf)))
		goto fail;
	if ((err = core_read_notes(core)))
		goto fail;
	if ((err = read_segments(core, core->elf)))
		goto fail;
	attach_files(core);
	if ((err = add_file_only_segments(core)))
		goto fail;
	if ((err = core_open_files(core, opts)))
		goto fail;
	if ((err = core_report_modules(core, opts)))
		goto fail;
	core_find_interrupted(core);
	*ret = core;
	return NULL;

fail:
	cprof_core_close(core);
	return err;
}

void cprof_core_close(struct cprof_core *core)
{
	if (!core)
		return;
	core_dwarf_release(core);
	core_modules_release(core);
	for (size_t i = 0; i < core->n_files; i++) {
		struct cprof_file *f = &core->files[i];
		if (f->data)
			munmap((void *)f->data, f->size);
		free(f->path);
		free(f->open_path);
	}
	free(core->files);
	free(core->priv_ranges);
	free(core->segments);
	free(core->threads);
	free(core->auxv);
	if (core->elf)
		elf_end(core->elf);
	if (core->data && !core->data_borrowed)
		munmap((void *)core->data, core->size);
	if (core->fd >= 0)
		close(core->fd);
	free(core->path);
	free(core);
}
