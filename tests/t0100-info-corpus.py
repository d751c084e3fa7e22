#!/usr/bin/env python3
"""t0100: `cprof-core info --json` and `cprof-core read --json` against the manifests.

For threads, threads-nopie, threads-static and uselib, with every available dumper
(kernel and gcore; CPROF_REQUIRE_ALL=1 requires both):
  info: pid; the set of thread ids; each thread's frames contain the manifest's
        functions in order; SIGABRT for kernel cores; the executable (and
        libcorpus.so) are modules with status "ok"; the mappings cover every
        global, local and TLS object; present + file + missing == mapped bytes.
  read: every global, local and TLS object reads back as the manifest's bytes, with
        sources that agree with the core (core / file / missing); the first 16
        bytes of `main` (and of corpus_lib_park) equal the file's bytes at the
        matching offset, and come from the file in kernel cores (which leave text out).
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

PROGRAMS = ["threads", "threads-nopie", "threads-static", "uselib"]
TEXT_SYMBOLS = ["main", "corpus_lib_park"]


def same_path(a, b):
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def find_module(info, path):
    for mod in info.get("modules") or []:
        if same_path(mod.get("path"), path):
            return mod
    return None


def intervals(items, start="start", end="end"):
    out = []
    for it in items or []:
        try:
            out.append((parse_addr(it[start]), parse_addr(it[end])))
        except (KeyError, ValueError, TypeError):
            pass
    return sorted(out)


def uncovered(ivs, a, n):
    """The first address of [a, a+n) not covered by the intervals, or None."""
    pos, end = a, a + n
    for s, e in ivs:
        if s <= pos < e:
            pos = e
            if pos >= end:
                return None
    return pos if pos < end else None


def objects(m):
    for o in m["globals"]:
        yield "global %s" % o["name"], o
    for o in m["locals"]:
        yield "local %s of %s (thread %d)" % (o["name"], o["function"], o["tid"]), o
    for o in m.get("tls", []):
        yield "TLS %s of thread %d" % (o["name"], o["tid"]), o


def clip_merge(srcs, a, n):
    """[(start, end, source)] clipped to [a, a+n), adjacent equal sources merged."""
    out = []
    for s, e, src in sorted(srcs):
        s, e = max(s, a), min(e, a + n)
        if s >= e:
            continue
        if out and out[-1][2] == src and out[-1][1] == s:
            out[-1] = (out[-1][0], e, src)
        else:
            out.append((s, e, src))
    return out


def fmt_sources(srcs):
    return "[" + ", ".join("%#x-%#x %s" % x for x in srcs) + "]"


def check_read(c, core, what, addr, size, expect_hex, want_source=None):
    """`read CORE EXE ADDR SIZE --json` returns EXPECT_HEX with sources as the core says."""
    r = cprof("read", c.core, c.exe, "%#x" % addr, str(size), "--json", json=True)
    where = "read of %s at %#x (%d bytes)" % (what, addr, size)
    if not check(isinstance(r, dict), "%s: JSON object expected, got %r" % (where, type(r).__name__)):
        return
    try:
        check_eq(parse_addr(r.get("addr")), addr, where + ": addr")
    except (ValueError, TypeError):
        check(False, "%s: addr %r is not an address" % (where, r.get("addr")))
    check_eq(r.get("len"), size, where + ": len")
    check_eq(r.get("bytes"), expect_hex, where + ": bytes")
    try:
        got = clip_merge([(parse_addr(s["start"]), parse_addr(s["end"]), s["source"])
                          for s in r.get("sources") or []], addr, size)
    except (KeyError, ValueError, TypeError) as e:
        check(False, "%s: malformed sources %r (%s)" % (where, r.get("sources"), e))
        return
    _, ref = reference_read(core, addr, size)
    ref = clip_merge(ref, addr, size)
    check(got == ref, "%s: sources %s, expected %s" % (where, fmt_sources(got), fmt_sources(ref)))
    if want_source:
        check_eq(sorted(set(s for _, _, s in got)), [want_source], where + ": source")


def check_core(c):
    m = c.manifest
    core = Elf(c.core)
    info = cprof("info", c.core, c.exe, "--json", json=True)
    if not isinstance(info, dict):
        fail("info --json printed %s, not an object" % type(info).__name__)
    proc = info.get("process") or {}
    threads = info.get("threads") or []

    # process and threads
    check_eq(proc.get("pid"), m["pid"], "process.pid")
    check_eq(sorted(t.get("tid") for t in threads), sorted(t["tid"] for t in m["threads"]),
             "thread ids")
    by_tid = {t.get("tid"): t for t in threads}
    for mt in m["threads"]:
        t = by_tid.get(mt["tid"])
        if t is None:
            continue
        names = [f.get("function") for f in t.get("frames") or []]
        check(is_subsequence(mt["functions"], names),
              "thread %d (%s): frames' functions %s do not contain %s in this order"
              % (mt["tid"], mt["functions"][-1], names, mt["functions"]))
    if c.dumper == "kernel":
        check_eq((proc.get("signal") or {}).get("number"), 6, "process.signal.number")
    # a no-access mapping the core holds nothing of (a stack's guard) has no bytes
    # to miss: source "none", as the core's program header says (p_filesz 0)
    filesz = {p["vaddr"]: p["filesz"] for p in core.loads}
    noacc = [mp for mp in info.get("mappings") or [] if mp.get("perms") == "---"]
    check(all((mp.get("source") == "none") == (filesz.get(parse_addr(mp["start"])) == 0)
              for mp in noacc),
          "no-access mappings: source none iff the core holds none of them (%s)"
          % [(mp["start"], mp.get("source"), filesz.get(parse_addr(mp["start"])))
             for mp in noacc][:4])

    # modules
    exe_mod = find_module(info, c.exe)
    if check(exe_mod is not None, "the executable %s is a module (modules: %s)"
             % (c.exe, [x.get("path") for x in info.get("modules") or []])):
        check_eq(exe_mod.get("status"), "ok", "status of module %s" % c.exe)
    for mm in m.get("modules", []):
        mod = find_module(info, mm["path"])
        if check(mod is not None, "library %s is a module" % mm["path"]):
            check_eq(mod.get("status"), "ok", "status of module %s" % mm["path"])

    # mappings
    maps = intervals(info.get("mappings"))
    for what, o in objects(m):
        a = parse_addr(o["addr"])
        hole = uncovered(maps, a, o["size"])
        check(hole is None, "mappings cover %s at %#x..%#x (not %s)"
              % (what, a, a + o["size"], "%#x" % hole if hole is not None else ""))

    # byte accounting
    cs = info.get("core") or {}
    try:
        check_eq(cs["present_bytes"] + cs["file_bytes"] + cs["missing_bytes"], cs["mapped_bytes"],
                 "core.present_bytes + file_bytes + missing_bytes (%s + %s + %s) == mapped_bytes"
                 % (cs["present_bytes"], cs["file_bytes"], cs["missing_bytes"]))
    except (KeyError, TypeError) as e:
        check(False, "core byte counts missing or not numbers: %s (%r)" % (e, cs))
    # Every mapping counts once: PT_LOADs, and the NT_FILE ranges no PT_LOAD
    # covers (gcore leaves read-only file mappings out of the PT_LOADs).
    loads = sorted((p["vaddr"], p["vaddr"] + p["memsz"]) for p in core.loads)
    file_only = 0
    for start, end, _, _ in core.core_files():
        covered = sum(max(0, min(end, e) - max(start, s)) for s, e in loads)
        file_only += (end - start) - covered
    check_eq(sum(p["memsz"] for p in core.loads) + file_only, cs.get("mapped_bytes"),
             "core.mapped_bytes (PT_LOAD p_memsz + NT_FILE ranges without a PT_LOAD)")

    # read: every object
    for what, o in objects(m):
        check_read(c, core, what, parse_addr(o["addr"]), o["size"], o["bytes"])

    # read: text, compared with the file
    for s in m.get("symbols", []):
        if s["name"] not in TEXT_SYMBOLS:
            continue
        if s["module"] == m["exe"]:
            bias = parse_addr(m["exe_load_bias"])
        else:
            bias = next(parse_addr(x["load_bias"]) for x in m["modules"] if x["path"] == s["module"])
        elf = Elf(s["module"])
        addr = parse_addr(s["addr"])
        off = elf.vaddr_to_offset(addr - bias)
        if not check(off is not None, "text of %s at %#x: no file offset in %s" % (s["name"], addr, s["module"])):
            continue
        want = elf.read(off, 16).hex()
        check_read(c, core, "the text of %s (file offset %#x of %s)" % (s["name"], off, s["module"]),
                   addr, 16, want, want_source="file" if c.dumper == "kernel" else None)


def main():
    dumpers = available_dumpers()
    if REQUIRE_ALL:
        check_eq(dumpers, ["kernel", "gcore"], "available dumpers (CPROF_REQUIRE_ALL=1)")
    if not dumpers:
        skip("no way to take a core here (no usable core_pattern, no gcore)")
    cprof_path()  # no cprof-core: one clear failure, not one per case
    for prog in PROGRAMS:
        for d in dumpers:
            with case("%s/%s" % (prog, d)):
                check_core(corpus_core(prog, dumper=d))
    finish()


main()
