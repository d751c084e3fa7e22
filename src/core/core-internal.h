/*
 * core-internal.h - what the files of src/core share and nobody else sees.
 */
#ifndef CPROF_CORE_INTERNAL_H
#define CPROF_CORE_INTERNAL_H

#include <libelf.h>

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

/* Marks a file unusable (a mismatched build-id): reads then never use it. */
void core_file_reject(struct cprof_core *core, size_t file);

#endif
