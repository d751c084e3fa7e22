#!/usr/bin/env python3
"""t0740: corrupted Go runtime metadata is reported, never fatal.

Copies of goblocks' core are damaged on purpose; `cprof-core analyze` must never
crash, hang or print a sanitizer report: it exits 0 (warnings allowed, the database
complete and readable) or 1 (exactly one error line, no database).

  - runtime.allgs pointing nowhere: a warning says the goroutines were not read, and
    the heap is still walked whole (HeapObjects objects);
  - one goroutine's runtime.g overwritten: the others are still read;
  - allgs claiming 2^26 goroutines (allglen bounds it), a stack top not 8-aligned
    (the stack is not scanned: its mask would overflow), edata 64 GiB past data
    (the data is scanned word by word, not over 64 GiB): each a warning at most;
  - a small span's elemsize made 256 GiB, a large span's npages made 2^25 (256 GiB of
    8 KiB pages; both found by the go fuzz target: the object index sized its table
    by that one object, 4 GiB): each span skipped with a warning, every object of
    the others kept, and every object inside the core's readable mappings (read from
    its program headers here);
  - in a gofinal core, the small span of an object with a finalizer given npages
    2^34 (found by the go-walk fuzz target: the finalizer roots read that span's
    heap bits, sized by its npages, 2 TiB): the span skipped with a warning;
  - random words (random.Random(11)) written over runtime.mheap_ (the heap's own
    metadata: spans, arenas, sweep generation), over runtime.firstmoduledata (the
    module's tables: pointer masks, pclntab) and over the goroutines' g structs.
"""
import os
import random
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goblocks")
require_corpus_program("gofinal")
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

with case("allgs with 2^26 goroutines"):
    # allglen bounds it: no flood of warnings, no scan of garbage stacks.
    d.write64(allgs + 8, 1 << 26)
    rc, lines, n = run(d, c, "allgs with 2^26 goroutines")
    check(len(lines) < 50, "at most a few lines on stderr (%d)" % len(lines))
    check_eq(n, m["memstats"]["HeapObjects"], "the heap is still walked whole")
    d.restore()

with case("a stack top not 8-aligned"):
    # g.stack {lo, hi} is the first member of runtime.g: hi at +8.
    g1 = d.read64(garray + 8 * (glen - 1))
    d.write64(g1 + 8, d.read64(g1 + 8) + 4)
    rc, lines, n = run(d, c, "a stack top not 8-aligned")
    check(rc == 0 and warned(lines, "stack"), "a warning names the bad stack (%s)" % lines[:2])
    d.restore()

with case("edata 64 GiB past data"):
    # firstmoduledata holds runtime.edata's address: move it 2^36 bytes on.
    edata, _ = sym("runtime.edata")
    md, md_size = sym("runtime.firstmoduledata")
    at = [md + k for k in range(0, md_size, 8) if d.read64(md + k) == edata]
    check(at, "firstmoduledata holds runtime.edata")
    if at:
        d.write64(at[0], edata + (1 << 36))
        rc, lines, n = run(d, c, "edata 64 GiB past data")
        check(rc == 0 and warned(lines, "firstmoduledata"),
              "a warning says the data sections are bad (%s)" % lines[:2])
        check_eq(n, m["memstats"]["HeapObjects"], "the heap is still walked whole")
        d.restore()

