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
#include <elf.h>
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
static void exercise_analysis(struct cprof_core *core, enum fuzz_depth depth,
			      const char *allocator)
{
	struct cprof_analysis a = { 0 };
	a.walk.only = allocator;
	struct cprof_error *err = cprof_walk_heaps(core, NULL, &a);
	if (!err)
		err = cprof_roots_find(core, &a.walk, &a.roots);
	if (!err && depth == FUZZ_WALK)
		goto out;
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
out:
	cprof_error_destroy(err);
	cprof_analysis_deinit(&a);
}

/*
 * Sparse cores (fuzz/strip-core.py): the walker targets' seeds leave out
 * zero pages, and their PT_LOADs continue one another (p_paddr PIECE_DATA,
 * PIECE_ZERO).  expand() rebuilds the core they came from, zeros included,
 * byte for byte, so that the library sees each mapping as one segment whose
 * zero pages are there - a page map or a radix tree leaf is mostly zeros,
 * and a zero entry is not a missing one.  Any other input is used as it is.
 */
enum {
	PIECE_DATA = 0x5044,
	PIECE_ZERO = 0x505a,
	EXPANDED_MAX = 1 << 30,    /* a sparse core expands to at most this */
};

struct piece {                 /* input bytes [from, from + len) at out + to */
	size_t from, to, len;
};

struct expansion {
	uint8_t *buf;
	size_t size;
	struct piece *pieces;
	size_t n_pieces;
};

static void expansion_release(struct expansion *x)
{
	free(x->buf);
	free(x->pieces);
	memset(x, 0, sizeof(*x));
}

static bool identity(const uint8_t *in, size_t n, struct expansion *x)
{
	x->buf = malloc(n ? n : 1);
	x->pieces = malloc(sizeof(*x->pieces));
	if (!x->buf || !x->pieces)
		return false;
	memcpy(x->buf, in, n);
	x->size = n;
	x->pieces[0] = (struct piece){ 0, 0, n };
	x->n_pieces = 1;
	return true;
}

static Elf64_Phdr phdr_at(const uint8_t *in, uint64_t phoff, size_t i)
{
	Elf64_Phdr ph;
	memcpy(&ph, in + phoff + i * sizeof(ph), sizeof(ph));
	return ph;
}

static bool is_piece(const Elf64_Phdr *ph)
{
	return ph->p_type == PT_LOAD && (ph->p_paddr == PIECE_DATA || ph->p_paddr == PIECE_ZERO);
}

/* The bytes a piece (or a first PT_LOAD) holds in the input; 0 when they
 * are not all there. */
static uint64_t piece_bytes(const Elf64_Phdr *ph, size_t n)
{
	if (ph->p_paddr == PIECE_ZERO)
		return ph->p_memsz;
	return ph->p_offset <= n && ph->p_filesz <= n - ph->p_offset ? ph->p_filesz : 0;
}

static bool expand(const uint8_t *in, size_t n, struct expansion *x)
{
	memset(x, 0, sizeof(*x));
	Elf64_Ehdr eh;
	if (n < sizeof(eh))
		return identity(in, n, x);
	memcpy(&eh, in, sizeof(eh));
	uint64_t phbytes = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > n || phbytes > n - eh.e_phoff)
		return identity(in, n, x);
	/* First pass: the expanded size, and whether there is a piece at all. */
	size_t m = 0, n_pieces = 0;
	uint64_t size = sizeof(eh);
	bool sparse = false, open = false;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph = phdr_at(in, eh.e_phoff, i);
		if (is_piece(&ph) && open) {
			sparse = true;
			size += piece_bytes(&ph, n);
			n_pieces++;
		} else {
			m++;
			open = ph.p_type == PT_LOAD;
			size += 16 + piece_bytes(&ph, n);
			n_pieces++;
		}
		if (size > EXPANDED_MAX)
			return identity(in, n, x);
	}
	if (!sparse)
		return identity(in, n, x);
	size += m * sizeof(Elf64_Phdr);
	x->buf = calloc(1, size);
	x->pieces = calloc(n_pieces, sizeof(*x->pieces));
	if (!x->buf || !x->pieces)
		return false;
	/* Second pass: each segment's pieces one after the other. */
	Elf64_Ehdr out = eh;
	out.e_phoff = sizeof(eh);
	out.e_phnum = (uint16_t)m;
	out.e_shoff = out.e_shnum = out.e_shstrndx = 0;
	memcpy(x->buf, &out, sizeof(out));
	size_t pos = sizeof(eh) + m * sizeof(Elf64_Phdr), k = SIZE_MAX;
	Elf64_Phdr cur = { 0 };
	open = false;
	for (size_t i = 0; i <= eh.e_phnum; i++) {
		Elf64_Phdr ph = i < eh.e_phnum ? phdr_at(in, eh.e_phoff, i) : (Elf64_Phdr){ 0 };
		if (i < eh.e_phnum && is_piece(&ph) && open) {
			/* a continuation of cur */
		} else {
			if (k != SIZE_MAX)
				memcpy(x->buf + sizeof(eh) + k * sizeof(cur), &cur, sizeof(cur));
			if (i == eh.e_phnum)
				break;
			k = k == SIZE_MAX ? 0 : k + 1;
			cur = ph;
			cur.p_paddr = 0;
			open = ph.p_type == PT_LOAD;
			while (open && pos % 16 != ph.p_vaddr % 16)
				pos++;
			cur.p_offset = pos;
			cur.p_filesz = 0;
			if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
				continue;
		}
		uint64_t len = piece_bytes(&ph, n);
		if (ph.p_paddr != PIECE_ZERO && len) {
			memcpy(x->buf + pos, in + ph.p_offset, len);
			x->pieces[x->n_pieces++] = (struct piece){ ph.p_offset, pos, len };
		}
		pos += len;
		cur.p_filesz += len;
	}
	x->size = pos;
	return true;
}

