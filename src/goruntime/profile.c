/*
 * profile.c - the Go memory profiler's records, read from a core (see
 * cprof_go_profile_read in include/cprof/goruntime.h).
 *
 * The runtime (mprof.go, mheap.go) ties each sampled allocation to its
 * call stack so: mProf_Malloc finds or makes a runtime.bucket for the stack
 * and setprofilebucket adds a runtime.specialprofile {special; b *bucket} to
 * the object's span.  mspan.specials is a list linked by special.next, sorted
 * by (offset, kind); offset is the object's address less span.startAddr.  The
 * address given is mallocgc's x: past the 8-byte malloc header when there is
 * one, so the slot is the offset rounded down to elemsize.  A bucket is its
 * header followed by nstk PCs and then a memRecord (bucket.stk(), .mp()).
 *
 * The sweeper removes an object's special when it frees the object, so the
 * records are those of every object not yet swept free.
 *
 * Offsets and constants come from DWARF; only the pointer size (8) and the
 * bucket's trailing stack (the runtime's "sleazy, inherited from C" layout)
 * are known here.
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/chain.h"
#include "goruntime-internal.h"

enum {
	EXTRA_SPECIALS = 64,       /* beyond one per object: finalizers, weak handles... */
	SPECIALS_PER_OBJECT = 8,   /* an object may have several kinds (and cleanups) */
	MAX_SPANS = 1 << 26,       /* 256 TiB of 4 KiB spans: beyond, allspans is bad */
	MAX_STRUCT = 128,          /* runtime.special is 24 bytes, runtime.bucket 48 */
	MAX_BUCKETS = 1 << 22,     /* runtime.mbuckets: beyond, the chain is bad */
};

/* A record found on a span, before its bucket is read. */
struct raw {
	uint64_t slot, object, bucket;
};

struct raws {
	struct raw *a;
	size_t n, cap;
	struct cprof_go_special *sp;       /* root specials */
	size_t n_sp, cap_sp;
};

/* ---- layouts ---- */

/* The layout's profile part (src/goruntime/layout.c), or why it is missing. */
static struct cprof_error *read_layout(const struct cprof_go_runtime *rt,
				       const struct go_layout **ret)
{
	const struct go_layout *l = &rt->priv->l;
	*ret = l;
	if (l->profile_missing)
		return cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
					  "%s: %s is not in its DWARF: the memory profile cannot be read",
					  rt->module->name, l->profile_missing);
	/* Specials and bucket headers are read into stack buffers. */
	if (l->special_size > MAX_STRUCT || l->bucket_size > MAX_STRUCT)
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED,
					  "%s: runtime.special or runtime.bucket is bigger than %d bytes",
					  rt->module->name, MAX_STRUCT);
	return NULL;
}

/* ---- the specials of the spans ---- */

static struct cprof_error *raws_add(struct raws *r, uint64_t slot, uint64_t object,
				    uint64_t bucket)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 1024;
		struct raw *a = realloc(r->a, cap * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		r->a = a;
		r->cap = cap;
	}
	r->a[r->n++] = (struct raw){ slot, object, bucket };
	return NULL;
}

/* Reads a core word, warning (and false) when it is not there. */
static bool read_warn(struct cprof_core *core, uint64_t addr, void *buf, size_t len,
		      const char *what, uint64_t base)
{
	struct cprof_error *e = cprof_core_read(core, addr, buf, len);
	if (!e)
		return true;
	cprof_warn(core->warnings, "%s: Go memory profile: span at 0x%llx: %s: %s",
		   core->path, (unsigned long long)base, what, e->message);
	cprof_error_destroy(e);
	return false;
}

/* An in-use span, as far as its records need it. */
struct span {
	uint64_t base, bytes, elemsize, specials, nelems;
	bool header;               /* objects start 8 bytes into their slot */
};

/* The slot holding the object at span offset off, or false when off is not
 * where the runtime would have put an object. */
static bool slot_of(const struct go_layout *l, const struct span *s, uint64_t off,
		    uint64_t *slot)
{
	if (off >= s->bytes)
		return false;
	uint64_t in = off % s->elemsize;
	if (in != 0 && !(s->header && in == (uint64_t)l->header_size))
		return false;
	*slot = s->base + off - in;
	return true;
}

