#!/usr/bin/env python3
"""t0240: the work is bounded by the bytes the core holds, never by what it declares.

Each damaged core is a copy of a kernel core of a corpus program (tests/lib's
Damaged) with one field changed; `analyze` must finish within LIMIT seconds (the
issue measured 19 hours, 18 s and 11 s before), exit 0 with the warning that names
the damage, and walk the same objects as on the undamaged core:
  - a p_memsz of 1 TiB for the main arena's heap (heap tcache): "1024 GiB of rw
    memory is not in the core (MADV_DONTDUMP, or the core is damaged): not scanned";
  - e_phnum = 0xffff (PN_XNUM) with no section header to hold the count: the
    program headers are read up to the first that is not a core's, with a warning;
  - a heap_info whose prev points to itself (heap threads, an arena's top heap):
    "its heap_info list (prev) loops", each heap walked once (before: 65,536 times);
  - an arena whose malloc_state.next points to itself (the ring never comes back
    to main_arena): main_arena is not taken (it is only when its ring returns to
    it), and glibc's heap is reported not walked, never walked 4,096 times;
  - runtime.mbuckets' first bucket chained to itself (goprofile: allnext): "loops
    after 1 buckets", each bucket read once (before: the link was followed 4,194,304
    times, and a bucket no live object names appended that many times);
With CPROF_DEBUG=1 the loop's warning, and the error for a core cut inside its program
headers, end with the place in our source that noticed the bad data
("[src/heap/glibc.c:511]"); without it, no message shows one.
And a process that really has a 2 GiB MADV_DONTDUMP mapping (corpus/dontdump, with
each dumper): analyze in seconds, with the warning naming 2.00 GiB and the mapping,
every block the program keeps found reachable, and the block only the left-out
mapping points to a leak (the core cannot show that pointer), and `leaks` reading the
database later says so (not_in_core_bytes, a caution line; the warnings in meta).  A
program with a
1 MiB file-backed shared mapping (built here, kernel core), its file removed before
the analysis: the warning names it and says the kernel's coredump_filter leaves such
mappings out.
"""
import os
import re
import signal
import sqlite3
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

LIMIT = 20.0   # seconds; each run finishes in well under one


