#!/usr/bin/env python3
"""t0510: leak classification against LeakSanitizer, a second oracle.

corpus/leaks.c built with -fsanitize=leak (leaks-lsan) and run with CPROF_LSAN=1 calls
__lsan_do_recoverable_leak_check() where it would park (every thread still parked:
stacks, TLS and registers are roots), with report_objects=1 (tests/lib: lsan_leaks).

<scenario>/oracle - LeakSanitizer against the manifests, without cprof-core:
  - its Direct/Indirect leak totals (objects, requested bytes) and its SUMMARY equal
    what the manifest of its own run predicts (expect_lsan), and the native run's;
  - every object it lists (report_objects) is a block of its run's manifest with that
    class, and every leaked block of the manifest is listed;
  - its run made the same blocks as the native run.
<scenario>/cprof - `cprof-core leaks --json` on the native core against LeakSanitizer:
  - where the semantics agree - no leaked cycle - summary.direct and
    summary.indirect equal LSan's direct and indirect leaks (count and bytes);
  - LeakSanitizer reports a leaked cycle as all-indirect: a chunk is "direct" for it
    only when no other leaked chunk points to it, and every chunk of a ring or a
    doubly linked list is pointed to by another one, so the structure has no direct
    leak at all (cprof-core, like valgrind, makes the lowest address of such a
    component its leak root). For the scenarios with cycles (cycle, all) only the
    leaked totals (direct + indirect, count and bytes) must agree, and cprof-core has
    exactly one more direct leak per leaked cycle with no other leaked chunk pointing
    into it (the manifest's blocks with expect "direct" and lsan "indirect");
  - interior pointers: LSan, like cprof-core, keeps a chunk alive through a pointer
    into its middle (interior scenario: nothing of I1, C1, I2 is reported; the
    intrusive list, linked by interior pointers, is 1 direct + 3 indirect for both).
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

SCENARIOS = ["list", "tree", "cycle", "shared", "stack", "tls", "register", "interior",
             "freed", "globals", "all"]


def shape(m):
    """What must be the same in every run of a scenario, whatever the addresses: all
    but a DTV's size, which grows with the number of modules with TLS (liblsan has
    some)."""
    keys = ("group", "name", "request", "expect", "valgrind", "lsan", "holds_count",
            "holds_bytes", "free_list", "register")
    return [tuple(None if k == "request" and b["name"] == "dtv" else b.get(k) for k in keys)
            for b in m["blocks"]]


def lsan_blocks(m, kind):
    return [b for b in m["blocks"] if b["lsan"] == kind]


def check_oracle(s, c, ls):
    lm = ls.manifest
    if lm is None:
        fail("leaks-lsan %s wrote no manifest" % s)
    check_eq(lm.get("mode"), "lsan", "the LSan run knew it was one")
    check_eq(shape(lm), shape(c.manifest), "the LSan run made the same blocks as the native one")
    for label, m in (("its own run's manifest", lm), ("the native manifest", c.manifest)):
        for k in ("direct", "indirect"):
            e = m["expect_lsan"][k]
            check_eq(ls[k], (e["bytes"], e["count"]),
                     "LSan %s leaks (bytes, objects) as %s predicts" % (k, label))
    total = (ls["direct"][0] + ls["indirect"][0], ls["direct"][1] + ls["indirect"][1])
    check_eq(ls["summary"], total, "LSan's SUMMARY (bytes, allocations) == direct + indirect")
    want = {"0x%x" % parse_addr(b["addr"]): [b["request"], b["lsan"]]
            for b in lm["blocks"] if b["lsan"] in ("direct", "indirect")}
    got = ls["objects"]
    wrong = sorted("%s: expected %s, got %s" % (a, want.get(a), got.get(a))
                   for a in set(want) | set(got) if want.get(a) != got.get(a))
    check(not wrong, "LSan's leaked objects (report_objects) are the manifest's leaked "
          "blocks with their LSan class (%d differ: %s)" % (len(wrong), wrong[:5]))


def check_cprof(s, c, ls):
    db = os.path.join(c.dir, "%s-%s.db" % (TEST_NAME, c.dumper))
    cprof("analyze", c.core, c.exe, "--db", db)
    j = cprof("leaks", "--db", db, "--json", json=True)
    sm = j.get("summary") or fail("leaks --json has no summary: %s" % str(j)[:300])

    def cnt(k):
        d = sm.get(k) or {}
        return (d.get("count"), d.get("bytes"))

    lsan_direct = (ls["direct"][1], ls["direct"][0])
    lsan_indirect = (ls["indirect"][1], ls["indirect"][0])
    cycles = [b for b in c.manifest["blocks"] if b["expect"] == "direct" and b["lsan"] == "indirect"]
    if not cycles:
        check_eq(cnt("direct"), lsan_direct, "summary.direct (count, bytes) == LSan's direct leaks")
        check_eq(cnt("indirect"), lsan_indirect,
                 "summary.indirect (count, bytes) == LSan's indirect leaks")
    else:
        d, i = cnt("direct"), cnt("indirect")
        if None in d + i:
            fail("leaks --json summary lacks direct/indirect counts: %s" % sm)
        check_eq((d[0] + i[0], d[1] + i[1]),
                 (lsan_direct[0] + lsan_indirect[0], lsan_direct[1] + lsan_indirect[1]),
                 "leaked cycles: summary.direct + summary.indirect (count, bytes) == LSan's "
                 "direct + indirect leaks")
        check_eq((d[0] - lsan_direct[0], d[1] - lsan_direct[1]),
                 (len(cycles), sum(b["size"] for b in cycles)),
                 "leaked cycles: cprof-core's extra direct leaks are the leak roots of "
                 "the cycles LSan calls all-indirect")


for s in SCENARIOS:
    state = {}
    with case(s + "/oracle"):
        c = corpus_core("leaks", (s,))
        state["c"] = c
        ls = lsan_leaks("leaks", (s,))
        state["ls"] = ls
        check_oracle(s, c, ls)
    with case(s + "/cprof"):
        if "ls" not in state:
            fail("no LeakSanitizer figures (see the oracle case)")
        check_cprof(s, state["c"], state["ls"])
finish()
