/*
 * pprof.c - the pprof renderings of the reports (include/cprof/report.h):
 * the groups of `histogram` by type and by allocation stack, the retention
 * stacks, and a diff of two databases (new less old, what `go tool pprof
 * -base OLD NEW` shows), each as a profile that `go tool pprof` reads.  Values: inuse_objects (count), inuse_space (the objects'
 * own bytes) and retained_space (what they retain, counting nothing twice
 * within the sample).
 */
#include <stdlib.h>
#include <string.h>

#include "cprof/pprof.h"
#include "cprof/report.h"

static const char *const types[] = { "inuse_objects", "inuse_space", "retained_space" };
static const char *const units[] = { "count", "bytes", "bytes" };

static struct cprof_error *create(struct cprof_pprof **ret)
{
	return cprof_pprof_create(types, units, 3, "inuse_space", ret);
}

/* A frame that is no code: a type, a root, a group. */
static struct cprof_error *name_location(struct cprof_pprof *p, const char *name, uint64_t *ret)
{
	struct cprof_pprof_line l = { name, NULL, 0 };
	return cprof_pprof_location(p, 0, 0, &l, 1, ret);
}

static struct cprof_error *group_sample(struct cprof_pprof *p, const uint64_t *locs, size_t n,
					const struct cprof_group_row *g)
{
	int64_t v[3] = { (int64_t)g->count, (int64_t)g->self_bytes, (int64_t)g->retained_bytes };
	return cprof_pprof_sample(p, locs, n, v);
}

static struct cprof_error *finish(struct cprof_pprof *p, struct cprof_error *err,
				  const char *comment, const char *out)
{
	if (!err && comment)
		err = cprof_pprof_comment(p, comment);
	if (!err)
		err = cprof_pprof_write(p, out);
	cprof_pprof_destroy(p);
	return err;
}

/* The mappings of the modules, the executable's first: go tool pprof takes
 * the first for the main binary (its file and build id head every report;
 * without one it says "Main binary filename not available").  ids[k] is
 * module m[k]'s mapping (ids may be NULL). */
static struct cprof_error *mappings(struct cprof_pprof *p, const struct cprof_module_row *m,
				    size_t n, uint64_t *ids)
{
	struct cprof_error *err = NULL;
	for (int exe = 1; exe >= 0; exe--)
		for (size_t i = 0; !err && i < n; i++) {
			uint64_t id;
			if (m[i].executable != exe)
				continue;
			err = cprof_pprof_mapping(p, m[i].start, m[i].end, 0, m[i].path,
						  m[i].build_id[0] ? m[i].build_id : NULL, &id);
			if (ids)
				ids[i] = id;
		}
	return err;
}

struct cprof_error *cprof_report_pprof_types(const struct cprof_group_row *g, size_t n,
					     const struct cprof_module_row *m, size_t n_m,
					     const char *comment, const char *out)
{
	struct cprof_pprof *p;
	struct cprof_error *err = create(&p);
	if (err)
		return err;
	err = mappings(p, m, n_m, NULL);
	for (size_t i = 0; !err && i < n; i++) {
		uint64_t loc;
		err = name_location(p, g[i].key, &loc);
		if (!err)
			err = group_sample(p, &loc, 1, &g[i]);
	}
	return finish(p, err, comment, out);
}

static uint64_t mapping_of(const struct cprof_module_row *m, const uint64_t *ids, size_t n,
			   uint64_t module)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].id == module)
			return ids[i];
	return 0;
}

/* Where a site's stack starts, as Go's heap profiles show it: at its name's
 * frame (the first outside the allocator), the allocator's frames left out. */
static size_t first_shown(const struct cprof_site_row *s)
{
	for (size_t k = 0; k < s->n_frames; k++) {
		const char *f = s->frames[k].function;
		size_t len = f ? strlen(f) : 0;
		if (len && !strncmp(s->name, f, len) && (!s->name[len] || s->name[len] == ' '))
			return k;
	}
	return 0;
}

/* The locations of site s, leaf first, into locs (at least n_frames + 1). */
static struct cprof_error *site_locations(struct cprof_pprof *p, const struct cprof_site_row *s,
					  const struct cprof_module_row *m, const uint64_t *ids,
					  size_t n_m, uint64_t *locs, size_t *n_locs)
{
	struct cprof_error *err = NULL;
	size_t k0 = first_shown(s), n = 0;
	struct cprof_pprof_line lines[16];
	size_t n_lines = 0;
	const struct cprof_frame_row *first = NULL;
	for (size_t k = k0; !err && k < s->n_frames; k++) {
		const struct cprof_frame_row *f = &s->frames[k];
		/* Go's profiles leave out the frame every goroutine ends in */
		if (f->function && (!strcmp(f->function, "runtime.goexit") ||
				    !strncmp(f->function, "runtime.goexit.", 15)))
			continue;
		/* Calls inlined into one machine frame are one location, its
		   lines innermost first, at the innermost call's address - as
		   Go's own profiles write them. */
		if (!n_lines)
			first = f;
		if (n_lines < 16)
			lines[n_lines++] = (struct cprof_pprof_line){ f->function ? f->function : "?",
								      f->file, f->line };
		if (f->inlined && k + 1 < s->n_frames)
			continue;
		/* the call instruction, as Go's profiles give it */
		err = cprof_pprof_location(p, mapping_of(m, ids, n_m, first->module), first->pc - 1,
					   lines, n_lines, &locs[n++]);
		n_lines = 0;
	}
	*n_locs = n;
	return err;
}

