/*
 * groups.c - objects grouped by type, size or retaining root, with retained
 * sizes that count nothing twice (see include/cprof/store.h).
 *
 * A group's retained bytes are the union of what its members retain: the sum
 * over the members that no other member dominates.  One depth-first walk of
 * the dominator forest (children found by a counting sort of idom) keeps, per
 * group, how many of its members are open on the path from the root; a member
 * entered while that count is zero is a top one.  O(objects), whatever the
 * depth of the tree (a leaked list of a million is a path).
 */
#include <fnmatch.h>
#include <assert.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/hash.h"
#include "store-internal.h"

static const uint32_t NONE = UINT32_MAX;

/*
 * A glob (with * ? [) matches the whole type name.  Any other pattern is a
 * substring of it - but an object whose type is a pointer (an array of
 * pointers to blocks) is not a block: names with a '*' match only globs.
 */
static bool matches(const char *name, const char *pattern)
{
	if (!pattern)
		return true;
	if (strpbrk(pattern, "*?["))
		return fnmatch(pattern, name, 0) == 0;
	return !strchr(name, '*') && strstr(name, pattern) != NULL;
}

struct groups {
	struct cprof_group_row *g;
	size_t n, cap;
	/* key -> group: open addressing over key strings */
	uint32_t *slot;
	size_t n_slots;
};

static uint32_t group_of(struct groups *gs, const char *key)
{
	if (2 * (gs->n + 1) > gs->n_slots) {
		size_t n = gs->n_slots ? 2 * gs->n_slots : 256;
		uint32_t *s = malloc(n * sizeof(*s));
		if (!s)
			return NONE;
		memset(s, 0xff, n * sizeof(*s));
		for (size_t i = 0; i < gs->n; i++) {
			size_t h = cprof_hash_str(gs->g[i].key) & (n - 1);
			while (s[h] != NONE)
				h = (h + 1) & (n - 1);
			s[h] = (uint32_t)i;
		}
		free(gs->slot);
		gs->slot = s;
		gs->n_slots = n;
	}
	size_t h = cprof_hash_str(key) & (gs->n_slots - 1);
	while (gs->slot[h] != NONE) {
		if (!strcmp(gs->g[gs->slot[h]].key, key))
			return gs->slot[h];
		h = (h + 1) & (gs->n_slots - 1);
	}
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? 2 * gs->cap : 64;
		struct cprof_group_row *a = realloc(gs->g, cap * sizeof(*a));
		if (!a)
			return NONE;
		gs->g = a;
		gs->cap = cap;
	}
	struct cprof_group_row *r = &gs->g[gs->n];
	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->node = CPROF_NONE_ID;
	r->example = CPROF_NONE_ID;
	gs->slot[h] = (uint32_t)gs->n;
	return (uint32_t)gs->n++;
}

