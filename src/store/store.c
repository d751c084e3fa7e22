/*
 * store.c - writing cprof.db (see include/cprof/store.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"
#include "cprof/analysis.h"
#include "cprof/graph.h"
#include "cprof/roots.h"
#include "cprof/types.h"

extern const char cprof_schema_sql[];
extern const char cprof_indexes_sql[];


static struct cprof_error *sql_error(struct cprof_store *st, const char *what)
{
	return cprof_error_create(CPROF_ERROR_LIB, "%s: %s: %s", st->tmp_path,
				  what, sqlite3_errmsg(st->db));
}

static struct cprof_error *exec(struct cprof_store *st, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		struct cprof_error *err = cprof_error_create(
			CPROF_ERROR_LIB, "%s: %s", st->tmp_path,
			msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return err;
	}
	return NULL;
}

/* Closes SQLite's connection to the file being written. */
static struct cprof_error *close_db(struct cprof_store *st)
{
	if (sqlite3_close(st->db) != SQLITE_OK)
		return sql_error(st, "close");
	st->db = NULL;
	return NULL;
}

/* What a file that is not a regular one is, for messages. */
static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISFIFO(m) ? "a FIFO" :
	       S_ISLNK(m) ? "a symbolic link" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

struct cprof_error *cprof_store_check_target(const char *path)
{
	struct stat sb;
	/* lstat: renaming onto a symbolic link replaces the link, not the file
	   it names, which is not what the user asked for either. */
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? NULL :
		       cprof_error_os(errno, path, "%s", "cannot check the database's name");
	if (S_ISREG(sb.st_mode))
		return NULL;
	return cprof_error_create(CPROF_ERROR_USAGE,
				  "%s: is %s; the database is written only to a regular file or a new name (--db FILE)",
				  path, file_kind(sb.st_mode));
}

/*
 * Removes NAME.tmp-PID files left by analyses that were killed (PID no longer
 * runs).  Only regular files whose whole name has that form; best effort: a
 * file that cannot be removed is left as it is.
 */
static void remove_stale_tmp(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup("./");
	size_t blen = strlen(base);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *n = e->d_name;
		if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp-", 5))
			continue;
		char *end;
		long pid = strtol(n + blen + 5, &end, 10);
		if (*end || end == n + blen + 5 || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
			unlinkat(dirfd(d), n, 0);
	}
	if (d)
		closedir(d);
	free(dir);
}

