/*
 * terminal.h - output a terminal (and a log file, and a pager) can trust.
 *
 * In:  a file descriptor (the command's stdout or stderr).
 * Out: a stdio stream that writes to it what it is given, except that every
 *      byte a terminal could take as a command is written as \xHH: C0
 *      controls other than newline and tab, DEL, C1 controls (U+0080-U+009F
 *      in UTF-8), and bytes that are not valid UTF-8.  Printable UTF-8 passes
 *      unchanged.
 *
 * Strings from the core (process names, paths, symbols) reach many printf
 * calls; main wraps stdout and stderr once, so that none of them can inject
 * an escape sequence.  Our own control sequences (the progress line's
 * "\r\033[K") go to the file descriptor directly.  JSON is valid UTF-8 with
 * its control characters escaped (json.c), so it passes unchanged.
 */
#ifndef CPROF_TERMINAL_H
#define CPROF_TERMINAL_H

#include <stdbool.h>
#include <stdio.h>

/* The filtering stream over fd, or NULL when out of memory; unbuffered when
 * asked (stderr), line-buffered on a terminal, else fully buffered. */
FILE *cprof_terminal_filter(int fd, bool unbuffered);

#endif
