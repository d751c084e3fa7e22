/*
 * core.h - the address space: a model of the dumped process, from its core.
 *
 * In:  an ELF core file of an x86-64 Linux process, optionally the executable
 *      (when it is not where the core says), a sysroot for cores taken on
 *      another machine, and directories of separate debug info.
 * Out: a struct cprof_core, read-only once opened, that holds
 *      - the segments (one per PT_LOAD of the core: one per mapping of the
 *        process), each knowing which of its bytes the core holds, which come
 *        from a file and which are missing;
 *      - the process (pid, command line, the signal that killed it, auxv);
 *      - the threads (tid, general registers incl. fs_base, vector registers);
 *      - the mapped files (NT_FILE) and the modules (ELF objects: the
 *        executable, its shared objects, the vdso) with their build-id check;
 *      - a memory reader that never returns bytes it does not have: bytes the
 *        core left out are read from the module's file when that file is
 *        verified, and anything else is a FAULT error, never zeros;
 *      - symbolization and per-thread backtraces (libdwfl; CFI first, then
 *        frame pointers).
 *
 * Where each fact comes from is written in docs/core-model.md.
 *
 * Lifetime: everything reachable from a struct cprof_core lives until
 * cprof_core_close().  Pointers returned by cprof_core_ptr() point into the
 * mmapped core or module files and live as long as the core.
 *
 * Untrusted input: the core and every file it names are untrusted.  Malformed
 * data gives BAD_DATA or a warning, never an assertion failure.
 */
#ifndef CPROF_CORE_H
#define CPROF_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cprof/error.h"

/* Where the bytes of an address range come from. */
enum cprof_source {
	CPROF_SOURCE_CORE,         /* held in the core file */
	CPROF_SOURCE_FILE,         /* left out of the core; read from the mapped file */
	CPROF_SOURCE_MISSING,      /* nowhere: reads fail */
};
const char *cprof_source_name(enum cprof_source s);

enum cprof_segment_flags {
	CPROF_SEG_R = 1 << 0,
	CPROF_SEG_W = 1 << 1,
	CPROF_SEG_X = 1 << 2,
};

/* A file mapped into the process, as NT_FILE lists it. */
struct cprof_file {
	char *path;                /* as the core names it */
	char *open_path;           /* what we opened (sysroot, EXE argument), or NULL */
	uint64_t size;             /* of the opened file */
	const uint8_t *data;       /* mmap of the opened file, or NULL */
	bool usable;               /* opened and not known to be the wrong file */
	/* src/core only: why a file that was opened is not usable
	   (CPROF_MODULE_MISMATCH or CPROF_MODULE_UNUSABLE), else OK */
	int rejected;
	uint64_t dev, ino;         /* src/core only: the file opened */
};

/* One PT_LOAD of the core: one mapping of the process, [start, end). */
struct cprof_segment {
	uint64_t start, end;
	uint32_t flags;            /* enum cprof_segment_flags */
	/* Bytes [start, start + core_bytes) are in the core file at core_offset. */
	uint64_t core_offset;
	uint64_t core_bytes;
	uint64_t declared_bytes;   /* p_filesz; > core_bytes when the core is cut short */
	/* The mapped file, or -1 for anonymous memory; file_offset is the file's
	   offset of `start`. */
	int file;
	uint64_t file_offset;
	/* Listed only by NT_FILE, with no PT_LOAD (gdb's gcore leaves out
	   read-only file mappings): every byte comes from the file. */
	bool file_only;
};

/* x86-64 general registers, in struct user_regs_struct order. */
enum cprof_reg {
	CPROF_REG_R15, CPROF_REG_R14, CPROF_REG_R13, CPROF_REG_R12,
	CPROF_REG_RBP, CPROF_REG_RBX, CPROF_REG_R11, CPROF_REG_R10,
	CPROF_REG_R9, CPROF_REG_R8, CPROF_REG_RAX, CPROF_REG_RCX,
	CPROF_REG_RDX, CPROF_REG_RSI, CPROF_REG_RDI, CPROF_REG_ORIG_RAX,
	CPROF_REG_RIP, CPROF_REG_CS, CPROF_REG_EFLAGS, CPROF_REG_RSP,
	CPROF_REG_SS, CPROF_REG_FS_BASE, CPROF_REG_GS_BASE, CPROF_REG_DS,
	CPROF_REG_ES, CPROF_REG_FS, CPROF_REG_GS,
	CPROF_NREGS
};
extern const char *const cprof_reg_names[CPROF_NREGS];

