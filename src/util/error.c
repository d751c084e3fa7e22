/*
 * error.c - error objects and the warning sink (see include/cprof/error.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/error.h"

struct cprof_error cprof_enomem = {
	.code = CPROF_ERROR_NOMEM,
	.message = "out of memory",
};

static struct cprof_error *error_vcreate(enum cprof_error_code code,
					 const char *fmt, va_list ap)
{
	struct cprof_error *err = calloc(1, sizeof(*err));
	if (!err)
		return &cprof_enomem;
	if (vasprintf(&err->message, fmt, ap) < 0) {
		free(err);
		return &cprof_enomem;
	}
	err->code = code;
	return err;
}

struct cprof_error *cprof_error_create(enum cprof_error_code code,
				       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct cprof_error *err = error_vcreate(code, fmt, ap);
	va_end(ap);
	return err;
}

struct cprof_error *cprof_error_os(int errnum, const char *path,
				   const char *fmt, ...)
{
	char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (n < 0)
		return &cprof_enomem;
	struct cprof_error *err;
	if (what[0])
		err = cprof_error_create(CPROF_ERROR_OS, "%s: %s: %s", path,
					 what, strerror(errnum));
	else
		err = cprof_error_create(CPROF_ERROR_OS, "%s: %s", path,
					 strerror(errnum));
	free(what);
	if (err != &cprof_enomem)
		err->errnum = errnum;
	return err;
}

struct cprof_error *cprof_error_fault(const char *subject, uint64_t address,
				      const char *fmt, ...)
{
	char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (n < 0)
		return &cprof_enomem;
	struct cprof_error *err = cprof_error_create(
		CPROF_ERROR_FAULT, "%s: 0x%016llx: %s", subject,
		(unsigned long long)address, what);
	free(what);
	if (err != &cprof_enomem)
		err->address = address;
	return err;
}

struct cprof_error *cprof_error_at(struct cprof_error *err,
				   enum cprof_error_code code,
				   const char *src_file, int src_line)
{
	if (err == &cprof_enomem)
		return err;
	err->code = code;
	err->src_file = src_file;
	err->src_line = src_line;
	return err;
}

struct cprof_error *cprof_error_prefix(struct cprof_error *err,
				       const char *fmt, ...)
{
	if (!err || err == &cprof_enomem)
		return err;
	char *prefix = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err;    /* keep the original message rather than lose it */
	char *joined = NULL;
	if (asprintf(&joined, "%s: %s", prefix, err->message) >= 0) {
		free(err->message);
		err->message = joined;
	}
	free(prefix);
	return err;
}

void cprof_error_destroy(struct cprof_error *err)
{
	if (!err || err == &cprof_enomem)
		return;
	free(err->message);
	free(err);
}

/* The build's path of a source file ("../src/heap/glibc.c") from the top. */
static const char *source_name(const char *src_file)
{
	while (!strncmp(src_file, "../", 3))
		src_file += 3;
	return src_file;
}

void cprof_error_fwrite(const struct cprof_error *err, FILE *f)
{
	fprintf(f, "cprof-core: error: %s", err->message);
	if (err->src_file && getenv("CPROF_DEBUG"))
		fprintf(f, " [%s:%d]", source_name(err->src_file), err->src_line);
	fputc('\n', f);
}

void cprof_warn_at(struct cprof_warnings *w, const char *src_file, int src_line,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cprof_vwarn_at(w, src_file, src_line, fmt, ap);
	va_end(ap);
}

void cprof_vwarn_at(struct cprof_warnings *w, const char *src_file, int src_line,
		    const char *fmt, va_list ap)
{
	char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return;
	char *located;
	if (getenv("CPROF_DEBUG") &&
	    asprintf(&located, "%s [%s:%d]", msg, source_name(src_file), src_line) >= 0) {
		free(msg);
		msg = located;
	}
	if (w->callback)
		w->callback(msg, w->arg);
	if (w->count >= CPROF_WARNINGS_KEPT_MAX) {
		w->dropped++;
		free(msg);
		return;
	}
	if (w->count == w->capacity) {
		size_t cap = w->capacity ? 2 * w->capacity : 16;
		char **m = realloc(w->messages, cap * sizeof(*m));
		if (!m) {
			w->dropped++;
			free(msg);
			return;
		}
		w->messages = m;
		w->capacity = cap;
	}
	w->messages[w->count++] = msg;
}

void cprof_warnings_deinit(struct cprof_warnings *w)
{
	for (size_t i = 0; i < w->count; i++)
		free(w->messages[i]);
	free(w->messages);
	w->messages = NULL;
	w->count = w->capacity = w->dropped = 0;
}
