/* corpus.h - shared helpers of the corpus programs (header-only, static).
 *
 * A corpus program registers what it knows about its own state (threads, the
 * functions each is parked in, globals, locals, TLS variables, code addresses,
 * modules), waits until every worker thread is blocked in its system call, then
 * writes the manifest described in corpus/README.md with write(2) from a static
 * buffer (no stdio FILE, no malloc) and parks its main thread in pause().
 *
 * Nothing here allocates memory once corpus_write_manifest() runs.
 */
#ifndef CORPUS_H
#define CORPUS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* <valgrind/valgrind.h> when installed (the valgrind package); its client
 * requests are no-ops outside valgrind.  Without it, nothing runs under it. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#define HAVE_VALGRIND_H 1
#endif
#endif
#ifndef HAVE_VALGRIND_H
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_DO_LEAK_CHECK do { } while (0)
#endif

#define CORPUS_NOINLINE __attribute__((noinline, noclone))

#define CORPUS_MAX_THREADS 16
#define CORPUS_MAX_FUNCS 12
#define CORPUS_MAX_OBJS 48
#define CORPUS_MAX_SYSCALLS 4

struct corpus_thread {
	int used;
	pid_t tid;
	int is_main;
	int nfuncs;
	const char *funcs[CORPUS_MAX_FUNCS];
	int nsys;                          /* allowed blocking syscall numbers */
	long sys[CORPUS_MAX_SYSCALLS];
	long observed_sys;                 /* from /proc/self/task/TID/syscall */
};

enum corpus_obj_kind { CORPUS_GLOBAL, CORPUS_LOCAL, CORPUS_TLS, CORPUS_SYMBOL };

struct corpus_obj {
	enum corpus_obj_kind kind;
	int slot;               /* the registering thread's slot: output order */
	pid_t tid;              /* locals, tls */
	const char *function;   /* locals */
	const char *name;
	const volatile void *addr;
	size_t size;
	const char *module;     /* globals, symbols: NULL = the executable */
};

struct corpus_module {
	char path[PATH_MAX];
	uintptr_t load_bias;
};

static pthread_mutex_t corpus_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t corpus_cond = PTHREAD_COND_INITIALIZER;
static int corpus_nready;
static struct corpus_thread corpus_threads[CORPUS_MAX_THREADS]; /* by slot */
static int corpus_nthreads;     /* highest used slot + 1 */
static __thread int corpus_my_slot = -1;
static struct corpus_obj corpus_objs[CORPUS_MAX_OBJS];
static int corpus_nobjs;
static struct corpus_module corpus_modules[4];
static int corpus_nmodules;
static char corpus_exe[PATH_MAX];
static uintptr_t corpus_exe_bias;

static char corpus_buf[1 << 18];
static size_t corpus_len;