struct cprof_error *cprof_store_create(const char *path,
				       struct cprof_store **ret)
{
	struct cprof_error *err;
	if ((err = cprof_store_check_target(path)))
		return err;
	struct cprof_store *st = calloc(1, sizeof(*st));
	if (!st)
		return &cprof_enomem;
	st->path = strdup(path);
	if (!st->path || asprintf(&st->tmp_path, "%s.tmp-%d", path, (int)getpid()) < 0) {
		st->tmp_path = NULL;
		cprof_store_abort(st);
		return &cprof_enomem;
	}
	remove_stale_tmp(path);
	unlink(st->tmp_path);
	/* One thread writes: SQLite's per-call mutexes cost 7% of the store. */
	if (sqlite3_open_v2(st->tmp_path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		err = cprof_error_create(CPROF_ERROR_OS, "%s: cannot create: %s",
					 st->tmp_path,
					 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		cprof_store_abort(st);
		return err;
	}
	/* page_size must be set before the first table exists.  Every table and
	   index is made now, empty: the big ones get their pages from bulk.c,
	   into the root pages made here. */
	if ((err = exec(st, "PRAGMA page_size = 65536;"
			    "PRAGMA journal_mode = OFF;"
			    "PRAGMA synchronous = OFF;"
			    "PRAGMA locking_mode = EXCLUSIVE;"
			    "PRAGMA application_id = 0x63707266;")) ||
	    (err = exec(st, "BEGIN")) ||
	    (err = exec(st, cprof_schema_sql)) ||
	    (err = exec(st, cprof_indexes_sql)) ||
	    (err = store_bulk_check(st))) {
		cprof_store_abort(st);
		return err;
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", CPROF_SCHEMA_VERSION);
	if ((err = exec(st, sql)) || (err = exec(st, "COMMIT")) || (err = close_db(st)) ||
	    (err = bt_file_open(&st->file, st->tmp_path))) {
		cprof_store_abort(st);
		return err;
	}
	st->file_open = true;
	*ret = st;
	return NULL;
}

struct cprof_error *cprof_store_begin_tables(struct cprof_store *st)
{
	struct cprof_error *err;
	st->file_open = false;
	if ((err = bt_file_close(&st->file)))
		return err;
	if (sqlite3_open_v2(st->tmp_path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return cprof_error_create(CPROF_ERROR_OS, "%s: cannot open: %s", st->tmp_path,
					  st->db ? sqlite3_errmsg(st->db) : "out of memory");
	return exec(st, "PRAGMA journal_mode = OFF;"
			"PRAGMA synchronous = OFF;"
			"PRAGMA locking_mode = EXCLUSIVE;"
			"PRAGMA cache_size = -16384;"
			"BEGIN");
}

void cprof_store_abort(struct cprof_store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	if (st->file_open)
		close(st->file.fd);
	if (st->tmp_path)
		unlink(st->tmp_path);
	free(st->tmp_path);
	free(st->path);
	free(st);
}

/*
 * Keeps the database at path as path.old (as perf.data.old), by a hard link:
 * path itself stays in place until the new file is renamed over it, so a kill
 * at any moment leaves the old or the new database at its name, never none.
 * Where hard links are not supported, the two-rename fallback leaves a moment
 * with no file at path.  A path.old that is not a regular file is left alone
 * (and the old database is then not kept).
 */
static struct cprof_error *keep_old(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return NULL;               /* nothing to keep */
	char *old = NULL;
	if (asprintf(&old, "%s.old", path) < 0)
		return &cprof_enomem;
	if (lstat(old, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		free(old);
		return NULL;
	}
	unlink(old);
	if (link(path, old) < 0 && errno != ENOENT)
		rename(path, old);
	free(old);
	return NULL;
}

struct cprof_error *cprof_store_commit(struct cprof_store *st)
{
	struct cprof_error *err;
	/* ANALYZE samples (analysis_limit) rather than reading every row: the
	   planner needs the shape of the data, not exact counts. */
	if ((err = exec(st, "COMMIT")) ||
	    (err = exec(st, "PRAGMA analysis_limit = 2000; ANALYZE")) || (err = close_db(st)) ||
	    (err = cprof_store_check_target(st->path)) || (err = keep_old(st->path)) ||
	    (rename(st->tmp_path, st->path) < 0 &&
	     (err = cprof_error_os(errno, st->path, "rename from %s", st->tmp_path)))) {
		cprof_store_abort(st);
		return err;
	}
	free(st->tmp_path);
	st->tmp_path = NULL;
	cprof_store_abort(st);
	return NULL;
}

/* ---- small tables: one prepared statement, a row at a time ---- */

struct cprof_error *store_prepare(struct cprof_store *st, const char *sql,
				   sqlite3_stmt **ret)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, ret, NULL) != SQLITE_OK)
		return sql_error(st, "prepare");
	return NULL;
}

struct cprof_error *store_step_bound(struct cprof_store *st, sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, "insert");
	return NULL;
}

struct cprof_error *store_step(struct cprof_store *st, sqlite3_stmt *stmt)
{
	struct cprof_error *err = store_step_bound(st, stmt);
	sqlite3_clear_bindings(stmt);
	return err;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

void store_bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

struct cprof_error *cprof_store_meta(struct cprof_store *st, const char *key,
				     const char *value)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st, "INSERT OR REPLACE INTO meta VALUES (?, ?)", &s);
	if (err)
		return err;
	store_bind_text(s, 1, key);
	store_bind_text(s, 2, value);
	err = store_step_bound(st, s);
	sqlite3_finalize(s);
	return err;
}

static const char *segment_source(const struct cprof_core_totals *t)
{
	int kinds = (t->in_core > 0) + (t->from_file > 0) + (t->missing > 0);
	return kinds > 1 ? "mixed" : t->from_file ? "file" :
	       t->missing ? "missing" : "core";
}

static struct cprof_error *store_modules(struct cprof_store *st,
					 struct cprof_core *core)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO module VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
	for (size_t i = 0; !err && i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, m->name);
		store_bind_text(s, 3, m->path);
		store_bind_u64(s, 4, m->start);
		store_bind_u64(s, 5, m->end);
		store_bind_text(s, 6, m->build_id);
		store_bind_text(s, 7, m->file_build_id);
		store_bind_text(s, 8, cprof_module_status_name(m->status));
		store_bind_text(s, 9, m->debug_file);
		err = store_step_bound(st, s);
	}
	sqlite3_finalize(s);
	return err;
}

