#!/usr/bin/env python3
"""t0500: leak classification against valgrind memcheck and the program's own manifest.

For every scenario of corpus/leaks.c (list, tree, cycle, shared, stack, tls, register,
interior, freed, globals, all), in two cases:

<scenario>/oracle - the oracle itself, without cprof-core:
  - valgrind (tests/lib: valgrind_leaks, --leak-check-heuristics=none), run to the
    point where the program would park, reports exactly the figures the manifest of
    that same run predicts (definitely, indirectly, possibly and still reachable
    lost: blocks and requested bytes), and the figures the native run's manifest
    predicts: valgrind's layout differs, its numbers do not;
  - the native run and the valgrind run made the same blocks (group, name, request,
    classes, holds);
  - the core holds what the manifest claims (an independent scan of every word of
    the core): no leaked block is pointed to by anything but leaked or freed blocks,
    a direct block outside a cycle by nothing but freed ones; interior_only blocks
    have no start pointer except from interior_only blocks; the register-held block
    is in r12 of its thread and in no word of memory and no other register (vector
    registers included: every word of each thread's NT_X86_XSTATE note). glibc's
    own pointers to chunk headers (av->top, bins, fastbinsY: value == block + size - 8,
    the next chunk's prev_size field inside a 16k+8 block) are the one allowed
    exception: allocator metadata, which a leak detector must not take as roots.
<scenario>/cprof - `cprof-core analyze` and `cprof-core leaks --json`:
  - summary.direct == valgrind's "definitely lost", summary.indirect == "indirectly
    lost" (count and bytes, exactly); summary.interior_only.count == "possibly lost"
    blocks. valgrind's "possibly lost" = reachable only through chains holding an
    interior pointer, which is what cprof-core's interior_only means (docs/leaks.md):
    it includes C1 (interior scenario: a start pointer, but from an interior_only
    block) and glibc's DTV of every thread the program made (the TCB points 16 bytes
    into it). Its bytes are compared with the manifest (usable sizes: a DTV's usable
    size exceeds its request, which is what valgrind counts);
  - the summary equals the manifest's expect_summary (direct, indirect,
    interior_only; reachable at least the program's own);
  - every block of the manifest has its class in cprof.db's object table (reachable,
    interior_only, leak; free chunks in their free list), every leak root its holds;
  - leaks[] are exactly the manifest's direct blocks, biggest holds_bytes first; the
    sum of holds_bytes is direct + indirect bytes in every scenario without sharing
    (all but `shared` and `all`, where two roots hold the same chunks).
`all` is also dumped with gcore (when available) for both cases.
"""
import bisect
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

SCENARIOS = ["list", "tree", "cycle", "shared", "stack", "tls", "register", "interior",
             "freed", "globals", "all"]
SHARING = {"shared", "all"}   # a leaked chunk held by two leak roots
LEAKED = ("direct", "indirect")


def sums(blocks, field, key):
    """{class: (count, bytes)} of BLOCKS by FIELD, bytes summed over KEY."""
    out = {}
    for b in blocks:
        c, n = out.get(b[field], (0, 0))
        out[b[field]] = (c + 1, n + b[key])
    return out


def cn(d):
    """{"count", "bytes"} -> (count, bytes)"""
    return (d["count"], d["bytes"]) if isinstance(d, dict) else None


def shape(m):
    """What must be the same in every run of a scenario, whatever the addresses: all
    but a DTV's size, which grows with the number of modules with TLS (liblsan has
    some)."""
    keys = ("group", "name", "request", "expect", "valgrind", "lsan", "holds_count",
            "holds_bytes", "free_list", "register")
    return [tuple(None if k == "request" and b["name"] == "dtv" else b.get(k) for k in keys)
            for b in m["blocks"]]


