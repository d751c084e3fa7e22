#!/usr/bin/env python3
"""t0760: Go objects typed through what only the runtime's data says
(corpus/go/gotypes).

Every object the manifest lists must be an object of its slot's size typed with the
Go type the program gave it:
  - *Circle held by a Shape interface (iface: the itab's type), Square values boxed
    by it (the data word points to a copy), *Circle held by `any` (eface: the type
    word): typed from DWARF through the interface's dynamic type;
  - *Big (a malloc header) and *Huge (a large span's largeType), held only through
    unsafe.Pointer: typed by the runtime (type_source 'runtime');
  - *Circle values of a small map (one group, no directory, from Go 1.24) and of a
    large one, the strings that Circle values stored in a map's slots point to,
    and the *Circle of values a map keeps behind a pointer: typed from DWARF
    through the map's internals (directory, tables, groups; or buckets);
  - closures capturing a *Circle: named "closure <function>" and sized from the
    captured variables' offsets, and the *Circle typed through them;
  - the *Circle a *Big or *Huge holds: typed by following the runtime's type;
  - the *Circle of an atomic.Pointer[Circle], in a global and in a field (its type
    said only by the zero-length `_ [0]*T` member);
  - an Outer reached as the *Inner embedded at its start, exactly two Inners long:
    one main.Inner (not [2]main.Inner), and what follows the Inner left untyped;
  - a Wrap reached only as the *Mid 16 bytes into it: "main.Mid at +0x10" (the type
    of what is before it unknown), and the *Circle its C points to typed through it
    (before, a typed pointer into an object's middle typed nothing: on Caddy, 393
    pending timers the timer heap points 16 bytes into);
  - a method value held by `any`: the closure (main.(*Ticker).Tick-fm) typed through
    the eface's func type, its receiver main.Ticker and the *Circle behind it (on
    Caddy: the timers' http2 stream closures, streams and serverConns, 7 MiB);
  - interface slices' storage named after the interface ([n]main.Shape, not
    runtime.iface), and [n]T counted from the slice's cap or the string's len where
    the slot has room for more ([17]main.Shape in 288 bytes, [5]*main.Circle in 48,
    [20]uint8 in 24);
and the summary states the fraction of the reachable objects typed.  Each object of the manifest says which
of these leads to it ("via").
"""
import os
import re
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("gotypes")

c = corpus_core("gotypes")
m = c.manifest
db = os.path.join(c.dir, "t0760.db")
_, out, _ = cprof("analyze", c.core, c.exe, "--db", db)
got, by_via = check_go_types(db, m)


def check_typed_fraction(db, out, what):
    """The summary's typed fraction is of the reachable objects (not of free
    chunks, leaks or garbage), by count and by bytes, as the database has them."""
    con = sqlite3.connect(db)
    n, typed, nb, tb = con.execute(
        "SELECT count(*), count(type_id), sum(size), "
        "sum(CASE WHEN type_id IS NULL THEN 0 ELSE size END) FROM object WHERE reachable = 1"
    ).fetchone()
    con.close()
    check("typed         %.1f%% of the reachable objects, %.1f%% of their bytes"
          % (100.0 * typed / n, 100.0 * tb / nb) in out,
          "%s: the summary gives the fraction of the reachable objects typed (%d of %d; %s)"
          % (what, typed, n, [l.strip() for l in out.splitlines() if "typed  " in l]))


check_typed_fraction(db, out, "gotypes")
# A cgo core: free and leaked C chunks are objects, not reachable ones.
if os.path.exists(os.path.join(corpus_dir(), "gocgo")):
    cg = corpus_core("gocgo")
    cdb = os.path.join(cg.dir, "t0760.db")
    _, cout, _ = cprof("analyze", cg.core, cg.exe, "--db", cdb)
    check_typed_fraction(cdb, cout, "gocgo")
elif REQUIRE_ALL:
    fail("gocgo was not built (cgo): the typed fraction of a core with C chunks is unchecked")
by_type = {}
for o in m["objects"]:
    by_type.setdefault(o["type"], []).append(o)
shapes_storage = [t for t in by_type if t.endswith("]main.Shape") and t != "[17]main.Shape"]
check_eq(sorted(by_type), sorted(["[17]main.Shape", "[20]uint8", "[5]*main.Circle",
                                  "closure main.(*Ticker).Tick-fm", "closure main.closure.func1",
                                  "main.Big", "main.Circle", "main.Huge", "main.Inner",
                                  "main.Mid at +0x10", "main.Square", "main.Ticker", "string"] +
                                 shapes_storage[:1]),
         "the manifest lists the fourteen types")
check_eq(sorted({v for v, _ in by_via}),
         ["after embedded", "atomic.Pointer", "atomic.Pointer field", "chan", "closure",
          "closure variable", "eface", "embedded", "embedded field", "header",
          "header field", "iface", "interface slice", "largeType", "largeType field", "map",
          "map indirect", "map slot", "method value", "method value field",
          "method value receiver", "middle", "middle field", "slice cap", "small map",
          "string len"],
         "... reached in twenty-six ways")
con = sqlite3.connect(db)
# The small map (Go 1.24+): its circles are held by one object, its single group,
# which the map's dirPtr points to directly (dirLen 0).
small = [parse_addr(o["addr"]) for o in by_via[("small map", "main.Circle")]]
holders = con.execute(
    "SELECT DISTINCT t.name, s.size FROM ref r JOIN object d ON d.id = r.dst "
    "JOIN object s ON s.id = r.src LEFT JOIN type t ON t.id = s.type_id "
    "WHERE d.addr IN (%s)" % ",".join("?" * len(small)), small).fetchall()
check_eq([h[0] for h in holders], ["noalg.map.group[string]*main.Circle"],
         "the small map's %d circles are held by its one group" % len(small))
# Following runtime-typed objects: Big's and Huge's circles are typed from DWARF.
for via in ("header field", "largeType field"):
    srcs = {got[parse_addr(o["addr"])][2] for o in by_via[(via, "main.Circle")]}
    check_eq(srcs, {"dwarf"}, "%s: typed from DWARF, through the runtime-typed holder" % via)
# "T at +off" has T's fields: path names the Mid's C, 16 bytes further on.
mid_circle = by_via[("middle field", "main.Circle")][0]["addr"]
_, out, _ = cprof("path", "--db", db, mid_circle)
check(re.search(r"main\.Mid at \+0x10 \(\d+ B\), entered at \+0x10 \(interior\), \.C at \+0x10", out),
      "path to a middle Circle names the Mid's field .C at +0x10:\n%s" % out)
# The channel's buffer: [chan_cap]*main.Circle, from the channel's element type.
bufs = [t for (t,) in con.execute("SELECT t.name FROM object o JOIN type t ON t.id = o.type_id "
                                  "WHERE t.name = ?", ("[%d]*main.Circle" % m["chan_cap"],))]
check_eq(len(bufs), 1, "the channel's buffer is one object typed [%d]*main.Circle" % m["chan_cap"])
for typ in ("main.Big", "main.Huge"):
    srcs = {got[parse_addr(o["addr"])][2] for o in by_type[typ] if parse_addr(o["addr"]) in got}
    check_eq(srcs, {"runtime"}, "%s: typed by the runtime (its header or largeType)" % typ)
con.close()
finish()
