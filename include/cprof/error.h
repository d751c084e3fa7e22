/*
 * error.h - error objects and warnings.
 *
 * Every function of libcprof that can fail returns a `struct cprof_error *`:
 * NULL means success, anything else describes the failure and belongs to the
 * caller, who prints it (only main and the cmd_* functions print) and frees it
 * with cprof_error_destroy().  Results come back through out-parameters named
 * `ret`, placed last.
 *
 * Messages follow one format so that a user can act on them:
 *     <subject>: <where>: <what>
 * where <subject> is the file (core, executable, library, database) and <where>
 * an address (0x%016lx), a segment or a note when it helps.  Lower-case, no full
 * stop.  cprof_error_fwrite() prefixes "cprof-core: error: ".
 *
 * Constructors never return NULL: when memory runs out they return the static
 * cprof_enomem, which cprof_error_destroy() ignores.
 *
 * Warnings (missing debug info, a truncated core, a mismatched build-id) do not
 * stop the work.  Library code hands them to a struct cprof_warnings, which the
 * command prints as they arrive and counts for the summary.
 */
#ifndef CPROF_ERROR_H
#define CPROF_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cprof_error_code {
	CPROF_ERROR_NOMEM = 1,
	CPROF_ERROR_OS,            /* a system call failed; errno is kept */
	CPROF_ERROR_FAULT,         /* memory the core does not hold; address is kept */
	CPROF_ERROR_BAD_DATA,      /* the input is malformed or corrupt */
	CPROF_ERROR_MISSING_DEBUG_INFO,
	CPROF_ERROR_UNSUPPORTED,   /* valid input that we do not handle */
	CPROF_ERROR_USAGE,         /* the user asked for something impossible */
	CPROF_ERROR_LIB,           /* libelf, libdw, sqlite3 or capstone failed */
};

struct cprof_error {
	enum cprof_error_code code;
	int errnum;                /* CPROF_ERROR_OS */
	uint64_t address;          /* CPROF_ERROR_FAULT */
	char *message;
	const char *src_file;      /* set by cprof_corrupt() */
	int src_line;
};

extern struct cprof_error cprof_enomem;

__attribute__((format(printf, 2, 3), returns_nonnull))
struct cprof_error *cprof_error_create(enum cprof_error_code code,
				       const char *fmt, ...);

/* "<path>: <what>: strerror(errnum)" */
__attribute__((format(printf, 3, 4), returns_nonnull))
struct cprof_error *cprof_error_os(int errnum, const char *path,
				   const char *fmt, ...);

/* "<subject>: 0x%016lx: <what>", address kept for the caller */
__attribute__((format(printf, 3, 4), returns_nonnull))
struct cprof_error *cprof_error_fault(const char *subject, uint64_t address,
				      const char *fmt, ...);

/* Prepends "<fmt>: " to an error's message; returns err. */
__attribute__((format(printf, 2, 3)))
struct cprof_error *cprof_error_prefix(struct cprof_error *err,
				       const char *fmt, ...);

void cprof_error_destroy(struct cprof_error *err);

/* Writes "cprof-core: error: <message>\n" to f. */
void cprof_error_fwrite(const struct cprof_error *err, FILE *f);

/*
 * A corruption point, as SQLite's SQLITE_CORRUPT_BKPT: a BAD_DATA error that
 * also records where in our source the bad data was noticed.  That location is
 * printed only when CPROF_DEBUG is set in the environment (for bug reports).
 */
#define cprof_corrupt(subject, addr, ...) \
	cprof_error_at(cprof_error_fault((subject), (addr), __VA_ARGS__), \
		       CPROF_ERROR_BAD_DATA, __FILE__, __LINE__)
/* The same for bad data of a file that has no address to give (its
 * headers): a BAD_DATA error whose message names the file and the offset. */
#define cprof_corrupt_file(...) \
	cprof_error_at(cprof_error_create(CPROF_ERROR_BAD_DATA, __VA_ARGS__), \
		       CPROF_ERROR_BAD_DATA, __FILE__, __LINE__)
struct cprof_error *cprof_error_at(struct cprof_error *err,
				   enum cprof_error_code code,
				   const char *src_file, int src_line);

/*
 * Warnings: a sink the library writes to and the command reads.  The callback,
 * when set, is called for each warning as it arrives (the command prints it);
 * the messages are also kept, in order, for --json output and the summary.
 */
struct cprof_warnings {
	void (*callback)(const char *message, void *arg);
	void *arg;
	char **messages;
	size_t count;
	size_t capacity;
	size_t dropped;            /* beyond the cap below, only counted */
};

enum { CPROF_WARNINGS_KEPT_MAX = 10000 };

/*
 * A warning, with where in our source it was raised: shown (" [src/heap/
 * glibc.c:512]" after the message) when CPROF_DEBUG is set, as for
 * cprof_corrupt's errors - every warning about the data of the core names
 * the address it is about in its message and its source place this way.
 */
#define cprof_warn(w, ...) cprof_warn_at((w), __FILE__, __LINE__, __VA_ARGS__)
__attribute__((format(printf, 4, 5)))
void cprof_warn_at(struct cprof_warnings *w, const char *src_file, int src_line,
		   const char *fmt, ...);
__attribute__((format(printf, 4, 0)))
void cprof_vwarn_at(struct cprof_warnings *w, const char *src_file, int src_line,
		    const char *fmt, va_list ap);
void cprof_warnings_deinit(struct cprof_warnings *w);

#endif /* CPROF_ERROR_H */
