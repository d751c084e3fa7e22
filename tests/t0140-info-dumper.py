#!/usr/bin/env python3
"""t0140: who dumped the core, and what killed the process, as each output says it.

For threads and threads-static, dumped by the kernel (SIGABRT) and by gdb's gcore
(the harness knows which: the oracle):
  - `info --json`: process.dumper is "kernel" or "gcore"; process.killed is true for
    the kernel core (signal 6) and false for the gcore one (gdb stops the process
    with SIGSTOP to dump it: that signal killed nothing);
  - `info` (text): the gcore core says "dumper   gcore ... not killed", and no line
    says the process was killed by SIGSTOP;
  - `analyze` (text summary): "killed by SIGABRT" for the kernel core, "dumped by
    gcore (not killed)" and no "killed by" for the gcore one; `analyze --json`:
    process.signal 6 / 0 and process.dumper;
  - cprof.db's meta: signal "6" / "0", dumper; schema_version equals the database's
    PRAGMA user_version and the schema version docs/schema.md states; every meta key
    written is in docs/schema.md's meta table.
And a gcore core of a process run with address space randomization (gdb then writes
PF_RANDOMIZE in pr_flag) is a gcore snapshot too.

Mappings with no access: gdb's gcore writes them as readable (PF_R) anonymous
memory, full of zeros. For heap threads (four glibc arenas, each heap mapped
PROT_NONE up to its maximum size: a reserve), threads (stack guards) and goblocks
(the Go runtime's reserved address space and heap arena tails), the kernel's
core is the oracle (p_flags 0: `info --json` perms "---"): each such mapping has the
same role, "heap reserve" or "no access", in the gcore core of the same program (the
corpus runs without address randomization: the same addresses), and the summaries'
"heap reserves" and "guards" lines count the same mappings and bytes.

The command line: the kernel keeps its first 79 bytes (NT_PRPSINFO's pr_psargs). Kernel
cores of /bin/sh run with command lines of 40, 77, 78, 79, 80 and 300 characters (the
oracle: /proc/PID/cmdline, read before the dump): `info --json` and `analyze --json`
give process.args as the first 79 characters and args_truncated true exactly when the
line fills them (78 characters or more: the kernel's own copy ends with a space
otherwise); `info` and the summary end a full one with "...".
"""
import os
import re
import resource
import sqlite3
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403


def documented_meta():
    """(the keys of docs/schema.md's meta table, the schema_version it states)."""
    with open(os.path.join(SOURCE_ROOT, "docs", "schema.md")) as f:
        text = f.read()
    section = text[text.index("### meta"):]
    section = section[:section.index("\n### ", 5)]
    keys, version = set(), None
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        for k in re.findall(r"`([a-z_]+)`", cells[0]):
            keys.add(k)
        if cells[0] == "`schema_version`":
            version = re.match(r"\d+", cells[1]).group(0)
    return keys, version


