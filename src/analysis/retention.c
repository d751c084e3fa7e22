/*
 * retention.c - who keeps what alive: dominators over the heap graph with a
 * hierarchy of named root nodes above it, retained sizes, retaining roots,
 * and shortest paths from the roots (see include/cprof/analysis.h).
 *
 * The graph the dominators are computed on has the objects (ids 0 .. n-1)
 * and, after them, virtual root nodes:
 *
 *     super-root ─┬─ thread T ─┬─ frame K of T ─── objects its slots point to
 *                 │            ├─ registers of T ── ...
 *                 │            └─ TLS of T ──────── ...
 *                 ├─ module M ──── global G of M ── ...
 *                 ├─ mapping R ─── ...
 *                 ├─ (an allocator's own roots, at the levels it says:
 *                 │   Go's goroutines G ─ goroutine N ─ frame K of N ── ...,
 *                 │   a group being the same state, wait reason and stack;
 *                 │   a finalizer, cleanup or weak handle)
 *                 └─ leaked ────── each leak root (so leaked memory gets
 *                                  retained sizes too; its dominators are
 *                                  computed apart: leaked_dominators)
 *
 * An object's retaining root is the nearest root node on its dominator chain:
 * a frame when only that frame holds it, the thread when several parts of one
 * thread do, a global or a module likewise; when only the super-root
 * dominates it, it is shared between roots.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/bigmem.h"
#include "cprof/analysis.h"
#include "cprof/progress.h"

static const uint32_t NONE = UINT32_MAX;

const char *cprof_root_node_kind_name(enum cprof_root_node_kind k)
{
	switch (k) {
	case CPROF_RN_SUPER: return "super";
	case CPROF_RN_LEAKED: return "leaked";
	case CPROF_RN_THREAD: return "thread";
	case CPROF_RN_FRAME: return "frame";
	case CPROF_RN_REGISTERS: return "registers";
	case CPROF_RN_TLS: return "tls";
	case CPROF_RN_MODULE: return "module";
	case CPROF_RN_GLOBAL: return "global";
	case CPROF_RN_MAPPING: return "mapping";
	case CPROF_RN_RUNTIME: return "runtime";
	}
	return "?";
}

const char *cprof_root_node_kind_label(const struct cprof_root_node *nd)
{
	return nd->kind == CPROF_RN_RUNTIME && nd->kind_name ? nd->kind_name :
	       cprof_root_node_kind_name(nd->kind);
}

/* ---- the root nodes ---- */

struct builder {
	struct cprof_retention *rt;
	size_t cap;
	/* lookups: per thread, its node and its children; per module, its node */
	uint32_t *thread_node, *reg_node, *tls_node;
	uint32_t **frame_node;     /* per thread, per frame */
	uint32_t *module_node;
	uint32_t *mapping_node;    /* per root */
	/* allocators' root nodes by (owner, level, key): open addressing */
	struct level_slot { uint64_t key; uint32_t owner_level, node; } *levels;
	size_t cap_levels, n_levels;
};

static uint32_t add_node(struct builder *b, enum cprof_root_node_kind kind,
			 uint32_t parent, int thread, int module,
			 const char *name)
{
	struct cprof_retention *rt = b->rt;
	if (rt->n_nodes == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct cprof_root_node *a = realloc(rt->nodes, cap * sizeof(*a));
		if (!a)
			return NONE;
		rt->nodes = a;
		b->cap = cap;
	}
	struct cprof_root_node *nd = &rt->nodes[rt->n_nodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->parent = parent;
	nd->thread = thread;
	nd->module = module;
	nd->owner = nd->level = -1;
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	return (uint32_t)rt->n_nodes++;
}

/* The node of a mapping root i, made on first use. */
static uint32_t root_node_of(struct builder *b, const struct cprof_roots *rs, uint32_t i)
{
	const struct cprof_root *r = &rs->roots[i];
	if (b->mapping_node[i] != NONE)
		return b->mapping_node[i];
	return b->mapping_node[i] = add_node(b, CPROF_RN_MAPPING, 0, -1, -1, r->name);
}

static uint64_t level_hash(uint64_t key, uint32_t owner_level)
{
	return (key * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)owner_level * 0xc2b2ae3d27d4eb4full);
}

