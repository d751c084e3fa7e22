/*
 * show.c - `show`'s renderings (cprof_query_show): one object, its
 * dominator chain, the root slots and the pointers into and out of it; text
 * and JSON.
 */
#include <inttypes.h>
#include <string.h>

#include "cprof/format.h"
#include "cprof/report.h"

/* "object 12 at 0x...: type, 48 bytes, used (type from dwarf), leaked
 * (direct)" and what it retains. */
static void object_head(FILE *out, const struct cprof_obj_row *o)
{
	char b1[FMT_BYTES_SIZE];
	fprintf(out, "object %" PRIu64 " at 0x%" PRIx64 ": %s, %" PRIu64 " bytes, %s", o->id, o->addr,
		o->type[0] ? o->type : "(unknown type)", o->size, o->state);
	if (!strcmp(o->type_source, "layout"))
		fprintf(out, " (type guessed from its layout: no typed pointer reaches it)");
	else if (o->type_source[0])
		fprintf(out, " (type from %s)", o->type_source);
	if (!strcmp(o->leak, "garbage"))
		fprintf(out, ", garbage (no root reaches it: the next collection frees it)");
	else if (o->leak[0])
		fprintf(out, ", leaked (%s)", o->leak);
	else if (o->root_distance == 1)
		fprintf(out, ", a root slot points to it");
	else if (o->root_distance != CPROF_NONE_ID)
		fprintf(out, ", reached from a root slot through %" PRIu64 " pointers (the shortest path)",
			o->root_distance);
	/* retained sizes are of what a root reaches */
	if (o->leak[0] && !o->retained_count)
		fprintf(out, "\nretains  (no retained size: no root reaches it)\n");
	else if (o->retained_count == 1)
		fprintf(out, "\nretains  %s: itself only\n", fmt_bytes(b1, o->retained_bytes));
	else
		fprintf(out, "\nretains  %s in %" PRIu64 " objects, itself included\n",
			fmt_bytes(b1, o->retained_bytes), o->retained_count);
}

void cprof_report_object(FILE *out, const struct cprof_object_report *r)
{
	char b1[FMT_BYTES_SIZE];
	object_head(out, &r->o);
	fprintf(out, "dominators\n");
	if (r->o.leak[0] && !r->n_chain)
		fprintf(out, "  (none: no root reaches it)\n");
	for (size_t i = 0; i < r->n_chain; i++)
		fprintf(out, "  object %" PRIu64 " at 0x%" PRIx64 " (retains %s)\n", r->chain[i].id,
			r->chain[i].addr, fmt_bytes(b1, r->chain[i].retained_bytes));
	if (r->chain_cut)
		fprintf(out, "  ...\n");
	for (size_t i = 0; !(r->o.leak[0] && !r->n_chain) && i < r->n_nodes; i++)
		fprintf(out, "  %-9s %s\n", r->nodes[i].kind, r->nodes[i].name);
	fprintf(out, "root slots pointing here directly (%zu%s)\n", r->n_slots,
		r->n_slots == r->limit ? "+" : "");
	for (size_t i = 0; i < r->n_slots; i++) {
		/* a register's slot is its index, no address */
		if (!strcmp(r->slots[i].root_kind, "registers"))
			fprintf(out, "  %18s  ", "");
		else
			fprintf(out, "  0x%016" PRIx64 "  ", r->slots[i].slot);
		fprintf(out, "%s%s\n", r->slots[i].slot_name,
			r->slots[i].dst_offset ? " (into its middle)" : "");
	}
	fprintf(out, "pointers out (%" PRIu64 ")\n", r->total_out);
	for (size_t i = 0; i < r->n_out; i++) {
		fprintf(out, "  +0x%-6" PRIx64 " -> object %" PRIu64 " at 0x%" PRIx64, r->out[i].src_offset,
			r->out[i].other, r->out[i].other_addr);
		/* a pointer into the object's middle: where it lands */
		if (r->out[i].dst_offset)
			fprintf(out, " +0x%" PRIx64, r->out[i].dst_offset);
		fprintf(out, " (%s)\n", fmt_bytes(b1, r->out[i].other_size));
	}
	fprintf(out, "pointers in (%" PRIu64 ")\n", r->total_in);
	for (size_t i = 0; i < r->n_in; i++) {
		fprintf(out, "  object %" PRIu64 " at 0x%" PRIx64 " +0x%" PRIx64 " (%s)",
			r->in[i].other, r->in[i].other_addr, r->in[i].src_offset,
			fmt_bytes(b1, r->in[i].other_size));
		if (r->in[i].dst_offset)
			fprintf(out, " -> +0x%" PRIx64, r->in[i].dst_offset);
		fputc('\n', out);
	}
}

