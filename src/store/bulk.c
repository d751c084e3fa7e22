/*
 * bulk.c - cprof.db's two big tables, object and ref, and their four
 * indexes, written in key order as b-tree pages (btree.h) rather than
 * through SQLite's insert path and sorter.
 *
 * Every tree is written in the order of its key, which the analysis already
 * has or gets by one counting sort:
 *   object        rowid = id                       the object array
 *   object_addr   (addr, id)                       the same: ids are in address order
 *   object_leak   (leak, id) where leak is set     one pass per class, in text order
 *   object_idom   (idom, id), NULL first           a counting sort by idom
 *   ref           (src, src_offset, dst, dst_offset)  the graph's rows: edges of an
 *                                                  object in offset order
 *   ref_dst       (dst, src, src_offset)           the graph reversed (a counting
 *                                                  sort by dst, in src order)
 * The columns are formats/schema.sql's: store_bulk_check compares them with
 * what SQLite made of it, so that a change there cannot make a file that
 * SQLite reads wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "cprof/analysis.h"
#include "cprof/graph.h"
#include "cprof/types.h"

/* ---- the schema SQLite made ---- */

static struct cprof_error *schema_error(struct cprof_store *st, const char *what)
{
	return cprof_error_create(CPROF_ERROR_LIB,
				  "%s: formats/schema.sql's %s is not what src/store/bulk.c writes",
				  st->tmp_path, what);
}

/* The columns of a table (PRAGMA table_info: "name", or "name:N:TYPE" for
 * the Nth column of the primary key) or an index (index_info: "name"),
 * comma-separated, compared with want. */
static struct cprof_error *check_columns(struct cprof_store *st, const char *pragma,
					 const char *name, const char *want)
{
	char sql[128], got[512] = "";
	sqlite3_stmt *s;
	bool table = !strcmp(pragma, "table_info");
	snprintf(sql, sizeof(sql), "PRAGMA %s(%s)", pragma, name);
	struct cprof_error *err = store_prepare(st, sql, &s);
	if (err)
		return err;
	size_t len = 0;
	while (sqlite3_step(s) == SQLITE_ROW && len < sizeof(got)) {
		const char *c = (const char *)sqlite3_column_text(s, table ? 1 : 2);
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", len ? "," : "",
					c ? c : "?");
		int pk = table ? sqlite3_column_int(s, 5) : 0;
		const char *type = (const char *)sqlite3_column_text(s, 2);
		if (pk && len < sizeof(got))
			len += (size_t)snprintf(got + len, sizeof(got) - len, ":%d:%s", pk,
						type ? type : "");
	}
	sqlite3_finalize(s);
	return strcmp(got, want) ? schema_error(st, name) : NULL;
}

/* A table's or index's root page; its CREATE statement must hold sql_has. */
static struct cprof_error *root_page(struct cprof_store *st, const char *name,
				     const char *sql_has, uint32_t *ret)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"SELECT rootpage, sql FROM sqlite_schema WHERE name = ?", &s);
	if (err)
		return err;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	*ret = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *sql = (const char *)sqlite3_column_text(s, 1);
		if (sql && (!sql_has || strstr(sql, sql_has)))
			*ret = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return *ret > 1 ? NULL : schema_error(st, name);
}

static const char object_columns[] =
	"id:1:INTEGER,addr,size,state,heap_id,free_list,flags,reachable,interior_only,leak,"
	"holds_count,holds_bytes,preview,pointers,idom,retained_bytes,retained_count,"
	"retaining_root,root_distance,path_parent,path_root_ref,type_id,type_source";

