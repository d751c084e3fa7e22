#!/usr/bin/env python3
"""t0350: Debian's redis-server (its malloc is Debian's libjemalloc2), its heap
walked from a core against what jemalloc and redis say at the dump.

redis-server runs on a loopback port without persistence, active expiry off
(DEBUG SET-ACTIVE-EXPIRE 0), hz 1, with 3000 keys (DEBUG POPULATE) and a few
lists and hashes, and corpus/jemalloc-oracle.c preloaded. With no client
connected, the test reads INFO memory, then sends SIGUSR2 to the main thread
(tgkill): the oracle's handler refreshes jemalloc's statistics (mallctl
epoch), writes them, and either waits for gcore or dies of SIGQUIT (the kernel
core) - nothing runs in between. From each core:
  - jemalloc serves malloc and is walked with no warning; its figures equal
    jemalloc's own at the dump: stats.allocated, stats.active,
    stats.retained, and the merged arena's small/large allocated, pdirty,
    pmuzzy, tcache_bytes; the regions in use or cached per bin equal
    bins.<j>.curregs, the large allocations large.nmalloc - large.ndalloc;
  - redis's own used_memory (what its zmalloc counts) is at most the used
    bytes found; the rest (noted, about 400 KB) is what libraries allocate
    with malloc directly, not through zmalloc (OpenSSL's libcrypto,
    libstdc++'s emergency pool, libc, Lua's state): not an exact oracle,
    docs/jemalloc.md says why;
  - leaks and retention are reported: the summary's leak line, `top --json`
    with what each root retains, redis-server's data among them;
  - the root slots in the modules' data (about 10700, in a redis-server without
    .symtab: only .dynsym names them) are named as elfutils' own eu-addr2line -S
    names them from the same core, and naming them is fast: the phases that do it
    (dominators, which names each root's node, and the store's tables) take at
    most 20 times the heap walk + 0.2 s (cprof-core's own index of each module's
    symbols; with dwfl_module_addrinfo, which reads every symbol on each call,
    they took 2.0 s against a walk of 0.014 s).
"""
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F403

