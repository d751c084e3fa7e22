#!/usr/bin/env python3
"""t0420: every query command ends on a cprof.db whose stored links loop.

The database of a small corpus program's core (allocator) is copied and edited so
that its links form cycles, one kind per copy and all of them in the last:
  - idom: two reachable objects each other's immediate dominator, a third its own;
  - root_node.parent_id: two root nodes each other's parent, a third its own;
  - path_parent: two objects each other's shortest-path parent, a third its own.
Every query command (leaks, top, show, path, path --all, roots, histogram, pprof
by retention, site and type, goroutines, diff), on an object of each cycle, must end
within 30 s - before the guards `top` followed a looping tree 100,000 times per
entry - with status 0 (a sound answer), or 1 with one error line naming the database
(e.g. "the dominator tree loops", "its stored path ... does not lead back to a
root"); never a crash or a sanitizer report.  `top` on the root_node cycle must say
the tree loops, and `path` on the path_parent cycle that the path is broken.
"""
import os
import shutil
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

T = 30


def pick(con, sql, n=3):
    rows = [r[0] for r in con.execute(sql)]
    if len(rows) < n:
        raise Abort("need %d rows for %r, the database has %d" % (n, sql, len(rows)))
    return rows[:n]


def loop(con, table, column, ids):
    a, b, c = ids
    con.execute("UPDATE %s SET %s = ? WHERE id = ?" % (table, column), (b, a))
    con.execute("UPDATE %s SET %s = ? WHERE id = ?" % (table, column), (a, b))
    con.execute("UPDATE %s SET %s = ? WHERE id = ?" % (table, column), (c, c))


def run_all(db, addrs, what):
    """Every query command on DB; returns {command: (rc, stderr)}."""
    out = {}
    prof = db + ".pb.gz"
    cmds = [["leaks"], ["top"], ["top", "--json"], ["roots"], ["histogram", "--by", "type"],
            ["histogram", "--by", "site"], ["goroutines"], ["diff", db, db]]
    for by in ("retention", "site", "type"):
        cmds.append(["pprof", "--by", by, "-o", prof])
    for a in addrs:
        cmds += [["show", "0x%x" % a], ["show", "0x%x" % a, "--json"], ["path", "0x%x" % a],
                 ["path", "0x%x" % a, "--all", "5"]]
    for cmd in cmds:
        rc, _, err = cprof(*(cmd + ["--db", db]), expect_rc=None, timeout=T)
        label = "%s: %s" % (what, " ".join(cmd[:3]))
        check(rc in (0, 1), "%s: exit status 0 or 1 (got %d)" % (label, rc))
        if rc == 1:
            errors = lines_with(err, "cprof-core: error: ")
            check(len(errors) == 1 and db in errors[0],
                  "%s: one error line naming the database: %s" % (label, errors[:3]))
        out[" ".join(cmd)] = (rc, err)
    if os.path.exists(prof):
        os.unlink(prof)
    return out


c = corpus_core("allocator")
with scratch("cycles") as d:
    base = os.path.join(d, "base.db")
    cprof("analyze", c.core, c.exe, "--db", base)
    con = sqlite3.connect(base)
    objs = pick(con, "SELECT id FROM object WHERE reachable = 1 AND idom IS NOT NULL"
                     " AND path_parent IS NOT NULL ORDER BY id")
    nodes = pick(con, "SELECT id FROM root_node WHERE parent_id IS NOT NULL"
                      " ORDER BY retained_bytes DESC, id")
    addr = dict(con.execute("SELECT id, addr FROM object"))
    con.close()
    addrs = [addr[i] for i in objs]
    EDITS = {"idom": [("object", "idom", objs)],
             "root_node.parent_id": [("root_node", "parent_id", nodes)],
             "path_parent": [("object", "path_parent", objs)]}
    EDITS["all three"] = sum(EDITS.values(), [])
    results = {}
    for what, edits in EDITS.items():
        with case("%s loops" % what):
            db = os.path.join(d, what.replace(" ", "-") + ".db")
            shutil.copyfile(base, db)
            con = sqlite3.connect(db)
            for table, column, ids in edits:
                loop(con, table, column, ids)
            con.commit()
            con.close()
            results[what] = run_all(db, addrs, what)
    with case("what the guards say"):
        rc, err = results["root_node.parent_id"]["top"]
        check(rc == 1 and "the dominator tree loops" in err,
              "top on a root_node.parent_id cycle: the tree loops (%d, %r)" % (rc, err[-300:]))
        rc, err = results["path_parent"]["path 0x%x" % addrs[2]]
        check(rc == 1 and "does not lead back to a root" in err,
              "path on a path_parent self-loop: the stored path is broken (%d, %r)"
              % (rc, err[-300:]))

finish()
