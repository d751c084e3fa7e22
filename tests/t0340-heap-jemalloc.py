#!/usr/bin/env python3
"""t0340: the jemalloc heap, against jemalloc's own statistics and the program's
record of every block it holds (corpus/jemalloc.c, linked with Debian's
libjemalloc2: no symbols for jemalloc's internals, no debug info).

Three scenarios, each dumped by the kernel and by gcore:
  basic    one thread: 1000 blocks of 24 sizes, half kept, a sixth dropped,
           the rest freed; every tcache flushed;
  threads  the main thread and three workers on their own arenas (one a
           manual arena), one worker's tcache NOT flushed: 13 blocks it freed
           stay cached there;
  mixed    basic plus 40 blocks from glibc's own __libc_malloc in the same
           process: both heaps listed, neither overlapping the other;
  prof     basic built as jemalloc-prof (malloc_conf prof:true,
           lg_prof_sample:0: jemalloc samples every allocation and keeps its
           stack).
jemalloc-je and jemalloc-je-prof run basic and threads (prof: basic) on a
jemalloc built from Debian's source package with the je_ prefix, LG_QUANTUM 3,
LG_VADDR 57 (an extent map of three levels, two-word leaf entries) and
--enable-debug, linked into the executable (corpus/build.sh): malloc
stays glibc's; the walker must take the layouts from the executable's DWARF
(e_prof_tctx moves to 88) and the 235 size classes from je_sz_index2size_tab,
and every check below holds as on Debian's library.  jemalloc-je-nodwarf is
jemalloc-je without its DWARF (.symtab kept): the table's layouts, the
three-level map found by trying both shapes.
From each core:
  - jemalloc serves malloc and is walked; its mallctl figures equal what
    mallctl said right before the dump: stats.allocated, stats.active,
    stats.retained, and the merged arena's pdirty, pmuzzy, small.allocated,
    large.allocated, tcache_bytes;
  - per arena and per bin: the regions in use or cached in a tcache equal
    bins.<j>.curregs; the large allocations equal large.nmalloc - ndalloc;
    the cached bytes equal tcache_bytes; the dirty extents' pages pdirty;
  - every held block is an object of its usable size, used and reachable;
    every dropped block a leak root (direct); the lazy worker's 13 freed
    blocks are free objects in the list "tcache"; used bytes plus cached
    bytes equal stats.allocated;
  - mixed: glibc's blocks are glibc objects (mallinfo2 reproduced), jemalloc's
    are jemalloc's, no two objects overlap, the summary names jemalloc as
    malloc's allocator;
  - a damaged edata_t (a state in transition, a free count that differs from
    its bitmap, a size class that differs from the extent map's): a warning
    names the extent, every other object is still found;
  - prof: every block's allocation site (make_node, make_buffer, make_record,
    as the program recorded) from jemalloc's own profile records in the core,
    and `histogram --by site` counts them.
"""
import os
import re
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F403

STATS = ("pdirty", "pmuzzy", "small.allocated", "large.allocated", "tcache_bytes")
MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
             "uordblks", "fordblks", "keepcost")


def objects(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT o.addr, o.size, o.state, o.free_list, o.leak, o.reachable, h.allocator,"
        " h.kind, coalesce(h.arena, 0), h.start, h.end FROM object o JOIN heap h ON h.id = o.heap_id"
        " ORDER BY o.addr").fetchall()
    keys = ("addr", "size", "state", "free_list", "leak", "reachable", "allocator", "kind",
            "arena", "start", "end")
    return [dict(zip(keys, r)) for r in rows]