STATS = ("small.allocated", "large.allocated", "pdirty", "pmuzzy", "tcache_bytes")
# Libraries that call malloc directly, not through redis's zmalloc.
LIBRARIES = ("libcrypto.so.3", "libssl.so.3", "libstdc++.so.6", "libc.so.6", "ld-linux-x86-64.so.2")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(port, *args):
    r = subprocess.run([shutil.which("redis-cli"), "-p", port] + list(args),
                       capture_output=True, text=True, timeout=30)
    if r.returncode:
        fail("redis-cli %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def check_slot_names(core, exe, db):
    """The global root slots' names against eu-addr2line -S on the same core."""
    addr2line = require_tool("eu-addr2line")
    con = sqlite3.connect(db)
    rows = con.execute("SELECT DISTINCT rr.slot, rr.slot_name FROM root_ref rr JOIN root r"
                       " ON r.id = rr.root_id WHERE r.kind = 'globals' ORDER BY 1").fetchall()
    con.close()
    ours = []
    for slot, name in rows:
        m = re.match(r"^[^!+]+!([^+]+?)(?:\+0x([0-9a-f]+))?$", name)
        if m:
            ours.append((slot, m.group(1), int(m.group(2) or "0", 16)))
        elif re.match(r"^[^!+]+\+0x[0-9a-f]+$", name):
            ours.append((slot, None, None))
    check(len(ours) > 1000 and len(ours) >= len(rows) * 0.99,
          "%d of %d global slot names are module!symbol+offset or module+offset"
          % (len(ours), len(rows)))
    r = subprocess.run([addr2line, "--core=" + core, "-e", exe, "-S"],
                       input="".join("0x%x\n" % s for s, _, _ in ours), capture_output=True,
                       text=True, timeout=300)
    lines = r.stdout.splitlines()[0::2]
    if r.returncode or len(lines) != len(ours):
        fail("eu-addr2line: status %d, %d answers for %d addresses: %s"
             % (r.returncode, len(lines), len(ours), r.stderr[-500:]))
    bad = []
    for (slot, name, off), line in zip(ours, lines):
        m = re.match(r"^([^\s(][^+]*?)(?:\+0x([0-9a-f]+))?$", line)
        want = (m.group(1).split("@")[0], int(m.group(2) or "0", 16)) if m else (None, None)
        if want != (name, off):
            bad.append("0x%x: %s+%s, eu-addr2line %s" % (slot, name, off, line))
    check(not bad, "%d global slots named as eu-addr2line -S names them (%d differ: %s)"
          % (len(ours), len(bad), bad[:5]))


def run_redis(d, dumper, oracle):
    """Start redis-server in D, load it, stop it with the oracle; returns (core
    path, the oracle's figures, INFO memory)."""
    port = str(free_port())
    out = os.path.join(d, "oracle.json")
    env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": oracle, "CPROF_JE_ORACLE": out,
           "CPROF_JE_ORACLE_THEN": "quit" if dumper == "kernel" else "wait"}

    def setup():
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard if dumper == "kernel" else 0, hard))

    proc = subprocess.Popen([shutil.which("redis-server"), "--port", port, "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", d, "--daemonize", "no",
                             "--hz", "1", "--enable-debug-command", "local"],
                            stdin=subprocess.DEVNULL, stdout=open(os.path.join(d, "server.log"), "w"),
                            stderr=subprocess.STDOUT, cwd=d, env=env, preexec_fn=setup)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([shutil.which("redis-cli"), "-p", port, "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            if proc.poll() is not None or time.monotonic() > deadline:
                fail("redis-server did not start on port %s" % port)
            time.sleep(0.05)
        cli(port, "debug", "set-active-expire", "0")
        cli(port, "debug", "populate", "3000", "key", "100")
        for i in range(60):
            cli(port, "rpush", "list%d" % (i % 6), "value-%d" % i)
            cli(port, "hset", "hash%d" % (i % 4), "field%d" % i, "x" * (i * 7))
        time.sleep(0.2)
        info = dict(l.strip().split(":", 1) for l in cli(port, "info", "memory").splitlines()
                    if ":" in l)
        # nothing between INFO and the oracle: the main thread stops in its handler
        ctypes.CDLL(None).syscall(234, proc.pid, proc.pid, signal.SIGUSR2)  # tgkill
        deadline = time.monotonic() + 20
        while not os.path.exists(out):
            if time.monotonic() > deadline:
                fail("the oracle wrote nothing within 20 s")
            time.sleep(0.01)
        if dumper == "kernel":
            proc.wait(timeout=60)
            if proc.returncode != -signal.SIGQUIT:
                fail("redis-server ended with status %s, not SIGQUIT" % proc.returncode)
            src = os.path.join(d, "core")
        else:
            r = subprocess.run([shutil.which("gcore"), "-o", os.path.join(d, "core"), str(proc.pid)],
                               capture_output=True, text=True, timeout=180)
            src = os.path.join(d, "core.%d" % proc.pid)
            if r.returncode:
                fail("gcore failed: %s" % r.stdout[-500:])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not os.path.exists(src):
        fail("no core at %s" % src)
    with open(out) as f:
        return src, json.load(f), info


server = require_tool("redis-server")
require_tool("redis-cli")
oracle = os.path.join(corpus_dir(), "libjemalloc-oracle.so")
if not os.path.exists(oracle):
    skip("corpus/build.sh did not build libjemalloc-oracle.so")
for dumper in available_dumpers():
    with case(dumper):
        if dumper == "gcore":
            require_tool("gcore")
        d = os.path.join(WORK, "redis-t0350-" + dumper)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        core, je, info = run_redis(d, dumper, oracle)
        used_memory = int(info["used_memory"])
        note("jemalloc at the dump: %s; redis used_memory %d" %
             ({k: je[k] for k in ("allocated", "active", "tcache_bytes")}, used_memory))
        db = os.path.join(d, "cprof.db")
        rc, text, err = cprof("analyze", core, server, "--db", db)
        check_eq([l for l in err.splitlines() if "jemalloc" in l], [], "no jemalloc warning")
        j = cprof("analyze", core, server, "--db", db, "--json", json=True)
        t = j["timings"]
        check(t["dominators"] + t["store_tables"] <= 20 * t["walk"] + 0.2,
              "naming the root slots is fast: dominators %.3f s + store tables %.3f s"
              " <= 20 x walk %.3f s + 0.2 s" % (t["dominators"], t["store_tables"], t["walk"]))
        check_slot_names(core, server, db)
        ours = [a for a in j["allocators"] if a["name"] == "jemalloc"]
        check(len(ours) == 1 and ours[0]["walked"] and ours[0]["serves_malloc"],
              "jemalloc serves malloc and is walked: %s" % [(a["heap"], a.get("reason")) for a in ours])
        if not ours or not ours[0]["walked"]:
            continue
        st = ours[0]["mallctl"]
        for k in ("allocated", "active", "retained"):
            check_eq(st[k], je[k], "stats.%s at the dump" % k)
        for k in STATS:
            check_eq(st[k], je[k], "stats.arenas.<all>.%s at the dump" % k)
        con = sqlite3.connect(db)
        live = con.execute("SELECT h.kind, o.size FROM object o JOIN heap h ON h.id = o.heap_id"
                           " WHERE h.allocator = 'jemalloc' AND (o.state = 'used' OR o.free_list = 'tcache')"
                           ).fetchall()
        sizes = sorted({s for k, s in live if k == "slab"})
        check_eq(sum(1 for k, s in live if k == "slab"), je["small.nmalloc"] - je["small.ndalloc"],
                 "regions in use or cached == small.nmalloc - small.ndalloc")
        check_eq(sum(1 for k, s in live if k == "large"), je["large.nmalloc"] - je["large.ndalloc"],
                 "large allocations == large.nmalloc - large.ndalloc")
        check_eq(sum(je["curregs"]), sum(1 for k, s in live if k == "slab"), "sum of curregs")
        # per bin: the size classes with regions, in order, against the nonzero curregs
        check_eq([sum(1 for k, s2 in live if k == "slab" and s2 == s) for s in sizes],
                 [c for c in je["curregs"] if c], "regions per bin == bins.<j>.curregs")
        used = con.execute("SELECT sum(o.size) FROM object o JOIN heap h ON h.id = o.heap_id"
                           " WHERE h.allocator = 'jemalloc' AND o.state = 'used'").fetchone()[0]
        check(used_memory <= used, "redis's used_memory %d <= the used bytes found %d" % (used_memory, used))
        top = cprof("top", "--db", db, "--json", json=True)
        roots = top.get("roots") or []
        lib = {r["name"]: r["retained_bytes"] for r in roots
               if r.get("kind") == "module" and r.get("name") in LIBRARIES}
        note("used bytes %d = used_memory %d + %d not counted by zmalloc; library roots retain %s"
             % (used, used_memory, used - used_memory, lib))
        check(any(r.get("name", "").startswith("redis-server") for r in roots),
              "top --json: redis-server's data among the retaining roots")
        check([l for l in text.splitlines() if l.startswith("leaked ")],
              "the summary reports the leaks")
        check(roots and all(r["retained_bytes"] > 0 for r in roots),
              "top --json: the roots with what each retains")
        check("its heap is not analyzed" not in text, "no 'not analyzed' line")

finish()
