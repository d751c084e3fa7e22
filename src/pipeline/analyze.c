/*
 * analyze.c - the main job (see include/cprof/pipeline.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cprof/bigmem.h"
#include "cprof/pipeline.h"
#include "cprof/report.h"
#include "cprof/store.h"

struct collect {
	struct cprof_analysis *a;
	struct cprof_progress *progress;
	bool oom;
};

/* The object sink: appends to the array, doubling it. */
static bool collect_object(const struct cprof_object *obj, void *arg)
{
	struct collect *c = arg;
	struct cprof_analysis *a = c->a;
	if (a->n_objects == a->cap_objects) {
		size_t cap = a->cap_objects ? 2 * a->cap_objects : 4096;
		struct cprof_object *o = realloc(a->objects, cap * sizeof(*o));
		if (!o) {
			c->oom = true;
			return false;
		}
		cprof_huge(o, cap * sizeof(*o));
		a->objects = o;
		a->cap_objects = cap;
	}
	a->objects[a->n_objects++] = *obj;
	if (c->progress && (a->n_objects & 0xffff) == 0)
		cprof_progress_update(c->progress, "walking heaps", a->n_objects, 0);
	return true;
}

struct cprof_error *cprof_walk_heaps(struct cprof_core *core,
				     struct cprof_progress *progress,
				     struct cprof_analysis *a)
{
	double t0 = cprof_now();
	struct collect c = { a, progress, false };
	struct cprof_error *err = cprof_heap_walk_all(core, &a->walk,
						      collect_object, &c);
	if (progress)
		cprof_progress_done(progress);
	if (!err && c.oom)
		err = &cprof_enomem;
	if (!err)
		err = cprof_objects_sort(core, a->objects, &a->n_objects);
	a->t_walk = cprof_now() - t0;
	return err;
}

/* Roots and the pointer scan. */
static struct cprof_error *scan_graph(struct cprof_core *core, struct cprof_progress *progress,
				      struct cprof_analysis *a)
{
	struct cprof_error *err;
	double t0 = cprof_now();
	if (progress)
		cprof_progress_update(progress, "roots", 0, 0);
	if ((err = cprof_roots_find(core, &a->walk, &a->roots)))
		return err;
	double t1 = cprof_now();
	a->mem.rss_walk = cprof_rss_anon();
	if ((err = cprof_graph_build(core, &a->walk, a->objects, a->n_objects,
				     &a->roots, progress, &a->graph)))
		return err;
	a->t_roots = t1 - t0;
	a->t_scan = cprof_now() - t1;
	a->mem.rss_scan = cprof_rss_anon();
	return NULL;
}

/* Leaks, dominators and retention, types. */
static struct cprof_error *analyze_graph(struct cprof_core *core,
					 struct cprof_progress *progress,
					 struct cprof_analysis *a)
{
	struct cprof_error *err;
	double t2 = cprof_now();
	if (progress)
		cprof_progress_update(progress, "leaks", 0, 0);
	if ((err = cprof_leaks_compute(a->objects, &a->graph, &a->leaks)))
		return err;
	double t3 = cprof_now();
	a->mem.rss_leaks = cprof_rss_anon();
	if (progress)
		cprof_progress_update(progress, "dominators", 0, 0);
	err = cprof_retention_compute(core, a->objects, &a->roots, &a->graph,
				      &a->leaks, &a->retention);
	if (progress)
		cprof_progress_done(progress);
	if (err)
		return err;
	double t4 = cprof_now();
	a->mem.rss_dominators = cprof_rss_anon();
	err = cprof_types_compute(core, a->objects, &a->roots, &a->graph, progress, &a->types);
	if (progress)
		cprof_progress_done(progress);
	if (err)
		return err;
	a->t_leaks = t3 - t2;
	a->t_dominators = t4 - t3;
	a->t_types = cprof_now() - t4;
	a->analyzed = true;
	return NULL;
}

/* The analysis's caveats, for every later report: how much memory the core
 * lacked (the leak report says what that means) and the warnings it gave. */
static struct cprof_error *store_caveats(struct cprof_store *st, struct cprof_core *core,
					 const struct cprof_analysis *a)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)a->graph.bytes_not_in_core);
	struct cprof_error *err = cprof_store_meta(st, "not_in_core_bytes", buf);
	const struct cprof_warnings *w = core->warnings;
	size_t len = 1;
	for (size_t i = 0; !err && w && i < w->count; i++)
		len += strlen(w->messages[i]) + 1;
	char *all = !err && w && w->count ? malloc(len) : NULL;
	if (all) {
		size_t k = 0;
		for (size_t i = 0; i < w->count; i++)
			k += (size_t)sprintf(all + k, "%s%s", i ? "\n" : "", w->messages[i]);
		err = cprof_store_meta(st, "warnings", all);
		free(all);
	} else if (!err && w && w->count) {
		err = &cprof_enomem;
	}
	return err;
}