static void corpus_die(const char *msg)
{
	char b[512];
	int n = snprintf(b, sizeof b, "corpus: %s (errno %d: %s)\n", msg, errno,
			 strerror(errno));
	if (n > 0)
		(void)!write(2, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
	_exit(3);
}

static pid_t corpus_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Register the calling thread in SLOT (0 = the main thread; the slot fixes the
 * order of the manifest, whatever order the threads start in): the program
 * functions on its stack (innermost first, NULL-terminated) and the syscalls it
 * may block in (-1-terminated). */
static struct corpus_thread *corpus_add_thread(int slot, const char *const *funcs,
					       const long *sys)
{
	pthread_mutex_lock(&corpus_lock);
	if (slot < 0 || slot >= CORPUS_MAX_THREADS || corpus_threads[slot].used) {
		errno = 0;
		corpus_die("bad or reused thread slot");
	}
	struct corpus_thread *t = &corpus_threads[slot];
	if (slot + 1 > corpus_nthreads)
		corpus_nthreads = slot + 1;
	corpus_my_slot = slot;
	t->used = 1;
	t->tid = corpus_gettid();
	t->is_main = slot == 0;
	for (t->nfuncs = 0; funcs[t->nfuncs]; t->nfuncs++)
		if (t->nfuncs + 1 >= CORPUS_MAX_FUNCS)
			corpus_die("too many functions");
	for (int i = 0; i < t->nfuncs; i++)
		t->funcs[i] = funcs[i];
	for (t->nsys = 0; sys[t->nsys] >= 0; t->nsys++)
		t->sys[t->nsys] = sys[t->nsys];
	t->observed_sys = -1;
	pthread_mutex_unlock(&corpus_lock);
	return t;
}

static void corpus_add_obj(enum corpus_obj_kind kind, pid_t tid, const char *function,
			   const char *name, const volatile void *addr, size_t size,
			   const char *module)
{
	pthread_mutex_lock(&corpus_lock);
	if (corpus_nobjs >= CORPUS_MAX_OBJS)
		corpus_die("too many objects");
	struct corpus_obj *o = &corpus_objs[corpus_nobjs++];
	o->kind = kind;
	o->slot = corpus_my_slot;
	o->tid = tid;
	o->function = function;
	o->name = name;
	o->addr = addr;
	o->size = size;
	o->module = module;
	pthread_mutex_unlock(&corpus_lock);
}

#define corpus_global(var) \
	corpus_add_obj(CORPUS_GLOBAL, 0, NULL, #var, &(var), sizeof(var), NULL)
#define corpus_local(fn, var) \
	corpus_add_obj(CORPUS_LOCAL, corpus_gettid(), fn, #var, &(var), sizeof(var), NULL)
#define corpus_tls(var) \
	corpus_add_obj(CORPUS_TLS, corpus_gettid(), NULL, #var, &(var), sizeof(var), NULL)
#define corpus_symbol(fn) \
	corpus_add_obj(CORPUS_SYMBOL, 0, NULL, #fn, (const void *)(uintptr_t)&(fn), 0, NULL)

/* A worker calls this right before it enters its blocking call. */
static void corpus_thread_ready(void)
{
	pthread_mutex_lock(&corpus_lock);
	corpus_nready++;
	pthread_cond_broadcast(&corpus_cond);
	pthread_mutex_unlock(&corpus_lock);
}

static void corpus_wait_ready(int n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&corpus_lock);
	while (corpus_nready < n) {
		int e = pthread_cond_timedwait(&corpus_cond, &corpus_lock, &deadline);
		if (e == ETIMEDOUT) {
			errno = e;
			corpus_die("timed out waiting for the worker threads");
		}
	}
	pthread_mutex_unlock(&corpus_lock);
}

/* The syscall number TID is blocked in, -1 if it is running, -2 on error. */
static long corpus_task_syscall(pid_t tid)
{
	char path[64], b[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -2;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return -2;
	b[n] = 0;
	if (b[0] < '0' || b[0] > '9')
		return -1; /* "running" */
	return strtol(b, NULL, 10);
}

/* Wait (up to 10 s) until every registered worker is blocked in one of its
 * allowed system calls, then give it 100 ms more. */
static void corpus_wait_blocked(void)
{
	for (int tries = 0;; tries++) {
		int pending = 0;
		for (int i = 0; i < corpus_nthreads; i++) {
			struct corpus_thread *t = &corpus_threads[i];
			if (!t->used || t->is_main)
				continue;
			long s = corpus_task_syscall(t->tid);
			t->observed_sys = s;
			int ok = 0;
			for (int k = 0; k < t->nsys; k++)
				ok |= s == t->sys[k];
			pending += !ok;
		}
		if (!pending)
			break;
		if (tries > 1000) {
			errno = 0;
			corpus_die("a worker thread never blocked in its expected syscall");
		}
		usleep(10000);
	}
	usleep(100000);
}

static void corpus_module_cb_name(const char *name, char *out)
{
	if (!realpath(name, out)) /* realpath with a buffer does not allocate */
		snprintf(out, PATH_MAX, "%s", name);
}

static int corpus_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	const char *want = data;
	if (!info->dlpi_name || !info->dlpi_name[0]) {
		if (!corpus_exe_bias)
			corpus_exe_bias = info->dlpi_addr;
		return 0;
	}
	if (want && strstr(info->dlpi_name, want) && corpus_nmodules < 4) {
		struct corpus_module *m = &corpus_modules[corpus_nmodules++];
		corpus_module_cb_name(info->dlpi_name, m->path);
		m->load_bias = info->dlpi_addr;
	}
	return 0;
}

/* Find the executable's path and load bias (and those of the module whose name
 * contains LIB, if not NULL). Call before the state is final. */
static void corpus_find_modules(const char *lib)
{
	ssize_t n = readlink("/proc/self/exe", corpus_exe, sizeof corpus_exe - 1);
	if (n <= 0)
		corpus_die("readlink /proc/self/exe");
	corpus_exe[n] = 0;
	corpus_exe_bias = 0;
	dl_iterate_phdr(corpus_phdr_cb, (void *)lib);
	if (lib && corpus_nmodules == 0) {
		errno = 0;
		corpus_die("library not found by dl_iterate_phdr");
	}
}

/* Fills a block with LABEL repeated (printable text: no word of it looks like
 * a pointer), before the links a program sets in it. */
static inline void corpus_fill_text(void *block, size_t n, const char *label)
{
	unsigned char *p = block;
	size_t len = strlen(label);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i % (len + 1) == len ? ' ' : label[i % (len + 1)]);
}

static void corpus_put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void corpus_put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(corpus_buf + corpus_len, sizeof corpus_buf - corpus_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof corpus_buf - corpus_len) {
		errno = 0;
		corpus_die("manifest buffer overflow");
	}
	corpus_len += (size_t)n;
}

/* JSON string; our strings are plain ASCII paths and names. */
static void corpus_put_str(const char *s)
{
	corpus_put("\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			corpus_put("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			corpus_put("\\u%04x", *s);
		else
			corpus_put("%c", *s);
	}
	corpus_put("\"");
}

static void corpus_put_hex(const volatile void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const volatile unsigned char *b = p;
	if (corpus_len + 2 * n + 3 >= sizeof corpus_buf) {
		errno = 0;
		corpus_die("manifest buffer overflow");
	}
	corpus_buf[corpus_len++] = '"';
	for (size_t i = 0; i < n; i++) {
		corpus_buf[corpus_len++] = digits[b[i] >> 4];
		corpus_buf[corpus_len++] = digits[b[i] & 15];
	}
	corpus_buf[corpus_len++] = '"';
}

static const char *corpus_module_path(const char *module)
{
	if (!module)
		return corpus_exe;
	for (int i = 0; i < corpus_nmodules; i++)
		if (strstr(corpus_modules[i].path, module))
			return corpus_modules[i].path;
	return module;
}

static void corpus_put_objs(enum corpus_obj_kind kind)
{
	int first = 1;
	/* by thread slot, then in registration order: the same on every run */
	for (int slot = -1; slot < CORPUS_MAX_THREADS; slot++)
	for (int i = 0; i < corpus_nobjs; i++) {
		struct corpus_obj *o = &corpus_objs[i];
		if (o->kind != kind || o->slot != slot)
			continue;
		corpus_put("%s\n    {", first ? "" : ",");
		first = 0;
		if (kind == CORPUS_LOCAL || kind == CORPUS_TLS)
			corpus_put("\"tid\": %d, ", (int)o->tid);
		if (kind == CORPUS_LOCAL) {
			corpus_put("\"function\": ");
			corpus_put_str(o->function);
			corpus_put(", ");
		}
		corpus_put("\"name\": ");
		corpus_put_str(o->name);
		corpus_put(", \"addr\": \"0x%lx\"", (unsigned long)(uintptr_t)o->addr);
		if (kind == CORPUS_GLOBAL || kind == CORPUS_SYMBOL) {
			corpus_put(", \"module\": ");
			corpus_put_str(corpus_module_path(o->module));
		}
		if (kind != CORPUS_SYMBOL) {
			corpus_put(", \"size\": %zu, \"bytes\": ", o->size);
			corpus_put_hex(o->addr, o->size);
		}
		corpus_put("}");
	}
	corpus_put("%s]", first ? "" : "\n  ");
}

/* Write the manifest to PATH.tmp and rename it to PATH.  extra, when not
 * NULL, appends fields of its own (each starting with ",\n  ") before the
 * closing brace. */
static void corpus_write_manifest_with(const char *path, const char *program,
				       void (*extra)(void))
{
	char tmp[PATH_MAX];
	corpus_len = 0;
	pthread_mutex_lock(&corpus_lock);
	corpus_put("{\n  \"program\": ");
	corpus_put_str(program);
	corpus_put(",\n  \"pid\": %d,\n  \"exe\": ", (int)getpid());
	corpus_put_str(corpus_exe);
	corpus_put(",\n  \"exe_load_bias\": \"0x%lx\"", (unsigned long)corpus_exe_bias);
	corpus_put(",\n  \"threads\": [");
	for (int i = 0, n = 0; i < corpus_nthreads; i++) {
		struct corpus_thread *t = &corpus_threads[i];
		if (!t->used)
			continue;
		corpus_put("%s\n    {\"tid\": %d, ", n++ ? "," : "", (int)t->tid);
		if (t->is_main)
			corpus_put("\"main\": true, ");
		corpus_put("\"functions\": [");
		for (int k = 0; k < t->nfuncs; k++) {
			corpus_put("%s", k ? ", " : "");
			corpus_put_str(t->funcs[k]);
		}
		corpus_put("], \"syscall\": %ld}", t->is_main ? (long)SYS_pause : t->observed_sys);
	}
	corpus_put("\n  ],\n  \"globals\": [");
	corpus_put_objs(CORPUS_GLOBAL);
	corpus_put(",\n  \"locals\": [");
	corpus_put_objs(CORPUS_LOCAL);
	corpus_put(",\n  \"tls\": [");
	corpus_put_objs(CORPUS_TLS);
	corpus_put(",\n  \"symbols\": [");
	corpus_put_objs(CORPUS_SYMBOL);
	corpus_put(",\n  \"modules\": [");
	for (int i = 0; i < corpus_nmodules; i++) {
		corpus_put("%s\n    {\"path\": ", i ? "," : "");
		corpus_put_str(corpus_modules[i].path);
		corpus_put(", \"load_bias\": \"0x%lx\"}", (unsigned long)corpus_modules[i].load_bias);
	}
	corpus_put("%s]", corpus_nmodules ? "\n  " : "");
	if (extra)
		extra();
	corpus_put("\n}\n");
	pthread_mutex_unlock(&corpus_lock);

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		corpus_die("manifest path too long");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		corpus_die("cannot create the manifest");
	for (size_t off = 0; off < corpus_len;) {
		ssize_t n = write(fd, corpus_buf + off, corpus_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			corpus_die("cannot write the manifest");
		off += (size_t)n;
	}
	if (close(fd) < 0)
		corpus_die("cannot close the manifest");
	if (rename(tmp, path) < 0)
		corpus_die("cannot rename the manifest");
}

static void corpus_write_manifest(const char *path, const char *program)
{
	corpus_write_manifest_with(path, program, NULL);
}

static const char *corpus_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/*
 * Zeroes every vector register the CPU has (xmm/ymm0-15 and, with AVX-512,
 * zmm0-31), right before a thread parks.  glibc's string functions leave
 * copies of pointers in vector registers (which ones depends on the CPU: the
 * ifunc picks SSE2, AVX2 or EVEX code), and a core keeps them: a leak detector
 * that scans registers (as it must) then sees a leaked block as held.  The
 * expected answers of the corpus must not depend on the CPU, so nothing a
 * parked thread keeps is left there.  The caller must not call anything that
 * uses vector registers between this and its blocking system call.
 */
static inline __attribute__((always_inline)) void corpus_clear_vector_regs(void)
{
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroall" ::: "memory");   /* ymm0-15 (and zmm0-15) */
	else
		__asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\t"
				 "pxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
				 "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
				 "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
				 "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
				 "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
				 "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
				 "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15" ::: "memory");
	/* vzeroall leaves zmm16-31 alone; EVEX string functions use them. */
	if (__builtin_cpu_supports("avx512f"))
		__asm__ volatile(
			".irp r,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t"
			"vpxord %%zmm\\r, %%zmm\\r, %%zmm\\r\n\t"
			".endr" ::: "memory");
}

/* Overwrites dead stack below the caller, so that no stale pointer survives. */
static CORPUS_NOINLINE __attribute__((unused)) void corpus_clear_stack(void)
{
	volatile char buf[65536];
	memset((char *)buf, 0, sizeof(buf));
}

/*
 * Threads that must hold nothing but what their program means park in raw
 * system calls with the general registers and the dead stack cleared: a
 * leftover copy of a pointer (in a register, or pushed below the stack pointer
 * by a libc call) would be a second root for it.  rbx and r12-r15 are
 * callee-saved, but nothing returns from a parked thread: nobody misses them.
 */
#define CORPUS_SCRUB_REGISTERS() \
	asm volatile("xor %%ebx, %%ebx\n\txor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\t" \
		     "xor %%r10d, %%r10d\n\txor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\t" \
		     "xor %%r14d, %%r14d\n\txor %%r15d, %%r15d" ::: "memory")

/* The end of a parking function (after CORPUS_SCRUB_REGISTERS, corpus_clear_stack
 * and corpus_clear_vector_regs): read(2) of one byte from fd, a pipe nobody
 * writes, by a raw system call; never returns. */
static inline __attribute__((always_inline)) long corpus_park_read(int fd)
{
	static char c;
	long ret;
	asm volatile("xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\tsyscall"
		     : "=a"(ret)
		     : "a"((long)SYS_read), "D"((long)fd), "S"(&c), "d"(1L)
		     : "rcx", "r11", "r8", "r9", "r10", "memory");
	for (;;)
		pause();
	return ret;
}

/* The same in pause(2), with the argument registers cleared too. */
static inline __attribute__((always_inline)) long corpus_park_pause(void)
{
	long ret;
	asm volatile("xor %%edx, %%edx\n\txor %%esi, %%esi\n\txor %%edi, %%edi\n\t"
		     "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\tsyscall"
		     : "=a"(ret) : "a"((long)SYS_pause)
		     : "rcx", "r11", "rdx", "rsi", "rdi", "r8", "r9", "r10", "memory");
	for (;;)
		pause();
	return ret;
}

/* The main thread's resting place. */
static CORPUS_NOINLINE int park_main(void)
{
	volatile int n = 0;
	corpus_clear_vector_regs();
	for (;;) {
		pause();
		n++;
	}
	return n + 1;
}

#endif