def check_core(c, d):
    killed = d == "kernel"
    info = cprof("info", c.core, c.exe, "--json", json=True)
    p = info.get("process") or {}
    check_eq(p.get("dumper"), d, "info: process.dumper")
    check_eq(p.get("killed"), killed, "info: process.killed")
    if killed:
        check_eq((p.get("signal") or {}).get("number"), 6, "info: process.signal.number")
    _, out, _ = cprof("info", c.core, c.exe)
    if d == "gcore":
        check(re.search(r"^dumper +gcore\b.*not killed", out, re.M) is not None,
              "info says the gcore core is a snapshot: %r" % out[:400])
        check(re.search(r"^signal ", out, re.M) is None,
              "info prints no signal line for gcore: %r" % out[:400])

    db = os.path.join(c.dir, "t0140.db")
    remove_db(db)
    _, out, _ = cprof("analyze", c.core, c.exe, "--db", db)
    if killed:
        check("killed by SIGABRT" in out, "the summary says killed by SIGABRT: %r" % out[:500])
    else:
        check("dumped by gcore (not killed)" in out and "killed by" not in out,
              "the summary says dumped by gcore, not killed by: %r" % out[:500])
    con = sqlite3.connect(db)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    user_version = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    check_eq(meta.get("signal"), "6" if killed else "0", "meta signal")
    check_eq(meta.get("dumper"), d, "meta dumper")
    keys, version = documented_meta()
    check_eq(meta.get("schema_version"), str(user_version), "meta schema_version, PRAGMA user_version")
    check_eq(version, meta.get("schema_version"), "the schema version docs/schema.md states")
    check_eq(sorted(set(meta) - keys), [], "meta keys docs/schema.md does not document")
    j = cprof("analyze", c.core, c.exe, "--db", db, "--json", json=True)
    jp = j.get("process") or {}
    check_eq(jp.get("signal"), 6 if killed else 0, "analyze --json: process.signal")
    check_eq(jp.get("dumper"), d, "analyze --json: process.dumper")
    remove_db(db)


def gcore_with_aslr():
    """gdb writes the task's flags as pr_flag: PF_RANDOMIZE (0x400000) whenever
    address space randomization is on - as it is for every process but the
    corpus's (the harness runs them without it). A gcore core of such a process
    must still say gcore."""
    require_tool("gcore")
    with open("/proc/sys/kernel/randomize_va_space") as f:
        if f.read().strip() == "0":
            skip("address space randomization is off on this machine")
    with scratch("aslr") as d:
        p = subprocess.Popen(["sleep", "120"], cwd=d, stdin=subprocess.DEVNULL)
        try:
            core = dump_process(p, d, "sleep")
        finally:
            p.kill()
            p.wait()
        check_aslr_core(core)


def check_aslr_core(core):
    flags = [struct.unpack_from("<Q", desc, 8)[0] for n, t, desc, _ in Elf(core).notes()
             if t == 3 and n == "CORE" and len(desc) >= 16]   # NT_PRPSINFO's pr_flag
    check(flags and flags[0] & 0x400000, "gdb wrote PF_RANDOMIZE in pr_flag (%s)"
          % [hex(x) for x in flags])
    j = cprof("info", core, "--json", json=True)
    check_eq((j["process"].get("dumper"), j["process"].get("killed")), ("gcore", False),
             "info --json: a gcore snapshot, not killed")
    rc, out, err = cprof("info", core)
    check("killed by SIGSTOP" not in out and "dumper   gcore" in out,
          "info says gcore, and no line says the process was killed by SIGSTOP")


