/*
 * stacks.c - the stacks the pprof reports are made of (include/cprof/store.h):
 * allocation stacks as frames (site, site_frame), the modules they map to,
 * and the retention stacks: for every used object the chain of its
 * dominators from the root down, as names (root nodes, then types).
 *
 * Retention stacks are interned in a trie (parent stack, frame) -> stack, in
 * one depth-first walk of the dominator forest below each root node: an
 * object's stack is its immediate dominator's plus its own type, a run of
 * the same type (a linked list) is one frame, and past MAX_DEPTH types an
 * object stays on its dominator's stack.  O(objects).
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/hash.h"
#include "cprof/store.h"

enum { MAX_DEPTH = 64, NONE32 = UINT32_MAX };

static struct cprof_error *db_error(sqlite3 *db, const char *path, const char *what)
{
	if (strstr(sqlite3_errmsg(db), "no such table"))
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: %s: written by an older cprof-core (%s): run 'cprof-core analyze' again",
					  path, what, sqlite3_errmsg(db));
	return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: %s: %s", path, what,
				  sqlite3_errmsg(db));
}

static char *dup_col(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return t ? strdup(t) : NULL;
}

static bool grow(void *a, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	void *b = realloc(*(void **)a, c * size);
	if (!b)
		return false;
	*(void **)a = b;
	*cap = c;
	return true;
}

/* ---- allocation stacks ---- */

struct cprof_error *cprof_query_sites(sqlite3 *db, const char *path, struct cprof_site_table *ret)
{
	static const char sql[] =
		"SELECT s.id, s.name, s.stack, f.pc, f.module_id, f.function, f.file, f.line, f.inlined"
		" FROM site s LEFT JOIN site_frame f ON f.site_id = s.id ORDER BY s.id, f.depth";
	memset(ret, 0, sizeof(*ret));
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "allocation stacks");
	size_t cap = 0;
	struct cprof_error *err = NULL;
	int rc;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
		struct cprof_site_row *r = ret->n ? &ret->sites[ret->n - 1] : NULL;
		if (!r || r->id != id) {
			if (!grow(&ret->sites, ret->n, &cap, sizeof(*ret->sites))) {
				err = &cprof_enomem;
				break;
			}
			r = &ret->sites[ret->n++];
			memset(r, 0, sizeof(*r));
			r->id = id;
			r->name = dup_col(s, 1);
			r->stack = dup_col(s, 2);
			if (!r->name || !r->stack)
				err = &cprof_enomem;
		}
		if (err || sqlite3_column_type(s, 3) == SQLITE_NULL)
			continue;
		struct cprof_frame_row *f = realloc(r->frames, (r->n_frames + 1) * sizeof(*f));
		if (!f) {
			err = &cprof_enomem;
			break;
		}
		r->frames = f;
		f = &f[r->n_frames++];
		f->pc = (uint64_t)sqlite3_column_int64(s, 3);
		f->module = sqlite3_column_type(s, 4) == SQLITE_NULL ? CPROF_NONE_ID :
			    (uint64_t)sqlite3_column_int64(s, 4);
		f->function = dup_col(s, 5);
		f->file = dup_col(s, 6);
		f->line = sqlite3_column_int64(s, 7);
		f->inlined = sqlite3_column_int(s, 8) != 0;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_error(db, path, "allocation stacks");
	sqlite3_finalize(s);
	if (err)
		cprof_site_table_deinit(ret);
	return err;
}

void cprof_site_table_deinit(struct cprof_site_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct cprof_site_row *r = &t->sites[i];
		for (size_t k = 0; k < r->n_frames; k++) {
			free(r->frames[k].function);
			free(r->frames[k].file);
		}
		free(r->frames);
		free(r->name);
		free(r->stack);
	}
	free(t->sites);
	memset(t, 0, sizeof(*t));
}

const struct cprof_site_row *cprof_site_table_find(const struct cprof_site_table *t, uint64_t id)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->sites[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && t->sites[lo].id == id ? &t->sites[lo] : NULL;
}

/* The module whose build id is meta's executable_build_id (none without). */
static void mark_executable(sqlite3 *db, struct cprof_module_row *rows, size_t n)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'executable_build_id'",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	const char *id = sqlite3_step(s) == SQLITE_ROW ?
			 (const char *)sqlite3_column_text(s, 0) : NULL;
	for (size_t i = 0; id && id[0] && i < n; i++)
		if (!strcmp(rows[i].build_id, id)) {
			rows[i].executable = true;
			break;
		}
	sqlite3_finalize(s);
}

