/*
 * common.c - one core in memory through the library, as `info` and
 * `analyze` take it (without writing cprof.db).
 *
 * Files the core names are opened as analyze would (the host's, or under
 * CPROF_FUZZ_SYSROOT when set): the seeds come from corpus cores of this
 * machine, whose libraries and executables are then found and verified by
 * build-id, so the walkers get as far as on the real core.  Warnings are
 * counted, not printed (CPROF_FUZZ_VERBOSE=1 prints them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/pipeline.h"
#include "fuzz.h"

static void print_warning(const char *message, void *arg)
{
	(void)arg;
	fprintf(stderr, "warning: %s\n", message);
}


/* The core model's answers that read memory: totals, symbols, backtraces. */
static void exercise_core(struct cprof_core *core)
{
	struct cprof_core_totals t;
	cprof_core_totals(core, &t);
	for (size_t i = 0; i < core->n_threads && i < 8; i++) {
		struct cprof_frame *frames = NULL;
		size_t n = 0;
		struct cprof_error *err = cprof_core_backtrace(core, core->threads[i].tid, 32,
							       &frames, &n);
		for (size_t k = 0; k < n; k++) {
			struct cprof_symbol sym;
			cprof_core_symbolize(core, frames[k].pc, k > 0, &sym);
		}
		free(frames);
		cprof_error_destroy(err);
	}
}

/* Every stage of analyze after the walk, in its order (src/pipeline/analyze.c). */
static void exercise_analysis(struct cprof_core *core, const char *allocator)
{
	struct cprof_analysis a = { 0 };
	a.walk.only = allocator;
	struct cprof_error *err = cprof_walk_heaps(core, NULL, &a);
	if (!err)
		err = cprof_roots_find(core, &a.walk, &a.roots);
	if (!err)
		err = cprof_graph_build(core, &a.walk, a.objects, a.n_objects, &a.roots,
					NULL, &a.graph);
	if (!err)
		err = cprof_leaks_compute(a.objects, &a.graph, &a.leaks);
	if (!err)
		err = cprof_retention_compute(core, a.objects, &a.roots, &a.graph, &a.leaks,
					      &a.retention);
	if (!err)
		err = cprof_types_compute(core, a.objects, &a.roots, &a.graph, NULL, &a.types);
	cprof_error_destroy(err);
	cprof_analysis_deinit(&a);
}

/*
 * The walker targets keep the last core open while inputs differ from it
 * only in the bytes of its segments (their custom mutator, below, makes
 * such inputs): opening a core - its files, symbol tables, DWARF, libdwfl -
 * costs 5 to 40 ms, ten times the walk of a seed-sized heap, and a campaign
 * of 10^6 runs per target could not afford it.  A new size or a change in
 * the headers or notes opens the input afresh, as the core target always
 * does.  (Static state: the fuzz harness is single-threaded; the library
 * itself keeps none.)
 */
struct cached {
	struct cprof_core *core;
	uint8_t *buf;              /* the core's bytes (core->data) */
	size_t size, head;         /* head: headers and notes, [0, head) */
	struct cprof_warnings w;
};
static struct cached cache;

static void print_warning(const char *message, void *arg);

/* Where the headers and notes end: the bytes an input must share with the
 * cached core for the core to be reused. */
size_t fuzz_core_head(const uint8_t *data, size_t size)
{
	if (size < 64)
		return size;
	uint64_t phoff, head;
	uint16_t phentsize, phnum;
	memcpy(&phoff, data + 32, 8);
	memcpy(&phentsize, data + 54, 2);
	memcpy(&phnum, data + 56, 2);
	if (phentsize != 56 || phoff > size || (uint64_t)phnum * 56 > size - phoff)
		return size;
	head = phoff + (uint64_t)phnum * 56;
	for (uint16_t i = 0; i < phnum; i++) {
		const uint8_t *ph = data + phoff + 56 * (uint64_t)i;
		uint32_t type;
		uint64_t off, filesz;
		memcpy(&type, ph, 4);
		memcpy(&off, ph + 8, 8);
		memcpy(&filesz, ph + 32, 8);
		if (type == 4 /* PT_NOTE */ && off <= size && filesz <= size - off &&
		    off + filesz > head)
			head = off + filesz;
	}
	return head > 64 ? head : 64;
}

