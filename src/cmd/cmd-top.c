/*
 * cmd-top.c - `cprof-core top`: what retains the most memory, from cprof.db.
 *
 * Like Eclipse MAT's biggest objects and leak suspects: first where the
 * memory is (the dominator tree's top entries, grouped: shared memory too),
 * then the root nodes and the objects that retain the most (what would be
 * freed if they let go), each one retaining more than 10% of the heap flagged
 * as a suspect, with its accumulation point: going down the dominator tree
 * while one child holds most of what its parent retains, the object (or
 * root) where the memory spreads over many children.
 */
#include <getopt.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/report.h"
#include "cprof/store.h"

static const char usage[] = "cprof-core top [--db FILE] [--limit N] [--json]";

/* One child holding this share of its parent's retained bytes is followed. */
static const double DESCEND = 0.8;
static const double SUSPECT = 0.1;
/* Root slots listed per top entry. */
enum { REACHED_FROM = 4 };

struct accumulation {
	bool found;
	bool is_node;
	uint64_t id, addr, retained, children, biggest;
	char name[256];            /* of the root node, when is_node */
	char type[256];            /* of the object, "" when unknown */
};

static struct cprof_error *accumulation_point(struct sqlite3 *db, const char *path,
					      uint64_t id, bool is_node, uint64_t addr,
					      const char *type, uint64_t retained,
					      struct accumulation *ret)
{
	struct accumulation a = { .found = true, .is_node = is_node, .id = id,
				  .addr = addr, .retained = retained };
	snprintf(a.type, sizeof(a.type), "%s", type);
	/* Brent's cycle check on the way down: a damaged cprof.db whose idom or
	   parent_id links loop would otherwise be followed for ever. */
	uint64_t tortoise = UINT64_MAX, power = 1, lam = 0;
	for (int depth = 0; depth < 100000; depth++) {
		uint64_t key = (a.is_node ? 1ull << 63 : 0) | a.id;
		if (key == tortoise)
			return cprof_error_create(CPROF_ERROR_BAD_DATA,
						  "%s: the dominator tree loops at %s %llu (idom or root_node.parent_id): the database is damaged",
						  path, a.is_node ? "root node" : "object",
						  (unsigned long long)a.id);
		if (++lam == power || tortoise == UINT64_MAX) {
			tortoise = key;
			power *= 2;
			lam = 0;
		}
		struct cprof_obj_row child;
		uint64_t n;
		struct cprof_error *err;
		if (a.is_node) {
			/* Down the root hierarchy first: module -> global, thread -> frame. */
			struct cprof_node_row cn;
			if ((err = cprof_query_biggest_child_node(db, path, a.id, &cn)))
				return err;
			if (cn.id != CPROF_NONE_ID &&
			    (double)cn.retained_bytes >= DESCEND * (double)a.retained) {
				a.id = cn.id;
				a.retained = cn.retained_bytes;
				snprintf(a.name, sizeof(a.name), "%s", cn.name);
				continue;
			}
		}
		err = cprof_query_biggest_child(db, path, a.id, a.is_node, &child, &n);
		if (err)
			return err;
		a.children = n;
		a.biggest = child.id == CPROF_NONE_ID ? 0 : child.retained_bytes;
		if (child.id == CPROF_NONE_ID ||
		    (double)child.retained_bytes < DESCEND * (double)a.retained)
			break;
		a.is_node = false;
		a.id = child.id;
		a.addr = child.addr;
		a.retained = child.retained_bytes;
		snprintf(a.type, sizeof(a.type), "%s", child.type);
	}
	*ret = a;
	return NULL;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static const char *node_name(struct sqlite3 *db, const char *path, uint64_t id,
			     struct cprof_node_row *buf)
{
	if (id == CPROF_NONE_ID)
		return "several roots (shared)";
	struct cprof_error *err = cprof_query_node(db, path, id, buf);
	if (err) {
		cprof_error_destroy(err);
		return "?";
	}
	return buf->name;
}

/* "... retains 142 KiB; directly below it 1000 objects, the biggest
 * retaining 208 B" - or that nothing is below it. */
static void print_accumulation(const struct accumulation *a, const char *indent)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	printf("%saccumulation point: ", indent);
	if (a->is_node)
		printf("root %s", a->name);
	else
		printf("object %llu at 0x%llx (%s)", (unsigned long long)a->id,
		       (unsigned long long)a->addr, a->type[0] ? a->type : "unknown type");
	printf(" retains %s", fmt_bytes(b1, a->retained));
	if (a->children == 1)
		printf("; directly below it 1 object, retaining %s\n", fmt_bytes(b2, a->biggest));
	else if (a->children)
		printf("; directly below it %llu objects, the biggest retaining %s\n",
		       (unsigned long long)a->children, fmt_bytes(b2, a->biggest));
	else if (a->is_node)
		printf(", spread over the roots below it\n");
	else
		printf(": itself, nothing below it\n");
}

