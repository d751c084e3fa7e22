/*
 * diff.c - `cprof-core diff`'s renderings: text, JSON
 * (formats/diff.json.md) and a pprof profile of the difference (what `go
 * tool pprof -base OLD NEW` would show: each key's new values less its old).
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/pprof.h"
#include "cprof/report.h"

static int64_t delta(uint64_t after, uint64_t before)
{
	return (int64_t)(after - before);
}

/* "+1.25 MiB", "-24 B", "0 B" */
static const char *signed_bytes(char *buf, int64_t v)
{
	char b[FMT_BYTES_SIZE];
	fmt_bytes(b, (uint64_t)(v < 0 ? -v : v));
	snprintf(buf, FMT_BYTES_SIZE + 2, "%s%s", v > 0 ? "+" : v < 0 ? "-" : "", b);
	return buf;
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
		signed_bytes(b3, delta(d->after_bytes, d->before_bytes)));
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
			signed_bytes(b3, delta(r->after_bytes, r->before_bytes)),
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

struct cprof_error *cprof_report_pprof_diff(const struct cprof_diff *d, bool sites,
					    const char *comment, const char *out)
{
	static const char *const types[] = { "inuse_objects", "inuse_space" };
	static const char *const units[] = { "count", "bytes" };
	struct cprof_pprof *p;
	struct cprof_error *err = cprof_pprof_create(types, units, 2, "inuse_space", &p);
	if (err)
		return err;
	enum { MAX_FRAMES = 256 };
	uint64_t locs[MAX_FRAMES];
	for (size_t i = 0; !err && i < d->n; i++) {
		const struct cprof_diff_row *r = &d->rows[i];
		int64_t v[2] = { delta(r->after_count, r->before_count),
				 delta(r->after_bytes, r->before_bytes) };
		if (!v[0] && !v[1])
			continue;
		/* a key of several lines (an allocation stack) is a frame a line */
		size_t n = 0;
		const char *from = r->key;
		/* an allocation stack starts at its site's frame, as Go's profiles */
		const char *at = sites && r->name[0] ? strstr(r->key, r->name) : NULL;
		if (at && (at == r->key || at[-1] == '\n'))
			from = at;
		for (const char *s = from; !err && n < MAX_FRAMES; n++) {
			char frame[512];
			int len = first_line(s);
			snprintf(frame, sizeof(frame), "%.*s", len, s);
			struct cprof_pprof_line l = { frame, NULL, 0 };
			err = cprof_pprof_location(p, 0, 0, &l, 1, &locs[n]);
			if (!s[len])
				break;
			s += len + 1;
		}
		if (!err)
			err = cprof_pprof_sample(p, locs, n + (n < MAX_FRAMES), v);
	}
	if (!err && comment)
		err = cprof_pprof_comment(p, comment);
	if (!err)
		err = cprof_pprof_write(p, out);
	cprof_pprof_destroy(p);
	return err;
}
