/* phantom.c - an ELF file that is mapped but not loaded (issue 11 item 1).
 *
 * Usage: phantom MANIFEST_PATH PLACEMENT      (protocol: corpus/README.md)
 *
 * Debuggers, symbolizers and profilers map pieces of ELF files they read; the
 * dynamic linker never hears of them.  This program maps the first page of
 * libphantom.so (read-only, offset 0: the kernel dumps that page, ELF header
 * and program headers included) at a chosen place, with MAP_FIXED_NOREPLACE so
 * that the placement is the same on every run:
 *   libc   on the page right below libc: libphantom.so's program headers span
 *          32 MiB from there, over libc, ld.so and the vdso;
 *   heap   on the page right below the mapping of a leaked 1 MiB chunk (glibc
 *          mmaps it): the 32 MiB span covers that chunk.  A 64 MiB PROT_NONE
 *          reservation right below libc is made first, so that the chunk (and
 *          the span) lie below it, far from libc.
 * The heap holds a leaked 1 MiB chunk A (request 1 MiB - 24: glibc mmaps one
 * 1 MiB mapping for it, usable size 1 MiB - 16) pointing to a leaked 88-byte block B,
 * and an 88-byte block R kept by a global: A is definitely lost, B indirectly,
 * R reachable - for valgrind and for cprof-core.  Under valgrind the program
 * runs VALGRIND_DO_LEAK_CHECK where it would park, then exits (placement is
 * tried the same way, and does not matter to valgrind).
 *
 * Manifest extensions (besides corpus/README.md's fields):
 *   "placement", "mode" ("native", "valgrind"),
 *   "phantom": {"path", "addr" (the mapped page), "size" (4096), "span_end"
 *      (addr + the extent its PT_LOADs declare)},
 *   "dl_modules": what dl_iterate_phdr lists, in its order: {"name" (dlpi_name;
 *      "" for the executable), "load_bias" (dlpi_addr), "start" (load_bias +
 *      the first PT_LOAD's p_vaddr, page-aligned down), "end" (load_bias + the
 *      highest p_vaddr + p_memsz)},
 *   "blocks": [{"addr", "size" (malloc_usable_size), "request", "name",
 *      "expect" (direct | indirect | reachable), "valgrind" (definitely |
 *      indirectly | reachable)}],
 *   "expect_valgrind": {"definitely", "indirectly": {"count", "bytes"
 *      (requests)}}.
 */
#define _GNU_SOURCE
#include "corpus.h"

#include <elf.h>
#include <malloc.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

enum { PAGE = 4096, MAX_DL = 32 };
static const size_t A_REQUEST = (1u << 20) - 24;   /* a 1 MiB mmapped chunk */
static const size_t SMALL_REQUEST = 88;

struct dl_module {
	char name[PATH_MAX];
	uintptr_t bias, start, end;
};
static struct dl_module dl[MAX_DL];
static int n_dl;

struct block {
	uintptr_t hidden;       /* ~address: never looks like a pointer */
	size_t size, request;
	const char *name, *expect, *vg;
};
static struct block blocks[3];
static int nblocks;

static const char *placement;
static const char *mode_name = "native";
static char phantom_path[PATH_MAX];
static uintptr_t phantom_addr, phantom_span_end;

void *g_keep;           /* keeps R */

/* corpus.h's helpers this one-thread program with its own manifest fields
 * does not need (-Wunused-function) */
static const void *const corpus_unused[] __attribute__((unused)) = {
	(const void *)corpus_write_manifest, (const void *)corpus_wait_blocked,
	(const void *)corpus_wait_ready, (const void *)corpus_thread_ready,
};

static void die(const char *msg)
{
	errno = 0;
	corpus_die(msg);
}

static int dl_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (n_dl == MAX_DL)
		die("too many modules");
	struct dl_module *m = &dl[n_dl++];
	snprintf(m->name, sizeof m->name, "%s", info->dlpi_name ? info->dlpi_name : "");
	m->bias = info->dlpi_addr;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		if (lo == UINTPTR_MAX)
			lo = ph->p_vaddr & ~(uintptr_t)(PAGE - 1);
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
	}
	m->start = m->bias + lo;
	m->end = m->bias + hi;
	return 0;
}

