#!/usr/bin/env python3
"""t0310: corrupted glibc heaps are reported, never fatal.

Copies of a heap corpus core are damaged on purpose, and `cprof-core analyze` must
never crash, hang or print a sanitizer report; it exits 0 (with warnings) or 1 (one
error line), and when it exits 0 the database is complete and readable.

Targeted cases, each with the warning it must give and what must survive:
  - a used chunk's size field set to garbage: a warning names the chunk's address
    and "bad size field", and the walk goes on (chunks of the other arenas are all
    still found);
  - a chunk whose size runs past the end of its heap: a warning, the walk goes on;
  - a cycle in a tcache list and in a fastbin: a warning, no hang;
  - a broken back link in a bin: a warning names the bin;
  - main_arena.next pointing nowhere: the walk still finishes;
  - a page of anonymous memory that reads as an mmapped chunk (prev_size 0, size
    4096 | IS_MMAPPED), which glibc's own count (mp_.n_mmaps, mmapped_mem) has no
    room for: a warning names it, it is no object, and the counts agree.
Then 120 random cases (random.Random(7)): 8 random bytes written over a random
8-byte-aligned word of a heap chunk header region or of an arena, or a random bit
flipped.
"""
import os
import random
import shutil
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

RANDOM_CASES = 120


def run(d, c, what, timeout=60):
    """analyze the damaged core; returns (rc, warnings, objects or None)."""
    db = os.path.join(c.dir, "t0310.db")
    rc, lines = analyze_damaged(d, c, what, db, timeout)
    if rc == 1:
        return rc, lines, None
    objs = {}
    try:
        con = sqlite3.connect(db)
        objs = {a: (s, st) for a, s, st in con.execute("SELECT addr, size, state FROM object")}
        con.execute("SELECT count(*) FROM allocator_stat").fetchone()
        con.close()
    except sqlite3.Error as e:
        check(False, "%s: the database is readable (%s)" % (what, e))
    return rc, lines, objs


c = corpus_core("heap", ("threads",))
m = c.manifest["malloc"]
held = [(parse_addr(h["addr"]), h["usable"], h["tid"]) for h in m["held"]]
main_tid = [t["tid"] for t in c.manifest["threads"] if t.get("main")][0]
d = Damaged(c, "t0310-damaged.core")

# The clean core first: a baseline with no warning.
rc, lines, base = run(d, c, "clean core")
check(rc == 0 and not warned(lines, "glibc heap"), "clean core: no walker warning")
con = sqlite3.connect(os.path.join(c.dir, "t0310.db"))
arenas = [a for (a,) in con.execute("SELECT addr FROM arena ORDER BY addr")]
main_arena = con.execute("SELECT addr FROM arena WHERE kind = 'main_arena'").fetchone()[0]
tcache_chunks = [a - 16 for (a,) in con.execute(
    "SELECT addr FROM object WHERE free_list = 'tcache' ORDER BY addr")]
fast_chunks = [a - 16 for (a,) in con.execute(
    "SELECT addr FROM object WHERE free_list = 'fastbin' ORDER BY addr")]
bin_chunks = [a - 16 for (a,) in con.execute(
    "SELECT addr FROM object WHERE free_list IN ('unsorted', 'smallbin', 'largebin')")]
heaps = list(con.execute("SELECT start, end FROM heap WHERE kind != 'mmap'"))
con.close()

