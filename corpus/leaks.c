/* leaks.c - heap blocks whose reachability is known: leaked, reachable, reachable
 * only through interior pointers, kept alive by stacks, TLS, registers and globals.
 * The oracle program of the pointer scan and leak detection (tests t05xx).
 *
 * Usage: leaks MANIFEST_PATH SCENARIO     (protocol: corpus/README.md)
 *
 * Scenarios (`all` runs every one of them in one process; they do not interfere):
 *   list      a leaked singly linked list of 10 nodes (24..168 bytes): 1 direct,
 *             9 indirect
 *   tree      a leaked binary tree of 15 nodes: 1 direct, 14 indirect; every node
 *             starts with a pointer to g_tree_ops (a module pointer, no heap one)
 *   cycle     a leaked ring of 5 nodes (no pointer from outside) and a leaked
 *             doubly linked list of 6: per structure the node with the lowest
 *             address is direct, the others indirect (valgrind: the first block of
 *             a leaked cycle in address order is "definitely lost"; LeakSanitizer:
 *             every node of a cycle is an "indirect leak")
 *   shared    two leaked roots A and B both pointing to C -> D: 2 direct, 2
 *             indirect; A and B each hold C and D (cprof-core's holds_* count a
 *             chunk under every leak root that reaches it; valgrind counts C and D
 *             once, under the first root in address order)
 *   stack     worker_stack keeps a block (-> child) in a local variable while it
 *             is parked in read(2): reachable; next to it a leaked block (-> child)
 *   tls       a __thread pointer (t_keep) of worker_tls and of the main thread
 *             keeps a block each: reachable; worker_tls also leaks one block
 *   register  worker_register holds a block (-> child) only in r12 while it is
 *             parked in pause(2) (raw syscall from inline asm: r12 is in no memory
 *             at all): reachable
 *   interior  I1 reachable only through a global pointing 40 bytes into it, with a
 *             child C1 it points to the start of; I2 reachable only through a heap
 *             pointer 48 bytes into it (from S1); S1 and S2 through start pointers
 *             (S2 also through an interior one); and a leaked intrusive list of 4
 *             nodes whose links point 16 bytes into the next node (interior
 *             pointers between leaked blocks): 1 direct, 3 indirect.
 *             interior_only (valgrind: "possibly lost") is a chunk that every chain
 *             of pointers from a root reaches through at least one interior
 *             pointer: I1, I2, and C1 too (a start pointer, but from I1)
 *   freed     three live blocks referenced only from freed chunks: from a freed
 *             list node in the tcache (T1, with a child T1c), from a chunk in a
 *             fastbin (T2), from a chunk in the unsorted bin (T3, 2056 bytes):
 *             3 direct, 1 indirect (free chunks keep nothing alive)
 *   globals   blocks kept by a global in .data, one in .bss (-> a chain of 2) and
 *             one of libcorpus.so: reachable, no leak
 *
 * Every request size n is 16k+8 (n >= 24), so that malloc_usable_size() == n with
 * glibc (and with valgrind and LeakSanitizer, which report requested sizes): every
 * tool counts the same bytes. Every block is filled with printable text before its
 * intended pointer fields are set: no word of a block looks like a pointer except
 * those links. The program records the blocks' addresses complemented (~addr,
 * never a valid pointer), and before it parks it zeroes 64 KiB of stack below the
 * current frame in every thread (scrub_stack), so no stale copy of a pointer stays
 * in dead stack frames.
 *
 * Note on glibc: glibc's own pointers to chunk headers (av->top, the bins,
 * fastbinsY) point at the last 8 bytes of the chunk before (n % 16 == 8: a block
 * uses the prev_size field of the next chunk). Several leaked blocks sit right
 * before such a chunk on purpose (the top chunk; T2 before the fastbin chunk, T3
 * before the unsorted one): a leak detector that scans the allocator's own state
 * as a root would wrongly see an interior pointer to them.
 *
 * Modes, at the point where the program would park in pause():
 *   - under valgrind (RUNNING_ON_VALGRIND): VALGRIND_DO_LEAK_CHECK (a full
 *     check), then _exit(0);
 *   - built with -fsanitize=leak (-DCORPUS_LSAN, binary leaks-lsan) and run with
 *     CPROF_LSAN=1 in the environment: __lsan_do_recoverable_leak_check(), then
 *     _exit(0).
 * In both, every worker thread is still parked, so its stack, TLS and registers
 * are roots. The manifest is written first in every mode.
 *
 * Manifest extensions (besides corpus/README.md's fields):
 *   "scenario", "mode" ("native", "valgrind", "lsan"),
 *   "blocks": [{"addr", "size" (malloc_usable_size), "request", "group" (the
 *      scenario), "name", "expect" (cprof-core: reachable | direct | indirect |
 *      interior_only | free), "valgrind" (reachable | definitely | indirectly |
 *      possibly | freed), "lsan" (reachable | direct | indirect | freed), "tid"
 *      (allocating thread), "via" (what keeps a reachable block alive), for
 *      direct blocks "holds_count"/"holds_bytes" (the block and every leaked block
 *      reachable from it), for free ones "free_list" (tcache | fastbin | unsorted)
 *      and for register-held ones "register"}],
 *   "expect_summary": {"direct", "indirect", "interior_only", "reachable":
 *      {"count", "bytes"}} over the blocks (reachable: the program's reachable
 *      blocks; the process has more, glibc's own),
 *   "expect_valgrind": {"definitely", "indirectly", "possibly": {"count", "bytes"
 *      (requested sizes)}},
 *   "expect_lsan": {"direct", "indirect": {"count", "bytes"}}.
 * The blocks include glibc's own DTV of every thread the program creates
 * (calloc'ed by pthread_create; the thread's TCB points 16 bytes into it:
 * interior_only, valgrind's classic "possibly lost" of unjoined threads).
 */
