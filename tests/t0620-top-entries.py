#!/usr/bin/env python3
"""t0620: where the memory is - the dominator tree's top entries in the summary and
`top` - when several roots hold the same memory; names a user reads.

corpus/shared.c and corpus/go/goshared record what they built (each structure's
chunks' usable sizes summed, the roots that hold it):
  - C: a struct store held by two globals and a worker's frame, a struct cache by a
    global and the main thread's frame, 600 struct session each pointed to by a
    global's array and the worker's array, a list held by one global only;
  - Go: a *Store held by two package variables and a goroutine, 600 *Session held
    by a package slice and the goroutine's copy.
For each: `analyze --json` and `top --json` list an entry of the recorded type
whose retained bytes and count are the recorded ones, shared (or held by the one
global), with the recorded roots among the root slots that reach it, and a path
from one of them; the text summary prints it.  The entries partition the
reachable heap: over all groups, their retained bytes add up to the reachable
objects' bytes (a sum over cprof.db's object table).

Names: corpus/shared.c loads chunk addresses into xmm7[1], ymm3[2] and zmm20[5]
(as the CPU has them) and records which: each chunk's root slot is that register
word, and `info` lists the word under that name; shared-stripped (the same code
linked -s) names its frames "shared-stripped+0x..." exactly as `info` does, and
the unstripped binary's symbol table puts each offset in the recorded function.
goshared starts goroutines through its own `go` helper: each group is named by the
function it runs (runtime.Stack's innermost frame of main), not by the helper,
and says the helper's closure it started in; gogoroutines' workers are main.worker.
A Go object reached only through a pointer into its middle is not "possibly lost".

A real program: perl building a hash and arrays (a second perl with nothing is the
baseline). Its heap is shared by the interpreter's roots; the summary's 5 lines
must cover the data the script built (1 - baseline/heap) less at most 10% of the
heap (perl keeps its values in a few uniform chunk kinds: SV arenas, hash entries,
bodies - so a handful of groups holds them).  Every vector-register root slot of
its core names the word that holds the pointer, decoded independently from the
NT_X86_XSTATE note (the SDM's standard-format offsets).
"""
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

NT_X86_XSTATE = 0x202


def entries(j):
    return (j.get("top_entries") or {}).get("entries") or []


def find(es, type_, count=None):
    got = [e for e in es if e.get("type") == type_ and (count is None or e["count"] == count)]
    return got[0] if len(got) == 1 else None


def check_entry(label, e, want_bytes, want_count, shared, roots_re, top_addr=None):
    """One structure's entry: its bytes, its count, shared or not, the roots."""
    if not check(e is not None, "%s: one entry" % label):
        return
    check_eq((e["retained_bytes"], e["retained_count"]), (want_bytes, want_count),
             "%s: retained bytes and objects = the program's record" % label)
    check_eq(e["shared"], shared, "%s: shared" % label)
    if top_addr is not None:
        check_eq(parse_addr(e["biggest"]["addr"]), top_addr, "%s: its top object" % label)
    reached = e.get("reached_from") or []
    for r in roots_re:
        check(any(r.fullmatch(x) for x in reached), "%s: reached from %s (%s)"
              % (label, r.pattern, reached))
    path = e.get("path") or {}
    check(any(r.fullmatch(path.get("root_slot", "")) for r in roots_re),
          "%s: a path from one of its roots (%s)" % (label, path.get("root_slot")))


def check_partition(db, label):
    """Every group of top entries, summed: the reachable heap, exactly."""
    j = cprof("top", "--db", db, "--limit", "1000000", "--json", json=True)
    es = j["top_entries"]
    con = sqlite3.connect(db)
    reach = con.execute("SELECT coalesce(sum(size), 0), count(*) FROM object"
                        " WHERE reachable = 1").fetchone()
    con.close()
    check_eq(len(es["entries"]), es["groups"], "%s: every group listed" % label)
    check_eq((sum(e["retained_bytes"] for e in es["entries"]),
              sum(e["retained_count"] for e in es["entries"])), reach,
             "%s: the top entries add up to the reachable heap (bytes, objects)" % label)
    return es