/* Vector registers that can hold pointers; each is 16 bytes (a 128-bit lane). */
enum { CPROF_MAX_VEC_LANES = 16 + 16 + 32 + 32 + 32 };

struct cprof_thread {
	int tid;
	int cursig;                /* pr_cursig */
	uint64_t regs[CPROF_NREGS];
	const char *vec_source;    /* "NT_X86_XSTATE", "NT_FPREGSET" or NULL */
	/* xmm0-15, then ymm0-15 upper halves, then zmm0-15 upper 256 bits (two
	   lanes each), then zmm16-31 (four lanes each), as far as present. */
	uint8_t vec[CPROF_MAX_VEC_LANES][16];
	int n_xmm, n_ymmh, n_zmmh_lanes, n_hi16_lanes;
	/* A thread in a signal handler on an alternate signal stack: where
	   the signal interrupted it on another stack (its own), from the
	   kernel's signal frame (src/core/sigframe.c); 0 when none. */
	uint64_t interrupted_sp, interrupted_pc;
};

/* Who wrote the core, judged from its notes (docs/core-model.md). */
enum cprof_dumper {
	CPROF_DUMPER_UNKNOWN,
	CPROF_DUMPER_KERNEL,       /* the process died of a signal and the kernel dumped it */
	CPROF_DUMPER_GCORE,        /* gdb's gcore: a snapshot, the process was not killed */
};
const char *cprof_dumper_name(enum cprof_dumper d);

struct cprof_process {
	enum cprof_dumper dumper;
	/* The signal that killed the process: 0 when it was not killed (gcore)
	   or nothing says. */
	int fatal_signal;
	int pid, ppid, uid, gid;
	char command[17];          /* pr_fname */
	char args[81];             /* pr_psargs, as the kernel truncates it */
	/* pr_psargs was full: the kernel keeps the first 79 bytes of the
	   command line (argv joined by spaces), and cut what followed, if
	   anything did (a line of 78 or 79 characters fills them too). */
	bool args_truncated;
	bool has_psinfo;
	bool has_siginfo;
	int signo, sigcode;
	uint64_t sigaddr;
};

struct cprof_auxv_entry {
	uint64_t type, value;
};

enum cprof_module_status {
	CPROF_MODULE_OK,           /* build-ids agree */
	CPROF_MODULE_MISMATCH,     /* build-ids differ: the file is not used */
	CPROF_MODULE_MISSING,      /* no file found */
	CPROF_MODULE_UNVERIFIED,   /* the core holds no build-id to compare */
	CPROF_MODULE_UNUSABLE,     /* the file found is not a usable ELF file
				      (not ELF, truncated): not used */
};
const char *cprof_module_status_name(enum cprof_module_status s);

/* How a module was found (docs/core-model.md, "Files and modules"). */
enum cprof_module_source {
	CPROF_MODULE_LINK_MAP,     /* the dynamic linker's list (r_debug) */
	CPROF_MODULE_AUXV,         /* the vdso (AT_SYSINFO_EHDR), a static
				      executable (AT_ENTRY) */
	CPROF_MODULE_MAPPED,       /* guessed from an ELF file mapped from its
				      start: the link map was unreadable */
};
const char *cprof_module_source_name(enum cprof_module_source s);

