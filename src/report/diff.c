/*
 * diff.c - `cprof-core diff`'s renderings: text, JSON
 * (formats/diff.json.md) and a pprof profile of the difference (what `go
 * tool pprof -base OLD NEW` would show: each key's new values less its old).
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

static int64_t delta(uint64_t after, uint64_t before)
{
	return (int64_t)(after - before);
}


/* The first line of a key (an allocation stack: its innermost frame). */
static int first_line(const char *s)
{
	return (int)strcspn(s, "\n");
}

void cprof_report_diff(FILE *out, const struct cprof_diff *d, const char *by, size_t limit)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE + 2];
	fprintf(out, "%s objects: %" PRIu64 " (%s) before, %" PRIu64 " (%s) after: %+" PRId64 ", %s\n\n",
		by, d->before_count, fmt_bytes(b1, d->before_bytes), d->after_count,
		fmt_bytes(b2, d->after_bytes), delta(d->after_count, d->before_count),
		fmt_signed_bytes(b3, delta(d->after_bytes, d->before_bytes)));
	fprintf(out, "%9s %9s %9s  %10s %10s %11s  %s\n", "before", "after", "growth",
		"before", "after", "growth", by);
	size_t shown = 0;
	for (size_t i = 0; i < d->n && shown < limit; i++) {
		const struct cprof_diff_row *r = &d->rows[i];
		if (r->after_count == r->before_count && r->after_bytes == r->before_bytes)
			continue;
		const char *what = !strcmp(by, "site") ? r->name : r->key;
		fprintf(out, "%9" PRIu64 " %9" PRIu64 " %+9" PRId64 "  %10s %10s %11s  %.*s\n",
			r->before_count, r->after_count, delta(r->after_count, r->before_count),
			fmt_bytes(b1, r->before_bytes), fmt_bytes(b2, r->after_bytes),
			fmt_signed_bytes(b3, delta(r->after_bytes, r->before_bytes)),
			first_line(what), what);
		shown++;
	}
	size_t changed = 0;
	for (size_t i = 0; i < d->n; i++)
		changed += d->rows[i].after_count != d->rows[i].before_count ||
			   d->rows[i].after_bytes != d->rows[i].before_bytes;
	if (!changed)
		fprintf(out, "(no change)\n");
	else if (changed > shown)
		fprintf(out, "(%zu of %zu changed rows shown)\n", shown, changed);
}

void cprof_report_diff_json(FILE *out, const struct cprof_diff *d, const char *by,
			    const char *old_path, const char *new_path, size_t limit)
{
	struct json j;
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);
	json_kv_string(&j, "old", old_path);
	json_kv_string(&j, "new", new_path);
	json_kv_string(&j, "by", by);
	json_key(&j, "same_program");
	if (d->same_program < 0)
		json_null(&j);
	else
		json_bool(&j, d->same_program == 1);
	json_key(&j, "totals");
	json_object_begin(&j);
	json_kv_uint(&j, "before_count", d->before_count);
	json_kv_uint(&j, "before_bytes", d->before_bytes);
	json_kv_uint(&j, "after_count", d->after_count);
	json_kv_uint(&j, "after_bytes", d->after_bytes);
	json_object_end(&j);
	json_key(&j, "rows");
	json_array_begin(&j);
	for (size_t i = 0; i < d->n && i < limit; i++) {
		const struct cprof_diff_row *r = &d->rows[i];
		json_object_begin(&j);
		json_kv_string(&j, "key", r->key);
		if (!strcmp(by, "site"))
			json_kv_string(&j, "site", r->name);
		if (!strcmp(by, "root"))
			json_kv_string(&j, "kind", strcmp(r->name, r->key) ? r->name : NULL);
		json_kv_uint(&j, "before_count", r->before_count);
		json_kv_uint(&j, "after_count", r->after_count);
		json_kv_int(&j, "count_growth", delta(r->after_count, r->before_count));
		json_kv_uint(&j, "before_bytes", r->before_bytes);
		json_kv_uint(&j, "after_bytes", r->after_bytes);
		json_kv_int(&j, "bytes_growth", delta(r->after_bytes, r->before_bytes));
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}
