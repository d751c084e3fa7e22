#!/usr/bin/env python3
"""t0830: `analyze --profile` with the legacy text heap profiles of C processes.

jemalloc: corpus/jemalloc.c built as jemalloc-prof (malloc_conf prof:true,
lg_prof_sample:0: jemalloc samples every allocation) writes jemalloc's own heap
profile with mallctl("prof.dump") once every tcache is flushed, then reads its
statistics and writes its manifest (nothing allocates after the dump); from its
kernel and gcore cores:
  - the file reads as jemalloc's own reader reads it: jeprof (libjemalloc-dev)
    gives the same in-use objects and bytes per allocating function and in all
    as cprof-core's samples (go tool pprof does not read heap_v2 at all: it
    says so, checked, so that this test learns when it does);
  - the profile is the core's process: it names no build id, and its code
    mappings are the core's, file for file at the same address; a copy whose
    executable is mapped elsewhere is another process's: nothing pairs;
  - every sample pairs with jemalloc's own record of its stack in the core
    (the prof_gctx_t the walker reads), program counter for program counter;
  - per site (make_node, make_buffer, make_record): the profile's in-use
    objects and bytes, the core's records and the manifest's held and dropped
    blocks (count, usable sizes) are the same; growth 0;
  - where the mapped memory is: no Go rows, and the rows add up to the
    mapped bytes (of a kernel core: its PT_LOAD segments').
gperftools: corpus/tcmalloc.c's tcmalloc-full (linked with -ltcmalloc) run with
HEAPPROFILE (gperftools' heap profiler records every allocation from the start)
and HEAPPROFILESIGNAL=SIGUSR2: once the program is parked (its manifest and
tcmalloc's figures written, nothing allocating any more), the test sends the
signal, the profiler writes its profile ("heap profile: ..." text), and the
core is taken; from its kernel and gcore cores:
  - go tool pprof -raw reads the same samples as cprof-core: as many, each
    with the same in-use and allocated objects and bytes and the same stack
    (Go's reader moves each return address back by one byte);
  - the samples whose innermost frame is the program's get() are exactly the
    blocks the manifest says it holds and dropped: count and requested bytes;
  - none pairs, and it is said, not left as "0 paired": the tcmalloc walker
    does not read gperftools' heap profiler's table, so the core has no
    allocation records; the reason is stored (profile.reason) and printed.
"""
import glob
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

SITES = ("make_node", "make_buffer", "make_record")


def analyze(c, prof, db):
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, "--profile", prof)
    j = cprof("analyze", c.core, c.exe, "--db", db, "--profile", prof, "--json", json=True)
    return j["profile"], out, err


