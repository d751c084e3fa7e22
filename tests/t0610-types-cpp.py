#!/usr/bin/env python3
"""t0610: C++ objects are named from their vtable (corpus/shapes.cpp).

300 Circle, 200 Square and 100 Triangle held by a global std::vector<Shape *>, and
50 Circle leaked.  Every one of them must be typed by its dynamic class, from its
vtable pointer (type_source 'vtable'), leaked ones included; the vector's buffer
of pointers is typed from DWARF; `histogram --by type` and `roots --type Circle`
count them exactly.  The same core with a stripped copy of the executable (no symbols,
no DWARF) names the same classes from RTTI: each vtable's type_info and its name.
The leak reports (the summary's, `leaks`, `leaks --by type`) name the leaked
objects' class, in both.  A C++ object that an allocator of the program's own puts
after a 24-byte header is "Session at +0x18".
"""
import os
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

if not os.path.exists(os.path.join(corpus_dir(), "shapes")):
    skip("g++ is not installed: the C++ corpus program was not built")
c = corpus_core("shapes")
m = c.manifest


def typed_objects(exe, db):
    """Analyze the core with EXE: {addr: (type, type_source)}, and the program's
    objects whose class is not the one recorded.  The leak reports name each
    leaked object's class: the summary's (from memory), `leaks` (from the
    database), and `leaks --by type` counts them."""
    summary = cprof("analyze", c.core, exe, "--db", db, "--json", json=True)
    leaked = {parse_addr(o["addr"]): o["class"] for o in m["objects"] if o["leaked"]}
    top = summary["leaks"]["top"]
    check(top and all(leaked.get(parse_addr(r["addr"])) == r.get("type") for r in top),
          "%s: the summary's leak roots are typed by their class (%s)" % (db, top[:2]))
    rows = cprof("leaks", "--db", db, "--json", json=True)["leaks"]
    check_eq(sorted((parse_addr(r["addr"]), r.get("type")) for r in rows), sorted(leaked.items()),
             "%s: leaks: every leak root, typed by its class" % db)
    groups = cprof("leaks", "--db", db, "--by", "type", "--json", json=True)["groups"]
    want = {}
    for cls in leaked.values():
        want[cls] = want.get(cls, 0) + 1
    check_eq({g["type"]: g["roots"] for g in groups}, want,
             "%s: leaks --by type: the leak roots per class" % db)
    con = sqlite3.connect(db)
    typed = {a: (n, s) for a, n, s in con.execute(
        "SELECT o.addr, t.name, o.type_source FROM object o JOIN type t ON t.id = o.type_id")}
    con.close()
    return typed, [(o["addr"], o["class"], typed.get(parse_addr(o["addr"]))) for o in m["objects"]
                   if typed.get(parse_addr(o["addr"])) != (o["class"], "vtable")]


db = os.path.join(c.dir, "t0610.db")
typed, wrong = typed_objects(c.exe, db)
check(not wrong, "all %d objects are typed by their vtable (wrong: %s)" % (len(m["objects"]), wrong[:3]))

want = {}
for o in m["objects"]:
    want[o["class"]] = want.get(o["class"], 0) + 1
hist = {h["type"]: h["count"] for h in cprof("histogram", "--db", db, "--json", json=True)}
for cls, n in sorted(want.items()):
    check_eq(hist.get(cls), n, "histogram: %s" % cls)
check(any(t.startswith("vector<Shape*") for t in hist), "the std::vector is typed from DWARF")
check(any(t.startswith("Shape *[") for t in hist),
      "its buffer is an array of Shape * (DWARF, through the vector's base class)")

groups = {g["root"]: g["count"] for g in cprof("roots", "--db", db, "--type", "Circle", "--json", json=True)}
held = sum(1 for o in m["objects"] if o["class"] == "Circle" and not o["leaked"])
leaked = sum(1 for o in m["objects"] if o["class"] == "Circle" and o["leaked"])
check_eq(groups, {"shapes!g_shapes": held, "leaked (no root)": leaked},
         "roots --type Circle: the global holds %d, %d are leaked" % (held, leaked))

