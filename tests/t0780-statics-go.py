#!/usr/bin/env python3
"""t0780: static composite literals named by the variable (corpus/go/gostatic).

gostatic's package variables are initialized by composite literals the compiler
lays out in .data without a symbol (`var store = &Store{...}`, `var table =
[]*Entry{{...}, ...}`, `var cfg = &Config{Limits: &Limits{...}}`); heap objects
hang from their fields. Its manifest lists each variable, the static object it
points to (address, size) and each heap object hanging from a static object's slot
(the slot's path and address, the object's address and size). From the core:
  - each static object lies in the executable's .data and no ELF symbol starts
    there (the program's literals are what the test is about);
  - the root reference from each listed slot to its object is named by the
    variable and the path ("gostatic!main.store.Blocks",
    "gostatic!main.table[2].Items", "gostatic!main.cfg.Spare[1]"), and no root slot
    of the executable's data is left as module+offset inside a static object;
  - the objects are retained under the variable's root node ("gostatic!main.store"
    holds all N blocks, which its Blocks array and ByHash map share), and `roots
    --type main.Block` names the variable;
  - typed from the static object's type: the N blocks main.Block, the cache's
    items main.Item (through cfg.Limits.Cache, a map in a static object a static
    object points to).
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gostatic")

for dumper in available_dumpers():
    c = corpus_core("gostatic", dumper=dumper)
    m = c.manifest
    db = os.path.join(c.dir, "t0780-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    elf = Elf(c.exe)
    data = [s for s in elf.sections() if s["name"] == ".data"][0]
    syms = {v for lst in elf.symbols().values() for v, _, _ in lst}
    statics = {v["name"]: v for v in m["variables"]}
    wrong = [n for n, v in statics.items()
             if not (data["addr"] <= parse_addr(v["target"]) < data["addr"] + data["size"])
             or parse_addr(v["target"]) in syms]
    check(not wrong, "%s: the %d static objects lie in .data, under no symbol (wrong: %s)"
          % (dumper, len(statics), wrong))

    named = {}
    for slot, name, addr in con.execute(
            "SELECT r.slot, r.slot_name, o.addr FROM root_ref r JOIN object o ON o.id = r.dst"):
        named[(slot, addr)] = name
    bad = []
    for h in m["hanging"]:
        got = named.get((parse_addr(h["slot"]), parse_addr(h["addr"])))
        if got != "gostatic!" + h["path"]:
            bad.append((h["path"], got))
    check(not bad, "%s: each of the %d slots holding a heap object is named by its variable "
          "and path (wrong: %s)" % (dumper, len(m["hanging"]), bad[:4]))
    spans = [(parse_addr(v["target"]), parse_addr(v["target"]) + v["size"])
             for v in statics.values()]
    anon = [(hex(s), n) for (s, a), n in named.items()
            if any(lo <= s < hi for lo, hi in spans) and not n.startswith("gostatic!main.")]
    check(not anon, "%s: no slot of a static object is named module+offset (%s)"
          % (dumper, anon[:3]))

    nodes = dict(con.execute("SELECT name, id FROM root_node WHERE kind = 'global'"))
    check("gostatic!main.store" in nodes and "gostatic!main.table" in nodes and
          "gostatic!main.cfg" in nodes,
          "%s: the variables are root nodes: %s" % (dumper, sorted(
              n for n in nodes if n.startswith("gostatic!main."))))
    blocks = [parse_addr(a) for a in m["blocks"]]
    rows = dict(con.execute("SELECT addr, retaining_root FROM object"))
    under = [a for a in blocks if rows.get(a) != nodes.get("gostatic!main.store")]
    check(not under, "%s: all %d blocks are retained by the root node gostatic!main.store "
          "(not: %s)" % (dumper, len(blocks), [hex(a) for a in under[:3]]))
    (ret,) = con.execute("SELECT retained_count FROM root_node WHERE name = "
                         "'gostatic!main.store'").fetchone()
    check(ret >= 2 * len(blocks), "%s: gostatic!main.store retains its blocks and their "
          "payloads (%d objects)" % (dumper, ret))
    roots = cprof("roots", "--db", db, "--type", "main.Block", "--json", json=True)
    names = [r["root"] for r in roots]
    check("gostatic!main.store" in names and sum(r["count"] for r in roots) == len(blocks),
          "%s: roots --type main.Block names the variable main.store: %s" % (dumper, names))

    typed = dict(con.execute("SELECT o.addr, t.name FROM object o JOIN type t ON t.id = o.type_id"))
    wrong = [hex(a) for a in blocks if typed.get(a) != "main.Block"]
    check(not wrong, "%s: all %d blocks typed main.Block (wrong: %s)" % (dumper, len(blocks), wrong[:3]))
    items = [parse_addr(a) for a in m["cache_items"]]
    wrong = [hex(a) for a in items if typed.get(a) != "main.Item"]
    check(not wrong, "%s: the %d items of cfg.Limits.Cache typed main.Item (wrong: %s)"
          % (dumper, len(items), wrong))
    con.close()

finish()
