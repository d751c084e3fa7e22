/*
 * goruntime.c - the Go runtime of a process, read from its core (see
 * include/cprof/goruntime.h).
 *
 * Opening reads everything once: the layouts (layout.c), the version, the
 * wait reasons, the module data and the pclntab's tables (pcln.c), the
 * runtime's accounting, the goroutines and their groups (goroutines.c).
 * Afterwards the runtime is only read: its readers keep no state of their own
 * beyond a call, so cores opened in several threads share nothing.
 *
 * Only the pointer size (8) and the encoding of the runtime's own data (a Go
 * string is {ptr, len}, a slice {ptr, len, cap}, an abi.Name a flag byte, a
 * uvarint length and the bytes) are known here without DWARF: they are the
 * language.
 */
#include <stdlib.h>
#include <string.h>

#include "goruntime-internal.h"

/* Reads a Go string {ptr, len} at addr into a malloc'd C string (NULL on error). */
static char *read_go_string(struct cprof_core *core, uint64_t addr, size_t max)
{
	uint64_t hdr[2];
	if (!cprof_core_try_read(core, addr, hdr, sizeof(hdr)) || hdr[1] > max)
		return NULL;
	char *s = malloc(hdr[1] + 1);
	if (!s)
		return NULL;
	if (hdr[1] && !cprof_core_try_read(core, hdr[0], s, hdr[1])) {
		free(s);
		return NULL;
	}
	s[hdr[1]] = '\0';
	return s;
}

/* runtime.waitReasonStrings: [N]string, N from the symbol's size. */
static void read_wait_reasons(struct cprof_core *core, const struct cprof_module *m,
			      struct cprof_go_private *p)
{
	uint64_t addr, size;
	if (!cprof_core_find_symbol(core, m, "runtime.waitReasonStrings", &addr, &size) ||
	    size / 16 == 0 || size / 16 > 256)
		return;
	p->wait_reasons = calloc(size / 16, sizeof(char *));
	if (!p->wait_reasons)
		return;
	p->n_wait_reasons = size / 16;
	for (size_t i = 0; i < p->n_wait_reasons; i++)
		p->wait_reasons[i] = read_go_string(core, addr + 16 * i, 256);
}

static void go_version(struct cprof_core *core, const struct cprof_module *m,
		       char *buf, size_t size)
{
	uint64_t addr;
	char *v = NULL;
	snprintf(buf, size, "unknown");
	if (cprof_core_find_symbol(core, m, "runtime.buildVersion", &addr, NULL))
		v = read_go_string(core, addr, 64);
	if (v)
		snprintf(buf, size, "%s", strncmp(v, "go", 2) ? v : v + 2);
	free(v);
}

/* runtime.firstmoduledata, read once: the data/bss bounds, their masks, the
 * types (into rt) and the pclntab's tables (go_pcln_open). */
static void read_moduledata(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	const struct go_layout *l = &rt->priv->l;
	uint8_t buf[4096];
	uint64_t md;
	struct cprof_error *err = NULL;
	if (!l->md_size || !cprof_core_find_symbol(core, rt->module, "runtime.firstmoduledata",
						     &md, NULL) ||
	    (err = cprof_core_read(core, md, buf, l->md_size))) {
		cprof_error_destroy(err);
		go_pcln_open(core, rt, NULL);
		return;
	}
	uint64_t v[MD_TYPES + 2];
	for (int i = 0; i <= MD_ETYPES; i++) {
		/* bitvector{n int32; bytedata *uint8}: the pointer is the second word */
		int64_t at = l->md[i] + (i == MD_GCDATAMASK || i == MD_GCBSSMASK ? 8 : 0);
		v[i] = 0;
		if (l->md[i] >= 0 && (uint64_t)at + 8 <= l->md_size)
			memcpy(&v[i], buf + at, 8);
	}
	rt->data = v[MD_DATA]; rt->edata = v[MD_EDATA];
	rt->bss = v[MD_BSS]; rt->ebss = v[MD_EBSS];
	rt->noptrdata = v[MD_NOPTRDATA]; rt->enoptrdata = v[MD_ENOPTRDATA];
	rt->noptrbss = v[MD_NOPTRBSS]; rt->enoptrbss = v[MD_ENOPTRBSS];
	rt->gcdatamask = v[MD_GCDATAMASK];
	rt->gcbssmask = v[MD_GCBSSMASK];
	rt->types = v[MD_TYPES];
	rt->etypes = v[MD_ETYPES];
	go_pcln_open(core, rt, buf);
}

/* ---- the runtime's accounting ---- */

static void add_stat(struct cprof_go_runtime *rt, const char *name, uint64_t v,
		     const char *what)
{
	if (rt->n_stats < sizeof(rt->stats) / sizeof(rt->stats[0]))
		rt->stats[rt->n_stats++] = (typeof(rt->stats[0])){ name, v, what };
}

/* The uint64 at offset off (from the layout; -1 when absent) of global sym. */
static bool global_word(struct cprof_core *core, const struct cprof_module *m,
			const char *sym, int64_t off, uint64_t *ret)
{
	uint64_t addr;
	if (off < 0 || !cprof_core_find_symbol(core, m, sym, &addr, NULL))
		return false;
	return cprof_core_try_read(core, addr + (uint64_t)off, ret, 8);
}

