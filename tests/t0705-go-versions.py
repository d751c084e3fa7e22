#!/usr/bin/env python3
"""t0705: the Go walker, roots and goroutines on every Go release since 1.22.

goblocks is built with each older toolchain (GOTOOLCHAIN=goX.Y.Z: the go command
fetches it through the module proxy, once; CPROF_GO_TOOLCHAINS overrides the list)
and its core is checked as t0700 and t0710 check the machine's own Go:
  - MemStats HeapObjects, HeapAlloc, HeapInuse and StackInuse exactly;
  - every *Block an object of its size class, typed main.Block, and all of them
    retained through the globals main.store and main.index (`roots --type`);
  - on a kernel core, the goroutines and their calls, frame by frame with the
    inlined ones (each version's inline tree) and their file:line, are the
    runtime's own crash traceback's;
and gotypes is built with each and checked as t0760 checks it: objects typed through
interfaces, channels, maps (the buckets of Go 1.22 and 1.23, the swiss tables of
1.24 on) and closures (whose captured variables Go's DWARF places from 1.23 on:
before, the closure is named but what it captures is not typed).
A toolchain that cannot be fetched is a skip (a failure under CPROF_REQUIRE_ALL=1).
"""
import os
import shutil
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goblocks")
TOOLCHAINS = os.environ.get("CPROF_GO_TOOLCHAINS",
                            "go1.22.12 go1.23.12 go1.24.13 go1.25.5").split()
GO = shutil.which("go") or "/usr/local/go/bin/go"
STATS = ("HeapObjects", "HeapAlloc", "HeapInuse", "StackInuse")


def build(tc, prog="goblocks"):
    """PROG built by toolchain TC into $CPROF_WORK/go-versions (kept)."""
    out_dir = os.path.join(WORK, "go-versions")
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(out_dir, "%s-%s" % (prog, tc))
    src = os.path.join(SOURCE_ROOT, "corpus", "go")
    newest = max(os.path.getmtime(os.path.join(dp, f))
                 for dp, _, fs in os.walk(src) for f in fs if f.endswith((".go", ".mod")))
    if os.path.exists(exe) and os.path.getmtime(exe) > newest:
        return exe
    env = dict(os.environ, GOTOOLCHAIN=tc, CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    env.pop("GOENV", None)
    r = subprocess.run([GO, "-C", src, "build", "-o", exe + ".tmp", "./" + prog], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    if r.returncode != 0:
        skip("Go toolchain %s: cannot build %s with it (fetched through the "
             "module proxy): %s" % (tc, prog, r.stdout.strip()[-500:]))
    os.rename(exe + ".tmp", exe)
    return exe


dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for tc in TOOLCHAINS:
    exe = build(tc)
    dumper = dumpers[0]
    c = corpus_core("goblocks", dumper=dumper, exe=exe)
    m = c.manifest
    check_eq(m["go_version"], tc, "%s: the program says it is %s" % (tc, tc))
    db = os.path.join(c.dir, "t0705.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    got = dict(con.execute("SELECT name, value FROM allocator_stat WHERE allocator = 'go'"))
    for name in STATS:
        check_eq(got.get(name), m["memstats"][name], "%s %s: MemStats.%s" % (tc, dumper, name))
    typed = dict(con.execute("SELECT o.addr, t.name FROM object o JOIN type t ON t.id = o.type_id"))
    wrong = [b["addr"] for b in m["blocks"] if typed.get(parse_addr(b["addr"])) != "main.Block"]
    check(not wrong, "%s: all %d blocks are objects typed main.Block (wrong: %s)"
          % (tc, len(m["blocks"]), wrong[:3]))
    roots = cprof("roots", "--db", db, "--type", "main.Block", "--json", json=True)
    check_eq(sum(r["count"] for r in roots), len(m["blocks"]),
             "%s: roots --type main.Block counts every block" % tc)
    names = {s.split("+")[0] for r in roots for s in r["reached_from"] + [r["path"]["root_slot"]]}
    check({"goblocks-%s!main.store" % tc, "goblocks-%s!main.index" % tc} <= names,
          "%s: ... retained through main.store and main.index (%s)" % (tc, sorted(names)))
    tb = go_traceback(c) if dumper == "kernel" else None
    if tb:
        check_go_traceback(db, tb, "%s: " % tc)
    con.close()

    c = corpus_core("gotypes", dumper=dumper, exe=build(tc, "gotypes"))
    db = os.path.join(c.dir, "t0705.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    old_dwarf = tuple(int(x) for x in tc[2:].split(".")[:2]) < (1, 23)
    check_go_types(db, c.manifest, "%s gotypes: " % tc,
                   untyped_vias=("closure variable",) if old_dwarf else ())

finish()