def c_program():
    c = corpus_core("shared")
    m = c.manifest
    db = os.path.join(c.dir, "t0620.db")
    worker = r"thread %d frame \d+ worker_serve \(shared\.c:\d+\)" % m["worker_tid"]
    main_frame = r"thread %d frame \d+ main_hold \(shared\.c:\d+\)" % m["pid"]
    roots = {"global g_primary": r"shared!g_primary\+0x0", "global g_backup": r"shared!g_backup\+0x0",
             "global g_cache": r"shared!g_cache\+0x0", "global g_sessions": r"shared!g_sessions\+0x0",
             "global g_notes": r"shared!g_notes\+0x0", "frame worker_serve": worker,
             "frame main_hold": main_frame}
    # the root node holding an object alone: a global's, a frame's
    holders = {"global g_sessions": r"shared!g_sessions", "frame worker_serve": worker}
    summ = cprof("analyze", c.core, c.exe, "--db", db, "--json", json=True)
    _, text, _ = cprof("analyze", c.core, c.exe, "--db", db + ".text")
    top = cprof("top", "--db", db, "--json", json=True)
    for label, j in (("summary", summ), ("top", top)):
        es = entries(j)
        for k in ("store", "cache"):
            s = m[k]
            check_entry("%s: %s" % (label, k), find(es, s["type"], 1), s["bytes"], s["chunks"],
                        True, [re.compile(roots[r]) for r in s["roots"]], parse_addr(s["top"]))
        s = m["sessions"]
        check_entry("%s: sessions" % label, find(es, s["type"], s["count"]), s["bytes"],
                    s["chunks"], True, [re.compile(roots[r]) for r in s["roots"]])
        # the two arrays of sessions: each held by its one root, retaining itself
        for a in s["arrays"]:
            e = [x for x in es if x["count"] == 1 and parse_addr(x["biggest"]["addr"]) ==
                 parse_addr(a["addr"])]
            if check(len(e) == 1, "%s: the array of %s is an entry" % (label, a["root"])):
                held = (e[0].get("held_by") or {}).get("name", "")
                check(not e[0]["shared"] and re.fullmatch(holders[a["root"]], held),
                      "%s: the array of %s is held by it alone (%s)" % (label, a["root"], held))
                check_eq(e[0]["retained_bytes"], a["usable"], "%s: ... and retains itself" % label)
    es = entries(summ)
    check(len(es) <= 5, "the summary lists at most 5 entries")
    notes = m["notes"]
    e = find(entries(top), notes["type"], 1)
    check_entry("top: notes", e, notes["bytes"], notes["chunks"], False,
                [re.compile(roots["global g_notes"])], parse_addr(notes["top"]))
    if e:
        check_eq((e.get("held_by") or {}).get("name"), "shared!g_notes",
                 "top: the notes are held by the global g_notes")
    # the text: one line per structure with its address, and who reaches it
    store_line = [l for l in text.splitlines() if "struct store at %s" % m["store"]["top"] in l]
    check(len(store_line) == 1 and "shared by several roots" in store_line[0],
          "summary text: the store's line (%s)" % store_line)
    after = text.split(store_line[0], 1)[1].splitlines()[:2] if store_line else []
    check(any("reached from" in l and "shared!g_primary+0x0" in l and "shared!g_backup+0x0" in l
              for l in after), "summary text: the store is reached from both globals (%s)" % after)
    check("where the memory is" in text and "biggest retainers" not in text,
          "summary text: 'where the memory is' replaces 'biggest retainers'")
    check_partition(db, "shared")

    # vector register words, named as the program recorded them
    con = sqlite3.connect(db)
    for v in m["vectors"]:
        got = [r[0] for r in con.execute(
            "SELECT rr.slot_name FROM root_ref rr JOIN object o ON o.id = rr.dst"
            " WHERE o.addr = ?", (parse_addr(v["chunk"]),))]
        check_eq(got, ["thread %d register %s" % (m["vectors_tid"], v["register"])],
                 "the chunk in %s is held by that register word alone" % v["register"])
    con.close()
    check(len(m["vectors"]) >= 1, "at least xmm7[1] was loaded")
    _, info, _ = cprof("info", c.core, c.exe)
    block = info.split("thread %d " % m["vectors_tid"], 1)[-1].split("\n  thread ", 1)[0]
    for v in m["vectors"]:
        reg, word = re.fullmatch(r"(\w+)\[(\d+)\]", v["register"]).groups()
        line = [l for l in block.splitlines() if l.split()[:1] == [reg]]
        check(len(line) == 1 and "[%s] 0x%016x" % (word, parse_addr(v["chunk"])) in line[0],
              "info lists %s with the chunk's address (%s)" % (v["register"], line))