def check_manifest_sums(m):
    """The program's own totals agree with its blocks."""
    bl = m["blocks"]
    cp = sums(bl, "expect", "size")
    for k in ("direct", "indirect", "interior_only"):
        check_eq(cn(m["expect_summary"][k]), cp.get(k, (0, 0)),
                 "manifest expect_summary.%s is the sum of its blocks" % k)
    vg = sums(bl, "valgrind", "request")
    for k in ("definitely", "indirectly", "possibly"):
        check_eq(cn(m["expect_valgrind"][k]), vg.get(k, (0, 0)),
                 "manifest expect_valgrind.%s is the sum of its blocks" % k)
    odd = [(b["group"], b["name"], b["size"], b["request"]) for b in bl
           if b["name"] != "dtv" and (b["size"] != b["request"] or b["request"] % 16 != 8)]
    check(not odd, "the program's blocks have usable size == request, 16k+8 (not: %s)" % odd[:4])
    check(m["scenario"] == "all" or all(b["group"] == m["scenario"] for b in bl),
          "every block belongs to the scenario")


def check_valgrind(s, c, vg):
    for label, m in (("the valgrind run's manifest", vg.manifest),
                     ("the native run's manifest", c.manifest)):
        if m is None:
            check(False, "valgrind run of leaks %s wrote no manifest" % s)
            continue
        for k in ("definitely", "indirectly", "possibly"):
            check_eq(vg[k], (m["expect_valgrind"][k]["bytes"], m["expect_valgrind"][k]["count"]),
                     "valgrind %s lost (bytes, blocks) as %s predicts" % (k, label))
        reach = [b for b in m["blocks"] if b["valgrind"] == "reachable"]
        check_eq(vg["reachable"], (sum(b["request"] for b in reach), len(reach)),
                 "valgrind still reachable (bytes, blocks): exactly the program's reachable "
                 "blocks (%s)" % label)
    check_eq(vg["suppressed"], (0, 0), "valgrind suppressed nothing")
    if vg.manifest:
        check_eq(vg.manifest.get("mode"), "valgrind", "the valgrind run knew it ran under valgrind")
        check_eq(shape(vg.manifest), shape(c.manifest),
                 "the valgrind run made the same blocks as the native one")


class Where:
    """Which manifest block holds an address."""

    def __init__(self, blocks):
        self.bl = sorted(blocks, key=lambda b: parse_addr(b["addr"]))
        self.los = [parse_addr(b["addr"]) for b in self.bl]

    def __call__(self, a):
        j = bisect.bisect_right(self.los, a) - 1
        if j >= 0 and a < self.los[j] + self.bl[j]["size"]:
            return self.bl[j]
        return None