with case("bad size field"):
    # A chunk of a worker thread's arena; the other threads' chunks must survive.
    victims = [h for h in held if h[2] != main_tid]
    a, usable, tid = victims[len(victims) // 2]
    d.write64(a - 8, 0x4141414141414141)
    rc, lines, objs = run(d, c, "bad size field")
    check(warned(lines, "%x" % (a - 16), "bad size field"),
          "a warning names chunk 0x%x and its bad size field" % (a - 16))
    if objs is not None:
        others = [h for h in held if h[2] != tid]
        lost = [hex(h[0]) for h in others if h[0] not in objs]
        check(not lost, "every chunk of the other threads' arenas still found (lost %s)" % lost[:3])
    d.restore()

with case("chunk runs past its heap"):
    a = held[0][0]
    d.write64(a - 8, (1 << 40) | 1)
    rc, lines, objs = run(d, c, "past the heap")
    check(warned(lines, "%x" % (a - 16)), "a warning names chunk 0x%x" % (a - 16))
    d.restore()

with case("tcache cycle"):
    if tcache_chunks:
        t = tcache_chunks[0]
        # next = itself (mangled: (pos >> 12) ^ ptr, pos = chunk + 16)
        d.write64(t + 16, ((t + 16) >> 12) ^ (t + 16))
        rc, lines, objs = run(d, c, "tcache cycle", timeout=60)
        check(warned(lines, "tcache"), "a warning about the tcache list")
        d.restore()
    else:
        fail("the threads scenario has no tcache chunk to damage")

with case("fastbin cycle"):
    if fast_chunks:
        f = fast_chunks[0]
        d.write64(f + 16, ((f + 16) >> 12) ^ f)
        rc, lines, objs = run(d, c, "fastbin cycle", timeout=60)
        check(warned(lines, "fastbin"), "a warning about the fastbin")
        d.restore()
    else:
        fail("the threads scenario has no fastbin chunk to damage")

with case("bin back link"):
    if bin_chunks:
        b = bin_chunks[0]
        d.write64(b + 24, 0x1234560)
        rc, lines, objs = run(d, c, "bin back link")
        check(warned(lines, "bin", "%x" % b), "a warning names the bin and chunk 0x%x" % b)
        d.restore()
    else:
        fail("the threads scenario has no binned chunk to damage")

with case("a page that reads as an mmapped chunk"):
    # Memory no walker claims may hold a page whose first 16 bytes read as a
    # fresh mmapped chunk's header (a Go runtime's span structures in a cgo
    # process did): glibc's own count (mp_.n_mmaps, mp_.mmapped_mem) has no
    # room for it, so it is left out, with a warning naming it.
    info = cprof("info", c.core, c.exe, "--json", json=True)
    anon = [parse_addr(mp["start"]) for mp in info["mappings"]
            if mp["role"] == "anonymous" and mp["perms"] == "rw-" and mp["source"] == "core"
            and parse_addr(mp["end"]) - parse_addr(mp["start"]) >= 4096]
    page = [a for a in anon if d.read64(a) == 0 and d.read64(a + 8) == 0][:1]
    check(page, "an anonymous rw page to write a fake header on: %s" % [hex(a) for a in anon])
    if page:
        fake = page[0]
        d.write64(fake, 0)
        d.write64(fake + 8, 4096 | 2)           # size 4096, IS_MMAPPED
        rc, lines, objs = run(d, c, "fake mmapped chunk")
        check(warned(lines, "%x reads as an mmapped chunk" % fake, "not glibc's memory, left out"),
              "a warning names the fake chunk 0x%x: %s" % (fake, lines[:4]))
        check(objs is not None and fake + 16 not in objs,
              "the fake chunk at 0x%x is no object" % fake)
        if objs is not None:
            check(not warned(lines, "but the scan found"), "mp_'s counts agree with the walk: %s" % lines[:4])
        d.restore()

with case("main_arena.next"):
    # offset of next in malloc_state: 2160 on glibc >= 2.27
    d.write64(main_arena + 2160, 0xdeadbeef000)
    rc, lines, objs = run(d, c, "main_arena.next")
    d.restore()

with case("random"):
    rnd = random.Random(7)
    # Words worth damaging: chunk headers and links, and the arenas.
    targets = []
    for h in held:
        targets += [h[0] - 8, h[0] - 16, h[0]]
    for x in tcache_chunks + fast_chunks + bin_chunks:
        targets += [x + 8, x + 16, x + 24]
    for a in arenas:
        targets += [a + 8 * k for k in range(0, 2200 // 8)]
    crashes = 0
    for i in range(RANDOM_CASES):
        addr = rnd.choice(targets)
        if rnd.random() < 0.5:
            val = rnd.getrandbits(64)
            d.write64(addr, val)
            what = "random case %d: %#x := %#x" % (i, addr, val)
        else:
            bit = rnd.randrange(64)
            d.write64(addr, d.read64(addr) ^ (1 << bit))
            what = "random case %d: flip bit %d of %#x" % (i, bit, addr)
        with case(what):
            run(d, c, what, timeout=60)
        d.restore()

os.unlink(d.path)
finish()