/* Keeps the specialprofile at p (span offset off): its slot and bucket. */
static struct cprof_error *keep_record(struct cprof_core *core, const struct go_layout *l,
				       const struct span *s, uint64_t p, uint64_t off,
				       struct raws *out)
{
	uint64_t slot, b;
	if (!slot_of(l, s, off, &slot)) {
		cprof_warn(core->warnings, "%s: Go memory profile: span at 0x%llx: a profile record at offset 0x%llx, not an object's; skipped",
			   core->path, (unsigned long long)s->base, (unsigned long long)off);
		return NULL;
	}
	if (!read_warn(core, p + l->profile_b, &b, 8, "a profile record (skipped)", s->base) || !b)
		return NULL;
	return raws_add(out, slot, slot + (s->header ? l->header_size : 0), b);
}

/* Keeps the special at p (span offset off) when the collector scans it as a
 * root; the object is the one whose slot holds off (a finalizer may be set
 * on an inner byte). */
static struct cprof_error *keep_root_special(const struct go_layout *l, const struct span *s,
					     uint64_t p, uint64_t off, uint64_t kind,
					     struct raws *out)
{
	int i = 0;
	while (i < 3 && (l->roots[i].off < 0 || kind != (uint64_t)l->roots[i].kind))
		i++;
	if (i == 3 || off >= s->bytes)
		return NULL;
	if (out->n_sp == out->cap_sp) {
		size_t cap = out->cap_sp ? 2 * out->cap_sp : 64;
		struct cprof_go_special *a = realloc(out->sp, cap * sizeof(*a));
		if (!a)
			return &cprof_enomem;
		out->sp = a;
		out->cap_sp = cap;
	}
	uint64_t hdr = s->header ? (uint64_t)l->header_size : 0;
	out->sp[out->n_sp++] = (struct cprof_go_special){
		.kind = (enum cprof_go_special_kind)i,
		.object = s->base + off / s->elemsize * s->elemsize + hdr,
		.size = s->elemsize - hdr,
		.root = p + (uint64_t)l->roots[i].off,
		.root_len = (uint64_t)l->roots[i].len,
	};
	return NULL;
}

/* Walks one span's specials list, keeping the profile records.  The list is
 * sorted by (offset, kind): going backwards means a corrupt list (or a cycle). */
static struct cprof_error *span_specials(struct cprof_core *core, const struct go_layout *l,
					 const struct span *s, struct raws *out)
{
	/* nelems is a uint16: a bad npages cannot make this bound huge. */
	uint64_t max = s->nelems * SPECIALS_PER_OBJECT + EXTRA_SPECIALS;
	uint64_t prev_off = 0, prev_kind = 0;
	uint8_t buf[MAX_STRUCT];
	uint64_t p = s->specials;
	for (uint64_t n = 0; p; n++) {
		if (n == max) {
			cprof_warn(core->warnings, "%s: Go memory profile: span at 0x%llx: more than %llu specials (a cycle?); the rest skipped",
				   core->path, (unsigned long long)s->base, (unsigned long long)max);
			break;
		}
		if (!read_warn(core, p, buf, l->special_size,
			       "a special (the rest of the list skipped)", s->base))
			break;
		uint64_t off = go_get(buf, &l->special[SPECIAL_OFFSET]);
		uint64_t kind = go_get(buf, &l->special[SPECIAL_KIND]);
		/* Equal keys are legal only for repeated cleanups: an object has
		 * at most one record of every other kind, so a repeat is a loop. */
		bool loop = n && off == prev_off && kind == prev_kind &&
			    kind != (uint64_t)l->roots[CPROF_GO_CLEANUP].kind;
		if (off < prev_off || (off == prev_off && kind < prev_kind) || loop) {
			cprof_warn(core->warnings, "%s: Go memory profile: span at 0x%llx: specials out of order at 0x%llx; the rest skipped",
				   core->path, (unsigned long long)s->base, (unsigned long long)p);
			break;
		}
		prev_off = off;
		prev_kind = kind;
		struct cprof_error *err;
		if (kind == (uint64_t)l->kind_profile &&
		    (err = keep_record(core, l, s, p, off, out)))
			return err;
		if ((err = keep_root_special(l, s, p, off, kind, out)))
			return err;
		p = go_get(buf, &l->special[SPECIAL_NEXT]);
	}
	return NULL;
}