/*
 * The walker targets keep the cores of the last few seeds open, and reuse
 * one while inputs differ from it only in the bytes of its segments (their
 * custom mutator, below, makes such inputs): opening a core - its files,
 * symbol tables, DWARF, libdwfl - costs 5 to 40 ms, and its expansion
 * touches tens of MB of fresh zero pages, ten times the walk of a seed-sized
 * heap.  libFuzzer takes a corpus input at random for every few runs, so one
 * open core per seed (CACHED_CORES, least recently used out) is what makes
 * nearly every run a reuse.  A new size or a change in the headers or notes
 * opens the input afresh, as the core target always does.  (Static state:
 * the fuzz harness is single-threaded; the library itself keeps none.)
 */
enum { CACHED_CORES = 8 };

struct cached {
	struct cprof_core *core;
	struct expansion x;        /* the core's bytes (core->data) */
	uint8_t *head_bytes;       /* the input's headers and notes */
	size_t size, head;
	uint64_t used;             /* when last used (a count of opens) */
	struct cprof_warnings w;
};
static struct cached cache[CACHED_CORES];
static uint64_t cache_clock;

static void print_warning(const char *message, void *arg);

/* Where the headers and notes end: the bytes an input must share with the
 * cached core for the core to be reused. */
size_t fuzz_core_head(const uint8_t *data, size_t size)
{
	Elf64_Ehdr eh;
	if (size < sizeof(eh))
		return size;
	memcpy(&eh, data, sizeof(eh));
	uint64_t phbytes = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size || phbytes > size - eh.e_phoff)
		return size;
	uint64_t head = eh.e_phoff + phbytes;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph = phdr_at(data, eh.e_phoff, i);
		if (ph.p_type == PT_NOTE && ph.p_offset <= size && ph.p_filesz <= size - ph.p_offset &&
		    ph.p_offset + ph.p_filesz > head)
			head = ph.p_offset + ph.p_filesz;
	}
	return head > sizeof(eh) ? head : sizeof(eh);
}

static void uncache(struct cached *c)
{
	cprof_core_close(c->core);
	cprof_warnings_deinit(&c->w);
	expansion_release(&c->x);
	free(c->head_bytes);
	memset(c, 0, sizeof(*c));
}

/* The open core of an input with data's headers and notes and size, else
 * the slot to open it in (an empty one, or the least recently used). */
static struct cached *cache_slot(const uint8_t *data, size_t size)
{
	struct cached *victim = NULL;
	for (size_t i = 0; i < CACHED_CORES; i++) {
		struct cached *c = &cache[i];
		if (c->core && size == c->size && !memcmp(data, c->head_bytes, c->head))
			return c;
		if (!victim || (victim->core && (!c->core || c->used < victim->used)))
			victim = c;
	}
	return victim;
}

/* An open core holding data[0, size), expanded: a cached one with its
 * segments' bytes replaced when the headers and notes are the same, else a
 * new one; with its warnings, or NULL when the input does not open. */
static struct cached *open_cached(const uint8_t *data, size_t size)
{
	struct cached *c = cache_slot(data, size);
	c->used = ++cache_clock;
	if (c->core) {
		for (size_t i = 0; i < c->x.n_pieces; i++) {
			const struct piece *p = &c->x.pieces[i];
			memcpy(c->x.buf + p->to, data + p->from, p->len);
		}
		return c;
	}
	uncache(c);
	c->head = fuzz_core_head(data, size);
	if (!expand(data, size, &c->x) || !(c->head_bytes = malloc(c->head + 1))) {
		uncache(c);
		return NULL;
	}
	memcpy(c->head_bytes, data, c->head);
	const char *dump = getenv("CPROF_FUZZ_EXPANDED");
	if (dump) {                /* the core as cprof-core would read it */
		FILE *f = fopen(dump, "wb");
		if (f) {
			fwrite(c->x.buf, 1, c->x.size, f);
			fclose(f);
		}
	}
	if (getenv("CPROF_FUZZ_VERBOSE"))
		c->w.callback = print_warning;
	struct cprof_core_options o = {
		.core_path = "fuzz.core", .core_data = c->x.buf, .core_size = c->x.size,
		.sysroot = getenv("CPROF_FUZZ_SYSROOT"),
		.no_default_debug_dirs = getenv("CPROF_FUZZ_NO_DEBUG_DIRS") != NULL,
		.warnings = &c->w,
	};
	struct cprof_error *err = cprof_core_open(&o, &c->core);
	if (err) {
		if (getenv("CPROF_FUZZ_VERBOSE"))
			cprof_error_fwrite(err, stderr);
		cprof_error_destroy(err);
		uncache(c);
		return NULL;
	}
	c->size = size;
	c->used = ++cache_clock;
	return c;
}

void fuzz_core(const uint8_t *data, size_t size, enum fuzz_depth depth,
	       const char *allocator)
{
	if (depth != FUZZ_CORE) {
		struct cached *c = open_cached(data, size);
		if (c) {
			exercise_core(c->core);
			exercise_analysis(c->core, depth, allocator);
			/* warnings kept per input, not for the whole campaign */
			cprof_warnings_deinit(&c->w);
			c->w.callback = getenv("CPROF_FUZZ_VERBOSE") ? print_warning : NULL;
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