#define _GNU_SOURCE
#include "corpus.h"
#include "libcorpus.h"

#include <malloc.h>

#ifdef CORPUS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the blocks ---------------------------------------------------------- */

enum cls { C_REACHABLE, C_DIRECT, C_INDIRECT, C_INTERIOR, C_FREE };
static const char *const cls_name[] = {"reachable", "direct", "indirect", "interior_only",
				       "free"};
enum vcls { V_REACHABLE, V_DEFINITELY, V_INDIRECTLY, V_POSSIBLY, V_FREED };
static const char *const vcls_name[] = {"reachable", "definitely", "indirectly", "possibly",
					"freed"};
enum lcls { L_REACHABLE, L_DIRECT, L_INDIRECT, L_FREED };
static const char *const lcls_name[] = {"reachable", "direct", "indirect", "freed"};

struct block {
	uintptr_t hidden;       /* ~address: never looks like a pointer */
	size_t size;            /* malloc_usable_size() */
	size_t request;         /* what was asked of malloc */
	uint8_t cls, vg, lsan;
	const char *group;
	char name[32];
	const char *via;        /* what keeps a reachable block alive */
	const char *free_list;  /* free blocks: where glibc puts the chunk */
	const char *reg;        /* held in this register only */
	pid_t tid;
	int holds_count;        /* direct blocks */
	size_t holds_bytes;
};

#define MAX_BLOCKS 256
static struct block blocks[MAX_BLOCKS];
static int nblocks;
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *mode_name = "native";
#ifdef CORPUS_LSAN
static int lsan_mode;
#endif
/* corpus.h's plain writer is unused here: write_manifest below adds fields */
static void (*const corpus_unused_writer)(const char *, const char *)
	__attribute__((unused)) = corpus_write_manifest;

static uintptr_t hide(const void *p)
{
	return ~(uintptr_t)p;
}

static void die(const char *msg)
{
	errno = 0;
	corpus_die(msg);
}

/* Record a block of GROUP: P (hidden at once), its request and class. */
static struct block *record_size(const char *group, const char *name, int idx, const void *p,
				 size_t request, size_t usable, enum cls c)
{
	pthread_mutex_lock(&blocks_lock);
	if (nblocks >= MAX_BLOCKS)
		die("too many blocks");
	struct block *b = &blocks[nblocks++];
	pthread_mutex_unlock(&blocks_lock);
	b->hidden = hide(p);
	b->size = usable;
	b->request = request;
	b->cls = (uint8_t)c;
	b->vg = c == C_DIRECT ? V_DEFINITELY : c == C_INDIRECT ? V_INDIRECTLY :
		c == C_INTERIOR ? V_POSSIBLY : c == C_FREE ? V_FREED : V_REACHABLE;
	b->lsan = c == C_DIRECT ? L_DIRECT : c == C_INDIRECT ? L_INDIRECT :
		  c == C_FREE ? L_FREED : L_REACHABLE;
	b->group = group;
	if (idx >= 0)
		snprintf(b->name, sizeof b->name, "%s[%d]", name, idx);
	else
		snprintf(b->name, sizeof b->name, "%s", name);
	b->tid = corpus_gettid();
	return b;
}

