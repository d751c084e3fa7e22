#!/usr/bin/env python3
"""t0740: corrupted Go runtime metadata is reported, never fatal.

Copies of goblocks' core are damaged on purpose; `cprof-core analyze` must never
crash, hang or print a sanitizer report: it exits 0 (warnings allowed, the database
complete and readable) or 1 (exactly one error line, no database).

  - runtime.allgs pointing nowhere: a warning says the goroutines were not read, and
    the heap is still walked whole (HeapObjects objects);
  - one goroutine's runtime.g overwritten: the others are still read;
  - random words (random.Random(11)) written over runtime.mheap_ (the heap's own
    metadata: spans, arenas, sweep generation), over runtime.firstmoduledata (the
    module's tables: pointer masks, pclntab) and over the goroutines' g structs.
"""
import os
import random
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goblocks")
CASES = 60


def run(d, c, what):
    """analyze the damaged core; returns (rc, stderr lines, objects or None)."""
    db = os.path.join(c.dir, "t0740.db")
    rc, lines = analyze_damaged(d, c, what, db, timeout=120)
    if rc == 1:
        return rc, lines, None
    try:
        con = sqlite3.connect(db)
        n = con.execute("SELECT count(*) FROM object").fetchone()[0]
        con.execute("SELECT count(*) FROM goroutine").fetchone()
        con.close()
    except sqlite3.Error as e:
        check(False, "%s: the database is readable (%s)" % (what, e))
        n = None
    return rc, lines, n


c = corpus_core("goblocks")
m = c.manifest
exe_syms = Elf(c.exe).symbols()


def sym(name):
    v = exe_syms.get(name)
    if not v:
        fail("%s: no symbol %s" % (c.exe, name))
    return v[0][0], v[0][1]


d = Damaged(c, "t0740-damaged.core")
rc, lines, n = run(d, c, "clean core")
check(rc == 0 and not warned(lines, "Go"), "clean core: no warning (%s)" % lines[:3])
check_eq(n, m["memstats"]["HeapObjects"], "clean core: every object")

allgs, _ = sym("runtime.allgs")
garray, glen = d.read64(allgs), d.read64(allgs + 8)

with case("allgs pointing nowhere"):
    d.write64(allgs, 0x4141414141414140)
    rc, lines, n = run(d, c, "allgs pointing nowhere")
    check(rc == 0 and (warned(lines, "allgs") or warned(lines, "goroutine")),
          "a warning says the goroutines could not be read (%s)" % lines[:3])
    check_eq(n, m["memstats"]["HeapObjects"], "the heap is still walked whole")
    d.restore()

with case("one g overwritten"):
    g0 = d.read64(garray + 8 * (glen // 2))
    for k in range(0, 256, 8):
        d.write64(g0 + k, 0x4242424242424242)
    rc, lines, n = run(d, c, "one g overwritten")
    check_eq(rc, 0, "exit 0")
    check_eq(n, m["memstats"]["HeapObjects"], "the heap is still walked whole")
    d.restore()

rnd = random.Random(11)
regions = [sym("runtime.mheap_"), sym("runtime.firstmoduledata")]
regions += [(d.read64(garray + 8 * i), 456) for i in range(min(glen, 8))]
for i in range(CASES):
    start, size = regions[rnd.randrange(len(regions))]
    addr = start + rnd.randrange(max(size // 8, 1)) * 8
    with case("random %d at 0x%x" % (i, addr)):
        try:
            if rnd.random() < 0.5:
                d.write64(addr, rnd.getrandbits(64))
            else:
                d.write64(addr, d.read64(addr) ^ (1 << rnd.randrange(64)))
        except Abort:
            continue           # not in the core file (a gcore hole): nothing to damage
        try:
            run(d, c, "random %d" % i)
        finally:
            if os.environ.get("T0740_KEEP") == str(i):
                sys.exit("kept the damaged core of case %d: %s" % (i, d.path))
            d.restore()

finish()
