#!/usr/bin/env python3
"""t0770: two Go cores analyzed at once, in two threads of one process.

tests/unit/test-go-threads (built by meson, CPROF_TEST_GO_THREADS) analyzes a
goblocks core and a gogoroutines core each alone, then both at once in two threads,
three rounds, and compares a fingerprint of every result (objects, leak classes,
types, dominators, retained sizes, root nodes, root references, edges, warnings):
the threaded runs must give exactly the lone runs' results. Here the databases the
last threaded round wrote are compared with the lone runs' too, table by table
(every table but meta, whose timings and command line differ). Under the
ASan+UBSan build (scripts/test) a data race that corrupts memory is a crash.
"""
import os
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goblocks")
require_corpus_program("gogoroutines")
prog = os.environ.get("CPROF_TEST_GO_THREADS")
if not prog or not os.access(prog, os.X_OK):
    raise Fatal("CPROF_TEST_GO_THREADS does not name the test-go-threads program "
                "(run the tests with meson test)")


def tables(db):
    con = sqlite3.connect(db)
    names = [n for (n,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta' ORDER BY name")]
    out = {n: sorted(con.execute("SELECT * FROM %s" % n).fetchall(), key=repr) for n in names}
    con.close()
    return out


dumper = available_dumpers()[0]
a = corpus_core("goblocks", dumper=dumper)
b = corpus_core("gogoroutines", dumper=dumper)
d = os.path.join(WORK, "t0770")
os.makedirs(d, exist_ok=True)
for f in os.listdir(d):
    os.remove(os.path.join(d, f))
try:
    r = subprocess.run([prog, d, a.core, a.exe, b.core, b.exe, "3"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
except subprocess.TimeoutExpired:
    raise Fatal("test-go-threads hung (no exit within 600 s)")
out = r.stdout.decode("utf-8", "replace")
note(out.strip())
check(r.returncode == 0 and out.rstrip().endswith("8 passed, 0 failed"),
      "test-go-threads: every threaded run equals its lone run (status %d)" % r.returncode)
check(not any(mk in out for mk in crash_markers), "test-go-threads: no sanitizer report")
for i, c in ((1, a), (2, b)):
    alone = os.path.join(d, "alone-%d.db" % i)
    together = os.path.join(d, "together-%d.db" % i)
    if not (os.path.exists(alone) and os.path.exists(together)):
        check(False, "%s: both databases written" % c.name)
        continue
    x, y = tables(alone), tables(together)
    check_eq(sorted(y), sorted(x), "%s: the same tables" % c.name)
    differ = [n for n in x if x[n] != y.get(n)]
    check(not differ and x.get("goroutine"),
          "%s: every table of the threaded run's database equals the lone run's "
          "(%d tables; differ: %s)" % (c.name, len(x), differ))

finish()