/* "pointers_out" or "pointers_in": {total, first: [...]} */
static void refs_json(struct json *j, const char *key, const struct cprof_ref_row *refs, size_t n,
		      uint64_t total)
{
	json_key(j, key);
	json_object_begin(j);
	json_kv_uint(j, "total", total);
	json_key(j, "first");
	json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		json_object_begin(j);
		json_kv_uint(j, "id", refs[i].other);
		json_kv_hex(j, "addr", refs[i].other_addr);
		json_kv_uint(j, "size", refs[i].other_size);
		json_kv_uint(j, "src_offset", refs[i].src_offset);
		json_kv_uint(j, "dst_offset", refs[i].dst_offset);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void dominators_json(struct json *j, const struct cprof_object_report *r)
{
	json_key(j, "dominators");
	json_array_begin(j);
	for (size_t i = 0; i < r->n_chain; i++) {
		json_object_begin(j);
		json_kv_uint(j, "id", r->chain[i].id);
		json_kv_hex(j, "addr", r->chain[i].addr);
		json_kv_uint(j, "retained_bytes", r->chain[i].retained_bytes);
		json_object_end(j);
	}
	for (size_t i = 0; i < r->n_nodes; i++) {
		json_object_begin(j);
		json_kv_uint(j, "root_node", r->nodes[i].id);
		json_kv_string(j, "kind", r->nodes[i].kind);
		json_kv_string(j, "name", r->nodes[i].name);
		json_object_end(j);
	}
	json_array_end(j);
}

void cprof_report_object_json(FILE *out, const struct cprof_object_report *r)
{
	const struct cprof_obj_row *o = &r->o;
	struct json j;
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_uint(&j, "id", o->id);
	json_kv_hex(&j, "addr", o->addr);
	json_kv_uint(&j, "size", o->size);
	json_kv_string(&j, "state", o->state);
	json_kv_string(&j, "type", o->type[0] ? o->type : NULL);
	json_kv_string(&j, "type_source", o->type_source[0] ? o->type_source : NULL);
	json_kv_bool(&j, "type_guessed", !strcmp(o->type_source, "layout"));
	json_kv_string(&j, "leak", o->leak[0] ? o->leak : NULL);
	if (o->reachable >= 0)
		json_kv_bool(&j, "reachable", o->reachable);
	json_kv_uint(&j, "retained_bytes", o->retained_bytes);
	json_kv_uint(&j, "retained_count", o->retained_count);
	if (o->root_distance != CPROF_NONE_ID)
		json_kv_uint(&j, "root_distance", o->root_distance);
	dominators_json(&j, r);
	json_key(&j, "root_slots");
	json_array_begin(&j);
	for (size_t i = 0; i < r->n_slots; i++) {
		json_object_begin(&j);
		json_kv_string(&j, "slot", r->slots[i].slot_name);
		json_kv_string(&j, "root_kind", r->slots[i].root_kind);
		/* where the slot is (path --json's "slot"); a register has none */
		if (strcmp(r->slots[i].root_kind, "registers"))
			json_kv_hex(&j, "addr", r->slots[i].slot);
		json_kv_uint(&j, "offset", r->slots[i].dst_offset);
		json_object_end(&j);
	}
	json_array_end(&j);
	refs_json(&j, "pointers_out", r->out, r->n_out, r->total_out);
	refs_json(&j, "pointers_in", r->in, r->n_in, r->total_in);
	json_object_end(&j);
	json_finish(&j);
}