static void bind_module(sqlite3_stmt *s, int i, const struct cprof_core *core,
			uint64_t addr)
{
	const struct cprof_module *m = cprof_core_module(core, addr);
	if (m)
		store_bind_u64(s, i, m - core->modules);
	else
		sqlite3_bind_null(s, i);
}

static struct cprof_error *store_mappings(struct cprof_store *st,
					  struct cprof_core *core, const char *const *roles)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO mapping VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
	for (size_t i = 0; !err && i < core->n_segments; i++) {
		const struct cprof_segment *g = &core->segments[i];
		struct cprof_core_totals t;
		char perms[4] = {
			g->flags & CPROF_SEG_R ? 'r' : '-',
			g->flags & CPROF_SEG_W ? 'w' : '-',
			g->flags & CPROF_SEG_X ? 'x' : '-', 0,
		};
		cprof_core_segment_totals(core, g, &t);
		store_bind_u64(s, 1, i);
		store_bind_u64(s, 2, g->start);
		store_bind_u64(s, 3, g->end);
		store_bind_text(s, 4, perms);
		if (g->file >= 0) {
			store_bind_text(s, 5, core->files[g->file].path);
			store_bind_u64(s, 6, g->file_offset);
		}
		store_bind_text(s, 7, segment_source(&t));
		store_bind_u64(s, 8, t.in_core);
		store_bind_u64(s, 9, t.from_file);
		store_bind_u64(s, 10, t.missing);
		bind_module(s, 11, core, g->start);
		if (roles)
			store_bind_text(s, 12, roles[i]);
		err = store_step(st, s);
	}
	sqlite3_finalize(s);
	return err;
}

enum { MAX_FRAMES = 256 };