static int group_cmp(const void *a, const void *b)
{
	const struct cprof_group_row *x = a, *y = b;
	if (x->retained_bytes != y->retained_bytes)
		return x->retained_bytes > y->retained_bytes ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* A site pattern: a glob over the whole site name ("main.load (db.go:40)"),
 * or a substring of it. */
static bool site_matches(const char *name, const char *pattern)
{
	if (!pattern)
		return true;
	if (strpbrk(pattern, "*?["))
		return fnmatch(pattern, name, 0) == 0;
	return strstr(name, pattern) != NULL;
}

struct cprof_error *cprof_query_garbage(sqlite3 *db, const char *path, const char *pattern,
					const char *site_pattern, uint64_t *count, uint64_t *bytes)
{
	sqlite3_stmt *s;
	*count = *bytes = 0;
	/* the groups' own test, so that the line under them counts what they
	   would have held */
	if (sqlite3_prepare_v2(db,
		"SELECT o.size, coalesce(t.name, '(unknown type)'),"
		" coalesce(si.name, '(no profile record)')"
		" FROM object o LEFT JOIN type t ON t.id = o.type_id"
		" LEFT JOIN object_site os ON os.object_id = o.id"
		" LEFT JOIN site si ON si.id = os.site_id"
		" WHERE o.leak = 'garbage'", -1, &s, NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: garbage: %s", path,
					  sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!matches((const char *)sqlite3_column_text(s, 1), pattern) ||
		    !site_matches((const char *)sqlite3_column_text(s, 2), site_pattern))
			continue;
		(*count)++;
		*bytes += (uint64_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: garbage: %s", path,
					  sqlite3_errmsg(db));
	return NULL;
}

struct cprof_error *cprof_query_groups(sqlite3 *db, const char *path,
				       enum cprof_group_by by, const char *pattern,
				       struct cprof_group_row **ret, size_t *n_ret)
{
	return cprof_query_groups_at(db, path, by, pattern, NULL, ret, n_ret);
}

struct cprof_error *cprof_query_groups_at(sqlite3 *db, const char *path,
					  enum cprof_group_by by, const char *pattern,
					  const char *site_pattern,
					  struct cprof_group_row **ret, size_t *n_ret)
{
	struct cprof_error *err = NULL;
	sqlite3_stmt *s = NULL;
	uint64_t n = 0;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id) + 1, 0) FROM object", -1, &s,
			       NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path,
					  sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (n >= NONE)
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED, "%s: too many objects", path);
	uint32_t *idom = malloc((n + 1) * sizeof(*idom));
	uint32_t *group = malloc((n + 1) * sizeof(*group));
	uint64_t *retained = malloc((n + 1) * sizeof(*retained));
	uint8_t *node = calloc(n + 1, 1);
	struct groups gs = { 0 };
	uint32_t *child_row = NULL, *children = NULL, *stack = NULL, *active = NULL;
	if (!idom || !group || !retained || !node) {
		err = &cprof_enomem;
		goto out;
	}
	memset(idom, 0xff, (n + 1) * sizeof(*idom));
	memset(group, 0xff, (n + 1) * sizeof(*group));

	/* Root node names and kinds, for grouping by root. */
	static const char sql[] =
		"SELECT o.id, o.idom, o.size, o.retained_bytes, o.retaining_root,"
		" coalesce(t.name, '(unknown type)'), coalesce(n.name, ''), coalesce(n.kind, ''),"
		" coalesce(si.name, '(no profile record)'), o.type_source = 'layout', os.site_id,"
		" coalesce(o.leak, '')"
		" FROM object o LEFT JOIN type t ON t.id = o.type_id"
		" LEFT JOIN root_node n ON n.id = o.retaining_root"
		" LEFT JOIN object_site os ON os.object_id = o.id"
		" LEFT JOIN site si ON si.id = os.site_id"
		" WHERE o.reachable IS NOT NULL";
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
		if (id >= n)
			continue;
		node[id] = 1;
		idom[id] = sqlite3_column_type(s, 1) == SQLITE_NULL ? NONE :
			   (uint32_t)sqlite3_column_int64(s, 1);
		retained[id] = (uint64_t)sqlite3_column_int64(s, 3);
		/* Go's garbage is in no group: nothing holds it, the next
		   collection frees it (callers say how much: cprof_query_garbage) */
		const char *leak = (const char *)sqlite3_column_text(s, 11);
		if (leak && !strcmp(leak, "garbage"))
			continue;
		const char *type = (const char *)sqlite3_column_text(s, 5);
		if (!matches(type ? type : "", pattern) ||
		    !site_matches((const char *)sqlite3_column_text(s, 8), site_pattern))
			continue;
		char key[256];
		const char *kind = NULL;
		uint64_t nd = CPROF_NONE_ID;
		if (by == CPROF_BY_TYPE) {
			snprintf(key, sizeof(key), "%s", type);
		} else if (by == CPROF_BY_SITE) {
			snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(s, 8));
		} else if (by == CPROF_BY_SITE_ID) {
			if (sqlite3_column_type(s, 10) == SQLITE_NULL)
				snprintf(key, sizeof(key), "(no profile record)");
			else
				snprintf(key, sizeof(key), "%lld", (long long)sqlite3_column_int64(s, 10));
			nd = sqlite3_column_type(s, 10) == SQLITE_NULL ? CPROF_NONE_ID :
			     (uint64_t)sqlite3_column_int64(s, 10);
		} else if (by == CPROF_BY_SIZE) {
			snprintf(key, sizeof(key), "%lld", (long long)sqlite3_column_int64(s, 2));
		} else if (sqlite3_column_type(s, 4) == SQLITE_NULL) {
			snprintf(key, sizeof(key), "(shared)");
			kind = "shared";
		} else {
			nd = (uint64_t)sqlite3_column_int64(s, 4);
			snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(s, 6));
			kind = (const char *)sqlite3_column_text(s, 7);
		}
		uint32_t gi = group_of(&gs, key);
		if (gi == NONE) {
			err = &cprof_enomem;
			break;
		}
		struct cprof_group_row *g = &gs.g[gi];
		if (kind)
			snprintf(g->kind, sizeof(g->kind), "%s", kind);
		g->node = nd;
		g->count++;
		g->guessed += sqlite3_column_int(s, 9) == 1;
		g->self_bytes += (uint64_t)sqlite3_column_int64(s, 2);
		if (g->example == CPROF_NONE_ID)
			g->example = id;
		group[id] = gi;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	if (err)
		goto out;

	/* Children of each object in the dominator forest (counting sort). */
	child_row = calloc(n + 2, sizeof(*child_row));
	children = malloc((n + 1) * sizeof(*children));
	stack = malloc((2 * n + 2) * sizeof(*stack));   /* entries and exits */
	active = calloc(gs.n + 1, sizeof(*active));
	if (!child_row || !children || !stack || !active) {
		err = &cprof_enomem;
		goto out;
	}
	for (uint64_t v = 0; v < n; v++)
		if (node[v] && idom[v] != NONE && idom[v] < n)
			child_row[idom[v] + 1]++;
	for (uint64_t v = 0; v < n; v++)
		child_row[v + 1] += child_row[v];
	{
		uint32_t *fill = malloc((n + 1) * sizeof(*fill));
		if (!fill) {
			err = &cprof_enomem;
			goto out;
		}
		memcpy(fill, child_row, (n + 1) * sizeof(*fill));
		for (uint64_t v = 0; v < n; v++)
			if (node[v] && idom[v] != NONE && idom[v] < n)
				children[fill[idom[v]]++] = (uint32_t)v;
		free(fill);
	}
	/* Depth-first from each forest root; an entry on the stack with the top
	   bit set is an exit. */
	for (uint64_t r = 0; r < n; r++) {
		if (!node[r] || (idom[r] != NONE && idom[r] < n))
			continue;
		size_t sp = 0;
		stack[sp++] = (uint32_t)r;
		while (sp) {
			uint32_t x = stack[--sp];
			if (x & 0x80000000u) {
				uint32_t v = x & 0x7fffffffu;
				if (group[v] != NONE)
					active[group[v]]--;
				continue;
			}
			if (group[x] != NONE) {
				if (!active[group[x]])
					gs.g[group[x]].retained_bytes += retained[x];
				active[group[x]]++;
			}
			stack[sp++] = x | 0x80000000u;
			for (uint32_t c = child_row[x]; c < child_row[x + 1]; c++)
				stack[sp++] = children[c];
		}
	}
	if (gs.n)
		qsort(gs.g, gs.n, sizeof(*gs.g), group_cmp);
	*ret = gs.g;
	*n_ret = gs.n;
	gs.g = NULL;