static struct cprof_error *store_meta(struct cprof_store *st,
				      struct cprof_core *core,
				      const struct cprof_analyze_options *o)
{
	char buf[64];
	time_t now = time(NULL);
	struct tm tm;
	struct cprof_error *err;
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((err = cprof_store_meta(st, "created", buf)) ||
	    (err = cprof_store_meta(st, "tool_version", CPROF_VERSION)) ||
	    (err = cprof_store_meta(st, "core", core->path)) ||
	    (err = cprof_store_meta(st, "executable", o->exe_path)) ||
	    (err = cprof_store_meta(st, "command_line", o->command_line)))
		return err;
	snprintf(buf, sizeof(buf), "%d", CPROF_SCHEMA_VERSION);
	if ((err = cprof_store_meta(st, "schema_version", buf)) ||
	    (err = cprof_store_meta(st, "refs", o->no_refs ? "omitted (--no-refs)" : "stored")))
		return err;
	if (core->process.has_psinfo) {
		snprintf(buf, sizeof(buf), "%d", core->process.pid);
		if ((err = cprof_store_meta(st, "pid", buf)) ||
		    (err = cprof_store_meta(st, "process_command", core->process.args)))
			return err;
	}
	snprintf(buf, sizeof(buf), "%d", core->process.fatal_signal);
	if ((err = cprof_store_meta(st, "signal", buf)) ||
	    (err = cprof_store_meta(st, "dumper", cprof_dumper_name(core->process.dumper))))
		return err;
	const struct cprof_module *exe = cprof_core_executable(core);
	if (exe && exe->build_id &&
	    (err = cprof_store_meta(st, "executable_build_id", exe->build_id)))
		return err;
	return NULL;
}

/* The sizes of the analysis's parts, for the memory account. */
static void account(struct cprof_analysis *a)
{
	struct cprof_memory_account *m = &a->mem;
	const struct cprof_graph *g = &a->graph;
	uint64_t n = a->n_objects, nodes = a->retention.n_nodes;
	m->objects = n * sizeof(*a->objects);
	m->graph = 8 * ((uint64_t)g->n + 1) + 8 * g->n_edges + (g->n_edges + 63) / 64 * 8 +
		   4 * g->n_interior;
	m->leak_flags = a->leaks.flags ? n : 0;
	m->dominators = a->retention.dominators_bytes;
	/* idom, retaining, distance, path; retained bytes and count with the
	   root nodes' */
	m->retention = a->retention.idom ? 16 * n + 12 * (n + nodes) : 0;
	m->types = a->types.object_type ? 9 * n : 0;
}

/*
 * The database being written: its big tables by a second thread, and by
 * this one once the summary is made.  Stages, in order:
 *   second thread                         this thread
 *   the ref table (after the scan)        leaks, dominators, types, the summary
 *   -- results: the summary is made --
 *   the object table                      the ref table's index, then the
 *                                         graph's edges are freed
 *   -- graph freed --
 *   object_idom (its sort: 8 bytes an     object_addr, object_leak
 *   object, once the graph is gone)
 * so that the peak of memory stays the analysis's.
 */
enum {
	REFS_WRITTEN = 1 << 0,     /* by the second thread: it no longer reads the graph */
	RESULTS = 1 << 1,          /* the summary is made */
	GRAPH_FREED = 1 << 2,
	ABORT = 1 << 3,            /* the analysis failed: nothing more to write */
};

struct cprof_store_run {
	struct cprof_store *st;
	struct cprof_analysis *a;
	bool refs;
	pthread_t thread;
	bool threaded;
	struct cprof_error *err;   /* the second thread's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;             /* the stages above that are done */
};