def check_jemalloc(tag, m, j, objs, serves_malloc=True):
    je = m["jemalloc"]
    merged = [a for a in je["arenas"] if a["index"] == 4096][0]
    arenas = [a for a in je["arenas"] if a["index"] != 4096]
    ours = [a for a in j["allocators"] if a["name"] == "jemalloc"]
    check(len(ours) == 1 and ours[0]["walked"] and ours[0]["serves_malloc"] == serves_malloc,
          "jemalloc is walked and %s malloc: %s" % ("serves" if serves_malloc else "does not serve",
          [(a["name"], a["heap"], a.get("reason"), a["serves_malloc"]) for a in ours]))
    if not ours or not ours[0]["walked"]:
        return
    st = ours[0].get("mallctl", {})
    jobjs = [o for o in objs if o["allocator"] == "jemalloc"]
    # jemalloc 5.2's tcache_bytes counts the small bins only: arena_stats_merge
    # reads bins_large[i] from i = SC_NBINS on, bins past the ones in use (5.3
    # counts them all).  The walk counts every cached region; the program's
    # record of the regions it freed into a tcache checks the large ones.
    v52 = je["version"].startswith("5.2.")

    def uncounted(arena=None):
        return sum(o["size"] for o in jobjs if v52 and o["free_list"] == "tcache"
                   and o["kind"] == "large" and arena in (None, o["arena"]))
    for k in ("allocated", "active", "retained"):
        check_eq(st.get(k), je[k], "stats.%s" % k)
    for k in STATS:
        check_eq(st.get(k), merged[k], "stats.arenas.<all>.%s" % k)
    if v52:
        check_eq(st.get("tcache_large_bytes"), uncounted(),
                 "5.2: tcache_large_bytes, the cached bytes its tcache_bytes leaves out")
    live = [o for o in jobjs if o["state"] == "used" or o["free_list"] == "tcache"]
    # a small allocation the profiler sampled sits alone in a large extent of
    # the smallest large size, which is what jemalloc counts for it
    check_eq(sum(je["large_minclass"] if o["kind"] == "large" and o["size"] < je["large_minclass"]
                 else o["size"] for o in live), je["allocated"],
             "used + tcache-cached bytes == stats.allocated")
    sizes = je["bin_sizes"]
    for a in arenas:
        i = a["index"]
        mine = [o for o in live if o["arena"] == i]
        got = [sum(1 for o in mine if o["kind"] == "slab" and o["size"] == s) for s in sizes]
        check_eq(got, a["curregs"], "arena %d: regions per bin == bins.<j>.curregs" % i)
        check_eq(sum(1 for o in mine if o["kind"] == "slab"),
                 a["small.nmalloc"] - a["small.ndalloc"], "arena %d: small nmalloc - ndalloc" % i)
        check_eq(sum(1 for o in mine if o["kind"] == "large"),
                 a["large.nmalloc"] - a["large.ndalloc"], "arena %d: large nmalloc - ndalloc" % i)
        check_eq(sum(o["size"] for o in mine if o["free_list"] == "tcache") - uncounted(i),
                 a["tcache_bytes"], "arena %d: tcache-cached bytes == tcache_bytes" % i)
        check_eq(sum(o["size"] for o in jobjs if o["arena"] == i and o["kind"] == "dirty") // 4096,
                 a["pdirty"], "arena %d: dirty extents' pages == pdirty" % i)
    by_addr = {o["addr"]: o for o in objs}
    bad_held = [(b["addr"], b["usable"], by_addr.get(parse_addr(b["addr"])))
                for b in m["held"]
                if not (lambda o: o and o["allocator"] == "jemalloc" and o["state"] == "used"
                        and o["size"] == b["usable"] and o["reachable"] == 1)(by_addr.get(parse_addr(b["addr"])))]
    check_eq(bad_held[:3], [], "all %d held blocks: used, usable size, reachable" % len(m["held"]))
    bad_leak = [(b["addr"], by_addr.get(parse_addr(b["addr"])))
                for b in m["leaked"]
                if not (lambda o: o and o["allocator"] == "jemalloc" and o["state"] == "used"
                        and o["size"] == b["usable"] and o["leak"] == "direct")(by_addr.get(parse_addr(b["addr"])))]
    check_eq(bad_leak[:3], [], "all %d dropped blocks: leak roots of their usable size" % len(m["leaked"]))
    bad_cached = [(b["addr"], by_addr.get(parse_addr(b["addr"])))
                  for b in m["cached"]
                  if not (lambda o: o and o["state"] == "free" and o["free_list"] == "tcache"
                          and o["size"] == b["usable"])(by_addr.get(parse_addr(b["addr"])))]
    check_eq(bad_cached[:3], [], "all %d blocks freed into a tcache: free, list 'tcache'" % len(m["cached"]))