out:
	free(idom);
	free(group);
	free(retained);
	free(node);
	free(child_row);
	free(children);
	free(stack);
	free(active);
	free(gs.g);
	free(gs.slot);
	return err;
}

/* ---- which root slots reach some objects ---- */

/* The search back from the objects: a queue of at most MAX_VISITS ids and
 * a visited set (open addressing, at most half full). */
enum { MAX_VISITS = 200000, SEEN_CAP = 1 << 19, EXTRA_VISITS = 5000 };

struct reach {
	uint64_t *queue, *seen;
	size_t head, tail;
	char **names;              /* one slot per owner, in the order reached */
	size_t k, max_names;
	char **more;               /* further slots of owners already named */
	size_t n_more;
	bool oom;
};

/* Whether two slot names are one owner's: the same goroutine or thread
 * ("goroutine 45 frame 2 ...", "thread 1234 tls") or mapping; a global is its
 * own, or with by_module its module's ("app!cache+0x8", "app+0x1653d0"): the
 * root node that holds it, which is what "shared by several roots" counts. */
static bool same_owner(const char *a, const char *b, bool by_module)
{
	const char *sp = strchr(a, ' ');
	if (sp && (sp = strchr(sp + 1, ' '))) {
		size_t n = (size_t)(sp - a);
		return !strncmp(a, b, n) && b[n] == ' ';
	}
	size_t n = strcspn(a, "!+");
	if (!by_module || !a[n] || strchr(a, ' '))
		return !strcmp(a, b);
	return !strncmp(a, b, n) && (b[n] == '!' || b[n] == '+');
}

