#!/usr/bin/env python3
"""t0820: `analyze CORE EXE --profile heap.pb.gz` pairs a heap profile with the core.

goprofile writes its own heap profile (pprof.Lookup("heap"), gzipped profile.proto)
right before it is dumped:
  - MemProfileRate = 1: every sample of the profile pairs with the core's record
    of the same stack (Go's bucket), and the stack the profile names (its
    functions) is the site's, frame for frame; for the program's four sites the
    profile's in-use objects and bytes, the core's records and the manifest agree
    exactly (growth 0), with the root the manifest says holds them; the same
    profile ungzipped (.pb) pairs the same;
  - the default rate (one sample per 512 KiB): every sample still pairs, and every
    object of the core with a record lies at a site a sample pairs with;
  - "where the mapped memory is": its rows add up to the bytes the core's
    PT_LOAD segments map (read from the core here), every row is >= 0, Go's rows
    are the program's own runtime.MemStats, the profile's estimate is the sum of
    its inuse_space;
  - a profile of another binary (goprofile's with goblocks' core): a warning that
    names it, and no sample paired; a file that is no profile: exit 1, one line.
"""
import gzip
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

require_corpus_program("goprofile")
d = os.path.join(WORK, "t0820")
os.makedirs(d, exist_ok=True)


def profile_of(c):
    p = c.manifest["heap_profile"]
    return p if os.path.isabs(p) else os.path.join(c.dir, p)


def analyze(c, prof, db):
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, "--profile", prof)
    summary = cprof("analyze", c.core, c.exe, "--db", db, "--profile", prof, "--json", json=True)
    return summary["profile"], out, err


def site_stacks(db):
    """{site id: [functions from the first the profile shows]} and each
    sample's (site id, functions)."""
    con = sqlite3.connect(db)
    frames, inlined = {}, set()
    for sid, fn, inl in con.execute("SELECT site_id, function, inlined FROM site_frame"
                                    " ORDER BY site_id, depth"):
        # an assembly function's symbol ("runtime.systemstack.abi0") is its
        # Go name in the profile
        fn = fn[:-5] if fn and fn.endswith(".abi0") else fn
        # calls inlined into one machine frame are one location of the
        # profile, which the stack names by its machine frame's function
        # (the last of the group)
        if sid in inlined:
            frames[sid][-1] = fn or "?"
        else:
            frames.setdefault(sid, []).append(fn or "?")
        (inlined.add if inl else inlined.discard)(sid)
    samples = con.execute("SELECT site_id, stack FROM profile_sample").fetchall()
    con.close()
    return frames, samples


c = corpus_core("goprofile")
m = c.manifest
prof_path = profile_of(c)
prof = go_heap_profile(prof_path)

with case("MemProfileRate = 1: every sample pairs, the sites agree exactly"):
    check_eq(m["mem_profile_rate"], 1, "the program sampled every allocation")
    db = os.path.join(d, "rate1.db")
    p, out, err = analyze(c, prof_path, db)
    check(p and p["paired"], "the profile is the same binary's (%s)" % (p and p["reason"]))
    check_eq(p["samples"], len(prof["samples"]), "every sample of the profile is read")
    check_eq(p["paired_samples"], p["samples"], "every sample pairs with a record of the core")
    frames, samples = site_stacks(db)
    wrong = []
    for sid, stack in samples:
        want = [f for f in stack.split("\n")]
        got = frames.get(sid, [])
        # the site's locations from the first the profile shows,
        # runtime.goexit left out
        start = next((i for i, f in enumerate(got) if f == want[0]), None)
        shown = [f for f in got[start:] if not f.startswith("runtime.goexit")] if start is not None else []
        if shown != want:
            wrong.append((want, got))
    check(not wrong, "each sample's stack is its site's, frame for frame (wrong: %s)" % wrong[:2])
    by_name = {s["site"].split(" (")[0]: s for s in p["sites"]}
    for i, site in enumerate(m["sites"]):
        fn = site["function"]
        s = by_name.get(fn)
        check(s is not None, "%s is in the report" % fn)
        if not s:
            continue
        got = (s["profile_objects"], s["profile_bytes"], s["objects"], s["bytes"])
        check_eq(got, (site["inuse_objects"], site["inuse_bytes"]) * 2,
                 "%s: profile and core both say %d objects, %d bytes (the manifest's)"
                 % (fn, site["inuse_objects"], site["inuse_bytes"]))
        check_eq(s["root"], "goprofile!main.kept" + "ABCD"[i], "%s: retained by its global" % fn)
        r = cprof("roots", "--db", db, "--site", fn + " (", "--json", json=True)
        check_eq([(x["root"], x["count"]) for x in r], [(s["root"], site["inuse_objects"])],
                 "roots --site '%s (': its objects, all under that global" % fn)
    check("heap profile" in out and "where the mapped memory is" in out,
          "the text summary has the profile's section and the memory table")
    raw = os.path.join(d, "heap.pb")
    with gzip.open(prof_path) as f, open(raw, "wb") as g:
        g.write(f.read())
    p2, _, _ = analyze(c, raw, os.path.join(d, "raw.db"))
    check_eq((p2["samples"], p2["paired_samples"], p2["sites"]),
             (p["samples"], p["paired_samples"], p["sites"]), "the same profile ungzipped pairs the same")

