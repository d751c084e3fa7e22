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
  - the goroutine count is the runtime's own (/sched/goroutines metric, read
    after the last GC);
  - on a kernel core, where the runtime printed every goroutine as it crashed
    (GOTRACEBACK=crash): the same goroutine ids, the same status or wait reason,
    the same functions on every stack (the traceback's physical frames, inlined
    ones left out) with the same file:line (from the runtime's pclntab), and the
    same creating function;
  - `goroutines` prints the group as one line with its count.
"""
import os
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
    cprof("analyze", c.core, c.exe, "--db", db)
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

    _, out, _ = cprof("goroutines", "--db", db)
    lines = [l for l in out.splitlines() if l.split()[:1] == [str(n)]]
    check(len(lines) == 1 and "chan receive" in lines[0],
          "%s: `goroutines` prints the %d workers as one line: %s" % (dumper, n, lines))

    tb = go_traceback(c) if dumper == "kernel" else None
    if dumper == "kernel":
        check(tb is not None, "kernel core: the runtime's crash traceback is in program.out")
    if tb:
        ours = {r[0]: r[1:] for r in con.execute(
            "SELECT goid, status, coalesce(wait_reason, ''), created_by FROM goroutine")}
        check_eq(sorted(ours), sorted(tb["goroutines"]),
                 "kernel: the goroutine ids are the traceback's")
        bad_status, bad_frames, bad_created, bad_lines, n_lines = [], [], [], [], [0]
        for goid, g in tb["goroutines"].items():
            if goid not in ours:
                continue
            status, reason, created = ours[goid]
            said = g["status"].split(",")[0]
            if said != (reason or status):
                bad_status.append((goid, g["status"], status, reason))
            theirs = [f["function"] for f in g["frames"] if f["pc"] is not None]
            mine = [func(f) for (f,) in con.execute(
                "SELECT f.function FROM goroutine_frame f JOIN goroutine g "
                "ON g.id = f.goroutine_id WHERE g.goid = ? ORDER BY f.depth", (goid,))]
            if status not in ("running", "syscall") and theirs != mine:
                bad_frames.append((goid, theirs, mine))
            # file:line: a physical frame's pc is at the innermost inlined
            # position, which the traceback prints first among the frames
            # it expands from that pc.
            groups, cur = [], []
            for f in g["frames"]:
                cur.append(f)
                if f["pc"] is not None:
                    groups.append(cur)
                    cur = []
            lines = con.execute(
                "SELECT f.file, f.line FROM goroutine_frame f JOIN goroutine g "
                "ON g.id = f.goroutine_id WHERE g.goid = ? ORDER BY f.depth", (goid,)).fetchall()
            if status not in ("running", "syscall"):
                n_lines[0] += len(groups)
                for grp, (file, line) in zip(groups, lines):
                    if (os.path.basename(grp[0]["file"] or ""), grp[0]["line"]) != \
                            (os.path.basename(file or ""), line):
                        bad_lines.append((goid, grp[0]["function"], grp[0]["file"],
                                          grp[0]["line"], file, line))
            if g["created_by"] and not (created or "").startswith(g["created_by"]):
                bad_created.append((goid, g["created_by"], created))
        check(not bad_status, "kernel: every goroutine's status or wait reason is the "
              "traceback's (wrong: %s)" % bad_status[:3])
        check(not bad_frames, "kernel: every parked goroutine's functions are the "
              "traceback's, frame by frame (wrong: %s)" % bad_frames[:2])
        check(not bad_created, "kernel: every goroutine's creator is the traceback's "
              "(wrong: %s)" % bad_created[:3])
        check(not bad_lines and n_lines[0] > n, "kernel: every parked goroutine's frame has "
              "the traceback's file:line (%d frames; wrong: %s)" % (n_lines[0], bad_lines[:3]))
    con.close()

finish()
