/*
 * diff.c - growth between two analyses of the same program
 * (cprof_query_diff, include/cprof/store.h): the used objects of each
 * database counted by a key that survives a new process image - the type's
 * name, the allocation stack (its frames as text: function, file:line), the
 * retaining root's name with its ids and addresses masked (root_key) - never
 * by address; then the two lists merged by key
 * (sorted, one pass) and sorted by growth.
 *
 * Garbage (Go: unreachable, freed by the next collection) is left out: it is
 * what the collector had not reclaimed yet when the core was taken, not what
 * the program holds.
 */
#include <ctype.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/store.h"

/* Per key: count and bytes (and a site id, for --by site). */
static const char *const sql[] = {
	[CPROF_BY_TYPE] =
		"SELECT coalesce(t.name, '(unknown type)'), NULL, count(*), sum(o.size), NULL"
		" FROM object o LEFT JOIN type t ON t.id = o.type_id"
		" WHERE o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage' GROUP BY 1",
	[CPROF_BY_SITE] =
		"SELECT coalesce(s.stack, '(no profile record)'), coalesce(s.name, '(no profile record)'),"
		" count(*), sum(o.size), min(s.id)"
		" FROM object o LEFT JOIN object_site os ON os.object_id = o.id"
		" LEFT JOIN site s ON s.id = os.site_id"
		" WHERE o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage' GROUP BY 1",
	[CPROF_BY_ROOT] =
		"SELECT coalesce(n.name, CASE WHEN o.reachable = 0 THEN 'leaked (no root)'"
		" ELSE '(shared)' END), n.kind, count(*), sum(o.size), NULL"
		" FROM object o LEFT JOIN root_node n ON n.id = o.retaining_root"
		" WHERE o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage' GROUP BY 1",
};

/* One side's rows: key, name, count, bytes, site. */
struct side {
	struct cprof_diff_row *r;
	size_t n;
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cprof_diff_row *)a)->key, ((const struct cprof_diff_row *)b)->key);
}

/*
 * A root's name made to survive a new process: goroutine and thread ids and
 * addresses ("goroutine 17 frame 2 main.worker", "thread 4242 tls",
 * "cleanup of 0x7f...") differ from run to run, so they become "goroutine N",
 * "thread N" and "0x_" (in place: never longer); offsets stay.
 */
static void root_key(char *k)
{
	static const char *const ids[] = { "goroutine ", "thread " };
	char *w = k;
	for (const char *r = k; *r;) {
		bool id = false;
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]) && !id; i++) {
			size_t n = strlen(ids[i]);
			if (!strncmp(r, ids[i], n) && r[n] >= '0' && r[n] <= '9' &&
			    (r == k || r[-1] == ' ')) {
				memmove(w, r, n);
				w += n;
				r += n;
				while (*r >= '0' && *r <= '9')
					r++;
				*w++ = 'N';
				id = true;
			}
		}
		if (id)
			continue;
		/* an offset ("varnishd+0x4208f", "app!cache+0x8") is the same in
		   every run of a build: only absolute addresses are masked, or
		   every frame of a stripped module would be one */
		if (r[0] == '0' && r[1] == 'x' && isxdigit((unsigned char)r[2]) &&
		    (r == k || r[-1] != '+')) {
			r += 2;
			while (isxdigit((unsigned char)*r))
				r++;
			memcpy(w, "0x_", 3);
			w += 3;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/* Sums the rows of a sorted side that have the same key into the first. */
static void merge_same_keys(struct side *s)
{
	size_t m = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct cprof_diff_row *r = &s->r[i];
		if (m && !strcmp(s->r[m - 1].key, r->key)) {
			struct cprof_diff_row *into = &s->r[m - 1];
			into->before_count += r->before_count;
			into->before_bytes += r->before_bytes;
			into->after_count += r->after_count;
			into->after_bytes += r->after_bytes;
			free(r->key);
			free(r->name);
			continue;
		}
		s->r[m++] = *r;
	}
	s->n = m;
}

static void side_free(struct side *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->r[i].key);
		free(s->r[i].name);
	}
	free(s->r);
}