static struct block *record(const char *group, const char *name, int idx, const void *p,
			    size_t request, enum cls c)
{
	return record_size(group, name, idx, p, request, malloc_usable_size((void *)p), c);
}

/* A leak root: it holds COUNT blocks of BYTES (itself included). */
static void holds(struct block *b, int count, size_t bytes)
{
	b->holds_count = count;
	b->holds_bytes = bytes;
}

/* malloc(N) filled with LABEL repeated (printable text: no word of it is a
 * pointer). N must be 16k+8 so that the usable size is N. */
static void *alloc_filled(size_t n, const char *label)
{
	if (n < 24 || n % 16 != 8)
		die("request sizes must be 16k+8 and >= 24");
	unsigned char *p = malloc(n);
	if (!p)
		die("malloc failed");
	corpus_fill_text(p, n, label);
	if (malloc_usable_size(p) != n)
		die("malloc_usable_size differs from the request");
	return p;
}

static void set_ptr(void *blk, size_t off, const void *target)
{
	memcpy((char *)blk + off, &target, sizeof target);
}

static void set_u64(void *blk, size_t off, uint64_t v)
{
	memcpy((char *)blk + off, &v, sizeof v);
}

/* Zero 64 KiB of stack below the caller's frame: no stale pointer stays in dead
 * frames (valgrind and LSan scan from the stack pointer up; other tools may not). */
static CORPUS_NOINLINE void scrub_stack(void)
{
	unsigned char buf[64 * 1024];
	explicit_bzero(buf, sizeof buf);
}

/* ---- globals and functions blocks point to --------------------------------- */

struct tree_ops {
	const char *name;
	long (*visit)(const void *node);
};

CORPUS_NOINLINE long tree_visit(const void *node)
{
	return node != NULL;
}

CORPUS_NOINLINE long shared_visit(const void *node)
{
	return node != NULL;
}

const struct tree_ops g_tree_ops = {"tree", tree_visit};   /* .data.rel.ro */

struct holder {
	uint64_t tag;
	void *p;
};
struct holder g_data_holder = {0x6c6f62616c2e6400ULL, NULL};   /* .data */
void *g_bss_ptr;                                                 /* .bss */
char *g_interior_ptr;     /* points 40 bytes into interior I1 */
void *g_start_ptr;        /* S1 */
void *g_both_start;       /* S2 */
char *g_both_mid;         /* S2 + 32 */

static __thread void *t_keep;               /* .tbss: a block per thread (tls) */
static __thread void *volatile t_scratch;   /* held a block once (tls leak) */

static int g_pipe[2];

/* ---- scenarios on the main thread ------------------------------------------- */

static CORPUS_NOINLINE void sc_list(void)
{
	void *prev = NULL;
	struct block *head = NULL;
	size_t bytes = 0;
	for (int i = 0; i < 10; i++) {
		size_t n = 24 + 16 * (size_t)i;
		void *p = alloc_filled(n, "list node");
		set_u64(p, 0, 0);           /* next */
		set_u64(p, 8, (uint64_t)i); /* seq */
		if (prev)
			set_ptr(prev, 0, p);
		struct block *b = record("list", "list", i, p, n, i ? C_INDIRECT : C_DIRECT);
		if (!i)
			head = b;
		bytes += n;
		prev = p;
	}
	holds(head, 10, bytes);
}

/* node: ops, left, right, key, text; 88/72/56/40 bytes by depth */
static void *tree_node(int depth, int *idx)
{
	size_t n = 88 - 16 * (size_t)depth;
	void *p = alloc_filled(n, "tree node");
	int me = (*idx)++;
	set_ptr(p, 0, &g_tree_ops);
	set_u64(p, 8, 0);
	set_u64(p, 16, 0);
	set_u64(p, 24, (uint64_t)me);
	struct block *b = record("tree", "tree", me, p, n, depth ? C_INDIRECT : C_DIRECT);
	if (!depth)
		holds(b, 15, 88 + 2 * 72 + 4 * 56 + 8 * 40);
	if (depth < 3) {
		set_ptr(p, 8, tree_node(depth + 1, idx));
		set_ptr(p, 16, tree_node(depth + 1, idx));
	}
	return p;
}