struct cprof_module {
	/* The file name the dynamic linker recorded (l_name: "libc.so.6");
	   the executable's as it was run (AT_EXECFN), else NT_FILE's; the
	   vdso's is the linker's name for it ("linux-vdso.so.1") or "[vdso]". */
	char *name;
	char *path;                /* the file used, or NULL */
	/* [start, end): from the mapping of the file's first page to the end
	   of its PT_LOADs, clipped to its own file's mappings and the
	   anonymous .bss it declares. */
	uint64_t start, end;
	uint64_t load_bias;        /* run-time address - link-time address */
	enum cprof_module_source source;
	char *build_id;            /* hex, from the core's memory, or NULL */
	char *file_build_id;       /* hex, of the file found, or NULL */
	enum cprof_module_status status;
	char *debug_file;          /* separate debug info found, or NULL */
	bool has_dwarf;            /* DWARF found, in the file or separate */
	/* For src/core only. */
	int file;                  /* index into core->files, or -1 */
	uint64_t dwfl_low;         /* where libdwfl places the file */
	void *dwfl_module;         /* Dwfl_Module * */
};

struct cprof_core {
	char *path;
	uint64_t size;             /* of the core file */
	const uint8_t *data;       /* mmap of the core file */
	bool truncated;

	struct cprof_segment *segments;    /* sorted by start, disjoint */
	size_t n_segments;
	struct cprof_file *files;
	size_t n_files;
	struct cprof_thread *threads;      /* the signaled thread first */
	size_t n_threads;
	struct cprof_module *modules;      /* sorted by start */
	size_t n_modules;
	struct cprof_auxv_entry *auxv;
	size_t n_auxv;
	struct cprof_process process;
	uint64_t page_size;        /* AT_PAGESZ, else 4096 */

	struct cprof_warnings *warnings;
	/* where a kernel signal frame returns to: the restorers' symbols
	   (glibc's __restore_rt, the Go runtime's), as found (sigframe.c) */
	uint64_t restorers[3];
	size_t n_restorers;

	/* Private to src/core. */
	int fd;
	bool data_borrowed;                /* data is the caller's (core_data) */
	size_t phnum;                      /* program headers (PN_XNUM resolved) */
	struct Elf *elf;                   /* libelf's view of data */
	struct core_file_range *priv_ranges;   /* NT_FILE entries */
	size_t n_priv_ranges;
	struct cprof_core_dwfl *dw;        /* libdwfl state, modules.c */
	char *sysroot;                     /* --sysroot, or NULL */
	char **debug_dirs;                 /* where debug files are looked for */
	size_t n_debug_dirs;
	struct cprof_dwarf_index *dwarf_index;  /* name lookups, dwarf.c */
};

struct cprof_core_options {
	const char *core_path;
	/* A core already in memory (a fuzz input): core_path is then only its
	   name in messages.  The buffer must outlive the core; not copied. */
	const void *core_data;
	size_t core_size;
	const char *exe_path;              /* optional */
	const char *sysroot;               /* optional: prefix for every file path */
	const char *const *debug_dirs;     /* searched before the defaults */
	size_t n_debug_dirs;
	bool no_default_debug_dirs;        /* skip /usr/lib/debug (tests) */
	struct cprof_warnings *warnings;   /* required */
};

/**
 * Opens a core.  Unusable input (not ELF, not a core, another architecture,
 * cut short inside its headers) is an error; a core cut short in its notes or
 * segments, missing or mismatched files and missing debug info are warnings.
 */
struct cprof_error *cprof_core_open(const struct cprof_core_options *opts,
				    struct cprof_core **ret);
void cprof_core_close(struct cprof_core *core);

/* The segment holding addr, or NULL. */
const struct cprof_segment *cprof_core_segment(const struct cprof_core *core,
					       uint64_t addr);

/**
 * Reads len bytes at addr.  Fails with CPROF_ERROR_FAULT (address = the first
 * byte that is not available) when any byte is missing; buf is then undefined.
 */
struct cprof_error *cprof_core_read(const struct cprof_core *core,
				    uint64_t addr, void *buf, size_t len);
struct cprof_error *cprof_core_read_u64(const struct cprof_core *core,
					uint64_t addr, uint64_t *ret);