def objects(db):
    """The object table, and the heap table (a heap walked twice is two rows)."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT addr, size, state FROM object ORDER BY addr").fetchall()
    heaps = con.execute("SELECT kind, start, end FROM heap ORDER BY start, id").fetchall()
    con.close()
    return rows, heaps


def timed_analyze(core, exe, db, what):
    remove_db(db)
    t0 = time.time()
    rc, out, err = cprof("analyze", core, exe, "--db", db, timeout=600, expect_rc=None)
    dt = time.time() - t0
    check_eq(rc, 0, "%s: analyze exits 0 (stderr %r)" % (what, err[-1000:]))
    check(dt < LIMIT, "%s: analyze finishes in %.1f s (< %.0f s)" % (what, dt, LIMIT))
    note("%s: %.2f s" % (what, dt))
    return stderr_lines(err)


def discard(dmg):
    """Remove a Damaged copy: a full copy of a core (its holes written out)."""
    if os.path.exists(dmg.path):
        os.unlink(dmg.path)


def damaged(c, name, edit, d):
    """A Damaged copy NAME.core of C's core, edited by EDIT(dmg), analyzed into
    D/NAME.db: returns (dmg, db, stderr lines); discard(dmg) when done."""
    dmg = Damaged(c, name + ".core")
    edit(dmg)
    db = os.path.join(d, name + ".db")
    return dmg, db, timed_analyze(dmg.path, c.exe, db, name)


def phdr_offset(elf, i):
    return elf.e_phoff + i * elf.e_phentsize


with scratch("bounded") as d:
    with case("p_memsz of 1 TiB"):
        c = corpus_core("heap", ("tcache",), dumper=available_dumpers()[0])
        db0 = os.path.join(d, "orig.db")
        timed_analyze(c.core, c.exe, db0, "undamaged")
        con = sqlite3.connect(db0)
        heap_start = con.execute("SELECT start FROM heap WHERE kind = 'main_arena'").fetchone()[0]
        con.close()
        elf = Elf(c.core)
        idx = [i for i, p in enumerate(elf.phdrs)
               if p["type"] == 1 and p["vaddr"] <= heap_start < p["vaddr"] + p["memsz"]]
        check_eq(len(idx), 1, "one PT_LOAD holds the main arena's heap")
        dmg, db, lines = damaged(c, "tib", lambda m: m.write_at(
            phdr_offset(elf, idx[0]) + 40, struct.pack("<Q", 1 << 40)), d)
        check(warned(lines, "1024 GiB of rw memory is not in the core (MADV_DONTDUMP, or the core is damaged): not scanned",
                     "%x" % heap_start),
              "a warning names the 1024 GiB and the mapping: %s" % lines[:5])
        check_eq(objects(db), objects(db0), "the same objects as the undamaged core")
        discard(dmg)

    with case("e_phnum = 0xffff"):
        dmg, db, lines = damaged(c, "xnum", lambda m: m.write_at(56, struct.pack("<H", 0xffff)), d)
        check(warned(lines, "e_phnum is 0xffff (PN_XNUM)",
                     "%d program headers read" % Elf(c.core).e_phnum),
              "a warning says PN_XNUM and how many headers were read: %s" % lines[:5])
        check_eq(objects(db), objects(db0), "the same objects as the undamaged core")
        discard(dmg)

    with case("a self-linked heap_info"):
        c = corpus_core("heap", ("threads",), dumper=available_dumpers()[0])
        db0 = os.path.join(d, "threads.db")
        timed_analyze(c.core, c.exe, db0, "undamaged")
        con = sqlite3.connect(db0)
        arenas = [r[0] for r in con.execute("SELECT start FROM heap WHERE kind = 'arena'")]
        con.close()
        check(arenas, "the threads scenario has non-main arenas")
        hi = arenas[0] & ~((64 << 20) - 1)       # HEAP_MAX_SIZE-aligned heap_info
        check_eq(Damaged(c, "selflink.core").read64(hi + 8), 0, "the arena's first heap has no prev")
        dmg, db, lines = damaged(c, "selflink", lambda m: m.write64(hi + 8, hi), d)
        check(warned(lines, "its heap_info list (prev) loops after 1 heaps"),
              "a warning says the heap_info list loops: %s" % lines[:5])
        check_eq(objects(db), objects(db0), "each heap walked once: the same heaps and objects")
        # CPROF_DEBUG=1: where in our source the bad data was noticed
        check(not any("[src/" in l for l in lines), "no source place without CPROF_DEBUG")
        os.environ["CPROF_DEBUG"] = "1"
        try:
            lines = timed_analyze(dmg.path, c.exe, db, "selflink, CPROF_DEBUG=1")
            cut = os.path.join(d, "cut.core")
            with open(dmg.path, "rb") as f, open(cut, "wb") as g:
                g.write(f.read(100))
            _, _, err = expect_error(["info", cut], cut, ["truncated in its program headers"])
        finally:
            del os.environ["CPROF_DEBUG"]
        check(any(re.search(r"heap_info list \(prev\) loops.* \[src/heap/glibc\.c:\d+\]$", l)
                  for l in lines),
              "CPROF_DEBUG=1: the warning ends with its source place: %s" % lines[:3])
        check(re.search(r"truncated in its program headers.* \[src/core/core\.c:\d+\]$",
                        lines_with(err, "cprof-core: error: ")[0]),
              "CPROF_DEBUG=1: the error ends with its source place: %r" % err[-300:])
        discard(dmg)

    with case("an arena list that loops without coming back to main_arena"):
        con = sqlite3.connect(db0)
        main = con.execute("SELECT arena FROM heap WHERE kind = 'main_arena'").fetchone()[0]
        rings = sorted({r[0] for r in con.execute("SELECT arena FROM heap WHERE kind = 'arena'")})
        con.close()
        # malloc_state.next: the word of main_arena that holds another arena's address
        probe = Damaged(c, "arenaloop.core")
        off = next((o for o in range(0, 4096, 8) if probe.read64(main + o) in set(rings)), None)
        check(off is not None, "main_arena's next field is found (an arena's address)")
        first = probe.read64(main + off)
        # the first arena's next: itself
        dmg, db, lines = damaged(c, "arenaloop", lambda m: m.write64(first + off, first), d)
        # main_arena is only taken when its ring comes back to it: a ring that
        # loops elsewhere is no main_arena, and the heap is said not walked
        check(warned(lines, "main_arena not found"),
              "a warning says main_arena is not found: %s" % lines[:5])
        con = sqlite3.connect(db)
        state = con.execute("SELECT heap FROM allocator WHERE name = 'glibc'").fetchone()
        n_heaps = con.execute("SELECT count(*) FROM heap").fetchone()[0]
        con.close()
        check_eq((state, n_heaps), (("not_walked",), 0),
                 "glibc's heap is not walked, and said so (no heap walked or repeated)")
        discard(dmg)

    with case("a Go memory profile bucket chain that loops"):
        require_corpus_program("goprofile")
        c = corpus_core("goprofile", dumper=available_dumpers()[0])
        db0 = os.path.join(d, "goprofile.db")
        timed_analyze(c.core, c.exe, db0, "undamaged")
        con = sqlite3.connect(db0)
        sites0 = con.execute("SELECT count(*), count(DISTINCT bucket) FROM site").fetchone()
        con.close()
        check(sites0[0] > 1 and sites0[0] == sites0[1], "the profile's sites, one per bucket: %s" % (sites0,))
        mbuckets = [v for v, _, _ in Elf(c.exe).symbols().get("runtime.mbuckets", [])]
        check_eq(len(mbuckets), 1, "runtime.mbuckets is in the symbol table")
        head = Damaged(c, "buckets.core").read64(mbuckets[0])
        # runtime.bucket.allnext (after next): the first bucket's, itself
        dmg, db, lines = damaged(c, "buckets", lambda m: m.write64(head + 8, head), d)
        check(warned(lines, "runtime.mbuckets (allnext) loops after 1 buckets"),
              "a warning says the bucket chain loops: %s" % lines[:5])
        con = sqlite3.connect(db)
        sites = con.execute("SELECT count(*), count(DISTINCT bucket) FROM site").fetchone()
        con.close()
        check(sites[0] == sites[1] and sites[0] <= sites0[0],
              "each bucket read once (%s sites; undamaged %s)"
              % (sites, sites0))
        discard(dmg)

    exe = require_corpus_program("dontdump")
    for dumper in all_dumpers():
        with case("a 2 GiB MADV_DONTDUMP mapping (%s)" % dumper):
            c = corpus_core("dontdump", dumper=dumper)
            m = c.manifest
            start, size = parse_addr(m["dontdump"]["start"]), m["dontdump"]["size"]
            check_eq(size, 2 << 30, "the program mapped 2 GiB")
            loads = [p for p in Elf(c.core).loads if p["vaddr"] <= start < p["vaddr"] + p["memsz"]]
            check(all(p["filesz"] == 0 for p in loads),
                  "the core holds none of it (%s)" % loads)
            db = os.path.join(d, "dontdump.db")
            lines = timed_analyze(c.core, c.exe, db, "2 GiB MADV_DONTDUMP (%s)" % dumper)
            if loads:
                check(warned(lines, "2.00 GiB of rw memory is not in the core (MADV_DONTDUMP, or the core is damaged): not scanned",
                             "0x%x-0x%x" % (start, start + size)),
                      "the warning names 2.00 GiB and the mapping: %s" % lines[:5])
            else:
                note("%s leaves the mapping out of the core entirely: nothing to skip" % dumper)
            con = sqlite3.connect(db)
            rows = {a: (r, l) for a, r, l in
                    con.execute("SELECT addr, reachable, leak FROM object WHERE state = 'used'")}
            con.close()
            held = [parse_addr(b["addr"]) for b in m["held"]]
            check_eq([a for a in held if rows.get(a) != (1, None)], [],
                     "every block the program keeps is reachable")
            check_eq(rows.get(parse_addr(m["hidden"])), (0, "direct"),
                     "the block only the left-out mapping points to is a leak")
            # and every later leak report says the verdict rests on a core that
            # lacks memory (a truncated core gave false leaks stated plainly)
            lj = cprof("leaks", "--db", db, "--json", json=True)
            check_eq(lj.get("not_in_core_bytes"), size if loads else 0,
                     "leaks --json: not_in_core_bytes is what the core lacks")
            _, out, _ = cprof("leaks", "--db", db)
            check(("caution: 2.00 GiB of writable memory is not in the core" in out) == bool(loads),
                  "leaks: the caution under the leaked line iff memory is missing:\n%s"
                  % out[:600])
            con = sqlite3.connect(db)
            stored = con.execute("SELECT value FROM meta WHERE key = 'warnings'").fetchone()
            con.close()
            check(not loads or (stored and "2.00 GiB of rw memory is not in the core" in stored[0]),
                  "the analysis's warnings are kept in meta (%s)" % (stored and stored[0][:200]))

SHARED = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
	size_t size = 1 << 20;
	int fd = open("shared.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		return 1;
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	void *p = malloc(64);
	memcpy(m + 4096, &p, sizeof p);
	printf("ready %p %zu\n", (void *)m, size);
	fflush(stdout);
	for (;;)
		pause();
}
"""

