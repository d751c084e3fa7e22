/*
 * jemalloc.c - the jemalloc provider: jemalloc is detected, its heap is not
 * walked yet.
 *
 * Found by its own entry points: a module defining mallctl (an unprefixed
 * build: Debian's libjemalloc.so.2, LD_PRELOAD=libjemalloc.so.2) or
 * je_mallctl (a prefixed build, often linked into the executable: then
 * malloc may still be glibc's).  Its version is the JEMALLOC_VERSION string
 * that mallctl("version") returns, "5.3.0-0-g<40 hex digits>", from the
 * module's file.
 *
 * With no walk operation its allocator is reported "not walked": every
 * report says that its heap was not analyzed rather than counting no leak.
 * The walker (slabs, extents, tcaches, from DWARF or a fallback) is one walk
 * operation in this file.
 */
#include <gelf.h>
#include <string.h>

#include "cprof/heap.h"

/* Whether p (in a string of n bytes) starts "X.Y.Z-N-g" followed by 40 hex
 * digits; the version "X.Y.Z" goes into buf. */
static bool version_at(const char *p, size_t n, char *buf, size_t size)
{
	size_t k = 0, dots = 0;
	while (k < n && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.'))
		dots += p[k++] == '.';
	if (dots != 2 || k == 0 || k >= n || p[k] != '-' || k >= size)
		return false;
	size_t v = k++;
	while (k < n && p[k] >= '0' && p[k] <= '9')
		k++;
	if (k + 42 > n || p[k] != '-' || p[k + 1] != 'g')
		return false;
	for (size_t h = k + 2; h < k + 42; h++)
		if (!((p[h] >= '0' && p[h] <= '9') || (p[h] >= 'a' && p[h] <= 'f')))
			return false;
	memcpy(buf, p, v);
	buf[v] = '\0';
	return true;
}

/* JEMALLOC_VERSION in m's file: a NUL-terminated string shaped as above. */
static bool find_version(struct cprof_core *core, const struct cprof_module *m,
			 char *buf, size_t size)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(core, m, &bias);
	size_t n;
	const char *raw = elf ? elf_rawfile(elf, &n) : NULL;
	for (const char *p = raw; p && (size_t)(p - raw) + 2 < n; p += 2) {
		p = memmem(p, n - (size_t)(p - raw), "-g", 2);
		if (!p)
			return false;
		/* back to the start of the string: digits, dots and one '-' */
		const char *s = p;
		while (s > raw && ((s[-1] >= '0' && s[-1] <= '9') || s[-1] == '.' || s[-1] == '-'))
			s--;
		if ((s == raw || !s[-1]) && version_at(s, n - (size_t)(s - raw), buf, size))
			return true;
	}
	return false;
}

static struct cprof_error *jemalloc_detect(struct cprof_core *core, struct cprof_allocator *self,
					   bool *found)
{
	static const char *const entries[] = { "mallctl", "je_mallctl" };
	for (size_t i = 0; i < core->n_modules && !*found; i++) {
		const struct cprof_module *m = &core->modules[i];
		for (size_t e = 0; e < 2 && !*found; e++) {
			if (!cprof_module_defines(core, m, entries[e]))
				continue;
			*found = true;
			self->module = m;
			snprintf(self->found_by, sizeof(self->found_by), "the symbol %s in %s",
				 entries[e], m->name);
		}
	}
	if (*found && !find_version(core, self->module, self->version, sizeof(self->version)))
		snprintf(self->version, sizeof(self->version), "unknown");
	return NULL;
}

const struct cprof_heap_provider cprof_jemalloc_provider = {
	.name = "jemalloc",
	.detect = jemalloc_detect,
};