def c_stripped():
    c = corpus_core("shared-stripped")
    m = c.manifest
    db = os.path.join(c.dir, "t0620-stripped.db")
    cprof("analyze", c.core, c.exe, "--db", db, "--no-default-debug-dirs")
    info = cprof("info", c.core, c.exe, "--no-default-debug-dirs", "--json", json=True)
    frames = {t["tid"]: t["frames"] for t in info["threads"]}
    con = sqlite3.connect(db)
    slots = [r[0] for r in con.execute("SELECT DISTINCT slot_name FROM root_ref"
                                       " WHERE slot_name LIKE 'thread % frame %'")]
    con.close()
    check(slots, "some frame of the stripped program holds a pointer")
    syms = Elf(os.path.join(os.path.dirname(c.exe), "shared")).symbols()
    funcs = [(v, s, n) for n, l in syms.items() for v, s, t in l if t == 2 and s]
    bias = parse_addr(m["exe_load_bias"])
    wanted = {t["tid"]: t["functions"] for t in m["threads"]}
    for slot in slots:
        mm = re.fullmatch(r"thread (\d+) frame (\d+) (\S+)", slot)
        if not check(mm, "frame slot name '%s' is 'thread T frame K module+0xOFF'" % slot):
            continue
        tid, k, name = int(mm.group(1)), int(mm.group(2)), mm.group(3)
        fr = frames.get(tid, [])
        check(k < len(fr) and fr[k]["symbol"] == name,
              "%s: info names frame %d the same (%s)" % (slot, k, fr[k]["symbol"] if k < len(fr) else None))
        om = re.fullmatch(r"shared-stripped\+0x([0-9a-f]+)", name)
        if not check(om, "%s: module+offset, not '??'" % slot):
            continue
        pc = parse_addr(fr[k]["pc"]) - bias if k < len(fr) else None
        fn = [n for v, s, n in funcs if pc is not None and v <= pc - 1 < v + s]
        check(fn and fn[0] in wanted.get(tid, []),
              "%s: the unstripped binary puts it in %s, one of the thread's recorded functions %s"
              % (slot, fn, wanted.get(tid)))


