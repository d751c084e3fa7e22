#!/usr/bin/env python3
"""t0230: every input the fuzz targets ever failed on, and their seeds, run clean.

fuzz/ holds one LLVMFuzzerTestOneInput per target (core, glibc, go, go-walk,
jemalloc, tcmalloc, pprof); every build links each with fuzz/driver.c (fuzz-TARGET, no clang
needed), which runs files through it.  Here, in the plain and the ASan+UBSan builds:
  - regression cases: each file of tests/fuzz-regressions/TARGET/ through fuzz-TARGET,
    with the environment its campaign had (fuzz/campaign: the core target with an
    empty sysroot, the walker targets without separate debug info; the walker
    targets' cases also with it): no crash, no sanitizer report, each within 10 s;
  - seeds: corpus cores made into sparse cores by fuzz/strip-core.py (the walker
    targets' seed format: zero pages left out) must expand, in the harness, to the
    core they came from - the object table `analyze` writes from the expanded core
    (CPROF_FUZZ_EXPANDED) is the one it writes from the core itself, object for
    object - and run clean through their targets.
"""
import os
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403
from cprof_test import crash_markers  # noqa: E402

FUZZ = os.environ.get("CPROF_FUZZ_DIR") or os.path.join(os.path.dirname(cprof_path()), "fuzz")
REGRESSIONS = os.path.join(SOURCE_ROOT, "tests", "fuzz-regressions")
STRIP = os.path.join(SOURCE_ROOT, "fuzz", "strip-core.py")
TARGETS = ("core", "glibc", "go", "go-walk", "jemalloc", "tcmalloc", "pprof")
LIMIT = 10.0   # seconds per input: the bound for a seed-sized core


def run_driver(target, path, env_extra, what):
    """Run fuzz-TARGET on PATH; checks it exits 0, clean, within LIMIT s each."""
    exe = os.path.join(FUZZ, "fuzz-" + target)
    env = dict(os.environ, **env_extra)
    try:
        r = subprocess.run([exe, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=300)
    except subprocess.TimeoutExpired:
        fail("%s: fuzz-%s %s ran past 300 s" % (what, target, path))
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    markers = [m for m in crash_markers if m in err]
    check(r.returncode == 0 and not markers,
          "%s: fuzz-%s exits 0 with no sanitizer report (status %d, %s): %s"
          % (what, target, r.returncode, markers, err[-2000:]))
    times = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == "ok":
            times[f[1]] = float(f[-2])
    slow = {p: t for p, t in times.items() if t > LIMIT}
    check(not slow, "%s: every input within %.0f s (%s)" % (what, LIMIT, slow))
    return times


with scratch("fuzz") as d:
    empty = os.path.join(d, "empty-sysroot")
    os.makedirs(empty)
    # the environments of fuzz/campaign
    CAMPAIGN = {"core": {"CPROF_FUZZ_SYSROOT": empty}, "pprof": {}}

    with case("regression cases"):
        total = 0
        for target in TARGETS:
            tdir = os.path.join(REGRESSIONS, target)
            if not os.path.isdir(tdir):
                continue
            files = sorted(os.listdir(tdir))
            envs = [CAMPAIGN[target]] if target in CAMPAIGN else \
                [{"CPROF_FUZZ_NO_DEBUG_DIRS": "1"}, {}]
            for f in files:
                for env in envs:
                    times = run_driver(target, os.path.join(tdir, f), env,
                                       "%s/%s%s" % (target, f, " %s" % env if env else ""))
                    check(len(times) == 1, "%s/%s: the driver ran it" % (target, f))
            total += len(files)
        check(total > 0, "there are regression cases (%d)" % total)
        note("%d regression cases" % total)

    SEEDS = [("glibc", "allocator", (), None), ("glibc", "heap", ("threads",), None),
             ("go", "goblocks", ("64",), None), ("go-walk", "goblocks", ("64",), None),
             ("jemalloc", "allocator", (), "libjemalloc.so.2"),
             ("tcmalloc", "allocator", (), "libtcmalloc_minimal.so.4")]
    for target, prog, args, preload in SEEDS:
        with case("seed %s %s%s" % (target, prog, " " + preload if preload else "")):
            name, exe = prog, None
            if preload:
                name = "%s-%s" % (prog, target)
                PROGRAM_ENV[name] = {"LD_PRELOAD": preload}
                exe = require_corpus_program(prog)
            if prog.startswith("go"):
                require_corpus_program(prog)
            c = corpus_core(name, args, exe=exe)
            seed = os.path.join(d, "%s.core" % name)
            subprocess.run([sys.executable, STRIP, c.core, seed], check=True)
            expanded = os.path.join(d, "%s.expanded" % name)
            run_driver(target, seed, {"CPROF_FUZZ_EXPANDED": expanded}, "seed " + name)
            check(os.path.getsize(seed) < os.path.getsize(c.core),
                  "the sparse core is smaller (%d bytes, the core %d)"
                  % (os.path.getsize(seed), os.path.getsize(c.core)))
            tables = []
            for core in (c.core, expanded):
                db = os.path.join(d, "t.db")
                remove_db(db)
                cprof("analyze", core, c.exe, "--db", db)
                con = sqlite3.connect(db)
                tables.append(con.execute("SELECT addr, size, state, free_list, leak FROM object"
                                          " ORDER BY addr").fetchall())
                con.close()
            check(tables[0], "%s: the core has objects" % name)
            check_eq(tables[1], tables[0],
                     "%s: the expanded sparse core has the core's objects" % name)
            run_driver("core", seed, {}, "seed %s (core target)" % name)

finish()