def check_core(c):
    """The core holds what the manifest says: an independent scan of its words."""
    m = c.manifest
    e = Elf(c.core)
    bl = m["blocks"]
    live = [b for b in bl if b["expect"] != "free"]
    where = Where(bl)
    hits = e.core_words_in([(parse_addr(b["addr"]), parse_addr(b["addr"]) + b["size"])
                            for b in live])
    refs = {id(b): [] for b in live}
    for w, v, i in hits:
        b = live[i]
        if v == parse_addr(b["addr"]) + b["size"] - 8:
            continue  # glibc's pointer to the next chunk's header (see the docstring)
        refs[id(b)].append((w, v - parse_addr(b["addr"]), where(w)))
    regs = e.core_registers()
    check_eq(sorted(regs), sorted(t["tid"] for t in m["threads"]), "the core's threads")
    # Vector registers are registers too: the program clears them before it parks
    # (glibc's string functions leave pointers there, in lanes that vary by CPU).
    for tid, words in e.core_vector_words().items():
        regs.setdefault(tid, {}).update(words)

    def desc(r):
        w, off, src = r
        return "%#x (+%d) in %s" % (w, off, "%s/%s" % (src["group"], src["name"]) if src
                                     else "no block")

    bad = []
    for b in live:
        lo = parse_addr(b["addr"])
        rs = refs[id(b)]
        in_regs = [(tid, r) for tid, rr in regs.items() for r, v in rr.items()
                   if lo <= v < lo + b["size"]]
        name = "%s/%s" % (b["group"], b["name"])
        if b["expect"] in LEAKED:
            for r in rs:
                if r[2] is None or r[2]["expect"] not in LEAKED + ("free",):
                    bad.append("leaked %s is pointed to from %s" % (name, desc(r)))
                elif (b["expect"] == "direct" and b["group"] != "cycle"
                      and r[2]["expect"] != "free"):
                    bad.append("direct %s is pointed to from %s" % (name, desc(r)))
            if in_regs:
                bad.append("leaked %s is in registers %s" % (name, in_regs))
        elif b["expect"] == "interior_only":
            for r in rs:
                if r[1] == 0 and (r[2] is None or r[2]["expect"] != "interior_only"):
                    bad.append("interior_only %s has a start pointer from %s" % (name, desc(r)))
            if any(v == lo for tid, r in in_regs for v in [regs[tid][r]]):
                bad.append("interior_only %s: a register points to its start" % name)
        if b.get("register"):
            check_eq(regs.get(b["tid"], {}).get(b["register"]), lo,
                     "%s: %s of thread %d holds its address" % (name, b["register"], b["tid"]))
            check(not rs, "%s: no word of the core's memory points into it (found: %s)"
                  % (name, [desc(r) for r in rs][:4]))
            check_eq(in_regs, [(b["tid"], b["register"])],
                     "%s: no other register points into it" % name)
        elif b["expect"] in ("reachable", "interior_only"):
            if not rs and not in_regs:
                bad.append("reachable %s: nothing points to it" % name)
    check(not bad, "the core holds the pointers the manifest describes (%d problems: %s)"
          % (len(bad), bad[:6]))


def analyze(c, tag):
    db = os.path.join(c.dir, "%s-%s.db" % (TEST_NAME, tag))
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db)
    warnings = [l for l in stderr_lines(err) if "glibc heap" in l]
    check(not warnings, "no glibc walker warning (got %s)" % warnings[:3])
    return db


def db_objects(db):
    """{addr: row} of the object table with the leak columns; fails clearly when
    the database has none."""
    con = sqlite3.connect(db)
    try:
        cur = con.execute("SELECT addr, size, state, free_list, reachable, interior_only, "
                          "leak, holds_count, holds_bytes FROM object")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
    except sqlite3.OperationalError as e:
        fail("%s: the object table has no leak columns (reachable, interior_only, leak, "
             "holds_count, holds_bytes): %s - does `analyze` run the leak analysis?" % (db, e))
    finally:
        con.close()


def check_blocks(m, objs):
    bad = []
    for b in m["blocks"]:
        o = objs.get(parse_addr(b["addr"]))
        name = "%s/%s %s" % (b["group"], b["name"], b["addr"])
        if o is None:
            bad.append("%s: no object at that address" % name)
            continue
        x = b["expect"]
        if x == "free":
            got = (o["state"], o["free_list"])
            want = ("free", b["free_list"])
        else:
            got = (o["state"], o["size"], o["reachable"], o["interior_only"] or 0, o["leak"])
            want = ("used", b["size"], 0 if x in LEAKED else 1,
                    1 if x == "interior_only" else 0, x if x in LEAKED else None)
            if x == "direct":
                got += (o["holds_count"], o["holds_bytes"])
                want += (b["holds_count"], b["holds_bytes"])
        if got != want:
            bad.append("%s (%s): expected %s, got %s" % (name, x, want, got))
    check(not bad, "each of the %d manifest blocks has its class in cprof.db "
          "((state, size, reachable, interior_only, leak[, holds_count, holds_bytes]) or "
          "(state, free_list)); wrong: %d: %s" % (len(m["blocks"]), len(bad), bad[:5]))


