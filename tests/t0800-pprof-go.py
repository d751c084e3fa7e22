#!/usr/bin/env python3
"""t0800: `cprof-core pprof --by site|type|retention` read by the real client.

On goprofile's core (MemProfileRate = 1: every object has its allocation stack;
the program wrote its own heap profile just before the dump):
  - `go tool pprof -raw`, `-top` and `-traces` read each of the three files;
  - --by type: each sample (one frame) equals its `histogram --by type` row
    (objects, own bytes, retained bytes), and the totals are equal;
  - --by site: the totals equal `histogram --by site`'s, so does each leaf
    function's sum; each of the program's four sites has, as pprof reads it, the
    program's own heap profile's inuse_objects and inuse_space, leaf frames at
    main.go with a line, the executable's mapping with its build id, and main.main
    as caller;
  - --by retention: the totals equal the histogram's plus Go's garbage (which the
    histogram leaves out and --by retention shows under a frame of its own, with
    the count and bytes the database gives it); for every root of `roots`
    (a named root node: a global, a module, a goroutine...), the objects and bytes
    under its frame (pprof's cum) equal what `roots` says it retains; under
    goprofile!main.keptD, the manifest's 12 blocks of 57344 bytes;
  - the retention flame graph renders: `go tool pprof -svg` (graphviz) and the
    flame graph page of `go tool pprof -http` fetched on 127.0.0.1;
  - each file's first mapping is the main binary, with its file and build id:
    go tool pprof says nothing of it ("Main binary filename not available" when a
    profile has none), for this Go program and for a C one (corpus/leaks).
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goprofile")
go_tool()
require_tool("dot")

c = corpus_core("goprofile")
m = c.manifest
d = os.path.join(WORK, "t0800")
os.makedirs(d, exist_ok=True)
db = os.path.join(d, "cprof.db")
cprof("analyze", c.core, c.exe, "--db", db)
LIMIT = "1000000"
by_type = cprof("histogram", "--db", db, "--by", "type", "--json", "--limit", LIMIT, json=True)
by_site = cprof("histogram", "--db", db, "--by", "site", "--json", "--limit", LIMIT, json=True)
roots = cprof("roots", "--db", db, "--json", "--limit", LIMIT, json=True)


def check_main_binary(r, exe):
    """go tool pprof's main binary (the first mapping) is EXE, with its build id."""
    check("Main binary filename not available" not in r["stderr"],
          "go tool pprof -raw says nothing of the main binary (%s)" % r["stderr"][-300:])
    first = r["mappings"].get(1, {})
    check_eq(os.path.basename(first.get("file", "")), os.path.basename(exe),
             "the first mapping is the executable")
    bid = Elf(exe).build_id()
    bid = bid.hex() if isinstance(bid, bytes) else bid
    check(bid and first.get("build_id") == bid,
          "the first mapping has the executable's build id %s (%s)" % (bid, first.get("build_id")))


files = {}
raw = {}
for by in ("site", "type", "retention"):
    with case("--by " + by):
        f = files[by] = os.path.join(d, "%s.pb.gz" % by)
        cprof("pprof", "--db", db, "--by", by, "-o", f)
        raw[by] = pprof_raw(f)
        check(raw[by]["samples"], "go tool pprof -raw reads samples from %s" % f)
        check_eq(raw[by]["types"], ["inuse_objects", "inuse_space", "retained_space"],
                 "its sample types")
        for opt in ("-top", "-traces"):
            rc, out, err = go_pprof(opt, f)
            check(rc == 0 and out.strip(), "go tool pprof %s reads it (%s)" % (opt, err[-200:]))
        check_main_binary(raw[by], c.exe)


with case("a C program's profiles: its main binary"):
    cc = corpus_core("leaks", ("all",))
    cdb = os.path.join(d, "c.db")
    cprof("analyze", cc.core, cc.exe, "--db", cdb)
    for by in ("site", "type", "retention"):
        f = os.path.join(d, "c-%s.pb.gz" % by)
        cprof("pprof", "--db", cdb, "--by", by, "-o", f)
        check_main_binary(pprof_raw(f), cc.exe)