/* Reads the in-use span at addr and its records; bad spans are warned about. */
static struct cprof_error *one_span(struct cprof_core *core, const struct go_layout *l,
				    uint64_t addr, uint8_t *buf, struct raws *out)
{
	struct cprof_error *e = cprof_core_read(core, addr, buf, l->span_size);
	if (e) {
		cprof_warn(core->warnings, "%s: Go memory profile: span 0x%llx: %s; skipped",
			   core->path, (unsigned long long)addr, e->message);
		cprof_error_destroy(e);
		return NULL;
	}
	if (go_get(buf, &l->span[SPAN_STATE]) != (uint64_t)l->span_in_use)
		return NULL;
	uint64_t cls = go_get(buf, &l->span[SPAN_CLASS]);
	struct span s = {
		.base = go_get(buf, &l->span[SPAN_START]),
		.bytes = go_get(buf, &l->span[SPAN_NPAGES]) * (uint64_t)l->page_size,
		.elemsize = go_get(buf, &l->span[SPAN_ELEMSIZE]),
		.specials = go_get(buf, &l->span[SPAN_SPECIALS]),
		.nelems = go_get(buf, &l->span[SPAN_NELEMS]),
	};
	if (!s.specials)
		return NULL;
	/* mallocgc's header cut-off: size classes (cls >> 1) with pointers
	 * (not noscan, cls & 1) bigger than minSizeForMallocHeader. */
	s.header = (cls >> 1) && !(cls & 1) && s.elemsize > (uint64_t)l->min_header;
	if (!s.elemsize || s.elemsize > s.bytes) {
		cprof_warn(core->warnings, "%s: Go memory profile: span at 0x%llx: bad elemsize %llu for %llu bytes; skipped",
			   core->path, (unsigned long long)s.base,
			   (unsigned long long)s.elemsize, (unsigned long long)s.bytes);
		return NULL;
	}
	return span_specials(core, l, &s, out);
}

/* Every in-use span of mheap_.allspans ({array, len, cap}). */
static struct cprof_error *all_spans(struct cprof_core *core, const struct cprof_go_runtime *rt,
				     const struct go_layout *l, struct raws *out)
{
	uint64_t spans[2];
	struct cprof_error *err = cprof_core_read(core, rt->mheap + l->h_allspans, spans, sizeof(spans));
	if (err)
		return cprof_error_prefix(err, "%s: runtime.mheap_.allspans", rt->module->name);
	if (spans[1] > MAX_SPANS) {
		cprof_warn(core->warnings, "%s: Go memory profile: runtime.mheap_.allspans has %llu spans; only the first %d read",
			   core->path, (unsigned long long)spans[1], MAX_SPANS);
		spans[1] = MAX_SPANS;
	}
	uint8_t *buf = malloc(l->span_size);
	if (!buf)
		return &cprof_enomem;
	for (uint64_t i = 0; i < spans[1] && !err; i++) {
		uint64_t s;
		struct cprof_error *e = cprof_core_read_u64(core, spans[0] + 8 * i, &s);
		if (e) {
			cprof_warn(core->warnings, "%s: Go memory profile: span %llu of allspans: %s; skipped",
				   core->path, (unsigned long long)i, e->message);
			cprof_error_destroy(e);
			continue;
		}
		err = one_span(core, l, s, buf, out);
	}
	free(buf);
	return err;
}

/* ---- the buckets ---- */

/* Reads the bucket at addr into site; false (with a warning) when it is
 * unreadable or not a memory-profile bucket. */
