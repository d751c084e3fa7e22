#!/usr/bin/env python3
"""t0540: `cprof-core path` marks interior pointers and words past the end of a type.

corpus/stale.c makes three chunks, each reachable one way only (its manifest gives
the addresses):
  - slack_target: held by the word at +32 of g_rec, a `struct rec` (24 bytes, typed
    by DWARF from the global) in a 40-byte chunk - past the end of its type;
  - mid_target: g_mid points 24 bytes into it - an interior pointer from a root;
  - chain_target: g_chain->next (a field, inside the struct) points 16 bytes into it.
Checked, text and JSON (formats/path.json.md): each step's entered_at/interior, the
holding word's pointer_at and past_type_end (true past the type, false inside it,
null for an object of unknown type: t0550 checks that on git's core), and the
text's marks.  The word itself is read
from the core independently (tests/lib reference_read), so the mark describes a word
that is there.
--all N is bounded (at most 10000: a usage error above, never an allocation sized
by the command line).
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

c = corpus_core("stale")
m = c.manifest
db = os.path.join(c.dir, "cprof-t0540-%d.db" % os.getpid())
cprof("analyze", c.core, c.exe, "--db", db)
rec = parse_addr(m["rec"]["addr"])
slack_target = parse_addr(m["slack_target"])
mid_target = parse_addr(m["mid_target"])
chain, chain_target = parse_addr(m["chain"]), parse_addr(m["chain_target"])


def path(addr):
    j = cprof("path", "0x%x" % addr, "--db", db, "--json", json=True)
    _, text, _ = cprof("path", "0x%x" % addr, "--db", db)
    return j, text


with case("oracle"):
    data, _ = reference_read(Elf(c.core), rec + m["rec"]["slack_word"], 8)
    check_eq(int.from_bytes(data or b"", "little"), slack_target,
             "the core's word at g_rec+%d is slack_target" % m["rec"]["slack_word"])
    check(m["rec"]["slack_word"] >= m["rec"]["type_size"], "the word lies past the type")

with case("past the type"):
    j, text = path(slack_target)
    steps = j["path"]
    check_eq(j["root"], "stale!g_rec+0x0", "root slot")
    check_eq([parse_addr(s["addr"]) for s in steps], [rec, slack_target], "the objects")
    check_eq(steps[0]["type"], m["rec"]["type"], "g_rec's chunk is typed")
    check_eq(steps[0]["pointer_at"], m["rec"]["slack_word"], "the holding word's offset")
    check_eq(steps[0]["past_type_end"], True, "the holding word is past the end of the type")
    check_eq((steps[0]["entered_at"], steps[0]["interior"]), (0, False), "g_rec enters at 0")
    check_eq((steps[1]["entered_at"], steps[1]["interior"]), (0, False),
             "slack_target is entered at its start")
    check("pointer_at" not in steps[1] and "past_type_end" not in steps[1],
          "the last step has no holding word")
    check("pointer at +0x%x (past the end of struct rec, %d bytes)"
          % (m["rec"]["slack_word"], m["rec"]["type_size"]) in text,
          "text marks the word past the end of the type:\n" + text)
    check("interior" not in text, "no interior mark on start pointers:\n" + text)

with case("interior from a root"):
    j, text = path(mid_target)
    steps = j["path"]
    check_eq([parse_addr(s["addr"]) for s in steps], [mid_target], "the object")
    check_eq((steps[0]["entered_at"], steps[0]["interior"]), (m["mid_offset"], True),
             "entered at the interior offset")
    check("entered at +0x%x (interior)" % m["mid_offset"] in text, "text mark:\n" + text)

with case("interior from a field"):
    j, text = path(chain_target)
    steps = j["path"]
    check_eq([parse_addr(s["addr"]) for s in steps], [chain, chain_target], "the objects")
    check_eq(steps[0]["field"], ".next", "the member")
    check_eq(steps[0]["past_type_end"], False, "a field is inside the type")
    check_eq((steps[1]["entered_at"], steps[1]["interior"]), (m["chain_offset"], True),
             "chain_target entered at its interior offset")
    check(".next at +0x10\n" in text and "entered at +0x%x (interior)" % m["chain_offset"]
          in text and "past the end" not in text, "text marks:\n" + text)

with case("--all"):
    js = cprof("path", "0x%x" % chain_target, "--all", "3", "--db", db, "--json", json=True)
    check(isinstance(js, list) and len(js) == 1, "--all: one path (one slot reaches it)")
    check_eq([(s["entered_at"], s["interior"]) for s in js[0]["path"]],
             [(0, False), (m["chain_offset"], True)], "--all: the same marks")
    check_eq(js[0]["path"][0].get("past_type_end"), False, "--all: past_type_end")

with case("--all bounds"):
    # A number from the command line must not size an allocation unchecked:
    # --all 2^64-1 wrapped calloc's count (a heap overflow under ASan).
    for n in ("18446744073709551615", "2147483648", "10001"):
        rc, out, err = cprof("path", "0x%x" % chain_target, "--all", n, "--db", db, expect_rc=2)
        check("at most 10000 paths" in err, "--all %s: a usage error (%r)" % (n, err.strip()))
    js = cprof("path", "0x%x" % chain_target, "--all", "10000", "--db", db, "--json", json=True)
    check_eq(len(js), 1, "--all 10000: the one path")

with case("the root slot's address"):
    # Several slots of one stack frame share its name: the path gives each
    # slot's address (root_ref.slot), in the text for a stack slot (a frame in a
    # module without symbols is named by its pc: "varnishd+0x4208f") and for any
    # name without an offset.
    # leaks all: chunks held by a global, a stack slot and a TLS variable
    lc = corpus_core("leaks", ("all",))
    ldb = os.path.join(lc.dir, "cprof-t0540-slots-%d.db" % os.getpid())
    cprof("analyze", lc.core, lc.exe, "--db", ldb)
    con = sqlite3.connect(ldb)
    rows = con.execute("SELECT rr.dst, rr.slot, rr.slot_name, r.kind FROM root_ref rr "
                       "JOIN root r ON r.id = rr.root_id WHERE r.kind != 'registers' "
                       "ORDER BY r.kind = 'globals', rr.id LIMIT 12").fetchall()
    con.close()
    check({"stack", "globals"} <= {r[3] for r in rows}, "stack and global root slots: %s"
          % sorted({r[3] for r in rows}))
    for dst, slot, name, kind in rows:
        js = cprof("path", str(dst), "--all", "100", "--db", ldb, "--json", json=True)
        mine = [p for p in js if p["root"] == name and p["path"][0]["id"] == dst]
        check("0x%x" % slot in [p.get("slot") for p in mine],
              "path --json gives slot 0x%x of %s: %s" % (slot, name, [p.get("slot") for p in mine]))
        _, text, _ = cprof("path", str(dst), "--all", "100", "--db", ldb)
        line = "%s, slot 0x%x (%s)" % (name, slot, kind) \
            if kind == "stack" or "+0x" not in name else "%s (%s)" % (name, kind)
        check(line in text.splitlines(), "path's text names the slot: %r" % line)
    os.unlink(ldb)

OWNERS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct holder { char pad[24]; void *target; };
struct holder *g_keep;
static void __attribute__((noinline)) park(void) {
	void *volatile a = malloc(40), *volatile b, *volatile c, *volatile e, *volatile f;
	b = c = e = f = a;
	g_keep = malloc(sizeof *g_keep);
	g_keep->target = a;
	printf("%p %p\n", (void *)a, (void *)g_keep);
	fflush(stdout);
	for (;;)
		pause();
}
int main(void) { park(); return 0; }
"""