struct cprof_error *cprof_query_modules(sqlite3 *db, const char *path,
					struct cprof_module_row **ret, size_t *n_ret)
{
	sqlite3_stmt *s;
	size_t cap = 0, n = 0;
	struct cprof_module_row *rows = NULL;
	*ret = NULL;
	*n_ret = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, name, coalesce(path, name), start, end,"
			       " coalesce(build_id, '') FROM module ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "modules");
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!grow(&rows, n, &cap, sizeof(*rows))) {
			sqlite3_finalize(s);
			free(rows);
			return &cprof_enomem;
		}
		struct cprof_module_row *r = &rows[n++];
		r->id = (uint64_t)sqlite3_column_int64(s, 0);
		snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(r->path, sizeof(r->path), "%s", (const char *)sqlite3_column_text(s, 2));
		r->start = (uint64_t)sqlite3_column_int64(s, 3);
		r->end = (uint64_t)sqlite3_column_int64(s, 4);
		snprintf(r->build_id, sizeof(r->build_id), "%s", (const char *)sqlite3_column_text(s, 5));
		r->executable = false;     /* mark_executable's */
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(rows);
		return db_error(db, path, "modules");
	}
	mark_executable(db, rows, n);
	*ret = rows;
	*n_ret = n;
	return NULL;
}

/* ---- retention stacks ---- */

/* Interned frames and stacks (a trie), being built. */
struct trie {
	struct cprof_retention_stacks *r;
	size_t cap_frames, cap_stacks;
	uint32_t *frame_slot;      /* frame name -> index */
	size_t n_frame_slots;
	uint32_t *stack_slot;      /* (parent, frame) -> stack */
	size_t n_stack_slots;
};

static uint32_t *probe_frame(struct trie *t, const char *name)
{
	size_t mask = t->n_frame_slots - 1, h = cprof_hash_str(name) & mask;
	while (t->frame_slot[h] != NONE32 && strcmp(t->r->frames[t->frame_slot[h]], name))
		h = (h + 1) & mask;
	return &t->frame_slot[h];
}

/* The index of frame name (added when new); NONE32 out of memory. */
static uint32_t frame_of(struct trie *t, const char *name)
{
	struct cprof_retention_stacks *r = t->r;
	if (2 * (r->n_frames + 1) > t->n_frame_slots) {
		size_t n = t->n_frame_slots ? 2 * t->n_frame_slots : 1024;
		uint32_t *s = malloc(n * sizeof(*s));
		if (!s)
			return NONE32;
		memset(s, 0xff, n * sizeof(*s));
		free(t->frame_slot);
		t->frame_slot = s;
		t->n_frame_slots = n;
		for (size_t i = 0; i < r->n_frames; i++)
			*probe_frame(t, r->frames[i]) = (uint32_t)i;
	}
	uint32_t *slot = probe_frame(t, name);
	if (*slot != NONE32)
		return *slot;
	char *copy = strdup(name);
	if (!copy || !grow(&r->frames, r->n_frames, &t->cap_frames, sizeof(char *))) {
		free(copy);
		return NONE32;
	}
	r->frames[r->n_frames] = copy;
	return *slot = (uint32_t)r->n_frames++;
}

static uint32_t *probe_stack(struct trie *t, uint32_t parent, uint32_t frame)
{
	const struct cprof_retention_stack *st = t->r->stacks;
	size_t mask = t->n_stack_slots - 1;
	size_t h = (((uint64_t)parent << 32 | frame) * 0x9E3779B97F4A7C15ull >> 20) & mask;
	while (t->stack_slot[h] != NONE32 &&
	       (st[t->stack_slot[h]].parent != parent || st[t->stack_slot[h]].frame != frame))
		h = (h + 1) & mask;
	return &t->stack_slot[h];
}