/**
 * Reads len bytes at addr when the core (or the mapped file) holds them all:
 * false otherwise, with no error object made - for reads that are expected to
 * fail (a scan over memory the core may not hold, a guess being checked).
 */
bool cprof_core_try_read(const struct cprof_core *core, uint64_t addr,
			 void *buf, size_t len);

/**
 * The run of one source at addr, up to end (addr < end): *run_end is where it
 * stops (> addr, <= end); the result points to its bytes, or is NULL when the
 * run is missing - then the whole run [addr, *run_end) is, and a walk over
 * memory skips it at once: its work depends on the bytes the core holds, not
 * on what it declares.
 */
const void *cprof_core_run(const struct cprof_core *core, uint64_t addr,
			   uint64_t end, uint64_t *run_end);

/**
 * Zero-copy access: a pointer to len bytes at addr when they all come from one
 * source that is contiguous in memory (one segment of the core, or one file),
 * else NULL.  For the hot paths (heap walks, pointer scans).
 */
const void *cprof_core_ptr(const struct cprof_core *core, uint64_t addr,
			   size_t len);

/**
 * Says where the bytes of [addr, addr + len) come from, as consecutive runs:
 * cb is called once per run with its start, end and source.
 */
void cprof_core_sources(const struct cprof_core *core, uint64_t addr,
			uint64_t len,
			void (*cb)(uint64_t start, uint64_t end,
				   enum cprof_source src, void *arg),
			void *arg);

/* Byte counts over all segments, for `info`. */
struct cprof_core_totals {
	uint64_t mapped, in_core, from_file, missing;
};
void cprof_core_segment_totals(const struct cprof_core *core,
			       const struct cprof_segment *seg,
			       struct cprof_core_totals *ret);
/* The same for the part [start, end) of segment seg (inside it). */
void cprof_core_part_totals(const struct cprof_core *core,
			    const struct cprof_segment *seg, uint64_t start,
			    uint64_t end, struct cprof_core_totals *ret);
void cprof_core_totals(const struct cprof_core *core,
		       struct cprof_core_totals *ret);

/* Whether the code at v is an rt_sigreturn (mov $15, %rax; syscall: glibc's
 * __restore_rt, or the Go runtime's): the restorer a kernel signal frame
 * returns to, when its symbol is not found (glibc's is a local symbol). */
bool cprof_core_is_sigreturn(const struct cprof_core *core, uint64_t v);

/* The executable's module (the one holding AT_ENTRY), or NULL. */
const struct cprof_module *cprof_core_executable(const struct cprof_core *core);

/* The module holding addr, or NULL. */
const struct cprof_module *cprof_core_module(const struct cprof_core *core,
					     uint64_t addr);

struct cprof_symbol {
	const char *module;        /* short name, e.g. "libc.so.6", or NULL */
	const char *function;      /* NULL when unknown */
	uint64_t offset;           /* from the function, or from the module */
	const char *file;          /* NULL when no line info */
	int line;
};
/**
 * Symbolizes addr.  For a return address pass is_return = true: the lookup
 * uses addr - 1 so that a call at the end of a function is not attributed to
 * the next one.  Strings live as long as the core.  Returns false when addr is
 * in no module.
 */
bool cprof_core_symbolize(struct cprof_core *core, uint64_t addr,
			  bool is_return, struct cprof_symbol *ret);

/*
 * A second source of function names and file:line, for a module whose DWARF
 * line table libdw cannot read (a Go binary's: the runtime's pclntab has
 * them).  fn fills *function and *file with strings made by
 * cprof_core_intern (they must outlive the source) and *line; false when it
 * knows nothing of addr.  cprof_core_symbolize asks it when libdw has no line.
 * fn NULL removes it.
 */
typedef bool cprof_line_fn(struct cprof_core *core, void *arg, uint64_t addr,
			   bool is_return, const char **function,
			   const char **file, int *line);
void cprof_core_set_line_source(struct cprof_core *core, const struct cprof_module *m,
				cprof_line_fn *fn, void *arg);