def go_program():
    require_corpus_program("goshared")
    c = corpus_core("goshared")
    m = c.manifest
    db = os.path.join(c.dir, "t0620.db")
    summ = cprof("analyze", c.core, c.exe, "--db", db, "--json", json=True)
    _, text, _ = cprof("analyze", c.core, c.exe, "--db", db + ".text")
    top = cprof("top", "--db", db, "--json", json=True)
    gr = cprof("goroutines", "--db", db, "--json", "--limit", "100", json=True)
    serve = [g for g in gr["groups"] if g["function"] == "main.serve"]
    goids = "|".join(str(x) for g in serve for x in g["goids"]) or "none"
    roots = {"global main.primary": r"goshared!main\.primary\+0x0",
             "global main.backup": r"goshared!main\.backup\+0x0",
             "global main.sessions": r"goshared!main\.sessions\+0x0",
             "goroutine main.serve": r"goroutine (%s) frame \d+ .*" % goids}
    for label, j in (("summary", summ), ("top", top)):
        es = entries(j)
        s = m["store"]
        check_entry("go %s: store" % label, find(es, s["type"], 1), s["bytes"], s["objects"], True,
                    [re.compile(roots[r]) for r in s["roots"]], parse_addr(s["top"]))
        s = m["sessions"]
        check_entry("go %s: sessions" % label, find(es, s["type"], s["count"]), s["bytes"],
                    s["objects"], True, [re.compile(roots[r]) for r in s["roots"]])
    check_partition(db, "goshared")
    # groups named by the function they run
    for k in m["goroutines"]:
        fn = next((f for f in k["frames"] if f.startswith("main.")), None)
        g = [x for x in gr["groups"] if x["wait_reason"] == k["wait_reason"]
             and x["count"] == k["count"] and k["function"] in x["stack"]]
        if not check(len(g) == 1, "go: one group of %d in %s" % (k["count"], k["function"])):
            continue
        check_eq(g[0]["function"], fn, "go: the group is named by the function it runs "
                 "(runtime.Stack's innermost main frame)")
        if k["frames"][-1] != fn:
            check_eq(g[0]["start_function"], k["frames"][-1],
                     "go: ... and says the helper's closure it started in")
    con = sqlite3.connect(db)
    names = [r[0] for r in con.execute("SELECT name FROM root_node WHERE kind = 'goroutines'")]
    check(not any(n.endswith("startGoRoutine.func1") for n in names),
          "go: no goroutine group is named by the helper (%s)" % names)
    # interior pointers are ordinary in Go
    it = m["interior"]
    row = con.execute("SELECT id, reachable, interior_only FROM object WHERE addr = ?",
                      (parse_addr(it["addr"]),)).fetchone()
    if check(row, "go: the interior-only []byte is an object"):
        offs = [r[0] for r in con.execute("SELECT dst_offset FROM ref WHERE dst = ? UNION ALL"
                                          " SELECT dst_offset FROM root_ref WHERE dst = ?",
                                          (row[0], row[0]))]
        check(offs and all(offs), "go: every pointer to it points into its middle (%s)" % offs)
        check_eq(row[1:], (1, 0), "go: it is reachable, and not interior_only")
    con.close()
    lk = cprof("leaks", "--db", db, "--json", json=True)
    check_eq(lk["summary"]["interior_only"]["count"], 0,
             "go: leaks --json counts no object as reachable only through interior pointers")
    check("possibly lost" not in text, "go: the summary never says valgrind's 'possibly lost'")


