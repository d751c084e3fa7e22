/*
 * profile.c - pairing a heap profile with the core (cprof_store_profile,
 * include/cprof/store.h): the tables profile and profile_sample.
 *
 * A profile comes from the same binary when its main mapping's build id is
 * a module's (else a warning, and nothing is paired); a legacy text profile
 * (gperftools', jemalloc's), which names no build id, from the same process
 * when its code mappings are the core's, file for file at the same address
 * (else nothing is paired, and the profile's reason says why).  Nothing is
 * paired either when the core holds no allocation records: gperftools' heap
 * profiler keeps its own, which cprof-core does not read.  A sample is the
 * core's allocation record (site) with the same stack of program counters:
 * the profile's return addresses (Go writes the call, return address - 1)
 * are the site's PCs from where the profile's stack starts - Go's profiles
 * leave out the runtime's frames above the first of the program's, and
 * runtime.goexit - in order, the site's other PCs being the extra PCs the
 * runtime records for inlined calls, which the profile folds into their
 * location.  Legacy text profiles keep every frame: their stack may start at
 * the site's innermost PC too.  Each sample compares its first PC with each
 * site's (samples x sites; a profile has thousands of each).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/pprof.h"
#include "store-internal.h"

struct site_pcs {
	uint64_t id;
	uint64_t *pcs;
	bool *hidden;              /* Go's profiles show none of these frames */
	bool *inlined;             /* a call inlined into the next pc's frame */
	size_t n, shown;           /* pcs, the first not hidden */
};

static void sites_free(struct site_pcs *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].pcs);
		free(s[i].hidden);
		free(s[i].inlined);
	}
	free(s);
}

/* A frame Go's heap profiles leave out at the top of a stack (writeHeapProto
 * hides the runtime's allocation frames) or at its end (runtime.goexit). */
static bool runtime_frame(const char *f)
{
	return f && (!strncmp(f, "runtime.", 8) || !strncmp(f, "internal/runtime/", 17));
}

static struct cprof_error *load_sites(struct cprof_store *st, struct site_pcs **ret, size_t *n_ret)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st, "SELECT site_id, pc, function, inlined FROM site_frame"
						    " ORDER BY site_id, depth", &s);
	struct site_pcs *a = NULL;
	size_t n = 0, cap = 0;
	while (!err && sqlite3_step(s) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
		if (!n || a[n - 1].id != id) {
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				struct site_pcs *b = realloc(a, cap * sizeof(*b));
				if (!b) {
					err = &cprof_enomem;
					break;
				}
				a = b;
			}
			a[n++] = (struct site_pcs){ .id = id };
		}
		struct site_pcs *x = &a[n - 1];
		uint64_t *p = realloc(x->pcs, (x->n + 1) * sizeof(*p));
		bool *h = realloc(x->hidden, (x->n + 1) * sizeof(*h));
		bool *in = h ? realloc(x->inlined, (x->n + 1) * sizeof(*in)) : NULL;
		x->pcs = p ? p : x->pcs;
		x->hidden = h ? h : x->hidden;
		x->inlined = in ? in : x->inlined;
		if (!p || !h || !in) {
			err = &cprof_enomem;
			break;
		}
		const char *f = (const char *)sqlite3_column_text(s, 2);
		x->pcs[x->n] = (uint64_t)sqlite3_column_int64(s, 1);
		x->inlined[x->n] = sqlite3_column_int(s, 3) != 0;
		x->hidden[x->n++] = runtime_frame(f);
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < n; i++) {
		while (a[i].shown < a[i].n && a[i].hidden[a[i].shown])
			a[i].shown++;
		if (a[i].shown == a[i].n)          /* all the runtime's: Go shows all */
			a[i].shown = 0;
	}
	if (err) {
		sites_free(a, n);
		return err;
	}
	*ret = a;
	*n_ret = n;
	return NULL;
}

/* Whether the profile's stack (return addresses pcs) is site s's from k. */
static bool same_stack(const struct site_pcs *s, size_t k, const uint64_t *pcs, size_t n)
{
	size_t j = 0;
	for (; k < s->n && j < n; k++)
		if (s->pcs[k] == pcs[j])
			j++;
		else if (!j)
			return false;
	if (j < n)
		return false;
	/* the calls the last matched one was inlined into: one machine frame,
	   one pc in the profile (its innermost call's) */
	while (k < s->n && s->inlined[k - 1])
		k++;
	/* what is left of the site: the frame every goroutine ends in */
	for (; k < s->n; k++)
		if (!s->hidden[k])
			return false;
	return true;
}