static const struct dl_module *find_dl(const char *base)
{
	for (int i = 0; i < n_dl; i++)
		if (!strcmp(corpus_basename(dl[i].name), base))
			return &dl[i];
	return NULL;
}

/* The extent libphantom.so's PT_LOADs declare (highest p_vaddr + p_memsz). */
static uintptr_t elf_span(int fd)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uintptr_t hi = 0;
	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
		die("cannot read libphantom.so's ELF header");
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof ph, eh.e_phoff + (off_t)i * eh.e_phentsize) !=
		    (ssize_t)sizeof ph)
			die("cannot read libphantom.so's program headers");
		if (ph.p_type == PT_LOAD && ph.p_vaddr + ph.p_memsz > hi)
			hi = ph.p_vaddr + ph.p_memsz;
	}
	return hi;
}

/* Maps libphantom.so's first page on the highest free page below `below` whose
 * span still reaches `below` (MAP_FIXED_NOREPLACE: the place is the same on
 * every run without ASLR). */
static void map_phantom(uintptr_t below)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", corpus_exe);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(phantom_path, sizeof phantom_path, "%s/libphantom.so", dir) >=
	    (int)sizeof phantom_path)
		die("path of libphantom.so too long");
	int fd = open(phantom_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		corpus_die("cannot open libphantom.so");
	uintptr_t span = elf_span(fd);
	for (uintptr_t p = below - PAGE; p + span > below; p -= PAGE) {
		void *m = mmap((void *)p, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
			       fd, 0);
		if (m == (void *)p) {
			phantom_addr = p;
			break;
		}
		if (m != MAP_FAILED)
			munmap(m, PAGE);   /* an old kernel took the flag as a hint */
	}
	if (!phantom_addr && RUNNING_ON_VALGRIND) {
		/* valgrind's own layout: anywhere will do for its leak check */
		void *m = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED)
			phantom_addr = (uintptr_t)m;
	}
	if (!phantom_addr)
		die("no free page for libphantom.so below the target");
	phantom_span_end = phantom_addr + span;
	close(fd);
}

static void *alloc_filled(size_t n, const char *label)
{
	unsigned char *p = malloc(n);
	if (!p)
		die("malloc failed");
	corpus_fill_text(p, n, label);
	/* small blocks: usable == request, so every tool counts the same bytes */
	if (n < 4096 && malloc_usable_size(p) != n)
		die("malloc_usable_size differs from the request");
	return p;
}

static void record(const char *name, const void *p, size_t n, const char *expect,
		   const char *vg)
{
	struct block *b = &blocks[nblocks++];
	b->hidden = ~(uintptr_t)p;
	b->size = malloc_usable_size((void *)p);
	b->request = n;
	b->name = name;
	b->expect = expect;
	b->vg = vg;
}

static void put_fields(void)
{
	corpus_put(",\n  \"placement\": ");
	corpus_put_str(placement);
	corpus_put(",\n  \"mode\": ");
	corpus_put_str(mode_name);
	corpus_put(",\n  \"phantom\": {\"path\": ");
	corpus_put_str(phantom_path);
	corpus_put(", \"addr\": \"0x%lx\", \"size\": %d, \"span_end\": \"0x%lx\"}",
		   (unsigned long)phantom_addr, PAGE, (unsigned long)phantom_span_end);
	corpus_put(",\n  \"dl_modules\": [");
	for (int i = 0; i < n_dl; i++) {
		corpus_put("%s\n    {\"name\": ", i ? "," : "");
		corpus_put_str(dl[i].name);
		corpus_put(", \"load_bias\": \"0x%lx\", \"start\": \"0x%lx\", \"end\": \"0x%lx\"}",
			   (unsigned long)dl[i].bias, (unsigned long)dl[i].start,
			   (unsigned long)dl[i].end);
	}
	corpus_put("\n  ],\n  \"blocks\": [");
	unsigned long def_n = 0, def_b = 0, ind_n = 0, ind_b = 0;
	for (int i = 0; i < nblocks; i++) {
		const struct block *b = &blocks[i];
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"size\": %zu, \"request\": %zu, "
			   "\"name\": \"%s\", \"expect\": \"%s\", \"valgrind\": \"%s\"}",
			   i ? "," : "", (unsigned long)~b->hidden, b->size, b->request,
			   b->name, b->expect, b->vg);
		if (!strcmp(b->vg, "definitely")) {
			def_n++;
			def_b += b->request;
		} else if (!strcmp(b->vg, "indirectly")) {
			ind_n++;
			ind_b += b->request;
		}
	}
	corpus_put("\n  ],\n  \"expect_valgrind\": {\"definitely\": {\"count\": %lu, "
		   "\"bytes\": %lu}, \"indirectly\": {\"count\": %lu, \"bytes\": %lu}}",
		   def_n, def_b, ind_n, ind_b);
}

