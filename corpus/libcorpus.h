/* libcorpus.h - the corpus's own shared library (libcorpus.so), used by uselib.c. */
#ifndef LIBCORPUS_H
#define LIBCORPUS_H

#include <stddef.h>
#include <stdint.h>

/* Called back from inside the library with the address of a local of the
 * library's frame (corpus_lib_park's lib_marker). */
typedef long (*corpus_lib_cb)(void *arg, volatile uint64_t *lib_marker);

/* Where the library's own objects are. The globals are hidden inside the library
 * on purpose: an executable that referred to them directly would get copy
 * relocations, i.e. the bytes would live in the executable's .bss. */
struct corpus_lib_info {
	const volatile uint64_t *data;   /* corpus_lib_data,   .data of libcorpus.so */
	const volatile uint64_t *bss;    /* corpus_lib_bss,    .bss, set by corpus_lib_init */
	const char *string;              /* corpus_lib_string, .rodata */
	size_t string_size;
	const void *park;                /* corpus_lib_park */
	const void *block;               /* corpus_lib_block */
};

const struct corpus_lib_info *corpus_lib_init(void);

/* corpus_lib_park -> corpus_lib_inner (static) -> cb(arg, &lib_marker);
 * returns what cb returns (plus a little), i.e. never if cb parks. */
long corpus_lib_park(corpus_lib_cb cb, void *arg);

/* corpus_lib_block -> corpus_lib_block_inner (static): calls ready(arg, &lib_marker),
 * then blocks forever in poll(NULL, 0, -1) inside the library. */
long corpus_lib_block(void (*ready)(void *arg, volatile uint64_t *lib_marker), void *arg);

/* corpus_lib_keep, a pointer in the library's .bss (hidden, like the others): the
 * leaks program keeps a heap block alive through it. _set stores P there; _addr
 * returns where the global is (for the manifest). */
void corpus_lib_keep_set(void *p);
void *const volatile *corpus_lib_keep_addr(void);

#endif
