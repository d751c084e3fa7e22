/*
 * analyze.c - the main job (see include/cprof/pipeline.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cprof/pipeline.h"
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

static void store_progress(size_t done, size_t total, void *arg)
{
	cprof_progress_update(arg, "writing objects", done, total);
}

static void refs_progress(size_t done, size_t total, void *arg)
{
	cprof_progress_update(arg, "writing references", done, total);
}

/* Roots, the pointer scan and the leak analysis. */
static struct cprof_error *analyze_graph(struct cprof_core *core,
					 struct cprof_progress *progress,
					 struct cprof_analysis *a)
{
	struct cprof_error *err;
	double t0 = cprof_now();
	if (progress)
		cprof_progress_update(progress, "roots", 0, 0);
	if ((err = cprof_roots_find(core, &a->walk, &a->roots)))
		return err;
	double t1 = cprof_now();
	if ((err = cprof_graph_build(core, &a->walk, a->objects, a->n_objects,
				     &a->roots, progress, &a->graph)))
		return err;
	double t2 = cprof_now();
	if (progress)
		cprof_progress_update(progress, "leaks", 0, 0);
	if ((err = cprof_leaks_compute(a->objects, &a->graph, &a->leaks)))
		return err;
	double t3 = cprof_now();
	if (progress)
		cprof_progress_update(progress, "dominators", 0, 0);
	err = cprof_retention_compute(core, a->objects, &a->roots, &a->graph,
				      &a->leaks, &a->retention);
	if (progress)
		cprof_progress_done(progress);
	if (err)
		return err;
	double t4 = cprof_now();
	err = cprof_types_compute(core, a->objects, &a->roots, &a->graph, progress, &a->types);
	if (progress)
		cprof_progress_done(progress);
	if (err)
		return err;
	a->t_roots = t1 - t0;
	a->t_scan = t2 - t1;
	a->t_leaks = t3 - t2;
	a->t_dominators = t4 - t3;
	a->t_types = cprof_now() - t4;
	a->analyzed = true;
	return NULL;
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

/* The heap profile's samples matched to the sites just stored; a profile of
 * another binary is a warning (nothing paired). */
static struct cprof_error *pair_profile(struct cprof_store *st, struct cprof_core *core,
					const struct cprof_analyze_options *o,
					struct cprof_analysis *a)
{
	struct cprof_error *err = cprof_store_profile(st, o->profile_path, o->profile, &a->pairing);
	if (err)
		return err;
	if (!a->pairing.same_binary)
		cprof_warn(core->warnings, "%s: the profile's build id is no module's of %s: it is another binary's; not paired",
			   o->profile_path, core->path);
	else if (!a->pairing.build_id_checked)
		cprof_warn(core->warnings, "%s: the profile names no build id: paired by addresses, unchecked",
			   o->profile_path);
	return NULL;
}

struct cprof_error *cprof_analyze(struct cprof_core *core,
				  const struct cprof_analyze_options *o,
				  struct cprof_analysis *a)
{
	struct cprof_error *err = cprof_walk_heaps(core, o->progress, a);
	if (err || (err = analyze_graph(core, o->progress, a)))
		return err;
	double t0 = cprof_now();
	struct cprof_store *st;
	if ((err = cprof_store_create(o->db_path, &st)))
		return err;
	if ((err = store_meta(st, core, o)) ||
	    (err = cprof_store_core(st, core)) ||
	    (err = cprof_store_heaps(st, &a->walk)) ||
	    (err = cprof_store_allocators(st, &a->walk)) ||
	    (err = cprof_store_objects(st, core, &a->walk, a->objects, a->n_objects, &a->leaks,
				       &a->retention, &a->types,
				       o->progress ? store_progress : NULL,
				       o->progress)) ||
	    (err = cprof_store_roots(st, core, &a->roots, &a->graph)) ||
	    (err = cprof_store_root_nodes(st, &a->retention)) ||
	    (err = cprof_heap_store(st, core, &a->walk, a->objects, a->n_objects,
				    &a->retention)) ||
	    (err = cprof_store_types(st, &a->types)) ||
	    (o->profile && (err = pair_profile(st, core, o, a))) ||
	    (!o->no_refs &&
	     (err = cprof_store_refs(st, &a->graph, o->progress ? refs_progress : NULL,
				     o->progress)))) {
		cprof_store_abort(st);
		return err;
	}
	if (o->progress)
		cprof_progress_update(o->progress, "building indexes", 0, 0);
	err = cprof_store_commit(st);
	if (o->progress)
		cprof_progress_done(o->progress);
	a->t_store = cprof_now() - t0;
	return err;
}

void cprof_analysis_deinit(struct cprof_analysis *a)
{
	cprof_types_deinit(&a->types);
	cprof_retention_deinit(&a->retention);
	cprof_leaks_deinit(&a->leaks);
	cprof_graph_deinit(&a->graph);
	cprof_roots_deinit(&a->roots);
	cprof_heap_walk_deinit(&a->walk);
	free(a->objects);
	memset(a, 0, sizeof(*a));
}