/* The site whose stack is the profile's, or NULL. */
static const struct site_pcs *match(const struct site_pcs *sites, size_t n_sites,
				    const uint64_t *pcs, size_t n, bool legacy)
{
	if (!n)
		return NULL;
	for (size_t i = 0; i < n_sites; i++) {
		const struct site_pcs *s = &sites[i];
		/* the first frame shown may be an inlined call's pc: a profile
		   that holds one pc for the machine frame starts at any of its
		   calls (a channel made in context.(*cancelCtx).Done inlined into
		   a badger goroutine paired with nothing) */
		for (size_t k = s->shown; k < s->n; k++) {
			if (s->pcs[k] == pcs[0] && same_stack(s, k, pcs, n))
				return s;
			if (!s->inlined[k])
				break;
		}
		if (legacy && s->n && s->pcs[0] == pcs[0] && same_stack(s, 0, pcs, n))
			return s;
	}
	return NULL;
}

/* The profile's main mapping's build id and whether a module has it. */
static struct cprof_error *check_build_id(struct cprof_store *st,
					  const struct cprof_pprof_profile *p,
					  const char **build_id, bool *ok)
{
	*build_id = NULL;
	*ok = true;
	for (size_t i = 0; i < p->n_mappings && !*build_id; i++)
		if (p->mappings[i].build_id[0])
			*build_id = p->mappings[i].build_id;
	if (!*build_id)
		return NULL;
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st, "SELECT count(*) FROM module WHERE build_id = ?", &s);
	if (err)
		return err;
	sqlite3_bind_text(s, 1, *build_id, -1, SQLITE_STATIC);
	*ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0;
	sqlite3_finalize(s);
	return NULL;
}

/*
 * A legacy text profile names no build id but lists the process's code
 * mappings (MAPPED_LIBRARIES: its /proc/PID/maps): a profile of the core's
 * process has each of them in the core, the same file at the same address.
 * Programs run without address randomization put their libraries at the same
 * addresses: only the whole list tells them apart (their executables).
 * *same: none of its code mappings of files differs from the core's;
 * *checked: some were compared; reason: what was found.
 */
static struct cprof_error *check_mappings(struct cprof_store *st,
					  const struct cprof_pprof_profile *p, bool *same,
					  bool *checked, char *reason, size_t size)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st, "SELECT count(*), count(*) FILTER (WHERE start = ?)"
						    " FROM mapping WHERE file = ?", &s);
	size_t n_same = 0;
	const struct cprof_pprof_mapping *other = NULL;
	bool elsewhere = false;
	for (size_t i = 0; !err && i < p->n_mappings && !other; i++) {
		const struct cprof_pprof_mapping *m = &p->mappings[i];
		if (m->file[0] != '/')
			continue;          /* [vdso], anonymous code */
		store_bind_u64(s, 1, m->start);
		store_bind_text(s, 2, m->file);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 1) > 0) {
			n_same++;
		} else {
			other = m;
			elsewhere = sqlite3_column_int64(s, 0) > 0;
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	*same = !err && !other;
	*checked = n_same || other;
	if (other)
		snprintf(reason, size, "it maps %s at 0x%llx, %s: another process", other->file,
			 (unsigned long long)other->start,
			 elsewhere ? "the core elsewhere" : "which the core does not map");
	else if (!n_same)
		snprintf(reason, size, "it names no build id and no code mapping of a file: not checked");
	else
		snprintf(reason, size, "no build id; its %zu code mappings of files are the core's, address for address",
			 n_same);
	return err;
}

/* Whether the core has allocation records (sites) to pair with. */
static const char *no_sites_reason(const struct cprof_pprof_profile *p)
{
	if (!strcmp(p->format, "gperftools heap"))
		return "gperftools' heap profiler keeps its records in its own table, which"
		       " cprof-core does not read: nothing to pair with";
	return "the core holds no allocation records to pair with (Go's memory profiler's,"
	       " jemalloc's prof:true)";
}

