#!/usr/bin/env python3
"""t0600: dominators and retention, exact by construction (corpus/blocks.c).

1000 `struct block` held by the global block_cache (through an array), 500 by a local
of worker_blocks on a worker thread (through an array), 200 reachable from both
arrays, 100 leaked, 10 in a list through ->next held by the worker's __thread
t_recent; each block owns a payload nothing else points to.  In cprof.db:
  - a cache block is retained by the root node `blocks!block_cache` (a global), a
    worker block by the frame `thread T frame N worker_blocks (blocks.c:L)`, a shared
    block by no single root (retaining_root NULL), a leaked one by the `leaked` node;
  - each block retains exactly itself and its payload (bytes and count), its payload's
    idom is the block, and a cache or worker block's idom is its array (a shared one
    has none);
  - the root nodes retain exactly the array plus its own blocks and payloads;
  - root distances: 2 for blocks (root -> array -> block), 3 for payloads, with the
    shortest-path parent the array;
for both the kernel's and gcore's core.
"""
import os
import re
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403


def run(dumper):
    c = corpus_core("blocks", (), dumper=dumper)
    m = c.manifest
    db = os.path.join(c.dir, "t0600.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    con = sqlite3.connect(db)
    obj = {}
    for row in con.execute(
            "SELECT id, addr, size, idom, retained_bytes, retained_count, retaining_root,"
            " root_distance, path_parent, leak FROM object WHERE state = 'used'"):
        obj[row[1]] = row
    nodes = {r[0]: r for r in con.execute(
        "SELECT id, kind, name, retained_bytes, retained_count FROM root_node")}
    cache_arr = obj.get(parse_addr(m["cache_array"]["addr"]))
    work_arr = obj.get(parse_addr(m["worker_array"]["addr"]))
    if not check(cache_arr and work_arr, "the two arrays are objects"):
        return
    frame_re = re.compile(r"thread %d frame \d+ worker_blocks \(blocks\.c:\d+\)" % m["worker_tid"])
    sums = {"cache": [0, 0], "worker": [0, 0]}
    bad = {}

    def wrong(what, b, got):
        bad.setdefault(what, []).append((b["addr"], got))

    for b in m["blocks"]:
        o = obj.get(parse_addr(b["addr"]))
        p = obj.get(parse_addr(b["payload"]))
        if not o or not p:
            wrong("block or payload is an object", b, None)
            continue
        g = b["group"]
        own = b["usable"] + b["payload_usable"]
        if g == "tls":
            # a list: each block retains the rest of it; checked as a group below
            node = nodes.get(o[6]) if o[6] is not None else None
            if not node or node[1:3] != ("tls", "thread %d tls" % m["worker_tid"]):
                wrong("the TLS list is retained by the worker's tls root", b, node)
            if p[3] != o[0]:
                wrong("the payload's idom is its block", b, p[3])
            continue
        if (o[4], o[5]) != (own, 2):
            wrong("retains itself and its payload", b, (o[4], o[5]))
        if p[3] != o[0]:
            wrong("the payload's idom is its block", b, p[3])
        node = nodes.get(o[6]) if o[6] is not None else None
        if g == "cache":
            if not node or node[1:3] != ("global", "blocks!block_cache"):
                wrong("cache blocks are retained by blocks!block_cache", b, node)
            if o[3] != cache_arr[0]:
                wrong("a cache block's idom is the cache array", b, o[3])
        elif g == "worker":
            if not node or node[1] != "frame" or not frame_re.fullmatch(node[2]):
                wrong("worker blocks are retained by the frame of worker_blocks", b, node)
            if o[3] != work_arr[0]:
                wrong("a worker block's idom is its array", b, o[3])
        elif g == "shared":
            if o[6] is not None or o[3] is not None:
                wrong("shared blocks have no retaining root and no object idom", b, (o[6], o[3]))
        elif g == "leaked":
            if o[6] != 1 or o[9] != "direct":
                wrong("leaked blocks are direct leaks retained by the leaked node", b, (o[6], o[9]))
        if g in ("cache", "worker", "shared"):
            arr = cache_arr if g != "worker" else work_arr
            if o[7] != 2 or p[7] != 3:
                wrong("root distance 2 for a block, 3 for its payload", b, (o[7], p[7]))
            if g != "shared" and o[8] != arr[0]:
                wrong("the shortest path comes through the array", b, o[8])
        if g in sums:
            sums[g][0] += own
            sums[g][1] += 2
    for what, items in sorted(bad.items()):
        check(False, "%s: %d blocks wrong, e.g. %s" % (what, len(items), items[:2]))
    check(not bad, "all %d blocks are retained as constructed" % len(m["blocks"]))

    for g, arr, pred in (("cache", cache_arr, lambda n: n[2] == "blocks!block_cache"),
                         ("worker", work_arr, lambda n: bool(frame_re.fullmatch(n[2])))):
        found = [n for n in nodes.values() if pred(n)]
        if check(len(found) == 1, "one root node for the %s blocks" % g):
            check_eq((found[0][3], found[0][4]), (arr[2] + sums[g][0], 1 + sums[g][1]),
                     "the %s root node retains its array, blocks and payloads" % g)
    leaked = con.execute("SELECT sum(size), count(*) FROM object WHERE leak IS NOT NULL").fetchone()
    check_eq((nodes[1][3], nodes[1][4]), (leaked[0], leaked[1]),
             "the leaked node retains every leaked chunk")
    con.close()

    # The commands over the database: top, show, path.
    top = cprof("top", "--db", db, "--json", json=True)
    first = top["objects"][0] if top.get("objects") else {}
    check_eq(parse_addr(first.get("addr", "0x0")), cache_arr[1],
             "top: the object retaining the most is the cache array")
    check(first.get("suspect") is True, "top: it is a suspect (over 10% of the heap)")
    acc = first.get("accumulation_point") or {}
    check_eq((parse_addr(acc.get("addr", "0x0")), acc.get("children")), (cache_arr[1], 1000),
             "top: its accumulation point is the array itself, over its 1000 own blocks "
             "(the 200 shared ones are not its alone)")
    roots = {r["name"]: r for r in top.get("roots", [])}
    check("blocks!block_cache" in roots and roots["blocks!block_cache"]["suspect"],
          "top: blocks!block_cache is a suspect root")

    b = [x for x in m["blocks"] if x["group"] == "cache"][7]
    show = cprof("show", "--db", db, "%#x" % (parse_addr(b["addr"]) + 5), "--json", json=True)
    chain = [d.get("name") or d.get("addr") for d in show.get("dominators", [])]
    check_eq(chain, [m["cache_array"]["addr"], "blocks!block_cache", "blocks", "all roots"],
             "show: a cache block's dominators, up to the super-root")
    check_eq(show.get("retained_bytes"), b["usable"] + b["payload_usable"], "show: retained bytes")
    check_eq((show.get("type"), show.get("type_source")), ("struct block", "dwarf"), "show: the type")
    check_eq(show.get("pointers_in", {}).get("total"), 1, "show: one pointer in (the array)")

    p = cprof("path", "--db", db, b["payload"], "--json", json=True)
    check_eq(p.get("root"), "blocks!block_cache+0x0", "path: from the global")
    check_eq([parse_addr(x["addr"]) for x in p.get("path", [])],
             [cache_arr[1], parse_addr(b["addr"]), parse_addr(b["payload"])],
             "path: array -> block -> payload")
    w = [x for x in m["blocks"] if x["group"] == "worker"][3]
    p = cprof("path", "--db", db, w["addr"], "--json", json=True)
    check(bool(frame_re.fullmatch(p.get("root", ""))), "path: a worker block from its frame (%s)"
          % p.get("root"))
    # Types and roots --type: every block is a struct block (DWARF from the
    # arrays' element type; the leaked ones by layout), and roots --type block
    # reports the construction exactly.
    groups = {g["root"]: g for g in cprof("roots", "--db", db, "--type", "block", "--json", json=True)}
    own = {g: sum(x["usable"] + x["payload_usable"] for x in m["blocks"] if x["group"] == g)
           for g in ("cache", "worker", "shared", "leaked", "tls")}
    cnt = {g: sum(1 for x in m["blocks"] if x["group"] == g) for g in own}
    want = {"blocks!block_cache": ("global", "cache"), "(shared)": ("shared", "shared"),
            "leaked (no root)": ("leaked", "leaked"),
            "thread %d tls" % m["worker_tid"]: ("tls", "tls")}
    for name, (kind, g) in want.items():
        got = groups.get(name, {})
        check_eq((got.get("kind"), got.get("count"), got.get("retained_bytes")),
                 (kind, cnt[g], own[g]), "roots --type block: %s" % name)
    fr = [x for x in groups.values() if x["kind"] == "frame"]
    check(len(fr) == 1 and frame_re.fullmatch(fr[0]["root"]) and
          (fr[0]["count"], fr[0]["retained_bytes"]) == (cnt["worker"], own["worker"]),
          "roots --type block: the worker's frame holds its %d (%s)" % (cnt["worker"], fr))
    check_eq(len(groups), 5, "roots --type block: five groups")
    sh = groups.get("(shared)", {})
    check(any("block_cache" in r for r in sh.get("reached_from", [])) and
          any("worker_blocks" in r for r in sh.get("reached_from", [])),
          "roots: the shared group lists both roots that reach it (%s)" % sh.get("reached_from"))
    hist = {h["type"]: h for h in cprof("histogram", "--db", db, "--by", "type", "--json", json=True)}
    check_eq(hist.get("struct block", {}).get("count"), len(m["blocks"]),
             "histogram: every block is a struct block")
    con = sqlite3.connect(db)
    src = dict(con.execute("SELECT o.type_source, count(*) FROM object o JOIN type t ON t.id = o.type_id"
                           " WHERE t.name = 'struct block' GROUP BY 1"))
    con.close()
    check_eq(src, {"dwarf": cnt["cache"] + cnt["worker"] + cnt["shared"] + cnt["tls"],
                   "layout": cnt["leaked"]},
             "struct block: from DWARF when a typed pointer reaches it, by layout when leaked")
    # The TLS list: typed from the __thread variable, through ->next, named in the path.
    last = [x for x in m["blocks"] if x["group"] == "tls"][0]   # the first made is the tail
    p = cprof("path", "--db", db, last["payload"], "--json", json=True)
    check_eq(p.get("root"), "thread %d tls blocks!t_recent+0x0" % m["worker_tid"],
             "path: the TLS list from the __thread variable")
    check_eq([x.get("field") for x in p.get("path", [])],
             [".next"] * (cnt["tls"] - 1) + [".payload", None],
             "path: the field names along the list (.next ... .payload)")

    sh = [x for x in m["blocks"] if x["group"] == "shared"][3]
    ps = cprof("path", "--db", db, sh["payload"], "--all", "5", "--json", json=True)
    roots_seen = sorted("global" if x["root"] == "blocks!block_cache+0x0" else
                        "frame" if frame_re.fullmatch(x["root"]) else x["root"] for x in ps)
    check_eq(roots_seen, ["frame", "global"],
             "path --all: a shared block's payload is reached from both roots, and only them")
    check(all(len(x["path"]) == 3 for x in ps), "path --all: array -> block -> payload each")

    # a leaked block has no root: its path starts at its leak root (itself:
    # nothing points to it), and its payload's at the block
    lk = [x for x in m["blocks"] if x["group"] == "leaked"][0]
    pj = cprof("path", "--db", db, lk["addr"], "--json", json=True)
    check(pj.get("root_kind") == "leaked" and
          [parse_addr(x["addr"]) for x in pj["path"]] == [parse_addr(lk["addr"])],
          "path: a leaked block is its own leak root (%s)" % pj)
    pj = cprof("path", "--db", db, lk["payload"], "--json", json=True)
    check_eq([parse_addr(x["addr"]) for x in pj["path"]],
             [parse_addr(lk["addr"]), parse_addr(lk["payload"])],
             "path: a leaked block's payload, from the block")


for d in available_dumpers():
    with case(d):
        run(d)

def c_program_core(name, source):
    """Builds SOURCE (C) as WORK/t0600-NAME/NAME, runs it until it prints its first
    line, and takes a gcore core of it: (core, exe, the first line's words, dir)."""
    require_tool("gcc")
    require_tool("gcore")
    d = os.path.join(WORK, "t0600-" + name)
    os.makedirs(d, exist_ok=True)
    src, exe = os.path.join(d, name + ".c"), os.path.join(d, name)
    with open(src, "w") as f:
        f.write(source)
    r = subprocess.run(["gcc", "-O1", "-g", "-o", exe, src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, "%s builds (%s)" % (name, r.stdout.decode()[-500:]))
    words, core = run_and_dump(exe, d, name)
    return core, exe, words, d


# Leaked memory that points into live memory takes nothing from its root: a
# global holds a config (and its 1 MiB buffer) alone, and a leaked request
# points to the config.  In one dominator pass from the super-root the leaked
# node was a second way to the config: "shared by several roots", and the
# global retained nothing (a new user's trial: a Go service's 748,800-byte
# SQLite connection).  The program records its chunks' usable sizes.
LEAKSHARE = r"""
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
struct config { char *big; long n; };
struct request { struct config *cfg; char pad[56]; };
struct config *cfg;
static void __attribute__((noinline)) setup(void) {
	cfg = malloc(sizeof *cfg);
	cfg->big = malloc(1 << 20);
	memset(cfg->big, 'x', 1 << 20);
	struct request *r = malloc(sizeof *r);
	memset(r, 0, sizeof *r);
	r->cfg = cfg;
	printf("%p %zu %zu %p\n", (void *)cfg, malloc_usable_size(cfg),
	       malloc_usable_size(cfg->big), (void *)r);
	fflush(stdout);
}
static void __attribute__((noinline)) scrub(void) {
	char b[65536];
	memset(b, 0, sizeof b);
	__asm__ volatile("" : : "r"(b) : "memory");
}
int main(void) {
	setup();
	scrub();
	for (;;)
		pause();
}
"""

with case("leaked memory pointing into live memory"):
    core, exe, words, d = c_program_core("leakshare", LEAKSHARE)
    cfg, want = int(words[0], 16), int(words[1]) + int(words[2])
    req = int(words[3], 16)
    db = os.path.join(d, "t0600.db")
    cprof("analyze", core, exe, "--db", db)
    os.remove(core)
    con = sqlite3.connect(db)
    got = con.execute("SELECT o.retained_bytes, n.name, (SELECT leak FROM object WHERE addr = ?)"
                      " FROM object o LEFT JOIN root_node n ON n.id = o.retaining_root"
                      " WHERE o.addr = ?", (req, cfg)).fetchone()
    con.close()
    check_eq(got, (want, "leakshare!cfg", "direct"),
             "the config retains itself and its buffer under the global cfg; the request"
             " pointing to it is a direct leak")
if REQUIRE_ALL and len(available_dumpers()) < 2:
    fail("both the kernel and gcore dumpers are required (CPROF_REQUIRE_ALL=1)")

# A C intrusive list (the kernel's and gdb's struct list_head): every link points
# 16 bytes into the next node.  Typing the node as "struct list_head at +0x10"
# and following its typed next and prev (as Go's field pointers are) typed
# gdb's whole heap as arrays of struct list_head (30 of its 39 MiB, a new
# user's trial): a pointer into a C object's middle types nothing.
ILIST = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct list_head { struct list_head *next, *prev; };
struct item { long id; char tag[8]; struct list_head link; char name[40]; };
struct list_head *items;     /* a list head of its own, in the heap: typed */
static void __attribute__((noinline)) fill(void) {
	items = calloc(1, sizeof(*items));
	items->next = items->prev = items;
	for (long i = 0; i < 1000; i++) {
		struct item *it = calloc(1, sizeof(*it));
		it->id = i;
		it->link.next = items->next;
		it->link.prev = items;
		items->next->prev = &it->link;
		items->next = &it->link;
	}
}
int main(void) {
	fill();
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
"""

with case("a C intrusive list"):
    core, exe, _, d = c_program_core("ilist", ILIST)
    db = os.path.join(d, "t0600.db")
    cprof("analyze", core, exe, "--db", db)
    os.remove(core)
    con = sqlite3.connect(db)
    used, listy = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE t.name LIKE 'struct list_head%')"
        " FROM object o LEFT JOIN type t ON t.id = o.type_id WHERE o.reachable = 1").fetchone()
    con.close()
    check(used >= 1000, "the 1000 items are reachable (%d)" % used)
    check_eq(listy, 1, "only the head is typed struct list_head: no item is (as 'at +0x10',"
             " or an array of it)")

finish()