def samples(db):
    """cprof-core's samples: (site id, stack lines, inuse_objects, inuse_space,
    alloc_objects, alloc_space), in the file's order."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT site_id, stack, inuse_objects, inuse_space, alloc_objects,"
                       " alloc_space FROM profile_sample ORDER BY id").fetchall()
    frames = {}
    for sid, pc in con.execute("SELECT site_id, pc FROM site_frame ORDER BY site_id, depth"):
        frames.setdefault(sid, []).append(pc)
    reason = con.execute("SELECT reason FROM profile").fetchone()[0]
    con.close()
    return [(r[0], r[1].split("\n")) + tuple(r[2:]) for r in rows], frames, reason


def jeprof_by_leaf(exe, prof, kind):
    """jeprof --collapsed: {allocating function: in-use objects or bytes}."""
    r = subprocess.run([require_tool("jeprof"), "--collapsed", "--inuse_" + kind, exe, prof],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode:
        raise Abort("jeprof failed: %s" % r.stderr.decode()[-1000:])
    got = {}
    for line in r.stdout.decode().splitlines():
        stack, _, value = line.rpartition(" ")
        leaf = re.sub(r"<[0-9a-f]+>$", "", stack.split(";")[-1])
        got[leaf] = got.get(leaf, 0) + int(float(value))
    return got


def check_memory_table(c, p):
    mem = p["memory"]
    check_eq([r["what"] for r in mem if r["from"].startswith(("Heap", "StackSys", "MSpan"))], [],
             "no Go rows for a process without Go")
    check_eq(sum(r["bytes"] for r in mem), p["mapped_bytes"], "the rows add up to the mapped bytes")
    if c.dumper == "kernel":     # gdb's gcore leaves some mappings out of its PT_LOADs
        check_eq(p["mapped_bytes"], sum(ph["memsz"] for ph in Elf(c.core).loads),
                 "the mapped bytes are the kernel core's PT_LOAD segments'")


def check_jemalloc(c, d):
    m = c.manifest
    prof = m["heap_profile"]
    db = os.path.join(d, "t0830.db")
    p, out, err = analyze(c, prof, db)
    rows, frames, reason = samples(db)
    n_stacks = sum(1 for l in open(prof) if l.startswith("@"))
    check_eq((p["format"], p["period"], p["samples"]), ("jemalloc heap_v2", 1, n_stacks),
             "the file is jemalloc's heap_v2, every sample read (one per '@' stack line)")
    check(p["paired"] and "code mappings of files are the core's" in (p["reason"] or ""),
          "the profile is the core's process: its code mappings are the core's (%s)" % p["reason"])
    # (jemalloc's line on its profiler's sampled allocations is no problem of the
    # profile's: t0340 checks it)
    warns = [l for l in err.splitlines()
             if "warning" in l and "the profiler sampled take a" not in l]
    check_eq(len(warns), 0, "no warning (%s)" % warns[-3:])
    check_eq(p["paired_samples"], p["samples"], "every sample pairs with a record of the core")
    bad = [(sid, stack) for sid, stack, *_ in rows
           if [int(a, 16) for a in stack] != frames.get(sid)]
    check_eq(bad[:2], [], "each sample's stack is its site's, program counter for program counter")
    want = {}
    for b in m["held"] + m["leaked"]:
        n, size = want.get(b["site"], (0, 0))
        want[b["site"]] = (n + 1, size + b["usable"])
    by_fn = {s["site"].split(" (")[0]: s for s in p["sites"]}
    for fn in SITES:
        s = by_fn.get(fn)
        check(s is not None, "%s is in the report" % fn)
        if s:
            check_eq((s["profile_objects"], s["profile_bytes"], s["objects"], s["bytes"]),
                     want[fn] * 2, "%s: profile and core both say the manifest's %d blocks, %d bytes"
                     % (fn, want[fn][0], want[fn][1]))
    check(re.search(r"\+0\s+0 B  make_node \(jemalloc\.c:\d+\)", out) is not None,
          "the text shows make_node with no growth")
    # jemalloc's own reader of the same file
    for k, kind in ((2, "objects"), (3, "space")):
        jep = jeprof_by_leaf(c.exe, prof, kind)
        check_eq(sum(jep.values()), sum(r[k] for r in rows),
                 "jeprof --inuse_%s: the file's total is cprof-core's" % kind)
        mine = {fn: by_fn[fn]["profile_" + ("objects" if kind == "objects" else "bytes")]
                for fn in SITES if fn in by_fn}
        check_eq({fn: jep.get(fn) for fn in SITES}, mine,
                 "jeprof --inuse_%s: per allocating function as cprof-core reads it" % kind)
    check_memory_table(c, p)
    return prof


def check_moved(c, prof, d):
    """A copy of the profile whose executable's code is mapped elsewhere."""
    text = open(prof).read()
    head, sep, maps = text.partition("MAPPED_LIBRARIES:\n")
    lines = maps.split("\n")
    exe = [i for i, l in enumerate(lines) if " r-xp " in l and l.endswith(c.manifest["exe"])]
    if not sep or not exe:
        fail("no code mapping of %s in %s" % (c.manifest["exe"], prof))
    start, rest = lines[exe[0]].split("-", 1)
    lines[exe[0]] = "%x-%s" % (int(start, 16) + 0x10000000, rest)
    moved = os.path.join(d, "moved.heap")
    with open(moved, "w") as f:
        f.write(head + sep + "\n".join(lines))
    p, out, _ = analyze(c, moved, os.path.join(d, "moved.db"))
    check(not p["paired"] and p["paired_samples"] == 0 and "another process" in (p["reason"] or ""),
          "another process's profile: nothing pairs, and the reason says so (%s)" % p["reason"])
    check("not paired: it maps %s" % c.manifest["exe"] in out, "the summary says why")