static bool read_bucket(struct cprof_core *core, const struct go_layout *l, uint64_t addr,
			struct cprof_go_site *site, struct cprof_error **err)
{
	uint8_t buf[MAX_STRUCT];
	const char *bad = NULL;
	struct cprof_error *e = cprof_core_read(core, addr, buf, l->bucket_size);
	if (e)
		bad = e->message;
	uint64_t nstk = bad ? 0 : go_get(buf, &l->bucket[BUCKET_NSTK]);
	if (!bad && l->mem_profile >= 0 &&
	    go_get(buf, &l->bucket[BUCKET_TYP]) != (uint64_t)l->mem_profile)
		bad = "not a memory profile bucket";
	else if (!bad && nstk > (uint64_t)l->max_stack)
		bad = "its stack is longer than maxProfStackDepth";
	*site = (struct cprof_go_site){ .bucket = addr, .n_pcs = nstk };
	if (!bad && !(site->pcs = malloc((nstk ? nstk : 1) * 8))) {
		*err = &cprof_enomem;
		return false;
	}
	if (!bad && (e = cprof_core_read(core, addr + l->bucket_size, site->pcs, nstk * 8)))
		bad = e->message;
	if (bad) {
		cprof_warn(core->warnings, "%s: Go memory profile: bucket at 0x%llx: %s; its records skipped",
			   core->path, (unsigned long long)addr, bad);
		cprof_error_destroy(e);
		free(site->pcs);
		site->pcs = NULL;
		return false;
	}
	site->size = go_get(buf, &l->bucket[BUCKET_SIZE]);
	return true;
}