def shell_core(d, length):
    """A kernel core of /bin/sh whose command line has LENGTH characters, and that
    line as /proc/PID/cmdline says it (NULs as spaces)."""
    argv = ["/bin/sh", "-c", "read x; kill -ABRT $$", "sh"]
    fill = length - len(" ".join(argv)) - 1
    argv.append("x" * fill)
    p = subprocess.Popen(argv, cwd=d, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         preexec_fn=lambda: resource.setrlimit(
                             resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
    with open("/proc/%d/cmdline" % p.pid, "rb") as f:
        line = f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
    p.communicate(b"\n", timeout=60)
    cores = [f for f in os.listdir(d) if f.startswith("core")]
    if p.returncode != -6 or not cores:
        fail("sh did not die of SIGABRT with a core (status %s, %s)" % (p.returncode, cores))
    check_eq(len(line), length, "the command line's length")
    return os.path.join(d, cores[0]), line


def command_lines():
    if "kernel" not in available_dumpers():
        fail("no kernel cores here (the command line cases need them)")
    for length in (40, 77, 78, 79, 80, 300):
        with scratch("psargs-%d" % length) as d:
            core, line = shell_core(d, length)
            full = length >= 78
            for cmd in ("info", "analyze"):
                extra = ["--db", os.path.join(d, "cprof.db")] if cmd == "analyze" else []
                p = cprof(cmd, core, "/bin/dash", "--json", *extra, json=True)["process"]
                check_eq((p.get("args"), p.get("args_truncated")), (line[:79], full),
                         "%d characters: %s --json: process.args, args_truncated" % (length, cmd))
                _, out, _ = cprof(cmd, core, "/bin/dash", *extra)
                first = [l for l in out.splitlines() if line[:20] in l][:1]
                end = line[:79] + ("... (the kernel keeps 79 bytes)" if full else "")
                check(first and first[0].endswith(end),
                      "%d characters: %s ends the command line %s: %s"
                      % (length, cmd, "with ..." if full else "as it is", first))


def no_access_roles():
    for prog, args in (("heap", ("threads",)), ("threads", ()), ("goblocks", ())):
        roles, lines = {}, {}
        for d in ("kernel", "gcore"):
            c = corpus_core(prog, args, dumper=d)
            info = cprof("info", c.core, c.exe, "--json", json=True)
            roles[d] = {(m["start"], m["end"]): (m["perms"], m["role"]) for m in info["mappings"]}
            db = os.path.join(c.dir, "t0140-roles.db")
            _, out, _ = cprof("analyze", c.core, c.exe, "--db", db)
            con = sqlite3.connect(db)
            u64 = (1 << 64) - 1       # SQLite's integers are signed: the vsyscall page
            stored = {("0x%x" % (a & u64), "0x%x" % (b & u64)): r for a, b, r in
                      con.execute("SELECT start, end, role FROM mapping")}
            con.close()
            check_eq(stored, {k: r for k, (p, r) in roles[d].items()},
                     "%s/%s: cprof.db's mapping.role is info's role of each mapping" % (prog, d))
            remove_db(db)
            lines[d] = [re.split(r"  +", l.strip())[:3] for l in out.splitlines()
                        if l.startswith(("  heap reserves", "  no access"))]
        if prog == "goblocks":
            # The Go runtime picks its arenas' addresses at random and the
            # two cores come from two runs: their mappings differ (8 or 9
            # reservations), but not in kind. It maps no anonymous memory
            # read-only: each read-only anonymous mapping of the gcore core
            # had no access, as each of the kernel core's is.
            ro = [(k, r) for k, (p, r) in roles["gcore"].items()
                  if p == "r--" and r in ("anonymous", "no access")]
            check(ro and all(r == "no access" for k, r in ro),
                  "goblocks: the gcore core's read-only anonymous mappings are no access: %s" % ro)
            check(all(r == "no access" for p, r in roles["kernel"].values() if p == "---"),
                  "goblocks: the kernel core's no-access mappings are no access")
            continue
        oracle = {k: r for k, (p, r) in roles["kernel"].items() if p == "---"}
        want = {"heap reserve"} if prog == "heap" else {"no access"}
        check(want <= set(oracle.values()),
              "%s: the kernel core has no-access mappings of kind %s: %s" % (prog, want, oracle))
        check_eq({k: roles["gcore"].get(k, ("", "(absent)"))[1] for k in oracle}, oracle,
                 "%s: the gcore core's roles of the kernel core's no-access mappings" % prog)
        check_eq(lines["gcore"], lines["kernel"],
                 "%s: the summaries' no-access lines (mappings, mapped bytes)" % prog)


def main():
    cprof_path()
    dumpers = all_dumpers()
    for prog in ("threads", "threads-static"):
        for d in dumpers:
            with case("%s/%s" % (prog, d)):
                check_core(corpus_core(prog, dumper=d), d)
    with case("the command line the kernel cut"):
        command_lines()
    if "kernel" in dumpers and "gcore" in dumpers:   # else all_dumpers failed already
        with case("mappings with no access, kernel and gcore"):
            no_access_roles()
    with case("gcore of a process with address space randomization"):
        gcore_with_aslr()
    finish()


main()
