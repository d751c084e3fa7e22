/*
 * roots.c - `roots`' renderings (cprof_query_roots): per retaining root the
 * objects' count, own bytes and what they retain, with an example path and
 * the root slots that reach a root of several slots; text and JSON.
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* The example path's root slot, or why there is none. */
static const char *example_root(const struct cprof_root_group *r)
{
	if (r->path.n)
		return r->path.slot.slot_name;
	return r->example.leak[0] ? "(leaked: no root)" : "?";
}

void cprof_report_roots(FILE *out, const struct cprof_roots_report *r, const char *type_pattern)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	cprof_report_not_analyzed(out, r->allocators, r->n_allocators);
	fprintf(out, "%9s %10s %10s  %-10s %s\n", "objects", "self", "retained", "kind", "retained by");
	for (size_t i = 0; i < r->n; i++) {
		const struct cprof_root_group *x = &r->groups[i];
		fprintf(out, "%9" PRIu64 " %10s %10s  %-10s %s", x->g.count,
			fmt_bytes(b1, x->g.self_bytes), fmt_bytes(b2, x->g.retained_bytes),
			x->g.kind, x->g.key);
		cprof_report_guessed(out, type_pattern != NULL, x->g.guessed, x->g.count);
		fputc('\n', out);
		if (x->path.n)
			cprof_report_path(out, &x->path, "                                            ");
		else
			fprintf(out, "%43s e.g. %s -> 0x%" PRIx64 "\n", "", example_root(x),
				x->example.addr);
		/* the example's slots (the group's would take a search per
		   object): said so, as top says "the biggest reached from" */
		for (size_t k = 0; k < x->n_reached; k++)
			fprintf(out, "%43s %s %s\n", "", k ? "           " : "e.g. reached from",
				x->reached_from[k]);
	}
	cprof_report_garbage_left_out(out, r->garbage_count, r->garbage_bytes, r->filtered);
	if (!r->n)
		fprintf(out, "(no object%s%s%s)\n", type_pattern ? " of a type matching '" : "",
			type_pattern ? type_pattern : "", type_pattern ? "'" : "");
	/* "none" must not read as "there are none": untyped objects may be
	   of that type */
	if (type_pattern && r->untyped_count) {
		char b[FMT_BYTES_SIZE];
		fprintf(out, "(%" PRIu64 " reachable objects, %s, have no type, and no pattern can match "
			"them: cprof-core histogram --by size shows them)\n", r->untyped_count,
			fmt_bytes(b, r->untyped_bytes));
	}
}

void cprof_report_roots_json(FILE *out, const struct cprof_roots_report *r)
{
	struct json j;
	json_init(&j, out);
	json_array_begin(&j);
	for (size_t i = 0; i < r->n; i++) {
		const struct cprof_root_group *x = &r->groups[i];
		json_object_begin(&j);
		json_kv_string(&j, "root", x->g.key);
		json_kv_string(&j, "kind", x->g.kind);
		json_kv_uint(&j, "count", x->g.count);
		json_kv_uint(&j, "self_bytes", x->g.self_bytes);
		json_kv_uint(&j, "retained_bytes", x->g.retained_bytes);
		json_kv_uint(&j, "guessed", x->g.guessed);
		json_kv_bool(&j, "shared", !strcmp(x->g.kind, "shared"));
		json_key(&j, "path");
		json_object_begin(&j);
		json_kv_string(&j, "root_slot", example_root(x));
		json_key(&j, "objects");
		json_array_begin(&j);
		for (size_t k = 0; k < x->path.n; k++)
			json_hex(&j, x->path.addrs[k]);
		if (!x->path.n && x->example.id != CPROF_NONE_ID)
			json_hex(&j, x->example.addr);
		json_array_end(&j);
		json_object_end(&j);
		json_key(&j, "reached_from");
		json_array_begin(&j);
		for (size_t k = 0; k < x->n_reached; k++)
			json_string(&j, x->reached_from[k]);
		json_array_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_finish(&j);
}
