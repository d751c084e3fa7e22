/*
 * debuginfo.c - finding a module's separate debug file, and the dwz file its
 * DWARF refers to, without ever opening anything but a verified regular file.
 *
 * libdwfl's own search (dwfl_standard_find_debuginfo) open(2)s every
 * candidate without O_NONBLOCK (a FIFO there blocks for ever) and follows a
 * .gnu_debuglink name wherever it points ("../../x" included).  This one
 * looks in the same places, in the same order:
 *   1. by build-id: DIR/.build-id/xx/yyyy.debug for each debug directory
 *      (--debug-dir ones, then SYSROOT/usr/lib/debug and /usr/lib/debug);
 *   2. by .gnu_debuglink name (a plain file name, nothing else): next to the
 *      file, in its .debug/ subdirectory, and DIR/<the file's directory as
 *      the core names it>/NAME for each debug directory;
 *   3. debuginfod, when DEBUGINFOD_URLS is set (libdebuginfod, loaded at run
 *      time as libdwfl does);
 * opens each with files.c (regular files only, O_NONBLOCK), and takes a file
 * only when its GNU build-id is the one wanted (else, for a file without
 * build-id, when its CRC is the debuglink's).  A dwz file
 * (.gnu_debugaltlink: a name and the build-id it must have) is looked for by
 * that build-id, then by its name.
 */
#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-internal.h"

enum { MAX_ID = 64 };

struct want {
	unsigned char id[MAX_ID];
	size_t id_len;             /* 0: check the CRC instead (when crc != 0) */
	uint32_t crc;
};

/* The CRC-32 .gnu_debuglink uses (zlib's polynomial), of a whole file. */
static bool file_crc32(int fd, uint32_t *ret)
{
	uint32_t table[256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	uint32_t crc = 0xffffffffu;
	unsigned char buf[1 << 16];
	ssize_t n;
	off_t off = 0;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
		off += n;
	}
	*ret = crc ^ 0xffffffffu;
	return n == 0;
}

/* Whether the file open on fd is the one wanted. */
static bool matches(int fd, const struct want *w)
{
	if (!w->id_len) {
		uint32_t crc;
		return !w->crc || (file_crc32(fd, &crc) && crc == w->crc);
	}
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *bits;
	ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &bits) : -1;
	bool same = n > 0 && (size_t)n == w->id_len && !memcmp(bits, w->id, w->id_len);
	if (elf)
		elf_end(elf);
	return same;
}

