/*
 * btree.h - the b-trees of cprof.db's big tables, written as pages of
 * SQLite's documented file format (https://www.sqlite.org/fileformat2.html)
 * instead of through SQLite's insert path (src/store/btree.c).
 *
 * Why: SQLite inserts rows one at a time into a b-tree it keeps balanced
 * and builds an index by sorting; 10^7 objects and 1.8 x 10^7 pointers took
 * 57-137 s that way.  Rows that arrive in key order into a fresh file need
 * none of that: each page is filled once, written once, and the interior
 * pages are made from the leaves at the end - the way SQLite's own
 * `CREATE INDEX` finishes, without its sort.
 *
 * What it may do, and why that is safe:
 *   - SQLite creates the file, the schema and every table's and index's root
 *     page (empty) and closes it; bt_file_open then owns the file;
 *   - a tree's pages are appended after the file's last page (never the
 *     lock-byte page at 1 GiB), its top page is written over the root page
 *     SQLite made, so sqlite_schema stays right;
 *   - bt_file_close writes the new page count into the header (and the
 *     change counter with its version-valid-for copy), then SQLite opens the
 *     file again for the small tables and ANALYZE.
 * Keys must come in strictly increasing order (rowids for tables, whole
 * records for indexes and WITHOUT ROWID tables, compared as SQLite does):
 * the caller's loops guarantee it, and `PRAGMA integrity_check` (t0410, and
 * every test reading a database) is the oracle.  Records are small (no
 * overflow pages): a record too big for a page is our bug, asserted.
 */
#ifndef CPROF_STORE_BTREE_H
#define CPROF_STORE_BTREE_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cprof/error.h"

/* A SQLite file being extended with pages (by one thread or two: pages are
 * handed out under lock, each written where it belongs). */
struct bt_file {
	int fd;
	pthread_mutex_t lock;
	const char *path;          /* for messages */
	uint32_t page_size;
	uint32_t n_pages;          /* the file's pages: a new page is n_pages + 1 */
	uint32_t lock_page;        /* the page holding byte 2^30: never used */
	uint64_t bytes;            /* bytes written, for the benchmark (under lock) */
};

struct cprof_error *bt_file_open(struct bt_file *f, const char *path);
/* Writes the page count into the header and closes the file. */
struct cprof_error *bt_file_close(struct bt_file *f);

/* ---- records (fileformat2.html section 2.1) ---- */

enum { BT_MAX_COLS = 32, BT_MAX_BODY = 4096 };

struct bt_record {
	uint8_t types[BT_MAX_COLS * 9];    /* serial types, as varints */
	uint8_t body[BT_MAX_BODY];
	size_t n_types, n_body, n_cols;
};

static inline void bt_rec_init(struct bt_record *r)
{
	r->n_types = r->n_body = r->n_cols = 0;
}

/* A serial type above 127 (text, blobs): SQLite's varint. */
void bt_rec_type_varint(struct bt_record *r, uint64_t type);

static inline void bt_rec_type(struct bt_record *r, uint64_t type)
{
	assert(r->n_cols < BT_MAX_COLS);
	if (type < 0x80) {
		r->types[r->n_types++] = (uint8_t)type;
		r->n_cols++;
	} else {
		bt_rec_type_varint(r, type);
	}
}

static inline void bt_rec_null(struct bt_record *r)
{
	bt_rec_type(r, 0);
}

/* An integer, in the fewest bytes its serial type allows (the constants 0
 * and 1 in none: serial types 8 and 9, schema format 4). */
static inline void bt_rec_int(struct bt_record *r, int64_t v)
{
	if (v == 0 || v == 1) {
		bt_rec_type(r, 8 + (uint64_t)v);
		return;
	}
	int type;
	size_t len;
	if (v >= -128 && v <= 127)
		type = 1, len = 1;
	else if (v >= -32768 && v <= 32767)
		type = 2, len = 2;
	else if (v >= -8388608 && v <= 8388607)
		type = 3, len = 3;
	else if (v >= -2147483648ll && v <= 2147483647ll)
		type = 4, len = 4;
	else if (v >= -140737488355328ll && v <= 140737488355327ll)
		type = 5, len = 6;
	else
		type = 6, len = 8;
	assert(r->n_body + len <= BT_MAX_BODY);
	uint8_t *b = r->body + r->n_body;
	uint64_t u = (uint64_t)v;
	for (size_t i = len; i-- > 0; u >>= 8)
		b[i] = (uint8_t)u;
	r->n_body += len;
	bt_rec_type(r, (uint64_t)type);
}

void bt_rec_text(struct bt_record *r, const char *s, size_t len);
void bt_rec_blob(struct bt_record *r, const void *p, size_t len);

/* ---- trees ---- */

/* One b-tree being written bottom-up: leaves as they fill, interior pages at
 * bt_tree_finish. */
struct bt_tree {
	struct bt_file *f;
	uint32_t root;             /* the page SQLite made for it */
	bool index;                /* an index b-tree (indexes, WITHOUT ROWID tables) */
	uint8_t *page;             /* the leaf being filled */
	uint32_t n_cells, content; /* its cells; bytes of cell content */
	uint8_t *held;             /* the first leaf, written once a second one
				      exists (a tree of one leaf is its root page) */
	bool holding;
	int64_t last_rowid;        /* tables: the last rowid (leaves' keys) */
	/* indexes: an entry that did not fit in the full leaf, and the length of
	   that leaf's last cell (which separates instead, when nothing follows) */
	uint8_t *pending;
	size_t pending_len, last_len;
	/* The leaves (then each level's pages) and the separator between
	   neighbours: tables a rowid varint, indexes a record with its size. */
	uint32_t *child;
	size_t n_child, cap_child;
	uint8_t *sep;
	size_t sep_len, sep_cap;
	size_t *sep_at;            /* n_child - 1 offsets into sep */
	size_t cap_sep_at;
	uint64_t rows;
};

struct cprof_error *bt_tree_begin(struct bt_tree *t, struct bt_file *f, uint32_t root,
				  bool index);
/* A table row: rowids strictly increasing. */
struct cprof_error *bt_tree_row(struct bt_tree *t, int64_t rowid, const struct bt_record *r);
/* An index entry (or a WITHOUT ROWID row): records strictly increasing. */
struct cprof_error *bt_tree_key(struct bt_tree *t, const struct bt_record *r);
/* Writes the last leaf and the interior pages; frees the tree's buffers. */
struct cprof_error *bt_tree_finish(struct bt_tree *t);
/* Frees the buffers after an error. */
void bt_tree_abort(struct bt_tree *t);

#endif