with case("top: a root's biggest root below it"):
    # goprofile's module root holds its four kept* globals, none 80% of it:
    # its accumulation point stays at the module and names the biggest of
    # them, as root_node's hierarchy says, beside the objects directly below.
    db = os.path.join(d, "rate1.db")
    j = cprof("top", "--db", db, "--json", json=True)
    con = sqlite3.connect(db)
    points = [r["accumulation_point"] for r in j["roots"]
              if r.get("accumulation_point") and r["accumulation_point"]["is_root"]]
    check(points, "some suspect root stays a root: %s" % [r["name"] for r in j["roots"]])
    for a in points:
        child = con.execute("SELECT name, retained_bytes FROM root_node WHERE parent_id = ?"
                            " ORDER BY retained_bytes DESC LIMIT 1", (a["root_node"],)).fetchone()
        got = (a.get("biggest_root_below"), a.get("biggest_root_below_bytes"))
        check_eq(got, tuple(child) if child else (None, None),
                 "%s: its biggest root below it" % a["name"])
    con.close()
    _, text, _ = cprof("top", "--db", db)
    check("; the biggest root below it, goprofile!main.keptD, retains" in text,
          "top's text names it")
    # and "it" after that root would be the root below: the objects are the module's
    line = [l for l in text.splitlines() if "the biggest root below it" in l]
    check(line and ("; directly below it " not in line[0]),
          "the objects directly below are said to be the root's, not the one named: %s" % line)

with case("where the mapped memory is"):
    mem = p["memory"]
    rows = {r["what"]: r["bytes"] for r in mem}
    mapped = sum(ph["memsz"] for ph in Elf(c.core).loads)
    check_eq(sum(r["bytes"] for r in mem), p["mapped_bytes"], "the rows add up to the mapped bytes")
    check_eq(p["mapped_bytes"], mapped, "the mapped bytes are the core's PT_LOAD segments'")
    check(all(r["bytes"] >= 0 for r in mem), "no row is negative (%s)" % mem)
    ms = m["memstats"]
    check_eq([rows["live heap"], rows["free space in used spans"], rows["idle heap, kept"],
              rows["idle heap, returned to the OS"], rows["goroutine stacks"], rows["runtime metadata"]],
             [ms["HeapAlloc"], ms["HeapInuse"] - ms["HeapAlloc"], ms["HeapIdle"] - ms["HeapReleased"],
              ms["HeapReleased"], ms["StackSys"],
              ms["MSpanSys"] + ms["MCacheSys"] + ms["BuckHashSys"] + ms["GCSys"] + ms["OtherSys"]],
             "Go's rows are the program's own MemStats")
    check_eq(p["inuse_space"], sum(s["values"]["inuse_space"] for s in prof["samples"]),
             "the profile's estimate is its inuse_space")

