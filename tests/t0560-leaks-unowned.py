#!/usr/bin/env python3
"""t0560: memory that only another allocator's arenas keep alive is said to be so.

Debian's python3 builds N garbage cycles with the collector off: each cycle is two
small lists (in pymalloc's arenas: anonymous memory glibc's malloc does not own)
and a bytes payload of L bytes (over pymalloc's 512-byte limit: a glibc chunk of at
least L + 33 bytes, PyBytesObject's header). It prints its pid and waits; gcore takes
the core. Nothing but the cycles points at a payload, so each payload is kept alive
by a pymalloc arena only - whether it leaks cannot be told from glibc's heap alone.
  - `leaks` (and the summary of `analyze`) say how many objects and bytes only
    anonymous memory no walked allocator owns keeps alive: at least the N payloads,
    at least N * (L + 33) bytes; `leaks --json`: summary.unowned;
  - a corpus C program that holds its blocks in globals (leaks globals) has none.
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

N, L = 2000, 3000
SCRIPT = """
import gc, os, sys
gc.disable()
for i in range(%d):
    a = [None]
    b = [a, bytes([i %% 251]) * %d]
    a[0] = b
del a, b
sys.stdout.write("%%d\\n" %% os.getpid())
sys.stdout.flush()
sys.stdin.read()
""" % (N, L)

python = require_tool("python3")
with scratch("unowned") as d:
    p = subprocess.Popen(["/usr/bin/python3", "-c", SCRIPT], cwd=d, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    try:
        p.stdout.readline()
        core = dump_process(p, d, "python3")
    finally:
        p.kill()
        p.wait()
    db = os.path.join(d, "py.db")
    rc, out, err = cprof("analyze", core, "/usr/bin/python3", "--db", db)
    check("kept alive only by anonymous memory no walked allocator" in out,
          "the summary says what only unowned anonymous memory keeps alive:\n%s"
          % "\n".join(l for l in out.splitlines() if "reachable" in l or "anonymous" in l))
    j = cprof("leaks", "--db", db, "--json", json=True)
    u = j["summary"].get("unowned", {})
    check(u.get("count", 0) >= N and u.get("bytes", 0) >= N * (L + 33),
          "leaks --json: at least the %d payloads (%d bytes) are unowned-held: %s"
          % (N, N * (L + 33), u))
    rc, out, err = cprof("leaks", "--db", db)
    check("kept alive only by anonymous memory" in out, "`leaks` says it too")

with case("a program whose blocks globals hold"):
    c = corpus_core("leaks", ("globals",))
    db = os.path.join(c.dir, "t0560.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    j = cprof("leaks", "--db", db, "--json", json=True)
    check_eq(j["summary"]["unowned"], {"count": 0, "bytes": 0}, "nothing is unowned-held")

finish()
