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
"""
import os
import re
import sqlite3
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


def main():
    cprof_path()
    dumpers = all_dumpers()
    for prog in ("threads", "threads-static"):
        for d in dumpers:
            with case("%s/%s" % (prog, d)):
                check_core(corpus_core(prog, dumper=d), d)
    finish()


main()