def span_struct(start, end, d=d):
    """The address of the runtime.mspan whose startAddr and npages (two words, at
    +24 and +32 of every Go version cprof-core reads) describe [start, end): found
    by value in the core file of D."""
    key = struct.pack("<QQ", start, (end - start) // 8192)
    found = []
    for p in d.elf.loads:
        data = d.elf.read(p["offset"], p["filesz"])
        at = data.find(key)
        while at >= 0:
            if at % 8 == 0:
                found.append(p["vaddr"] + at - 24)
            at = data.find(key, at + 8)
    return found[0] if len(found) == 1 else None


def objects_in_mappings(db):
    """Objects that do not lie inside the core's readable PT_LOADs (contiguous)."""
    loads = sorted((p["vaddr"], p["vaddr"] + p["memsz"]) for p in d.elf.loads
                   if p["flags"] & 4)
    con = sqlite3.connect(db)
    bad = []
    for addr, size in con.execute("SELECT addr, size FROM object"):
        at, end = addr, addr + size
        for lo, hi in loads:
            if lo <= at < hi:
                at = hi
            if at >= end:
                break
        if at < end:
            bad.append((addr, size))
    con.close()
    return bad


clean_db = os.path.join(c.dir, "t0740-clean.db")
remove_db(clean_db)
cprof("analyze", c.core, c.exe, "--db", clean_db)
con = sqlite3.connect(clean_db)
spans = con.execute(
    "SELECT h.kind, h.start, h.end, count(o.id), min(o.size), max(o.size) FROM heap h "
    "JOIN object o ON o.heap_id = h.id WHERE h.allocator = 'go' GROUP BY h.id "
    "ORDER BY count(o.id) DESC").fetchall()
con.close()
small = [x for x in spans if x[0] == "span" and x[3] >= 2 and x[4] == x[5]]
large = [x for x in spans if x[0] == "large"]

for what, pick, field, value in (
        ("a small span's elemsize of 256 GiB", small, "elemsize", 1 << 38),
        ("a large span's npages of 2^25", large, "npages", 1 << 25)):
    with case(what):
        target = None
        for kind, start, end, count, size, _ in pick:
            ms = span_struct(start, end)
            if ms is None:
                continue
            if field == "npages":
                target = (ms + 32, count)
                break
            # elemsize: the one word of the mspan's first 200 bytes equal to the
            # objects' size (a noscan span: no type header before each object)
            at = [ms + k for k in range(40, 200, 8) if d.read64(ms + k) == size]
            if len(at) == 1:
                target = (at[0], count)
                break
        check(target is not None, "an mspan found by its startAddr and npages")
        if target is None:
            continue
        d.write64(target[0], value)
        rc, lines, n = run(d, c, what)
        check(rc == 0 and warned(lines, "Go heap: span"),
              "a warning names the span (%s)" % lines[:3])
        check_eq(n, m["memstats"]["HeapObjects"] - target[1],
                 "every object of the other spans")
        check_eq(objects_in_mappings(os.path.join(c.dir, "t0740.db")), [],
                 "every object inside the core's readable mappings")
        d.restore()

# The go-walk fuzz target's finding (fuzz/README.md): the finalizer roots read
# the span of each finalized object themselves (go-roots.c: special_roots, then
# the object's pointer mask), and a small scan span's heap bits were sized by its
# npages: 2^34 pages asked realloc for 2 TiB (the sanitizer build's report;
# malloc's NULL in the plain build).  The fuzz input named this machine's gofinal,
# so the case is made here from a fresh gofinal core.
with case("a finalized object's small span with npages 2^34"):
    fc = corpus_core("gofinal")
    fd = Damaged(fc, "t0740-gofinal.core")
    fdb = os.path.join(fc.dir, "t0740-gofinal.db")
    remove_db(fdb)
    cprof("analyze", fc.core, fc.exe, "--db", fdb)
    con = sqlite3.connect(fdb)
    target = None
    for o in fc.manifest["objects"]:
        if o["kind"] != "finalizer":
            continue
        row = con.execute(
            "SELECT h.start, h.end, (SELECT count(*) FROM object x WHERE x.heap_id = h.id) "
            "FROM object o JOIN heap h ON o.heap_id = h.id WHERE h.kind = 'span' "
            "AND o.addr <= ? AND ? < o.addr + o.size", (parse_addr(o["resource"]),) * 2).fetchone()
        ms = row and span_struct(row[0], row[1], fd)
        if ms:
            target = (ms + 32, row[2])
            break
    total = con.execute("SELECT count(*) FROM object").fetchone()[0]
    con.close()
    check(target is not None, "the mspan of a finalized resource found by its startAddr and npages")
    if target is not None:
        fd.write64(target[0], 1 << 34)
        rc, lines = analyze_damaged(fd, fc, "finalized span npages 2^34", fdb, timeout=120)
        check(rc == 0 and warned(lines, "Go heap: span"), "a warning names the span (%s)" % lines[:3])
        if rc == 0:
            con = sqlite3.connect(fdb)
            check_eq(con.execute("SELECT count(*) FROM object").fetchone()[0], total - target[1],
                     "every object of the other spans")
            con.close()
        fd.restore()

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