/* Marks id seen; false when it was already. */
static bool see(struct reach *r, uint64_t id)
{
	uint64_t h = (id * 0x9E3779B97F4A7C15ull) & (SEEN_CAP - 1);
	while (r->seen[h] && r->seen[h] != id + 1)
		h = (h + 1) & (SEEN_CAP - 1);
	if (r->seen[h])
		return false;
	r->seen[h] = id + 1;
	return true;
}

static bool reach_source(void *arg, uint64_t src)
{
	struct reach *r = arg;
	if (r->tail >= MAX_VISITS || r->tail >= SEEN_CAP / 2)
		return false;
	if (see(r, src))
		r->queue[r->tail++] = src;
	return true;
}

/* A slot reached: named if its owner is new, else kept aside (the names
 * show who holds the objects: five slots of one goroutine's frames hid the
 * global that held them too). */
static bool reach_name(void *arg, const char *name)
{
	struct reach *r = arg;
	if (r->k >= r->max_names)
		return false;
	bool known = false;
	for (size_t j = 0; j < r->k; j++) {
		if (!strcmp(r->names[j], name))
			return true;
		known = known || same_owner(r->names[j], name, true);
	}
	for (size_t j = 0; j < r->n_more; j++)
		if (!strcmp(r->more[j], name))
			return true;
	char **to = known ? &r->more[r->n_more] : &r->names[r->k];
	if (known && r->n_more >= r->max_names)
		return true;
	if (!(*to = strdup(name))) {
		r->oom = true;
		return false;
	}
	if (known)
		r->n_more++;
	else
		r->k++;
	return true;
}

