/*
 * memory.c - the summary's queries answered from the analysis in memory, so
 * that `analyze` prints its summary while cprof.db is still being written
 * (include/cprof/store.h, cprof_results_*).
 *
 * Each answer is the one the database gives once written: the leak rows and
 * allocator rows are made from the same fields the store writes, and the
 * searches (top entries, shortest paths, root slots reaching an object) are
 * the very code `top` runs, reading here through a store_source that gives
 * what cprof.db's rows would - the same NULLs, the same orders (pointers into
 * an object in increasing source order, as the ref_dst index has them; root
 * slots in root_ref order).
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "cprof/pipeline.h"

static const uint32_t NONE = UINT32_MAX;

struct mem {
	const struct cprof_analysis *a;
	struct cprof_core *core;
	bool refs;                 /* the ref table is written (not --no-refs) */
	uint32_t *slot_by_dst;     /* root_ref ids ordered by (dst, id) */
};

static bool has_leaks(const struct mem *m, uint32_t i)
{
	return m->a->leaks.flags && cprof_object_is_node(&m->a->objects[i]);
}

static bool has_retention(const struct mem *m, uint32_t i)
{
	return m->a->retention.idom && cprof_object_is_node(&m->a->objects[i]);
}

static uint64_t opt_id(uint32_t v)
{
	return v == NONE ? CPROF_NONE_ID : v;
}

static struct cprof_error *mem_totals(void *arg, uint64_t *heap_bytes,
				      uint64_t *reachable_bytes, uint64_t *garbage_bytes)
{
	struct mem *m = arg;
	*heap_bytes = *reachable_bytes = *garbage_bytes = 0;
	for (uint32_t i = 0; i < m->a->n_objects; i++) {
		if (!has_leaks(m, i))
			continue;
		if (m->a->leaks.flags[i] & CPROF_GARBAGE) {
			*garbage_bytes += m->a->objects[i].size;   /* as HEAP_SQL (query.c) */
			continue;
		}
		*heap_bytes += m->a->objects[i].size;
		if (m->a->leaks.flags[i] & CPROF_REACHABLE)
			*reachable_bytes += m->a->objects[i].size;
	}
	return NULL;
}

static struct cprof_error *mem_node_parents(void *arg, uint32_t **ret, uint32_t *n_ret)
{
	struct mem *m = arg;
	const struct cprof_retention *rt = &m->a->retention;
	uint32_t *parent = malloc((rt->n_nodes + 1) * sizeof(*parent));
	if (!parent)
		return &cprof_enomem;
	for (size_t i = 0; i < rt->n_nodes; i++) {
		uint32_t p = rt->nodes[i].parent;
		parent[i] = p != NONE && p < i ? p : NONE;
	}
	*ret = parent;
	*n_ret = (uint32_t)rt->n_nodes;
	return NULL;
}

static struct cprof_error *mem_tops(void *arg, bool (*fn)(void *, const struct store_top_row *),
				    void *fn_arg)
{
	struct mem *m = arg;
	const struct cprof_analysis *a = m->a;
	const struct cprof_types *ty = &a->types;
	for (uint32_t i = 0; i < a->n_objects; i++) {
		if (!has_leaks(m, i) || !(a->leaks.flags[i] & CPROF_REACHABLE) ||
		    (has_retention(m, i) && a->retention.idom[i] != NONE))
			continue;
		bool rt = has_retention(m, i);
		struct store_top_row r = {
			.id = i,
			.size = a->objects[i].size,
			.retained = rt ? a->retention.retained_bytes[i] : 0,
			.count = rt ? a->retention.retained_count[i] : 0,
			.node = rt ? a->retention.retaining[i] : NONE,
			.type = ty->object_type ? opt_id(ty->object_type[i]) : CPROF_NONE_ID,
		};
		if (!fn(fn_arg, &r))
			return &cprof_enomem;
	}
	return NULL;
}

static struct cprof_error *mem_node(void *arg, uint64_t id, struct cprof_node_row *ret)
{
	struct mem *m = arg;
	const struct cprof_retention *rt = &m->a->retention;
	memset(ret, 0, sizeof(*ret));
	if (id >= rt->n_nodes)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "no root node %llu",
					  (unsigned long long)id);
	const struct cprof_root_node *nd = &rt->nodes[id];
	ret->id = id;
	snprintf(ret->kind, sizeof(ret->kind), "%s", cprof_root_node_kind_label(nd));
	snprintf(ret->name, sizeof(ret->name), "%s", nd->name);
	ret->parent = opt_id(nd->parent);
	ret->retained_bytes = nd->retained_bytes;
	ret->retained_count = nd->retained_count;
	return NULL;
}