# A file-backed shared mapping is what the kernel's default coredump_filter
# leaves out (Varnish's 80 MiB log): the warning says so, not "MADV_DONTDUMP".
if "kernel" in all_dumpers():
    with case("a file-backed shared mapping (kernel)"):
        sd = os.path.join(WORK, "t0240-shared")
        exe = build_c_program(sd, "shared", SHARED)
        ready, core = kernel_dump(exe, sd)
        check(len(ready) == 3 and core, "the kernel dumped the program (%s, %s)" % (ready, core))
        if core and len(ready) == 3:
            # its file still there, its bytes are read from it: gone, they are missing
            os.remove(os.path.join(sd, "shared.bin"))
            start = int(ready[1], 16)
            lines = timed_analyze(core, exe, os.path.join(sd, "shared.db"),
                                  "a shared file mapping")
            check(warned(lines, "1.00 MiB of rw memory is not in the core (file-backed shared"
                         " mappings, which the kernel's default coredump_filter and gcore leave"
                         " out, whose files were not read): not scanned", "0x%x-0x%x" % (start, start + (1 << 20)),
                         "shared.bin"),
                  "the warning names the shared file mapping and why: %s" % lines[:5])

# gcore writes no program header for a shared mapping at all (a PostgreSQL
# backend's /dev/shm segments were 'r--', silently): a warning names it.
if "gcore" in all_dumpers():
    with case("a file-backed shared mapping (gcore)"):
        sd = os.path.join(WORK, "t0240-shared-gcore")
        exe = build_c_program(sd, "shared", SHARED)
        ready, core = run_and_dump(exe, sd, "shared")
        if len(ready) == 3:
            start = int(ready[1], 16)
            lines = timed_analyze(core, exe, os.path.join(sd, "shared.db"),
                                  "a shared file mapping (gcore)")
            check(warned(lines, "of file mappings the core names have no program header (gcore"
                         " leaves out shared mappings)", "0x%x-0x%x" % (start, start + (1 << 20)),
                         "shared.bin"),
                  "the warning names the mapping gcore left out: %s" % lines[:5])