with case("--all: other owners before more slots of one"):
    # Five slots of one frame point at the object, and a global reaches it
    # through a holder's void * member (named, though it types nothing): --all 2
    # gives one of the frame's slots and the global
    # (before: two slots of the frame; a Varnish trial needed --all 100 to see
    # the globals behind a thread's registers and frames).
    od = os.path.join(WORK, "t0540-owners")
    oexe = build_c_program(od, "owners", OWNERS)
    words, ocore = run_and_dump(oexe, od, "owners")
    odb = os.path.join(od, "owners.db")
    cprof("analyze", ocore, oexe, "--db", odb)
    target, holder = (int(w, 16) for w in words)
    js = cprof("path", "0x%x" % target, "--all", "2", "--db", odb, "--json", json=True)
    got = [(q["root_kind"], [parse_addr(x["addr"]) for x in q["path"]]) for q in js]
    check(len(got) == 2 and got[0][0] in ("stack", "registers") and
          ("globals", [holder, target]) in got,
          "--all 2: a slot of the thread, then the global through its holder: %s"
          % [(q["root"], q["root_kind"]) for q in js])
    sj = cprof("show", "0x%x" % target, "--db", odb, "--json", json=True)
    slots = {(x["slot"], x.get("addr")) for x in sj["root_slots"] if x["root_kind"] == "stack"}
    want = {(q["root"], q["slot"]) for q in cprof("path", "0x%x" % target, "--all", "10",
                                                  "--db", odb, "--json", json=True)
            if q["root_kind"] == "stack"}
    check(len(want) >= 5 and slots == want,
          "show --json: each stack slot with its address, as path gives them (%s, %s)"
          % (sorted(slots)[:2], sorted(want)[:2]))
    via = [q["path"][0].get("field") for q in js if q["root_kind"] == "globals"]
    check_eq(via, [".target"], "the holder's void * member is named on the way")
    js = cprof("path", "0x%x" % target, "--all", "10", "--db", odb, "--json", json=True)
    check(len(js) >= 4 and js[1]["root_kind"] == "globals",
          "--all 10: the global second, then the thread's other slots (%s)"
          % [(q["root"], q["root_kind"]) for q in js])