with case("stripped executable: classes from RTTI"):
    # A stripped copy of the executable (same build-id) has no _ZTV symbol: the
    # classes come from each vtable's type_info (its name string, its own vtable
    # one of libstdc++'s exported type_info classes').  The same objects must get
    # the same classes, as the program recorded them.
    require_tool("strip")
    stripped = os.path.join(c.dir, "shapes-stripped")
    subprocess.run(["strip", "--strip-all", "-o", stripped, c.exe], check=True)
    syms = subprocess.run(["readelf", "-s", "-W", stripped], capture_output=True,
                          text=True).stdout
    check("_ZTV6Circle" not in syms and ".debug_info" not in subprocess.run(
        ["readelf", "-S", "-W", stripped], capture_output=True, text=True).stdout,
          "the stripped copy has no vtable symbol and no DWARF (else this case tests nothing)")
    typed2, wrong = typed_objects(stripped, os.path.join(c.dir, "t0610-stripped.db"))
    check(not wrong, "stripped: all %d objects are typed by their class (wrong: %s)"
          % (len(m["objects"]), wrong[:3]))
    extra = sorted({n for a, (n, s) in typed2.items() if s == "vtable"} -
                   {o["class"] for o in m["objects"]})
    check(not extra, "stripped: no other class is named from a vtable (%s)" % extra[:5])

DEMANGLE = r"""
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
namespace shop {
struct Till {
	__attribute__((noinline)) void wait(int n) {
		void *volatile kept = malloc(40 + n);
		printf("%p\n", kept);
		fflush(stdout);
		for (;;)
			pause();
	}
};
}
int main() { shop::Till t; t.wait(1); return 0; }
"""

with case("C++ frames are named demangled"):
    # A frame of a C++ function was named by its symbol
    # ("_ZN4shop4Till4waitEi"), where gdb says shop::Till::wait: a local of it
    # holds a block, whose root slot names the frame as c++filt spells it, less
    # the parameters.
    dd = os.path.join(WORK, "t0610-demangle")
    dexe = build_c_program(dd, "till", DEMANGLE, cc="g++")
    words, dcore = run_and_dump(dexe, dd, "till")
    kept = int(words[0], 16)
    ddb = os.path.join(dd, "till.db")
    cprof("analyze", dcore, dexe, "--db", ddb)
    con = sqlite3.connect(ddb)
    names = [n for n, in con.execute(
        "SELECT rr.slot_name FROM root_ref rr JOIN object o ON o.id = rr.dst WHERE o.addr = ?",
        (kept,))]
    con.close()
    want = subprocess.run(["c++filt", "_ZN4shop4Till4waitEi"], capture_output=True,
                          text=True).stdout.strip().split("(")[0]
    check(want == "shop::Till::wait" and any((" %s (" % want) in n for n in names),
          "the block's slot names the frame %s (%s)" % (want, names))

HEADER = r"""
#include <cstdio>
#include <cstdlib>
#include <new>
#include <unistd.h>
struct Session {
	virtual ~Session() {}
	virtual int id() { return 7; }
	long counters[6];
};
struct Header { size_t size; const char *file; unsigned line; };
/* an allocator of its own, as MariaDB's my_malloc: a header, then the object */
static void *my_alloc(size_t n) {
	Header *h = static_cast<Header *>(malloc(sizeof(Header) + n));
	h->size = n;
	h->file = __FILE__;
	h->line = __LINE__;
	return h + 1;
}
Session *g_session;
int main() {
	g_session = new (my_alloc(sizeof(Session))) Session();
	printf("%p\n", (void *)((char *)g_session - sizeof(Header)));
	fflush(stdout);
	for (;;)
		pause();
}
"""

with case("a C++ object behind an allocation header"):
    # A MariaDB trial: my_malloc puts 24 bytes before each object, so every THD
    # (27,400 B) was untyped: its vtable pointer is at +0x18 of the chunk.  A
    # program with such an allocator: the chunk is "Session at +0x18".
    hd = os.path.join(WORK, "t0610-header")
    hexe = build_c_program(hd, "header", HEADER, cc="g++")
    words, hcore = run_and_dump(hexe, hd, "header")
    hdb = os.path.join(hd, "header.db")
    cprof("analyze", hcore, hexe, "--db", hdb)
    con = sqlite3.connect(hdb)
    got = con.execute("SELECT t.name, o.type_source FROM object o JOIN type t ON"
                      " t.id = o.type_id WHERE o.addr = ?", (int(words[0], 16),)).fetchone()
    con.close()
    check_eq(got, ("Session at +0x18", "vtable"),
             "the chunk is typed by the class whose vtable pointer follows the header")

finish()