/* Where (owner, level, key)'s node is, or belongs, in the table. */
static struct level_slot *level_find(struct builder *b, uint64_t key, uint32_t owner_level)
{
	size_t mask = b->cap_levels - 1;
	for (size_t h = level_hash(key, owner_level) & mask;; h = (h + 1) & mask) {
		struct level_slot *e = &b->levels[h];
		if (e->node == NONE || (e->key == key && e->owner_level == owner_level))
			return e;
	}
}

/* Keeps the table at most half full. */
static bool level_reserve(struct builder *b)
{
	if (2 * (b->n_levels + 1) <= b->cap_levels)
		return true;
	size_t old_cap = b->cap_levels, cap = old_cap ? 2 * old_cap : 256;
	struct level_slot *old = b->levels;
	b->levels = malloc(cap * sizeof(*b->levels));
	if (!b->levels) {
		b->levels = old;
		return false;
	}
	memset(b->levels, 0xff, cap * sizeof(*b->levels));
	b->cap_levels = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].node != NONE)
			*level_find(b, old[i].key, old[i].owner_level) = old[i];
	free(old);
	return true;
}

/* A slot of an allocator's own root: the nodes its root_levels say, made on
 * first use, outermost first; one node per root when it says nothing. */
static uint32_t runtime_leaf(struct builder *b, struct cprof_core *core,
			     const struct cprof_roots *rs, const struct cprof_root *r,
			     uint32_t root, uint64_t slot)
{
	const struct cprof_allocator *a = &rs->walk->allocators[r->owner];
	const struct cprof_heap_provider *p = a->provider;
	struct cprof_root_level lv[CPROF_MAX_ROOT_LEVELS];
	size_t n = p->root_levels ? p->root_levels(core, a, rs, r, slot, lv) : 0;
	assert(n <= CPROF_MAX_ROOT_LEVELS);
	if (!n) {
		if (b->mapping_node[root] == NONE &&
		    (b->mapping_node[root] = add_node(b, CPROF_RN_RUNTIME, 0, -1, -1,
						      r->name)) != NONE) {
			b->rt->nodes[b->mapping_node[root]].owner = r->owner;
			b->rt->nodes[b->mapping_node[root]].kind_name = r->owner_kind;
		}
		return b->mapping_node[root];
	}
	uint32_t parent = 0;
	for (size_t i = 0; i < n; i++) {
		if (!level_reserve(b))
			return NONE;
		uint32_t ol = (uint32_t)r->owner * CPROF_MAX_ROOT_LEVELS + (uint32_t)i;
		struct level_slot *e = level_find(b, lv[i].key, ol);
		if (e->node == NONE) {
			char name[256];
			p->root_level_name(core, a, rs, r, slot, i, name, sizeof(name));
			uint32_t nd = add_node(b, CPROF_RN_RUNTIME, parent, lv[i].thread, -1, name);
			if (nd == NONE)
				return NONE;
			struct cprof_root_node *node = &b->rt->nodes[nd];
			node->owner = r->owner;
			node->level = (int)i;
			node->key = lv[i].key;
			node->kind_name = lv[i].kind;
			*e = (struct level_slot){ lv[i].key, ol, nd };
			b->n_levels++;
		}
		parent = e->node;
	}
	return parent;
}

