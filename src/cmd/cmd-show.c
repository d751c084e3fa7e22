/*
 * cmd-show.c - `cprof-core show ADDR|ID`: one object, from cprof.db.
 *
 * Its size and state, whether it is leaked, how far it is from a root, what
 * it retains, its dominator chain up to the roots, the root slots that point
 * at it, and the pointers into and out of it.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core show ADDR|ID [--db FILE] [--limit N] [--json]";

enum { MAX_CHAIN = 64 };

struct chain {
	struct cprof_obj_row objs[MAX_CHAIN];
	size_t n_objs;
	struct cprof_node_row nodes[MAX_CHAIN];
	size_t n_nodes;
	bool cut;
};

/* idom chain of objects, then root nodes up to the super-root. */
static struct cprof_error *dominator_chain(struct sqlite3 *db, const char *path,
					   const struct cprof_obj_row *o,
					   struct chain *c)
{
	struct cprof_error *err;
	memset(c, 0, sizeof(*c));
	uint64_t id = o->idom, node = o->retaining_root;
	while (id != CPROF_NONE_ID) {
		if (c->n_objs == MAX_CHAIN) {
			c->cut = true;
			return NULL;
		}
		struct cprof_obj_row *x = &c->objs[c->n_objs++];
		if ((err = cprof_query_object_id(db, path, id, x)))
			return err;
		id = x->idom;
		node = x->retaining_root;
	}
	if (node == CPROF_NONE_ID && o->reachable != -1)
		node = 0;       /* shared: only the super-root dominates it */
	while (node != CPROF_NONE_ID && c->n_nodes < MAX_CHAIN) {
		struct cprof_node_row *nd = &c->nodes[c->n_nodes++];
		if ((err = cprof_query_node(db, path, node, nd)))
			return err;
		node = nd->parent;
	}
	return NULL;
}

static const char help[] =
	"One object of cprof.db: ADDR is any address inside it (0x...), ID its\n"
	"object id.  Shows its size and state, its leak class, its distance\n"
	"from a root, what it retains, its dominator chain up to the roots,\n"
	"the root slots that point at it and the pointers into and out of it\n"
	"(at most N of each, --limit, default 20).\n";