SHARED = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct holder { void *target; };
void *g_a, *g_b, *g_c, *g_d, *g_e, *g_f;
static void __attribute__((noinline)) park(void) {
	void *t = malloc(4000);
	struct holder *volatile h = malloc(sizeof *h);
	h->target = t;
	g_a = g_b = g_c = g_d = g_e = g_f = t;
	printf("%p\n", t);
	fflush(stdout);
	for (;;)
		pause();
}
int main(void) { park(); return 0; }
"""

with case("a shared group is reached from each root node that shares it"):
    # A MariaDB trial: a key cache "shared by several roots" was "reached from"
    # four globals of one module, while the thread frames that made it shared
    # showed only with path --all.  Six globals point at the object, a frame
    # through a holder: the globals count as their module's, and the frame is
    # named too.
    sd = os.path.join(WORK, "t0540-shared")
    sexe = build_c_program(sd, "shared", SHARED)
    words, score = run_and_dump(sexe, sd, "shared")
    sdb = os.path.join(sd, "shared.db")
    cprof("analyze", score, sexe, "--db", sdb)
    groups = cprof("roots", "--db", sdb, "--json", "--limit", "100", json=True)
    mine = [g for g in groups if g.get("shared") and
            parse_addr((g.get("path") or {}).get("objects", ["0x0"])[-1]) == int(words[0], 16)]
    reached = mine[0].get("reached_from", []) if mine else []
    check(mine and any(r.startswith("thread ") and " frame " in r for r in reached) and
          any(r.startswith("shared!g_") for r in reached),
          "the object's group is reached from a global and from the thread's frame: %s"
          % [(g.get("root"), g.get("reached_from")) for g in groups][:4])
    # the slots are the example's (a PostgreSQL trial read them as the group's)
    _, text, _ = cprof("roots", "--db", sdb)
    check("e.g. reached from " in text and "\n" + " " * 44 + "reached from" not in text,
          "roots: the slots are said to be the example's:\n%s" % text[:800])

os.unlink(db)
finish()
