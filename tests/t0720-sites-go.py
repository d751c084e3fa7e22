#!/usr/bin/env python3
"""t0720: allocation sites from the core alone (corpus/go/goprofile).

goprofile sets runtime.MemProfileRate = 1, so every object it allocates after that
has a profile record (a span special naming a bucket: the allocation stack), and
allocates from four sites (main.allocSiteA..D) objects kept in globals. Right
before it dies it writes the heap profile the runtime itself would serve
(pprof.Lookup("heap"), gzipped protobuf) beside its manifest. From the core:
  - `histogram --by site` gives each site's objects; for each of the four, the
    count equals the profile's inuse_objects and the recorded sizes sum to its
    inuse_space (both summed over the samples whose stack starts at the site);
  - every object the manifest lists for a site is attributed to that site;
  - the sites' stacks name the site's callers (main.main) below it;
  - every stack the profile has in-use objects for is one of the sites' stacks,
    call by call: the calls the compiler inlined included (main.newBig, inlined
    into main.allocSiteC, is a site of its own as pprof says), compared as pprof
    writes them (leading runtime frames and runtime.goexit left out).
"""
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goprofile")

dumpers = available_dumpers()
check(dumpers, "some way to take a core is available")
for dumper in dumpers:
    c = corpus_core("goprofile", dumper=dumper)
    m = c.manifest
    prof_path = m.get("heap_profile") or c.dir + "/manifest.json.heap.pb.gz"
    if not os.path.isabs(prof_path):
        prof_path = os.path.join(c.dir, prof_path)
    check(os.path.exists(prof_path), "%s: the program wrote its heap profile (%s)"
          % (dumper, prof_path))
    prof = go_heap_profile(prof_path)
    db = os.path.join(c.dir, "t0720-%s.db" % dumper)
    cprof("analyze", c.core, c.exe, "--db", db)
    hist = cprof("histogram", "--db", db, "--by", "site", "--json", "--limit", "100000",
                 json=True)
    con = sqlite3.connect(db)
    check_eq(m["mem_profile_rate"], 1, "%s: the program sampled every allocation" % dumper)
    # A site is named by its first frame outside the allocator: neither the
    # runtime's nor, since Go 1.24, the maps' (internal/runtime/maps.newarray
    # is how a map grows, not where), as Go's own heap profiles hide them.
    runtime = ("runtime.", "internal/runtime/")
    misnamed = [name for name, stack in con.execute("SELECT name, stack FROM site")
                if name.startswith(runtime) and
                any(not f.startswith(runtime) for f in stack.split("\n"))]
    check(not misnamed, "%s: no site named by a runtime frame when its stack has another: %s"
          % (dumper, misnamed[:3]))
    for site in m["sites"]:
        fn = site["function"]
        want_n = sum(s["values"]["inuse_objects"] for s in prof["samples"]
                     if s["functions"][:1] == [fn])
        want_b = sum(s["values"]["inuse_space"] for s in prof["samples"]
                     if s["functions"][:1] == [fn])
        check_eq(want_n, site["inuse_objects"],
                 "%s: %s: the profile and the manifest agree (%d objects)" % (dumper, fn, want_n))
        rows = [h for h in hist if h["site"].split(" (")[0] == fn]
        check_eq(sum(h["count"] for h in rows), want_n,
                 "%s: %s: histogram --by site counts the profile's inuse_objects" % (dumper, fn))
        got_b = con.execute(
            "SELECT coalesce(sum(s.size), 0) FROM object_site os JOIN site s ON s.id = os.site_id "
            "WHERE s.name = ? OR s.name LIKE ?", (fn, fn + " (%")).fetchone()[0]
        check_eq(got_b, want_b, "%s: %s: the records' sizes sum to the profile's inuse_space"
                 % (dumper, fn))
        addrs = [parse_addr(a) for a in site["objects"]]
        wrong = []
        for a in addrs:
            r = con.execute("SELECT s.name FROM object o JOIN object_site os ON os.object_id = o.id "
                            "JOIN site s ON s.id = os.site_id WHERE o.addr = ?", (a,)).fetchone()
            if not r or r[0].split(" (")[0] != fn:
                wrong.append((hex(a), r))
        check(not wrong, "%s: %s: each of its %d objects is attributed to it (wrong: %s)"
              % (dumper, fn, len(addrs), wrong[:3]))
        stacks = [st for (st,) in con.execute(
            "SELECT stack FROM site WHERE name = ? OR name LIKE ?", (fn, fn + " (%"))]
        check(stacks and all("main.main (" in st for st in stacks),
              "%s: %s: its stack goes on to main.main with file:line" % (dumper, fn))
    def pprof_stack(functions):
        """A stack as pprof writes it (runtime/pprof's hideRuntime, goexit)."""
        i = 0
        while i < len(functions) and functions[i].startswith("runtime."):
            i += 1
        fs = functions[i:] if i < len(functions) else functions
        return tuple(fs[:fs.index("runtime.goexit")] if "runtime.goexit" in fs else fs)

    ours = {pprof_stack([line.split(" (")[0] for line in st.split("\n")])
            for (st,) in con.execute("SELECT stack FROM site")}
    theirs = {tuple(s["functions"]) for s in prof["samples"] if s["values"]["inuse_objects"]}
    check(theirs and theirs <= ours and any("main.newBig" in t for t in theirs),
          "%s: every stack of the profile's %d in-use ones is a site's, call by call, "
          "inlined calls included (missing: %s)" % (dumper, len(theirs),
                                                    sorted(theirs - ours)[:2]))
    con.close()
    # The text says the rows count sampled objects when not every object has
    # a record, with the counts cprof.db has.
    con = sqlite3.connect(db)
    rec, objs = con.execute(
        "SELECT (SELECT count(*) FROM object_site os JOIN object o ON o.id = os.object_id"
        " WHERE o.reachable IS NOT NULL AND coalesce(o.leak, '') != 'garbage'),"
        " (SELECT count(*) FROM object WHERE reachable IS NOT NULL"
        " AND coalesce(leak, '') != 'garbage')").fetchone()
    con.close()
    rc, out, err = cprof("histogram", "--db", db, "--by", "site")
    check(rec < objs and "(%d of the %d objects carry an allocation record" % (rec, objs) in out,
          "%s: histogram --by site says %d of %d objects have a record" % (dumper, rec, objs))

finish()
