#!/usr/bin/env python3
"""t0710: goroutines, their stacks as roots, and `cprof-core goroutines`
(corpus/go/gogoroutines).

gogoroutines starts N workers (default 1000); each allocates a 64 KiB buffer and
blocks for ever on a channel receive, the buffer live across the receive, so only
its worker's stack keeps it. Its manifest lists every buffer. From its core:
  - `goroutines --json` has exactly one group of N goroutines waiting on
    "chan receive" with main.worker on their stack, and that group alone retains
    exactly the N buffers (retained bytes = the sum of the buffers' sizes, every
    buffer's retaining root a node under the group);
  - the dead goroutines allgs keeps (at least the 100 the program started together
    and saw end) are counted in the summary, and none is a warning;
  - the goroutine count is the runtime's own (/sched/goroutines metric, read
    after the last GC);
  - on a kernel core, where the runtime printed every goroutine as it crashed
    (GOTRACEBACK=crash): the same goroutine ids, the same status or wait reason,
    the same calls on every stack, frame by frame - the calls inlined into a frame
    included, from the pclntab's inline tree - with the same file:line, the same
    creating function, and the goroutine the signal interrupted marked;
  - the goroutines parked in code inlined into their go statement's wrapper
    (blockInlined; chainOuter -> chainMiddle -> chainInner) are groups named by
    the innermost user function of their stack as runtime.Stack printed it in the
    program, not by the wrapper they started in;
  - `goroutines` prints the group as one line with its count;
  - `info` on the gcore core lists the keeper thread's frames with the calls
    inlined in them, as the kernel core's traceback printed the keeper goroutine.
"""
import os
import re
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gogoroutines")


def ancestors(con, node):
    out = []
    while node is not None:
        out.append(node)
        node = con.execute("SELECT parent_id FROM root_node WHERE id = ?", (node,)).fetchone()[0]
    return out


def func(name):
    # The ELF symbol of an assembly function carries its ABI (".abi0"); the
    # runtime's traceback prints the Go name.
    return name[:-5] if name and name.endswith(".abi0") else name


dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("gogoroutines", dumper=dumper)
    m = c.manifest
    n, bufs = m["n"], m["buffers"]
    db = os.path.join(c.dir, "t0710-%s.db" % dumper)
    # Every thread's frames past the first are calls: their pcs lie in code.
    # Past runtime.mcall (which switches to g0's stack) an unwinder reads a
    # stack address as a return address; that ends the backtrace.
    inf = cprof("info", c.core, c.exe, "--json", json=True)
    code = [(parse_addr(mp["start"]), parse_addr(mp["end"])) for mp in inf["mappings"]
            if "x" in mp["perms"]]
    stray = [(t["tid"], f["index"], f["pc"]) for t in inf["threads"] for f in t["frames"]
             if f["index"] > 0 and not any(a <= parse_addr(f["pc"]) - 1 < b for a, b in code)]
    check(not stray, "%s: every caller's pc lies in code (%s)" % (dumper, stray[:3]))
    _, out, err = cprof("analyze", c.core, c.exe, "--db", db)
    # Dead goroutines (allgs keeps them for reuse) are counted, not warned about.
    dead = re.search(r"goroutines +\d+ in \d+ groups \(and (\d+) dead", out)
    check(dead and int(dead.group(1)) >= m["goroutines"]["dead_at_least"] and
          "bad stack bounds" not in err,
          "%s: the summary counts the dead goroutines (%s, at least %d started and "
          "ended), with no warning about their stacks (%d warnings)"
          % (dumper, dead.group(1) if dead else None, m["goroutines"]["dead_at_least"],
             err.count("warning:")))
    j = cprof("goroutines", "--db", db, "--json", "--limit", "1000", json=True)

    want = m["metrics"].get("/sched/goroutines:goroutines")
    if want is not None:
        check_eq(j["goroutines"], want, "%s: goroutines in the core = the runtime's count" % dumper)
    workers = [g for g in j["groups"] if g["wait_reason"] == m["goroutines"]["wait_reason"]
               and "main.worker" in g["stack"]]
    check_eq(len(workers), 1, "%s: one group waits on %r in main.worker"
             % (dumper, m["goroutines"]["wait_reason"]))
    if not workers:
        continue
    w = workers[0]
    check_eq(w["count"], n, "%s: the workers' group has all %d of them" % (dumper, n))
    check_eq(w["status"], "waiting", "%s: the workers are waiting" % dumper)
    total = sum(b["size"] for b in bufs)
    check_eq(w["retained_bytes"], total,
             "%s: the group retains exactly its %d buffers (%s)" % (dumper, n, fmt_bytes(total)))
    check_eq(w["retained_count"], n, "%s: ... and nothing else" % dumper)
    check(w["stack_bytes"] >= n * 2048, "%s: their stacks take %s (at least 2 KiB each)"
          % (dumper, fmt_bytes(w["stack_bytes"])))

    con = sqlite3.connect(db)
    (group_node,) = con.execute(
        "SELECT root_node_id FROM goroutine_group g WHERE count = ? AND wait_reason = ?",
        (n, m["goroutines"]["wait_reason"])).fetchone()
    wrong = []
    for b in bufs:
        row = con.execute("SELECT size, retaining_root FROM object WHERE addr = ?",
                          (parse_addr(b["addr"]),)).fetchone()
        if not row or row[0] != b["size"] or row[1] is None or \
                group_node not in ancestors(con, row[1]):
            wrong.append((b["addr"], row))
    check(not wrong, "%s: each of the %d buffers is retained by its worker, under the group "
          "(wrong: %s)" % (dumper, n, wrong[:3]))
    # Each worker's root node holds its one buffer.
    per = con.execute("SELECT count(*), min(r.retained_bytes), max(r.retained_bytes) "
                      "FROM goroutine g JOIN root_node r ON r.id = g.root_node_id "
                      "WHERE g.group_id = (SELECT id FROM goroutine_group "
                      "WHERE root_node_id = ?)", (group_node,)).fetchone()
    check_eq(per, (n, bufs[0]["size"], bufs[0]["size"]),
             "%s: every worker alone retains one buffer" % dumper)

    # Goroutines parked in code inlined into their go statement's wrapper: the
    # group is named by the innermost user function of the program's own record
    # (runtime.Stack, inlined calls included), not by the wrapper it started in.
    for rec in m["inlined"]:
        want = next(f for f in rec["functions"] if f.startswith("main."))
        grp = [g for g in j["groups"] if is_subsequence(rec["functions"], g["stack"])]
        check(len(grp) == 1 and grp[0]["function"] == want and
              grp[0]["start_function"].startswith("main.main.gowrap"),
              "%s: the goroutine parked in %s (inlined into its go wrapper) is a group "
              "named %s, started in the wrapper: %s" % (dumper, " <- ".join(rec["functions"]),
                                                      want, [(g["function"], g["start_function"])
                                                             for g in grp]))

    _, out, _ = cprof("goroutines", "--db", db)
    lines = [l for l in out.splitlines() if l.split()[:1] == [str(n)]]
    check(len(lines) == 1 and "chan receive" in lines[0],
          "%s: `goroutines` prints the %d workers as one line: %s" % (dumper, n, lines))

    tb = go_traceback(c) if dumper == "kernel" else None
    if dumper == "kernel":
        check(tb is not None, "kernel core: the runtime's crash traceback is in program.out")
    if tb:
        n_calls = check_go_traceback(db, tb, "kernel: ")
        check(n_calls > 3 * n, "kernel: %d calls compared with the traceback" % n_calls)
    con.close()

# `info` lists the calls inlined into each thread frame: on the gcore core the
# keeper's thread is stopped in its read(2), and its frames, inlined calls included
# (syscall.Read into manifest.keeper), with their file:line, are what the kernel
# core's traceback printed for the keeper goroutine (the same binary, the same code).
if set(dumpers) >= {"kernel", "gcore"}:
    with case("info inlined"):
        tb = go_traceback(corpus_core("gogoroutines", dumper="kernel"))
        g = corpus_core("gogoroutines", dumper="gcore")
        keeper = "cprofcorpus/internal/manifest.keeper"
        theirs = next(([(f["function"], f["file"], f["line"]) for f in x["frames"]]
                       for x in tb["goroutines"].values()
                       if any(f["function"] == keeper for f in x["frames"])), None)
        info = cprof("info", g.core, g.exe, "--json", json=True)
        calls = None
        for t in info["threads"]:
            flat = []
            for f in t["frames"]:
                flat += [(go_print_name(i["function"]), i["file"], i["line"])
                         for i in f["inlined"]]
                flat.append((go_print_name(f["function"]), f["file"], f["line"]))
            if any(c[0] == keeper for c in flat):
                calls = flat
        check(theirs and calls, "the keeper's stack is in the traceback and a thread of info")
        if theirs and calls:
            # the traceback starts the goroutine where it entered the system call
            # (g.syscallpc, in syscall.Syscall), the thread is deeper inside: from
            # syscall.Syscall's caller on they are the same
            theirs = theirs[1:]
            start = next((i for i, c in enumerate(calls) if c[0] == theirs[0][0]), None)
            got = calls[start:start + len(theirs)] if start is not None else calls
            check(got == theirs and any(f["inlined"] for t in info["threads"]
                                        for f in t["frames"]),
                  "info: the keeper thread's calls, inlined ones included, are the "
                  "traceback's: %s against %s" % (got, theirs))

finish()
