/*
 * format.h - small text formatters shared by the reports.
 */
#ifndef CPROF_FORMAT_H
#define CPROF_FORMAT_H

#include <stddef.h>
#include <stdint.h>

enum { FMT_BYTES_SIZE = 32 };

/* "0 B", "512 B", "12.3 KiB", "1.50 GiB": into buf, returns buf. */
char *fmt_bytes(char *buf, uint64_t n);

/* A growth: "+1.25 MiB", "-24 B", "0 B" into buf (FMT_BYTES_SIZE + 2 bytes). */
char *fmt_signed_bytes(char *buf, int64_t n);

/* "SIGABRT" for 6, "signal 77" when unknown: into buf, returns buf. */
char *fmt_signal(char *buf, size_t size, int signo);

/* Lower-case hex of n bytes into buf (2n+1 bytes). */
void fmt_hex(char *buf, const uint8_t *bytes, size_t n);

#endif