static struct cprof_error *store_threads(struct cprof_store *st,
					 struct cprof_core *core)
{
	sqlite3_stmt *t, *f;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO thread VALUES (?, ?, ?, ?, ?, ?)", &t);
	if (err)
		return err;
	if ((err = store_prepare(st, "INSERT INTO frame VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &f))) {
		sqlite3_finalize(t);
		return err;
	}
	for (size_t i = 0; !err && i < core->n_threads; i++) {
		const struct cprof_thread *th = &core->threads[i];
		store_bind_u64(t, 1, i);
		sqlite3_bind_int(t, 2, th->tid);
		sqlite3_bind_int(t, 3, i == 0 && th->cursig != 0);
		store_bind_u64(t, 4, th->regs[CPROF_REG_RIP]);
		store_bind_u64(t, 5, th->regs[CPROF_REG_RSP]);
		store_bind_u64(t, 6, th->regs[CPROF_REG_FS_BASE]);
		if ((err = store_step_bound(st, t)))
			break;
		struct cprof_frame *frames;
		size_t n;
		/* A backtrace that fails is recorded as far as it went; the
		   reason was not a database problem. */
		cprof_error_destroy(cprof_core_backtrace(core, th->tid, MAX_FRAMES,
							 &frames, &n));
		for (size_t k = 0; !err && k < n; k++) {
			/* the frame's own function and line (as `info` shows it),
			   not a call inlined there */
			struct cprof_symbol calls[32], sym = { 0 };
			size_t nc = cprof_core_calls(core, frames[k].pc, !frames[k].is_activation,
						     calls, 32);
			if (nc)
				sym = calls[nc - 1];
			store_bind_u64(f, 1, i);
			store_bind_u64(f, 2, k);
			store_bind_u64(f, 3, frames[k].pc);
			if (frames[k].sp)
				store_bind_u64(f, 4, frames[k].sp);
			bind_module(f, 5, core, frames[k].pc);
			store_bind_text(f, 6, sym.function);
			if (sym.function)
				store_bind_u64(f, 7, sym.offset);
			store_bind_text(f, 8, sym.file);
			if (sym.file)
				sqlite3_bind_int(f, 9, sym.line);
			store_bind_text(f, 10, cprof_unwind_method_name(frames[k].method));
			err = store_step(st, f);
		}
		free(frames);
	}
	sqlite3_finalize(t);
	sqlite3_finalize(f);
	return err;
}

struct cprof_error *cprof_store_core(struct cprof_store *st,
				     struct cprof_core *core, const char *const *roles)
{
	struct cprof_error *err;
	if ((err = store_modules(st, core)) || (err = store_mappings(st, core, roles)) ||
	    (err = store_threads(st, core)))
		return err;
	return NULL;
}

struct cprof_error *cprof_store_heaps(struct cprof_store *st,
				      const struct cprof_heap_walk *walk)
{
	sqlite3_stmt *h, *a, *k;
	struct cprof_error *err = store_prepare(st, "INSERT INTO heap VALUES (?, ?, ?, ?, ?, ?)", &h);
	if (err)
		return err;
	if ((err = store_prepare(st, "INSERT INTO arena VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &a))) {
		sqlite3_finalize(h);
		return err;
	}
	if ((err = store_prepare(st, "INSERT INTO allocator_stat VALUES (?, ?, ?, ?)", &k))) {
		sqlite3_finalize(h);
		sqlite3_finalize(a);
		return err;
	}
	for (size_t i = 0; !err && i < walk->n_heaps; i++) {
		const struct cprof_heap *hp = &walk->heaps[i];
		store_bind_u64(h, 1, i);
		store_bind_text(h, 2, hp->allocator);
		store_bind_text(h, 3, hp->kind);
		if (hp->arena)
			store_bind_u64(h, 4, hp->arena);
		store_bind_u64(h, 5, hp->start);
		store_bind_u64(h, 6, hp->end);
		err = store_step(st, h);
	}
	for (size_t i = 0; !err && i < walk->n_allocators; i++) {
		const struct cprof_allocator *s = &walk->allocators[i];
		for (size_t j = 0; !err && j < s->n_arenas; j++) {
			const struct cprof_arena_summary *ar = &s->arenas[j];
			store_bind_text(a, 1, s->name);
			store_bind_u64(a, 2, ar->addr);
			store_bind_text(a, 3, ar->kind);
			store_bind_u64(a, 4, ar->system_mem);
			store_bind_u64(a, 5, ar->n_heaps);
			store_bind_u64(a, 6, ar->used_count);
			store_bind_u64(a, 7, ar->used_bytes);
			store_bind_u64(a, 8, ar->free_count);
			store_bind_u64(a, 9, ar->free_bytes);
			err = store_step_bound(st, a);
		}
		for (size_t j = 0; !err && j < s->n_stats; j++) {
			store_bind_text(k, 1, s->name);
			store_bind_text(k, 2, s->stats_name);
			store_bind_text(k, 3, s->stats[j].name);
			store_bind_u64(k, 4, s->stats[j].value);
			err = store_step_bound(st, k);
		}
	}
	sqlite3_finalize(h);
	sqlite3_finalize(a);
	sqlite3_finalize(k);
	return err;
}

void store_allocator_row(const struct cprof_allocator *a, struct cprof_allocator_row *ret)
{
	const char *slash = a->module ? strrchr(a->module->name, '/') : NULL;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), "%s", a->name);
	snprintf(ret->version, sizeof(ret->version), "%s", a->version);
	snprintf(ret->module, sizeof(ret->module), "%s",
		 a->module ? (slash ? slash + 1 : a->module->name) : "");
	ret->serves_malloc = a->serves_malloc;
	snprintf(ret->heap, sizeof(ret->heap), "%s", cprof_heap_state_name(a->heap_state));
	snprintf(ret->reason, sizeof(ret->reason), "%s", a->reason);
}

/* A text column: "" is NULL. */
static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	store_bind_text(s, i, v[0] ? v : NULL);
}

struct cprof_error *cprof_store_allocators(struct cprof_store *st,
					   const struct cprof_heap_walk *walk)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO allocator VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
	for (size_t i = 0; !err && i < walk->n_allocators; i++) {
		const struct cprof_allocator *a = &walk->allocators[i];
		struct cprof_allocator_row r;
		store_allocator_row(a, &r);
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, r.name);
		bind_text_or_null(s, 3, r.version);
		bind_text_or_null(s, 4, r.module);
		sqlite3_bind_int(s, 5, r.serves_malloc);
		store_bind_text(s, 6, a->serves_malloc ? a->malloc_how : NULL);
		store_bind_text(s, 7, r.heap);
		bind_text_or_null(s, 8, r.reason);
		store_bind_text(s, 9, a->found_by);
		err = store_step_bound(st, s);
	}
	sqlite3_finalize(s);
	return err;
}

