#!/usr/bin/env python3
"""t0715: the reports on a Go process say what holds memory, not what is about to go
(corpus/go/gogoroutines; found by a new user's trial on Caddy).

Go's garbage - used objects no root reaches, which the next collection frees - is
counted by `leaks` and nowhere else:
  - `histogram` and `roots` leave it out of their groups (it was counted under
    `(shared)`) and a last line says how much was left out, with the database's
    count; their groups add up to the used objects less the garbage, and
    `(shared)` holds exactly the reachable objects no single root retains; with
    `--type`, the line counts only the garbage of matching types (none for a type
    nothing has);
  - `top`'s percentages are of the used objects less the garbage (`heap_bytes`),
    the garbage beside it (`garbage_bytes`): one holder's share no longer depends
    on how long ago the last collection ran;
  - `show` calls a garbage object garbage, with no dominators and no retained size,
    and `path` says it is garbage, not "leaked: see leaks".
Goroutine groups are named by what the go statement ran, never by the compiler's
wrapper (`runtime.gcBgMarkStartWorkers.gowrap1` is now `runtime.gcBgMarkWorker`).

The red zone below a thread's SP is scanned only when the thread's registers are
roots: a Go thread that runs no goroutine (an idle M parked in the scheduler on
its system stack) keeps only stale words there - but a cgo program's own C thread,
which is no M, keeps its registers and its red zone as roots, and on Caddy a 64 KiB garbage
buffer was "retained by thread N frame 0 runtime.futex". A cgo program built here
(its Ms run on their pthread stacks, which only cgo gives) parks its idle Ms after
many goroutines allocated; in its gcore core, the stack root of every thread that
runs no goroutine starts at its SP, not 128 bytes below, and no slot of a thread's
own stack roots a Go object: Go's collector scans goroutine stacks only (on Caddy
the scheduler frames of idle Ms, "thread N frame 4 runtime.gcstopm", were named
as what holds runtime.p and the 6.46 MiB below it).
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gogoroutines")
LIMIT = "1000000"

dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("gogoroutines", dumper=dumper)
    db = os.path.join(c.dir, "t0715-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    g_count, g_bytes = con.execute("SELECT count(*), coalesce(sum(size), 0) FROM object"
                                   " WHERE leak = 'garbage'").fetchone()
    live_count, live_bytes = con.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM object WHERE reachable IS NOT NULL"
        " AND coalesce(leak, '') != 'garbage'").fetchone()
    # The runtime allocates a few objects after the program's last collection
    # (the same 6 in every core of it so far): the checks below are about them.
    check(g_count > 0, "%s: the core has garbage (%d objects)" % (dumper, g_count))

    with case("%s: histogram" % dumper):
        hist = cprof("histogram", "--db", db, "--json", "--limit", LIMIT, json=True)
        check_eq((sum(h["count"] for h in hist), sum(h["self_bytes"] for h in hist)),
                 (live_count, live_bytes), "%s: histogram: the used objects less the garbage" % dumper)
        _, out, _ = cprof("histogram", "--db", db)
        check("(%d garbage objects, " % g_count in out,
              "%s: histogram says %d garbage objects were left out (%s)" % (dumper, g_count, out[-300:]))

    with case("%s: roots" % dumper):
        roots = cprof("roots", "--db", db, "--json", "--limit", LIMIT, json=True)
        check_eq((sum(r["count"] for r in roots), sum(r["self_bytes"] for r in roots)),
                 (live_count, live_bytes), "%s: roots: the used objects less the garbage" % dumper)
        shared = [r for r in roots if r["kind"] == "shared"]
        want = con.execute("SELECT count(*) FROM object WHERE reachable = 1"
                           " AND retaining_root IS NULL").fetchone()[0]
        check_eq(sum(r["count"] for r in shared), want,
                 "%s: (shared) is the reachable objects no single root retains" % dumper)
        _, out, _ = cprof("roots", "--db", db)
        check("(%d garbage objects, " % g_count in out,
              "%s: roots says %d garbage objects were left out" % (dumper, g_count))

    with case("%s: garbage line under --type" % dumper):
        # the line under the groups counts the garbage they would have held
        names = [n for n, in con.execute(
            "SELECT coalesce(t.name, '(unknown type)') FROM object o"
            " LEFT JOIN type t ON t.id = o.type_id WHERE o.leak = 'garbage'")]
        for pat in ("no.such.type", names[0] if names else "runtime."):
            want = [n for n in names if pat in n and "*" not in n]
            for cmd in ("histogram", "roots"):
                _, out, _ = cprof(cmd, "--db", db, "--type", pat)
                got = re.search(r"\((\d+) garbage objects that match, ", out)
                check((int(got.group(1)) if got else 0) == len(want) and
                      (got is not None) == bool(want) and "garbage objects, " not in out,
                      "%s: %s --type %s: %d garbage objects that match said (%s)"
                      % (dumper, cmd, pat, len(want), out[-300:]))

    with case("%s: top" % dumper):
        top = cprof("top", "--db", db, "--json", json=True)
        check_eq((top.get("heap_bytes"), top.get("live_bytes"), top.get("garbage_bytes")),
                 (live_bytes + g_bytes, live_bytes, g_bytes),
                 "%s: top: heap_bytes as before (garbage in), live_bytes (the percentages' base)"
                 " the used objects less the garbage" % dumper)
        ent = top.get("top_entries", {})
        check_eq((ent.get("heap_bytes"), ent.get("live_bytes"), ent.get("garbage_bytes")),
                 (live_bytes + g_bytes, live_bytes, g_bytes), "%s: top_entries: the same" % dumper)

    with case("%s: show and path on garbage" % dumper):
        addr = con.execute("SELECT addr FROM object WHERE leak = 'garbage' ORDER BY id"
                           " LIMIT 1").fetchone()[0]
        _, out, _ = cprof("show", "--db", db, "0x%x" % addr)
        check("garbage (no root reaches it" in out and "(none: no root reaches it)" in out and
              "super" not in out, "%s: show calls 0x%x garbage, with no dominators (%s)"
              % (dumper, addr, out[:400]))
        rc, _, err = cprof("path", "--db", db, "0x%x" % addr, expect_rc=None)
        check(rc == 1 and "it is garbage" in err and "leaked" not in err,
              "%s: path says 0x%x is garbage (%d, %s)" % (dumper, addr, rc, err.strip()))

    with case("%s: goroutine groups are not named by a go statement's wrapper" % dumper):
        gs = cprof("goroutines", "--db", db, "--json", "--limit", LIMIT, json=True)
        wrapped = [g["function"] for g in gs["groups"]
                   if re.search(r"\.gowrap\d+$", g["function"] or "")]
        check(not wrapped, "%s: no group is named by a wrapper (%s)" % (dumper, wrapped))
        starts = [g for g in gs["groups"] if re.search(r"\.gowrap\d+$", g["start_function"] or "")]
        check(starts, "%s: some group started in a wrapper (the check above bites)" % dumper)
    con.close()

REDZONE = r"""package main

