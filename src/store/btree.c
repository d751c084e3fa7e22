/*
 * btree.c - b-tree pages of SQLite's file format, written bottom-up (see
 * btree.h; the format: https://www.sqlite.org/fileformat2.html, sections
 * 1.2 (header), 1.3 (lock-byte page), 1.6 (b-tree pages) and 2.1 (records)).
 *
 * A page (no reserved bytes; never page 1, whose first 100 bytes are the
 * file header):
 *     header        8 bytes (leaf) or 12 (interior: the right-most child)
 *     cell pointers 2 bytes each, big-endian, in key order
 *     unused
 *     cells         packed at the end of the page, the first at the bottom
 * Cells: table leaf   varint payload size, varint rowid, payload
 *        table inner  4-byte child, varint rowid (the largest in the child)
 *        index leaf   varint payload size, payload
 *        index inner  4-byte child, varint payload size, payload - the entry
 *                     itself: an index entry is in exactly one page, so the
 *                     entry that ends a leaf goes up instead.
 * Payloads are never bigger than what stays in the page (table leaves: the
 * page size less 35; index pages: (U - 12) * 64 / 255 - 23 bytes, 16422 for
 * 64 KiB pages), so there are no overflow pages.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btree.h"

enum { LEAF_HEADER = 8, INTERIOR_HEADER = 12 };
enum { TABLE_LEAF = 0x0d, TABLE_INTERIOR = 0x05, INDEX_LEAF = 0x0a, INDEX_INTERIOR = 0x02 };

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's varint: big-endian groups of 7 bits, the high bit set on all but
 * the last; a ninth byte holds 8 bits. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	if (v <= 0x7f) {
		p[0] = (uint8_t)v;
		return 1;
	}
	if (v <= 0x3fff) {
		p[0] = (uint8_t)(v >> 7) | 0x80;
		p[1] = (uint8_t)(v & 0x7f);
		return 2;
	}
	if (v >> 56) {
		p[8] = (uint8_t)v;
		v >>= 8;
		for (int i = 7; i >= 0; i--) {
			p[i] = (uint8_t)(v & 0x7f) | 0x80;
			v >>= 7;
		}
		return 9;
	}
	uint8_t buf[8];
	size_t n = 0;
	do {
		buf[n++] = (uint8_t)(v & 0x7f) | 0x80;
		v >>= 7;
	} while (v);
	buf[0] &= 0x7f;
	for (size_t i = 0; i < n; i++)
		p[i] = buf[n - 1 - i];
	return n;
}

static size_t varint_len(uint64_t v)
{
	if (v >> 56)
		return 9;
	size_t n = 1;
	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

/* ---- the file ---- */

