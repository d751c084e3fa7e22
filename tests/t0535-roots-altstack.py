#!/usr/bin/env python3
"""t0535: a thread in a signal handler on an alternate signal stack keeps its own stack.

A crash handler usually runs on a stack of its own (sigaltstack): Varnish's panic
handler, a program's SIGSEGV reporter.  The thread's registers are then the
handler's, and its own stack - the frames the signal interrupted - is elsewhere
(a new user's trial on Varnish: its [stack] was "anonymous" memory, scanned as an
unknown allocator's, and `main`'s frames held nothing).  A program built here keeps
its only pointer to a block in a local of `work`, then raises a signal whose
handler, on a sigaltstack that is mmap'd or malloc'd, parks (gcore) or aborts (the
kernel's core).  In each core:
  - the block is reached from `work`'s frame on the thread's own stack (the program
    prints the block's address; the unwinder names the frame), as a stack slot;
  - no reachable object is "kept alive only by anonymous memory" (leaks --json
    summary.unowned: 0; before, the block was, or with a malloc'd signal stack the
    thread's own stack was not scanned at all);
  - `info` calls the mapping of that slot a thread stack.
An io_uring worker thread (a program here starts one; kernel core): rip and rsp 0,
said so in one warning, and none of it is a root.
"""
import os
import signal
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403
import cprof_test as H  # noqa: E402

SOURCE = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
struct node { struct node *next; char pad[40]; };
static void handler(int sig) {
	(void)sig;
	write(1, "ready\n", 6);
	if (getenv("ALT_ABORT"))
		abort();
	for (;;)
		pause();
}
static void __attribute__((noinline)) work(void) {
	struct node *volatile keep = malloc(sizeof(struct node));
	memset(keep, 0, sizeof(struct node));
	printf("held %p\n", (void *)keep);
	fflush(stdout);
	raise(SIGUSR1);
	keep->pad[0] = 1;
}
int main(int argc, char **argv) {
	size_t size = 1 << 16;
	stack_t ss = { .ss_size = size, .ss_flags = 0 };
	ss.ss_sp = argc > 1 && !strcmp(argv[1], "malloc") ? malloc(size) :
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_ONSTACK;
	if (ss.ss_sp == MAP_FAILED || !ss.ss_sp || sigaltstack(&ss, NULL) ||
	    sigaction(SIGUSR1, &sa, NULL))
		return 1;
	work();
	return 0;
}
"""

d = os.path.join(WORK, "t0535")
exe = build_c_program(d, "altstack", SOURCE)


def take(kind, dumper):
    """Run the program with a KIND signal stack until its handler runs; its core
    by DUMPER, and the held block's address."""
    for f in os.listdir(d):
        if f.startswith("core"):
            os.remove(os.path.join(d, f))
    env = dict(os.environ)
    if dumper == "kernel":
        env["ALT_ABORT"] = "1"
    p = subprocess.Popen([exe, kind], cwd=d, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env, preexec_fn=H._child_setup(dumper == "kernel"))
    try:
        held = p.stdout.readline().split()
        ready = p.stdout.readline().split()
        check(len(held) == 2 and ready == [b"ready"], "%s: the handler runs (%s %s)"
              % (kind, held, ready))
        if dumper == "gcore":
            core = dump_process(p, d, "altstack")
        else:
            p.wait(120)
            cores = [f for f in os.listdir(d) if f.startswith("core")]
            check(cores, "%s: the kernel dumped a core" % kind)
            core = os.path.join(d, cores[0]) if cores else None
    finally:
        p.kill()
        p.wait()
    return core, int(held[1], 16) if len(held) == 2 else 0


