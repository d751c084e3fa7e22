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

#include "core-internal.h"

const struct cprof_segment *cprof_core_segment(const struct cprof_core *core,
					       uint64_t addr)
{
	size_t lo = 0, hi = core->n_segments;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cprof_segment *s = &core->segments[mid];
		if (addr < s->start)
			hi = mid;
		else if (addr >= s->end)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

/* The first segment that starts above addr, or NULL. */
static const struct cprof_segment *next_segment(const struct cprof_core *core,
						uint64_t addr)
{
	size_t lo = 0, hi = core->n_segments;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (core->segments[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < core->n_segments ? &core->segments[lo] : NULL;
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
		const struct cprof_segment *s = cprof_core_segment(core, addr);
		struct run r;
		if (s) {
			r = segment_run(core, s, addr);
		} else {
			/* A gap up to the next segment, or to the end. */
			const struct cprof_segment *n = next_segment(core, addr);
			r.source = CPROF_SOURCE_MISSING;
			r.end = n ? n->start : end;
		}
		if (r.end > end)
			r.end = end;
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
	uint64_t addr = s->start;
	memset(t, 0, sizeof(*t));
	t->mapped = s->end - s->start;
	while (addr < s->end) {
		struct run r = segment_run(core, s, addr);
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
	const struct cprof_segment *s = cprof_core_segment(core, addr);
	struct run r;
	if (s) {
		r = segment_run(core, s, addr);
	} else {
		const struct cprof_segment *n = next_segment(core, addr);
		r = (struct run){ CPROF_SOURCE_MISSING, n ? n->start : end, NULL };
	}
	*run_end = r.end < end ? r.end : end;
	assert(*run_end > addr);
	return r.ptr;
}

bool cprof_core_try_read(const struct cprof_core *core, uint64_t addr,
			 void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		const struct cprof_segment *s = cprof_core_segment(core, addr);
		if (!s)
			return false;
		struct run r = segment_run(core, s, addr);
		if (!r.ptr)
			return false;
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

struct cprof_error *cprof_core_read(const struct cprof_core *core,
				    uint64_t addr, void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		const struct cprof_segment *s = cprof_core_segment(core, addr);
		if (!s)
			return cprof_error_fault(core->path, addr,
						 "address is not mapped in the core");
		struct run r = segment_run(core, s, addr);
		if (!r.ptr)
			return cprof_error_fault(core->path, addr,
						 s->file >= 0 && addr - s->start >= s->declared_bytes ?
						 "memory not saved in the core and its file is not available" :
						 "memory not saved in the core");
		uint64_t n = r.end - addr;
		if (n > len)
			n = len;
		memcpy(out, r.ptr, n);
		out += n;
		addr += n;
		len -= n;
	}
	return NULL;
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
