/*
 * entries.c - "where the memory is": the dominator tree's top entries
 * (cprof_query_entries), as text and JSON, for the summary of `analyze` and
 * for `top`, from the same query so that they cannot disagree.
 */
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* A path longer than this shows its first and last objects only. */
enum { PATH_SHOWN = 6 };

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* "struct store at 0x55... (48 B)", "1000 struct session (39.1 KiB)",
 * "4338 objects of unknown type, 4088 B each (16.9 MiB)" */
static void what(FILE *out, const struct cprof_entry *e)
{
	char b1[FMT_BYTES_SIZE];
	if (e->count == 1)
		fprintf(out, "%s at 0x%llx (%s)",
			e->type[0] ? e->type : "object of unknown type",
			(unsigned long long)e->biggest.addr, fmt_bytes(b1, e->self_bytes));
	else if (e->type[0])
		fprintf(out, "%llu %s (%s)", (unsigned long long)e->count, e->type,
			fmt_bytes(b1, e->self_bytes));
	else
		fprintf(out, "%llu objects of unknown type, %llu B each (%s)",
			(unsigned long long)e->count, (unsigned long long)e->size,
			fmt_bytes(b1, e->self_bytes));
}

/* Whether the holder is one slot's node (a global, a frame, registers, TLS):
 * then the path names the slot, and listing slots says nothing more. */
static bool one_place(const struct cprof_entry *e)
{
	static const char *const kinds[] = { "global", "frame", "registers", "tls", "mapping",
					     "special" };
	if (e->shared)
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(e->holder.kind, kinds[i]))
			return true;
	return false;
}

void cprof_report_path(FILE *out, const struct cprof_root_path *p, const char *indent)
{
	if (!p->n)
		return;
	fprintf(out, "%se.g. %s", indent, p->slot.slot_name);
	for (size_t k = 0; k < p->n; k++) {
		if (p->n > PATH_SHOWN && k == PATH_SHOWN / 2) {
			fprintf(out, " -> ... (%zu more)", p->n - PATH_SHOWN);
			k = p->n - PATH_SHOWN / 2 - 1;
			continue;
		}
		fprintf(out, " -> 0x%llx", (unsigned long long)p->addrs[k]);
	}
	fputc('\n', out);
}

/* Whether a root's name already says its kind as a word ("thread 12 tls",
 * "module app"): "held by tls thread 12 tls" says it twice. */
static bool says_kind(const char *name, const char *kind)
{
	size_t k = strlen(kind);
	for (const char *p = name; k && (p = strstr(p, kind)); p++)
		if ((p == name || p[-1] == ' ') && (!p[k] || p[k] == ' '))
			return true;
	return false;
}

void cprof_report_entries(FILE *out, const struct cprof_entries *es)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	const char *indent = "                             ";
	fprintf(out, "\nwhere the memory is (what no other object keeps alive, biggest first)\n");
	if (!es->n) {
		fprintf(out, "  (no reachable object)\n");
		return;
	}
	fprintf(out, "%10s %6s %9s  %s\n", "retained", "heap", "objects", "what, and what holds it");
	uint64_t shown = 0;
	for (size_t i = 0; i < es->n; i++) {
		const struct cprof_entry *e = &es->e[i];
		shown += e->retained_bytes;
		fprintf(out, "%10s %5.1f%% %9llu  ", fmt_bytes(b1, e->retained_bytes),
			pct(e->retained_bytes, es->heap_bytes),
			(unsigned long long)e->retained_count);
		what(out, e);
		if (e->shared)
			fprintf(out, ": shared by several roots\n");
		else if (says_kind(e->holder.name, e->holder.kind))
			fprintf(out, ": held by %s\n", e->holder.name);
		else
			fprintf(out, ": held by %s %s\n", e->holder.kind, e->holder.name);
		if (!one_place(e) && e->n_reached) {
			fprintf(out, "%s%sreached from ", indent, e->count > 1 ? "the biggest " : "");
			for (size_t k = 0; k < e->n_reached; k++)
				fprintf(out, "%s%s", k ? "; " : "", e->reached_from[k]);
			fputc('\n', out);
		}
		cprof_report_path(out, &e->path, indent);
	}
	fprintf(out, "(%zu of %llu groups of %llu top objects shown: %s, %.1f%% of the %s reachable)\n",
		es->n, (unsigned long long)es->n_groups, (unsigned long long)es->n_objects,
		fmt_bytes(b1, shown), pct(shown, es->reachable_bytes),
		fmt_bytes(b2, es->reachable_bytes));
}

void cprof_report_entries_json(struct json *j, const struct cprof_entries *es)
{
	json_object_begin(j);
	/* heap_bytes as it always was (garbage in); live_bytes the shares' base */
	json_kv_uint(j, "heap_bytes", es->heap_bytes + es->garbage_bytes);
	json_kv_uint(j, "live_bytes", es->heap_bytes);
	json_kv_uint(j, "garbage_bytes", es->garbage_bytes);
	json_kv_uint(j, "reachable_bytes", es->reachable_bytes);
	json_kv_uint(j, "objects", es->n_objects);
	json_kv_uint(j, "groups", es->n_groups);
	json_key(j, "entries");
	json_array_begin(j);
	for (size_t i = 0; i < es->n; i++) {
		const struct cprof_entry *e = &es->e[i];
		json_object_begin(j);
		json_kv_string(j, "type", e->type[0] ? e->type : NULL);
		if (!e->type[0])
			json_kv_uint(j, "size", e->size);
		json_kv_uint(j, "count", e->count);
		json_kv_uint(j, "self_bytes", e->self_bytes);
		json_kv_uint(j, "retained_bytes", e->retained_bytes);
		json_kv_uint(j, "retained_count", e->retained_count);
		json_kv_bool(j, "shared", e->shared);
		json_key(j, "held_by");
		if (e->shared) {
			json_null(j);
		} else {
			json_object_begin(j);
			json_kv_uint(j, "root_node", e->holder.id);
			json_kv_string(j, "kind", e->holder.kind);
			json_kv_string(j, "name", e->holder.name);
			json_object_end(j);
		}
		json_key(j, "biggest");
		json_object_begin(j);
		json_kv_uint(j, "id", e->biggest.id);
		json_kv_hex(j, "addr", e->biggest.addr);
		json_kv_uint(j, "size", e->biggest.size);
		json_kv_uint(j, "retained_bytes", e->biggest.retained_bytes);
		json_object_end(j);
		json_key(j, "path");
		if (!e->path.n) {
			json_null(j);
		} else {
			json_object_begin(j);
			json_kv_string(j, "root_slot", e->path.slot.slot_name);
			json_kv_string(j, "root_kind", e->path.slot.root_kind);
			json_key(j, "objects");
			json_array_begin(j);
			for (size_t k = 0; k < e->path.n; k++)
				json_hex(j, e->path.addrs[k]);
			json_array_end(j);
			json_object_end(j);
		}
		json_key(j, "reached_from");
		json_array_begin(j);
		for (size_t k = 0; k < e->n_reached; k++)
			json_string(j, e->reached_from[k]);
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}