for dumper in all_dumpers():
    for kind in ("mmap", "malloc"):
        with case("%s signal stack, %s core" % (kind, dumper)):
            core, held = take(kind, dumper)
            if not core or not held:
                continue
            db = os.path.join(d, "t0535-%s-%s.db" % (kind, dumper))
            cprof("analyze", core, exe, "--db", db)
            con = sqlite3.connect(db)
            slots = con.execute(
                "SELECT coalesce(rr.slot_name, r.name), r.kind, rr.slot FROM root_ref rr"
                " JOIN root r ON r.id = rr.root_id JOIN object o ON o.id = rr.dst"
                " WHERE o.addr = ?", (held,)).fetchall()
            con.close()
            work = [(n, s) for n, k, s in slots if k == "stack" and " work (" in n]
            check(work, "%s/%s: the block is held by work's frame on the thread's own stack"
                  " (its slots: %s)" % (kind, dumper, slots))
            unowned = cprof("leaks", "--db", db, "--json", json=True)["summary"]["unowned"]
            check_eq(unowned["count"], 0,
                     "%s/%s: nothing kept alive only by anonymous memory" % (kind, dumper))
            info = cprof("info", core, exe, "--json", json=True)
            roles = [m["role"] for m in info["mappings"] for _, s in work[:1]
                     if parse_addr(m["start"]) <= s < parse_addr(m["end"])]
            check_eq(roles, ["thread stack"],
                     "%s/%s: info calls the interrupted stack's mapping a thread stack"
                     % (kind, dumper))
URING = r"""
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0) { perror("io_uring_setup"); return 2; }
	size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || sqes == MAP_FAILED) { perror("mmap"); return 2; }
	int pipefd[2];
	if (pipe(pipefd)) return 2;
	static char buf[16];
	struct io_uring_sqe *e = &sqes[0];
	memset(e, 0, sizeof *e);
	e->opcode = IORING_OP_READ;
	e->fd = pipefd[0];
	e->addr = (unsigned long)buf;
	e->len = sizeof buf;
	e->flags = IOSQE_ASYNC;
	unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *array = (unsigned *)(sq + p.sq_off.array);
	array[0] = 0;
	__atomic_store_n(tail, 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, fd, 1, 0, 0, NULL, 0) != 1) { perror("enter"); return 2; }
	void *kept = malloc(48);
	printf("%p\n", kept);
	fflush(stdout);
	for (;;) pause();
}
"""

if "kernel" in all_dumpers():
    with case("an io_uring worker thread"):
        # io_uring's iou-wrk threads are the process's, but never ran user code:
        # the kernel's core gives them rip and rsp 0 (a MariaDB trial: "stack
        # pointer 0x0 is in no mapping", and stale registers used as roots).
        ud = os.path.join(WORK, "t0535-uring")
        uexe = build_c_program(ud, "uring", URING)
        tasks = {}

        def wait_worker(p):
            # the worker gets its name a moment after it starts
            import time
            for _ in range(100):
                for tid in os.listdir("/proc/%d/task" % p.pid):
                    with open("/proc/%d/task/%s/comm" % (p.pid, tid)) as f:
                        tasks[int(tid)] = f.read().strip()
                if any(n.startswith("iou-wrk") for n in tasks.values()):
                    return
                time.sleep(0.05)

        line, core = kernel_dump(uexe, ud, wait_worker)
        workers = [t for t, n in tasks.items() if n.startswith("iou-wrk")]
        check(line and workers and core, "the program started an io_uring worker (%s) and"
              " the kernel dumped it (%s)" % (tasks, core))
        if workers and core:
            db = os.path.join(ud, "uring.db")
            _, _, err = cprof("analyze", core, uexe, "--db", db)
            check(("thread %d has no user-space state" % workers[0]) in err and
                  "stack pointer 0x0" not in err,
                  "the worker is said to have no user-space state: %s" % err.strip()[:400])
            con = sqlite3.connect(db)
            roots = con.execute("SELECT count(*) FROM root r JOIN thread t ON t.id = r.thread_id"
                                " WHERE t.tid = ?", (workers[0],)).fetchone()[0]
            con.close()
            check_eq(roots, 0, "no root of the worker thread")

finish()