/* Whether the profile is the core's program (ret: same_binary, build_id_checked,
 * paired_any, reason) and its build id. */
static struct cprof_error *identify(struct cprof_store *st, const struct cprof_pprof_profile *p,
				    size_t n_sites, const char **build_id,
				    struct cprof_profile_pairing *ret)
{
	bool same;
	struct cprof_error *err = check_build_id(st, p, build_id, &same);
	ret->same_binary = same;
	ret->build_id_checked = *build_id != NULL;
	if (!err && !same)
		snprintf(ret->reason, sizeof(ret->reason), "its build id is no module's: another binary");
	else if (!err && !*build_id && p->return_addresses)
		err = check_mappings(st, p, &same, &ret->build_id_checked, ret->reason,
				     sizeof(ret->reason));
	else if (!err && !*build_id)
		snprintf(ret->reason, sizeof(ret->reason), "the profile names no build id: not checked");
	if (!err && same && !n_sites)
		snprintf(ret->reason, sizeof(ret->reason), "%s", no_sites_reason(p));
	ret->paired_any = same && n_sites;
	return err;
}

static void bind_value(sqlite3_stmt *s, int col, const struct cprof_pprof_sample *x, int i)
{
	if (i < 0)
		sqlite3_bind_null(s, col);
	else
		sqlite3_bind_int64(s, col, x->values[i]);
}

/* The sample's stack as text: its functions, or its addresses. */
static void stack_text(const struct cprof_pprof_sample *x, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < x->n_addrs && len + 1 < size; k++) {
		int w = x->functions && x->functions[k] ?
			snprintf(buf + len, size - len, "%s%s", k ? "\n" : "", x->functions[k]) :
			snprintf(buf + len, size - len, "%s0x%llx", k ? "\n" : "",
				 (unsigned long long)x->addrs[k]);
		len += w > 0 ? (size_t)w : 0;
	}
}

static struct cprof_error *insert_samples(struct cprof_store *st,
					  const struct cprof_pprof_profile *p, bool pair,
					  const struct site_pcs *sites, size_t n_sites,
					  struct cprof_profile_pairing *ret)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st, "INSERT INTO profile_sample VALUES"
						    " (?, 0, ?, ?, ?, ?, ?, ?, ?)", &s);
	int idx[4] = { cprof_pprof_type_index(p, "inuse_objects"),
		       cprof_pprof_type_index(p, "inuse_space"),
		       cprof_pprof_type_index(p, "alloc_objects"),
		       cprof_pprof_type_index(p, "alloc_space") };
	size_t most = 1;
	for (size_t i = 0; i < p->n_samples; i++)
		most = p->samples[i].n_addrs > most ? p->samples[i].n_addrs : most;
	uint64_t *pcs = malloc(most * sizeof(*pcs));
	char *text = malloc(8192);
	if (!err && (!pcs || !text))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < p->n_samples; i++) {
		const struct cprof_pprof_sample *x = &p->samples[i];
		for (size_t k = 0; k < x->n_addrs; k++)
			pcs[k] = x->addrs[k] + !p->return_addresses;
		const struct site_pcs *site = pair ? match(sites, n_sites, pcs, x->n_addrs,
							   p->return_addresses) : NULL;
		ret->samples++;
		ret->paired += site != NULL;
		store_bind_u64(s, 1, i);
		if (site)
			store_bind_u64(s, 2, site->id);
		else
			sqlite3_bind_null(s, 2);
		stack_text(x, text, 8192);
		store_bind_text(s, 3, text);
		for (int k = 0; k < 4; k++)
			bind_value(s, 4 + k, x, idx[k]);
		if (x->bytes)
			sqlite3_bind_int64(s, 8, x->bytes);
		err = store_step(st, s);
	}
	free(pcs);
	free(text);
	sqlite3_finalize(s);
	return err;
}

