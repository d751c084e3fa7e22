/*
 * test-go-threads: two Go cores analyzed at once, in two threads of one
 * process, must give what each gives alone.
 *
 *   test-go-threads DIR CORE1 EXE1 CORE2 EXE2 [ROUNDS]
 *
 * Each core is first analyzed alone (DIR/alone-1.db, DIR/alone-2.db), then
 * ROUNDS times (default 3) both at once in two threads (DIR/together-1.db,
 * DIR/together-2.db: the last round's).  Every run's results are reduced to a
 * fingerprint - every object (address, size, state, leak class, type and its
 * name, array length, retained bytes and count, dominator, retaining root,
 * root distance), every root node's name and retained size, every root
 * reference's slot name, the warnings, the graph's edges - and the threaded
 * runs' fingerprints must equal the lone runs'.  tests/t0770 runs it on two
 * corpus cores and compares the databases too.
 *
 * Prints one line per run and "N passed, N failed"; exits 1 on a failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/core.h"
#include "cprof/pipeline.h"

struct run {
	const char *core, *exe;
	char db[4096];
	uint64_t fingerprint;
	size_t objects, nodes, warnings;
	char error[512];
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	/* FNV-1a over the value's bytes */
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return mix(h, 0xff);
}

static uint64_t fingerprint(const struct cprof_analysis *a, size_t warnings)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t n = a->n_objects;
	const struct cprof_retention *rt = &a->retention;
	const struct cprof_types *ty = &a->types;
	for (size_t i = 0; i < n; i++) {
		const struct cprof_object *o = &a->objects[i];
		h = mix(h, o->addr);
		h = mix(h, o->size);
		h = mix(h, o->state);
		h = mix(h, a->leaks.flags ? a->leaks.flags[i] : 0);
		uint32_t t = ty->object_type ? ty->object_type[i] : UINT32_MAX;
		h = mix(h, t);
		if (t != UINT32_MAX)
			h = mix_str(h, ty->types[t].name);
		h = mix(h, ty->object_count ? ty->object_count[i] : 0);
		h = mix(h, rt->retained_bytes ? rt->retained_bytes[i] : 0);
		h = mix(h, rt->retained_count ? rt->retained_count[i] : 0);
		h = mix(h, rt->idom ? rt->idom[i] : 0);
		h = mix(h, rt->retaining ? rt->retaining[i] : 0);
		h = mix(h, rt->distance ? rt->distance[i] : 0);
	}
	for (size_t i = 0; i < rt->n_nodes; i++) {
		h = mix_str(h, rt->nodes[i].name);
		h = mix(h, rt->retained_bytes ? rt->retained_bytes[n + i] : 0);
	}
	for (size_t i = 0; i < a->graph.n_root_refs; i++) {
		h = mix(h, a->graph.root_refs[i].slot);
		h = mix(h, a->graph.root_refs[i].dst);
	}
	h = mix(h, a->graph.n_edges);
	for (uint64_t e = 0; e < a->graph.n_edges; e++)
		h = mix(h, a->graph.dst[e]);
	return mix(h, warnings);
}

static void ignore(const char *message, void *arg)
{
	(void)message;
	(void)arg;
}

static void *analyze(void *arg)
{
	struct run *r = arg;
	struct cprof_warnings w = { .callback = ignore };
	struct cprof_core_options co = { .core_path = r->core, .exe_path = r->exe,
					 .warnings = &w };
	struct cprof_core *core = NULL;
	struct cprof_analysis an = { 0 };
	struct cprof_analyze_options ao = { .db_path = r->db, .exe_path = r->exe,
					    .command_line = "test-go-threads" };
	struct cprof_error *err = cprof_core_open(&co, &core);
	if (!err)
		err = cprof_analyze(core, &ao, &an);
	if (err) {
		snprintf(r->error, sizeof(r->error), "%s", err->message);
		cprof_error_destroy(err);
	} else {
		r->objects = an.n_objects;
		r->nodes = an.retention.n_nodes;
		r->warnings = w.count + w.dropped;
		r->fingerprint = fingerprint(&an, r->warnings);
		/* cprof_analyze starts writing the database; this completes it
		   (the graph is freed on the way: the fingerprint comes first) */
		err = cprof_analyze_finish(core, &ao, &an);
		if (err) {
			snprintf(r->error, sizeof(r->error), "%s", err->message);
			cprof_error_destroy(err);
		}
	}
	cprof_analysis_deinit(&an);
	cprof_core_close(core);
	cprof_warnings_deinit(&w);
	return NULL;
}

static int passed, failed;

static void report(const char *what, const struct run *r, const struct run *alone)
{
	bool ok = !r->error[0] && (!alone || r->fingerprint == alone->fingerprint);
	printf("%s %s: %s: %zu objects, %zu root nodes, %zu warnings, fingerprint %016llx%s%s\n",
	       ok ? "ok" : "FAIL", what, r->core, r->objects, r->nodes, r->warnings,
	       (unsigned long long)r->fingerprint, r->error[0] ? "; error: " : "", r->error);
	if (alone && !r->error[0] && r->fingerprint != alone->fingerprint)
		printf("  differs from the lone run's %016llx\n",
		       (unsigned long long)alone->fingerprint);
	ok ? passed++ : failed++;
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: %s DIR CORE1 EXE1 CORE2 EXE2 [ROUNDS]\n", argv[0]);
		return 2;
	}
	int rounds = argc == 7 ? atoi(argv[6]) : 3;
	struct run alone[2], together[2];
	for (int i = 0; i < 2; i++) {
		alone[i] = (struct run){ .core = argv[2 + 2 * i], .exe = argv[3 + 2 * i] };
		snprintf(alone[i].db, sizeof(alone[i].db), "%s/alone-%d.db", argv[1], i + 1);
		analyze(&alone[i]);
		report("alone", &alone[i], NULL);
	}
	for (int round = 0; round < rounds; round++) {
		pthread_t th[2];
		for (int i = 0; i < 2; i++) {
			together[i] = (struct run){ .core = alone[i].core, .exe = alone[i].exe };
			snprintf(together[i].db, sizeof(together[i].db), "%s/together-%d.db",
				 argv[1], i + 1);
			if (pthread_create(&th[i], NULL, analyze, &together[i])) {
				fprintf(stderr, "pthread_create failed\n");
				return 1;
			}
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 2; i++) {
			char what[32];
			snprintf(what, sizeof(what), "together (round %d)", round + 1);
			report(what, &together[i], &alone[i]);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
