/*
 * top.c - `top`'s renderings (cprof_query_top_report): where the memory is,
 * then the roots and the objects retaining the most with their share of the
 * heap, the suspects with their accumulation points; text and JSON
 * (formats/top.json.md).
 */
#include <inttypes.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* Where the accumulation point's line starts. */
static const char INDENT[] = "                                   ";

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* "... retains 142 KiB; directly below it 1000 objects, the biggest
 * retaining 208 B" - or that nothing is below it. */
static void accumulation(FILE *out, const struct cprof_accumulation *a)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	fprintf(out, "%saccumulation point: ", INDENT);
	if (a->is_node)
		fprintf(out, "root %s", a->name);
	else
		fprintf(out, "object %" PRIu64 " at 0x%" PRIx64 " (%s)", a->id, a->addr,
			a->type[0] ? a->type : "unknown type");
	fprintf(out, " retains %s", fmt_bytes(b1, a->retained));
	if (a->is_node && a->biggest_node)
		fprintf(out, "; the biggest root below it, %s, retains %s", a->biggest_node_name,
			fmt_bytes(b2, a->biggest_node));
	/* after "the biggest root below it", "it" would be that root */
	const char *it = a->is_node && a->biggest_node ? "the root" : "it";
	if (a->children == 1)
		fprintf(out, "; directly below %s 1 object, retaining %s\n", it,
			fmt_bytes(b2, a->biggest));
	else if (a->children)
		fprintf(out, "; directly below %s %" PRIu64 " objects, the biggest retaining %s\n",
			it, a->children, fmt_bytes(b2, a->biggest));
	else if (a->is_node)
		fprintf(out, ", spread over the roots below it\n");
	else
		fprintf(out, ": itself, nothing below it\n");
}

void cprof_report_top(FILE *out, const struct cprof_top_report *r)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	uint64_t heap = r->heap_bytes;
	cprof_report_not_analyzed(out, r->allocators, r->n_allocators);
	if (cprof_report_heap_walked(r->allocators, r->n_allocators)) {
		fprintf(out, "heap: %s in used objects, reachable or leaked", fmt_bytes(b1, heap));
		if (r->garbage_bytes)
			fprintf(out, "; %s more is garbage the next collection frees, left out",
				fmt_bytes(b2, r->garbage_bytes));
		fputc('\n', out);
		cprof_report_entries(out, &r->entries);
	}
	fprintf(out, "\nroots retaining the most\n%10s %6s %9s  %-10s %s\n", "retained", "heap",
		"objects", "kind", "root");
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct cprof_node_row *nd = &r->nodes[i];
		bool suspect = r->node_points[i].found;
		fprintf(out, "%10s %5.1f%% %9" PRIu64 "  %-10s %s%s\n", fmt_bytes(b1, nd->retained_bytes),
			pct(nd->retained_bytes, heap), nd->retained_count, nd->kind, nd->name,
			suspect ? "   <- suspect" : "");
		if (suspect)
			accumulation(out, &r->node_points[i]);
	}
	fprintf(out, "\nobjects retaining the most\n%10s %6s %9s %10s  %-18s  %s\n", "retained",
		"heap", "objects", "self", "address", "type, retained by");
	for (size_t i = 0; i < r->n_objs; i++) {
		const struct cprof_obj_row *o = &r->objs[i];
		bool suspect = r->obj_points[i].found;
		fprintf(out, "%10s %5.1f%% %9" PRIu64 " %10s  0x%016" PRIx64 "  %s, %s%s\n",
			fmt_bytes(b1, o->retained_bytes), pct(o->retained_bytes, heap),
			o->retained_count, fmt_bytes(b2, o->size), o->addr,
			o->type[0] ? o->type : "(unknown type)",
			o->leak[0] ? "leaked" : r->retained_by[i], suspect ? "   <- suspect" : "");
		if (suspect)
			accumulation(out, &r->obj_points[i]);
	}
}

static void accumulation_json(struct json *j, const struct cprof_accumulation *a)
{
	json_key(j, "accumulation_point");
	if (!a->found) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_kv_bool(j, "is_root", a->is_node);
	if (a->is_node) {
		json_kv_uint(j, "root_node", a->id);
		json_kv_string(j, "name", a->name);
	} else {
		json_kv_uint(j, "id", a->id);
		json_kv_hex(j, "addr", a->addr);
		json_kv_string(j, "type", a->type[0] ? a->type : NULL);
	}
	json_kv_uint(j, "retained_bytes", a->retained);
	json_kv_uint(j, "children", a->children);
	json_kv_uint(j, "biggest_child_bytes", a->biggest);
	if (a->is_node && a->biggest_node) {
		json_kv_string(j, "biggest_root_below", a->biggest_node_name);
		json_kv_uint(j, "biggest_root_below_bytes", a->biggest_node);
	}
	json_object_end(j);
}

void cprof_report_top_json(FILE *out, const struct cprof_top_report *r)
{
	struct json j;
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);
	/* heap_bytes as it always was (garbage in); live_bytes the shares' base */
	json_kv_uint(&j, "heap_bytes", r->heap_bytes + r->garbage_bytes);
	json_kv_uint(&j, "live_bytes", r->heap_bytes);
	json_kv_uint(&j, "garbage_bytes", r->garbage_bytes);
	cprof_report_allocator_rows_json(&j, r->allocators, r->n_allocators);
	json_key(&j, "top_entries");
	cprof_report_entries_json(&j, &r->entries);
	json_key(&j, "roots");
	json_array_begin(&j);
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct cprof_node_row *nd = &r->nodes[i];
		json_object_begin(&j);
		json_kv_uint(&j, "root_node", nd->id);
		json_kv_string(&j, "kind", nd->kind);
		json_kv_string(&j, "name", nd->name);
		json_kv_uint(&j, "retained_bytes", nd->retained_bytes);
		json_kv_uint(&j, "retained_count", nd->retained_count);
		json_kv_bool(&j, "suspect", r->node_points[i].found);
		accumulation_json(&j, &r->node_points[i]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "objects");
	json_array_begin(&j);
	for (size_t i = 0; i < r->n_objs; i++) {
		const struct cprof_obj_row *o = &r->objs[i];
		json_object_begin(&j);
		json_kv_uint(&j, "id", o->id);
		json_kv_hex(&j, "addr", o->addr);
		json_kv_uint(&j, "size", o->size);
		json_kv_string(&j, "type", o->type[0] ? o->type : NULL);
		json_kv_uint(&j, "retained_bytes", o->retained_bytes);
		json_kv_uint(&j, "retained_count", o->retained_count);
		json_kv_string(&j, "retained_by", r->retained_by[i]);
		json_kv_bool(&j, "suspect", r->obj_points[i].found);
		accumulation_json(&j, &r->obj_points[i]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}
