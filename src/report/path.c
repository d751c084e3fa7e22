/*
 * path.c - `path`'s renderings (cprof_query_object_paths): each path from
 * its root slot, step by step with the member pointing to the next object
 * and the marks (an interior pointer, a word past the end of the type);
 * text and JSON (formats/path.json.md).
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* Whether the slot's address says more than its name: a stack slot is named
 * by its frame alone, whose slots share the name (also as "varnishd+0x4208f"
 * in a module without symbols: that offset is the frame's pc), a thread's TLS
 * without a symbol; a register's "slot" is its index. */
static bool slot_address_shown(const struct cprof_slot_row *s)
{
	return strcmp(s->root_kind, "registers") &&
	       (!strcmp(s->root_kind, "stack") || !strstr(s->slot_name, "+0x"));
}

static void path_text(FILE *out, const struct cprof_object_path *p)
{
	char b1[FMT_BYTES_SIZE];
	if (!strcmp(p->slot.root_kind, "leaked")) {
		/* no slot: the path starts at the leak root, its first object */
		fprintf(out, "leak root (no root reaches it; 'cprof-core leaks' lists it)\n");
	} else {
		fprintf(out, "%s", p->slot.slot_name);
		if (slot_address_shown(&p->slot))
			fprintf(out, ", slot 0x%" PRIx64, p->slot.slot);
		fprintf(out, " (%s)\n", p->slot.root_kind);
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct cprof_path_step *st = &p->steps[i];
		bool next = i + 1 < p->n;
		fprintf(out, "  -> object %" PRIu64 " at 0x%" PRIx64 ": %s (%s)", st->o.id, st->o.addr,
			st->o.type[0] ? st->o.type : "(unknown type)", fmt_bytes(b1, st->o.size));
		if (st->entered)
			fprintf(out, ", entered at +0x%" PRIx64 " (interior)", st->entered);
		if (next && st->field[0])
			fprintf(out, ", %s at +0x%" PRIx64, st->field, st->off);
		else if (next)
			fprintf(out, ", pointer at +0x%" PRIx64, st->off);
		if (next && st->past_type_end == 1)
			fprintf(out, " (past the end of %s, %" PRIu64 " bytes)", st->o.type,
				st->o.type_size);
		fputc('\n', out);
	}
}

void cprof_report_object_paths(FILE *out, const struct cprof_path_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			fputc('\n', out);
		path_text(out, &r->paths[i]);
	}
}

static void path_json(struct json *j, const struct cprof_object_path *p)
{
	json_object_begin(j);
	json_kv_string(j, "root", p->slot.slot_name);
	json_kv_string(j, "root_kind", p->slot.root_kind);
	if (strcmp(p->slot.root_kind, "registers"))
		json_kv_hex(j, "slot", p->slot.slot);
	json_key(j, "path");
	json_array_begin(j);
	for (size_t i = 0; i < p->n; i++) {
		const struct cprof_path_step *st = &p->steps[i];
		json_object_begin(j);
		json_kv_uint(j, "id", st->o.id);
		json_kv_hex(j, "addr", st->o.addr);
		json_kv_uint(j, "size", st->o.size);
		json_kv_string(j, "type", st->o.type[0] ? st->o.type : NULL);
		json_kv_uint(j, "entered_at", st->entered);
		json_kv_bool(j, "interior", st->entered != 0);
		if (i + 1 < p->n) {
			json_kv_uint(j, "pointer_at", st->off);
			json_kv_string(j, "field", st->field[0] ? st->field : NULL);
			json_key(j, "past_type_end");
			if (st->past_type_end < 0)
				json_null(j);
			else
				json_bool(j, st->past_type_end);
		}
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

void cprof_report_object_paths_json(FILE *out, const struct cprof_path_report *r)
{
	struct json j;
	json_init(&j, out);
	if (r->all)
		json_array_begin(&j);
	for (size_t i = 0; i < r->n; i++)
		path_json(&j, &r->paths[i]);
	if (r->all)
		json_array_end(&j);
	json_finish(&j);
}