/* Opens path when it is the file wanted: its descriptor, or -1. */
static int try_path(struct cprof_core *core, const char *path,
		    const struct want *w)
{
	int fd;
	struct cprof_error *err = core_open_regular(path, &fd, NULL);
	if (err) {
		/* Nothing there is the common case; anything else is said. */
		if (err->code != CPROF_ERROR_OS ||
		    (err->errnum != ENOENT && err->errnum != ENOTDIR))
			cprof_warn(core->warnings, "debug file %s", err->message);
		cprof_error_destroy(err);
		return -1;
	}
	if (!matches(fd, w)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int try_joined(struct cprof_core *core, const struct want *w, char **ret,
		      const char *a, const char *b, const char *c)
{
	char *p;
	if (asprintf(&p, "%s%s%s", a, b, c) < 0)
		return -1;
	int fd = try_path(core, p, w);
	if (fd >= 0)
		*ret = p;
	else
		free(p);
	return fd;
}

/* DIR/.build-id/xx/yyyy.debug in each debug directory. */
static int by_build_id(struct cprof_core *core, const struct want *w, char **ret)
{
	char hex[2 * MAX_ID + 8];
	if (w->id_len < 2)
		return -1;
	for (size_t i = 0, k = 0; i < w->id_len; i++) {
		if (i == 1)
			hex[k++] = '/';
		snprintf(hex + k, 3, "%02x", w->id[i]);
		k += 2;
	}
	strcat(hex, ".debug");
	for (size_t i = 0; i < core->n_debug_dirs; i++) {
		int fd = try_joined(core, w, ret, core->debug_dirs[i], "/.build-id/", hex);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/* The directory part of path ("" when none), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? strndup(path, (size_t)(slash - path)) : strdup("");
}

/* The debuglink places: next to the file, in .debug/, under each debug
 * directory by the file's directory as the core names it. */
static int by_debuglink(struct cprof_core *core, const struct core_debug_query *q,
			const struct want *w, char **ret)
{
	if (!q->name || !*q->name || strchr(q->name, '/') || !q->main_path || !q->core_path)
		return -1;
	char *dir = dir_of(q->main_path), *cdir = dir_of(q->core_path);
	int fd = -1;
	if (dir && cdir) {
		fd = try_joined(core, w, ret, dir, "/", q->name);
		if (fd < 0)
			fd = try_joined(core, w, ret, dir, "/.debug/", q->name);
		for (size_t i = 0; fd < 0 && i < core->n_debug_dirs; i++) {
			char *d;
			if (asprintf(&d, "%s%s/", core->debug_dirs[i], cdir) < 0)
				break;
			fd = try_joined(core, w, ret, d, "", q->name);
			free(d);
		}
	}
	free(dir);
	free(cdir);
	return fd;
}

/* The dwz file's name: absolute (under the sysroot first), or relative to
 * the file that refers to it. */
static int by_alt_name(struct cprof_core *core, const struct core_debug_query *q,
		       const char *sysroot, const struct want *w, char **ret)
{
	if (!q->name || !*q->name)
		return -1;
	if (q->name[0] == '/') {
		int fd = sysroot ? try_joined(core, w, ret, sysroot, "", q->name) : -1;
		return fd >= 0 ? fd : try_joined(core, w, ret, "", "", q->name);
	}
	char *dir = dir_of(q->from_path);
	int fd = dir ? try_joined(core, w, ret, dir, "/", q->name) : -1;
	free(dir);
	return fd;
}

/* The build-id .gnu_debugaltlink of the file at path says the dwz file has. */
static bool altlink_id(const char *path, struct want *w)
{
	int fd;
	struct cprof_error *err = core_open_regular(path, &fd, NULL);
	if (err) {
		cprof_error_destroy(err);
		return false;
	}
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	bool found = false;
	if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while (!found && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name;
			if (!gelf_getshdr(scn, &sh) ||
			    !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
			    strcmp(name, ".gnu_debugaltlink"))
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			const char *s = d ? d->d_buf : NULL;
			const char *nul = s ? memchr(s, '\0', d->d_size) : NULL;
			size_t n = nul ? d->d_size - (size_t)(nul + 1 - s) : 0;
			if (n > 0 && n <= MAX_ID) {
				memcpy(w->id, nul + 1, n);
				w->id_len = n;
				found = true;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return found;
}

/* debuginfod (DEBUGINFOD_URLS), through libdebuginfod loaded at run time. */
static int by_debuginfod(struct cprof_core *core, const struct want *w, char **ret)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	if (!urls || !*urls || !w->id_len)
		return -1;
	void *lib = dlopen("libdebuginfod.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!lib)
		return -1;
	void *(*begin)(void) = (void *(*)(void))dlsym(lib, "debuginfod_begin");
	int (*find)(void *, const unsigned char *, int, char **) =
		(int (*)(void *, const unsigned char *, int, char **))
		dlsym(lib, "debuginfod_find_debuginfo");
	void (*end)(void *) = (void (*)(void *))dlsym(lib, "debuginfod_end");
	void *client = begin && find && end ? begin() : NULL;
	int fd = -1;
	char *path = NULL;
	if (client) {
		int got = find(client, w->id, (int)w->id_len, &path);
		if (got >= 0) {
			close(got);
			/* the cached file, opened again our way */
			fd = path ? try_path(core, path, w) : -1;
		}
		end(client);
	}
	dlclose(lib);
	if (fd >= 0)
		*ret = path;
	else
		free(path);
	return fd;
}

int core_find_debug_file(struct cprof_core *core, const struct core_debug_query *q,
			 char **ret)
{
	struct want w = { .crc = q->crc };
	*ret = NULL;
	if (q->alt) {
		if (!q->from_path || !altlink_id(q->from_path, &w))
			return -1;
	} else if (q->build_id_len && q->build_id_len <= MAX_ID) {
		memcpy(w.id, q->build_id, q->build_id_len);
		w.id_len = q->build_id_len;
	}
	int fd = by_build_id(core, &w, ret);
	if (fd < 0)
		fd = q->alt ? by_alt_name(core, q, core->sysroot, &w, ret) :
			      by_debuglink(core, q, &w, ret);
	if (fd < 0)
		fd = by_debuginfod(core, &w, ret);
	return fd;
}