struct cprof_error *store_bulk_check(struct cprof_store *st)
{
	struct cprof_error *err;
	if ((err = check_columns(st, "table_info", "object", object_columns)) ||
	    (err = check_columns(st, "table_info", "ref", "src:1:INTEGER,src_offset:2:INTEGER,dst,dst_offset")) ||
	    (err = check_columns(st, "index_info", "object_addr", "addr")) ||
	    (err = check_columns(st, "index_info", "object_leak", "leak")) ||
	    (err = check_columns(st, "index_info", "object_idom", "idom")) ||
	    (err = check_columns(st, "index_info", "ref_dst", "dst")) ||
	    (err = root_page(st, "object", NULL, &st->root.object)) ||
	    (err = root_page(st, "object_addr", NULL, &st->root.object_addr)) ||
	    (err = root_page(st, "object_leak", "WHERE leak IS NOT NULL",
			     &st->root.object_leak)) ||
	    (err = root_page(st, "object_idom", NULL, &st->root.object_idom)) ||
	    (err = root_page(st, "ref", "WITHOUT ROWID",
			     &st->root.ref)) ||
	    (err = root_page(st, "ref_dst", NULL, &st->root.ref_dst)))
		return err;
	return NULL;
}

/* ---- object ---- */

enum { PREVIEW = 64 };

static int leak_root_cmp(const void *a, const void *b)
{
	const struct cprof_leak_root *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void preview(struct cprof_core *core, const struct cprof_object *o,
		    struct cprof_preview *ret)
{
	char text[1024];
	size_t n = o->size < PREVIEW ? o->size : PREVIEW;
	struct cprof_error *err = cprof_core_read(core, o->addr, ret->bytes, n);
	if (err) {
		cprof_error_destroy(err);
		return;
	}
	ret->ok = true;
	ret->len = (uint8_t)n;
	size_t len = 0;
	for (size_t off = 0; off + 8 <= n && len < sizeof(text) - 300; off += 8) {
		uint64_t v;
		memcpy(&v, ret->bytes + off, 8);
		struct cprof_symbol sym;
		if (!cprof_core_symbolize(core, v, false, &sym))
			continue;
		char name[256];
		cprof_symbol_format(&sym, v, name, sizeof(name));
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s+0x%zx %s",
					len ? "; " : "", off, name);
	}
	ret->text = len ? strdup(text) : NULL;
}

struct cprof_error *cprof_previews_make(struct cprof_core *core,
					const struct cprof_object *objs,
					const struct cprof_leaks *l,
					struct cprof_previews *ret)
{
	size_t n = l ? l->n_roots : 0;
	struct cprof_leak_root *lr = malloc((n ? n : 1) * sizeof(*lr));
	ret->p = calloc(n ? n : 1, sizeof(*ret->p));
	ret->n = 0;
	if (!lr || !ret->p) {
		free(lr);
		free(ret->p);
		ret->p = NULL;
		return &cprof_enomem;
	}
	if (n) {
		memcpy(lr, l->roots, n * sizeof(*lr));
		qsort(lr, n, sizeof(*lr), leak_root_cmp);
	}
	for (size_t i = 0; i < n; i++) {
		ret->p[i].id = lr[i].id;
		preview(core, &objs[lr[i].id], &ret->p[i]);
	}
	ret->n = n;
	free(lr);
	return NULL;
}

static int preview_cmp(const void *key, const void *elem)
{
	uint32_t id = *(const uint32_t *)key;
	const struct cprof_preview *p = elem;
	return id < p->id ? -1 : id > p->id;
}

const struct cprof_preview *cprof_previews_find(const struct cprof_previews *p, uint32_t id)
{
	return p->n ? bsearch(&id, p->p, p->n, sizeof(*p->p), preview_cmp) : NULL;
}

void cprof_previews_deinit(struct cprof_previews *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->p[i].text);
	free(p->p);
	memset(p, 0, sizeof(*p));
}

static void rec_opt_u32(struct bt_record *r, uint32_t v)
{
	if (v == UINT32_MAX)
		bt_rec_null(r);
	else
		bt_rec_int(r, v);
}

static void rec_text(struct bt_record *r, const char *s)
{
	if (s)
		bt_rec_text(r, s, strlen(s));
	else
		bt_rec_null(r);
}