with case("-o -: the profile on standard output, byte for byte"):
    r = subprocess.run([cprof_path(), "pprof", "--db", db, "--by", "type", "-o", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check_eq(r.returncode, 0, "pprof -o - succeeds")
    piped = os.path.join(d, "piped.pb.gz")
    with open(piped, "wb") as f:
        f.write(r.stdout)
    check_eq(pprof_raw(piped)["samples"], raw["type"]["samples"],
             "go tool pprof reads what it wrote to stdout as the file")


def totals(samples):
    return tuple(sum(s["values"][k] for s in samples)
                 for k in ("inuse_objects", "inuse_space"))


hist_total = (sum(h["count"] for h in by_type), sum(h["self_bytes"] for h in by_type))

with case("--by type equals histogram --by type"):
    got = {}
    for s in raw["type"]["samples"]:
        check_eq(len(s["functions"]), 1, "a sample of --by type has one frame")
        got[s["functions"][0]] = (s["values"]["inuse_objects"], s["values"]["inuse_space"],
                                  s["values"]["retained_space"])
    want = {h["type"]: (h["count"], h["self_bytes"], h["retained_bytes"]) for h in by_type}
    check_eq(got, want, "every type's objects, own and retained bytes")
    check_eq(totals(raw["type"]["samples"]), hist_total, "the totals")

with case("--by site equals histogram --by site"):
    samples = raw["site"]["samples"]
    check_eq(totals(samples), (sum(h["count"] for h in by_site),
                               sum(h["self_bytes"] for h in by_site)), "the totals")
    check_eq(totals(samples), hist_total, "the same objects as --by type")
    got, want = {}, {}
    for s in samples:
        k = got.setdefault(s["functions"][0], [0, 0])
        k[0] += s["values"]["inuse_objects"]
        k[1] += s["values"]["inuse_space"]
    for h in by_site:
        k = want.setdefault(h["site"].split(" (")[0], [0, 0])
        k[0] += h["count"]
        k[1] += h["self_bytes"]
    check_eq(got, want, "each allocating function's objects and bytes")
    prof = go_heap_profile(m["heap_profile"] if os.path.isabs(m["heap_profile"])
                           else os.path.join(c.dir, m["heap_profile"]))
    exe_build_id = Elf(c.exe).build_id()
    theirs_raw = pprof_raw(m["heap_profile"] if os.path.isabs(m["heap_profile"])
                           else os.path.join(c.dir, m["heap_profile"]))

    def addresses(r, smp):
        return [r["locations"][i]["address"] for i in smp["locations"]]
    for site in m["sites"]:
        fn = site["function"]
        mine = [s for s in samples if s["functions"][0] == fn]
        theirs = [s for s in prof["samples"] if s["functions"][:1] == [fn]]
        # The runtime's profile counts whole slots; an object with a malloc
        # header is 8 bytes shorter (what the program's pointer points to).
        hdr = site["header"] * site["inuse_objects"]
        check_eq(totals(mine), (sum(s["values"]["inuse_objects"] for s in theirs),
                                sum(s["values"]["inuse_space"] for s in theirs) - hdr),
                 "%s: as the program's own heap profile says (less %d header bytes)" % (fn, hdr))
        check_eq(totals(mine), (site["inuse_objects"], site["inuse_bytes"] - hdr),
                 "%s: as the manifest says" % fn)
        for s in mine:
            leaf = raw["site"]["locations"][s["locations"][0]]
            fn_, file_, line_ = leaf["lines"][0]
            mp = raw["site"]["mappings"].get(leaf["mapping"], {})
            check(file_.endswith("goprofile/main.go") and line_ > 0,
                  "%s: its frame has file:line (%s:%d)" % (fn, file_, line_))
            check(mp.get("file") == c.exe and mp["start"] <= leaf["address"] < mp["limit"],
                  "%s: its address 0x%x is in the executable's mapping (%s)"
                  % (fn, leaf["address"], mp))
            if exe_build_id:
                check_eq(mp.get("build_id"), exe_build_id.hex() if isinstance(exe_build_id, bytes)
                         else exe_build_id, "%s: the mapping has the executable's build id" % fn)
            check_eq(s["functions"][1:2], ["main.main"], "%s: called by main.main" % fn)
        # The same stack, address for address, as the runtime's own profile.
        check_eq(sorted(addresses(raw["site"], x) for x in mine),
                 sorted(addresses(theirs_raw, x) for x in theirs_raw["samples"]
                        if x["functions"][:1] == [fn]),
                 "%s: its locations' addresses are those of the program's own profile" % fn)

with case("--by retention: what each root retains"):
    samples = raw["retention"]["samples"]
    import sqlite3
    con = sqlite3.connect(db)
    garbage = con.execute("SELECT count(*), coalesce(sum(size), 0) FROM object"
                          " WHERE leak = 'garbage'").fetchone()
    check_eq(totals(samples), (hist_total[0] + garbage[0], hist_total[1] + garbage[1]),
             "the totals equal the histogram's plus the garbage")
    check_eq(totals([s for s in samples if s["functions"][-1:] ==
                     ["(garbage: the next collection frees it)"]]), tuple(garbage),
             "the garbage under its own frame")
    # A root node without root nodes below it (a global, a frame): what it
    # retains is what `roots` counts under it.
    nodes = con.execute("SELECT name, kind, retained_count, retained_bytes, (SELECT count(*)"
                        " FROM root_node c WHERE c.parent_id = n.id) FROM root_node n"
                        " WHERE id > 1").fetchall()
    con.close()
    names = [n[0] for n in nodes]
    unique = {n[0]: n for n in nodes if names.count(n[0]) == 1}
    leaves = [r for r in roots if r["root"] in unique and not unique[r["root"]][4]]
    check(len(leaves) > 5, "roots lists root nodes (%d)" % len(leaves))
    bad = []
    for r in leaves:
        under = [s for s in samples if r["root"] in s["functions"]]
        if totals(under) != (r["count"], r["retained_bytes"]):
            bad.append((r["root"], totals(under), (r["count"], r["retained_bytes"])))
    check(not bad, "every root's frame holds what `roots` says it retains (%d roots; wrong: %s)"
          % (len(leaves), bad[:3]))
    # Any root node (a module, a goroutine group): what the database says it retains.
    bad = []
    for name, n in unique.items():
        under = [s for s in samples if name in s["functions"]]
        if totals(under) != (n[2], n[3]):
            bad.append((name, totals(under), (n[2], n[3])))
    check(not bad, "every root node's frame holds its retained count and bytes (%d nodes; wrong: %s)"
          % (len(unique), bad[:3]))
    d_site = [st for st in m["sites"] if st["function"] == "main.allocSiteD"][0]
    keptd = [s for s in samples if "goprofile!main.keptD" in s["functions"]]
    blocks = [s for s in keptd if s["functions"].index("goprofile!main.keptD") >= 2]
    check_eq(totals(blocks), (d_site["inuse_objects"], d_site["inuse_bytes"]),
             "under goprofile!main.keptD, below its slice: the manifest's blocks")

with case("the retention flame graph renders"):
    f = files["retention"]
    rc, out, err = go_pprof("-svg", "-sample_index=inuse_space", "-nodecount=200", f)
    check(rc == 0 and "<svg" in out and "main.keptD" in out,
          "go tool pprof -svg draws it with the roots (status %d, %s)" % (rc, err[-300:]))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, GOTOOLCHAIN="local", PPROF_TMPDIR=d, BROWSER="true")
    p = subprocess.Popen([go_tool(), "tool", "pprof", "-no_browser",
                          "-http=127.0.0.1:%d" % port, f], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    page = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and page is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ui/flamegraph?si=inuse_space"
                                            % port, timeout=10) as r:
                    page = (r.status, r.read().decode("utf-8", "replace"))
            except OSError:
                if p.poll() is not None:
                    break
                time.sleep(0.2)
    finally:
        p.kill()
        p.wait()
    check(page and page[0] == 200, "go tool pprof -http serves the flame graph page")
    check(page and "goprofile!main.keptD" in page[1],
          "the flame graph holds the roots (goprofile!main.keptD)")

finish()