struct cprof_error *store_reaching_slots(const struct store_source *src,
					 const uint64_t *objects, size_t n, size_t max_names,
					 char ***ret, size_t *n_ret)
{
	struct reach r = { .max_names = max_names };
	struct cprof_error *err = NULL;
	r.names = calloc(max_names + 1, sizeof(*r.names));
	r.more = calloc(max_names + 1, sizeof(*r.more));
	r.queue = malloc(MAX_VISITS * sizeof(*r.queue));
	r.seen = calloc(SEEN_CAP, sizeof(*r.seen));
	*ret = NULL;
	*n_ret = 0;
	if (!r.names || !r.more || !r.queue || !r.seen)
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n && r.tail < MAX_VISITS; i++)
		r.queue[r.tail++] = objects[i];
	for (size_t i = 0; !err && i < r.tail; i++)
		see(&r, r.queue[i]);
	/* once max_names slots are in hand, a few more visits for other owners */
	size_t stop = MAX_VISITS;
	while (!err && r.head < r.tail && r.k < max_names && r.head < stop) {
		if (stop == MAX_VISITS && r.k + r.n_more >= max_names)
			stop = r.head + EXTRA_VISITS;
		uint64_t v = r.queue[r.head++];
		if (!(err = src->ops->slot_names(src->arg, v, reach_name, &r)) && r.oom)
			err = &cprof_enomem;
		if (!err)
			err = src->ops->sources(src->arg, v, reach_source, &r);
	}
	free(r.queue);
	free(r.seen);
	/* the other owners' slots first, then more of the first ones' */
	for (size_t j = 0; r.more && j < r.n_more; j++) {
		if (!err && r.k < max_names)
			r.names[r.k++] = r.more[j];
		else
			free(r.more[j]);
	}
	free(r.more);
	if (err) {
		for (size_t j = 0; r.names && j < r.k; j++)
			free(r.names[j]);
		free(r.names);
		return err;
	}
	*ret = r.names;
	*n_ret = r.k;
	return NULL;
}

struct cprof_error *cprof_query_reaching_slots(sqlite3 *db, const char *path,
					       const uint64_t *objects, size_t n,
					       size_t max_names, char ***ret,
					       size_t *n_ret)
{
	struct store_source src;
	struct cprof_error *err = store_db_source_create(db, path, &src);
	if (err)
		return err;
	err = store_reaching_slots(&src, objects, n, max_names, ret, n_ret);
	store_db_source_destroy(&src);
	return err;
}

/* ---- several paths to one object ---- */

struct visit_map {
	uint64_t *key, *parent;    /* key: id + 1, 0 when empty */
	size_t cap;
};

static uint64_t *visit_slot(struct visit_map *m, uint64_t id)
{
	size_t h = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
	while (m->key[h] && m->key[h] != id + 1)
		h = (h + 1) & (m->cap - 1);
	return &m->key[h];
}

/* Where a backward search stops: the root slots pointing at an object, or,
 * for a leaked one, the object itself when it is a leak root (a pseudo-slot
 * of kind "leaked": no root slot reaches leaked memory, and every object
 * pointing at a leaked one is leaked too, so the search stays among them). */
static const char *const path_ends[] = {
	"SELECT rr.id, rr.slot, rr.dst_offset, coalesce(rr.slot_name, r.name), r.kind"
	" FROM root_ref rr JOIN root r ON r.id = rr.root_id WHERE rr.dst = ? ORDER BY rr.id",
	"SELECT id, addr, 0, 'leak root', 'leaked' FROM object WHERE id = ? AND leak = 'direct'",
};