static const char *leak_name(uint8_t f)
{
	return f & CPROF_DIRECT ? "direct" : f & CPROF_INDIRECT ? "indirect" :
	       f & CPROF_GARBAGE ? "garbage" : "";
}

static struct cprof_error *mem_object(void *arg, uint64_t id, struct cprof_obj_row *ret)
{
	struct mem *m = arg;
	const struct cprof_analysis *a = m->a;
	memset(ret, 0, sizeof(*ret));
	if (id >= a->n_objects)
		return cprof_error_create(CPROF_ERROR_USAGE, "no object %llu",
					  (unsigned long long)id);
	uint32_t i = (uint32_t)id;
	const struct cprof_object *o = &a->objects[i];
	ret->id = id;
	ret->addr = o->addr;
	ret->size = o->size;
	snprintf(ret->state, sizeof(ret->state), "%s", o->state & 1 ? "free" : "used");
	ret->reachable = -1;
	if (has_leaks(m, i)) {
		snprintf(ret->leak, sizeof(ret->leak), "%s", leak_name(a->leaks.flags[i]));
		ret->reachable = !!(a->leaks.flags[i] & CPROF_REACHABLE);
	}
	const struct cprof_retention *rt = &a->retention;
	bool r = has_retention(m, i);
	ret->idom = r ? opt_id(rt->idom[i]) : CPROF_NONE_ID;
	ret->retained_bytes = r ? rt->retained_bytes[i] : 0;
	ret->retained_count = r ? rt->retained_count[i] : 0;
	ret->retaining_root = r ? opt_id(rt->retaining[i]) : CPROF_NONE_ID;
	ret->root_distance = r ? opt_id(rt->distance[i]) : CPROF_NONE_ID;
	ret->path_parent = r ? opt_id(cprof_path_parent(rt, i)) : CPROF_NONE_ID;
	ret->path_root_ref = r ? opt_id(cprof_path_root_ref(rt, i)) : CPROF_NONE_ID;
	const struct cprof_types *ty = &a->types;
	ret->type_id = CPROF_NONE_ID;
	if (ty->object_type && ty->object_type[i] != NONE) {
		const struct cprof_type *t = &ty->types[ty->object_type[i]];
		ret->type_id = ty->object_type[i];
		snprintf(ret->type, sizeof(ret->type), "%s", t->name);
		snprintf(ret->type_source, sizeof(ret->type_source), "%s",
			 cprof_type_source_name(ty->object_source[i]));
		ret->type_size = t->size;
	}
	return NULL;
}

static struct cprof_error *mem_type_name(void *arg, uint64_t id, char *buf, size_t size)
{
	struct mem *m = arg;
	buf[0] = '\0';
	if (id < m->a->types.n_types)
		snprintf(buf, size, "%s", m->a->types.types[id].name);
	return NULL;
}

static struct cprof_error *mem_path_step(void *arg, uint64_t id, struct store_path_step *ret)
{
	struct mem *m = arg;
	memset(ret, 0, sizeof(*ret));
	if (id >= m->a->n_objects || !has_retention(m, (uint32_t)id))
		return NULL;
	const struct cprof_retention *rt = &m->a->retention;
	uint32_t i = (uint32_t)id;
	if (rt->distance[i] == NONE)
		return NULL;
	ret->found = true;
	ret->parent = opt_id(cprof_path_parent(rt, i));
	ret->root_ref = opt_id(cprof_path_root_ref(rt, i));
	ret->distance = rt->distance[i];
	ret->addr = m->a->objects[i].addr;
	return NULL;
}

static struct cprof_error *mem_slot(void *arg, uint64_t root_ref, struct cprof_slot_row *ret)
{
	struct mem *m = arg;
	const struct cprof_graph *g = &m->a->graph;
	memset(ret, 0, sizeof(*ret));
	ret->id = CPROF_NONE_ID;
	if (root_ref >= g->n_root_refs)
		return NULL;
	const struct cprof_root_ref *ref = &g->root_refs[root_ref];
	const struct cprof_root *r = &m->a->roots.roots[ref->root];
	ret->id = root_ref;
	ret->slot = ref->slot;
	ret->dst_offset = ref->dst_off;
	if (!store_slot_name(m->core, &m->a->roots, g, root_ref, ret->slot_name,
			     sizeof(ret->slot_name)))
		snprintf(ret->slot_name, sizeof(ret->slot_name), "%s", r->name);
	snprintf(ret->root_kind, sizeof(ret->root_kind), "%s", cprof_root_kind_label(r));
	return NULL;
}

