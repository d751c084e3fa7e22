/*
 * memory.c - reading the process's memory from a core.
 *
 * Within a segment [start, end) the bytes fall into three runs:
 *     [start, start + core_bytes)            in the core file
 *     [.. , start + declared_bytes)          declared by the core but cut off:
 *                                            missing (the file's bytes may
 *                                            differ from what was in memory)
 *     [start + declared_bytes, end)          left out by the dumper: read from
 *                                            the mapped file when it is usable
 *                                            and long enough, else missing
 * Addresses outside every segment are missing.  Lookups binary-search the
 * segments (a few hundred at most); hot loops take a pointer once per range
 * with cprof_core_ptr() instead of calling the reader per word.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/search.h"
#include "core-internal.h"

/* The index of the first segment that ends above addr (n_segments: none). */
static size_t segment_index(const struct cprof_core *core, uint64_t addr)
{
	return CPROF_FIRST_ABOVE(core->segments, core->n_segments, end, addr);
}

const struct cprof_segment *cprof_core_segment(const struct cprof_core *core,
					       uint64_t addr)
{
	size_t i = segment_index(core, addr);
	return i < core->n_segments && core->segments[i].start <= addr ?
	       &core->segments[i] : NULL;
}

/*
 * The run of one source that holds addr inside segment s: its source, its end,
 * and a pointer to the byte at addr when the source is memory we have.
 */
struct run {
	enum cprof_source source;
	uint64_t end;
	const uint8_t *ptr;
};

static struct run segment_run(const struct cprof_core *core,
			      const struct cprof_segment *s, uint64_t addr)
{
	uint64_t off = addr - s->start;
	struct run r = { CPROF_SOURCE_MISSING, s->end, NULL };
	if (off < s->core_bytes) {
		r.source = CPROF_SOURCE_CORE;
		r.end = s->start + s->core_bytes;
		r.ptr = core->data + s->core_offset + off;
		return r;
	}
	if (off < s->declared_bytes) {
		r.end = s->start + s->declared_bytes;
		return r;
	}
	if (s->file < 0)
		return r;
	const struct cprof_file *f = &core->files[s->file];
	if (!f->usable || !f->data)
		return r;
	uint64_t foff = s->file_offset + off;
	if (foff >= f->size)
		return r;
	r.source = CPROF_SOURCE_FILE;
	r.ptr = f->data + foff;
	uint64_t avail = f->size - foff;
	if (avail < r.end - addr)
		r.end = addr + avail;
	return r;
}

/* The run at any addr, clipped to end (> addr): outside every segment, a
 * missing run up to the next segment. */
static struct run run_at(const struct cprof_core *core, uint64_t addr, uint64_t end)
{
	size_t i = segment_index(core, addr);
	const struct cprof_segment *s = i < core->n_segments ? &core->segments[i] : NULL;
	struct run r;
	if (s && s->start <= addr)
		r = segment_run(core, s, addr);
	else
		r = (struct run){ CPROF_SOURCE_MISSING, s ? s->start : end, NULL };
	if (r.end > end)
		r.end = end;
	return r;
}

void cprof_core_sources(const struct cprof_core *core, uint64_t addr,
			uint64_t len,
			void (*cb)(uint64_t start, uint64_t end,
				   enum cprof_source src, void *arg),
			void *arg)
{
	uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
	uint64_t run_start = addr;
	enum cprof_source run_src = CPROF_SOURCE_MISSING;
	bool have_run = false;
	while (addr < end) {
		struct run r = run_at(core, addr, end);
		if (have_run && r.source != run_src) {
			cb(run_start, addr, run_src, arg);
			run_start = addr;
		}
		run_src = r.source;
		have_run = true;
		addr = r.end;
	}
	if (have_run)
		cb(run_start, end, run_src, arg);
}

void cprof_core_segment_totals(const struct cprof_core *core,
			       const struct cprof_segment *s,
			       struct cprof_core_totals *t)
{
	cprof_core_part_totals(core, s, s->start, s->end, t);
}