void store_bind_opt_u32(sqlite3_stmt *s, int i, uint32_t v)
{
	if (v == UINT32_MAX)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

struct cprof_error *cprof_store_roots(struct cprof_store *st,
				      struct cprof_core *core,
				      const struct cprof_roots *roots,
				      const struct cprof_graph *g)
{
	sqlite3_stmt *r, *rr;
	struct cprof_error *err = store_prepare(st, "INSERT INTO root VALUES (?, ?, ?, ?, ?, ?, ?)", &r);
	if (err)
		return err;
	if ((err = store_prepare(st, "INSERT INTO root_ref VALUES (?, ?, ?, ?, ?, ?)", &rr))) {
		sqlite3_finalize(r);
		return err;
	}
	for (size_t i = 0; !err && i < roots->n; i++) {
		const struct cprof_root *ro = &roots->roots[i];
		store_bind_u64(r, 1, i);
		store_bind_text(r, 2, cprof_root_kind_label(ro));
		store_bind_text(r, 3, ro->name);
		if (ro->thread >= 0)
			store_bind_u64(r, 4, (uint64_t)ro->thread);
		if (ro->module >= 0)
			store_bind_u64(r, 5, (uint64_t)ro->module);
		if (ro->kind != CPROF_ROOT_REGISTERS) {
			store_bind_u64(r, 6, ro->start);
			store_bind_u64(r, 7, ro->end);
		}
		err = store_step(st, r);
	}
	for (size_t i = 0; !err && i < g->n_root_refs; i++) {
		const struct cprof_root_ref *ref = &g->root_refs[i];
		char name[320];
		/* ids are the in-memory indexes: object.path_root_ref uses them */
		store_bind_u64(rr, 1, i);
		store_bind_u64(rr, 2, ref->root);
		store_bind_u64(rr, 3, ref->slot);
		if (store_slot_name(core, roots, g, i, name, sizeof(name)))
			store_bind_text(rr, 4, name);
		store_bind_u64(rr, 5, ref->dst);
		store_bind_u64(rr, 6, ref->dst_off);
		err = store_step(st, rr);
	}
	sqlite3_finalize(r);
	sqlite3_finalize(rr);
	return err;
}

bool store_slot_name(struct cprof_core *core, const struct cprof_roots *roots,
		     const struct cprof_graph *g, size_t i, char *buf, size_t size)
{
	/* A symbol lookup each: the first million are named. */
	if (i >= STORE_NAMED_SLOTS)
		return false;
	const struct cprof_root_ref *ref = &g->root_refs[i];
	cprof_root_slot_name(core, roots, &roots->roots[ref->root], ref->slot, buf, size);
	return true;
}

struct cprof_error *cprof_store_root_nodes(struct cprof_store *st,
					   const struct cprof_retention *rt)
{
	sqlite3_stmt *s;
	struct cprof_error *err = store_prepare(st,
		"INSERT INTO root_node VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &s);
	for (size_t i = 0; !err && i < rt->n_nodes; i++) {
		const struct cprof_root_node *nd = &rt->nodes[i];
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, cprof_root_node_kind_label(nd));
		store_bind_text(s, 3, nd->name);
		store_bind_opt_u32(s, 4, nd->parent);
		if (nd->thread >= 0)
			store_bind_u64(s, 5, (uint64_t)nd->thread);
		if (nd->module >= 0)
			store_bind_u64(s, 6, (uint64_t)nd->module);
		store_bind_u64(s, 7, nd->retained_bytes);
		store_bind_u64(s, 8, nd->retained_count);
		err = store_step(st, s);
	}
	sqlite3_finalize(s);
	return err;
}

struct cprof_error *cprof_store_types(struct cprof_store *st,
				      const struct cprof_types *t)
{
	sqlite3_stmt *s, *f;
	struct cprof_error *err = store_prepare(st, "INSERT INTO type VALUES (?, ?, ?, ?, ?)", &s);
	if (err)
		return err;
	if ((err = store_prepare(st, "INSERT OR IGNORE INTO type_field VALUES (?, ?, ?, ?)", &f))) {
		sqlite3_finalize(s);
		return err;
	}
	for (size_t i = 0; !err && i < t->n_types; i++) {
		store_bind_u64(s, 1, i);
		store_bind_text(s, 2, t->types[i].name);
		store_bind_u64(s, 3, t->types[i].size);
		if (t->types[i].element != UINT32_MAX) {
			store_bind_u64(s, 4, t->types[i].element);
			store_bind_u64(s, 5, t->types[i].count);
		}
		err = store_step(st, s);
		/* "T at +off" has T's fields, off further on */
		const struct cprof_type *ft = t->types[i].inside < t->n_types ?
					      &t->types[t->types[i].inside] : &t->types[i];
		uint64_t shift = ft != &t->types[i] ? t->types[i].inside_off : 0;
		for (uint32_t k = 0; !err && k < ft->n_slots; k++) {
			const struct cprof_type_slot *sl = &ft->slots[k];
			store_bind_u64(f, 1, i);
			store_bind_u64(f, 2, sl->offset + shift);
			store_bind_text(f, 3, sl->name);
			/* a Go interface's, closure's or map directory's
			   target is per object: NULL here */
			if (sl->kind == CPROF_SLOT_STATIC && sl->target < t->n_types)
				store_bind_u64(f, 4, sl->target);
			err = store_step(st, f);
		}
	}
	sqlite3_finalize(s);
	sqlite3_finalize(f);
	return err;
}

/*
 * Checks what a query command is about to open, before SQLite sees it: a
 * regular file (a FIFO would block), a SQLite header, and as many bytes as the
 * header says the database has - a file cut short (a copy that stopped, a full
 * disk) is "truncated or damaged", not "not a cprof.db".
 */
static struct cprof_error *check_db_file(const char *path)
{
	static const char magic[16] = "SQLite format 3";   /* with its NUL */
	unsigned char h[100];
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return cprof_error_os(errno, path,
				      "%s", "cannot open (run 'cprof-core analyze CORE [EXE]' first)");
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cprof_error_create(CPROF_ERROR_USAGE, "%s: is %s, not a cprof.db", path,
					  file_kind(sb.st_mode));
	}
	ssize_t n = pread(fd, h, sizeof(h), 0);
	close(fd);
	size_t have = n > 0 ? (size_t)n : 0;
	size_t cmp = have < sizeof(magic) ? have : sizeof(magic);
	if (!have || memcmp(h, magic, cmp))
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: not a cprof.db (run 'cprof-core analyze CORE [EXE]' to make one)",
					  path);
	if (have < sizeof(h))
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: truncated or damaged: %zu bytes, less than a SQLite header (run 'cprof-core analyze' again)",
					  path, have);
	/* Header fields, big-endian: page size at 16 (1 means 65536); the
	   database's size in pages at 28, valid when the change counter at 24
	   equals the version-valid-for number at 92 (fileformat.html). */
	uint64_t page = (uint64_t)h[16] << 8 | h[17];
	if (page == 1)
		page = 65536;
	uint32_t pages = (uint32_t)h[28] << 24 | (uint32_t)h[29] << 16 | (uint32_t)h[30] << 8 | h[31];
	bool valid = !memcmp(h + 24, h + 92, 4) && pages;
	if (valid && (uint64_t)sb.st_size < page * pages)
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: truncated or damaged: %llu bytes, its header says %llu (run 'cprof-core analyze' again)",
					  path, (unsigned long long)sb.st_size,
					  (unsigned long long)(page * pages));
	return NULL;
}

