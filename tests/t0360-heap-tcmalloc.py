#!/usr/bin/env python3
"""t0360: the tcmalloc (gperftools) heap against tcmalloc's own figures and the
program's record of every block (corpus/tcmalloc.c).

tcmalloc-minimal (-ltcmalloc_minimal) and tcmalloc-full (-ltcmalloc) run four
threads that keep, drop and free blocks of every small size class (their thread
caches full), a fifth that frees 1000 blocks and exits (its cache goes to the
transfer cache), and a main thread that also frees large blocks before and after
MallocExtension_ReleaseFreeMemory (free spans, normal and returned). Once every
thread is parked the program records MallocExtension's figures, and allocates
nothing more. From a kernel core and a gcore core of each:
  - `info`: malloc is tcmalloc, the version tc_version() said, in the module
    dladdr(malloc) named, and its heap is walked;
  - `analyze --json`: the allocator's MallocExtension figures equal the seven
    properties the program read (generic.current_allocated_bytes,
    generic.heap_size, tcmalloc.pageheap_free_bytes, pageheap_unmapped_bytes,
    central_cache_free_bytes, transfer_cache_free_bytes, thread_cache_free_bytes),
    its used bytes equal generic.current_allocated_bytes, and no warning;
  - cprof.db: every held and dropped block is a used object with the usable size
    tc_malloc_size gave; every freed address not handed out again lies in a free
    object, a recorded block, or bytes of a span no object holds (a size-class
    span's tail, a sampled span past its object); the free objects' bytes per
    list equal the matching property
    (thread_cache, transfer_cache, pageheap, pageheap_unmapped; central_cache
    with the spans' unused tails, which are heap_size less every object's
    bytes); each thread's cache holds the bytes MallocExtension_GetThreadCacheSize
    gave in that thread; every object lies in a heap of tcmalloc's and the heaps
    add up to generic.heap_size;
  - leaks by construction: every dropped block is a leak root, every held one
    reachable; the construction itself checked by a scan of the core's words and
    registers (no pointer into a dropped block outside tcmalloc's heaps and
    globals or inside a held block; the exited thread's stack not in the core);
  - the summary has tcmalloc's section under MallocExtension's names.
tcmalloc-full again with TCMALLOC_SAMPLE_PARAMETER=32768 (sampled allocations in
spans of their own, flag 0x80): the same figures and sizes, and the used bytes below
generic.current_allocated_bytes, which counts a sampled allocation's whole span
(the leak check is left out there: see docs/tcmalloc.md's known limits).
Then damaged copies of a core (a thread cache's list in its middle and at its end,
a span's free list, the thread cache chain made a loop): a warning naming what is
wrong, exit status 0, and every held block still found with its size.
"""
import bisect
import json
import os
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F403

PROGRAMS = ("tcmalloc-minimal", "tcmalloc-full")
# The full build samples allocations when TCMALLOC_SAMPLE_PARAMETER is set (the
# minimal one is built without sampling): a sampled allocation gets a span of
# its own, and tc_malloc_size says its request's class size.
SAMPLED = "tcmalloc-sampled"
PROGRAM_ENV[SAMPLED] = {"TCMALLOC_SAMPLE_PARAMETER": "32768"}
# The free lists, by the property that counts them.
LISTS = {
    "thread_cache": "tcmalloc.thread_cache_free_bytes",
    "transfer_cache": "tcmalloc.transfer_cache_free_bytes",
    "pageheap": "tcmalloc.pageheap_free_bytes",
    "pageheap_unmapped": "tcmalloc.pageheap_unmapped_bytes",
}


def blocks(m, key):
    return {parse_addr(b["addr"]): b for b in m[key]}