static void read_stats(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	const struct cprof_module *m = rt->module;
	const struct go_layout *l = &rt->priv->l;
	uint64_t inuse, released, freeb, v;
	if (global_word(core, m, "runtime.gcController", l->gc_heap_inuse, &inuse) &&
	    global_word(core, m, "runtime.gcController", l->gc_heap_released, &released) &&
	    global_word(core, m, "runtime.gcController", l->gc_heap_free, &freeb)) {
		add_stat(rt, "HeapInuse", inuse, "spans with objects");
		add_stat(rt, "HeapIdle", freeb + released, "free spans, mapped or released");
		add_stat(rt, "HeapReleased", released, "returned to the OS");
		add_stat(rt, "HeapSys", inuse + freeb + released, "heap address space obtained");
	}
	const struct { int64_t off; const char *name, *what; } ms[] = {
		{ l->ms_stacks_sys, "StackSys", "goroutine and system stacks" },
		{ l->ms_mspan_sys, "MSpanSys", "span structures" },
		{ l->ms_mcache_sys, "MCacheSys", "per-P caches" },
		{ l->ms_buckhash_sys, "BuckHashSys", "profiling bucket hash table" },
		{ l->ms_gc_sys, "GCSys", "garbage collector metadata" },
		{ l->ms_other_sys, "OtherSys", "other runtime allocations" },
	};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (global_word(core, m, "runtime.memstats", ms[i].off, &v))
			add_stat(rt, ms[i].name, v, ms[i].what);
}

/* ---- open, close ---- */

/* The core's second line source: Go's pclntab (libdw cannot read the line
 * tables of Go 1.26's DWARF 5). */
static bool pcln_lines(struct cprof_core *core, void *arg, uint64_t addr, bool is_return,
		       const char **function, const char **file, int *line)
{
	char fn[512], fl[1024];
	if (!cprof_go_pc_info(core, arg, addr, is_return, fn, sizeof(fn), fl, sizeof(fl), line))
		return false;
	*function = cprof_core_intern(core, fn);
	*file = cprof_core_intern(core, fl);
	return true;
}

/* And the calls inlined there, from the inline tree. */
static size_t pcln_calls(struct cprof_core *core, void *arg, uint64_t addr, bool is_return,
			 struct cprof_symbol *ret, size_t max)
{
	struct cprof_go_call calls[64];
	size_t n = cprof_go_pc_calls(core, arg, addr, is_return, calls,
				     max < 64 ? max : 64);
	for (size_t i = 0; i < n; i++)
		ret[i] = (struct cprof_symbol){
			.function = calls[i].function,
			.file = strcmp(calls[i].file, "?") ? calls[i].file : NULL,
			.line = strcmp(calls[i].file, "?") ? calls[i].line : 0,
		};
	return n;
}

/* Opens the runtime of module m (rt and its private half allocated). */
static struct cprof_error *open_runtime(struct cprof_core *core, struct cprof_go_runtime *rt)
{
	const struct cprof_module *m = rt->module;
	struct cprof_go_private *p = rt->priv;
	struct cprof_error *err = go_layout_read(core, m, &p->l);
	uint64_t addr;
	if (err) {
		if (err->code == CPROF_ERROR_MISSING_DEBUG_INFO && !cprof_core_module_dwarf(core, m, &addr)) {
			cprof_error_destroy(err);
			err = cprof_error_create(CPROF_ERROR_MISSING_DEBUG_INFO,
						 "%s: a Go program without DWARF (built with -ldflags=-w?): its heap cannot be walked; rebuild without -w (the runtime's layouts come from DWARF)",
						 m->name);
		}
		return err;
	}
	go_version(core, m, rt->version, sizeof(rt->version));
	read_wait_reasons(core, m, p);
	read_moduledata(core, rt);
	read_stats(core, rt);
	p->core = core;
	cprof_core_set_line_source(core, m, pcln_lines, rt);
	cprof_core_set_call_source(core, pcln_calls, rt);
	if ((err = go_read_goroutines(core, rt))) {
		if (err->code == CPROF_ERROR_NOMEM)
			return err;
		cprof_warn(core->warnings, "%s: goroutines not read: %s", core->path,
			   err->message);
		cprof_error_destroy(err);
	}
	return go_group_goroutines(core, rt);
}

struct cprof_error *cprof_go_runtime_open(struct cprof_core *core,
					  struct cprof_go_runtime **ret)
{
	*ret = NULL;
	const struct cprof_module *m = NULL;
	uint64_t mheap = 0;
	for (size_t i = 0; i < core->n_modules && !m; i++)
		if (cprof_core_find_symbol(core, &core->modules[i], "runtime.mheap_", &mheap, NULL))
			m = &core->modules[i];
	if (!m)
		return NULL;
	struct cprof_go_runtime *rt = calloc(1, sizeof(*rt));
	struct cprof_go_private *p = calloc(1, sizeof(*p));
	if (!rt || !p) {
		free(rt);
		free(p);
		return &cprof_enomem;
	}
	rt->module = m;
	rt->mheap = mheap;
	rt->priv = p;
	struct cprof_error *err = open_runtime(core, rt);
	if (err) {
		cprof_go_runtime_destroy(rt);
		return err;
	}
	*ret = rt;
	return NULL;
}