/*
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

static int c_add(int a, int b) { return a + b; }

static volatile long c_tid;
static void *c_thread(void *arg) {
	(void)arg;
	c_tid = syscall(SYS_gettid);
	for (;;)
		pause();
	return 0;
}
static long start_c_thread(void) {
	pthread_t t;
	if (pthread_create(&t, 0, c_thread, 0))
		return -1;
	while (!c_tid)
		usleep(1000);
	return c_tid;
}

// A goroutine's cgo call that keeps a block in its C frame only, and blocks.
static volatile int held;
static void hold_in_c(void) {
	char *volatile p = malloc(5555);
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "held %p\n", (void *)p);
	if (write(1, buf, (size_t)n) != n)
		abort();
	held = 1;
	for (;;)
		pause();
}
static int hold_started(void) { return held; }
*/
import "C"

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var sink []byte

func main() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < 1000; k++ {
				b := make([]byte, 65536)
				b[0] = byte(C.c_add(C.int(i), C.int(k)))
				sink = b
			}
		}(i)
	}
	wg.Wait()
	sink = nil
	tid := C.start_c_thread()
	go C.hold_in_c()
	for C.hold_started() == 0 {
		time.Sleep(time.Millisecond)
	}
	os.Stdout.WriteString("ready " + strconv.FormatInt(int64(tid), 10) + "\n")
	select {}
}
"""

with case("no red zone under a thread that runs no goroutine"):
    require_tool("gcc")
    d = os.path.join(WORK, "t0715")
    os.makedirs(d, exist_ok=True)
    for name, text in (("go.mod", "module redzone\n\ngo 1.22\n"), ("main.go", REDZONE)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    exe = os.path.join(d, "redzone")
    env = dict(os.environ, CGO_ENABLED="1", GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")
    for k in ("GOENV", "GOOS", "GOARCH", "GOEXPERIMENT", "GOWORK"):
        env.pop(k, None)
    r = subprocess.run([go_tool(), "build", "-o", exe, "."], cwd=d, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    check(r.returncode == 0, "the cgo program builds (%s)" % r.stdout.decode()[-1000:])
    import cprof_test as H
    for dumper in all_dumpers():
        env_run = dict(os.environ, GOTRACEBACK="crash")
        p = subprocess.Popen([exe], cwd=d, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=env_run, preexec_fn=H._child_setup(dumper == "kernel"))
        try:
            held = p.stdout.readline().split()
            ready = p.stdout.readline().split()
            check(len(held) == 2 and held[0] == b"held", "the cgo call holds its block (%s)" % held)
            check(len(ready) == 2 and ready[0] == b"ready" and int(ready[1]) > 0,
                  "the program is ready, its C thread started (%s)" % ready)
            c_tid = int(ready[1]) if len(ready) == 2 else -1
            held_addr = int(held[1], 16) if len(held) == 2 else 0
            for f in os.listdir(d):
                if f.startswith("core"):
                    os.remove(os.path.join(d, f))
            if dumper == "gcore":
                core = dump_process(p, d, "redzone")
            else:
                os.kill(p.pid, signal.SIGABRT)
                p.wait(120)
                cores = [f for f in os.listdir(d) if f.startswith("core")]
                check(cores, "the kernel dumped a core of the program")
                core = os.path.join(d, cores[0]) if cores else None
        finally:
            p.kill()
            p.wait()
        if not core:
            continue
        db = os.path.join(d, "t0715-%s.db" % dumper)
        cprof("analyze", core, exe, "--db", db)
        con = sqlite3.connect(db)
        # The block a goroutine's cgo call holds in its C frame is reachable
        # from that thread's stack - also in the kernel's core, where every M
        # is in the runtime's signal handler, on its signal stack, and the
        # thread's own stack is where the signal frame says it was left.
        got = con.execute("SELECT o.reachable, (SELECT f.slot_name FROM root_ref f WHERE"
                          " f.dst = o.id LIMIT 1) FROM object o WHERE o.addr <= ? AND"
                          " ? < o.addr + o.size", (held_addr, held_addr)).fetchone()
        check(got and got[0] == 1 and "hold_in_c" in (got[1] or ""),
              "%s: the block the cgo call holds (0x%x) is reachable from its C frame (%s)"
              % (dumper, held_addr, got))
        if dumper == "kernel":
            con.close()
            os.remove(core)
            continue
        rows = con.execute(
            "SELECT t.tid, t.rsp, r.start FROM root r JOIN thread t ON t.id = r.thread_id"
            " WHERE r.kind = 'stack' AND t.tid != ? AND NOT EXISTS (SELECT 1 FROM goroutine g"
            " WHERE g.thread_id = t.id)", (c_tid,)).fetchall()
        # The C thread is no M: its registers are roots and its red zone is
        # scanned, as in any C program (a pointer a leaf function keeps there only).
        c_rows = con.execute(
            "SELECT t.rsp, (SELECT r.start FROM root r WHERE r.thread_id = t.id AND r.kind = 'stack'),"
            " (SELECT count(*) FROM root r WHERE r.thread_id = t.id AND r.kind = 'registers')"
            " FROM thread t WHERE t.tid = ?", (c_tid,)).fetchall()
        go_from_stacks = con.execute(
            "SELECT count(*) FROM root_ref f JOIN root r ON r.id = f.root_id JOIN object o"
            " ON o.id = f.dst JOIN heap h ON h.id = o.heap_id WHERE r.kind = 'stack'"
            " AND h.allocator = 'go'").fetchone()[0]
        con.close()
        os.remove(core)
        check(rows, "some thread runs no goroutine and has a stack root (the check below bites)")
        below = [(tid, hex(rsp), hex(start)) for tid, rsp, start in rows if start < rsp]
        check(not below, "their stacks are scanned from SP up (below it: %s)" % below)
        # Go's collector scans goroutine stacks, never a thread's own (system or C)
        # stack: no Go object is rooted there.
        check_eq(go_from_stacks, 0, "no thread stack slot roots a Go object")
        check(len(c_rows) == 1 and c_rows[0][1] == (c_rows[0][0] - 128) & ~7 and c_rows[0][2] == 1,
              "the C thread %d (no M): its registers are a root, its stack scanned from SP - 128"
              " (rsp, stack start, register roots: %s)" % (c_tid, c_rows))

finish()