static const char *leak_name(uint8_t f)
{
	return f & CPROF_DIRECT ? "direct" : f & CPROF_INDIRECT ? "indirect" :
	       f & CPROF_GARBAGE ? "garbage" : NULL;
}

/* What the object rows are made of. */
struct objects {
	const struct cprof_heap_walk *walk;
	const struct cprof_object *objs;
	size_t n;
	const struct cprof_leaks *l;
	const struct cprof_previews *pv;
	const struct cprof_retention *rt;
	const struct cprof_types *ty;
};

/* Object i's row; root: its leak root record, or NULL. */
static void object_record(const struct objects *x, uint32_t i,
			  const struct cprof_leak_root *root, const struct cprof_preview *p,
			  struct bt_record *r)
{
	static const char *const states[] = { "used", "free" };
	const struct cprof_object *o = &x->objs[i];
	bool node = cprof_object_is_node(o);
	bt_rec_init(r);
	bt_rec_null(r);                        /* id: the rowid */
	bt_rec_int(r, (int64_t)o->addr);
	bt_rec_int(r, (int64_t)o->size);
	bt_rec_text(r, states[o->state & 1], 4);
	bt_rec_int(r, o->heap);
	rec_text(r, cprof_object_free_list(x->walk, o));
	bt_rec_int(r, o->flags);
	if (x->l && node) {
		uint8_t f = x->l->flags[i];
		bt_rec_int(r, !!(f & CPROF_REACHABLE));
		bt_rec_int(r, !!(f & CPROF_INTERIOR_ONLY));
		rec_text(r, leak_name(f));
	} else {
		bt_rec_null(r);
		bt_rec_null(r);
		bt_rec_null(r);
	}
	if (root) {
		bt_rec_int(r, (int64_t)root->holds_count);
		bt_rec_int(r, (int64_t)root->holds_bytes);
		if (p && p->ok)
			bt_rec_blob(r, p->bytes, p->len);
		else
			bt_rec_null(r);
		rec_text(r, p ? p->text : NULL);
	} else {
		for (int c = 0; c < 4; c++)
			bt_rec_null(r);
	}
	const struct cprof_retention *rt = x->rt;
	if (rt && node) {
		rec_opt_u32(r, rt->idom[i]);
		bt_rec_int(r, (int64_t)rt->retained_bytes[i]);
		bt_rec_int(r, (int64_t)rt->retained_count[i]);
		rec_opt_u32(r, rt->retaining[i]);
		rec_opt_u32(r, rt->distance[i]);
		rec_opt_u32(r, cprof_path_parent(rt, i));
		rec_opt_u32(r, cprof_path_root_ref(rt, i));
	} else {
		for (int c = 0; c < 7; c++)
			bt_rec_null(r);
	}
	const struct cprof_types *t = x->ty;
	if (t && t->object_type && t->object_type[i] != UINT32_MAX) {
		bt_rec_int(r, t->object_type[i]);
		const char *src = cprof_type_source_name(t->object_source[i]);
		bt_rec_text(r, src, strlen(src));
	} else {
		bt_rec_null(r);
		bt_rec_null(r);
	}
}