def check_cprof(s, c, vg):
    m = c.manifest
    db = analyze(c, c.dumper)
    j = cprof("leaks", "--db", db, "--json", json=True)
    sm = j.get("summary") or fail("leaks --json has no summary: %s" % str(j)[:300])
    if vg is not None:
        check_eq(cn(sm.get("direct")), (vg["definitely"][1], vg["definitely"][0]),
                 "summary.direct (count, bytes) == valgrind's definitely lost")
        check_eq(cn(sm.get("indirect")), (vg["indirectly"][1], vg["indirectly"][0]),
                 "summary.indirect (count, bytes) == valgrind's indirectly lost")
        check_eq((sm.get("interior_only") or {}).get("count"), vg["possibly"][1],
                 "summary.interior_only.count == valgrind's possibly lost blocks")
    es = m["expect_summary"]
    for k in ("direct", "indirect", "interior_only"):
        check_eq(cn(sm.get(k)), cn(es[k]), "summary.%s (count, bytes) == the manifest's" % k)
    r = cn(sm.get("reachable")) or (0, 0)
    check(r[0] >= es["reachable"]["count"] and r[1] >= es["reachable"]["bytes"],
          "summary.reachable %s covers at least the program's reachable blocks %s"
          % (r, cn(es["reachable"])))

    check_blocks(m, db_objects(db))

    leaks = j.get("leaks")
    if not isinstance(leaks, list):
        fail("leaks --json: no leaks list")
    direct = {parse_addr(b["addr"]): b for b in m["blocks"] if b["expect"] == "direct"}
    got = {}
    for l in leaks:
        got[parse_addr(l.get("addr", "0"))] = l
    check_eq(sorted(got), sorted(direct), "leaks[] are the manifest's direct blocks (addresses)")
    wrong = [(b["name"], (b["size"], b["holds_count"], b["holds_bytes"]),
              (got[a].get("size"), got[a].get("holds_count"), got[a].get("holds_bytes")))
             for a, b in direct.items() if a in got and
             (got[a].get("size"), got[a].get("holds_count"), got[a].get("holds_bytes"))
             != (b["size"], b["holds_count"], b["holds_bytes"])]
    check(not wrong, "leaks[]: size, holds_count, holds_bytes as the manifest says "
          "(wrong: (name, expected, got) %s)" % wrong[:4])
    hb = [l.get("holds_bytes", 0) for l in leaks]
    check(hb == sorted(hb, reverse=True), "leaks[] biggest holds_bytes first (%s)" % hb)
    check_eq(sum(hb), sum(b["holds_bytes"] for b in direct.values()),
             "sum of holds_bytes == the manifest's")
    if s not in SHARING:
        check_eq(sum(hb), es["direct"]["bytes"] + es["indirect"]["bytes"],
                 "no sharing: sum of holds_bytes == direct + indirect bytes")
        check_eq(sum(l.get("holds_count", 0) for l in leaks),
                 es["direct"]["count"] + es["indirect"]["count"],
                 "no sharing: sum of holds_count == direct + indirect count")


def run(s, dumper):
    tag = s if dumper is None else "%s/%s" % (s, dumper)
    state = {}
    with case(tag + "/oracle"):
        c = corpus_core("leaks", (s,), dumper=dumper)
        state["c"] = c
        check_eq(c.manifest.get("scenario"), s, "the manifest's scenario")
        check_manifest_sums(c.manifest)
        check_core(c)
        vg = valgrind_leaks("leaks", (s,))
        state["vg"] = vg
        check_valgrind(s, c, vg)
    with case(tag + "/cprof"):
        if "c" not in state:
            fail("no core (see the oracle case)")
        check_cprof(s, state["c"], state.get("vg"))


for s in SCENARIOS:
    run(s, None)
if "gcore" in available_dumpers():
    run("all", "gcore")
elif REQUIRE_ALL:
    with case("all/gcore"):
        fail("gcore is not available (CPROF_REQUIRE_ALL=1)")
finish()