def check_mixed(tag, m, j, objs, text):
    g = [a for a in j["allocators"] if a["name"] == "glibc"]
    check(len(g) == 1 and g[0]["walked"] and not g[0]["serves_malloc"],
          "glibc is walked and does not serve malloc: %s" % [(a["heap"], a["serves_malloc"]) for a in g])
    if g and g[0]["walked"]:
        check_eq({k: g[0]["mallinfo2"][k] for k in MALLINFO2}, m["mallinfo2"],
                 "glibc's mallinfo2, taken in the process")
    version = m["jemalloc"]["version"].split("-")[0]
    check("  malloc is jemalloc %s (libjemalloc.so.2): " % version in text,
          "the summary names jemalloc %s as malloc's allocator" % version)
    by_addr = {o["addr"]: o for o in objs}
    for key, state in (("glibc_held", "reachable"), ("glibc_leaked", "direct")):
        bad = []
        for b in m[key]:
            o = by_addr.get(parse_addr(b["addr"]))
            if not (o and o["allocator"] == "glibc" and o["state"] == "used" and o["size"] == b["usable"]
                    and (o["reachable"] == 1 if state == "reachable" else o["leak"] == "direct")):
                bad.append((b["addr"], o))
        check_eq(bad[:3], [], "all %d %s blocks: glibc objects of their usable size, %s"
                 % (len(m[key]), key, state))
    over = [(a["addr"], a["size"], a["allocator"], b["addr"], b["allocator"])
            for a, b in zip(objs, objs[1:]) if a["addr"] + a["size"] > b["addr"]]
    check_eq(over[:3], [], "no two of the %d objects overlap" % len(objs))
    gheaps = {(o["start"], o["end"]) for o in objs if o["allocator"] == "glibc"}
    jheaps = {(o["start"], o["end"]) for o in objs if o["allocator"] == "jemalloc"}
    cross = [(g, h) for g in gheaps for h in jheaps if g[0] < h[1] and h[0] < g[1]]
    check_eq(cross[:3], [], "no glibc heap overlaps a jemalloc extent")


def check_sites(m, db):
    """Every block the program holds or dropped has the site the program
    allocated it at, from jemalloc's own records (prof_tctx_t, prof_gctx_t)."""
    con = sqlite3.connect(db)
    site = dict(con.execute("SELECT o.addr, s.name FROM object o JOIN object_site os"
                            " ON os.object_id = o.id JOIN site s ON s.id = os.site_id"))
    blocks = m["held"] + m["leaked"]
    bad = [(b["addr"], b["site"], site.get(parse_addr(b["addr"]))) for b in blocks
           if not (site.get(parse_addr(b["addr"])) or "").startswith(b["site"] + " (jemalloc.c:")]
    check_eq(bad[:3], [], "all %d blocks: their allocation site from jemalloc's profile" % len(blocks))
    rc, out, err = cprof("histogram", "--by", "site", "--db", db)
    want = {}
    for b in blocks:
        want[b["site"]] = want.get(b["site"], 0) + 1
    got = {}
    for l in out.splitlines():
        f = l.split()
        if len(f) >= 6 and f[0].isdigit() and f[5].startswith("make_"):
            got[f[5]] = int(f[0])
    check_eq(got, want, "histogram --by site: objects per site")


def find_edata(c, slab):
    """The edata_t of the slab starting at SLAB: the 128-byte aligned struct
    whose e_addr (offset 8) is SLAB, in the core's memory."""
    e = Elf(c.core)
    want = struct.pack("<Q", slab)
    for p in e.loads:
        data = e.read(p["offset"], p["filesz"])
        i = data.find(want)
        while i >= 0:
            if (p["vaddr"] + i - 8) % 128 == 0:
                return p["vaddr"] + i - 8
            i = data.find(want, i + 1)
    return None