void cprof_core_part_totals(const struct cprof_core *core,
			    const struct cprof_segment *s, uint64_t start,
			    uint64_t end, struct cprof_core_totals *t)
{
	assert(s->start <= start && start <= end && end <= s->end);
	uint64_t addr = start;
	memset(t, 0, sizeof(*t));
	t->mapped = end - start;
	while (addr < end) {
		struct run r = segment_run(core, s, addr);
		if (r.end > end)
			r.end = end;
		uint64_t n = r.end - addr;
		if (r.source == CPROF_SOURCE_CORE)
			t->in_core += n;
		else if (r.source == CPROF_SOURCE_FILE)
			t->from_file += n;
		else
			t->missing += n;
		addr = r.end;
	}
}

void cprof_core_totals(const struct cprof_core *core,
		       struct cprof_core_totals *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < core->n_segments; i++) {
		struct cprof_core_totals t;
		cprof_core_segment_totals(core, &core->segments[i], &t);
		ret->mapped += t.mapped;
		ret->in_core += t.in_core;
		ret->from_file += t.from_file;
		ret->missing += t.missing;
	}
}

const void *cprof_core_ptr(const struct cprof_core *core, uint64_t addr,
			   size_t len)
{
	const struct cprof_segment *s = cprof_core_segment(core, addr);
	if (!s)
		return NULL;
	struct run r = segment_run(core, s, addr);
	if (!r.ptr || r.end - addr < len)
		return NULL;
	return r.ptr;
}

const void *cprof_core_run(const struct cprof_core *core, uint64_t addr,
			   uint64_t end, uint64_t *run_end)
{
	assert(addr < end);
	struct run r = run_at(core, addr, end);
	*run_end = r.end;
	assert(*run_end > addr);
	return r.ptr;
}

/* Copies [addr, addr + len) run by run; false at the first byte no run
 * holds (*fail: its address, *seg: its segment or NULL). */
static bool read_runs(const struct cprof_core *core, uint64_t addr, void *buf,
		      size_t len, uint64_t *fail, const struct cprof_segment **seg)
{
	uint8_t *out = buf;
	while (len) {
		const struct cprof_segment *s = cprof_core_segment(core, addr);
		struct run r = s ? segment_run(core, s, addr) : (struct run){ 0 };
		if (!r.ptr) {
			*fail = addr;
			*seg = s;
			return false;
		}
		uint64_t n = r.end - addr;
		if (n > len)
			n = len;
		memcpy(out, r.ptr, n);
		out += n;
		addr += n;
		len -= n;
	}
	return true;
}

bool cprof_core_try_read(const struct cprof_core *core, uint64_t addr,
			 void *buf, size_t len)
{
	uint64_t fail;
	const struct cprof_segment *s;
	return read_runs(core, addr, buf, len, &fail, &s);
}

struct cprof_error *cprof_core_read(const struct cprof_core *core,
				    uint64_t addr, void *buf, size_t len)
{
	uint64_t fail;
	const struct cprof_segment *s;
	if (read_runs(core, addr, buf, len, &fail, &s))
		return NULL;
	if (!s)
		return cprof_error_fault(core->path, fail, "address is not mapped in the core");
	return cprof_error_fault(core->path, fail,
				 s->file >= 0 && fail - s->start >= s->declared_bytes ?
				 "memory not saved in the core and its file is not available" :
				 "memory not saved in the core");
}

struct cprof_error *cprof_core_read_u64(const struct cprof_core *core,
					uint64_t addr, uint64_t *ret)
{
	return cprof_core_read(core, addr, ret, sizeof(*ret));
}

bool core_read_dumped(const struct cprof_core *core, uint64_t addr, void *buf,
		      size_t len)
{
	uint8_t *out = buf;
	while (len) {
		const struct cprof_segment *s = cprof_core_segment(core, addr);
		uint64_t off = s ? addr - s->start : 0;
		if (!s || off >= s->core_bytes)
			return false;
		uint64_t n = s->core_bytes - off;
		if (n > len)
			n = len;
		memcpy(out, core->data + s->core_offset + off, n);
		out += n;
		addr += n;
		len -= n;
	}
	return true;
}