/* The stack parent + frame (parent NONE32: a stack of one frame). */
static uint32_t stack_of(struct trie *t, uint32_t parent, uint32_t frame, uint32_t depth)
{
	struct cprof_retention_stacks *r = t->r;
	if (frame == NONE32)
		return NONE32;
	if (2 * (r->n_stacks + 1) > t->n_stack_slots) {
		size_t n = t->n_stack_slots ? 2 * t->n_stack_slots : 1024;
		uint32_t *s = malloc(n * sizeof(*s));
		if (!s)
			return NONE32;
		memset(s, 0xff, n * sizeof(*s));
		free(t->stack_slot);
		t->stack_slot = s;
		t->n_stack_slots = n;
		for (size_t i = 0; i < r->n_stacks; i++)
			*probe_stack(t, r->stacks[i].parent, r->stacks[i].frame) = (uint32_t)i;
	}
	uint32_t *slot = probe_stack(t, parent, frame);
	if (*slot != NONE32)
		return *slot;
	if (!grow(&r->stacks, r->n_stacks, &t->cap_stacks, sizeof(*r->stacks)))
		return NONE32;
	r->stacks[r->n_stacks] = (struct cprof_retention_stack){ parent, frame, depth, 0, 0, 0 };
	return *slot = (uint32_t)r->n_stacks++;
}

/* The objects of cprof.db as the walk needs them. */
struct objs {
	uint64_t n;
	uint32_t *idom, *type, *root;      /* type: a frame; root: a root node row */
	uint64_t *size, *retained;
	uint8_t *used;
	uint32_t *child_row, *children;
};

/* Root nodes: id -> (parent, name), and each one's stack once made. */
struct nodes {
	uint64_t *ids, *parents;
	char **names;
	uint32_t *stack;           /* NONE32 until made */
	size_t n;
};