void cprof_go_runtime_destroy(struct cprof_go_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n_goroutines; i++)
		free(rt->goroutines[i].frames);
	free(rt->goroutines);
	free(rt->m_threads);
	free(rt->thread_sp);
	free(rt->arenas);
	free(rt->typed);
	if (rt->profile) {
		cprof_go_profile_deinit(rt->profile);
		free(rt->profile);
	}
	if (rt->priv) {
		if (rt->priv->core)
			cprof_core_set_line_source(rt->priv->core, NULL, NULL, NULL);
		for (size_t i = 0; i < rt->priv->n_wait_reasons; i++)
			free(rt->priv->wait_reasons[i]);
		free(rt->priv->wait_reasons);
		go_calls_free(rt->priv);
		free(rt->priv);
	}
	free(rt);
}

/* ---- type names ---- */

bool cprof_go_type_name(struct cprof_core *core, const struct cprof_go_runtime *rt,
			uint64_t typ, char *buf, size_t size)
{
	const struct go_layout *l = &rt->priv->l;
	if (!typ || l->type_missing || !rt->types || size < 2)
		return false;
	uint8_t t[4096];
	if (l->type_size > sizeof(t) || !cprof_core_try_read(core, typ, t, l->type_size))
		return false;
	int32_t str = (int32_t)go_get(t, &l->type[TYPE_STR]);
	uint64_t tflag = go_get(t, &l->type[TYPE_TFLAG]);
	if (str <= 0 || rt->types + (uint64_t)str >= rt->etypes)
		return false;
	/* abi.Name: a flag byte, the length as a uvarint, the bytes. */
	uint8_t hdr[11];
	uint64_t name = rt->types + (uint64_t)str;
	if (!cprof_core_try_read(core, name, hdr, sizeof(hdr)))
		return false;
	uint64_t len = 0;
	int i = 1, shift = 0;
	for (; i < 11; i++, shift += 7) {
		len |= (uint64_t)(hdr[i] & 0x7f) << shift;
		if (!(hdr[i] & 0x80))
			break;
	}
	if (i >= 11 || len == 0)
		return false;
	bool star = l->tflag_extra_star && (tflag & (uint64_t)l->tflag_extra_star);
	if (len >= size)
		len = size - 1;
	if (!cprof_core_try_read(core, name + i + 1, buf, len))
		return false;
	buf[len] = '\0';
	if (star && buf[0] == '*')
		memmove(buf, buf + 1, len);
	return true;
}

uint64_t cprof_go_type_size(struct cprof_core *core, const struct cprof_go_runtime *rt,
			    uint64_t typ)
{
	const struct go_layout *l = &rt->priv->l;
	uint64_t size = 0;
	if (typ && !l->type_missing)
		cprof_core_try_read(core, typ + l->type[TYPE_SIZE].off, &size,
				    (size_t)l->type[TYPE_SIZE].size);
	return size;
}

/* ---- interfaces ---- */

uint64_t cprof_go_iface_target(struct cprof_core *core, const struct cprof_go_runtime *rt,
			       uint64_t word0, bool eface, bool *func)
{
	*func = false;
	const struct go_layout *l = &rt->priv->l;
	uint64_t typ = word0, kind = 0, tflag = 0;
	struct cprof_error *err = NULL;
	if (!word0 || l->iface_missing)
		return 0;
	const struct go_member *k = &l->type[TYPE_KIND], *tf = &l->type[TYPE_TFLAG];
	if (!eface && (err = cprof_core_read_u64(core, word0 + (uint64_t)l->itab_type, &typ)))
		goto fail;
	if (!typ || (err = cprof_core_read(core, typ + k->off, &kind, (size_t)k->size)) ||
	    (err = cprof_core_read(core, typ + tf->off, &tflag, (size_t)tf->size)))
		goto fail;
	/* A pointer is stored in the data word itself: it points to an Elem.
	   Other pointer-shaped values (maps, chans, funcs) are not followed;
	   any other value is boxed: the data word points to a copy of it. */
	int64_t kd = l->kind_direct;
	uint64_t kind_mask = (uint64_t)(kd - 1 > 0 ? kd - 1 : 31);
	*func = l->kind_func >= 0 && (kind & kind_mask) == (uint64_t)l->kind_func;
	if ((kind & kind_mask) == (uint64_t)l->kind_pointer) {
		if ((err = cprof_core_read_u64(core, typ + (uint64_t)l->ptr_elem, &typ)))
			goto fail;
		return typ;
	}
	if ((kd && (kind & (uint64_t)kd)) || (l->tflag_direct && (tflag & (uint64_t)l->tflag_direct)))
		return 0;
	return typ;
fail:
	cprof_error_destroy(err);
	return 0;
}