static CORPUS_NOINLINE void sc_tree(void)
{
	int idx = 0;
	tree_node(0, &idx);
}

/* Record the nodes of a leaked strongly connected structure: the node with the
 * lowest address is the direct one (valgrind's clique leader, cprof-core's leak
 * root); LeakSanitizer calls every node of a cycle an indirect leak. */
static void record_cycle(const char *name, void **nodes, int n, size_t size)
{
	int low = 0;
	for (int i = 1; i < n; i++)
		if ((uintptr_t)nodes[i] < (uintptr_t)nodes[low])
			low = i;
	for (int i = 0; i < n; i++) {
		struct block *b = record("cycle", name, i, nodes[i], size,
					 i == low ? C_DIRECT : C_INDIRECT);
		b->lsan = L_INDIRECT;
		if (i == low)
			holds(b, n, (size_t)n * size);
	}
}

static CORPUS_NOINLINE void sc_cycle(void)
{
	void *ring[5], *dll[6];
	for (int i = 0; i < 5; i++) {
		ring[i] = alloc_filled(56, "ring node");
		set_u64(ring[i], 8, (uint64_t)i);
	}
	for (int i = 0; i < 5; i++)
		set_ptr(ring[i], 0, ring[(i + 1) % 5]);
	for (int i = 0; i < 6; i++) {
		dll[i] = alloc_filled(40, "dll node");
		set_u64(dll[i], 16, (uint64_t)i);
	}
	for (int i = 0; i < 6; i++) {
		set_ptr(dll[i], 0, i < 5 ? dll[i + 1] : NULL);
		set_ptr(dll[i], 8, i > 0 ? dll[i - 1] : NULL);
	}
	record_cycle("ring", ring, 5, 56);
	record_cycle("dll", dll, 6, 40);
}

static CORPUS_NOINLINE void sc_shared(void)
{
	void *d = alloc_filled(24, "shared D");
	void *c = alloc_filled(104, "shared C");
	set_ptr(c, 0, d);
	void *a = alloc_filled(40, "shared A");
	set_ptr(a, 0, c);
	set_ptr(a, 8, (const void *)(uintptr_t)shared_visit);
	void *b = alloc_filled(40, "shared B");
	set_ptr(b, 0, c);
	set_ptr(b, 8, (const void *)(uintptr_t)shared_visit);
	holds(record("shared", "A", -1, a, 40, C_DIRECT), 3, 40 + 104 + 24);
	holds(record("shared", "B", -1, b, 40, C_DIRECT), 3, 40 + 104 + 24);
	record("shared", "C", -1, c, 104, C_INDIRECT);
	record("shared", "D", -1, d, 24, C_INDIRECT);
}

static CORPUS_NOINLINE void sc_interior(void)
{
	/* I1: only g_interior_ptr = I1 + 40; it points to the start of C1 */
	void *i1 = alloc_filled(104, "interior I1");
	void *c1 = alloc_filled(40, "interior C1");
	set_ptr(i1, 0, c1);
	g_interior_ptr = (char *)i1 + 40;
	struct block *b = record("interior", "I1", -1, i1, 104, C_INTERIOR);
	b->via = "global g_interior_ptr = I1 + 40";
	/* reached through a start pointer, but only from I1: every chain from a root
	   holds an interior pointer (valgrind: "possibly lost" too) */
	b = record("interior", "C1", -1, c1, 40, C_INTERIOR);
	b->via = "start pointer from I1 (itself interior_only)";

	/* S1 (start pointer from a global) points 48 bytes into I2 */
	void *s1 = alloc_filled(56, "interior S1");
	void *i2 = alloc_filled(88, "interior I2");
	set_ptr(s1, 16, (char *)i2 + 48);
	g_start_ptr = s1;
	record("interior", "S1", -1, s1, 56, C_REACHABLE)->via = "global g_start_ptr";
	record("interior", "I2", -1, i2, 88, C_INTERIOR)->via = "S1 + 16 = I2 + 48";

	/* S2: both a start and an interior pointer */
	void *s2 = alloc_filled(72, "interior S2");
	g_both_start = s2;
	g_both_mid = (char *)s2 + 32;
	record("interior", "S2", -1, s2, 72, C_REACHABLE)->via =
		"globals g_both_start = S2, g_both_mid = S2 + 32";

	/* a leaked intrusive list: node k's link (offset 16) -> node k+1's link */
	void *node[4];
	for (int i = 0; i < 4; i++) {
		node[i] = alloc_filled(56, "intrusive");
		set_u64(node[i], 8, (uint64_t)i);
		set_u64(node[i], 16, 0);
	}
	for (int i = 0; i < 3; i++)
		set_ptr(node[i], 16, (char *)node[i + 1] + 16);
	for (int i = 0; i < 4; i++) {
		b = record("interior", "intrusive", i, node[i], 56, i ? C_INDIRECT : C_DIRECT);
		if (!i)
			holds(b, 4, 4 * 56);
	}
}