static struct cprof_error *write_all(struct bt_file *f, const void *buf, size_t len,
				     uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(f->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cprof_error_os(n < 0 ? errno : ENOSPC, f->path, "%s", "write");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return NULL;
}

struct cprof_error *bt_file_open(struct bt_file *f, const char *path)
{
	uint8_t h[100];
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return cprof_error_os(errno, path, "%s", "open");
	if (pread(f->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(f->fd);
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: no SQLite header", path);
	}
	/* Written by SQLite a moment ago: what it says is what we asked for. */
	f->page_size = (uint32_t)h[16] << 8 | h[17];
	if (f->page_size == 1)
		f->page_size = 65536;
	assert(!memcmp(h, "SQLite format 3", 16) && h[20] == 0 &&
	       !memcmp(h + 24, h + 92, 4) && get32(h + 56) == 1 && get32(h + 44) == 4);
	f->n_pages = get32(h + 28);
	f->lock_page = (uint32_t)((1ull << 30) / f->page_size) + 1;
	pthread_mutex_init(&f->lock, NULL);
	return NULL;
}

static uint32_t new_page(struct bt_file *f)
{
	pthread_mutex_lock(&f->lock);
	if (++f->n_pages == f->lock_page)
		++f->n_pages;
	uint32_t pg = f->n_pages;
	f->bytes += f->page_size;
	pthread_mutex_unlock(&f->lock);
	return pg;
}

static struct cprof_error *write_page(struct bt_file *f, uint32_t pgno, const uint8_t *page)
{
	assert(pgno > 1 && pgno != f->lock_page);
	return write_all(f, page, f->page_size, (uint64_t)(pgno - 1) * f->page_size);
}

struct cprof_error *bt_file_close(struct bt_file *f)
{
	uint8_t h[100];
	struct cprof_error *err = NULL;
	if (pread(f->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		err = cprof_error_os(errno ? errno : EIO, f->path, "%s", "read");
	else {
		/* The size in pages is valid while the change counter (24) equals
		   the version-valid-for number (92). */
		uint32_t counter = get32(h + 24) + 1;
		put32(h + 24, counter);
		put32(h + 28, f->n_pages);
		put32(h + 92, counter);
		err = write_all(f, h, sizeof(h), 0);
	}
	if (!err && ftruncate(f->fd, (off_t)f->n_pages * f->page_size) < 0)
		err = cprof_error_os(errno, f->path, "%s", "truncate");
	if (close(f->fd) < 0 && !err)
		err = cprof_error_os(errno, f->path, "%s", "close");
	f->fd = -1;
	pthread_mutex_destroy(&f->lock);
	return err;
}

/* ---- records ---- */

void bt_rec_type_varint(struct bt_record *r, uint64_t type)
{
	assert(r->n_cols < BT_MAX_COLS);
	r->n_types += put_varint(r->types + r->n_types, type);
	r->n_cols++;
}

static void add_bytes(struct bt_record *r, uint64_t type, const void *p, size_t len)
{
	assert(r->n_body + len <= BT_MAX_BODY);
	if (len)
		memcpy(r->body + r->n_body, p, len);
	r->n_body += len;
	bt_rec_type(r, type);
}

void bt_rec_text(struct bt_record *r, const char *s, size_t len)
{
	add_bytes(r, 13 + 2 * (uint64_t)len, s, len);
}

void bt_rec_blob(struct bt_record *r, const void *p, size_t len)
{
	add_bytes(r, 12 + 2 * (uint64_t)len, p, len);
}

/* The header's size counts its own varint. */
static size_t header_len(const struct bt_record *r)
{
	if (r->n_types < 0x7f)
		return r->n_types + 1;
	size_t h = r->n_types + 1;
	while (r->n_types + varint_len(h) != h)
		h = r->n_types + varint_len(h);
	return h;
}

/* ---- pages ---- */

/* Fills in a page's header once its cells are in. */
static void page_header(uint8_t *page, uint32_t page_size, uint8_t type, uint32_t n_cells,
			uint32_t content, uint32_t right)
{
	page[0] = type;
	put16(page + 1, 0);                    /* no freeblock */
	put16(page + 3, n_cells);
	put16(page + 5, (page_size - content) & 0xffff);   /* 65536 is 0 */
	page[7] = 0;                           /* no fragments */
	if (right)
		put32(page + 8, right);
}

static bool cell_fits(uint32_t page_size, uint32_t header, uint32_t n_cells, uint32_t content,
		      size_t len)
{
	return header + 2 * ((size_t)n_cells + 1) + content + len <= page_size;
}

static void put_cell(uint8_t *page, uint32_t page_size, uint32_t header, uint32_t *n_cells,
		     uint32_t *content, const uint8_t *cell, size_t len)
{
	uint32_t at = page_size - *content - (uint32_t)len;
	memcpy(page + at, cell, len);
	put16(page + header + 2 * *n_cells, at);
	(*n_cells)++;
	*content += (uint32_t)len;
}

/* ---- trees ---- */

struct cprof_error *bt_tree_begin(struct bt_tree *t, struct bt_file *f, uint32_t root,
				  bool index)
{
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->root = root;
	t->index = index;
	t->last_rowid = INT64_MIN;
	t->page = calloc(1, f->page_size);
	t->held = malloc(f->page_size);
	t->pending = malloc(f->page_size);
	if (!t->page || !t->held || !t->pending) {
		bt_tree_abort(t);
		return &cprof_enomem;
	}
	return NULL;
}

void bt_tree_abort(struct bt_tree *t)
{
	free(t->page);
	free(t->held);
	free(t->pending);
	free(t->child);
	free(t->sep);
	free(t->sep_at);
	memset(t, 0, sizeof(*t));
}

static bool push_child(struct bt_tree *t, uint32_t pgno)
{
	if (t->n_child == t->cap_child) {
		size_t cap = t->cap_child ? 2 * t->cap_child : 256;
		uint32_t *a = realloc(t->child, cap * sizeof(*a));
		if (!a)
			return false;
		t->child = a;
		t->cap_child = cap;
	}
	t->child[t->n_child++] = pgno;
	return true;
}

/* The separator after the last child: an interior cell less its child. */
static bool push_sep(struct bt_tree *t, const uint8_t *p, size_t len)
{
	if (t->sep_len + len > t->sep_cap) {
		size_t cap = t->sep_cap ? 2 * t->sep_cap : 1 << 16;
		while (cap < t->sep_len + len)
			cap *= 2;
		uint8_t *a = realloc(t->sep, cap);
		if (!a)
			return false;
		t->sep = a;
		t->sep_cap = cap;
	}
	size_t k = t->n_child - 1;
	if (k >= t->cap_sep_at) {
		size_t cap = t->cap_sep_at ? 2 * t->cap_sep_at : 256;
		size_t *a = realloc(t->sep_at, cap * sizeof(*a));
		if (!a)
			return false;
		t->sep_at = a;
		t->cap_sep_at = cap;
	}
	t->sep_at[k] = t->sep_len;
	memcpy(t->sep + t->sep_len, p, len);
	t->sep_len += len;
	return true;
}

/* The leaf is full (or the last): the first one is held back, the others
 * written to new pages. */
static struct cprof_error *emit_leaf(struct bt_tree *t)
{
	struct bt_file *f = t->f;
	struct cprof_error *err;
	page_header(t->page, f->page_size, t->index ? INDEX_LEAF : TABLE_LEAF, t->n_cells,
		    t->content, 0);
	if (!t->n_child) {
		memcpy(t->held, t->page, f->page_size);
		t->holding = true;
		if (!push_child(t, 0))
			return &cprof_enomem;
	} else {
		if (t->holding) {
			t->child[0] = new_page(f);
			if ((err = write_page(f, t->child[0], t->held)))
				return err;
			t->holding = false;
		}
		uint32_t pg = new_page(f);
		if ((err = write_page(f, pg, t->page)))
			return err;
		if (!push_child(t, pg))
			return &cprof_enomem;
	}
	memset(t->page, 0, f->page_size);
	t->n_cells = t->content = 0;
	return NULL;
}

/* Writes prefix (the payload's size, a table's rowid) and r's record (header
 * h bytes) as the cell of n bytes at p. */
static void encode_cell(uint8_t *p, const uint8_t *prefix, size_t np, const struct bt_record *r,
			size_t h)
{
	memcpy(p, prefix, np);
	p += np;
	p += put_varint(p, h);
	memcpy(p, r->types, r->n_types);
	memcpy(p + r->n_types, r->body, r->n_body);
}

/* Appends a cell of n bytes to the leaf (it fits), encoded in place. */
static void leaf_cell(struct bt_tree *t, const uint8_t *prefix, size_t np,
		      const struct bt_record *r, size_t h, size_t n)
{
	uint32_t ps = t->f->page_size;
	uint32_t at = ps - t->content - (uint32_t)n;
	encode_cell(t->page + at, prefix, np, r, h);
	put16(t->page + LEAF_HEADER + 2 * t->n_cells, at);
	t->n_cells++;
	t->content += (uint32_t)n;
}

struct cprof_error *bt_tree_row(struct bt_tree *t, int64_t rowid, const struct bt_record *r)
{
	uint8_t prefix[18];
	assert(!t->index && rowid > t->last_rowid);
	size_t h = header_len(r), plen = h + r->n_body;
	assert(plen <= t->f->page_size - 35);
	size_t np = put_varint(prefix, plen);
	np += put_varint(prefix + np, (uint64_t)rowid);
	size_t n = np + plen;
	struct cprof_error *err;
	if (!cell_fits(t->f->page_size, LEAF_HEADER, t->n_cells, t->content, n)) {
		uint8_t sep[9];
		if ((err = emit_leaf(t)))
			return err;
		if (!push_sep(t, sep, put_varint(sep, (uint64_t)t->last_rowid)))
			return &cprof_enomem;
	}
	leaf_cell(t, prefix, np, r, h, n);
	t->last_rowid = rowid;
	t->rows++;
	return NULL;
}

struct cprof_error *bt_tree_key(struct bt_tree *t, const struct bt_record *r)
{
	uint8_t prefix[9];
	assert(t->index);
	size_t h = header_len(r), plen = h + r->n_body;
	assert(plen <= ((size_t)t->f->page_size - 12) * 64 / 255 - 23);
	size_t np = put_varint(prefix, plen), n = np + plen;
	t->rows++;
	if (t->pending_len) {
		/* A leaf follows the full one: the entry that did not fit in it
		   separates them. */
		struct cprof_error *err = emit_leaf(t);
		if (err)
			return err;
		if (!push_sep(t, t->pending, t->pending_len))
			return &cprof_enomem;
		t->pending_len = 0;
	}
	if (!cell_fits(t->f->page_size, LEAF_HEADER, t->n_cells, t->content, n)) {
		encode_cell(t->pending, prefix, np, r, h);
		t->pending_len = n;
		return NULL;
	}
	leaf_cell(t, prefix, np, r, h, n);
	t->last_len = n;
	return NULL;
}

/* The last entry: when it did not fit in the full leaf, that leaf's own
 * last entry separates it from a leaf of its own. */
static struct cprof_error *index_last(struct bt_tree *t)
{
	uint32_t ps = t->f->page_size;
	uint8_t cell[BT_MAX_COLS * 9 + BT_MAX_BODY + 32];
	assert(t->n_cells >= 2);
	memcpy(cell, t->page + ps - t->content, t->last_len);
	memset(t->page + ps - t->content, 0, t->last_len);
	t->n_cells--;
	t->content -= (uint32_t)t->last_len;
	put16(t->page + LEAF_HEADER + 2 * t->n_cells, 0);
	struct cprof_error *err = emit_leaf(t);
	if (err)
		return err;
	if (!push_sep(t, cell, t->last_len))
		return &cprof_enomem;
	put_cell(t->page, ps, LEAF_HEADER, &t->n_cells, &t->content, t->pending, t->pending_len);
	t->pending_len = 0;
	return NULL;
}

/* ---- interior levels ---- */

/* Where the groups of children end: ends[g] is the child that is group g's
 * right-most pointer; the others of the group are cells. */
static size_t group_ends(const struct bt_tree *t, uint32_t page_size, size_t *ends)
{
	size_t g = 0, k = t->n_child - 1;   /* separators */
	uint32_t n_cells = 0, content = 0;
	for (size_t j = 0; j < k; j++) {
		size_t len = 4 + (j + 1 < k ? t->sep_at[j + 1] : t->sep_len) - t->sep_at[j];
		if (cell_fits(page_size, INTERIOR_HEADER, n_cells, content, len)) {
			n_cells++;
			content += (uint32_t)len;
			continue;
		}
		assert(n_cells > 0);
		ends[g++] = j;      /* child j is the right pointer, separator j goes up */
		n_cells = content = 0;
	}
	ends[g++] = k;
	/* The last group must have a cell: take one from the one before (a page
	   holds at least three of the biggest separators). */
	if (g > 1 && ends[g - 2] + 1 == ends[g - 1]) {
		assert(g < 3 ? ends[0] >= 2 : ends[g - 2] - ends[g - 3] >= 3);
		ends[g - 2]--;
	}
	return g;
}

/* One level of interior pages over t's children; they become its children. */
static struct cprof_error *interior_level(struct bt_tree *t, bool *done)
{
	struct bt_file *f = t->f;
	uint32_t ps = f->page_size;
	size_t *ends = malloc(t->n_child * sizeof(*ends));
	uint32_t *child = malloc(t->n_child * sizeof(*child));
	uint8_t *sep = malloc(t->sep_len ? t->sep_len : 1);
	size_t *sep_at = malloc(t->n_child * sizeof(*sep_at));
	struct cprof_error *err = NULL;
	if (!ends || !child || !sep || !sep_at) {
		err = &cprof_enomem;
		goto out;
	}
	size_t n_groups = group_ends(t, ps, ends), first = 0, sep_len = 0;
	*done = n_groups == 1;
	uint8_t type = t->index ? INDEX_INTERIOR : TABLE_INTERIOR;
	for (size_t g = 0; g < n_groups && !err; g++) {
		uint32_t n_cells = 0, content = 0;
		memset(t->page, 0, ps);
		for (size_t j = first; j < ends[g]; j++) {
			uint8_t cell[4 + 9 + 16448];
			size_t from = t->sep_at[j];
			size_t len = (j + 2 < t->n_child ? t->sep_at[j + 1] : t->sep_len) - from;
			put32(cell, t->child[j]);
			memcpy(cell + 4, t->sep + from, len);
			put_cell(t->page, ps, INTERIOR_HEADER, &n_cells, &content, cell, 4 + len);
		}
		page_header(t->page, ps, type, n_cells, content, t->child[ends[g]]);
		uint32_t pg = *done ? t->root : new_page(f);
		err = write_page(f, pg, t->page);
		child[g] = pg;
		if (g + 1 < n_groups) {
			/* the separator after this group's right-most child goes up */
			size_t j = ends[g], from = t->sep_at[j];
			size_t len = (j + 2 < t->n_child ? t->sep_at[j + 1] : t->sep_len) - from;
			sep_at[g] = sep_len;
			memcpy(sep + sep_len, t->sep + from, len);
			sep_len += len;
		}
		first = ends[g] + 1;
	}
	free(t->child);
	free(t->sep);
	free(t->sep_at);
	t->child = child;
	t->n_child = t->cap_child = n_groups;
	t->sep = sep;
	t->sep_len = t->sep_cap = sep_len;
	t->sep_at = sep_at;
	t->cap_sep_at = n_groups;
	child = NULL;
	sep = NULL;
	sep_at = NULL;
out:
	free(ends);
	free(child);
	free(sep);
	free(sep_at);
	return err;
}

struct cprof_error *bt_tree_finish(struct bt_tree *t)
{
	struct cprof_error *err = NULL;
	if (t->pending_len)
		err = index_last(t);
	if (!err && t->n_cells)
		err = emit_leaf(t);
	if (!err && t->holding) {
		/* One leaf: it is the root. */
		err = write_page(t->f, t->root, t->held);
		t->n_child = 0;
	}
	bool done = t->n_child < 2;
	while (!err && !done)
		err = interior_level(t, &done);
	bt_tree_abort(t);
	return err;
}
