/*
 * format.c - small text formatters (see include/cprof/format.h).
 */
#include <stdio.h>
#include <string.h>

#include "cprof/format.h"

char *fmt_bytes(char *buf, uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (n < 1024) {
		snprintf(buf, FMT_BYTES_SIZE, "%llu B", (unsigned long long)n);
		return buf;
	}
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, FMT_BYTES_SIZE, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s",
		 v, units[u]);
	return buf;
}

char *fmt_signal(char *buf, size_t size, int signo)
{
	const char *abbrev = signo > 0 ? sigabbrev_np(signo) : NULL;
	if (abbrev)
		snprintf(buf, size, "SIG%s", abbrev);
	else
		snprintf(buf, size, "signal %d", signo);
	return buf;
}

void fmt_hex(char *buf, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[bytes[i] >> 4];
		buf[2 * i + 1] = digits[bytes[i] & 15];
	}
	buf[2 * n] = '\0';
}

char *fmt_signed_bytes(char *buf, int64_t n)
{
	char b[FMT_BYTES_SIZE];
	fmt_bytes(b, n < 0 ? -(uint64_t)n : (uint64_t)n);
	snprintf(buf, FMT_BYTES_SIZE + 2, "%s%s", n > 0 ? "+" : n < 0 ? "-" : "", b);
	return buf;
}