def stale_words(c, heaps, held, leaked):
    """The program's claim that dropped blocks are unreachable, checked on the
    core without cprof-core's scan: every word of the core's memory, registers
    and vector registers whose value points into a dropped block, unless it lies
    in tcmalloc's heaps outside every held block (in a free object, or in another
    dropped block) or in tcmalloc's own globals (the module's writable segments,
    as the program found them: stale pointers stay in its transfer cache slots
    past used_slots_, and docs/tcmalloc.md says its page heap, central cache and
    size map are never roots); and the exited
    thread's stack, which the program unmapped, must not be in the core. Returns
    what is wrong, at most 5 items."""
    e = Elf(c.core)
    lo, hi = (parse_addr(x) for x in c.manifest["exited_stack"])
    bad = ["the core holds memory at the exited thread's stack %#x-%#x" % (lo, hi)
           for p in e.loads if p["vaddr"] < hi and lo < p["vaddr"] + p["memsz"]][:1]
    drops = sorted((ad, ad + b["usable"]) for ad, b in leaked.items())
    holds = sorted((ad, ad + b["usable"]) for ad, b in held.items())
    tc_lo, tc_hi = (parse_addr(x) for x in c.manifest["tcmalloc"]["globals"])

    def inside(ranges, a):
        i = bisect.bisect_right(ranges, (a, 2**64)) - 1
        return i >= 0 and a < ranges[i][1]
    heaps = sorted(heaps)
    for w, v, _ in e.core_words_in(drops):
        if inside(holds, w):
            bad.append("the word at %#x, in a held block, points to %#x" % (w, v))
        elif not inside(heaps, w) and not tc_lo <= w < tc_hi:
            bad.append("the word at %#x, outside the heaps, points to %#x" % (w, v))
    regs = e.core_registers()
    for tid, words in e.core_vector_words().items():
        regs.setdefault(tid, {}).update(words)
    bad += ["thread %d's %s points to %#x" % (tid, r, v) for tid, rr in sorted(regs.items())
            for r, v in rr.items() if inside(drops, v)]
    return bad[:5]