static void set_done(struct cprof_store_run *r, unsigned stage)
{
	pthread_mutex_lock(&r->lock);
	r->done |= stage;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Waits for a stage; false when the analysis failed (nothing more to write). */
static bool wait_done(struct cprof_store_run *r, unsigned stage)
{
	pthread_mutex_lock(&r->lock);
	while (!(r->done & (stage | ABORT)))
		pthread_cond_wait(&r->cond, &r->lock);
	bool abort = r->done & ABORT;
	pthread_mutex_unlock(&r->lock);
	return !abort;
}

/* The second thread: the analysis's arrays and the file only (no core:
 * symbols are looked up lazily, by the main thread). */
static void *write_big_tables(void *arg)
{
	struct cprof_store_run *r = arg;
	struct cprof_analysis *a = r->a;
	if (r->refs)
		r->err = cprof_store_refs(r->st, &a->graph);
	set_done(r, REFS_WRITTEN);
	if (!wait_done(r, RESULTS))
		return NULL;
	if (!r->err)
		r->err = cprof_store_objects(r->st, &a->walk, a->objects, a->n_objects,
					     &a->leaks, &a->previews, &a->retention, &a->types);
	if (wait_done(r, GRAPH_FREED) && !r->err)
		r->err = cprof_store_object_idom(r->st, a->objects, a->n_objects, &a->retention);
	return NULL;
}

void cprof_analyze_results_done(struct cprof_analysis *a)
{
	struct cprof_store_run *r = a->run;
	if (!r || !a->reverse.src)
		return;
	a->mem.rss_summary = cprof_rss_anon();
	free(a->reverse.src);
	a->reverse.src = NULL;
	set_done(r, RESULTS);
}

/* This thread's share, after the summary (all of it without a second one). */
static struct cprof_error *write_after_summary(struct cprof_store_run *r)
{
	struct cprof_analysis *a = r->a;
	struct cprof_error *err = NULL;
	if (!r->threaded && r->refs)
		err = cprof_store_refs(r->st, &a->graph);
	if (!err && r->refs)
		err = cprof_store_ref_index(r->st, &a->graph, &a->reverse);
	/* the ref table is the other thread's last read of the graph */
	if (r->threaded)
		wait_done(r, REFS_WRITTEN);
	cprof_graph_drop_edges(&a->graph);
	set_done(r, GRAPH_FREED);
	if (!r->threaded) {
		if (!err)
			err = cprof_store_objects(r->st, &a->walk, a->objects, a->n_objects,
						  &a->leaks, &a->previews, &a->retention, &a->types);
		if (!err)
			err = cprof_store_object_idom(r->st, a->objects, a->n_objects,
						      &a->retention);
	}
	if (!err)
		err = cprof_store_object_keys(r->st, a->objects, a->n_objects, &a->leaks);
	return err;
}

/* Makes the file and starts writing it (after the scan). */
static struct cprof_error *start_store(const struct cprof_analyze_options *o,
				       struct cprof_analysis *a)
{
	struct cprof_error *err;
	struct cprof_store_run *r = calloc(1, sizeof(*r));
	if (!r)
		return &cprof_enomem;
	r->a = a;
	r->refs = !o->no_refs;
	if ((err = cprof_store_create(o->db_path, &r->st))) {
		free(r);
		return err;
	}
	a->run = r;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	/* Without a second thread, this one does it all after the summary. */
	r->threaded = !pthread_create(&r->thread, NULL, write_big_tables, r);
	return NULL;
}

/* What the summary and the rest of the store read besides the analysis: the
 * graph reversed, the leak roots' previews. */
static struct cprof_error *prepare_results(struct cprof_core *core, struct cprof_analysis *a)
{
	struct cprof_error *err;
	a->mem.rss_types = cprof_rss_anon();
	account(a);
	if ((err = cprof_graph_reverse(&a->graph, &a->reverse)) ||
	    (err = cprof_previews_make(core, a->objects, &a->leaks, &a->previews)))
		return err;
	a->mem.reverse = (a->reverse.row ? 4 : 8) * ((uint64_t)a->graph.n + 2) +
			 4 * a->graph.n_edges;
	return NULL;
}

/* The heap profile's samples matched to the sites just stored; a profile of
 * another binary is a warning (nothing paired). */
static struct cprof_error *pair_profile(struct cprof_store *st, struct cprof_core *core,
					const struct cprof_analyze_options *o,
					struct cprof_analysis *a)
{
	struct cprof_error *err = cprof_store_profile(st, o->profile_path, o->profile, &a->pairing);
	if (err)
		return err;
	/* the reason says how it was told: a build id, or a text profile's
	   mappings (another process's) */
	if (!a->pairing.same_binary)
		cprof_warn(core->warnings, "%s: not the program of %s (%s); not paired",
			   o->profile_path, core->path, a->pairing.reason);
	else if (!a->pairing.build_id_checked)
		cprof_warn(core->warnings, "%s: paired by addresses, unchecked (%s)",
			   o->profile_path, a->pairing.reason);
	return NULL;
}

struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *o,
				  struct cprof_analysis *a)
{
	struct cprof_error *err = cprof_walk_heaps(core, o->progress, a);
	if (err || (err = scan_graph(core, o->progress, a)) || (err = start_store(o, a)) ||
	    (err = analyze_graph(core, o->progress, a)) || (err = prepare_results(core, a)))
		return err;
	a->t_analyzed = cprof_now();
	return NULL;
}

