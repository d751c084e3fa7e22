#!/usr/bin/env python3
"""t0700: the Go heap walker against the Go runtime's own figures (corpus/go/goblocks).

goblocks keeps N *Block (and their payloads) in a global slice and a global map,
then runtime.GC() twice and runtime.ReadMemStats, and writes both into its manifest.
From the core taken right after, cprof-core must:
  - reproduce MemStats HeapObjects, HeapAlloc, HeapInuse and StackInuse (from the
    walk) and HeapIdle, HeapReleased, HeapSys, StackSys, MSpanSys, MCacheSys,
    BuckHashSys, GCSys, OtherSys and Sys (from the runtime's counters) exactly
    (allocator_stat, allocator 'go'), with both dumpers available here;
  - keep each thread's stack root to its stack: in a Go process a goroutine's stack
    is in the heap arena, next to the spans, and must not swallow them;
  - list every *Block as a used object at its address with its size-class size;
  - list every payload: at its address with its size class, or - tiny payloads,
    which share 16-byte blocks - inside a used 16-byte object;
  - type every block main.Block, and `roots --type main.Block` counts them all,
    reached through main.store and main.index, retaining exactly the blocks, their
    payloads and their Tags maps (whose insides the program cannot list: the
    objects reached from the blocks' Tags field);
and on the same program linked without DWARF (-ldflags=-w), stop with one message
that names the binary and says its DWARF is missing.
"""
import bisect
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

if not os.path.exists(os.path.join(corpus_dir(), "goblocks")):
    skip("go is not installed (or older than 1.20): the Go corpus programs were not built")

# From the walk: the first four. From the runtime's own counters (gcController,
# memstats): the rest; the program settles the scavenger before it reads them.
STATS = ("HeapObjects", "HeapAlloc", "HeapInuse", "StackInuse",
         "HeapIdle", "HeapReleased", "HeapSys", "StackSys", "MSpanSys", "MCacheSys",
         "BuckHashSys", "GCSys", "OtherSys", "Sys")

dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("goblocks", dumper=dumper)
    m = c.manifest
    ms = m["memstats"]
    db = os.path.join(c.dir, "t0700-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    got = dict(con.execute("SELECT name, value FROM allocator_stat WHERE allocator = 'go'"))
    for name in STATS:
        check_eq(got.get(name), ms[name], "%s: MemStats.%s" % (dumper, name))

    used = dict(con.execute("SELECT addr, size FROM object WHERE state = 'used'"))
    addrs = sorted(used)
    blocks = m["blocks"]
    wrong = [(b["addr"], b["size"], used.get(parse_addr(b["addr"])))
             for b in blocks if used.get(parse_addr(b["addr"])) != b["size"]]
    check(not wrong, "%s: all %d blocks are used objects of their size class (wrong: %s)"
          % (dumper, len(blocks), wrong[:3]))

    def container(a):
        i = bisect.bisect_right(addrs, a) - 1
        return (addrs[i], used[addrs[i]]) if i >= 0 and a < addrs[i] + used[addrs[i]] else None

    wrong, tiny = [], 0
    for b in blocks:
        p = parse_addr(b["payload"])
        if b.get("payload_tiny"):
            tiny += 1
            got_obj = container(p)
            if not got_obj or got_obj[1] != 16:
                wrong.append((b["payload"], "tiny", got_obj))
        elif used.get(p) != b["payload_size"]:
            wrong.append((b["payload"], b["payload_size"], used.get(p)))
    check(not wrong, "%s: all %d payloads (%d tiny) are found with their size (wrong: %s)"
          % (dumper, len(blocks), tiny, wrong[:3]))
    # Goroutine stacks lie in the heap arena, among spans: a thread's stack root
    # must stop at the heaps, or every block would look held by a stack.
    on_stack = {a for (a,) in con.execute(
        "SELECT DISTINCT o.addr FROM root_ref f JOIN root r ON r.id = f.root_id "
        "JOIN object o ON o.id = f.dst WHERE r.kind = 'stack'")}
    n_on_stack = sum(1 for b in blocks if parse_addr(b["addr"]) in on_stack)
    check(n_on_stack <= 10, "%s: stack roots point at %d of the %d blocks (at most 10)"
          % (dumper, n_on_stack, len(blocks)))
    st = m["store"]
    check_eq(used.get(parse_addr(st["array"])), st["size"],
             "%s: the global slice's array (%d pointers) is one object" % (dumper, st["cap"]))
    # roots --type: every block, typed from DWARF (main.store's []*main.Block),
    # retained through the two globals that hold them.
    typed = dict(con.execute("SELECT o.addr, t.name FROM object o JOIN type t ON t.id = o.type_id"))
    wrong = [b["addr"] for b in blocks if typed.get(parse_addr(b["addr"])) != "main.Block"]
    check(not wrong, "%s: all %d blocks are typed main.Block (wrong: %s)"
          % (dumper, len(blocks), wrong[:3]))
    roots = cprof("roots", "--db", db, "--type", "main.Block", "--json", json=True)
    check_eq(sum(r["count"] for r in roots), len(blocks),
             "%s: roots --type main.Block counts every block" % dumper)
    check_eq(sum(r["self_bytes"] for r in roots), sum(b["size"] for b in blocks),
             "%s: ... with their recorded sizes" % dumper)
    names = {x.split("+")[0] for r in roots for x in r["reached_from"] + [r["path"]["root_slot"]]}
    check({"goblocks!main.store", "goblocks!main.index"} <= names,
          "%s: ... retained through the globals main.store and main.index (%s)"
          % (dumper, sorted(names)))
    # What the blocks retain, counting nothing twice: the blocks, their payloads
    # and their Tags maps (whose objects the program cannot list: those reached
    # from the blocks' Tags field, at offset 40). Tiny objects share 16-byte
    # blocks (a tiny payload with a map's strings, strings of two maps), so a
    # 16-byte block counts only when one block alone holds it: the retained
    # bytes lie between none and all of those (and of what a register holds).
    base = sum(b["size"] for b in blocks) + sum(b["payload_size"] for b in blocks
                                                  if not b.get("payload_tiny"))
    tiny = {container(parse_addr(b["payload"])) for b in blocks if b.get("payload_tiny")}
    tiny.discard(None)
    maps = con.execute(
        "WITH RECURSIVE m(id) AS (SELECT r.dst FROM ref r JOIN object o ON o.id = r.src "
        "JOIN type t ON t.id = o.type_id WHERE t.name = 'main.Block' AND r.src_offset = 40 "
        "UNION SELECT r.dst FROM ref r JOIN m ON r.src = m.id) "
        "SELECT o.addr, o.size FROM m JOIN object o ON o.id = m.id").fetchall()
    tiny |= {(a, sz) for a, sz in maps if sz == 16}
    map_bytes = sum(sz for a, sz in maps if sz != 16)
    # A thread's general registers are roots too, and a parked thread's may
    # still hold a payload's address: such an object is shared, not the
    # blocks' alone.
    in_regs = {a: sz for a, sz in con.execute(
        "SELECT DISTINCT o.addr, o.size FROM root_ref f JOIN root r ON r.id = f.root_id "
        "JOIN object o ON o.id = f.dst WHERE r.kind = 'registers'")}
    held = {parse_addr(b["payload"]): b["payload_size"] for b in blocks
            if not b.get("payload_tiny")}
    held.update({a: sz for a, sz in maps if sz != 16})
    shared = sum(sz for a, sz in held.items() if a in in_regs)
    got = sum(r["retained_bytes"] for r in roots)
    lo = base + map_bytes - shared
    hi = base + map_bytes + 16 * len(tiny)
    check(lo <= got <= hi, "%s: the blocks retain their own %d bytes, their payloads and %d "
          "Tags map objects: %d bytes, %d to %d expected (%d tiny blocks)"
          % (dumper, sum(b["size"] for b in blocks), len(maps), got, lo, hi, len(tiny)))
    con.close()

# Without DWARF the layouts are unknown: one clear error, exit status 1.
if os.path.exists(os.path.join(corpus_dir(), "goblocks-nodwarf")):
    c = corpus_core("goblocks-nodwarf", dumper=dumpers[0])
    db = os.path.join(c.dir, "t0700-nodwarf.db")
    _, _, err = cprof("analyze", c.core, c.exe, "--db", db, expect_rc=1)
    check("DWARF" in err and "goblocks-nodwarf" in err,
          "no DWARF: the message names the binary and the missing DWARF (%r)" % err.strip())
    check(not os.path.exists(db), "no DWARF: no database is left behind")

# Another executable than the one that dumped the core: it is not used (its
# build-id differs), so the Go runtime's heap cannot be found - and every
# report says so, instead of a process with a few C chunks and no Go heap.
with case("the wrong executable"):
    c = corpus_core("goblocks", dumper=dumpers[0])
    other = require_corpus_program("gofinal")
    db = os.path.join(c.dir, "t0700-wrong-exe.db")
    _, out, err = cprof("analyze", c.core, other, "--db", db)
    check("does not match the core" in err, "a warning says gofinal is not the executable: %r"
          % err.strip()[:300])
    want = "goblocks: the executable's file was not read (mismatch): a heap its own code keeps"
    check(any(l.startswith(want) for l in out.splitlines()),
          "the summary says the executable's heap is not analyzed: %s"
          % [l for l in out.splitlines() if "not" in l][:5])
    for cmd in ("leaks", "top"):
        j = cprof(cmd, "--db", db, "--json", json=True)
        rows = [a for a in j["allocators"] if a["name"] == "unknown"]
        check(len(rows) == 1 and rows[0]["module"] == "goblocks" and rows[0]["walked"] is False,
              "%s --json: the executable's row, not walked: %s" % (cmd, j["allocators"]))
        _, text, _ = cprof(cmd, "--db", db)
        check(any(l.startswith(want) for l in text.splitlines()), "`%s` says it too" % cmd)
    remove_db(db)
finish()