struct cprof_error *cprof_query_paths(sqlite3 *db, const char *path, uint64_t target,
				      bool from_leak_roots, size_t max_paths, size_t max_visits,
				      struct cprof_root_path **ret, size_t *n_ret)
{
	struct visit_map m = { 0 };
	/* The caller bounds both (a command line number must not size an
	   allocation unchecked: --all 2^64-1 wrapped calloc's count). */
	assert(max_paths < SIZE_MAX / sizeof(struct cprof_root_path) && max_visits < SIZE_MAX / 64);
	m.cap = 1;
	while (m.cap < 4 * max_visits)
		m.cap <<= 1;
	m.key = calloc(m.cap, sizeof(*m.key));
	m.parent = calloc(m.cap, sizeof(*m.parent));
	uint64_t *queue = malloc((max_visits + 1) * sizeof(*queue));
	struct cprof_root_path *paths = calloc(max_paths + 1, sizeof(*paths));
	struct cprof_root_path *more = calloc(max_paths + 1, sizeof(*more));
	sqlite3_stmt *in = NULL, *slots = NULL;
	struct cprof_error *err = NULL;
	size_t head = 0, tail = 0, np = 0, nm = 0, stop = SIZE_MAX;
	*ret = NULL;
	*n_ret = 0;
	if (!m.key || !m.parent || !queue || !paths || !more) {
		err = &cprof_enomem;
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT src FROM ref WHERE dst = ? ORDER BY src", -1, &in, NULL) ||
	    sqlite3_prepare_v2(db, path_ends[from_leak_roots], -1, &slots, NULL)) {
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	uint64_t *k = visit_slot(&m, target);
	*k = target + 1;
	m.parent[k - m.key] = CPROF_NONE_ID;
	queue[tail++] = target;
	/* Paths from the slots of an owner (a thread, a goroutine) that has
	   one already wait in `more`: five slots of one thread's frames would
	   hide the global that holds the object too.  They fill the list at
	   the end; the search goes on a little for other owners meanwhile. */
	while (head < tail && np < max_paths && head < stop) {
		uint64_t v = queue[head++];
		sqlite3_bind_int64(slots, 1, (sqlite3_int64)v);
		while (np < max_paths && sqlite3_step(slots) == SQLITE_ROW) {
			struct cprof_slot_row sr = { 0 };
			sr.id = (uint64_t)sqlite3_column_int64(slots, 0);
			sr.slot = (uint64_t)sqlite3_column_int64(slots, 1);
			sr.dst_offset = (uint64_t)sqlite3_column_int64(slots, 2);
			snprintf(sr.slot_name, sizeof(sr.slot_name), "%s",
				 (const char *)sqlite3_column_text(slots, 3));
			snprintf(sr.root_kind, sizeof(sr.root_kind), "%s",
				 (const char *)sqlite3_column_text(slots, 4));
			bool again = false;
			for (size_t j = 0; !from_leak_roots && j < np && !again; j++)
				again = same_owner(paths[j].slot.slot_name, sr.slot_name, false);
			if (again && nm >= max_paths)
				continue;
			struct cprof_root_path *p = again ? &more[nm] : &paths[np];
			p->slot = sr;
			/* v, then parents toward the target */
			size_t len = 0;
			for (uint64_t x = v; x != CPROF_NONE_ID; len++)
				x = m.parent[visit_slot(&m, x) - m.key];
			p->ids = malloc(len * sizeof(*p->ids));
			if (!p->ids) {
				err = &cprof_enomem;
				break;
			}
			size_t i = 0;
			for (uint64_t x = v; x != CPROF_NONE_ID; x = m.parent[visit_slot(&m, x) - m.key])
				p->ids[i++] = x;
			p->n = len;
			if (again)
				nm++;
			else
				np++;
		}
		sqlite3_reset(slots);
		if (err)
			break;
		if (stop == SIZE_MAX && np + nm >= max_paths)
			stop = head + EXTRA_VISITS;
		sqlite3_bind_int64(in, 1, (sqlite3_int64)v);
		while (tail < max_visits && sqlite3_step(in) == SQLITE_ROW) {
			uint64_t src = (uint64_t)sqlite3_column_int64(in, 0);
			uint64_t *ks = visit_slot(&m, src);
			if (*ks)
				continue;
			*ks = src + 1;
			m.parent[ks - m.key] = v;
			queue[tail++] = src;
		}
		sqlite3_reset(in);
	}
	for (size_t i = 0; i < nm; i++) {
		if (!err && np < max_paths)
			paths[np++] = more[i];
		else
			free(more[i].ids);
	}
	nm = 0;
out:
	sqlite3_finalize(in);
	sqlite3_finalize(slots);
	free(m.key);
	free(m.parent);
	free(queue);
	cprof_root_paths_free(more, nm);
	if (err) {
		cprof_root_paths_free(paths, np);
		return err;
	}
	*ret = paths;
	*n_ret = np;
	return NULL;
}

void cprof_root_paths_free(struct cprof_root_path *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++) {
		free(p[i].ids);
		free(p[i].addrs);
	}
	free(p);
}