static struct cprof_error *load(sqlite3 *db, const char *path, enum cprof_group_by by,
				bool after, struct side *ret)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	memset(ret, 0, sizeof(*ret));
	if (sqlite3_prepare_v2(db, sql[by], -1, &s, NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path, sqlite3_errmsg(db));
	struct cprof_error *err = NULL;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (ret->n == cap) {
			size_t c = cap ? 2 * cap : 256;
			struct cprof_diff_row *r = realloc(ret->r, c * sizeof(*r));
			if (!r) {
				err = &cprof_enomem;
				break;
			}
			ret->r = r;
			cap = c;
		}
		struct cprof_diff_row *r = &ret->r[ret->n++];
		memset(r, 0, sizeof(*r));
		const char *k = (const char *)sqlite3_column_text(s, 0);
		const char *nm = (const char *)sqlite3_column_text(s, 1);
		r->key = strdup(k ? k : "");
		r->name = strdup(nm ? nm : k ? k : "");
		if (r->key && by == CPROF_BY_ROOT)
			root_key(r->key);
		uint64_t count = (uint64_t)sqlite3_column_int64(s, 2);
		uint64_t bytes = (uint64_t)sqlite3_column_int64(s, 3);
		if (after) {
			r->after_count = count;
			r->after_bytes = bytes;
		} else {
			r->before_count = count;
			r->before_bytes = bytes;
		}
		uint64_t site = sqlite3_column_type(s, 4) == SQLITE_NULL ? CPROF_NONE_ID :
				(uint64_t)sqlite3_column_int64(s, 4);
		r->site_before = after ? CPROF_NONE_ID : site;
		r->site_after = after ? site : CPROF_NONE_ID;
		if (!r->key || !r->name) {
			err = &cprof_enomem;
			break;
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	if (!err && ret->n) {
		qsort(ret->r, ret->n, sizeof(*ret->r), key_cmp);
		merge_same_keys(ret);
	}
	return err;
}

static int64_t growth(const struct cprof_diff_row *r)
{
	return (int64_t)(r->after_bytes - r->before_bytes);
}

static int growth_cmp(const void *a, const void *b)
{
	const struct cprof_diff_row *x = a, *y = b;
	if (growth(x) != growth(y))
		return growth(x) > growth(y) ? -1 : 1;
	int64_t cx = (int64_t)(x->after_count - x->before_count);
	int64_t cy = (int64_t)(y->after_count - y->before_count);
	if (cx != cy)
		return cx > cy ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Merges the sorted sides: rows moved from them (their strings too). */
static struct cprof_error *merge(struct side *a, struct side *b, struct cprof_diff *ret)
{
	ret->rows = calloc(a->n + b->n + 1, sizeof(*ret->rows));
	if (!ret->rows)
		return &cprof_enomem;
	size_t i = 0, k = 0;
	while (i < a->n || k < b->n) {
		int c = i == a->n ? 1 : k == b->n ? -1 : strcmp(a->r[i].key, b->r[k].key);
		struct cprof_diff_row *r = &ret->rows[ret->n++];
		if (c <= 0) {
			*r = a->r[i++];
			if (c == 0) {
				struct cprof_diff_row *o = &b->r[k++];
				r->after_count = o->after_count;
				r->after_bytes = o->after_bytes;
				r->site_after = o->site_after;
				free(r->name);     /* the newer name */
				r->name = o->name;
				free(o->key);
			}
		} else {
			*r = b->r[k++];
		}
		ret->before_count += r->before_count;
		ret->before_bytes += r->before_bytes;
		ret->after_count += r->after_count;
		ret->after_bytes += r->after_bytes;
	}
	free(a->r);
	free(b->r);
	a->r = b->r = NULL;
	a->n = b->n = 0;
	if (ret->n)
		qsort(ret->rows, ret->n, sizeof(*ret->rows), growth_cmp);
	return NULL;
}

/* meta's executable_build_id into buf ("" when absent). */
static void build_id(sqlite3 *db, char *buf, size_t size)
{
	sqlite3_stmt *s;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'executable_build_id'",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

struct cprof_error *cprof_query_diff(sqlite3 *old_db, const char *old_path, sqlite3 *new_db,
				     const char *new_path, enum cprof_group_by by,
				     struct cprof_diff *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (by != CPROF_BY_TYPE && by != CPROF_BY_SITE && by != CPROF_BY_ROOT)
		return cprof_error_create(CPROF_ERROR_USAGE, "diff: by type, site or root only");
	struct side a, b = { 0 };
	struct cprof_error *err = load(old_db, old_path, by, false, &a);
	if (!err)
		err = load(new_db, new_path, by, true, &b);
	if (!err)
		err = merge(&a, &b, ret);
	if (!err) {
		/* Two different programs' heaps have nothing to diff: the caller
		   says so (a build-id is the executable's identity; a rebuild of
		   the same source is another program too). */
		build_id(old_db, ret->old_build_id, sizeof(ret->old_build_id));
		build_id(new_db, ret->new_build_id, sizeof(ret->new_build_id));
		ret->same_program = !ret->old_build_id[0] || !ret->new_build_id[0] ? -1 :
				    !strcmp(ret->old_build_id, ret->new_build_id);
	}
	side_free(&a);
	side_free(&b);
	if (err)
		cprof_diff_deinit(ret);
	return err;
}

void cprof_diff_deinit(struct cprof_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->rows[i].key);
		free(d->rows[i].name);
	}
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