struct cprof_error *cprof_report_pprof_sites(const struct cprof_group_row *g, size_t n,
					     const struct cprof_site_table *sites,
					     const struct cprof_module_row *m, size_t n_m,
					     const char *comment, const char *out)
{
	struct cprof_pprof *p;
	struct cprof_error *err = create(&p);
	if (err)
		return err;
	uint64_t *ids = calloc(n_m + 1, sizeof(*ids));
	size_t most = 1;
	for (size_t i = 0; i < sites->n; i++)
		if (sites->sites[i].n_frames + 1 > most)
			most = sites->sites[i].n_frames + 1;
	uint64_t *locs = malloc(most * sizeof(*locs));
	if (!ids || !locs)
		err = &cprof_enomem;
	if (!err)
		err = mappings(p, m, n_m, ids);
	for (size_t i = 0; !err && i < n; i++) {
		const struct cprof_site_row *s = g[i].node == CPROF_NONE_ID ? NULL :
			cprof_site_table_find(sites, g[i].node);
		size_t n_locs = 1;
		if (s && s->n_frames)
			err = site_locations(p, s, m, ids, n_m, locs, &n_locs);
		else
			err = name_location(p, s ? s->name : g[i].key, &locs[0]);
		if (!err)
			err = group_sample(p, locs, n_locs, &g[i]);
	}
	free(ids);
	free(locs);
	return finish(p, err, comment, out);
}

struct cprof_error *cprof_report_pprof_retention(const struct cprof_retention_stacks *r,
						 const struct cprof_module_row *m, size_t n_m,
						 const char *comment, const char *out)
{
	struct cprof_pprof *p;
	struct cprof_error *err = create(&p);
	if (err)
		return err;
	/* a location per frame, made once */
	uint64_t *frame_loc = calloc(r->n_frames + 1, sizeof(*frame_loc));
	uint64_t *locs = malloc((70 + 64) * sizeof(*locs));
	if (!frame_loc || !locs)
		err = &cprof_enomem;
	if (!err)
		err = mappings(p, m, n_m, NULL);
	for (size_t i = 0; !err && i < r->n_frames; i++)
		err = name_location(p, r->frames[i], &frame_loc[i]);
	for (size_t i = 0; !err && i < r->n_stacks; i++) {
		const struct cprof_retention_stack *s = &r->stacks[i];
		if (!s->objects)
			continue;
		size_t n = 0;
		for (uint32_t x = (uint32_t)i; x != UINT32_MAX && n < 70 + 64; x = r->stacks[x].parent)
			locs[n++] = frame_loc[r->stacks[x].frame];
		int64_t v[3] = { (int64_t)s->objects, (int64_t)s->self_bytes,
				 (int64_t)s->retained_bytes };
		err = cprof_pprof_sample(p, locs, n, v);
	}
	free(frame_loc);
	free(locs);
	return finish(p, err, comment, out);
}

static int64_t delta(uint64_t after, uint64_t before)
{
	return (int64_t)(after - before);
}

/* The length of s up to its first newline. */
static int strcspn_nl(const char *s)
{
	return (int)strcspn(s, "\n");
}

struct cprof_error *cprof_report_pprof_diff(const struct cprof_diff *d, bool sites,
					    const struct cprof_module_row *m, size_t n_m,
					    const char *comment, const char *out)
{
	struct cprof_pprof *p;     /* the first two sample types: no retained_space */
	struct cprof_error *err = cprof_pprof_create(types, units, 2, "inuse_space", &p);
	if (err)
		return err;
	err = mappings(p, m, n_m, NULL);
	enum { MAX_FRAMES = 256 };
	uint64_t locs[MAX_FRAMES];
	for (size_t i = 0; !err && i < d->n; i++) {
		const struct cprof_diff_row *r = &d->rows[i];
		int64_t v[2] = { delta(r->after_count, r->before_count),
				 delta(r->after_bytes, r->before_bytes) };
		if (!v[0] && !v[1])
			continue;
		/* a key of several lines (an allocation stack) is a frame a line */
		size_t n = 0;
		const char *from = r->key;
		/* an allocation stack starts at its site's frame, as Go's profiles */
		const char *at = sites && r->name[0] ? strstr(r->key, r->name) : NULL;
		if (at && (at == r->key || at[-1] == '\n'))
			from = at;
		for (const char *s = from; !err && n < MAX_FRAMES; n++) {
			char frame[512];
			int len = strcspn_nl(s);
			snprintf(frame, sizeof(frame), "%.*s", len, s);
			struct cprof_pprof_line l = { frame, NULL, 0 };
			err = cprof_pprof_location(p, 0, 0, &l, 1, &locs[n]);
			if (!s[len])
				break;
			s += len + 1;
		}
		if (!err)
			err = cprof_pprof_sample(p, locs, n + (n < MAX_FRAMES), v);
	}
	return finish(p, err, comment, out);
}
