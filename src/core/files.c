/*
 * files.c - opening the files a core analysis reads, safely.
 *
 * The core, the executable, the debug files and every path the core names
 * (NT_FILE) are opened here, and only regular files are accepted:
 *   - a FIFO must never block the tool (open(2) of a FIFO for reading waits
 *     for a writer): every open uses O_NONBLOCK, and the type is checked with
 *     fstat(2) before anything is read;
 *   - devices are not even opened when they can be recognized first (opening
 *     some devices has effects): the path is stat'ed before the open, and the
 *     descriptor fstat'ed after it, in case the path changed in between.
 *
 * Paths the core names are resolved under a root (the --sysroot, else "/"),
 * one component at a time from a directory descriptor, like openat2(2)'s
 * RESOLVE_IN_ROOT: ".." never climbs above the root and a symbolic link with
 * an absolute target restarts from the root, so neither "../../etc/passwd" in
 * NT_FILE nor a link to "/etc/passwd" inside the sysroot can name a file
 * outside it.  Every component is opened with O_NOFOLLOW: a link swapped in
 * while we resolve is refused, not followed.  (openat2 itself is not used:
 * this code runs on every kernel, and one code path is the one the tests
 * check.)
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-internal.h"

/* What a file that is not regular is, for messages. */
const char *core_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	case S_IFREG: return "a regular file";
	}
	return "not a regular file";
}

static struct cprof_error *not_regular(const char *path, mode_t mode)
{
	return cprof_error_create(CPROF_ERROR_BAD_DATA,
				  "%s: not a regular file (it is %s)", path,
				  core_file_kind(mode));
}

/* Checks that fd (opened from path) is a regular file; closes it if not. */
static struct cprof_error *check_fd(int fd, const char *path, struct stat *st)
{
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		return cprof_error_os(e, path, "fstat");
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return not_regular(path, st->st_mode);
	}
	return NULL;
}

struct cprof_error *core_open_regular(const char *path, int *ret,
				      struct stat *st_ret)
{
	struct stat st;
	*ret = -1;
	if (stat(path, &st) < 0)
		return cprof_error_os(errno, path, "%s", "");
	if (!S_ISREG(st.st_mode))
		return not_regular(path, st.st_mode);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cprof_error_os(errno, path, "%s", "");
	struct cprof_error *err = check_fd(fd, path, st_ret ? st_ret : &st);
	if (err)
		return err;
	*ret = fd;
	return NULL;
}

/* ---- resolution under a root ---- */

enum { MAX_LINKS = 40 };

/* The directories walked so far: dirs[0] is the root, dirs[depth] the
 * current one; ".." pops, never below the root. */
struct walk {
	int *dirs;
	size_t depth, cap;
};

static void walk_pop_to(struct walk *w, size_t depth)
{
	while (w->depth > depth)
		close(w->dirs[w->depth--]);
}

static bool walk_push(struct walk *w, int fd)
{
	if (w->depth + 1 == w->cap) {
		size_t cap = 2 * w->cap;
		int *d = realloc(w->dirs, cap * sizeof(*d));
		if (!d)
			return false;
		w->dirs = d;
		w->cap = cap;
	}
	w->dirs[++w->depth] = fd;
	return true;
}

/*
 * A symbolic link's target is resolved in place of the link: *rest becomes
 * target + "/" + what was left after the link.  An absolute target restarts
 * from the root.
 */
static int splice_link(struct walk *w, int dir, const char *name, char **rest,
		       size_t *pos)
{
	char target[4096];
	ssize_t n = readlinkat(dir, name, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	const char *tail = *rest + *pos;
	char *s = malloc((size_t)n + strlen(tail) + 2);
	if (!s)
		return -1;
	memcpy(s, target, (size_t)n);
	s[n] = '/';
	strcpy(s + n + 1, tail);
	free(*rest);
	*rest = s;
	*pos = 0;
	if (target[0] == '/')
		walk_pop_to(w, 0);
	return 0;
}

/* The next component of rest (from *pos) into comp; false at the end. */
static bool next_component(const char *rest, size_t *pos, char *comp,
			   size_t size, bool *too_long)
{
	while (rest[*pos] == '/')
		(*pos)++;
	if (!rest[*pos])
		return false;
	size_t len = strcspn(rest + *pos, "/");
	*too_long = len >= size;
	if (!*too_long) {
		memcpy(comp, rest + *pos, len);
		comp[len] = '\0';
	}
	*pos += len;
	return true;
}

/* Whether only slashes are left after *pos. */
static bool at_end(const char *rest, size_t pos)
{
	return rest[pos + strspn(rest + pos, "/")] == '\0';
}

/*
 * Opens `path` under the directory rootfd, confined to it (see the top of
 * this file).  Returns a descriptor, or -1 with errno set; when the path
 * names something that is not a regular file, errno is EINVAL and *mode_ret
 * says what it is.
 */
static int open_in_root(int rootfd, const char *path, mode_t *mode_ret)
{
	struct walk w = { .cap = 16 };
	char *rest = strdup(path);
	char comp[256];
	size_t pos = 0;
	int links = 0, fd = -1, saved = 0;
	bool too_long;
	w.dirs = malloc(w.cap * sizeof(*w.dirs));
	if (w.dirs)
		w.dirs[0] = -1;
	if (!rest || !w.dirs) {
		saved = ENOMEM;
		goto out;
	}
	if ((w.dirs[0] = dup(rootfd)) < 0) {
		saved = errno;
		goto out;
	}
	while (next_component(rest, &pos, comp, sizeof(comp), &too_long)) {
		if (too_long) {
			saved = ENAMETOOLONG;
			goto out;
		}
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (w.depth)
				walk_pop_to(&w, w.depth - 1);
			continue;
		}
		int dir = w.dirs[w.depth];
		bool last = at_end(rest, pos);
		struct stat st;
		if (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			saved = errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_LINKS) {
				saved = ELOOP;
				goto out;
			}
			if (splice_link(&w, dir, comp, &rest, &pos) < 0) {
				saved = errno ? errno : ENOMEM;
				goto out;
			}
			continue;
		}
		if (!last) {
			if (!S_ISDIR(st.st_mode)) {
				saved = ENOTDIR;
				goto out;
			}
			int d = openat(dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (d < 0) {
				saved = errno;
				goto out;
			}
			if (!walk_push(&w, d)) {
				close(d);
				saved = ENOMEM;
				goto out;
			}
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			*mode_ret = st.st_mode;
			saved = EINVAL;
			goto out;
		}
		fd = openat(dir, comp, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			saved = errno;
		} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			*mode_ret = st.st_mode;
			close(fd);
			fd = -1;
			saved = EINVAL;
		}
		goto out;
	}
	/* the path names a directory: the root, or one ending in "/" or ".." */
	*mode_ret = S_IFDIR;
	saved = EINVAL;