static struct cprof_error *object_table(struct cprof_store *st, const struct objects *x,
					struct bt_record *r)
{
	struct bt_tree t;
	/* Leak roots in id order, to attach their holdings in one pass. */
	size_t n_lr = x->l ? x->l->n_roots : 0, k = 0;
	struct cprof_leak_root *lr = malloc((n_lr ? n_lr : 1) * sizeof(*lr));
	if (!lr)
		return &cprof_enomem;
	if (n_lr) {
		memcpy(lr, x->l->roots, n_lr * sizeof(*lr));
		qsort(lr, n_lr, sizeof(*lr), leak_root_cmp);
	}
	struct cprof_error *err = bt_tree_begin(&t, &st->file, st->root.object, false);
	for (uint32_t i = 0; !err && i < x->n; i++) {
		const struct cprof_leak_root *root = NULL;
		while (k < n_lr && lr[k].id < i)
			k++;
		if (k < n_lr && lr[k].id == i)
			root = &lr[k];
		object_record(x, i, root, root && x->pv ? cprof_previews_find(x->pv, i) : NULL, r);
		err = bt_tree_row(&t, i, r);
	}
	free(lr);
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

static struct cprof_error *key2(struct bt_tree *t, struct bt_record *r, bool null_first,
				int64_t first, int64_t second)
{
	bt_rec_init(r);
	if (null_first)
		bt_rec_null(r);
	else
		bt_rec_int(r, first);
	bt_rec_int(r, second);
	return bt_tree_key(t, r);
}

static struct cprof_error *object_addr(struct cprof_store *st, const struct objects *x,
				       struct bt_record *r)
{
	struct bt_tree t;
	struct cprof_error *err = bt_tree_begin(&t, &st->file, st->root.object_addr, true);
	for (uint32_t i = 0; !err && i < x->n; i++)
		err = key2(&t, r, false, (int64_t)x->objs[i].addr, i);
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

static struct cprof_error *object_leak(struct cprof_store *st, const struct objects *x,
				       struct bt_record *r)
{
	/* In the order of the text: direct < garbage < indirect. */
	static const uint8_t classes[] = { CPROF_DIRECT, CPROF_GARBAGE, CPROF_INDIRECT };
	struct bt_tree t;
	struct cprof_error *err = bt_tree_begin(&t, &st->file, st->root.object_leak, true);
	for (size_t c = 0; x->l && c < sizeof(classes); c++) {
		const char *name = leak_name(classes[c]);
		for (uint32_t i = 0; !err && i < x->n; i++) {
			if (!cprof_object_is_node(&x->objs[i]) ||
			    leak_name(x->l->flags[i]) != name)
				continue;
			bt_rec_init(r);
			bt_rec_text(r, name, strlen(name));
			bt_rec_int(r, i);
			err = bt_tree_key(&t, r);
		}
	}
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

/* The idom column of object i, UINT32_MAX for NULL. */
static uint32_t idom_of(const struct objects *x, uint32_t i)
{
	return x->rt && cprof_object_is_node(&x->objs[i]) ? x->rt->idom[i] : UINT32_MAX;
}

static struct cprof_error *object_idom(struct cprof_store *st, const struct objects *x,
				       struct bt_record *r)
{
	/* A counting sort by idom: NULL first, then each idom's objects in id
	   order.  8 bytes an object while it lasts. */
	uint32_t *at = calloc(x->n + 1, sizeof(*at));
	uint32_t *by = malloc((x->n ? x->n : 1) * sizeof(*by));
	struct bt_tree t;
	struct cprof_error *err = !at || !by ? &cprof_enomem :
		bt_tree_begin(&t, &st->file, st->root.object_idom, true);
	if (err) {
		free(at);
		free(by);
		return err;
	}
	size_t n_set = 0;
	for (uint32_t i = 0; i < x->n; i++) {
		uint32_t d = idom_of(x, i);
		if (d != UINT32_MAX)
			at[d + 1]++;
	}
	for (size_t d = 0; d < x->n; d++)
		at[d + 1] += at[d];
	for (uint32_t i = 0; i < x->n; i++) {
		uint32_t d = idom_of(x, i);
		if (d != UINT32_MAX) {
			by[at[d]++] = i;
			n_set++;
		}
	}
	free(at);
	st->idom_bytes = (x->n + 1) * sizeof(*at) + x->n * sizeof(*by);
	for (uint32_t i = 0; !err && i < x->n; i++)
		if (idom_of(x, i) == UINT32_MAX)
			err = key2(&t, r, true, 0, i);
	for (size_t k = 0; !err && k < n_set; k++)
		err = key2(&t, r, false, idom_of(x, by[k]), by[k]);
	free(by);
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

/* A phase's record buffer and its seconds; the three writers below are
 * wrapped alike. */
#define TIMED(st, field, call)                                                  \
	do {                                                                    \
		struct bt_record *r_ = malloc(sizeof(*r_));                     \
		if (!r_)                                                        \
			return &cprof_enomem;                                   \
		double t0_ = cprof_now();                                       \
		struct cprof_error *err_ = call(st, &x, r_);                    \
		(st)->field += cprof_now() - t0_;                               \
		free(r_);                                                       \
		return err_;                                                    \
	} while (0)

static struct cprof_error *object_keys(struct cprof_store *st, const struct objects *x,
				       struct bt_record *r)
{
	struct cprof_error *err = object_addr(st, x, r);
	return err ? err : object_leak(st, x, r);
}

struct cprof_error *cprof_store_objects(struct cprof_store *st,
					const struct cprof_heap_walk *walk,
					const struct cprof_object *objs,
					size_t n, const struct cprof_leaks *l,
					const struct cprof_previews *pv,
					const struct cprof_retention *rt,
					const struct cprof_types *ty)
{
	struct objects x = { walk, objs, n, l, pv, rt, ty };
	TIMED(st, t_objects, object_table);
}

struct cprof_error *cprof_store_object_keys(struct cprof_store *st,
					    const struct cprof_object *objs, size_t n,
					    const struct cprof_leaks *l)
{
	struct objects x = { .objs = objs, .n = n, .l = l };
	TIMED(st, t_object_keys, object_keys);
}

struct cprof_error *cprof_store_object_idom(struct cprof_store *st,
					    const struct cprof_object *objs, size_t n,
					    const struct cprof_retention *rt)
{
	struct objects x = { .objs = objs, .n = n, .rt = rt };
	TIMED(st, t_object_idom, object_idom);
}

/* ---- ref ---- */

static struct cprof_error *ref_table(struct cprof_store *st, const struct cprof_graph *g,
				     struct bt_record *r)
{
	struct bt_tree t;
	uint64_t k = 0;            /* the next interior pointer's offset */
	struct cprof_error *err = bt_tree_begin(&t, &st->file, st->root.ref, true);
	for (uint32_t v = 0; !err && v < g->n; v++) {
		for (uint64_t e = g->row[v]; !err && e < g->row[v + 1]; e++) {
			/* (src, src_offset) is the key: offsets past 4 GiB are
			   all UINT32_MAX in memory, and would repeat */
			if (e > g->row[v] && g->src_off[e] <= g->src_off[e - 1]) {
				err = cprof_error_create(CPROF_ERROR_UNSUPPORTED,
					"%s: object %u: two pointers at offset %u or beyond: not storable",
					st->tmp_path, v, g->src_off[e]);
				break;
			}
			bt_rec_init(r);
			bt_rec_int(r, v);
			bt_rec_int(r, g->src_off[e]);
			bt_rec_int(r, g->dst[e]);
			bt_rec_int(r, cprof_graph_interior(g, e) ? g->interior_off[k++] : 0);
			err = bt_tree_key(&t, r);
		}
	}
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

/* The pointers into targets [lo, hi), in (dst, src, src_offset) order: a
 * pass over the graph puts each in its target's place (rev's rows say
 * where), in source order. */
struct into {
	uint32_t src, src_off;
};

static struct cprof_error *ref_dst_range(struct bt_tree *t, const struct cprof_graph *g,
					 const struct cprof_graph_reverse *rev, uint32_t lo,
					 uint32_t hi, struct into *buf, uint32_t *at,
					 struct bt_record *r)
{
	uint64_t k0 = cprof_reverse_row(rev, lo);
	for (uint32_t d = lo; d < hi; d++)
		at[d - lo] = (uint32_t)(cprof_reverse_row(rev, d) - k0);
	for (uint32_t v = 0; v < g->n; v++)
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++)
			if (g->dst[e] >= lo && g->dst[e] < hi)
				buf[at[g->dst[e] - lo]++] = (struct into){ v, g->src_off[e] };
	struct cprof_error *err = NULL;
	for (uint32_t d = lo; !err && d < hi; d++) {
		for (uint64_t k = cprof_reverse_row(rev, d); !err && k < cprof_reverse_row(rev, d + 1);
		     k++) {
			bt_rec_init(r);
			bt_rec_int(r, d);
			bt_rec_int(r, buf[k - k0].src);
			bt_rec_int(r, buf[k - k0].src_off);
			err = bt_tree_key(t, r);
		}
	}
	return err;
}

/*
 * The index by dst: targets in ranges of about a third of the pointers each
 * (one target with more is a range of its own), each range a sequential pass
 * over the graph: 8 bytes a pointer for a third of them (4.7 bytes an object
 * in bench/bigheap, written after the summary, when the reversed graph's
 * sources are freed: below the peak), rather than a second copy of the graph.
 */
static struct cprof_error *ref_dst(struct cprof_store *st, const struct cprof_graph *g,
				   const struct cprof_graph_reverse *rev, struct bt_record *r)
{
	uint64_t budget = g->n_edges / 3 > (1u << 20) ? g->n_edges / 3 : 1u << 20;
	struct bt_tree t;
	struct into *buf = NULL;
	uint32_t *at = NULL;
	size_t cap = 0, cap_at = 0;
	struct cprof_error *err = bt_tree_begin(&t, &st->file, st->root.ref_dst, true);
	for (uint32_t lo = 0, hi; !err && lo < g->n; lo = hi) {
		uint64_t k0 = cprof_reverse_row(rev, lo);
		for (hi = lo + 1; hi < g->n && cprof_reverse_row(rev, hi + 1) - k0 <= budget; hi++)
			;
		size_t need = (size_t)(cprof_reverse_row(rev, hi) - k0);
		if (need > cap || hi - lo > cap_at) {
			free(buf);
			free(at);
			cap = need > cap ? need : cap;
			cap_at = hi - lo > cap_at ? hi - lo : cap_at;
			buf = malloc((cap ? cap : 1) * sizeof(*buf));
			at = malloc(cap_at * sizeof(*at));
			if (!buf || !at) {
				err = &cprof_enomem;
				break;
			}
		}
		if (need)
			err = ref_dst_range(&t, g, rev, lo, hi, buf, at, r);
	}
	free(buf);
	free(at);
	st->ref_index_bytes = cap * sizeof(*buf) + cap_at * sizeof(*at);
	if (err) {
		bt_tree_abort(&t);
		return err;
	}
	return bt_tree_finish(&t);
}

struct cprof_error *cprof_store_refs(struct cprof_store *st, const struct cprof_graph *g)
{
	struct bt_record *r = malloc(sizeof(*r));
	if (!r)
		return &cprof_enomem;
	double t0 = cprof_now();
	struct cprof_error *err = ref_table(st, g, r);
	st->t_refs = cprof_now() - t0;
	free(r);
	return err;
}

struct cprof_error *cprof_store_ref_index(struct cprof_store *st, const struct cprof_graph *g,
					  const struct cprof_graph_reverse *rev)
{
	struct bt_record *r = malloc(sizeof(*r));
	if (!r)
		return &cprof_enomem;
	double t0 = cprof_now();
	struct cprof_error *err = ref_dst(st, g, rev, r);
	st->t_ref_index = cprof_now() - t0;
	free(r);
	return err;
}

void cprof_store_stats(const struct cprof_store *st, struct cprof_store_stats *ret)
{
	ret->t_objects = st->t_objects;
	ret->t_object_indexes = st->t_object_keys + st->t_object_idom;
	ret->t_refs = st->t_refs;
	ret->t_ref_index = st->t_ref_index;
	ret->working_bytes = st->idom_bytes > st->ref_index_bytes ? st->idom_bytes :
			     st->ref_index_bytes;
	cprof_store_stats_sqlite(&ret->sqlite_bytes);
}

void cprof_store_stats_sqlite(uint64_t *ret)
{
	*ret = (uint64_t)sqlite3_memory_highwater(0);
}