def gogoroutines():
    require_corpus_program("gogoroutines")
    c = corpus_core("gogoroutines")
    db = os.path.join(c.dir, "t0620.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    gr = cprof("goroutines", "--db", db, "--json", json=True)
    w = [g for g in gr["groups"] if g["count"] == c.manifest["n"]]
    check(len(w) == 1 and w[0]["function"] == c.manifest["goroutines"]["function"],
          "gogoroutines: the workers' group runs %s (%s)"
          % (c.manifest["goroutines"]["function"], [g["function"] for g in w]))


# ---- a real program ----

def perl_core(d, script):
    """Run perl -e SCRIPT (it prints "ready" and reads stdin), take its core with
    gcore (the kernel's SIGABRT core when gcore is missing), kill it."""
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("core"):
            os.unlink(os.path.join(d, f))

    def limits():
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    p = subprocess.Popen(["perl", "-e", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=d, preexec_fn=limits,
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C",
                              "PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"})
    try:
        if b"ready" not in p.stdout.readline():
            raise Abort("perl did not get ready: %s" % p.stderr.read(2000))
        time.sleep(0.3)   # into its read()
        return dump_process(p, d, "perl")
    finally:
        p.kill()
        p.wait()


def xstate_word(data, reg, word):
    """Word WORD of vector register REG (xmm7, ymm3, zmm20) in an NT_X86_XSTATE note,
    at the standard-format offsets (Intel SDM vol. 1, 13.4 and 13.5)."""
    kind, n = reg[:3], int(reg[3:])
    if kind == "xmm" and word < 2:
        off = 160 + 16 * n + 8 * word
    elif kind == "ymm" and 2 <= word < 4:
        off = 576 + 16 * n + 8 * (word - 2)
    elif kind == "zmm" and n < 16 and 4 <= word < 8:
        off = 1152 + 32 * n + 8 * (word - 4)
    elif kind == "zmm" and n >= 16 and word < 8:
        off = 1664 + 64 * (n - 16) + 8 * word
    else:
        return None
    return struct.unpack_from("<Q", data, off)[0] if off + 8 <= len(data) else None


def real_perl():
    require_tool("perl")
    d = os.path.join(WORK, "t0620-perl")
    full = perl_core(os.path.join(d, "full"),
                     'my %h; $h{"key$_"} = "v" x ($_ % 200) for 1 .. 60000; '
                     'my @a = map { [$_, "x$_"] } 1 .. 20000; $| = 1; print "ready\\n"; '
                     'my $in = <STDIN>; print scalar(keys %h) + @a;')
    base = perl_core(os.path.join(d, "base"), '$| = 1; print "ready\\n"; my $in = <STDIN>;')
    exe = os.path.realpath(shutil.which("perl"))
    got = {}
    for tag, core in (("full", full), ("base", base)):
        db = os.path.join(d, "%s.db" % tag)
        j = cprof("analyze", core, exe, "--db", db, "--json", json=True, timeout=600)
        got[tag] = (db, j)
    db, j = got["full"]
    es = j["top_entries"]
    heap = es["reachable_bytes"]
    base_heap = got["base"][1]["top_entries"]["reachable_bytes"]
    data = 1 - base_heap / heap if heap else 0
    shown = sum(e["retained_bytes"] for e in es["entries"])
    con = sqlite3.connect(db)
    shared = con.execute("SELECT coalesce(sum(size), 0) FROM object WHERE reachable = 1"
                         " AND retaining_root IS NULL").fetchone()[0]
    note("perl: heap %s, the script's data %.1f%% of it (baseline %s), shared between roots "
         "%.1f%%; the summary's %d lines cover %.1f%%" % (fmt_bytes(heap), 100 * data,
         fmt_bytes(base_heap), 100 * shared / heap, len(es["entries"]), 100 * shown / heap))
    check(len(es["entries"]) <= 5, "perl: the summary lists at most 5 entries")
    check(shown >= (data - 0.10) * heap,
          "perl: the summary's entries cover the script's data less at most 10%% of the heap "
          "(%.1f%% >= %.1f%%)" % (100 * shown / heap, 100 * (data - 0.10)))
    check_partition(db, "perl")
    # vector register root slots: the word decoded from the note is the pointer
    notes, tid = {}, None
    for n, t, data_, _ in Elf(full).notes():
        if t == 1 and n == "CORE":
            tid = struct.unpack_from("<i", data_, 32)[0]
        elif t == NT_X86_XSTATE and tid is not None:
            notes[tid] = data_
    rows = con.execute("SELECT rr.slot_name, o.addr + rr.dst_offset FROM root_ref rr"
                       " JOIN object o ON o.id = rr.dst WHERE rr.slot_name GLOB"
                       " 'thread * register [xyz]mm*'").fetchall()
    con.close()
    bad = []
    for name, value in rows:
        mm = re.fullmatch(r"thread (\d+) register ([xyz]mm\d+)\[(\d+)\]", name)
        w = xstate_word(notes.get(int(mm.group(1)), b""), mm.group(2), int(mm.group(3))) if mm else None
        if w != value:
            bad.append((name, hex(value), hex(w) if w is not None else None))
    note("perl: %d root slots in vector registers" % len(rows))
    check(not bad, "perl: every vector-register slot names the word that holds the pointer "
          "(wrong: %s)" % bad[:3])


with case("c"):
    c_program()
with case("c-stripped"):
    c_stripped()
with case("go"):
    go_program()
with case("gogoroutines"):
    gogoroutines()
with case("perl"):
    real_perl()
finish()