/*
 * For the line source's module, the calls the compiler inlined at an address
 * (a Go binary's pclntab has its inline tree): fn fills ret[0..max) innermost
 * first - each inlined call's function and file:line (strings as above), then
 * the physical function with the line of its own code there - and returns
 * how many (0: it knows nothing of addr).  fn NULL removes it.
 */
typedef size_t cprof_calls_fn(struct cprof_core *core, void *arg, uint64_t addr,
			      bool is_return, struct cprof_symbol *ret, size_t max);
void cprof_core_set_call_source(struct cprof_core *core, cprof_calls_fn *fn, void *arg);
/* The calls at addr, innermost first: what the call source says, the last
 * call with cprof_core_symbolize's module and offset; else 1, its answer.  0
 * when addr is in no module. */
size_t cprof_core_calls(struct cprof_core *core, uint64_t addr, bool is_return,
			struct cprof_symbol *ret, size_t max);
/* A copy of s that lives as long as the core (the same pointer for equal s). */
const char *cprof_core_intern(struct cprof_core *core, const char *s);

/* "function (file.c:40)" (the file's base name), or "function", or "0x..."
 * into buf: a frame as a user reads it. */
void cprof_symbol_where(const struct cprof_symbol *sym, uint64_t addr, char *buf,
			size_t size);

/* "module!function+0xoff", or "module+0xoff", or "0x..." into buf. */
void cprof_symbol_format(const struct cprof_symbol *sym, uint64_t addr,
			 char *buf, size_t size);

enum cprof_unwind_method {
	CPROF_UNWIND_INITIAL,      /* frame 0: the thread's registers */
	CPROF_UNWIND_CFI,
	CPROF_UNWIND_FRAME_POINTER,
};
const char *cprof_unwind_method_name(enum cprof_unwind_method m);

struct cprof_frame {
	uint64_t pc;
	uint64_t sp;               /* CFA-less estimate: 0 when unknown */
	bool is_activation;        /* frame 0 or a signal frame: pc is exact */
	enum cprof_unwind_method method;
};

enum { CPROF_MAX_FRAMES = 256 };

/**
 * Unwinds thread tid (max_frames at most, up to CPROF_MAX_FRAMES).  *ret is malloc'd; on error the
 * frames found so far are still returned with the error (a backtrace that
 * stops early is still useful); the caller frees *ret in both cases.
 */
struct cprof_error *cprof_core_backtrace(struct cprof_core *core, int tid,
					 size_t max_frames,
					 struct cprof_frame **ret,
					 size_t *n_ret);

/* ---- for the heap walkers and root finders: symbols, ELF and DWARF ---- */

/* The first module whose file name (without directories) starts with prefix
 * ("libc.so.", "libc-2."), or NULL. */
const struct cprof_module *cprof_core_find_module(const struct cprof_core *core,
						  const char *prefix);

/**
 * Looks up a symbol by name in a module's symbol tables (.symtab of the file
 * or of its separate debug file, else .dynsym).  *ret is the run-time
 * address; *size_ret (may be NULL) its st_size.  False when not found.
 */
bool cprof_core_find_symbol(struct cprof_core *core,
			    const struct cprof_module *m, const char *name,
			    uint64_t *ret, uint64_t *size_ret);

/* A symbol: its name, run-time address and st_size.  Return false to stop. */
typedef bool cprof_symbol_fn(const char *name, uint64_t addr, uint64_t size, void *arg);
/**
 * Calls fn for each defined symbol of module m whose name starts with prefix,
 * from the same tables as cprof_core_find_symbol.  The names live as long as
 * the core.
 */
void cprof_core_each_symbol(struct cprof_core *core, const struct cprof_module *m,
			    const char *prefix, cprof_symbol_fn *fn, void *arg);

/* The module's ELF (libelf) and the bias to add to its addresses; NULL when
 * no usable file.  Lives as long as the core. */
struct Elf *cprof_core_module_elf(struct cprof_core *core,
				  const struct cprof_module *m, uint64_t *bias);

