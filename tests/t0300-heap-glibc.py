#!/usr/bin/env python3
"""t0300: every glibc chunk, against the heap corpus program's own manifest.

For each scenario of corpus/heap.c (tcache, fastbins, bins, threads, mmap, apis,
trim, multiheap, many, fencepost, sbrkgap, noncontig, all), `cprof-core analyze --db`
must give:
  - every pointer the program holds as a `used` object with its exact usable size
    (malloc_usable_size);
  - every pointer it freed where the manifest says where it went: a `free` object
    in that list (tcache, fastbin, unsorted, smallbin, largebin), or no object at
    that address (merged, unmapped);
  - mallinfo2: all ten fields equal to what the process's own mallinfo2() returned
    just before the dump (allocator_stat and `info --json`);
  - the counts the scenario guarantees (`expect`): arenas, mmapped chunks, heaps of
    non-main arenas, chunks per free list;
  - no other used chunk than the held pointers, the threads' DTVs (`internal`) and the
    tcache structs (flagged as allocator metadata);
  - sysmalloc's fenceposts (`fenceposts`: every form glibc writes when it closes a top
    chunk of 32, 48, 64 or more bytes, in a thread arena's heap and in the main arena)
    are no chunk; the main arena's heaps are exactly its segments (`main_segments`:
    after a foreign sbrk, and when mmap stood in for brk); the foreign memory between
    them is in no heap, and the chunk only it points to is reachable (a root);
  - the same object table and the same mallinfo2 with libc's debug info hidden
    (--no-default-debug-dirs: symbols are then found by disassembly and data), and
    no walker warning in either run.
The threads, multiheap, fencepost and noncontig scenarios are also taken with gcore
when available.
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

SCENARIOS = ["tcache", "fastbins", "bins", "threads", "mmap", "apis", "trim",
             "multiheap", "many", "fencepost", "sbrkgap", "noncontig", "all"]
MALLINFO = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost"]
LISTS = {"tcache_chunks": "tcache", "fastbin_chunks": "fastbin",
         "unsorted_chunks": "unsorted", "smallbin_chunks": "smallbin",
         "largebin_chunks": "largebin"}


def analyze(c, tag, *extra):
    db = os.path.join(c.dir, "t0300-%s.db" % tag)
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, *extra)
    walker_warnings = [l for l in stderr_lines(err) if "glibc heap" in l]
    check(not walker_warnings, "%s: no glibc walker warning (got %s)" % (tag, walker_warnings[:3]))
    con = sqlite3.connect(db)
    objects, extra = {}, {}
    for addr, size, state, fl, flags, reachable in con.execute(
            "SELECT addr, size, state, free_list, flags, reachable FROM object"):
        objects[addr] = (size, state, fl)
        extra[addr] = (flags, reachable)
    main_heaps = sorted(con.execute(
        "SELECT start, end FROM heap WHERE kind = 'main_arena'"))
    all_heaps = list(con.execute("SELECT start, end, kind FROM heap"))
    stats = dict(con.execute(
        "SELECT name, value FROM allocator_stat WHERE source = 'mallinfo2'"))
    arenas = con.execute("SELECT count(*) FROM arena").fetchone()[0]
    heaps = con.execute(
        "SELECT count(*) FROM heap WHERE kind = 'arena'").fetchone()[0]
    per_list = dict(con.execute(
        "SELECT free_list, count(*) FROM object WHERE state = 'free' GROUP BY free_list"))
    mmapped = con.execute(
        "SELECT count(*) FROM object WHERE flags & 2").fetchone()[0]
    con.close()
    return objects, stats, arenas, heaps, per_list, mmapped, extra, main_heaps, all_heaps


def check_internals(m, objects, extra):
    """The used chunks are the held pointers, the DTVs pthread_create calloc'ed
    and the tcache structs (allocator metadata): nothing else, so no fencepost
    or foreign memory is listed as a chunk."""
    held = {parse_addr(h["addr"]) for h in m["held"]}
    dtvs = {parse_addr(i["addr"]) for i in m.get("internal", [])}
    used = {a for a, o in objects.items() if o[1] == "used"}
    meta = {a for a in used if extra[a][0] & 256}
    if m.get("held_complete", True):
        other = used - held - dtvs - meta
        check(not other, "every used chunk is held, a DTV or a tcache (%d others: %s)"
              % (len(other), [hex(a) for a in sorted(other)[:4]]))
    missing = dtvs - used
    check(not missing, "the %d DTVs are used chunks (missing %s)"
          % (len(dtvs), [hex(a) for a in sorted(missing)]))


def check_fenceposts(m, objects, extra, main_heaps, all_heaps):
    """sysmalloc's fenceposts are no chunk; the main arena's segments are its heaps;
    foreign memory next to them is no heap, and what it points to is reachable."""
    chunks = sorted(a - 16 for a in objects)
    for f in m.get("fenceposts", []):
        lo, hi = parse_addr(f["start"]), parse_addr(f["end"])
        inside = [hex(c) for c in chunks if lo <= c < hi]
        check(not inside, "%s arena, top of %d bytes closed at 0x%x: no chunk in its fenceposts "
              "0x%x-0x%x (found %s)" % (f["arena"], f["top_size"], parse_addr(f["top"]), lo, hi,
                                         inside[:3]))
    segs = sorted((parse_addr(g["start"]), parse_addr(g["end"])) for g in m.get("main_segments", []))
    if segs:
        check_eq([(hex(a), hex(b)) for a, b in main_heaps], [(hex(a), hex(b)) for a, b in segs],
                 "the main arena's heaps are its segments")
    for fr in m.get("foreign", []):
        lo, hi = parse_addr(fr["start"]), parse_addr(fr["end"])
        over = [(hex(a), hex(b), k) for a, b, k in all_heaps if a < hi and lo < b]
        check(not over, "foreign memory (%s) 0x%x-0x%x is in no heap (overlaps %s)"
              % (fr["what"], lo, hi, over))
        held_by = parse_addr(fr["holds"])
        check_eq(extra.get(held_by, (0, None))[1], 1,
                 "the chunk 0x%x that only foreign memory (%s) points to is reachable"
                 % (held_by, fr["what"]))


def check_scenario(scenario, dumper):
    c = corpus_core("heap", (scenario,), dumper=dumper)
    m = c.manifest["malloc"]
    exp = c.manifest.get("expect", {})
    objects, stats, arenas, heaps, per_list, mmapped, extra, main_heaps, all_heaps = \
        analyze(c, "debug")
    check_internals(m, objects, extra)
    check_fenceposts(m, objects, extra, main_heaps, all_heaps)

    held = m["held"]
    missing = [h for h in held if parse_addr(h["addr"]) not in objects]
    check(not missing, "%d of %d held pointers found (missing e.g. %s)"
          % (len(held) - len(missing), len(held), [h["addr"] for h in missing[:3]]))
    wrong = []
    for h in held:
        o = objects.get(parse_addr(h["addr"]))
        if o and (o[0] != h["usable"] or o[1] != "used"):
            wrong.append((h["addr"], h["usable"], o))
    check(not wrong, "held pointers are used objects of their usable size (wrong: %s)" % wrong[:3])
    if m.get("held_complete", True) is False:
        used = sum(1 for o in objects.values() if o[1] == "used")
        check(used >= m["held_count"], "at least held_count=%d used objects (got %d)"
              % (m["held_count"], used))

    bad = []
    for f in m["freed"]:
        where, a = f.get("where"), parse_addr(f["addr"])
        o = objects.get(a)
        if where in ("tcache", "fastbin", "unsorted", "smallbin", "largebin"):
            if not o or o[1] != "free" or o[2] != where:
                bad.append((f["addr"], where, o))
        elif where in ("merged",):
            if o is not None:
                bad.append((f["addr"], where, o))
        elif where == "unmapped":
            if o is not None and o[1] == "used" and not any(
                    parse_addr(h["addr"]) == a for h in held):
                bad.append((f["addr"], where, o))
    check(not bad, "%d freed pointers are where the program says (wrong: %s)"
          % (len(m["freed"]), bad[:3]))

    for k in MALLINFO:
        check_eq(stats.get(k), m["mallinfo2"][k], "mallinfo2.%s" % k)

    if "arenas" in exp:
        check_eq(arenas, exp["arenas"], "arenas")
    if "non_main_heaps" in exp:
        check_eq(heaps, exp["non_main_heaps"], "heap_info segments of non-main arenas")
    if "mmapped_chunks" in exp:
        check_eq(mmapped, exp["mmapped_chunks"], "mmapped chunks")
    for key, lst in LISTS.items():
        if key in exp:
            check_eq(per_list.get(lst, 0), exp[key], "chunks in %s lists" % lst)

    # Without libc's debug info: main_arena and mp_ from code and data.
    objects2, stats2, arenas2, *_ = analyze(c, "nodebug", "--no-default-debug-dirs")
    check(objects2 == objects, "the same %d objects without libc debug info (%d differ)"
          % (len(objects), len(set(objects.items()) ^ set(objects2.items()))))
    check_eq(stats2, stats, "the same mallinfo2 without libc debug info")

    info = cprof("info", c.core, c.exe, "--json", json=True)
    allocs = [a for a in info.get("allocators", []) if a.get("name") == "glibc"]
    check(len(allocs) == 1, "info --json lists the glibc allocator")
    if allocs:
        check_eq(allocs[0].get("mallinfo2"), {k: m["mallinfo2"][k] for k in MALLINFO},
                 "info --json mallinfo2")
        v = allocs[0].get("version", "")
        check(v.startswith("2.") and v[2:].isdigit(), "a glibc version is reported (%r)" % v)


for s in SCENARIOS:
    with case(s):
        check_scenario(s, None)
for s in ["threads", "multiheap", "fencepost", "noncontig"]:
    if "gcore" in available_dumpers():
        with case(s + "/gcore"):
            check_scenario(s, "gcore")
    elif REQUIRE_ALL:
        fail("gcore is not available (CPROF_REQUIRE_ALL=1)")
finish()