/* The leaf root node a root slot belongs to, made on first use. */
static uint32_t leaf_for(struct builder *b, struct cprof_core *core,
			 const struct cprof_roots *rs, const struct cprof_root_ref *ref)
{
	const struct cprof_root *r = &rs->roots[ref->root];
	char name[256];
	int t = r->thread;
	uint32_t *slot_node = NULL;
	switch (r->kind) {
	case CPROF_ROOT_REGISTERS:
		slot_node = &b->reg_node[t];
		snprintf(name, sizeof(name), "thread %d registers", core->threads[t].tid);
		break;
	case CPROF_ROOT_TLS:
		slot_node = &b->tls_node[t];
		snprintf(name, sizeof(name), "thread %d tls", core->threads[t].tid);
		break;
	case CPROF_ROOT_STACK: {
		size_t k = cprof_root_slot_frame(rs, r, ref->slot);
		if (k < CPROF_MAX_FRAMES)
			slot_node = &b->frame_node[t][k];
		cprof_root_slot_name(core, rs, r, ref->slot, name, sizeof(name));
		break;
	}
	case CPROF_ROOT_GLOBALS: {
		/* One node per global variable (symbol), under its module; a
		   static object's is the variable pointing to it. */
		struct cprof_symbol sym;
		const struct cprof_static_object *so = cprof_roots_static(rs, ref->slot);
		cprof_core_symbolize(core, ref->slot, false, &sym);
		if (so)
			sym.function = so->var;
		if (b->module_node[r->module] == NONE) {
			const char *mn = core->modules[r->module].name;
			const char *base = strrchr(mn, '/');
			b->module_node[r->module] = add_node(b, CPROF_RN_MODULE, 0, -1,
							    r->module, base ? base + 1 : mn);
		}
		uint32_t mnode = b->module_node[r->module];
		if (!sym.function)
			return mnode;
		snprintf(name, sizeof(name), "%s!%s", sym.module ? sym.module : "?",
			 sym.function);
		/* globals of a module are few: a linear search is enough */
		for (size_t i = 0; i < b->rt->n_nodes; i++)
			if (b->rt->nodes[i].kind == CPROF_RN_GLOBAL &&
			    b->rt->nodes[i].parent == mnode &&
			    !strcmp(b->rt->nodes[i].name, name))
				return (uint32_t)i;
		return add_node(b, CPROF_RN_GLOBAL, mnode, -1, r->module, name);
	}
	case CPROF_ROOT_RUNTIME:
		return runtime_leaf(b, core, rs, r, ref->root, ref->slot);
	case CPROF_ROOT_MAPPING:
		/* One node per root. */
		return root_node_of(b, rs, ref->root);
	}
	if (!slot_node)
		return b->thread_node[t];
	if (*slot_node == NONE) {
		if (b->thread_node[t] == NONE) {
			char tn[64];
			snprintf(tn, sizeof(tn), "thread %d", core->threads[t].tid);
			b->thread_node[t] = add_node(b, CPROF_RN_THREAD, 0, t, -1, tn);
		}
		enum cprof_root_node_kind kind =
			r->kind == CPROF_ROOT_REGISTERS ? CPROF_RN_REGISTERS :
			r->kind == CPROF_ROOT_TLS ? CPROF_RN_TLS : CPROF_RN_FRAME;
		/* A frame's name drops the slot details: "thread T frame K f (x:y)". */
		*slot_node = add_node(b, kind, b->thread_node[t], t, -1, name);
	}
	return *slot_node;
}

/* ---- the root nodes' rows ---- */

struct vedge {
	uint32_t src, dst;         /* objects 0 .. n - 1, root nodes n .. */
};

static int vedge_cmp(const void *a, const void *b)
{
	const struct vedge *x = a, *y = b;
	return x->src < y->src ? -1 : x->src > y->src;
}

