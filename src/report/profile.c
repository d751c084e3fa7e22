/*
 * profile.c - the heap profile paired with the core (analyze --profile):
 * per site the profile's in-use estimate beside the core's records, and
 * where the mapped memory is, text and JSON (formats/summary.json.md's
 * "profile").
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* "+12", "-3", "+1.25 MiB" */
static const char *signed_count(char *buf, size_t size, int64_t v)
{
	snprintf(buf, size, "%+" PRId64, v);
	return buf;
}


static void rss_table(FILE *out, const struct cprof_profile_report *r)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	int64_t total = 0;
	fprintf(out, "\nwhere the mapped memory is (why RSS is larger than the heap profile)\n");
	fprintf(out, "  %-34s %-46s %10s %10s\n", "", "from", "bytes", "total");
	fprintf(out, "  %-34s %-46s %10s\n", "the heap profile's in-use estimate", "inuse_space",
		fmt_bytes(b1, (uint64_t)(r->inuse_space > 0 ? r->inuse_space : 0)));
	for (size_t i = 0; i < r->n_rss; i++) {
		int64_t v = r->rss[i].bytes;
		total += v;
		fprintf(out, "  %-34s %-46s %10s%s %10s\n", r->rss[i].what, r->rss[i].source,
			fmt_bytes(b1, (uint64_t)(v < 0 ? -v : v)), v < 0 ? "-" : " ",
			fmt_bytes(b2, (uint64_t)(total > 0 ? total : 0)));
	}
	fprintf(out, "  %-34s %-46s %10s\n", "mapped in the core", "every mapping",
		fmt_bytes(b1, r->mapped));
	if ((uint64_t)total != r->mapped)
		fprintf(out, "  (the rows add up to %" PRId64 " bytes, not %" PRIu64 ")\n", total, r->mapped);
	for (size_t i = 0; i < r->n_rss; i++)
		if (r->rss[i].bytes < 0)
			fprintf(out, "  (%s is negative: the figures disagree)\n", r->rss[i].what);
}

void cprof_report_profile(FILE *out, const struct cprof_profile_report *r, size_t limit)
{
	if (!r->present)
		return;
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE], b4[FMT_BYTES_SIZE + 2];
	char c1[32];
	fprintf(out, "\nheap profile %s (%s", r->path, r->format);
	if (r->period)
		fprintf(out, ", period %" PRId64, r->period);
	fprintf(out, "): %" PRIu64 " samples, %" PRIu64 " paired with the core's allocation records\n",
		r->samples, r->paired_samples);
	if (!r->paired)
		fprintf(out, "  not paired: %s\n", r->reason);
	else if (r->reason[0])
		fprintf(out, "  %s\n", r->reason);
	else
		fprintf(out, "  the same binary: build id %s\n", r->build_id);
	if (r->unpaired_inuse)
		fprintf(out, "  %" PRIu64 " samples with objects in use match no record of the core\n",
			r->unpaired_inuse);
	if (!r->n_sites) {         /* neither the profile nor the core names a site */
		rss_table(out, r);
		return;
	}
	fprintf(out, "  %21s  %31s  %16s\n", "profile (in use)", "core (its records, now)", "growth");
	if (r->period > 1)
		fprintf(out, "  (the profile samples one allocation per %" PRId64 " bytes and scales; the core's\n"
			"   records are the sampled objects themselves: growth compares the profile with\n"
			"   the records scaled the same way)\n", r->period);
	fprintf(out, "  %8s %10s   %8s %10s %10s  %6s %10s  %s\n", "objects", "bytes", "objects",
		"bytes", "retained", "objs", "bytes", "site, and the root retaining most of it");
	size_t shown = 0;
	for (size_t i = 0; i < r->n_sites && shown < limit; i++, shown++) {
		const struct cprof_profile_site *s = &r->sites[i];
		fprintf(out, "  %8" PRId64 " %10s   %8" PRIu64 " %10s %10s  %6s %10s  %s\n",
			s->profile_objects, fmt_bytes(b1, (uint64_t)(s->profile_bytes > 0 ? s->profile_bytes : 0)),
			s->objects, fmt_bytes(b2, s->bytes), fmt_bytes(b3, s->retained),
			signed_count(c1, sizeof(c1), s->estimate_objects - s->profile_objects),
			fmt_signed_bytes(b4, s->estimate_bytes - s->profile_bytes), s->name);
		if (s->root[0])
			fprintf(out, "  %71s  held by %s\n", "", s->root);
	}
	if (r->n_sites > shown)
		fprintf(out, "  (%zu of %zu sites shown: cprof-core histogram --by site)\n", shown, r->n_sites);
	rss_table(out, r);
}

void cprof_report_profile_json(struct json *j, const struct cprof_profile_report *r)
{
	if (!r->present) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_kv_string(j, "path", r->path);
	json_kv_string(j, "format", r->format);
	json_kv_int(j, "period", r->period);
	json_kv_string(j, "build_id", r->build_id[0] ? r->build_id : NULL);
	json_kv_bool(j, "paired", r->paired);
	json_kv_string(j, "reason", r->reason[0] ? r->reason : NULL);
	json_kv_uint(j, "samples", r->samples);
	json_kv_uint(j, "paired_samples", r->paired_samples);
	json_kv_uint(j, "unpaired_inuse_samples", r->unpaired_inuse);
	json_kv_int(j, "inuse_objects", r->inuse_objects);
	json_kv_int(j, "inuse_space", r->inuse_space);
	json_key(j, "sites");
	json_array_begin(j);
	for (size_t i = 0; i < r->n_sites; i++) {
		const struct cprof_profile_site *s = &r->sites[i];
		json_object_begin(j);
		json_kv_string(j, "site", s->name);
		json_kv_bool(j, "in_profile", s->in_profile);
		json_kv_int(j, "profile_objects", s->profile_objects);
		json_kv_int(j, "profile_bytes", s->profile_bytes);
		json_kv_uint(j, "objects", s->objects);
		json_kv_uint(j, "bytes", s->bytes);
		json_kv_uint(j, "object_bytes", s->object_bytes);
		json_kv_int(j, "estimate_objects", s->estimate_objects);
		json_kv_int(j, "estimate_bytes", s->estimate_bytes);
		json_kv_uint(j, "retained_bytes", s->retained);
		json_kv_string(j, "root", s->root[0] ? s->root : NULL);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "memory");
	json_array_begin(j);
	for (size_t i = 0; i < r->n_rss; i++) {
		json_object_begin(j);
		json_kv_string(j, "what", r->rss[i].what);
		json_kv_string(j, "from", r->rss[i].source);
		json_kv_int(j, "bytes", r->rss[i].bytes);
		json_object_end(j);
	}
	json_array_end(j);
	json_kv_uint(j, "mapped_bytes", r->mapped);
	json_object_end(j);
}
