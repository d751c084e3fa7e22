#!/usr/bin/env python3
"""t0010: the corpus and the harness, checked without cprof-core.

For every corpus program and every available dumper: the core's NT_PRSTATUS thread
ids equal the manifest's; a kernel core says SIGABRT; every global, local and TLS
object reads back (from the core, or from the mapped file per NT_FILE) as the
manifest's bytes; every symbol's address minus the module's load bias is its ELF
symbol value; and gdb (a second opinion, if installed) sees the same threads, the
manifest's functions in each backtrace, and the same bytes (x/Nxb).
A failure here is a corpus/harness problem, not a cprof-core one.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

PROGRAMS = ["threads", "threads-nopie", "threads-static", "uselib"]


def objects(m):
    for o in m["globals"]:
        yield "global %s" % o["name"], o
    for o in m["locals"]:
        yield "local %s of %s in thread %d" % (o["name"], o["function"], o["tid"]), o
    for o in m.get("tls", []):
        yield "tls %s of thread %d" % (o["name"], o["tid"]), o


def module_bias(m, path):
    if path == m["exe"]:
        return parse_addr(m["exe_load_bias"])
    for mod in m.get("modules", []):
        if mod["path"] == path:
            return parse_addr(mod["load_bias"])
    return None


def gdb_bytes(c, objs):
    """{index: bytes} of each (addr, size) in OBJS, read by gdb's x/Nxb."""
    script = os.path.join(c.dir, "t0010-x.gdb")
    with open(script, "w") as f:
        f.write("set pagination off\nset width 0\n")
        for i, (addr, size) in enumerate(objs):
            f.write("echo @@obj %d\\n\nx/%dxb %s\n" % (i, size, addr))
    r = subprocess.run(["gdb", "-batch", "-nx", "-x", script, c.exe, c.core],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    got, cur = {}, None
    for line in out.splitlines():
        mm = re.match(r"^@@obj (\d+)$", line)
        if mm:
            cur = int(mm.group(1))
            got[cur] = bytearray()
            continue
        if cur is not None and re.match(r"^0x[0-9a-f]+( <[^>]*>)?:", line):
            vals = line.split(":", 1)[1].split()
            got[cur] += bytes(int(v, 16) for v in vals)
    return got, out


def selfcheck(c, have_gdb):
    m = c.manifest
    core = Elf(c.core)
    tids = sorted(t["tid"] for t in m["threads"])
    check_eq(sorted(core.core_tids()), tids, "NT_PRSTATUS thread ids")
    if c.dumper == "kernel":
        check_eq(core.core_signal(), 6, "signal of the kernel core")
    check(core.core_complete(), "core file complete (%d bytes)" % core.size)
    check(os.path.realpath(m["exe"]) == os.path.realpath(c.exe),
          "manifest exe %s is the program run (%s)" % (m["exe"], c.exe))

    for what, o in objects(m):
        data, src = reference_read(core, parse_addr(o["addr"]), o["size"])
        check_eq(data.hex() if data is not None else None, o["bytes"],
                 "%s at %s (%d bytes), read from the core" % (what, o["addr"], o["size"]))

    for s in m["symbols"]:
        bias = module_bias(m, s["module"])
        if not check(bias is not None, "symbol %s: module %s has a load bias" % (s["name"], s["module"])):
            continue
        elf = Elf(s["module"])
        vals = [v for v, _, t in elf.symbols().get(s["name"], []) if t == 2]  # STT_FUNC
        check(parse_addr(s["addr"]) - bias in vals,
              "symbol %s at %s - bias %#x = %#x: ELF says %s" % (
                  s["name"], s["addr"], bias, parse_addr(s["addr"]) - bias, [hex(v) for v in vals]))
        off = elf.vaddr_to_offset(parse_addr(s["addr"]) - bias)
        data, src = reference_read(core, parse_addr(s["addr"]), 16)
        check(off is not None and data == elf.read(off, 16),
              "text of %s at %s reads as the file's bytes at offset %s" % (s["name"], s["addr"], off))
        if c.dumper == "kernel":
            check_eq([x[2] for x in src], ["file"], "kernel core leaves text of %s out" % s["name"])

    if not have_gdb:
        return
    bts, out = gdb_backtraces(c.exe, c.core)
    check_eq(sorted(bts), tids, "gdb's LWPs")
    for t in m["threads"]:
        bt = bts.get(t["tid"], [])
        check(is_subsequence(t["functions"], bt),
              "gdb backtrace of thread %d %s contains %s in order" % (t["tid"], bt, t["functions"]))
    objs = list(objects(m))
    got, out = gdb_bytes(c, [(o["addr"], o["size"]) for _, o in objs])
    for i, (what, o) in enumerate(objs):
        g = got.get(i)
        check_eq(g.hex() if g is not None else None, o["bytes"], "gdb x/%dxb %s (%s)" % (o["size"], o["addr"], what))


def main():
    dumpers = available_dumpers()
    if REQUIRE_ALL:
        check_eq(dumpers, ["kernel", "gcore"], "available dumpers (CPROF_REQUIRE_ALL=1)")
    if not dumpers:
        skip("no way to take a core here")
    have_gdb = shutil.which("gdb") is not None
    if not have_gdb:
        if REQUIRE_ALL:
            check(False, "gdb not installed (CPROF_REQUIRE_ALL=1)")
        else:
            warn("gdb not installed: no second opinion")
    for prog in PROGRAMS:
        for d in dumpers:
            with case("%s/%s" % (prog, d)):
                c = corpus_core(prog, dumper=d)
                selfcheck(c, have_gdb)
    finish()


main()