def check_walk(tag, c, db, sampled=False):
    m = c.manifest
    tc = m["tcmalloc"]
    props = tc["properties"]
    version = tc["version"].split()[-1]          # "gperftools 2.10"
    module = os.path.basename(tc["module"])

    info = cprof("info", c.core, c.exe, "--json", json=True)
    serving = [(a["name"], a["version"], a["module"], a["walked"])
               for a in info["allocators"] if a["serves_malloc"]]
    check_eq(serving, [("tcmalloc", version, module, True)],
             "%s: info: malloc is tcmalloc %s in %s, walked" % (tag, version, module))

    for p in (db, db + ".old"):
        if os.path.exists(p):
            os.unlink(p)
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, "--json", expect_rc=0)
    check_eq([l for l in stderr_lines(err) if "warning" in l], [], "%s: no warning" % tag)
    j = json.loads(out)
    al = [a for a in j["allocators"] if a["name"] == "tcmalloc"]
    if len(al) != 1:
        fail("%s: analyze --json has no tcmalloc allocator: %s" % (tag, j["allocators"]))
    a = al[0]
    check_eq(a.get("MallocExtension"), props,
             "%s: the walk's MallocExtension figures equal the program's" % tag)
    if not sampled:
        check_eq(a["used_bytes"], props["generic.current_allocated_bytes"],
                 "%s: used bytes == generic.current_allocated_bytes" % tag)

    con = sqlite3.connect(db)
    objs = {r[0]: r[1:] for r in con.execute(
        "SELECT addr, size, state, free_list, leak, reachable, flags FROM object")}
    held, leaked = blocks(m, "held"), blocks(m, "leaked")
    for key, recs in (("held", held), ("leaked", leaked)):
        bad = [(hex(ad), b["usable"], objs.get(ad)) for ad, b in recs.items()
               if objs.get(ad, (None, None))[:2] != (b["usable"], "used")]
        check_eq(bad[:5], [], "%s: every one of the %d %s blocks is a used object of its usable size"
                 % (tag, len(recs), key))
    # A freed block's address is now a free object, or inside one (its span
    # went back to the page heap), or inside a block the program holds (the
    # span was carved again for another size), or in bytes of a span that no
    # object holds (the span was carved again): the tail of a size-class span
    # (less than one slot, before a span boundary), or, with sampling, what a
    # sampled allocation's span holds past its object.
    freed = {parse_addr(x) for x in m["freed"]} - set(held) - set(leaked)
    starts = sorted(objs)
    recorded = set(held) | set(leaked)
    heaps = con.execute("SELECT start, end FROM heap WHERE allocator = 'tcmalloc'").fetchall()

    def container(ad):
        i = bisect.bisect_right(starts, ad) - 1
        if i >= 0 and ad < starts[i] + objs[starts[i]][0]:
            return starts[i]
        return None

    def no_object(ad):
        """What holds ad, in a heap but in no object: 'tail', 'sampled' or None."""
        i = bisect.bisect_right(starts, ad) - 1
        heap_end = [e for s, e in heaps if s <= ad < e]
        if i < 0 or not heap_end:
            return None
        prev, size, flags = starts[i], objs[starts[i]][0], objs[starts[i]][5]
        gap_end = min(heap_end + starts[i + 1:i + 2])
        if gap_end % 4096:
            return None                # no span boundary there
        if 0 < flags < 128 and gap_end - (prev + size) < size:
            return "tail"
        if flags == 128 and sampled:
            return "sampled"
        return None
    bad, gaps = [], {}
    for ad in sorted(freed):
        o = container(ad)
        gap = no_object(ad) if o is None else None
        if gap:
            gaps[gap] = gaps.get(gap, 0) + 1
        elif o is None or (objs[o][1] != "free" and o not in recorded):
            bad.append((hex(ad), o and hex(o), o and objs[o][:3]))
    check_eq(bad[:5], [], "%s: each of the %d freed blocks not handed out again lies in a free"
             " object, a recorded block, a span's tail or a sampled span (%s)"
             % (tag, len(freed), gaps))
    check(sum(1 for ad in freed if objs.get(ad, (0, None))[1] == "free") > len(freed) // 2,
          "%s: most freed blocks are free objects of their own" % tag)
    # With sampling, the StackTrace records of freed sampled allocations
    # (tcmalloc's metadata, outside the heap) hold stale stack words: a dropped
    # block may look reachable from there (docs/tcmalloc.md, known limits).
    if not sampled:
        check_eq(stale_words(c, heaps, held, leaked), [],
                 "%s: the core's own words: none outside tcmalloc's heaps, in a held block or"
                 " in a register points into a dropped block" % tag)
        check_eq([hex(ad) for ad in leaked if objs[ad][3] != "direct"][:5], [],
                 "%s: every dropped block is a leak root" % tag)
    check_eq([hex(ad) for ad in held if objs[ad][4] != 1][:5], [],
             "%s: every held block is reachable" % tag)

    per_list = dict(con.execute("SELECT free_list, sum(size) FROM object WHERE state = 'free'"
                                " GROUP BY free_list"))
    for fl, prop in LISTS.items():
        check_eq(per_list.get(fl, 0), props[prop], "%s: free objects in %s: %s" % (tag, fl, prop))
    total = con.execute("SELECT sum(size) FROM object").fetchone()[0]
    tails = props["generic.heap_size"] - total
    if not sampled:   # (a sampled object is smaller than its span)
        check(0 <= tails < props["tcmalloc.central_cache_free_bytes"] + 1,
              "%s: the spans' tails are %d bytes" % (tag, tails))
        check_eq(per_list.get("central_cache", 0) + tails,
                 props["tcmalloc.central_cache_free_bytes"],
                 "%s: central cache objects and span tails: tcmalloc.central_cache_free_bytes"
                 % tag)
    caches = sorted(b for (b,) in con.execute(
        "SELECT free_bytes FROM arena WHERE allocator = 'tcmalloc' AND kind = 'thread_cache'") if b)
    check_eq(caches, sorted(b for b in tc["thread_cache_bytes"] if b),
             "%s: each thread's cache holds what MallocExtension_GetThreadCacheSize said" % tag)
    check_eq(sum(e - s for s, e in heaps), props["generic.heap_size"],
             "%s: tcmalloc's heaps add up to generic.heap_size" % tag)
    outside = con.execute("SELECT count(*) FROM object o JOIN heap h ON o.heap_id = h.id"
                          " WHERE h.allocator != 'tcmalloc' OR o.addr < h.start"
                          " OR o.addr + o.size > h.end").fetchone()[0]
    check_eq(outside, 0, "%s: every object lies in its tcmalloc heap" % tag)

    if sampled:
        # tcmalloc counts a sampled allocation's whole span as allocated; its
        # object is as big as tc_malloc_size says.
        n = con.execute("SELECT count(*) FROM object WHERE flags = 128").fetchone()[0]
        rec = set(held) | set(leaked)
        sampled_rec = [ad for (ad,) in con.execute("SELECT addr FROM object WHERE flags = 128")
                       if ad in rec]
        check(len(sampled_rec) >= 10, "%s: %d recorded blocks were sampled (%d objects)"
              % (tag, len(sampled_rec), n))
        check(a["used_bytes"] < props["generic.current_allocated_bytes"],
              "%s: used bytes %d < generic.current_allocated_bytes %d (sampled spans' slack)"
              % (tag, a["used_bytes"], props["generic.current_allocated_bytes"]))
    rc, text, err = cprof("analyze", c.core, c.exe, "--db", db, expect_rc=0)
    sec = text[text.find("tcmalloc %s (MallocExtension" % version):]
    check(sec and all(p in sec for p in props),
          "%s: the summary's tcmalloc section names every property: %s" % (tag, sec[:600]))
    return objs