static struct cprof_error *build_nodes(struct cprof_core *core,
				       const struct cprof_roots *rs,
				       const struct cprof_graph *g,
				       struct cprof_retention *rt,
				       uint32_t **leaf_ret)
{
	struct builder b = { .rt = rt };
	size_t nt = core->n_threads, nm = core->n_modules;
	b.thread_node = malloc((nt + 1) * sizeof(uint32_t));
	b.reg_node = malloc((nt + 1) * sizeof(uint32_t));
	b.tls_node = malloc((nt + 1) * sizeof(uint32_t));
	b.frame_node = calloc(nt + 1, sizeof(uint32_t *));
	b.module_node = malloc((nm + 1) * sizeof(uint32_t));
	b.mapping_node = malloc((rs->n + 1) * sizeof(uint32_t));
	uint32_t *leaf = malloc((g->n_root_refs + 1) * sizeof(uint32_t));
	struct cprof_error *err = NULL;
	if (!b.thread_node || !b.reg_node || !b.tls_node || !b.frame_node ||
	    !b.module_node || !b.mapping_node || !leaf) {
		err = &cprof_enomem;
		goto out;
	}
	for (size_t t = 0; t < nt; t++) {
		b.thread_node[t] = b.reg_node[t] = b.tls_node[t] = NONE;
		b.frame_node[t] = malloc(CPROF_MAX_FRAMES * sizeof(uint32_t));
		if (!b.frame_node[t]) {
			err = &cprof_enomem;
			goto out;
		}
		memset(b.frame_node[t], 0xff, CPROF_MAX_FRAMES * sizeof(uint32_t));
	}
	memset(b.module_node, 0xff, (nm + 1) * sizeof(uint32_t));
	memset(b.mapping_node, 0xff, (rs->n + 1) * sizeof(uint32_t));
	if (add_node(&b, CPROF_RN_SUPER, NONE, -1, -1, "all roots") != 0 ||
	    add_node(&b, CPROF_RN_LEAKED, 0, -1, -1, "leaked (no root)") != 1) {
		err = &cprof_enomem;
		goto out;
	}
	for (size_t i = 0; i < g->n_root_refs; i++) {
		leaf[i] = leaf_for(&b, core, rs, &g->root_refs[i]);
		if (leaf[i] == NONE) {
			err = &cprof_enomem;
			goto out;
		}
	}
	*leaf_ret = leaf;
	leaf = NULL;
out:
	for (size_t t = 0; t < nt && b.frame_node; t++)
		free(b.frame_node[t]);
	free(b.frame_node);
	free(b.thread_node);
	free(b.reg_node);
	free(b.tls_node);
	free(b.module_node);
	free(b.mapping_node);
	free(b.levels);
	free(leaf);
	return err;
}

/*
 * The rows of the root nodes (n .. n + nv - 1 in the dominators' graph, after
 * the objects, whose rows are the heap graph's own): tree edges between root
 * nodes and leaf -> object, or (leaked) only leaked -> leak roots.
 */
static struct cprof_error *node_rows(const struct cprof_graph *g,
				     const struct cprof_leaks *lk,
				     const struct cprof_retention *rt,
				     const uint32_t *leaf, bool leaked,
				     uint64_t **row_ret, uint32_t **dst_ret)
{
	uint32_t n = g->n, nv = (uint32_t)rt->n_nodes;
	size_t nve = leaked ? lk->n_roots : (nv ? nv - 1 : 0) + g->n_root_refs;
	struct vedge *ve = malloc((nve ? nve : 1) * sizeof(*ve));
	uint64_t *row = malloc(((size_t)nv + 1) * sizeof(*row));
	uint32_t *dst = malloc((nve ? nve : 1) * sizeof(*dst));
	if (!ve || !row || !dst) {
		free(ve);
		free(row);
		free(dst);
		return &cprof_enomem;
	}
	size_t k = 0;
	for (uint32_t i = 1; i < nv && !leaked; i++)
		ve[k++] = (struct vedge){ n + rt->nodes[i].parent, n + i };
	for (size_t i = 0; i < g->n_root_refs && !leaked; i++)
		ve[k++] = (struct vedge){ n + leaf[i], g->root_refs[i].dst };
	for (size_t i = 0; i < lk->n_roots && leaked; i++)
		ve[k++] = (struct vedge){ n + 1, lk->roots[i].id };
	qsort(ve, k, sizeof(*ve), vedge_cmp);
	uint64_t e = 0;
	size_t j = 0;
	for (uint32_t v = n; v < n + nv; v++) {
		row[v - n] = e;
		while (j < k && ve[j].src == v)
			dst[e++] = ve[j++].dst;
	}
	row[nv] = e;
	free(ve);
	*row_ret = row;
	*dst_ret = dst;
	return NULL;
}