static CORPUS_NOINLINE void sc_globals(void)
{
	void *d = alloc_filled(56, "global .data");
	g_data_holder.p = d;
	record("globals", "data", -1, d, 56, C_REACHABLE)->via = "global g_data_holder.p (.data)";

	void *b1 = alloc_filled(40, "global .bss");
	void *b2 = alloc_filled(24, "bss chain");
	void *b3 = alloc_filled(24, "bss chain");
	set_ptr(b1, 0, b2);
	set_ptr(b2, 0, b3);
	set_u64(b3, 0, 0);
	g_bss_ptr = b1;
	record("globals", "bss", 0, b1, 40, C_REACHABLE)->via = "global g_bss_ptr (.bss)";
	record("globals", "bss", 1, b2, 24, C_REACHABLE)->via = "bss[0]";
	record("globals", "bss", 2, b3, 24, C_REACHABLE)->via = "bss[1]";

	void *l = alloc_filled(72, "libcorpus keep");
	corpus_lib_keep_set(l);
	record("globals", "lib", -1, l, 72, C_REACHABLE)->via =
		"libcorpus.so global corpus_lib_keep (.bss)";
}

static CORPUS_NOINLINE void sc_tls_main(void)
{
	void *p = alloc_filled(56, "tls main");
	t_keep = p;
	corpus_tls(t_keep);
	record("tls", "t_keep[main]", -1, p, 56, C_REACHABLE)->via =
		"__thread t_keep of the main thread";
}

/* Free chunks keep nothing alive: T1 (-> T1c) is referenced only by a freed
 * list node H1 (tcache), T2 only by H2 (fastbin: the tcache bin of its size is
 * filled first with 7 fillers), T3 only by H3 (unsorted bin). Runs last: nothing
 * is allocated after the frees (LeakSanitizer's allocator would reuse them). */
static CORPUS_NOINLINE void sc_freed(void)
{
	void *filler[7];
	for (int i = 0; i < 7; i++)
		filler[i] = alloc_filled(120, "tcache filler");
	void *t2 = alloc_filled(72, "freed T2");
	void *h2 = alloc_filled(120, "freed H2");
	set_ptr(h2, 16, t2);
	void *t3 = alloc_filled(2056, "freed T3");
	void *h3 = alloc_filled(1048, "freed H3");
	set_ptr(h3, 32, t3);
	void *t1 = alloc_filled(88, "freed T1");
	void *h1 = alloc_filled(56, "freed list node H1");
	set_u64(h1, 0, 0);
	set_u64(h1, 8, 1);
	set_ptr(h1, 16, t1);   /* the node's next: survives tcache's next/key */
	void *t1c = alloc_filled(40, "freed T1c");
	set_ptr(t1, 0, t1c);

	holds(record("freed", "T1", -1, t1, 88, C_DIRECT), 2, 88 + 40);
	record("freed", "T1c", -1, t1c, 40, C_INDIRECT);
	holds(record("freed", "T2", -1, t2, 72, C_DIRECT), 1, 72);
	holds(record("freed", "T3", -1, t3, 2056, C_DIRECT), 1, 2056);
	for (int i = 0; i < 7; i++)
		record("freed", "filler", i, filler[i], 120, C_FREE)->free_list = "tcache";
	record("freed", "H2", -1, h2, 120, C_FREE)->free_list = "fastbin";
	record("freed", "H3", -1, h3, 1048, C_FREE)->free_list = "unsorted";
	record("freed", "H1", -1, h1, 56, C_FREE)->free_list = "tcache";

	for (int i = 0; i < 7; i++)
		free(filler[i]);
	free(h2);
	free(h3);
	free(h1);
}

