#!/usr/bin/env python3
"""t0110: cprof-core's backtraces against gdb's (and eu-stack's, if installed).

For threads and uselib (the first available dumper): gdb's `thread apply all bt`
and `cprof-core info --json` must see the same threads; for each thread, the
program/library functions of the manifest must appear in the same order and the
same number of times in both; the innermost functions must agree after
normalization (`__GI___libc_read` ~ `read`) - if they still differ, only a warning.
The same comparison is made with `eu-stack --core CORE --executable EXE`.
"""
import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

PROGRAMS = ["threads", "uselib"]


def compare(c, ours, theirs, tool, raw):
    """OURS: {tid: [names]} from cprof-core; THEIRS: {tid: [names]} from TOOL."""
    m = c.manifest
    tids = sorted(t["tid"] for t in m["threads"])
    if not check_eq(sorted(theirs), tids, "%s's thread ids (is the core readable by %s?)" % (tool, tool)):
        note("%s said:\n%s" % (tool, raw[-3000:]))
    for mt in m["threads"]:
        tid, funcs = mt["tid"], mt["functions"]
        mine, other = ours.get(tid), theirs.get(tid)
        if mine is None or other is None:
            check(False, "thread %d: missing in %s" % (tid, "cprof-core" if mine is None else tool))
            continue
        wanted = set(funcs)
        f_mine = [f for f in mine if f in wanted]
        f_other = [f for f in other if f in wanted]
        check(is_subsequence(funcs, other),
              "thread %d: %s's backtrace %s does not contain the manifest's %s (corpus problem?)"
              % (tid, tool, other, funcs))
        check_eq(f_mine, f_other,
                 "thread %d: program/library frames of cprof-core %s vs %s %s"
                 % (tid, mine, tool, other))
        inner_mine = mine[0] if mine else None
        inner_other = other[0] if other else None
        if not check(inner_mine is not None, "thread %d: cprof-core has no frame" % tid):
            continue
        if normalize_function(inner_mine) != normalize_function(inner_other):
            warn("thread %d: innermost function: cprof-core says %s, %s says %s"
                 % (tid, inner_mine, tool, inner_other))
        else:
            check(True, "thread %d: innermost %s ~ %s" % (tid, inner_mine, inner_other))


def main():
    require_tool("gdb")
    if not available_dumpers():
        skip("no way to take a core here (no usable core_pattern, no gcore)")
    cprof_path()
    have_eu = shutil.which("eu-stack") is not None
    if not have_eu:
        if REQUIRE_ALL:
            check(False, "eu-stack not installed (CPROF_REQUIRE_ALL=1)")
        else:
            note("eu-stack not installed: gdb only")
    for prog in PROGRAMS:
        with case(prog):
            c = corpus_core(prog)
            info = cprof("info", c.core, c.exe, "--json", json=True)
            ours = {t.get("tid"): [f.get("function") for f in t.get("frames") or []]
                    for t in (info.get("threads") or [])}
            with case("gdb"):
                theirs, raw = gdb_backtraces(c.exe, c.core)
                compare(c, ours, theirs, "gdb", raw)
            if have_eu:
                with case("eu-stack"):
                    theirs, raw = eu_stack_backtraces(c.exe, c.core)
                    compare(c, ours, theirs, "eu-stack", raw)
    finish()


main()