struct cprof_error *cprof_store_profile(struct cprof_store *st, const char *path,
					const struct cprof_pprof_profile *p,
					struct cprof_profile_pairing *ret)
{
	memset(ret, 0, sizeof(*ret));
	const char *build_id;
	struct site_pcs *sites = NULL;
	size_t n_sites = 0;
	struct cprof_error *err = load_sites(st, &sites, &n_sites);
	if (!err)
		err = identify(st, p, n_sites, &build_id, ret);
	if (err) {
		sites_free(sites, n_sites);
		return err;
	}
	sqlite3_stmt *s;
	if (!(err = store_prepare(st, "INSERT INTO profile VALUES (0, ?, ?, ?, ?, ?, ?, ?)", &s))) {
		store_bind_text(s, 1, path);
		store_bind_text(s, 2, p->format);
		sqlite3_bind_int64(s, 3, p->period);
		sqlite3_bind_int64(s, 4, p->time_nanos);
		store_bind_text(s, 5, build_id);
		sqlite3_bind_int(s, 6, ret->paired_any);
		store_bind_text(s, 7, ret->reason[0] ? ret->reason : NULL);
		err = store_step(st, s);
		sqlite3_finalize(s);
	}
	if (!err)
		err = insert_samples(st, p, ret->paired_any, sites, n_sites, ret);
	sites_free(sites, n_sites);
	return err;
}

/* ---- the paired profile's report ---- */

static struct cprof_error *q_error(sqlite3 *db, const char *path, const char *what)
{
	if (strstr(sqlite3_errmsg(db), "no such table"))
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: %s: written by an older cprof-core: run 'cprof-core analyze' again",
					  path, what);
	return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

static struct cprof_profile_site *site_row(struct cprof_profile_report *r, const char *name)
{
	for (size_t i = 0; i < r->n_sites; i++)
		if (!strcmp(r->sites[i].name, name))
			return &r->sites[i];
	struct cprof_profile_site *a = realloc(r->sites, (r->n_sites + 1) * sizeof(*a));
	if (!a)
		return NULL;
	r->sites = a;
	a = &a[r->n_sites++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	return a;
}

/*
 * What a profiler that samples one allocation per `period` bytes on average
 * estimates from `count` sampled objects of `bytes` in all: each stands for
 * 1 / (1 - exp(-avg / period)) of its kind (the scaling of Go's
 * scaleHeapSample, jeprof's and gperftools' pprof for heap_v2).  Added to
 * *objects and *bytes; unscaled when every allocation is sampled.
 */
static void scale_sample(int64_t count, int64_t bytes, int64_t period, int64_t *objects,
			 int64_t *ret_bytes)
{
	if (count <= 0 || bytes <= 0)
		return;
	double scale = 1;
	if (period > 1)
		scale = 1 / (1 - exp(-((double)bytes / (double)count) / (double)period));
	*objects += (int64_t)((double)count * scale);
	*ret_bytes += (int64_t)((double)bytes * scale);
}

/* Per site name: the profile's in-use figures (1), the core's records (2),
 * and the root retaining most of them (3).  Go's garbage (unreachable, freed
 * by the next collection) is left out of the core's side: growth is what the
 * program holds, as in diff (a new user saw +2.00 MiB at a site made of
 * three garbage records, each scaled by the sampling rate). */
static struct cprof_error *profile_sites(sqlite3 *db, const char *path,
					 struct cprof_profile_report *r)
{
	/* Go's profile.proto scales its samples by the period; the text
	   profiles' values are the sampled objects themselves */
	bool scaled = !strcmp(r->format, "profile.proto");
	static const char *const sql[3] = {
		"SELECT s.name, sum(ps.inuse_objects), sum(ps.inuse_space) FROM profile_sample ps"
		" JOIN site s ON s.id = ps.site_id GROUP BY s.name",
		"SELECT s.name, count(*), sum(coalesce(nullif(s.size, 0), o.size)), sum(o.size)"
		" FROM object_site os"
		" JOIN site s ON s.id = os.site_id JOIN object o ON o.id = os.object_id"
		" WHERE o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage' GROUP BY s.id",
		"SELECT coalesce(n.name, '(shared)'), count(*) FROM object o"
		" JOIN object_site os ON os.object_id = o.id JOIN site s ON s.id = os.site_id"
		" LEFT JOIN root_node n ON n.id = o.retaining_root"
		" WHERE s.name = ? AND o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage'"
		" GROUP BY 1 ORDER BY sum(o.size) DESC LIMIT 1",
	};
	struct cprof_error *err = NULL;
	for (int q = 0; q < 2 && !err; q++) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, sql[q], -1, &s, NULL) != SQLITE_OK)
			return q_error(db, path, "profile");
		while (!err && sqlite3_step(s) == SQLITE_ROW) {
			struct cprof_profile_site *x = site_row(r, (const char *)sqlite3_column_text(s, 0));
			if (!x) {
				err = &cprof_enomem;
				break;
			}
			if (q == 0) {
				x->profile_objects = sqlite3_column_int64(s, 1);
				x->profile_bytes = sqlite3_column_int64(s, 2);
				x->in_profile = true;
			} else {
				/* one record (Go's bucket) a row, summed by name:
				   the estimate is scaled per record, as the
				   profile's samples are */
				int64_t n = sqlite3_column_int64(s, 1), bytes = sqlite3_column_int64(s, 2);
				x->objects += (uint64_t)n;
				x->bytes += (uint64_t)bytes;
				x->object_bytes += (uint64_t)sqlite3_column_int64(s, 3);
				scale_sample(n, bytes, scaled ? r->period : 1, &x->estimate_objects,
					     &x->estimate_bytes);
			}
		}
		sqlite3_finalize(s);
	}
	sqlite3_stmt *s;
	if (!err && sqlite3_prepare_v2(db, sql[2], -1, &s, NULL) != SQLITE_OK)
		return q_error(db, path, "profile");
	for (size_t i = 0; !err && i < r->n_sites; i++) {
		sqlite3_bind_text(s, 1, r->sites[i].name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			snprintf(r->sites[i].root, sizeof(r->sites[i].root), "%s",
				 (const char *)sqlite3_column_text(s, 0));
		sqlite3_reset(s);
	}
	if (!err)
		sqlite3_finalize(s);
	/* what they retain, counting nothing twice: histogram --by site's */
	struct cprof_group_row *g = NULL;
	size_t n = 0;
	if (!err)
		err = cprof_query_groups(db, path, CPROF_BY_SITE, NULL, &g, &n);
	for (size_t i = 0; !err && i < n; i++)
		for (size_t k = 0; k < r->n_sites; k++)
			if (!strcmp(r->sites[k].name, g[i].key))
				r->sites[k].retained = g[i].retained_bytes;
	free(g);
	return err;
}