static int raw_by_bucket(const void *a, const void *b)
{
	const struct raw *x = a, *y = b;
	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int sample_by_slot(const void *a, const void *b)
{
	const struct cprof_go_sample *x = a, *y = b;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Turns the records into samples and one site per bucket (read once: the
 * records are sorted by bucket first). */
static struct cprof_error *to_profile(struct cprof_core *core, const struct go_layout *l,
				      struct raws *r, struct cprof_go_profile *p)
{
	if (r->n)          /* qsort's array may not be NULL, even empty */
		qsort(r->a, r->n, sizeof(*r->a), raw_by_bucket);
	size_t n_buckets = 0;
	for (size_t i = 0; i < r->n; i++)
		n_buckets += !i || r->a[i].bucket != r->a[i - 1].bucket;
	p->samples = malloc((r->n ? r->n : 1) * sizeof(*p->samples));
	p->sites = calloc(n_buckets ? n_buckets : 1, sizeof(*p->sites));
	if (!p->samples || !p->sites)
		return &cprof_enomem;
	bool ok = false;
	for (size_t i = 0; i < r->n; i++) {
		struct cprof_error *err = NULL;
		if (!i || r->a[i].bucket != r->a[i - 1].bucket) {
			ok = read_bucket(core, l, r->a[i].bucket, &p->sites[p->n_sites], &err);
			if (err)
				return err;
			p->n_sites += ok;
		}
		if (ok)
			p->samples[p->n_samples++] = (struct cprof_go_sample){
				r->a[i].slot, r->a[i].object, (uint32_t)(p->n_sites - 1) };
	}
	qsort(p->samples, p->n_samples, sizeof(*p->samples), sample_by_slot);
	return NULL;
}

/* runtime.MemProfileRate (an int); 0 with a warning when unreadable. */
static uint64_t profile_rate(struct cprof_core *core, const struct cprof_go_runtime *rt)
{
	uint64_t addr, rate = 0;
	if (!cprof_core_find_symbol(core, rt->module, "runtime.MemProfileRate", &addr, NULL)) {
		cprof_warn(core->warnings, "%s: Go memory profile: no symbol runtime.MemProfileRate",
			   core->path);
		return 0;
	}
	struct cprof_error *e = cprof_core_read_u64(core, addr, &rate);
	if (e) {
		cprof_warn(core->warnings, "%s: Go memory profile: runtime.MemProfileRate: %s",
			   core->path, e->message);
		cprof_error_destroy(e);
	}
	return rate;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A bucket's allnext, for cprof_chain_length (0: unreadable, or the end). */
struct bucket_chain {
	struct cprof_core *core;
	const struct go_layout *l;
};

static uint64_t bucket_next(void *arg, uint64_t b)
{
	const struct bucket_chain *bc = arg;
	uint8_t buf[MAX_STRUCT];
	if (bc->l->bucket_size > sizeof(buf) ||
	    !cprof_core_try_read(bc->core, b, buf, bc->l->bucket_size))
		return 0;
	return go_get(buf, &bc->l->bucket[BUCKET_ALLNEXT]);
}

/*
 * Every bucket of the memory profile (runtime.mbuckets, chained by allnext),
 * the ones no live object's record names too: a heap profile has a sample
 * per bucket, freed objects' included, and pairing one with the core needs
 * them all.  They are appended to p->sites (the samples' indexes stay).
 */
static struct cprof_error *all_buckets(struct cprof_core *core, const struct cprof_go_runtime *rt,
				       const struct go_layout *l, struct cprof_go_profile *p)
{
	uint64_t head, addr;
	if (l->bucket[BUCKET_ALLNEXT].off < 0 ||
	    !cprof_core_find_symbol(core, rt->module, "runtime.mbuckets", &addr, NULL))
		return NULL;
	struct cprof_error *e = cprof_core_read_u64(core, addr, &head);
	if (e) {
		cprof_warn(core->warnings, "%s: Go memory profile: runtime.mbuckets: %s",
			   core->path, e->message);
		cprof_error_destroy(e);
		return NULL;
	}
	uint64_t *known = malloc((p->n_sites + 1) * sizeof(*known));
	if (!known)
		return &cprof_enomem;
	for (size_t i = 0; i < p->n_sites; i++)
		known[i] = p->sites[i].bucket;
	size_t n_known = p->n_sites, cap = p->n_sites;
	qsort(known, n_known, sizeof(*known), u64_cmp);
	struct cprof_error *err = NULL;
	uint8_t buf[MAX_STRUCT];
	/* Each bucket once: a chain that loops would append the same bucket
	   MAX_BUCKETS times (4M sites) - counted first, cycles cut. */
	struct bucket_chain bc = { core, l };
	bool loops;
	uint64_t distinct = cprof_chain_length(bucket_next, &bc, head, MAX_BUCKETS, &loops);
	if (loops)
		cprof_warn(core->warnings, "%s: Go memory profile: runtime.mbuckets (allnext) loops after %llu buckets; each is read once",
			   core->path, (unsigned long long)distinct);
	else if (distinct == MAX_BUCKETS)
		cprof_warn(core->warnings, "%s: Go memory profile: more than %d buckets in runtime.mbuckets; the rest skipped",
			   core->path, MAX_BUCKETS);
	uint64_t n = 0;
	for (uint64_t b = head; b && !err && n < distinct; n++) {
		if ((e = cprof_core_read(core, b, buf, l->bucket_size))) {
			cprof_warn(core->warnings, "%s: Go memory profile: bucket at 0x%llx: %s; the rest of runtime.mbuckets skipped",
				   core->path, (unsigned long long)b, e->message);
			cprof_error_destroy(e);
			break;
		}
		uint64_t next = go_get(buf, &l->bucket[BUCKET_ALLNEXT]);
		if (!bsearch(&b, known, n_known, sizeof(*known), u64_cmp)) {
			if (p->n_sites == cap) {
				cap = cap ? 2 * cap : 64;
				struct cprof_go_site *a = realloc(p->sites, cap * sizeof(*a));
				if (!a) {
					err = &cprof_enomem;
					break;
				}
				p->sites = a;
			}
			p->n_sites += read_bucket(core, l, b, &p->sites[p->n_sites], &err);
		}
		b = next;
	}
	free(known);
	return err;
}

struct cprof_error *cprof_go_profile_read(struct cprof_core *core,
					  const struct cprof_go_runtime *rt,
					  struct cprof_go_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	const struct go_layout *l;
	struct cprof_error *err = read_layout(rt, &l);
	if (err)
		return err;
	ret->rate = profile_rate(core, rt);
	struct raws r = { 0 };
	err = all_spans(core, rt, l, &r);
	if (!err)
		err = to_profile(core, l, &r, ret);
	if (!err)
		err = all_buckets(core, rt, l, ret);
	free(r.a);
	ret->specials = r.sp;
	ret->n_specials = r.n_sp;
	if (err)
		cprof_go_profile_deinit(ret);
	return err;
}

void cprof_go_profile_deinit(struct cprof_go_profile *p)
{
	for (size_t i = 0; i < p->n_sites; i++)
		free(p->sites[i].pcs);
	free(p->sites);
	free(p->samples);
	free(p->specials);
	memset(p, 0, sizeof(*p));
}