/* ---- worker threads ------------------------------------------------------- */

/* The thread's DTV: pthread_create calloc'ed it, the TCB (%fs:8) points 16
 * bytes into it (glibc's INSTALL_DTV stores dtv + 1). dtv[-1] holds its length:
 * the request was (length + 2) * 16. */
static CORPUS_NOINLINE void record_dtv(const char *group)
{
	uintptr_t h;
	__asm__ volatile("mov %%fs:8, %0\n\tsub $16, %0\n\tnot %0" : "=r"(h));
	size_t len = *(const size_t *)~h;
	size_t usable = malloc_usable_size((void *)~h);
	if (!usable)
		die("the thread's DTV is not a heap block");
	pthread_mutex_lock(&blocks_lock);
	if (nblocks >= MAX_BLOCKS)
		die("too many blocks");
	struct block *b = &blocks[nblocks++];
	pthread_mutex_unlock(&blocks_lock);
	b->hidden = h;
	b->size = usable;
	b->request = (len + 2) * 16;
	b->cls = C_INTERIOR;
	b->vg = V_POSSIBLY;
	b->lsan = L_REACHABLE;
	b->group = group;
	snprintf(b->name, sizeof b->name, "dtv");
	b->via = "the thread's TCB (%fs:8) = dtv + 16 (glibc)";
	b->tid = corpus_gettid();
}

static CORPUS_NOINLINE long park_in_read(void)
{
	char c;
	ssize_t n;
	corpus_thread_ready();
	corpus_clear_vector_regs();
	do
		n = read(g_pipe[0], &c, 1);
	while (n < 0 && errno == EINTR);
	return (long)n;
}

static CORPUS_NOINLINE void *stack_make_kept(void)
{
	void *s = alloc_filled(88, "stack kept");
	void *sc = alloc_filled(40, "stack kept child");
	set_ptr(s, 0, sc);
	record("stack", "kept", -1, s, 88, C_REACHABLE)->via = "local keep of worker_stack";
	record("stack", "kept child", -1, sc, 40, C_REACHABLE)->via = "kept";
	return s;
}

static CORPUS_NOINLINE void stack_make_leak(void)
{
	void *l = alloc_filled(72, "stack leak");
	void *lc = alloc_filled(24, "stack leak child");
	set_ptr(l, 0, lc);
	holds(record("stack", "leak", -1, l, 72, C_DIRECT), 2, 72 + 24);
	record("stack", "leak child", -1, lc, 24, C_INDIRECT);
}

static void *worker_stack(void *arg)
{
	static const char *const funcs[] = {"park_in_read", "worker_stack", NULL};
	static const long sys[] = {SYS_read, -1};
	void *volatile keep;
	(void)arg;
	corpus_add_thread(1, funcs, sys);
	keep = stack_make_kept();
	corpus_local("worker_stack", keep);
	stack_make_leak();
	record_dtv("stack");
	scrub_stack();
	long r = park_in_read();
	return (void *)(r + (long)(uintptr_t)keep);
}

static CORPUS_NOINLINE void tls_make(void)
{
	void *p = alloc_filled(104, "tls worker");
	t_keep = p;
	corpus_tls(t_keep);
	record("tls", "t_keep[worker]", -1, p, 104, C_REACHABLE)->via =
		"__thread t_keep of worker_tls";
	void *q = alloc_filled(40, "tls leak");
	t_scratch = q;
	holds(record("tls", "leak", -1, q, 40, C_DIRECT), 1, 40);
	t_scratch = NULL;
}

static void *worker_tls(void *arg)
{
	static const char *const funcs[] = {"park_in_read", "worker_tls", NULL};
	static const long sys[] = {SYS_read, -1};
	(void)arg;
	corpus_add_thread(2, funcs, sys);
	tls_make();
	record_dtv("tls");
	scrub_stack();
	long r = park_in_read();
	return (void *)r;
}

/* R (-> Rc); returns ~R */
static CORPUS_NOINLINE uintptr_t register_make(void)
{
	void *r = alloc_filled(72, "register R");
	void *rc = alloc_filled(40, "register R child");
	set_ptr(r, 0, rc);
	struct block *b = record("register", "R", -1, r, 72, C_REACHABLE);
	b->via = "register r12 of worker_register";
	b->reg = "r12";
	record("register", "R child", -1, rc, 40, C_REACHABLE)->via = "R";
	return hide(r);
}

