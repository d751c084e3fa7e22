#!/usr/bin/env python3
"""t0400: cprof.db: its schema and every query docs/schema.md documents.

On the database of a corpus core (bigheap 20000: 20000 live chunks of three threads
in a random graph of about 36000 pointers, about 5% leaked in chains and cycles, free
chunks in every kind of list):
  - the file is one of ours (application_id, user_version) and its tables are
    exactly those of formats/schema.sql;
  - every ```sql block of docs/schema.md runs without error (those after a
    paragraph starting "Go:" on goprofile's core), and those that must
    return rows do;
  - no temporary file is left behind, and a second analyze keeps the first
    database as cprof.db.old;
  - a query command's errors: a missing database is named (later commands read it).
"""
import os
import re
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

c = corpus_core("bigheap", ("20000",))
d = os.path.join(c.dir, "t0400")
os.makedirs(d, exist_ok=True)
db = os.path.join(d, "cprof.db")
for f in os.listdir(d):
    os.unlink(os.path.join(d, f))

cprof("analyze", c.core, c.exe, "--db", db)
check(os.path.exists(db), "cprof.db written")
check(not [f for f in os.listdir(d) if ".tmp-" in f], "no temporary file left")

con = sqlite3.connect(db)
check_eq(con.execute("PRAGMA application_id").fetchone()[0], 0x63707266, "application_id")
check_eq(con.execute("PRAGMA user_version").fetchone()[0], 5, "schema version")
check_eq(con.execute("PRAGMA page_size").fetchone()[0], 65536, "page_size")
tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
          if not r[0].startswith("sqlite_")}
schema = open(os.path.join(SOURCE_ROOT, "formats", "schema.sql")).read()
declared = set(re.findall(r"CREATE TABLE (\w+)", schema))
check_eq(tables, declared, "the tables of formats/schema.sql")
meta = dict(con.execute("SELECT key, value FROM meta"))
for k in ("created", "tool_version", "schema_version", "core", "pid", "signal"):
    check(k in meta, "meta has %s" % k)
check_eq(meta.get("pid"), str(c.manifest["pid"]), "meta pid")

doc = open(os.path.join(SOURCE_ROOT, "docs", "schema.md")).read()
# Each query with the paragraph before it: "Go: ..." queries need a Go core.
queries = re.findall(r"([^\n]*(?:\n[^\n`]+)*)\n```sql\n(.*?)```", doc, re.S)
check(len(queries) >= 8, "docs/schema.md documents at least 8 queries (found %d)" % len(queries))
go_con = None
if any(t.strip().split("\n")[-1].startswith("Go:") or "\nGo:" in t for t, _ in queries):
    require_corpus_program("goprofile")
    gc = corpus_core("goprofile")
    go_db = os.path.join(gc.dir, "t0400.db")
    cprof("analyze", gc.core, gc.exe, "--db", go_db)
    go_con = sqlite3.connect(go_db)
for text, q in queries:
    title = " ".join(q.split())[:70]
    is_go = text.strip().startswith("Go:") or "\nGo:" in text
    with case(title):
        try:
            rows = (go_con if is_go else con).execute(q).fetchall()
        except sqlite3.Error as e:
            check(False, "runs without error: %s" % e)
            continue
        # Queries that look up one address, list mismatches or interior-only
        # chunks may be empty; every other one must find something here.
        may_be_empty = ("94000000000000" in q or "status != 'ok'" in q or
                        "interior_only = 1" in q)
        check(rows or may_be_empty, "returns rows%s" % (" (on a Go core)" if is_go else ""))
if go_con:
    go_con.close()
# What the analysis must have found in this core (bigheap's own counts).
check_eq(con.execute("SELECT count(*), sum(size) FROM object WHERE leak IS NOT NULL").fetchone(),
         (c.manifest["leaked"], c.manifest["leaked_bytes"]),
         "leaked chunks and bytes == the chains and cycles the program dropped")
check_eq(con.execute("SELECT count(*) FROM object WHERE leak = 'direct'").fetchone()[0],
         c.manifest["leak_roots"], "one leak root per dropped chain or cycle")
check_eq(con.execute("SELECT count(*) FROM ref").fetchone()[0],
         c.manifest["pointers"] - c.manifest["self"],
         "the ref table holds every pointer the program wrote (but those into their own chunk)")
check_eq(con.execute("SELECT count(*) FROM object WHERE state = 'used' AND flags & 256 = 0")
         .fetchone()[0], c.manifest["used_chunks"], "used chunks == those the program made")
con.close()

# The big tables are written as b-tree pages by cprof-core itself
# (src/store/bulk.c), not by SQLite: Debian's own sqlite3 must open each
# database and find it sound, indexes matching their tables.
with case("Debian's sqlite3: PRAGMA integrity_check"):
    cli = require_tool("sqlite3")
    for path in [db] + ([go_db] if go_con else []):
        r = subprocess.run([cli, path, "PRAGMA integrity_check; SELECT count(*) FROM ref;"
                            " SELECT count(*) FROM object INDEXED BY object_addr WHERE addr >= 0;"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        lines = r.stdout.decode("utf-8", "replace").split("\n")
        check(r.returncode == 0 and lines[0] == "ok",
              "%s: integrity_check says ok (%s)" % (os.path.basename(path), lines[:3]))

cprof("analyze", c.core, c.exe, "--db", db)
check(os.path.exists(db + ".old"), "a second analyze keeps the first database as .old")

rc, out, err = cprof("analyze", c.core, c.exe, "--db", "/nonexistent-dir/cprof.db", expect_rc=1)
errs = [l for l in stderr_lines(err) if l.startswith("cprof-core: error: ")]
check(len(errs) == 1 and "/nonexistent-dir/cprof.db" in errs[0],
      "an unwritable --db is one error naming it (%s)" % errs)
finish()