def check_damaged(c, objs):
    """A damaged edata_t: the walk warns naming the extent, goes on without it
    and finds every other object."""
    slabs = sorted({(o["start"], o["end"]) for o in objs
                    if o["kind"] == "slab" and o["state"] == "used"})
    slab = slabs[len(slabs) // 2]
    edata = find_edata(c, slab[0])
    if edata is None:
        fail("no edata_t for slab 0x%x in the core" % slab[0])
    d = Damaged(c, "damaged.core")
    db = os.path.join(c.dir, "damaged.db")
    bits = d.read64(edata)
    others = {o["addr"] for o in objs if not slab[0] <= o["addr"] < slab[1]}
    for what, value, words in (
            ("state 5 (merging)", (bits & ~(7 << 17)) | (5 << 17), ("0x%x" % slab[0], "in transition")),
            ("free count off by one", bits ^ (1 << 28), ("slab 0x%x" % slab[0], "free by its bitmap")),
            ("size class 200", (bits & ~(0xff << 20)) | (200 << 20), ("0x%x" % slab[0], "size class"))):
        d.write64(edata, value)
        rc, lines = analyze_damaged(d, c, what, db)
        check(warned(lines, "jemalloc heap", *words), "%s: a warning names the extent: %s"
              % (what, [l for l in lines if "jemalloc" in l][:2]))
        if rc == 0:
            got = {o["addr"] for o in objects(db)}
            check_eq(len(others - got), 0, "%s: every object outside the extent is still found" % what)
        d.restore()


def check_je_build(m, j, text, dwarf=True):
    """jemalloc-je: Debian's source built with the je_ prefix, LG_QUANTUM 3,
    LG_VADDR 57 and --enable-debug, linked into the executable.  The walker must read its
    layouts from the executable's DWARF (e_prof_tctx at 88, not the table's
    80) and its 235 size classes from je_sz_index2size_tab; malloc stays
    glibc's, and both heaps are listed."""
    ours = [a for a in j["allocators"] if a["name"] == "jemalloc"]
    how = ours[0].get("found_by", "") if ours else ""
    check("extent map: symbol je_arena_emap_global (LG_VADDR 57: 3 levels);" in how,
          "the extent map by its je_ symbol, three levels (LG_VADDR 57): %s" % how)
    layout = "its DWARF" if dwarf else "table for jemalloc 5.3 (x86-64)"
    check("layout: %s; 235 size classes (39 small): its sz_index2size_tab" % layout in how,
          "layouts from %s, size classes from je_sz_index2size_tab: %s" % (layout, how))
    check_eq(len(m["jemalloc"]["bin_sizes"]), 39, "arenas.nbins (the program's word)")
    check_eq(m["jemalloc"]["bin_sizes"][:3], [8, 16, 24], "LG_QUANTUM 3's first size classes")
    g = [a for a in j["allocators"] if a["name"] == "glibc"]
    check(len(g) == 1 and g[0]["serves_malloc"],
          "glibc serves malloc: %s" % [(a["heap"], a["serves_malloc"]) for a in g])
    check("  malloc is glibc " in text, "the summary names glibc as malloc's allocator")


def check_52(m, j):
    """jemalloc-52: Debian 11's jemalloc 5.2.1, walked with the 5.2 table."""
    check(m["jemalloc"]["version"].startswith("5.2.1-"), "the program's jemalloc is 5.2.1: %s"
          % m["jemalloc"]["version"])
    ours = [a for a in j["allocators"] if a["name"] == "jemalloc"]
    how = ours[0].get("found_by", "") if ours else ""
    check("layout: table for jemalloc 5.2 (x86-64)" in how, "5.2's table: %s" % how)


for prog in ("jemalloc", "jemalloc-prof", "jemalloc-je", "jemalloc-je-prof",
             "jemalloc-je-nodwarf", "jemalloc-52", "jemalloc-52-prof"):
    require_corpus_program(prog)
RUNS = (("jemalloc", "basic"), ("jemalloc", "threads"), ("jemalloc", "mixed"),
        ("jemalloc-prof", "basic"), ("jemalloc-je", "basic"), ("jemalloc-je", "threads"),
        ("jemalloc-je-prof", "basic"), ("jemalloc-je-nodwarf", "threads"),
        ("jemalloc-52", "basic"), ("jemalloc-52", "threads"), ("jemalloc-52", "mixed"),
        ("jemalloc-52-prof", "basic"))
for dumper in available_dumpers():
    for prog, scenario in RUNS:
        with case("%s/%s/%s" % (prog, scenario, dumper)):
            c = corpus_core(prog, (scenario,), dumper=dumper)
            m = c.manifest
            db = os.path.join(c.dir, "t0340.db")
            rc, text, err = cprof("analyze", c.core, c.exe, "--db", db)
            # a profiling build's sampled small allocations each take a large
            # extent, which the objects' sizes do not show: one line says so,
            # with at least the program's own small blocks (every allocation is
            # sampled), each of the smallest large class
            promoted = [l for l in err.splitlines() if "the profiler sampled take a" in l]
            check_eq([l for l in err.splitlines() if "jemalloc" in l and l not in promoted], [],
                     "no jemalloc warning")
            if prog.endswith("-prof"):
                got = re.search(r"jemalloc: (\d+) small allocations the profiler sampled take"
                                r" a (\S+ \S+) extent each: (\S+ \S+) in all", " ".join(promoted))
                small = [b for b in m["held"] if b["usable"] < m["jemalloc"]["large_minclass"]]
                check(got and int(got.group(1)) >= len(small) > 0 and
                      got.group(2) == fmt_bytes(m["jemalloc"]["large_minclass"]) and
                      got.group(3) == fmt_bytes(int(got.group(1)) * m["jemalloc"]["large_minclass"]),
                      "the profiler's promoted allocations are said (%d small blocks held): %s"
                      % (len(small), promoted))
            else:
                check_eq(promoted, [], "no profiler line without the profiler")
            j = cprof("analyze", c.core, c.exe, "--db", db, "--json", json=True)
            objs = objects(db)
            # every used chunk is reachable, leaked or the allocator's own
            # (a tcache's stacks), and `leaks` says how many are which
            lj = cprof("leaks", "--db", db, "--json", json=True)["summary"]
            used = [o for o in objs if o["state"] == "used"]
            check_eq(lj["reachable"]["count"] + lj["direct"]["count"] + lj["indirect"]["count"]
                     + lj["allocator_internal"]["count"], len(used),
                     "leaks: reachable + direct + indirect + allocator_internal == used chunks")
            check(lj["allocator_internal"]["count"] >= 1,
                  "leaks: the tcache's own memory is counted (%s)" % lj["allocator_internal"])
            je_build = prog.startswith("jemalloc-je")
            check_jemalloc(scenario, m, j, objs, serves_malloc=not je_build)
            if je_build:
                check_je_build(m, j, text, dwarf=not prog.endswith("-nodwarf"))
            if prog.startswith("jemalloc-52"):
                check_52(m, j)
            if scenario == "mixed":
                check_mixed(scenario, m, j, objs, text)
            if prog.endswith("-prof"):
                check_sites(m, db)
            if (prog, scenario) == ("jemalloc", "basic"):
                check_damaged(c, objs)

# Debian's optimized libjemalloc_pic.a linked into the executable
# (allocator-jemalloc-static) with the profiler on: its malloc tail-calls
# je_malloc_default, so no malloc frame is on the recorded stacks; every
# site must still be the caller's (the program's blocks: build, in
# allocator.c; ld.so's dlerror buffers: theirs), never jemalloc's
# prof_backtrace_impl nor a frame past the program's.
require_corpus_program("allocator-jemalloc-static")
PROGRAM_ENV["allocator-jemalloc-static-prof"] = {"MALLOC_CONF": "prof:true,lg_prof_sample:0"}
for dumper in available_dumpers()[:1]:
    with case("allocator-jemalloc-static with prof:true/%s" % dumper):
        c = corpus_core("allocator-jemalloc-static-prof", dumper=dumper,
                        exe=require_corpus_program("allocator-jemalloc-static"))
        db = os.path.join(c.dir, "t0340.db")
        cprof("analyze", c.core, c.exe, "--db", db)
        con = sqlite3.connect(db)
        names = dict(con.execute("SELECT s.name, count(*) FROM object_site os"
                                 " JOIN site s ON s.id = os.site_id GROUP BY s.name"))
        own = sum(k for n, k in names.items() if "(allocator.c:" in n)
        check(own >= 50, "at least the program's 50 blocks have a site in allocator.c: %s" % names)
        bad = {n: k for n, k in names.items()
               if n.startswith(("prof_", "je_", "imalloc", "malloc", "__libc_start"))}
        check_eq(bad, {}, "no site is one of jemalloc's frames or past the program's")

finish()