/* Writes this thread's share of the big tables and waits for the other's
 * (abort: the analysis failed, nothing more is written); frees the run. */
static struct cprof_error *join_store(struct cprof_analysis *a, bool abort,
				      struct cprof_store **st)
{
	struct cprof_store_run *r = a->run;
	struct cprof_error *err = NULL;
	if (abort) {
		set_done(r, ABORT);
	} else {
		cprof_analyze_results_done(a);
		err = write_after_summary(r);
		if (err)
			set_done(r, ABORT);
	}
	if (r->threaded)
		pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	if (!err)
		err = r->err;
	else
		cprof_error_destroy(r->err);
	*st = r->st;
	a->run = NULL;
	free(r);
	return err;
}

struct cprof_error *cprof_analyze_finish(struct cprof_core *core,
					 const struct cprof_analyze_options *o,
					 struct cprof_analysis *a)
{
	struct cprof_store *st;
	if (o->progress)
		cprof_progress_update(o->progress, "writing cprof.db", 0, 0);
	struct cprof_error *err = join_store(a, false, &st);
	double t1 = cprof_now();
	struct cprof_store_stats ss;
	cprof_store_stats(st, &ss);
	a->t_objects = ss.t_objects;
	a->t_object_indexes = ss.t_object_indexes;
	a->t_refs = ss.t_refs;
	a->t_ref_index = ss.t_ref_index;
	a->mem.store = ss.working_bytes;
	a->mem.rss_store = cprof_rss_anon();
	/* each mapping's role, as info and the summary tell it (a gcore core's
	   no-access mappings read r--: the role says what they were) */
	struct cprof_mapping_role *mr = NULL;
	const char **roles = NULL;
	if (!err && !(err = cprof_report_mapping_roles(core, &a->walk, &mr))) {
		roles = calloc(core->n_segments + 1, sizeof(*roles));
		for (size_t i = 0; roles && i < core->n_segments; i++)
			roles[i] = mr[i].role;
	}
	if (err ||
	    (err = cprof_store_begin_tables(st)) ||
	    (err = store_meta(st, core, o)) ||
	    (err = store_caveats(st, core, a)) ||
	    (err = cprof_store_core(st, core, roles)) ||
	    (err = cprof_store_heaps(st, &a->walk)) ||
	    (err = cprof_store_allocators(st, &a->walk)) ||
	    (err = cprof_store_roots(st, core, &a->roots, &a->graph)) ||
	    (err = cprof_store_root_nodes(st, &a->retention)) ||
	    (err = cprof_heap_store(st, core, &a->walk, a->objects, a->n_objects,
				    &a->retention)) ||
	    (err = cprof_store_types(st, &a->types)) ||
	    (o->profile && (err = pair_profile(st, core, o, a)))) {
		free(roles);
		free(mr);
		cprof_store_abort(st);
		if (o->progress)
			cprof_progress_done(o->progress);
		return err;
	}
	free(roles);
	free(mr);
	err = cprof_store_commit(st);
	if (o->progress)
		cprof_progress_done(o->progress);
	struct stat sb;
	if (!err && stat(o->db_path, &sb) == 0)
		a->db_bytes = (uint64_t)sb.st_size;
	a->t_tables = cprof_now() - t1;
	a->t_store = cprof_now() - a->t_analyzed;
	cprof_store_stats_sqlite(&a->mem.sqlite);
	return err;
}

void cprof_analysis_deinit(struct cprof_analysis *a)
{
	if (a->run) {
		struct cprof_store *st;
		cprof_error_destroy(join_store(a, true, &st));
		cprof_store_abort(st);
	}
	cprof_previews_deinit(&a->previews);
	cprof_graph_reverse_deinit(&a->reverse);
	cprof_types_deinit(&a->types);
	cprof_retention_deinit(&a->retention);
	cprof_leaks_deinit(&a->leaks);
	cprof_graph_deinit(&a->graph);
	cprof_roots_deinit(&a->roots);
	cprof_heap_walk_deinit(&a->walk);
	free(a->objects);
	memset(a, 0, sizeof(*a));
}