static void uncache(void)
{
	cprof_core_close(cache.core);
	cprof_warnings_deinit(&cache.w);
	free(cache.buf);
	memset(&cache, 0, sizeof(cache));
}

/* An open core holding data[0, size): the cached one with its segments'
 * bytes replaced when the headers and notes are the same, else a new one. */
static struct cprof_core *open_cached(const uint8_t *data, size_t size)
{
	if (cache.core && size == cache.size && !memcmp(data, cache.buf, cache.head)) {
		memcpy(cache.buf + cache.head, data + cache.head, size - cache.head);
		return cache.core;
	}
	uncache();
	if (!(cache.buf = malloc(size ? size : 1)))
		return NULL;
	memcpy(cache.buf, data, size);
	if (getenv("CPROF_FUZZ_VERBOSE"))
		cache.w.callback = print_warning;
	struct cprof_core_options o = {
		.core_path = "fuzz.core", .core_data = cache.buf, .core_size = size,
		.sysroot = getenv("CPROF_FUZZ_SYSROOT"),
		.no_default_debug_dirs = getenv("CPROF_FUZZ_NO_DEBUG_DIRS") != NULL,
		.warnings = &cache.w,
	};
	struct cprof_error *err = cprof_core_open(&o, &cache.core);
	if (err) {
		if (getenv("CPROF_FUZZ_VERBOSE"))
			cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		uncache();
		return NULL;
	}
	cache.size = size;
	cache.head = fuzz_core_head(data, size);
	return cache.core;
}

void fuzz_core(const uint8_t *data, size_t size, enum fuzz_depth depth,
	       const char *allocator)
{
	if (depth == FUZZ_ANALYZE) {
		struct cprof_core *core = open_cached(data, size);
		if (core) {
			exercise_core(core);
			exercise_analysis(core, allocator);
			/* warnings kept per input, not for the whole campaign */
			cprof_warnings_deinit(&cache.w);
			cache.w.callback = getenv("CPROF_FUZZ_VERBOSE") ? print_warning : NULL;
		}
		return;
	}
	struct cprof_warnings w = { 0 };
	if (getenv("CPROF_FUZZ_VERBOSE"))
		w.callback = print_warning;
	struct cprof_core_options o = {
		.core_path = "fuzz.core",
		.core_data = data,
		.core_size = size,
		.sysroot = getenv("CPROF_FUZZ_SYSROOT"),
		.no_default_debug_dirs = getenv("CPROF_FUZZ_NO_DEBUG_DIRS") != NULL,
		.warnings = &w,
	};
	struct cprof_core *core = NULL;
	struct cprof_error *err = cprof_core_open(&o, &core);
	if (err) {
		if (getenv("CPROF_FUZZ_VERBOSE"))
			cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
	} else {
		exercise_core(core);
		cprof_core_close(core);
	}
	cprof_warnings_deinit(&w);
}

#ifdef CPROF_LIBFUZZER
/*
 * The walker targets' mutator: libFuzzer's own mutations, applied to a
 * window of the segments' bytes only, the size kept - so that every input
 * reuses the cached core (above) and the walkers see heaps, arenas and
 * stacks damaged in every way while the core model stays the seed's.  The
 * core target fuzzes the headers and notes.
 */
size_t fuzz_mutate_segments(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
	size_t head = fuzz_core_head(data, size);
	if (head >= size)
		return LLVMFuzzerMutate(data, size, max_size);
	size_t span = size - head;
	size_t window = span < 256 ? span : 8 + seed % 248;
	size_t at = head + (size_t)(((uint64_t)seed * 2654435761u) % (span - window + 1));
	uint8_t saved[256];
	memcpy(saved, data + at, window);
	size_t n = LLVMFuzzerMutate(data + at, window, window);
	if (n < window)            /* shrunk: the rest of the window as it was */
		memcpy(data + at + n, saved + n, window - n);
	return size;
}
#endif