/*
 * The leaked objects' dominators, apart: from the leaked node alone, over the
 * same graph.  In one pass from the super-root, a leaked object's pointer into
 * live memory made that memory's dominator the super-root ("shared"), and its
 * global retained nothing.  The live objects keep the first pass's idom; a
 * leaked one (which no live object points to) takes the second's and joins
 * the preorder after the first's nodes: its dominators are leaked objects and
 * the leaked node, which come before it.
 */
static struct cprof_error *leaked_dominators(const struct cprof_graph *g,
					     const struct cprof_leaks *lk,
					     const struct cprof_retention *rt, uint32_t *idom,
					     uint32_t **order, uint32_t *n_order)
{
	uint32_t n = g->n, nv = (uint32_t)rt->n_nodes;
	if (!lk->n_roots || nv < 2)
		return NULL;
	uint64_t *row;
	uint32_t *dst, *idom2, *order2, n2 = 0;
	struct cprof_error *err = node_rows(g, lk, rt, NULL, true, &row, &dst);
	if (err)
		return err;
	struct cprof_csr csr = { n, g->row, g->dst, false };
	struct cprof_csr nodes = { nv, row, dst, false };
	err = cprof_dominators_alloc(&csr, &nodes, n + 1 /* the leaked node */, &idom2, &order2,
				     &n2, NULL);
	free(row);
	free(dst);
	if (err)
		return err;
	uint32_t *o = realloc(*order, ((size_t)*n_order + n2) * sizeof(*o));
	if (!o) {
		free(idom2);
		free(order2);
		return &cprof_enomem;
	}
	*order = o;
	for (uint32_t i = 1; i < n2; i++) {
		uint32_t v = order2[i];
		if (v >= n || idom[v] != NONE)
			continue;          /* a root node, or live */
		idom[v] = idom2[v];
		o[(*n_order)++] = v;
	}
	free(idom2);
	free(order2);
	return NULL;
}

/* ---- shortest paths ---- */

/* BFS from the root slots: distance 1 for what a root points to. */
static struct cprof_error *shortest_paths(const struct cprof_graph *g,
					  struct cprof_retention *rt)
{
	uint32_t n = g->n;
	uint32_t *queue = malloc((n ? n : 1) * sizeof(*queue));
	if (!queue)
		return &cprof_enomem;
	cprof_huge(queue, n * sizeof(*queue));
	size_t head = 0, tail = 0;
	for (size_t i = 0; i < g->n_root_refs; i++) {
		uint32_t v = g->root_refs[i].dst;
		if (rt->distance[v] != NONE)
			continue;
		rt->distance[v] = 1;
		rt->path[v] = (uint32_t)i;
		queue[tail++] = v;
	}
	while (head < tail) {
		cprof_graph_prefetch(g, queue, head, tail, rt->distance, sizeof(*rt->distance));
		uint32_t v = queue[head++];
		for (uint64_t e = g->row[v]; e < g->row[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (rt->distance[w] != NONE)
				continue;
			rt->distance[w] = rt->distance[v] + 1;
			rt->path[w] = v;
			queue[tail++] = w;
		}
	}
	free(queue);
	return NULL;
}

struct cprof_error *cprof_retention_compute(struct cprof_core *core,
					    const struct cprof_object *objs,
					    const struct cprof_roots *rs,
					    const struct cprof_graph *g,
					    const struct cprof_leaks *lk,
					    struct cprof_retention *rt)
{
	double t0 = cprof_now();
	struct cprof_error *err;
	uint32_t n = g->n;
	memset(rt, 0, sizeof(*rt));
	uint32_t *leaf = NULL;
	if ((err = build_nodes(core, rs, g, rt, &leaf)))
		goto fail;
	uint32_t nv = (uint32_t)rt->n_nodes, total = n + nv;
	if (total < n) {
		err = &cprof_enomem;
		goto fail;
	}
	uint64_t *row;
	uint32_t *dst;
	err = node_rows(g, lk, rt, leaf, false, &row, &dst);
	free(leaf);
	if (err)
		goto fail;
	uint32_t *idom, *order, n_order = 0;
	struct cprof_csr csr = { n, g->row, g->dst, false };
	struct cprof_csr nodes = { nv, row, dst, false };
	err = cprof_dominators_alloc(&csr, &nodes, n /* the super-root */, &idom, &order,
				     &n_order, &rt->dominators_bytes);
	free(row);
	free(dst);
	if (err)
		goto fail;
	if ((err = leaked_dominators(g, lk, rt, idom, &order, &n_order)))
		goto fail_dom;