struct cprof_error *cprof_store_open(const char *path, sqlite3 **ret)
{
	struct cprof_error *err = check_db_file(path);
	if (err)
		return err;
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		err = cprof_error_create(
			CPROF_ERROR_BAD_DATA, "%s: %s", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return err;
	}
	sqlite3_stmt *s;
	int app = 0, version = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			app = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	if (app != 0x63707266) {
		sqlite3_close(db);
		return cprof_error_create(CPROF_ERROR_BAD_DATA,
					  "%s: not a cprof.db (run 'cprof-core analyze CORE [EXE]' to make one)",
					  path);
	}
	if (version != CPROF_SCHEMA_VERSION) {
		sqlite3_close(db);
		return cprof_error_create(CPROF_ERROR_UNSUPPORTED,
					  "%s: schema version %d, this cprof-core reads version %d (run 'cprof-core analyze' again)",
					  path, version, CPROF_SCHEMA_VERSION);
	}
	/* Queries that follow references (paths, the root slots reaching an
	   object) read a few rows of many 64 KiB pages: read them in place
	   (mmap) rather than copied by pread into a 2 MB cache, and under one
	   read transaction rather than a lock and an fstat per statement (`top`
	   on 10^7 objects: 39 s, of it 23 s in the kernel, before). */
	sqlite3_exec(db, "PRAGMA mmap_size = 1099511627776; PRAGMA cache_size = -65536; BEGIN",
		     NULL, NULL, NULL);
	*ret = db;
	return NULL;
}

void cprof_store_close(sqlite3 *db)
{
	sqlite3_close(db);
}