/* Zero 64 KiB of stack below the caller's frame: no stale pointer stays in dead
 * frames. */
static CORPUS_NOINLINE void scrub_stack(void)
{
	unsigned char buf[64 * 1024];
	explicit_bzero(buf, sizeof buf);
}

/* A points to B: both leaked once this returns. */
static CORPUS_NOINLINE void *make_leak(void)
{
	void *a = alloc_filled(A_REQUEST, "phantom leak");
	void *b = alloc_filled(SMALL_REQUEST, "indirect");
	memcpy(a, &b, sizeof b);
	record("A", a, A_REQUEST, "direct", "definitely");
	record("B", b, SMALL_REQUEST, "indirect", "indirectly");
	return a;
}

/* A 64 MiB PROT_NONE reservation right below `top` (below whatever few pages
 * lie there already): glibc's mmap of the chunk then lands below it, and the
 * phantom's 32 MiB span from there cannot reach libc. */
static void reserve_below(uintptr_t top)
{
	const size_t size = 64u << 20;
	for (int i = 0; i < 4096; i++, top -= PAGE) {
		void *want = (void *)(top - size);
		void *m = mmap(want, size, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == want)
			return;
		if (m != MAP_FAILED)
			munmap(m, size);
	}
	if (!RUNNING_ON_VALGRIND)
		die("no room for the reservation below libc");
}

/* Everything that allocates, in a frame of its own: no pointer to a block
 * stays in main's frame (scrub_stack clears this one once it is dead). */
static CORPUS_NOINLINE void setup(void)
{
	const struct dl_module *libc = find_dl("libc.so.6");
	if (!libc)
		die("libc.so.6 is not in dl_iterate_phdr's list");
	g_keep = alloc_filled(SMALL_REQUEST, "kept by g_keep");
	record("R", g_keep, SMALL_REQUEST, "reachable", "reachable");
	if (!strcmp(placement, "libc")) {
		map_phantom(libc->start);
		make_leak();
	} else {
		reserve_below(libc->start);
		uintptr_t a = (uintptr_t)make_leak();
		map_phantom((a - 16) & ~(uintptr_t)(PAGE - 1));
	}
}

int main(int argc, char **argv)
{
	static const char *const funcs[] = {"park_main", "main", NULL};
	static const long sys[] = {SYS_pause, -1};

	if (argc < 3 || (strcmp(argv[2], "libc") && strcmp(argv[2], "heap")))
		die("usage: phantom MANIFEST_PATH libc|heap");
	placement = argv[2];
	if (RUNNING_ON_VALGRIND)
		mode_name = "valgrind";
	corpus_find_modules(NULL);
	corpus_add_thread(0, funcs, sys);
	corpus_symbol(main);
	dl_iterate_phdr(dl_cb, NULL);

	setup();
	corpus_global(g_keep);

	/* The state is final: no allocation from here on. */
	corpus_write_manifest_with(argv[1], corpus_basename(argv[0]), put_fields);
	scrub_stack();
	if (RUNNING_ON_VALGRIND) {
		VALGRIND_DO_LEAK_CHECK;
		_exit(0);
	}
	return park_main();
}