out:
	if (w.dirs) {
		walk_pop_to(&w, 0);
		if (w.dirs[0] >= 0)
			close(w.dirs[0]);
	}
	free(w.dirs);
	free(rest);
	errno = saved;
	return fd;
}

struct cprof_error *core_open_in_root(const char *root, const char *path,
				      int *ret, char **path_ret)
{
	*ret = -1;
	*path_ret = NULL;
	const char *r = root && *root ? root : "/";
	int rootfd = open(r, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cprof_error_os(errno, r, "sysroot");
	mode_t mode = 0;
	int fd = open_in_root(rootfd, path, &mode);
	int e = errno;
	close(rootfd);
	/* The name a user reads: the path under the root, as given. */
	char *shown = NULL;
	if (asprintf(&shown, "%s%s%s", root && *root ? root : "",
		     root && *root && path[0] != '/' ? "/" : "", path) < 0) {
		if (fd >= 0)
			close(fd);
		return &cprof_enomem;
	}
	if (fd < 0) {
		struct cprof_error *err = e == EINVAL && mode ?
			not_regular(shown, mode) : cprof_error_os(e, shown, "%s", "");
		free(shown);
		return err;
	}
	*ret = fd;
	*path_ret = shown;
	return NULL;
}

/* ---- is it a usable ELF file? ---- */

/* Where a file is too short: the first extent its headers declare that
 * passes its end. */
struct cut {
	uint64_t need;
	const char *what;
};

/* Whether [off, off + len) passes the end of a file of `size` bytes; if so,
 * says so in *cut. */
static bool past_end(uint64_t off, uint64_t len, uint64_t size, const char *what,
		     struct cut *cut)
{
	if (off <= size && len <= size - off)
		return false;
	cut->need = off + len;
	cut->what = what;
	return true;
}

/* Whether the program headers, or a PT_LOAD's bytes, pass the end. */
static bool segments_cut(const uint8_t *data, uint64_t size, const Elf64_Ehdr *eh,
			 struct cut *cut)
{
	if (!eh->e_phnum || eh->e_phentsize != sizeof(Elf64_Phdr))
		return false;
	if (past_end(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size,
		     "program headers", cut))
		return true;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD &&
		    past_end(ph.p_offset, ph.p_filesz, size, "loadable segments", cut))
			return true;
	}
	return false;
}

/* Whether the section headers, or a section's bytes, pass the end. */
static bool sections_cut(const uint8_t *data, uint64_t size, const Elf64_Ehdr *eh,
			 struct cut *cut)
{
	if (!eh->e_shoff || !eh->e_shnum || eh->e_shentsize != sizeof(Elf64_Shdr))
		return false;
	if (past_end(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), size,
		     "section headers", cut))
		return true;
	for (size_t i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, data + eh->e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    past_end(sh.sh_offset, sh.sh_size, size, "sections", cut))
			return true;
	}
	return false;
}

bool core_elf_problem(const uint8_t *data, uint64_t size, char *buf,
		      size_t bufsize)
{
	Elf64_Ehdr eh;
	struct cut cut;
	if (size < SELFMAG || memcmp(data, ELFMAG, SELFMAG)) {
		snprintf(buf, bufsize, "not an ELF file");
		return true;
	}
	if (size < sizeof(eh)) {
		snprintf(buf, bufsize, "truncated in its ELF header (%llu bytes)",
			 (unsigned long long)size);
		return true;
	}
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		snprintf(buf, bufsize, "not an x86-64 ELF file");
		return true;
	}
	if (!segments_cut(data, size, &eh, &cut) && !sections_cut(data, size, &eh, &cut))
		return false;
	snprintf(buf, bufsize, "truncated: its %s end at byte %llu, the file has %llu",
		 cut.what, (unsigned long long)cut.need, (unsigned long long)size);
	return true;
}