def thread_cache_objects(con, d):
    """Two free objects of thread caches, from the walk and the core: one whose
    link (its first word) is another thread cache object (the list goes on
    after it), and one whose link is NULL (the last of its list)."""
    objs = [a for (a,) in con.execute("SELECT addr FROM object WHERE free_list = 'thread_cache'"
                                      " ORDER BY addr")]
    cached = set(objs)
    links = [(a, d.read64(a)) for a in objs]
    middle = [a for a, nx in links if nx in cached]
    last = [a for a, nx in links if nx == 0]
    if not middle or not last:
        fail("no thread cache list of two objects or more (%d objects)" % len(objs))
    return middle[len(middle) // 2], last[len(last) // 2]


def check_damaged(tag, c, db):
    """Damage, analyze, restore: a warning, and every held block still found."""
    held = blocks(c.manifest, "held")
    con = sqlite3.connect(db)
    d = Damaged(c, "damaged.core")
    dbd = os.path.join(c.dir, "damaged.db")

    def survived(what):
        con2 = sqlite3.connect(dbd)
        objs = dict(con2.execute("SELECT addr, size FROM object WHERE state = 'used'"))
        con2.close()
        check_eq([hex(ad) for ad, b in held.items() if objs.get(ad) != b["usable"]][:5], [],
                 "%s: %s: every held block is still found with its size" % (tag, what))

    # A thread cache's list: an object's link made to point into the middle of
    # another object. In the middle of its list, the walk follows the link and
    # finds it misaligned; at the end of its list (where the link must be NULL),
    # the walk, which follows no more links than the list's length_ counts,
    # finds a list longer than its count.
    middle, last = thread_cache_objects(con, d)
    for ad, what, words in ((middle, "in the middle of its list", "misaligned"),
                            (last, "at the end of its list", "holds more than its")):
        d.write64(ad, ad + 3)
        rc, lines = analyze_damaged(d, c, "%s: thread cache link %s" % (tag, what), dbd)
        check(rc == 0 and warned(lines, "thread cache", words),
              "%s: a broken thread cache link %s is a warning (%s): %s"
              % (tag, what, words, lines[:3]))
        if rc == 0:
            survived("broken thread cache link %s" % what)
        d.restore()

    # A span's own free list (the central cache) leaving its span.
    ad = con.execute("SELECT addr FROM object WHERE free_list = 'central_cache'"
                     " ORDER BY addr LIMIT 1").fetchone()[0]
    d.write64(ad, 0x10)
    rc, lines = analyze_damaged(d, c, "%s: central free list" % tag, dbd)
    check(rc == 0 and (warned(lines, "span", "free list") or warned(lines, "span", "not in the core")),
          "%s: a span's free list leaving its span is a warning: %s" % (tag, lines[:3]))
    if rc == 0:
        survived("a span's free list cut")
    d.restore()

    # The thread cache chain made a loop: ThreadCache::next_ of the last one
    # pointing to the first.
    caches = [a for (a,) in con.execute("SELECT addr FROM arena WHERE allocator = 'tcmalloc'"
                                        " AND kind = 'thread_cache' ORDER BY id")]
    if len(caches) >= 2:
        last, first = caches[-1], caches[0]
        # next_ is the word after tid_: find it as the word equal to 0 in the
        # last cache whose previous cache's same word points to the last one.
        prev = caches[-2]
        off = [o for o in range(4096, 4352, 8) if d.read64(prev + o) == last]
        if off:
            d.write64(last + off[0], first)
            rc, lines = analyze_damaged(d, c, "%s: thread cache loop" % tag, dbd)
            check(rc == 0 and warned(lines, "thread cache list", "loops"),
                  "%s: a loop of thread caches is a warning: %s" % (tag, lines[:3]))
            if rc == 0:
                survived("thread caches in a loop")
            d.restore()
        else:
            check(False, "%s: no next_ pointer found between the thread caches" % tag)
    con.close()


exes = {prog: require_corpus_program(prog) for prog in PROGRAMS}

for dumper in available_dumpers():
    for prog in PROGRAMS:
        tag = "%s/%s" % (prog, dumper)
        with case(tag):
            c = corpus_core(prog, dumper=dumper)
            db = os.path.join(c.dir, "t0360.db")
            check_walk(tag, c, db)
            if dumper == available_dumpers()[0]:
                check_damaged(tag, c, db)
    with case("%s/%s" % (SAMPLED, dumper)):
        c = corpus_core(SAMPLED, dumper=dumper, exe=exes["tcmalloc-full"])
        check_walk("%s/%s" % (SAMPLED, dumper), c, os.path.join(c.dir, "t0360.db"), sampled=True)

finish()