static size_t node_index(const struct nodes *nd, uint64_t id)
{
	size_t lo = 0, hi = nd->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (nd->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nd->n && nd->ids[lo] == id ? lo : SIZE_MAX;
}

/* The stack of root node i: its parents' names from below the super-root
 * down to its own (a bad parent chain stops at MAX_DEPTH). */
static uint32_t node_stack(struct trie *t, struct nodes *nd, size_t i)
{
	size_t chain[MAX_DEPTH];
	size_t k = 0;
	for (size_t x = i; x != SIZE_MAX && k < MAX_DEPTH; x = node_index(nd, nd->parents[x])) {
		if (nd->stack[x] != NONE32 || nd->parents[x] == CPROF_NONE_ID)
			break;
		chain[k++] = x;
		if (nd->parents[x] == nd->ids[x])
			break;
	}
	/* chain[k-1] is the outermost not yet made; its parent is made or the super-root */
	for (size_t j = k; j-- > 0;) {
		size_t x = chain[j];
		size_t p = node_index(nd, nd->parents[x]);
		uint32_t ps = p == SIZE_MAX || nd->parents[p] == CPROF_NONE_ID ? NONE32 : nd->stack[p];
		uint32_t depth = ps == NONE32 ? 1 : t->r->stacks[ps].depth + 1;
		nd->stack[x] = stack_of(t, ps, frame_of(t, nd->names[x]), depth);
		if (nd->stack[x] == NONE32)
			return NONE32;
	}
	return nd->stack[i];
}

static void nodes_deinit(struct nodes *nd)
{
	for (size_t i = 0; i < nd->n; i++)
		free(nd->names[i]);
	free(nd->ids);
	free(nd->parents);
	free(nd->names);
	free(nd->stack);
}

static struct cprof_error *load_nodes(sqlite3 *db, const char *path, struct nodes *nd)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	memset(nd, 0, sizeof(*nd));
	if (sqlite3_prepare_v2(db, "SELECT id, coalesce(parent_id, -1), name FROM root_node ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "root nodes");
	struct cprof_error *err = NULL;
	while (!err && sqlite3_step(s) == SQLITE_ROW) {
		if (nd->n == cap) {        /* the four arrays grow together */
			size_t c = cap ? 2 * cap : 256;
			uint64_t *ids = realloc(nd->ids, c * 8);
			nd->ids = ids ? ids : nd->ids;
			uint64_t *parents = realloc(nd->parents, c * 8);
			nd->parents = parents ? parents : nd->parents;
			char **names = realloc(nd->names, c * sizeof(char *));
			nd->names = names ? names : nd->names;
			uint32_t *stack = realloc(nd->stack, c * 4);
			nd->stack = stack ? stack : nd->stack;
			if (!ids || !parents || !names || !stack) {
				err = &cprof_enomem;
				break;
			}
			cap = c;
		}
		nd->ids[nd->n] = (uint64_t)sqlite3_column_int64(s, 0);
		nd->parents[nd->n] = sqlite3_column_int64(s, 1) < 0 ? CPROF_NONE_ID :
				     (uint64_t)sqlite3_column_int64(s, 1);
		nd->names[nd->n] = dup_col(s, 2);
		nd->stack[nd->n] = NONE32;
		if (!nd->names[nd->n++])
			err = &cprof_enomem;
	}
	sqlite3_finalize(s);
	return err;
}

static void objs_deinit(struct objs *o)
{
	free(o->idom);
	free(o->type);
	free(o->root);
	free(o->size);
	free(o->retained);
	free(o->used);
	free(o->child_row);
	free(o->children);
}

/* The used objects: dominator, type frame, root node, size, retained. */
static struct cprof_error *load_objects(sqlite3 *db, const char *path, struct trie *t,
					const struct nodes *nd, struct objs *o)
{
	sqlite3_stmt *s;
	memset(o, 0, sizeof(*o));
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id) + 1, 0) FROM object", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "objects");
	if (sqlite3_step(s) == SQLITE_ROW)
		o->n = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (o->n >= NONE32)
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED, "%s: too many objects", path);
	size_t n = o->n + 1;
	o->idom = malloc(n * 4);
	o->type = malloc(n * 4);
	o->root = malloc(n * 4);
	o->size = calloc(n, 8);
	o->retained = calloc(n, 8);
	o->used = calloc(n, 1);
	if (!o->idom || !o->type || !o->root || !o->size || !o->retained || !o->used)
		return &cprof_enomem;
	static const char sql[] =
		"SELECT o.id, o.idom, o.size, coalesce(o.retained_bytes, o.size), o.retaining_root,"
		" coalesce(t.name, '(unknown type)'), o.leak, o.reachable"
		" FROM object o LEFT JOIN type t ON t.id = o.type_id WHERE o.reachable IS NOT NULL";
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, path, "objects");
	struct cprof_error *err = NULL;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
		if (id >= o->n)
			continue;
		o->used[id] = 1;
		o->idom[id] = sqlite3_column_type(s, 1) == SQLITE_NULL ? NONE32 :
			      (uint32_t)sqlite3_column_int64(s, 1);
		o->size[id] = (uint64_t)sqlite3_column_int64(s, 2);
		o->retained[id] = (uint64_t)sqlite3_column_int64(s, 3);
		const char *leak = (const char *)sqlite3_column_text(s, 6);
		size_t ni = sqlite3_column_type(s, 4) == SQLITE_NULL ? SIZE_MAX :
			    node_index(nd, (uint64_t)sqlite3_column_int64(s, 4));
		/* root: a node row, or NONE32 - 1 (garbage), NONE32 (shared) */
		o->root[id] = ni != SIZE_MAX ? (uint32_t)ni :
			      leak && !strcmp(leak, "garbage") ? NONE32 - 1 : NONE32;
		if ((o->type[id] = frame_of(t, (const char *)sqlite3_column_text(s, 5))) == NONE32) {
			err = &cprof_enomem;
			break;
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = db_error(db, path, "objects");
	sqlite3_finalize(s);
	return err;
}

/* Children of each object in the dominator forest (a counting sort). */
static bool children(struct objs *o)
{
	o->child_row = calloc(o->n + 2, 4);
	o->children = malloc((o->n + 1) * 4);
	if (!o->child_row || !o->children)
		return false;
	for (uint64_t v = 0; v < o->n; v++)
		if (o->used[v] && o->idom[v] < o->n && o->used[o->idom[v]])
			o->child_row[o->idom[v] + 1]++;
	for (uint64_t v = 0; v < o->n; v++)
		o->child_row[v + 1] += o->child_row[v];
	uint32_t *fill = malloc((o->n + 1) * 4);
	if (!fill)
		return false;
	memcpy(fill, o->child_row, (o->n + 1) * 4);
	for (uint64_t v = 0; v < o->n; v++)
		if (o->used[v] && o->idom[v] < o->n && o->used[o->idom[v]])
			o->children[fill[o->idom[v]]++] = (uint32_t)v;
	free(fill);
	return true;
}