HEAP_ENV = {"HEAPPROFILE": "heapprofile", "HEAPPROFILESIGNAL": str(int(signal.SIGUSR2))}


def heap_profile_dump(proc, run):
    """corpus_core's hook: the parked program's heap profiler writes its
    profile (run/heapprofile.NNNN.heap) on SIGUSR2; wait until it is whole."""
    os.kill(proc.pid, signal.SIGUSR2)
    deadline, size = time.monotonic() + 20, -1
    while True:
        files = sorted(glob.glob(os.path.join(run, "heapprofile.*.heap")))
        now = os.path.getsize(files[-1]) if files else -1
        if now == size and now > 0 and b"MAPPED_LIBRARIES:" in open(files[-1], "rb").read():
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise Abort("no heap profile on SIGUSR2 (status %s): %s" % (proc.poll(), files))
        size = now
        time.sleep(0.1)


def check_gperftools(c, d):
    m = c.manifest
    prof = sorted(glob.glob(os.path.join(c.dir, "run", "heapprofile.*.heap")))[-1]
    db = os.path.join(d, "t0830.db")
    p, out, err = analyze(c, prof, db)
    check_eq([l for l in err.splitlines() if "tcmalloc" in l], [], "no tcmalloc warning")
    rows, _, reason = samples(db)
    raw = pprof_raw(prof)
    check_eq((p["format"], p["period"], p["samples"]), ("gperftools heap", 1, len(raw["samples"])),
             "the file is gperftools' heap profile: go tool pprof reads as many samples")
    names = {"inuse_objects": 2, "inuse_space": 3, "alloc_objects": 4, "alloc_space": 5,
             "objects": 2, "space": 3}
    mine = [{t: r[names[t]] for t in s["values"]} for r, s in zip(rows, raw["samples"])]
    check_eq(mine, [s["values"] for s in raw["samples"]],
             "each sample's values are go tool pprof's (%s)" % list(raw["samples"][0]["values"]))
    locs = raw["locations"]
    stacks = [[locs[i]["address"] for i in s["locations"]] for s in raw["samples"]]
    check_eq([[int(a, 16) - 1 for a in r[1]] for r in rows], stacks,
             "each sample's stack is go tool pprof's, address for address (less one)")
    got = [s for s in raw["samples"] if s["functions"][:1] == ["get"]]
    blocks = m["held"] + m["leaked"]
    inuse = lambda s, k: s["values"].get("inuse_" + k, s["values"].get(k))
    check_eq((sum(inuse(s, "objects") for s in got), sum(inuse(s, "space") for s in got)),
             (len(blocks), sum(b["request"] for b in blocks)),
             "the samples allocated by get() are the blocks the program holds and dropped")
    why = "gperftools' heap profiler keeps its records in its own table"
    check(not p["paired"] and p["paired_samples"] == 0 and why in (p["reason"] or ""),
          "nothing pairs, and the reason says why (%s)" % p["reason"])
    check_eq(reason, p["reason"], "the reason is stored in cprof.db (profile.reason)")
    check("%d samples, 0 paired" % p["samples"] in out and "  not paired: " + why in out,
          "the summary prints the samples read and the reason none paired")
    check_memory_table(c, p)


for prog in ("jemalloc-prof", "tcmalloc-full"):
    require_corpus_program(prog)
require_tool("jeprof")
go_tool()
for dumper in available_dumpers():
    with case("jemalloc prof.dump/%s" % dumper):
        c = corpus_core("jemalloc-prof", ("basic",), dumper=dumper)
        d = os.path.join(c.dir, "t0830")
        os.makedirs(d, exist_ok=True)
        prof = check_jemalloc(c, d)
        rc, _, err = go_pprof("-raw", prof)
        check(rc != 0 and "unrecognized profile format" in err,
              "go tool pprof does not read jemalloc's heap_v2 (status %d: %s)" % (rc, err.strip()[:200]))
        check_moved(c, prof, d)
    with case("gperftools HEAPPROFILESIGNAL/%s" % dumper):
        c = corpus_core("tcmalloc-full", dumper=dumper, env=HEAP_ENV, before_dump=heap_profile_dump)
        d = os.path.join(c.dir, "t0830")
        os.makedirs(d, exist_ok=True)
        check_gperftools(c, d)

finish()