static struct cprof_error *mem_sources(void *arg, uint64_t v, bool (*fn)(void *, uint64_t),
				       void *fn_arg)
{
	struct mem *m = arg;
	const struct cprof_graph_reverse *rev = &m->a->reverse;
	if (!m->refs || v >= m->a->n_objects)
		return NULL;
	for (uint64_t k = cprof_reverse_row(rev, (uint32_t)v);
	     k < cprof_reverse_row(rev, (uint32_t)v + 1); k++)
		if (!fn(fn_arg, rev->src[k]))
			break;
	return NULL;
}

/* The first of the root_refs into v in slot_by_dst, or their count. */
static size_t first_slot(const struct mem *m, uint64_t v)
{
	const struct cprof_graph *g = &m->a->graph;
	size_t lo = 0, hi = g->n_root_refs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->root_refs[m->slot_by_dst[mid]].dst < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct cprof_error *mem_slot_names(void *arg, uint64_t v,
					  bool (*fn)(void *, const char *), void *fn_arg)
{
	struct mem *m = arg;
	const struct cprof_graph *g = &m->a->graph;
	for (size_t k = first_slot(m, v); k < g->n_root_refs; k++) {
		uint32_t i = m->slot_by_dst[k];
		char name[320];
		if (g->root_refs[i].dst != v)
			break;
		if (!store_slot_name(m->core, &m->a->roots, g, i, name, sizeof(name)))
			snprintf(name, sizeof(name), "?");
		if (!fn(fn_arg, name))
			break;
	}
	return NULL;
}

static const struct store_source_ops mem_ops = {
	.totals = mem_totals,
	.node_parents = mem_node_parents,
	.tops = mem_tops,
	.node = mem_node,
	.object = mem_object,
	.type_name = mem_type_name,
	.path_step = mem_path_step,
	.slot = mem_slot,
	.sources = mem_sources,
	.slot_names = mem_slot_names,
};

struct slot_key {
	uint32_t dst, id;
};

static int slot_cmp(const void *x, const void *y)
{
	const struct slot_key *a = x, *b = y;
	if (a->dst != b->dst)
		return a->dst < b->dst ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* The root refs in (dst, id) order: as the root_ref_dst index gives them. */
static struct cprof_error *slots_by_dst(const struct cprof_graph *g, uint32_t **ret)
{
	size_t n = g->n_root_refs;
	struct slot_key *k = malloc((n ? n : 1) * sizeof(*k));
	uint32_t *by = malloc((n ? n : 1) * sizeof(*by));
	if (!k || !by) {
		free(k);
		free(by);
		return &cprof_enomem;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (struct slot_key){ g->root_refs[i].dst, (uint32_t)i };
	qsort(k, n, sizeof(*k), slot_cmp);
	for (size_t i = 0; i < n; i++)
		by[i] = k[i].id;
	free(k);
	*ret = by;
	return NULL;
}

struct cprof_error *cprof_results_entries(struct cprof_core *core,
					  const struct cprof_analysis *a, bool refs,
					  size_t limit, size_t max_reached,
					  struct cprof_entries *ret)
{
	struct mem m = { .a = a, .core = core, .refs = refs };
	struct cprof_error *err = slots_by_dst(&a->graph, &m.slot_by_dst);
	if (err)
		return err;
	struct store_source src = { &mem_ops, &m };
	err = store_entries(&src, limit, max_reached, ret);
	free(m.slot_by_dst);
	return err;
}

/* The pointers into interior-only objects' middles and the three offsets
 * most of them land at, as cprof_query_leaks' interior_sql counts them (by
 * count, then offset); false when out of memory. */
static bool interior_offsets(const struct cprof_analysis *a, struct cprof_leak_totals *t)
{
	enum { SLOTS = 4096 };     /* distinct offsets counted; more are rare */
	const struct cprof_graph *g = &a->graph;
	const struct cprof_leaks *l = &a->leaks;
	if (!l->flags || !g->interior)
		return true;
	uint64_t *key = calloc(SLOTS, sizeof(*key)), *n = calloc(SLOTS, sizeof(*n));
	if (!key || !n) {
		free(key);
		free(n);
		return false;
	}
	uint64_t k = 0;            /* index into interior_off: interior edges so far */
	for (uint64_t e = 0; e < g->n_edges; e++) {
		if (!cprof_graph_interior(g, e))
			continue;
		uint32_t o = g->interior_off[k++];
		if (!(l->flags[g->dst[e]] & CPROF_INTERIOR_ONLY) || o == UINT32_MAX)
			continue;
		t->interior_pointers++;
		size_t h = (size_t)(o * 0x9E3779B97F4A7C15ull >> 52) & (SLOTS - 1);
		for (size_t i = 0; i < SLOTS; i++, h = (h + 1) & (SLOTS - 1))
			if (!key[h] || key[h] == (uint64_t)o + 1) {
				key[h] = (uint64_t)o + 1;
				n[h]++;
				break;
			}
	}
	for (int r = 0; r < 3; r++) {
		size_t best = SLOTS;
		for (size_t h = 0; h < SLOTS; h++)
			if (key[h] && n[h] && (best == SLOTS || n[h] > n[best] ||
					       (n[h] == n[best] && key[h] < key[best])))
				best = h;
		if (best == SLOTS)
			break;
		t->interior_offset[r] = key[best] - 1;
		t->interior_offset_count[r] = n[best];
		n[best] = 0;
	}
	free(key);
	free(n);
	return true;
}

struct cprof_error *cprof_results_leaks(const struct cprof_analysis *a,
					const struct cprof_previews *pv, size_t limit,
					struct cprof_leak_totals *t,
					struct cprof_leak_row **ret, size_t *n_ret)
{
	const struct cprof_leaks *l = &a->leaks;
	memset(t, 0, sizeof(*t));
	t->direct_count = l->direct.count;
	t->direct_bytes = l->direct.bytes;
	t->indirect_count = l->indirect.count;
	t->indirect_bytes = l->indirect.bytes;
	t->reachable_count = l->reachable.count;
	t->reachable_bytes = l->reachable.bytes;
	t->interior_count = l->interior_only.count;
	t->interior_bytes = l->interior_only.bytes;
	t->garbage_count = l->garbage.count;
	t->garbage_bytes = l->garbage.bytes;
	t->roots = t->direct_count;
	t->not_in_core_bytes = a->graph.bytes_not_in_core;
	if (!interior_offsets(a, t))
		return &cprof_enomem;
	/* the allocator's own chunks (as cprof_query_leaks' totals_sql: used,
	   flag 256) */
	for (size_t i = 0; i < a->n_objects; i++)
		if (a->objects[i].state == CPROF_OBJECT_USED &&
		    (a->objects[i].flags & CPROF_OBJECT_ALLOCATOR_INTERNAL)) {
			t->internal_count++;
			t->internal_bytes += a->objects[i].size;
		}
	/* what only anonymous mappings keep alive (as cprof_query_leaks'
	   unowned_sql): reachable objects retained by a mapping root node */
	const struct cprof_retention *rt = &a->retention;
	for (size_t i = 0; l->flags && rt->retaining && i < a->n_objects; i++) {
		uint32_t r = rt->retaining[i];
		if ((l->flags[i] & CPROF_REACHABLE) && r < rt->n_nodes &&
		    rt->nodes[r].kind == CPROF_RN_MAPPING) {
			t->unowned_count++;
			t->unowned_bytes += a->objects[i].size;
		}
	}
	size_t n = limit && limit < l->n_roots ? limit : l->n_roots;
	struct cprof_leak_row *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return &cprof_enomem;
	for (size_t i = 0; i < n; i++) {
		const struct cprof_leak_root *lr = &l->roots[i];
		const struct cprof_object *o = &a->objects[lr->id];
		const struct cprof_preview *p = cprof_previews_find(pv, lr->id);
		struct cprof_leak_row *r = &rows[i];
		r->id = lr->id;
		r->addr = o->addr;
		r->size = o->size;
		r->holds_count = lr->holds_count;
		r->holds_bytes = lr->holds_bytes;
		const struct cprof_types *ty = &a->types;
		if (ty->object_type && ty->object_type[lr->id] != NONE)
			snprintf(r->type, sizeof(r->type), "%s",
				 ty->types[ty->object_type[lr->id]].name);
		if (p && p->ok) {
			r->preview_len = p->len;
			memcpy(r->preview, p->bytes, p->len);
		}
		if (p && p->text && !(r->pointers = strdup(p->text))) {
			cprof_leak_rows_free(rows, i + 1);
			return &cprof_enomem;
		}
	}
	*ret = rows;
	*n_ret = n;
	return NULL;
}

struct cprof_error *cprof_results_allocators(const struct cprof_heap_walk *walk,
					     struct cprof_allocator_row **ret, size_t *n_ret)
{
	struct cprof_allocator_row *rows = calloc(walk->n_allocators + 1, sizeof(*rows));
	if (!rows)
		return &cprof_enomem;
	for (size_t i = 0; i < walk->n_allocators; i++)
		store_allocator_row(&walk->allocators[i], &rows[i]);
	*ret = rows;
	*n_ret = walk->n_allocators;
	return NULL;
}