/* The stack a forest root (an object no object dominates) hangs from. */
static uint32_t top_stack(struct trie *t, struct nodes *nd, uint32_t root)
{
	if (root == NONE32)
		return stack_of(t, NONE32, frame_of(t, "(shared by several roots)"), 1);
	if (root == NONE32 - 1)
		return stack_of(t, NONE32, frame_of(t, "(garbage: the next collection frees it)"), 1);
	return node_stack(t, nd, root);
}

/* Depth-first from forest root r: each object's stack, and the per-stack
 * sums (retained: only objects with no dominator on the same stack). */
static struct cprof_error *walk_tree(struct trie *t, struct nodes *nd, struct objs *o,
				     uint32_t r, uint32_t *stk, uint32_t *obj_stack,
				     uint32_t *active)
{
	struct cprof_retention_stacks *rs = t->r;
	size_t sp = 0;
	stk[sp++] = r;
	while (sp) {
		uint32_t x = stk[--sp];
		if (x & 0x80000000u) {
			active[obj_stack[x & 0x7fffffffu]]--;
			continue;
		}
		uint32_t parent = o->idom[x] < o->n && o->used[o->idom[x]] ? obj_stack[o->idom[x]] :
				  top_stack(t, nd, o->root[x]);
		uint32_t st = parent;
		if (parent == NONE32 ||
		    (rs->stacks[parent].frame != o->type[x] && rs->stacks[parent].depth < MAX_DEPTH))
			st = stack_of(t, parent, o->type[x],
				      parent == NONE32 ? 1 : rs->stacks[parent].depth + 1);
		if (st == NONE32)
			return &cprof_enomem;
		obj_stack[x] = st;
		struct cprof_retention_stack *s = &rs->stacks[st];
		s->objects++;
		s->self_bytes += o->size[x];
		if (!active[st])
			s->retained_bytes += o->retained[x];
		active[st]++;
		stk[sp++] = x | 0x80000000u;
		for (uint32_t c = o->child_row[x]; c < o->child_row[x + 1]; c++)
			stk[sp++] = o->children[c];
	}
	return NULL;
}

struct cprof_error *cprof_query_retention_stacks(sqlite3 *db, const char *path,
						 struct cprof_retention_stacks *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct trie t = { .r = ret };
	struct nodes nd;
	struct objs o;
	uint32_t *stk = NULL, *obj_stack = NULL, *active = NULL;
	struct cprof_error *err = load_nodes(db, path, &nd);
	if (!err)
		err = load_objects(db, path, &t, &nd, &o);
	else
		memset(&o, 0, sizeof(o));
	if (!err && !children(&o))
		err = &cprof_enomem;
	if (!err) {
		stk = malloc((2 * o.n + 2) * 4);
		obj_stack = malloc((o.n + 1) * 4);
		/* at most one stack per object, plus the root nodes' and two */
		active = calloc(o.n + nd.n + 64 + MAX_DEPTH, 4);
		if (!stk || !obj_stack || !active)
			err = &cprof_enomem;
	}
	/* Stacks of root nodes are made first, so that an object's stack
	   index stays below n + nodes + 2 and active[] is big enough. */
	for (size_t i = 0; !err && i < nd.n; i++)
		if (nd.parents[i] != CPROF_NONE_ID && node_stack(&t, &nd, i) == NONE32)
			err = &cprof_enomem;
	if (!err && (top_stack(&t, &nd, NONE32) == NONE32 ||
		     top_stack(&t, &nd, NONE32 - 1) == NONE32))
		err = &cprof_enomem;
	for (uint64_t v = 0; !err && v < o.n; v++)
		if (o.used[v] && !(o.idom[v] < o.n && o.used[o.idom[v]]))
			err = walk_tree(&t, &nd, &o, (uint32_t)v, stk, obj_stack, active);
	free(stk);
	free(obj_stack);
	free(active);
	free(t.frame_slot);
	free(t.stack_slot);
	nodes_deinit(&nd);
	objs_deinit(&o);
	if (err)
		cprof_retention_stacks_deinit(ret);
	return err;
}

void cprof_retention_stacks_deinit(struct cprof_retention_stacks *r)
{
	for (size_t i = 0; i < r->n_frames; i++)
		free(r->frames[i]);
	free(r->frames);
	free(r->stacks);
	memset(r, 0, sizeof(*r));
}