static int by_bytes(const void *a, const void *b)
{
	const struct cprof_profile_site *x = a, *y = b;
	uint64_t bx = x->bytes > (uint64_t)x->profile_bytes ? x->bytes : (uint64_t)x->profile_bytes;
	uint64_t by = y->bytes > (uint64_t)y->profile_bytes ? y->bytes : (uint64_t)y->profile_bytes;
	if (bx != by)
		return bx > by ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* One integer from a query (0 when it gives no row or NULL). */
static int64_t one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void rss_row(struct cprof_profile_report *r, const char *what, const char *source,
		    int64_t bytes)
{
	if (r->n_rss == sizeof(r->rss) / sizeof(r->rss[0]))
		return;
	snprintf(r->rss[r->n_rss].what, sizeof(r->rss[0].what), "%s", what);
	snprintf(r->rss[r->n_rss].source, sizeof(r->rss[0].source), "%s", source);
	r->rss[r->n_rss++].bytes = bytes;
}

/*
 * Where the mapped memory is, from the profile down: every row but the
 * profile's estimate adds up, to the bytes mapped.  Go's rows (a Go process
 * only) are MemStats
 * (Sys = HeapSys + StackSys + the runtime's own); the C heap is its
 * allocators' heaps; the mappings split into files, no access and
 * anonymous memory, whose part outside Go's Sys and the C heap is the row
 * "other anonymous memory".
 */
static void rss(sqlite3 *db, struct cprof_profile_report *r)
{
#define GO(n) one(db, "SELECT value FROM allocator_stat WHERE allocator = 'go' AND name = '" n "'")
	int64_t alloc = GO("HeapAlloc"), inuse = GO("HeapInuse"), idle = GO("HeapIdle"),
		released = GO("HeapReleased"), stacks = GO("StackSys"), sys = GO("Sys");
	int64_t meta = GO("MSpanSys") + GO("MCacheSys") + GO("BuckHashSys") + GO("GCSys") +
		       GO("OtherSys");
#undef GO
	int64_t c_heap = one(db, "SELECT sum(end - start) FROM heap WHERE allocator != 'go'");
	/* no access by its role (a gcore core writes such mappings readable),
	   else by its permissions */
#define NONE "coalesce(role IN ('no access', 'heap reserve'), perms = '---')"
	int64_t files = one(db, "SELECT sum(end - start) FROM mapping WHERE file IS NOT NULL AND NOT " NONE);
	int64_t none = one(db, "SELECT sum(end - start) FROM mapping WHERE " NONE);
	int64_t anon = one(db, "SELECT sum(end - start) FROM mapping WHERE file IS NULL AND NOT " NONE);
#undef NONE
	r->mapped = (uint64_t)one(db, "SELECT sum(end - start) FROM mapping");
	r->go_sys = sys;
	if (sys) {                 /* a Go process: MemStats' rows */
		rss_row(r, "live heap", "HeapAlloc", alloc);
		rss_row(r, "free space in used spans", "HeapInuse - HeapAlloc", inuse - alloc);
		rss_row(r, "idle heap, kept", "HeapIdle - HeapReleased", idle - released);
		rss_row(r, "idle heap, returned to the OS", "HeapReleased", released);
		rss_row(r, "goroutine stacks", "StackSys", stacks);
		rss_row(r, "runtime metadata", "MSpanSys MCacheSys BuckHashSys GCSys OtherSys", meta);
	}
	rss_row(r, "C heap", "its allocators' heaps", c_heap);
	rss_row(r, "other anonymous memory", sys ? "anonymous mappings - Sys - C heap" :
		"anonymous mappings - C heap", anon - sys - c_heap);
	rss_row(r, "files mapped", "code, read-only and module data", files);
	rss_row(r, "reserved, no access", "mappings with no access", none);
}

struct cprof_error *cprof_query_profile(sqlite3 *db, const char *path,
					struct cprof_profile_report *ret)
{
	memset(ret, 0, sizeof(*ret));
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT path, format, coalesce(period, 0), coalesce(build_id, ''),"
			       " paired, coalesce(reason, ''), (SELECT count(*) FROM profile_sample),"
			       " (SELECT count(site_id) FROM profile_sample),"
			       " (SELECT coalesce(sum(inuse_objects), 0) FROM profile_sample),"
			       " (SELECT coalesce(sum(inuse_space), 0) FROM profile_sample),"
			       " (SELECT count(*) FROM profile_sample WHERE site_id IS NULL AND inuse_objects > 0)"
			       " FROM profile", -1, &s, NULL) != SQLITE_OK)
		return q_error(db, path, "profile");
	if (sqlite3_step(s) == SQLITE_ROW) {
		ret->present = true;
		snprintf(ret->path, sizeof(ret->path), "%s", (const char *)sqlite3_column_text(s, 0));
		snprintf(ret->format, sizeof(ret->format), "%s", (const char *)sqlite3_column_text(s, 1));
		ret->period = sqlite3_column_int64(s, 2);
		snprintf(ret->build_id, sizeof(ret->build_id), "%s", (const char *)sqlite3_column_text(s, 3));
		ret->paired = sqlite3_column_int(s, 4);
		snprintf(ret->reason, sizeof(ret->reason), "%s", (const char *)sqlite3_column_text(s, 5));
		ret->samples = (uint64_t)sqlite3_column_int64(s, 6);
		ret->paired_samples = (uint64_t)sqlite3_column_int64(s, 7);
		ret->inuse_objects = sqlite3_column_int64(s, 8);
		ret->inuse_space = sqlite3_column_int64(s, 9);
		ret->unpaired_inuse = (uint64_t)sqlite3_column_int64(s, 10);
	}
	sqlite3_finalize(s);
	if (!ret->present)
		return NULL;
	struct cprof_error *err = profile_sites(db, path, ret);
	if (err) {
		cprof_profile_report_deinit(ret);
		return err;
	}
	if (ret->n_sites)
		qsort(ret->sites, ret->n_sites, sizeof(*ret->sites), by_bytes);
	rss(db, ret);
	return NULL;
}

void cprof_profile_report_deinit(struct cprof_profile_report *r)
{
	free(r->sites);
	memset(r, 0, sizeof(*r));
}