int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 20 };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, NULL, NULL);
	if (rc >= 0)
		return rc;
	const char *path = a.path;
	bool json = a.json;
	uint64_t limit = a.limit;
	if (argc - optind != 1)
		return cmd_usage_error(usage, "expected one ADDR or ID");
	struct sqlite3 *db;
	if (!cmd_open_db(path, &db))
		return EXIT_ERROR;
	struct cprof_obj_row o;
	struct chain c;
	struct cprof_ref_row *out = NULL, *in = NULL;
	struct cprof_slot_row *slots = NULL;
	size_t n_out = 0, n_in = 0, n_slots = 0;
	uint64_t t_out = 0, t_in = 0;
	struct cprof_error *err = cprof_query_object(db, path, argv[optind], &o);
	if (!err)
		err = dominator_chain(db, path, &o, &c);
	if (!err)
		err = cprof_query_refs(db, path, o.id, true, limit, &out, &n_out, &t_out);
	if (!err)
		err = cprof_query_refs(db, path, o.id, false, limit, &in, &n_in, &t_in);
	if (!err)
		err = cprof_query_slots(db, path, o.id, limit, &slots, &n_slots);
	cprof_store_close(db);
	if (err) {
		free(out);
		free(in);
		free(slots);
		return cmd_report_error(err);
	}
	char b1[FMT_BYTES_SIZE];
	if (json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_uint(&j, "id", o.id);
		json_kv_hex(&j, "addr", o.addr);
		json_kv_uint(&j, "size", o.size);
		json_kv_string(&j, "state", o.state);
		json_kv_string(&j, "type", o.type[0] ? o.type : NULL);
		json_kv_string(&j, "type_source", o.type_source[0] ? o.type_source : NULL);
		json_kv_bool(&j, "type_guessed", !strcmp(o.type_source, "layout"));
		json_kv_string(&j, "leak", o.leak[0] ? o.leak : NULL);
		if (o.reachable >= 0)
			json_kv_bool(&j, "reachable", o.reachable);
		json_kv_uint(&j, "retained_bytes", o.retained_bytes);
		json_kv_uint(&j, "retained_count", o.retained_count);
		if (o.root_distance != CPROF_NONE_ID)
			json_kv_uint(&j, "root_distance", o.root_distance);
		json_key(&j, "dominators");
		json_array_begin(&j);
		for (size_t i = 0; i < c.n_objs; i++) {
			json_object_begin(&j);
			json_kv_uint(&j, "id", c.objs[i].id);
			json_kv_hex(&j, "addr", c.objs[i].addr);
			json_kv_uint(&j, "retained_bytes", c.objs[i].retained_bytes);
			json_object_end(&j);
		}
		for (size_t i = 0; i < c.n_nodes; i++) {
			json_object_begin(&j);
			json_kv_uint(&j, "root_node", c.nodes[i].id);
			json_kv_string(&j, "kind", c.nodes[i].kind);
			json_kv_string(&j, "name", c.nodes[i].name);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_key(&j, "root_slots");
		json_array_begin(&j);
		for (size_t i = 0; i < n_slots; i++) {
			json_object_begin(&j);
			json_kv_string(&j, "slot", slots[i].slot_name);
			json_kv_string(&j, "root_kind", slots[i].root_kind);
			json_kv_uint(&j, "offset", slots[i].dst_offset);
			json_object_end(&j);
		}
		json_array_end(&j);
		const char *keys[2] = { "pointers_out", "pointers_in" };
		struct cprof_ref_row *lists[2] = { out, in };
		size_t ns[2] = { n_out, n_in };
		uint64_t totals[2] = { t_out, t_in };
		for (int k = 0; k < 2; k++) {
			json_key(&j, keys[k]);
			json_object_begin(&j);
			json_kv_uint(&j, "total", totals[k]);
			json_key(&j, "first");
			json_array_begin(&j);
			for (size_t i = 0; i < ns[k]; i++) {
				json_object_begin(&j);
				json_kv_uint(&j, "id", lists[k][i].other);
				json_kv_hex(&j, "addr", lists[k][i].other_addr);
				json_kv_uint(&j, "size", lists[k][i].other_size);
				json_kv_uint(&j, "src_offset", lists[k][i].src_offset);
				json_kv_uint(&j, "dst_offset", lists[k][i].dst_offset);
				json_object_end(&j);
			}
			json_array_end(&j);
			json_object_end(&j);
		}
		json_object_end(&j);
		json_finish(&j);
	} else {
		printf("object %llu at 0x%llx: %s, %llu bytes, %s", (unsigned long long)o.id,
		       (unsigned long long)o.addr, o.type[0] ? o.type : "(unknown type)",
		       (unsigned long long)o.size, o.state);
		if (!strcmp(o.type_source, "layout"))
			printf(" (type guessed from its layout: no typed pointer reaches it)");
		else if (o.type_source[0])
			printf(" (type from %s)", o.type_source);
		if (o.leak[0])
			printf(", leaked (%s)", o.leak);
		else if (o.root_distance == 1)
			printf(", a root slot points to it");
		else if (o.root_distance != CPROF_NONE_ID)
			printf(", %llu pointers from a root slot (the shortest path)",
			       (unsigned long long)o.root_distance);
		if (o.retained_count == 1)
			printf("\nretains  %s: itself only\n", fmt_bytes(b1, o.retained_bytes));
		else
			printf("\nretains  %s in %llu objects, itself included\n",
			       fmt_bytes(b1, o.retained_bytes), (unsigned long long)o.retained_count);
		printf("dominators\n");
		for (size_t i = 0; i < c.n_objs; i++)
			printf("  object %llu at 0x%llx (retains %s)\n",
			       (unsigned long long)c.objs[i].id,
			       (unsigned long long)c.objs[i].addr,
			       fmt_bytes(b1, c.objs[i].retained_bytes));
		if (c.cut)
			printf("  ...\n");
		for (size_t i = 0; i < c.n_nodes; i++)
			printf("  %-9s %s\n", c.nodes[i].kind, c.nodes[i].name);
		printf("root slots pointing here (%zu%s)\n", n_slots, n_slots == limit ? "+" : "");
		for (size_t i = 0; i < n_slots; i++)
			printf("  %s%s\n", slots[i].slot_name,
			       slots[i].dst_offset ? " (into its middle)" : "");
		printf("pointers out (%llu)\n", (unsigned long long)t_out);
		for (size_t i = 0; i < n_out; i++)
			printf("  +0x%-6llx -> object %llu at 0x%llx%s (%s)\n",
			       (unsigned long long)out[i].src_offset,
			       (unsigned long long)out[i].other,
			       (unsigned long long)out[i].other_addr,
			       out[i].dst_offset ? " +offset" : "",
			       fmt_bytes(b1, out[i].other_size));
		printf("pointers in (%llu)\n", (unsigned long long)t_in);
		for (size_t i = 0; i < n_in; i++)
			printf("  object %llu at 0x%llx +0x%llx (%s)\n",
			       (unsigned long long)in[i].other,
			       (unsigned long long)in[i].other_addr,
			       (unsigned long long)in[i].src_offset,
			       fmt_bytes(b1, in[i].other_size));
	}
	free(out);
	free(in);
	free(slots);
	return EXIT_OK;
}