	rt->retaining = malloc((n ? n : 1) * sizeof(*rt->retaining));
	rt->retained_bytes = calloc(total ? total : 1, sizeof(*rt->retained_bytes));
	rt->retained_count = calloc(total ? total : 1, sizeof(*rt->retained_count));
	rt->distance = malloc((n ? n : 1) * sizeof(*rt->distance));
	rt->path = malloc((n ? n : 1) * sizeof(*rt->path));
	if (!rt->retaining || !rt->retained_bytes ||
	    !rt->retained_count || !rt->distance || !rt->path) {
		err = &cprof_enomem;
		goto fail_dom;
	}
	cprof_huge(rt->retaining, n * sizeof(*rt->retaining));
	cprof_huge(rt->retained_bytes, total * sizeof(*rt->retained_bytes));
	cprof_huge(rt->retained_count, total * sizeof(*rt->retained_count));
	cprof_huge(rt->distance, n * sizeof(*rt->distance));
	cprof_huge(rt->path, n * sizeof(*rt->path));
	memset(rt->retaining, 0xff, n * sizeof(*rt->retaining));
	memset(rt->distance, 0xff, n * sizeof(*rt->distance));
	memset(rt->path, 0xff, n * sizeof(*rt->path));

	/* Retained sizes: children before parents (reverse preorder). */
	for (uint32_t i = n_order; i-- > 1;) {
		uint32_t v = order[i], p = idom[v];
		if (v < n) {
			rt->retained_bytes[v] += objs[v].size;
			rt->retained_count[v] += 1;
		}
		rt->retained_bytes[p] += rt->retained_bytes[v];
		rt->retained_count[p] += rt->retained_count[v];
	}
	/* Retaining roots: parents before children (preorder). */
	for (uint32_t i = 1; i < n_order; i++) {
		uint32_t v = order[i], p = idom[v];
		if (v >= n)
			continue;
		if (p < n)
			rt->retaining[v] = rt->retaining[p];
		else if (p != n)
			rt->retaining[v] = p - n;   /* a root node below the super-root */
	}
	for (uint32_t i = 0; i < nv; i++) {
		rt->nodes[i].retained_bytes = rt->retained_bytes[n + i];
		rt->nodes[i].retained_count = rt->retained_count[n + i];
	}
	free(order);
	/* The objects' idom, in place: an object, else none (a root node). */
	for (uint32_t v = 0; v < n; v++)
		if (idom[v] >= n)
			idom[v] = NONE;
	rt->idom = realloc(idom, (n ? n : 1) * sizeof(*idom));
	if (!rt->idom)
		rt->idom = idom;
	if ((err = shortest_paths(g, rt)))
		goto fail;
	rt->t_retention = cprof_now() - t0;
	return NULL;
fail_dom:
	free(idom);
	free(order);
fail:
	cprof_retention_deinit(rt);
	return err;
}

void cprof_retention_deinit(struct cprof_retention *rt)
{
	free(rt->nodes);
	free(rt->idom);
	free(rt->retaining);
	free(rt->retained_bytes);
	free(rt->retained_count);
	free(rt->distance);
	free(rt->path);
	memset(rt, 0, sizeof(*rt));
}