static void json_accumulation(struct json *j, const struct accumulation *a)
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
	json_object_end(j);
}

static const char help[] =
	"Where the memory is: the objects no other object keeps alive (the top of\n"
	"the dominator tree), grouped by type and by the root that holds them,\n"
	"or shared by several roots, each with root slots that reach it and a\n"
	"path; then the roots and the objects that retain the most memory (the\n"
	"bytes that would be freed if they let go), biggest first, from\n"
	"cprof.db.  Any that retains more than 10% of the heap is a suspect,\n"
	"shown with its accumulation point: where, going down the dominator\n"
	"tree, the memory spreads over many objects.\n\n"
	"  --db FILE            read FILE instead of ./cprof.db\n"
	"  --limit N            N of each (default 10)\n"
	"  --json               formats/top.json.md\n";

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		DB_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct db_args a = { "cprof.db", false, 10 };
	int rc = db_args_parse(argc, argv, longopts, &a, usage, help, NULL, NULL);
	if (rc >= 0)
		return rc;
	const char *path = a.path;
	bool json = a.json;
	uint64_t limit = a.limit;
	if (optind != argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	struct sqlite3 *db;
	if (!cmd_open_db(path, &db))
		return EXIT_ERROR;
	struct cprof_obj_row *objs = NULL;
	struct cprof_node_row *nodes = NULL;
	struct cprof_allocator_row *al = NULL;
	size_t n_objs = 0, n_nodes = 0, n_al = 0;
	uint64_t heap = 0;
	if (!cmd_query_allocators(db, path, &al, &n_al)) {
		cprof_store_close(db);
		return EXIT_ERROR;
	}
	struct cprof_entries es = { 0 };
	struct cprof_error *err = cprof_query_top(db, path, limit, &objs, &n_objs, &heap);
	if (!err)
		err = cprof_query_top_nodes(db, path, limit, &nodes, &n_nodes);
	if (!err)
		err = cprof_query_entries(db, path, limit, REACHED_FROM, &es);
	struct accumulation *acc_o = calloc(n_objs + 1, sizeof(*acc_o));
	struct accumulation *acc_n = calloc(n_nodes + 1, sizeof(*acc_n));
	if (!err && (!acc_o || !acc_n))
		err = &cprof_enomem;
	for (size_t i = 0; !err && i < n_nodes; i++)
		if (pct(nodes[i].retained_bytes, heap) > 100 * SUSPECT)
		{
			err = accumulation_point(db, path, nodes[i].id, true, 0, "",
						 nodes[i].retained_bytes, &acc_n[i]);
			if (!err && acc_n[i].is_node && !acc_n[i].name[0])
				snprintf(acc_n[i].name, sizeof(acc_n[i].name), "%s", nodes[i].name);
		}
	for (size_t i = 0; !err && i < n_objs; i++)
		if (pct(objs[i].retained_bytes, heap) > 100 * SUSPECT)
			err = accumulation_point(db, path, objs[i].id, false, objs[i].addr,
						 objs[i].type, objs[i].retained_bytes, &acc_o[i]);
	if (err) {
		cprof_store_close(db);
		cprof_entries_deinit(&es);
		free(objs);
		free(nodes);
		free(acc_o);
		free(acc_n);
		free(al);
		return cmd_report_error(err);
	}
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE];
	struct cprof_node_row nb;
	if (json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_int(&j, "version", 1);
		json_kv_uint(&j, "heap_bytes", heap);
		cprof_report_allocator_rows_json(&j, al, n_al);
		json_key(&j, "top_entries");
		cprof_report_entries_json(&j, &es);
		json_key(&j, "roots");
		json_array_begin(&j);
		for (size_t i = 0; i < n_nodes; i++) {
			json_object_begin(&j);
			json_kv_uint(&j, "root_node", nodes[i].id);
			json_kv_string(&j, "kind", nodes[i].kind);
			json_kv_string(&j, "name", nodes[i].name);
			json_kv_uint(&j, "retained_bytes", nodes[i].retained_bytes);
			json_kv_uint(&j, "retained_count", nodes[i].retained_count);
			json_kv_bool(&j, "suspect", acc_n[i].found);
			json_accumulation(&j, &acc_n[i]);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_key(&j, "objects");
		json_array_begin(&j);
		for (size_t i = 0; i < n_objs; i++) {
			json_object_begin(&j);
			json_kv_uint(&j, "id", objs[i].id);
			json_kv_hex(&j, "addr", objs[i].addr);
			json_kv_uint(&j, "size", objs[i].size);
			json_kv_string(&j, "type", objs[i].type[0] ? objs[i].type : NULL);
			json_kv_uint(&j, "retained_bytes", objs[i].retained_bytes);
			json_kv_uint(&j, "retained_count", objs[i].retained_count);
			json_kv_string(&j, "retained_by",
				       node_name(db, path, objs[i].retaining_root, &nb));
			json_kv_bool(&j, "suspect", acc_o[i].found);
			json_accumulation(&j, &acc_o[i]);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		cmd_say_not_analyzed(al, n_al, false);
		printf("heap: %s in used chunks (reachable and leaked)\n", fmt_bytes(b1, heap));
		cprof_report_entries(stdout, &es);
		printf("\nroots retaining the most\n%10s %6s %9s  %-10s %s\n", "retained", "heap",
		       "objects", "kind", "root");
		for (size_t i = 0; i < n_nodes; i++) {
			printf("%10s %5.1f%% %9llu  %-10s %s%s\n",
			       fmt_bytes(b1, nodes[i].retained_bytes),
			       pct(nodes[i].retained_bytes, heap),
			       (unsigned long long)nodes[i].retained_count, nodes[i].kind,
			       nodes[i].name, acc_n[i].found ? "   <- suspect" : "");
			if (acc_n[i].found)
				print_accumulation(&acc_n[i], "                                   ");
		}
		printf("\nobjects retaining the most\n%10s %6s %9s %10s  %-18s  %s\n", "retained",
		       "heap", "objects", "self", "address", "type, retained by");
		for (size_t i = 0; i < n_objs; i++) {
			printf("%10s %5.1f%% %9llu %10s  0x%016llx  %s, %s%s\n",
			       fmt_bytes(b1, objs[i].retained_bytes),
			       pct(objs[i].retained_bytes, heap),
			       (unsigned long long)objs[i].retained_count,
			       fmt_bytes(b2, objs[i].size), (unsigned long long)objs[i].addr,
			       objs[i].type[0] ? objs[i].type : "(unknown type)",
			       objs[i].leak[0] ? "leaked" :
			       node_name(db, path, objs[i].retaining_root, &nb),
			       acc_o[i].found ? "   <- suspect" : "");
			if (acc_o[i].found)
				print_accumulation(&acc_o[i], "                                   ");
		}
	}
	cprof_store_close(db);
	cprof_entries_deinit(&es);
	free(objs);
	free(nodes);
	free(acc_o);
	free(acc_n);
	free(al);
	return EXIT_OK;
}