/* Parks with ~HIDDEN (the block's address) in r12 and in no memory: the asm
 * computes it in the register, and the raw pause(2) syscall keeps it there (the
 * kernel saves user registers on its own stack; syscall clobbers only rcx, r11).
 * Never returns. */
static CORPUS_NOINLINE void park_in_register(uintptr_t hidden)
{
	__asm__ volatile("mov %0, %%r12\n\t"
			 "not %%r12\n\t"
			 "xor %%edi, %%edi\n\t"
			 "xor %%esi, %%esi\n\t"
			 "xor %%edx, %%edx\n\t"
			 "xor %%r8d, %%r8d\n\t"
			 "xor %%r9d, %%r9d\n\t"
			 "xor %%r10d, %%r10d\n"
			 "1:\n\t"
			 "mov %1, %%eax\n\t"
			 "syscall\n\t"
			 "jmp 1b"
			 :
			 : "r"(hidden), "i"(SYS_pause)
			 : "r12", "rax", "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11",
			   "memory");
	__builtin_unreachable();
}

static void *worker_register(void *arg)
{
	static const char *const funcs[] = {"park_in_register", "worker_register", NULL};
	static const long sys[] = {SYS_pause, -1};
	(void)arg;
	corpus_add_thread(3, funcs, sys);
	uintptr_t hidden = register_make();
	record_dtv("register");
	scrub_stack();
	corpus_thread_ready();
	corpus_clear_vector_regs();
	park_in_register(hidden);
	return NULL;
}

static int nworkers;

/* Start a worker and wait until it is about to block: one at a time, so that
 * arenas and the order of the blocks are the same on every run. */
static void start_worker(void *(*fn)(void *))
{
	pthread_t th;
	int e = pthread_create(&th, NULL, fn, NULL);
	if (e) {
		errno = e;
		corpus_die("pthread_create");
	}
	corpus_wait_ready(++nworkers);
}

static void sc_stack(void)
{
	start_worker(worker_stack);
}

static void sc_tls(void)
{
	sc_tls_main();
	start_worker(worker_tls);
}

static void sc_register(void)
{
	start_worker(worker_register);
}

/* ---- the manifest ----------------------------------------------------------- */

struct sum {
	unsigned long count, bytes;
};

static void put_sum(const char *key, struct sum s, int last)
{
	corpus_put("\"%s\": {\"count\": %lu, \"bytes\": %lu}%s", key, s.count, s.bytes,
		   last ? "" : ", ");
}

static void put_blocks(void)
{
	struct sum cp[5] = {{0}}, vg[5] = {{0}}, ls[4] = {{0}};
	corpus_put(",\n  \"blocks\": [");
	for (int i = 0; i < nblocks; i++) {
		struct block *b = &blocks[i];
		corpus_put("%s\n    {\"addr\": \"0x%lx\", \"size\": %zu, \"request\": %zu, "
			   "\"group\": ", i ? "," : "", (unsigned long)~b->hidden, b->size,
			   b->request);
		corpus_put_str(b->group);
		corpus_put(", \"name\": ");
		corpus_put_str(b->name);
		corpus_put(", \"expect\": \"%s\", \"valgrind\": \"%s\", \"lsan\": \"%s\", "
			   "\"tid\": %d", cls_name[b->cls], vcls_name[b->vg], lcls_name[b->lsan],
			   (int)b->tid);
		if (b->cls == C_DIRECT)
			corpus_put(", \"holds_count\": %d, \"holds_bytes\": %zu", b->holds_count,
				   b->holds_bytes);
		if (b->free_list)
			corpus_put(", \"free_list\": \"%s\"", b->free_list);
		if (b->reg)
			corpus_put(", \"register\": \"%s\"", b->reg);
		if (b->via) {
			corpus_put(", \"via\": ");
			corpus_put_str(b->via);
		}
		corpus_put("}");
		cp[b->cls].count++;
		cp[b->cls].bytes += b->size;
		vg[b->vg].count++;
		vg[b->vg].bytes += b->request;
		ls[b->lsan].count++;
		ls[b->lsan].bytes += b->request;
	}
	/* cprof-core counts interior_only chunks as reachable too */
	struct sum reach = {cp[C_REACHABLE].count + cp[C_INTERIOR].count,
			    cp[C_REACHABLE].bytes + cp[C_INTERIOR].bytes};
	corpus_put("\n  ],\n  \"expect_summary\": {");
	put_sum("direct", cp[C_DIRECT], 0);
	put_sum("indirect", cp[C_INDIRECT], 0);
	put_sum("interior_only", cp[C_INTERIOR], 0);
	put_sum("reachable", reach, 1);
	corpus_put("},\n  \"expect_valgrind\": {");
	put_sum("definitely", vg[V_DEFINITELY], 0);
	put_sum("indirectly", vg[V_INDIRECTLY], 0);
	put_sum("possibly", vg[V_POSSIBLY], 1);
	corpus_put("},\n  \"expect_lsan\": {");
	put_sum("direct", ls[L_DIRECT], 0);
	put_sum("indirect", ls[L_INDIRECT], 1);
	corpus_put("}");
}

