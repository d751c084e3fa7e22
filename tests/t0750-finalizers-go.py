#!/usr/bin/env python3
"""t0750: finalizers and cleanups are roots (corpus/go/gofinal).

gofinal gives each of N resources (held by a global slice) a finalizer whose
closure captures a buffer of its own, and (Go 1.24+) N more a cleanup whose
argument holds a buffer: those buffers are reachable only from the finalizer or
cleanup record, a span special the collector scans as a root (mgcmark.go
markrootSpans). From its core:
  - every such buffer is a used object of its slot size, reachable, not garbage,
    and reached from a root slot named "finalizer of 0x<resource>" or
    "cleanup of 0x<resource>", the resource it was set on;
  - `roots` names those roots (kind "special").
Before this, these buffers were called garbage: the next collection would have
freed them, which is false.
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gofinal")

dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("gofinal", dumper=dumper)
    m = c.manifest
    db = os.path.join(c.dir, "t0750-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    kinds = {}
    for o in m["objects"]:
        kinds.setdefault(o["kind"], []).append(o)
    check_eq(len(kinds.get("finalizer", [])), m["n"], "%s: %d finalized resources" % (dumper, m["n"]))
    if m["cleanups"]:
        check_eq(len(kinds.get("cleanup", [])), m["n"], "%s: %d cleaned-up resources" % (dumper, m["n"]))
    for kind, objs in sorted(kinds.items()):
        wrong = []
        for o in objs:
            row = con.execute("SELECT id, size, reachable, leak FROM object WHERE addr <= ? "
                              "AND ? < addr + size", (parse_addr(o["buffer"]),) * 2).fetchone()
            if not row or row[1] != o["buffer_size"] or row[2] != 1 or row[3]:
                wrong.append((o["buffer"], row))
                continue
            # Who reaches it: a slot of the record of the special on its resource.
            want = "%s of 0x%x" % (kind, parse_addr(o["resource"]))
            slots = [s for (s,) in con.execute(
                "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT r.src FROM ref r "
                "JOIN up ON r.dst = up.id) SELECT f.slot_name FROM root_ref f "
                "JOIN up ON f.dst = up.id", (row[0],))]
            if not any(s.startswith(want) for s in slots):
                wrong.append((o["buffer"], want, slots[:3]))
        check(not wrong, "%s: each %s's buffer is reachable, not garbage, from its record "
              "(wrong: %s)" % (dumper, kind, wrong[:2]))
    roots = {r for (r,) in con.execute("SELECT name FROM root WHERE kind = 'special'")}
    for kind, objs in sorted(kinds.items()):
        names = {"%s of 0x%x" % (kind, parse_addr(o["resource"])) for o in objs}
        check(names <= roots, "%s: every %s record is a root (missing: %s)"
              % (dumper, kind, sorted(names - roots)[:3]))
    con.close()

finish()
