/*
 * core-internal.h - what the files of src/core share and nobody else sees.
 */
#ifndef CPROF_CORE_INTERNAL_H
#define CPROF_CORE_INTERNAL_H

#include <libelf.h>
#include <sys/stat.h>

#include "cprof/core.h"

/* One NT_FILE entry: [start, end) maps file `file` from byte `offset`. */
struct core_file_range {
	uint64_t start, end, offset;
	size_t file;               /* index into core->files */
};

/* notes.c: threads, process, auxv and NT_FILE (core->files, priv_ranges). */
struct cprof_error *core_read_notes(struct cprof_core *core);

/* modules.c: opens the mapped files (sysroot, EXE argument), reports the
 * modules to libdwfl and checks their build-ids. */
struct cprof_error *core_open_files(struct cprof_core *core,
				    const struct cprof_core_options *opts);
struct cprof_error *core_report_modules(struct cprof_core *core,
					const struct cprof_core_options *opts);
void core_modules_release(struct cprof_core *core);
/* dwarf.c: frees the DWARF name indexes. */
void core_dwarf_release(struct cprof_core *core);

/* loaded.c: the modules (core->modules, sorted and disjoint, without their
 * libdwfl state): the dynamic linker's list, checked against NT_FILE. */
struct cprof_error *core_find_modules(struct cprof_core *core);
uint64_t core_auxv(const struct cprof_core *core, uint64_t type);
/* The file whose NT_FILE mapping holds addr, or -1. */
int core_file_at(const struct cprof_core *core, uint64_t addr);

/* memory.c: reads only bytes the core file itself holds (not the mapped
 * files'); false when any is not there. */
bool core_read_dumped(const struct cprof_core *core, uint64_t addr, void *buf,
		      size_t len);

/* notes.c: the hex GNU build-id in a buffer of ELF notes, or NULL. */
char *core_note_build_id(const uint8_t *notes, size_t size);

/* files.c: opening files safely (regular files only, never blocking). */
const char *core_file_kind(mode_t mode);
/* Opens a path given by the user (CORE, EXE). */
struct cprof_error *core_open_regular(const char *path, int *ret,
				      struct stat *st_ret);
/* Opens a path the core names, resolved under root (NULL: "/") without
 * leaving it; *path_ret is the name to show (root + path), malloc'd. */
struct cprof_error *core_open_in_root(const char *root, const char *path,
				      int *ret, char **path_ret);
/* Why an ELF file cannot be used ("not an ELF file", "truncated: ..."),
 * into buf; false when it is usable. */
bool core_elf_problem(const uint8_t *data, uint64_t size, char *buf,
		      size_t bufsize);

/* debuginfo.c: a module's separate debug file, or the dwz file its DWARF
 * refers to (alt).  Returns a descriptor of a verified regular file and its
 * path in *ret (malloc'd), or -1. */
struct core_debug_query {
	const char *core_path;     /* the module's file, as the core names it */
	const char *main_path;     /* the module's file, as opened */
	const char *from_path;     /* alt: the file whose .gnu_debugaltlink it is */
	const char *name;          /* .gnu_debuglink / .gnu_debugaltlink name */
	uint32_t crc;              /* .gnu_debuglink's, 0 when none */
	bool alt;
	const unsigned char *build_id;   /* the module's, when it has one */
	size_t build_id_len;
};
int core_find_debug_file(struct cprof_core *core, const struct core_debug_query *q,
			 char **ret);

/* sigframe.c: each thread's interrupted_sp and interrupted_pc (once the
 * modules' symbols can be read). */
void core_find_interrupted(struct cprof_core *core);

/* Marks a file unusable (a mismatched build-id): reads then never use it. */
void core_file_reject(struct cprof_core *core, size_t file);

#endif
