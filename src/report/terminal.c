/*
 * terminal.c - output a terminal can trust (see include/cprof/terminal.h).
 *
 * Process names, file paths, symbol names and Go strings all come from the
 * core or from files it names, and the core is untrusted: printed raw, an
 * ESC sequence in a process name sets the terminal's title or clears the
 * screen.  Rather than escaping at each of the hundreds of places that print
 * such a string, the command's stdout and stderr are wrapped (fopencookie) in
 * a stream that lets through what our own output is made of - printable
 * UTF-8, newline and tab - and writes everything else as \xHH: C0 controls
 * and DEL, the C1 controls (U+0080-U+009F, which UTF-8 terminals obey too),
 * and bytes that are not valid UTF-8.  Our own output never contains those
 * bytes, so it passes unchanged; JSON is valid UTF-8 with its controls
 * escaped by the JSON writer, so it passes unchanged as well.
 *
 * A UTF-8 sequence may arrive split across two writes (a buffer boundary):
 * the filter keeps the bytes of an unfinished sequence until the next write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cprof/terminal.h"

struct filter {
	int fd;
	unsigned char pending[4];  /* an unfinished UTF-8 sequence */
	size_t n_pending, need;    /* bytes held, bytes the sequence has */
	char out[8192];            /* escaped output, flushed to fd when full */
	size_t n_out;
};

static int flush_out(struct filter *f)
{
	size_t done = 0;
	while (done < f->n_out) {
		ssize_t w = write(f->fd, f->out + done, f->n_out - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)w;
	}
	f->n_out = 0;
	return 0;
}

static int put(struct filter *f, const void *p, size_t n)
{
	if (f->n_out + n > sizeof(f->out) && flush_out(f) < 0)
		return -1;
	memcpy(f->out + f->n_out, p, n);
	f->n_out += n;
	return 0;
}

static int put_escaped(struct filter *f, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char e[4] = { '\\', 'x', hex[p[i] >> 4], hex[p[i] & 15] };
		if (put(f, e, 4) < 0)
			return -1;
	}
	return 0;
}

/* How many bytes a sequence starting with lead has (0: not a lead byte). */
static size_t utf8_length(unsigned char lead)
{
	return lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 :
	       lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
}

/* Whether a complete sequence is a printable character: the shortest form,
 * no surrogate, at most U+10FFFF, not a C1 control. */
static bool utf8_printable(const unsigned char *s, size_t n)
{
	if (n == 2)
		return !(s[0] == 0xc2 && s[1] < 0xa0);
	if (n == 3)
		return !(s[0] == 0xe0 && s[1] < 0xa0) && !(s[0] == 0xed && s[1] >= 0xa0);
	return !(s[0] == 0xf0 && s[1] < 0x90) && !(s[0] == 0xf4 && s[1] >= 0x90);
}

static int filter_byte(struct filter *f, unsigned char c)
{
	if (f->n_pending) {
		if ((c & 0xc0) == 0x80) {
			f->pending[f->n_pending++] = c;
			if (f->n_pending < f->need)
				return 0;
			int r = utf8_printable(f->pending, f->need) ?
				put(f, f->pending, f->need) :
				put_escaped(f, f->pending, f->need);
			f->n_pending = 0;
			return r;
		}
		/* The sequence broke off: its bytes are no character. */
		if (put_escaped(f, f->pending, f->n_pending) < 0)
			return -1;
		f->n_pending = 0;
	}
	if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t')
		return put(f, &c, 1);
	size_t len = utf8_length(c);
	if (!len)
		return put_escaped(f, &c, 1);
	f->pending[0] = c;
	f->n_pending = 1;
	f->need = len;
	return 0;
}

static ssize_t filter_write(void *cookie, const char *buf, size_t size)
{
	struct filter *f = cookie;
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;
	while (i < size) {
		/* Runs of printable ASCII are the common case: copy them whole. */
		size_t run = 0;
		if (!f->n_pending)
			while (i + run < size && p[i + run] >= 0x20 && p[i + run] < 0x7f)
				run++;
		if (run) {
			if (put(f, p + i, run) < 0)
				return -1;
			i += run;
			continue;
		}
		if (filter_byte(f, p[i++]) < 0)
			return -1;
	}
	return flush_out(f) < 0 ? -1 : (ssize_t)size;
}

static int filter_close(void *cookie)
{
	struct filter *f = cookie;
	int r = 0;
	if (f->n_pending && put_escaped(f, f->pending, f->n_pending) < 0)
		r = -1;
	if (flush_out(f) < 0)
		r = -1;
	free(f);
	return r;
}

FILE *cprof_terminal_filter(int fd, bool unbuffered)
{
	struct filter *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = fd;
	cookie_io_functions_t io = { .write = filter_write, .close = filter_close };
	FILE *s = fopencookie(f, "w", io);
	if (!s) {
		free(f);
		return NULL;
	}
	if (unbuffered)
		setvbuf(s, NULL, _IONBF, 0);
	else if (isatty(fd))
		setvbuf(s, NULL, _IOLBF, BUFSIZ);
	return s;
}