/* The scenario, the mode and the blocks, after corpus.h's common fields. */
static const char *manifest_scenario;

static void put_leak_fields(void)
{
	corpus_put(",\n  \"scenario\": ");
	corpus_put_str(manifest_scenario);
	corpus_put(",\n  \"mode\": ");
	corpus_put_str(mode_name);
	put_blocks();
}

static void write_manifest(const char *path, const char *program, const char *scenario)
{
	manifest_scenario = scenario;
	corpus_write_manifest_with(path, program, put_leak_fields);
}

/* ---- main ------------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	/* the order of `all`: freed last (nothing is allocated after its frees) */
	{"globals", sc_globals}, {"list", sc_list},         {"tree", sc_tree},
	{"cycle", sc_cycle},     {"shared", sc_shared},     {"interior", sc_interior},
	{"stack", sc_stack},     {"tls", sc_tls},           {"register", sc_register},
	{"freed", sc_freed},
};

int main(int argc, char **argv)
{
	static const char *const funcs[] = {"park_main", "main", NULL};
	static const long sys[] = {SYS_pause, -1};
	const size_t nsc = sizeof scenarios / sizeof scenarios[0];

	if (argc < 3)
		die("usage: leaks MANIFEST_PATH SCENARIO (list tree cycle shared stack tls "
		    "register interior freed globals all)");
	const char *scenario = argv[2];
	size_t which = nsc;
	if (strcmp(scenario, "all") != 0) {
		for (which = 0; which < nsc; which++)
			if (!strcmp(scenario, scenarios[which].name))
				break;
		if (which == nsc)
			die("unknown scenario");
	}
	if (RUNNING_ON_VALGRIND)
		mode_name = "valgrind";
#ifdef CORPUS_LSAN
	{
		const char *e = getenv("CPROF_LSAN");
		lsan_mode = e && !strcmp(e, "1");
		if (lsan_mode)
			mode_name = "lsan";
	}
#endif
	if (pipe(g_pipe) < 0)
		corpus_die("pipe");

	corpus_find_modules("libcorpus.so");
	corpus_add_thread(0, funcs, sys);
	corpus_global(g_data_holder);
	corpus_global(g_bss_ptr);
	corpus_global(g_interior_ptr);
	corpus_global(g_start_ptr);
	corpus_global(g_both_start);
	corpus_global(g_both_mid);
	corpus_global(g_tree_ops);
	corpus_add_obj(CORPUS_GLOBAL, 0, NULL, "corpus_lib_keep", corpus_lib_keep_addr(),
		       sizeof(void *), "libcorpus.so");
	corpus_symbol(main);
	corpus_symbol(park_main);
	corpus_symbol(tree_visit);
	corpus_symbol(shared_visit);
	corpus_symbol(park_in_read);
	corpus_symbol(park_in_register);
	corpus_symbol(worker_stack);
	corpus_symbol(worker_tls);
	corpus_symbol(worker_register);

	for (size_t i = 0; i < nsc; i++)
		if (which == nsc || which == i)
			scenarios[i].fn();
	if (nworkers)
		corpus_wait_blocked();

	/* The state is final: no allocation from here on. */
	write_manifest(argv[1], corpus_basename(argv[0]), scenario);
	scrub_stack();
	if (RUNNING_ON_VALGRIND) {
		VALGRIND_DO_LEAK_CHECK;
		_exit(0);
	}
#ifdef CORPUS_LSAN
	if (lsan_mode) {
		__lsan_do_recoverable_leak_check();
		_exit(0);
	}
#endif
	return park_main();
}
