/* libcorpus.c - libcorpus.so, the corpus's own shared library (see libcorpus.h).
 * Built with -fPIC -shared. corpus_lib_inner and corpus_lib_block_inner are static,
 * so their names are only in .symtab and DWARF, not in .dynsym. */
#define _GNU_SOURCE
#include "libcorpus.h"

#include <poll.h>

static uint64_t corpus_lib_data = 0x4c1bda7a00000001ULL;
static uint64_t corpus_lib_bss;
static const char corpus_lib_string[] = "libcorpus.so: a read-only string of the corpus library";
static volatile int corpus_lib_never;
static struct corpus_lib_info corpus_lib_info_;
static void *volatile corpus_lib_keep;   /* .bss: set by corpus_lib_keep_set (leaks.c) */

const struct corpus_lib_info *corpus_lib_init(void)
{
	corpus_lib_bss = 0x4c1bb55000000002ULL;
	corpus_lib_info_.data = &corpus_lib_data;
	corpus_lib_info_.bss = &corpus_lib_bss;
	corpus_lib_info_.string = corpus_lib_string;
	corpus_lib_info_.string_size = sizeof corpus_lib_string;
	corpus_lib_info_.park = (const void *)corpus_lib_park;
	corpus_lib_info_.block = (const void *)corpus_lib_block;
	return &corpus_lib_info_;
}

static __attribute__((noinline, noclone)) long
corpus_lib_inner(corpus_lib_cb cb, void *arg, volatile uint64_t *lib_marker)
{
	long r = cb(arg, lib_marker);
	return r + 2;
}

long corpus_lib_park(corpus_lib_cb cb, void *arg)
{
	volatile uint64_t lib_marker = 0x4c1b3a4e00000003ULL;
	long r = corpus_lib_inner(cb, arg, &lib_marker);
	return r + (long)lib_marker;
}

static __attribute__((noinline, noclone)) long
corpus_lib_block_inner(void (*ready)(void *, volatile uint64_t *), void *arg,
		       volatile uint64_t *lib_marker)
{
	long polls = 0;
	ready(arg, lib_marker);
	while (!corpus_lib_never) {
		poll(NULL, 0, -1);
		polls++;
	}
	return polls;
}

long corpus_lib_block(void (*ready)(void *, volatile uint64_t *), void *arg)
{
	volatile uint64_t lib_marker = 0x4c1b3a4e00000004ULL;
	long r = corpus_lib_block_inner(ready, arg, &lib_marker);
	return r + (long)lib_marker;
}

void corpus_lib_keep_set(void *p)
{
	corpus_lib_keep = p;
}

void *const volatile *corpus_lib_keep_addr(void)
{
	return &corpus_lib_keep;
}