with case("the default rate: every sampled object pairs"):
    cd = corpus_core("goprofile", args=("default",))
    check(cd.manifest["mem_profile_rate"] > 1, "the program kept the runtime's rate (%d)"
          % cd.manifest["mem_profile_rate"])
    db = os.path.join(d, "default.db")
    p, _, _ = analyze(cd, profile_of(cd), db)
    check(p["samples"] > 0 and p["paired_samples"] == p["samples"],
          "every sample pairs (%d of %d)" % (p["paired_samples"], p["samples"]))
    check_eq(p["unpaired_inuse_samples"], 0, "no sample with objects in use is left unpaired")
    # The profile's figures are estimates (each sample scaled by the rate); the
    # core's records are the sampled objects: scaled the same way, the program's
    # own sites have not grown (it allocated nothing there since).
    by_name = {s["site"].split(" (")[0]: s for s in p["sites"]}
    for site in cd.manifest["sites"]:
        s = by_name.get(site["function"])
        if s and s["in_profile"]:
            check_eq((s["estimate_objects"], s["estimate_bytes"]),
                     (s["profile_objects"], s["profile_bytes"]),
                     "%s: the core's records scaled as the profile's are the profile's figures"
                     % site["function"])
    con = sqlite3.connect(db)
    # The core's side of each site counts what the program holds: Go's garbage
    # (freed by the next collection) is no growth.
    held = dict(con.execute(
        "SELECT s.name, count(*) FROM object_site os JOIN object o ON o.id = os.object_id"
        " JOIN site s ON s.id = os.site_id WHERE o.reachable IS NOT NULL"
        " AND coalesce(o.leak, '') != 'garbage' GROUP BY s.name"))
    wrong = [(x["site"], x["objects"], held.get(x["site"], 0)) for x in p["sites"]
             if x["objects"] != held.get(x["site"], 0)]
    check(not wrong, "each site's core objects are its records' objects that are not garbage: %s"
          % wrong[:3])
    # The manifest is written after the profile, and its writer allocates:
    # an object it allocated may be sampled (at the default rate, by chance)
    # at a stack the profile cannot have. Those are left out, by their stack,
    # as are a new thread's (runtime.allocm): the writer's GC and
    # ReadMemStats start the world, which may start an M.
    lonely = con.execute(
        "SELECT count(*) FROM object_site os JOIN object o ON o.id = os.object_id"
        " JOIN site s ON s.id = os.site_id"
        " WHERE o.reachable IS NOT NULL AND os.site_id NOT IN"
        " (SELECT site_id FROM profile_sample WHERE site_id IS NOT NULL)"
        " AND s.stack NOT LIKE '%internal/manifest.%'"
        " AND s.stack NOT LIKE '%runtime.allocm %'").fetchone()[0]
    sampled = con.execute("SELECT count(*) FROM object_site").fetchone()[0]
    con.close()
    check(sampled > 0, "some objects were sampled (%d)" % sampled)
    check_eq(lonely, 0, "every sampled object of the core is at a site a sample pairs with")

with case("a profile of another binary; a file that is no profile"):
    require_corpus_program("goblocks")
    cb = corpus_core("goblocks")
    db = os.path.join(d, "other.db")
    rc, out, err = cprof("analyze", cb.core, cb.exe, "--db", db, "--profile", prof_path)
    check(warned(stderr_lines(err), "another binary", prof_path),
          "a warning says the profile is another binary's: %s" % err[-400:])
    con = sqlite3.connect(db)
    check_eq(con.execute("SELECT count(site_id) FROM profile_sample").fetchone()[0], 0,
             "no sample is paired")
    con.close()
    bad = os.path.join(d, "bad.pb.gz")
    with gzip.open(bad, "wb") as f:
        f.write(b"\xff\xff\xff\xff not a profile")
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", os.path.join(d, "bad.db"),
                         "--profile", bad, expect_rc=1)
    lines = stderr_lines(err)
    check(len(lines) == 1 and bad in lines[0] and "not a pprof profile" in lines[0],
          "one line names the file and the problem: %s" % lines)

finish()