/* The module's DWARF (libdw), or NULL.  Lives as long as the core. */
struct Dwarf *cprof_core_module_dwarf(struct cprof_core *core,
				      const struct cprof_module *m,
				      uint64_t *bias);

/* ---- DWARF queries (src/core/dwarf.c) ---- */

/* One member of a struct: name in, offset and size out (-1 when absent). */
struct cprof_dwarf_member {
	const char *name;
	int64_t offset;
	int64_t size;
};

/**
 * Finds struct `name` in the compile unit whose name ends with cu_suffix (or
 * any unit when cu_suffix is NULL), fills the members asked for and the
 * struct's size.  A member's name may be a path ("e_slab_data.e_bitmap": a
 * member of a member), and the members of an anonymous struct or union are
 * found as the struct's own.  False when the struct is not found.
 */
bool cprof_dwarf_struct(struct cprof_core *core, const struct cprof_module *m,
			const char *cu_suffix, const char *name,
			struct cprof_dwarf_member *members, size_t n_members,
			uint64_t *size_ret);

/**
 * The value of the DWARF constant `name` (DW_TAG_constant, DW_AT_const_value;
 * the Go compiler emits one per package constant, e.g. "runtime._PageSize").
 * False when absent.
 */
bool cprof_dwarf_constant(struct cprof_core *core, const struct cprof_module *m,
			  const char *name, int64_t *ret);

/**
 * Finds the variable `name` (in the unit whose name ends with cu_suffix, or
 * any).  A static variable gives its run-time address (*is_tls = false); a
 * thread-local one gives its offset in the module's TLS block (*is_tls =
 * true).  False when not found or its location is not one of those.
 */
bool cprof_dwarf_variable(struct cprof_core *core, const struct cprof_module *m,
			  const char *cu_suffix, const char *name,
			  uint64_t *ret, bool *is_tls);

/**
 * The run-time address of the static variable whose DIE is at die_offset in
 * the module's DWARF: its location is DW_OP_addr (Go writes it as
 * DW_FORM_block1, which libdw takes for no expression: read by hand).  False
 * when it has no such location (a TLS or register variable).
 */
bool cprof_dwarf_variable_address(struct cprof_core *core, const struct cprof_module *m,
				  uint64_t die_offset, uint64_t *ret);

/**
 * The offset in the module's DWARF (cprof_core_module_dwarf) of the first
 * top-level type DIE named `name` (a struct, pointer, array, base type or
 * typedef: Go names them all, "*main.Block").  False when there is none.
 */
bool cprof_dwarf_type(struct cprof_core *core, const struct cprof_module *m,
		      const char *name, uint64_t *ret);

/* ---- disassembly (src/core/disasm.c, capstone) ---- */

enum cprof_insn_kind {
	CPROF_INSN_OTHER,
	CPROF_INSN_LEA,            /* lea target(%rip), reg */
	CPROF_INSN_LOAD,           /* mov target(%rip), reg   or  mov %fs:(base), reg */
	CPROF_INSN_CMP,            /* cmp target(%rip), reg (either order) */
	CPROF_INSN_STORE,          /* mov reg, target(%rip) */
};

/* What one instruction of interest does with memory. */
struct cprof_insn {
	uint64_t addr;
	enum cprof_insn_kind kind;
	uint64_t target;           /* the RIP-relative address, or 0 */
	int reg;                   /* the register operand (opaque id), or 0 */
	int fs_base;               /* for %fs:(reg) loads: reg's id; else 0 */
	bool fs_abs;               /* %fs:disp with no register: disp in fs_disp */
	int64_t fs_disp;
};

/**
 * Disassembles [addr, addr + len) of the process (x86-64) and returns the
 * instructions that reference memory RIP-relatively or through %fs, in order.
 * *ret is malloc'd.
 */
struct cprof_error *cprof_disasm_refs(struct cprof_core *core, uint64_t addr,
				      size_t len, struct cprof_insn **ret,
				      size_t *n_ret);

#endif /* CPROF_CORE_H */
