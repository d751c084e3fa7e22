#!/usr/bin/env python3
"""t0730: Go and C memory in one graph (corpus/go/gocgo).

gocgo keeps N Go structs (main.CBuffer), each holding a C.malloc'd buffer, in a
global slice; 3 more C buffers in a C global array; and leaks 5 C buffers
(nothing holds their address). From its core:
  - both heaps are walked: Go's figures are MemStats', glibc's are mallinfo2()'s
    (uordblks, the bytes in use);
  - every C buffer is a used glibc chunk of its malloc_usable_size;
  - each Go struct points to its C buffer (an edge Go object -> C chunk, at the
    struct's field) and `show` lists it; the C global's buffers are reached from
    the C global's slots;
  - exactly the 5 leaked C buffers are leak roots (`leaks --json`), and no Go
    object is called leaked: an unreachable Go object is garbage.
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gocgo")

dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("gocgo", dumper=dumper)
    m = c.manifest
    db = os.path.join(c.dir, "t0730-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    stats = {(a, n): v for a, n, v in con.execute(
        "SELECT allocator, name, value FROM allocator_stat")}
    for name in ("HeapObjects", "HeapAlloc"):
        check_eq(stats.get(("go", name)), m["memstats"][name], "%s: go %s" % (dumper, name))
    check_eq(stats.get(("glibc", "uordblks")), m["mallinfo2"]["uordblks"],
             "%s: glibc's bytes in use = mallinfo2().uordblks" % dumper)

    objs = {a: (i, s, st, leak, heap) for i, a, s, st, leak, heap in con.execute(
        "SELECT o.id, o.addr, o.size, o.state, o.leak, h.allocator FROM object o "
        "JOIN heap h ON h.id = o.heap_id")}
    wrong = [(b["addr"], objs.get(parse_addr(b["addr"]))) for b in m["c_buffers"]
             if objs.get(parse_addr(b["addr"]), (0, 0, 0, 0, 0))[1:3] != (b["usable"], "used")
             or objs[parse_addr(b["addr"])][4] != "glibc"]
    check(not wrong, "%s: the %d C buffers are used glibc chunks of their usable size "
          "(wrong: %s)" % (dumper, len(m["c_buffers"]), wrong[:3]))

    go_held = [b for b in m["c_buffers"] if b["held_by"] == "go"]
    missing = []
    for b in go_held:
        src, dst = objs.get(parse_addr(b["from"])), objs.get(parse_addr(b["addr"]))
        if not src or not dst or src[4] != "go" or not con.execute(
                "SELECT 1 FROM ref WHERE src = ? AND dst = ? AND dst_offset = 0",
                (src[0], dst[0])).fetchone():
            missing.append((b["from"], b["addr"]))
    check(not missing, "%s: each of the %d Go structs points to its C buffer (missing: %s)"
          % (dumper, len(go_held), missing[:3]))
    b = go_held[0]
    _, out, _ = cprof("show", b["from"], "--db", db)
    check("-> object %d at %s" % (objs[parse_addr(b["addr"])][0], b["addr"]) in out,
          "%s: `show` on a Go struct lists its C buffer:\n%s" % (dumper, out))

    c_held = [b for b in m["c_buffers"] if b["held_by"] == "c_global"]
    unreached = []
    for b in c_held:
        r = con.execute("SELECT count(*) FROM root_ref f JOIN object o ON o.id = f.dst "
                        "WHERE o.addr = ? AND f.slot = ?",
                        (parse_addr(b["addr"]), parse_addr(b["from"]))).fetchone()[0]
        if not r:
            unreached.append(b["addr"])
    check(not unreached, "%s: the C global's %d buffers are reached from its slots "
          "(not: %s)" % (dumper, len(c_held), unreached))

    leaks = cprof("leaks", "--db", db, "--json", json=True)
    want = sorted(parse_addr(b["addr"]) for b in m["c_buffers"] if b["held_by"] == "leaked")
    got = sorted(parse_addr(l["addr"]) for l in leaks["leaks"])
    check_eq(got, want, "%s: the leak roots are exactly the %d leaked C buffers"
             % (dumper, len(want)))
    go_leaked = con.execute("SELECT count(*) FROM object o JOIN heap h ON h.id = o.heap_id "
                            "WHERE h.allocator = 'go' AND o.leak IN ('direct', 'indirect')"
                            ).fetchone()[0]
    check_eq(go_leaked, 0, "%s: no Go object is called leaked (unreachable Go objects are "
             "garbage)" % dumper)
    check_eq(leaks["summary"]["garbage"]["count"], con.execute(
        "SELECT count(*) FROM object WHERE leak = 'garbage'").fetchone()[0],
        "%s: leaks --json counts the garbage" % dumper)
    con.close()

finish()
