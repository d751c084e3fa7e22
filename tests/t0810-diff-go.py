#!/usr/bin/env python3
"""t0810: `cprof-core diff OLD.db NEW.db` on one process dumped twice.

corpus/go/gogrow runs (MemProfileRate = 1), writes its manifest and waits; gcore
takes the first core; SIGUSR1 makes it allocate N blocks (type main.Block, site
main.grow, kept by the global main.grown, whose array was allocated before the
first core) and write a second manifest with the same non-allocating writer;
gcore takes the second core. Between the two the program itself allocated only
those N blocks (the manifest writer checks that its own runs allocate nothing).
  - --by site, --by type and --by root show that growth exactly: N objects and
    N x 64 bytes at main.grow (none before), N more main.Block, N more under
    gogrow!main.grown - and every grown block the manifest lists is in NEW.db at
    that site and under that root;
  - nothing else grew or shrank, but noise: objects the program and the runtime
    replace between the cores by others of the same type, root and site (the
    manifest writer's strings and buffers, made again by the second write: their
    count and bytes cancel out - by site once the rows are summed per site name,
    the first frame outside the runtime, since the second write is called from
    another line of main.main: another stack), and what the runtime itself keeps
    (a sudog its GC cached, a signal handler's mask moving from one root to
    another; and when it started a thread between the cores - the cores' thread
    tables say so - that thread's runtime.m, g0 and gsignal and their buffers,
    about 5.5 KiB in 7 objects, which also moves structures between the module
    and "(shared)" as runtime.allm gains it): no other row's growth is above a
    tolerance of NOISE_OBJECTS objects and NOISE_BYTES bytes, plus PER_THREAD
    for each thread the runtime added - and by root one more PER_THREAD, with the
    rows "(shared)" and "gogrow" (the module's root) summed: the runtime's
    structures move between them as threads park and wake, new thread or not,
    40 KiB and more - and the totals grow by N blocks within
    that tolerance (a pair of dumps between which the runtime started a thread
    is taken again, up to three times: the new M re-parents 40 KiB or more of
    runtime objects between those roots);
  - `diff -o` writes the difference as a pprof profile that `go tool pprof` reads,
    with main.grow's N blocks; `go tool pprof -base OLD NEW` over `cprof-core pprof
    --by site` of each database gives main.grow the same growth.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import shutil
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cprof_test as ct  # noqa: E402
from cprof_test import *  # noqa: E402,F401,F403

N = 500
BLOCK = 64
# What may change between the two cores besides the growth: a row whose count
# moves by at most this many objects and bytes (see the docstring).
NOISE_OBJECTS = 8
NOISE_BYTES = 4096
PER_THREAD = (12, 8192)

exe = require_corpus_program("gogrow")
go_tool()
if not shutil.which("gcore"):
    skip("gcore is not installed: the process must go on after its first core")

d = os.path.join(WORK, "t0810")
if os.path.exists(d):
    shutil.rmtree(d)
run_dir = os.path.join(d, "run")
os.makedirs(run_dir)
manifest = os.path.join(run_dir, "manifest.json")


def wait_for(path, p, what):
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if p.poll() is not None:
            raise Abort("gogrow exited (status %s) before %s" % (p.returncode, what))
        if time.monotonic() > deadline:
            raise Abort("gogrow wrote no %s within 30 s" % what)
        time.sleep(0.01)
    # every thread parked in a system call
    deadline = time.monotonic() + 10
    while True:
        now = ct._task_syscalls(p.pid)
        if now and all(s.isdigit() for s in now.values()):
            return ct.load_manifest(path)
        if time.monotonic() > deadline:
            raise Abort("gogrow: threads not all blocked after 10 s: %s" % now)
        time.sleep(0.01)


def take_core(p, name):
    core = dump_process(p, d, "gogrow")
    final = os.path.join(d, name)
    os.rename(core, final)
    ct._punch_zero_holes(final)
    return final


def run_twice():
    """Runs gogrow, dumps it, makes it grow, dumps it again; analyzes both.
    Returns (m1, m2, old_db, new_db, threads in each core)."""
    for f in os.listdir(run_dir):
        os.remove(os.path.join(run_dir, f))
    p = subprocess.Popen([exe, manifest, str(N)], cwd=run_dir, stdin=subprocess.DEVNULL,
                         stdout=open(os.path.join(d, "program.out"), "w"),
                         stderr=subprocess.STDOUT, preexec_fn=ct._child_setup(False),
                         env=corpus_env("gogrow"))
    try:
        m1 = wait_for(manifest, p, "manifest")
        old_core = take_core(p, "core.old")
        os.kill(p.pid, signal.SIGUSR1)
        m2 = wait_for(manifest + ".2", p, "second manifest")
        new_core = take_core(p, "core.new")
    finally:
        p.kill()
        p.wait()
    old_db, new_db = os.path.join(d, "old.db"), os.path.join(d, "new.db")
    cprof("analyze", old_core, exe, "--db", old_db)
    cprof("analyze", new_core, exe, "--db", new_db)
    threads = [sqlite3.connect(x).execute("SELECT count(*) FROM thread").fetchone()[0]
               for x in (old_db, new_db)]
    return m1, m2, old_db, new_db, threads


# A Go runtime may start one more thread between the dumps (its M, g0 and
# signal stack are new objects, and linking it into allm moves runtime
# objects between the module and shared roots): that is not the growth the
# program made, so such a pair is taken again; the third time, the noise
# tolerance grows by what a thread costs.
for attempt in range(1, 4):
    m1, m2, old_db, new_db, threads = run_twice()
    if threads[0] == threads[1]:
        break
    note("run %d: threads %d then %d: taken again" % (attempt, threads[0], threads[1]))

check_eq((m1["phase"], m1["grown"], m2["phase"], m2["grown"]), (1, 0, 2, N),
         "the program grew by %d blocks between its two manifests" % N)
check_eq(m2["block_size"], BLOCK, "a block is %d bytes" % BLOCK)


extra = max(0, threads[1] - threads[0])
NOISE_OBJECTS += PER_THREAD[0] * extra
NOISE_BYTES += PER_THREAD[1] * extra
note("threads: %d then %d: noise tolerance %d objects, %d bytes"
     % (threads[0], threads[1], NOISE_OBJECTS, NOISE_BYTES))


def diff(by):
    return cprof("diff", old_db, new_db, "--by", by, "--json", "--limit", "100000", json=True)


def growth(r):
    return (r["count_growth"], r["bytes_growth"])


def noise_ok(rows, known, by):
    objs, nbytes = NOISE_OBJECTS, NOISE_BYTES
    if by == "root":
        objs, nbytes = objs + PER_THREAD[0], nbytes + PER_THREAD[1]
    return [(r["key"].split("\n")[0], growth(r)) for r in rows if r is not known and
            (abs(r["count_growth"]) > objs or abs(r["bytes_growth"]) > nbytes)]


def sum_shared_and_module(rows):
    """The runtime's structures (an M's, a P's buffers, the GC's) are reached from
    the module's globals (runtime.allm, allp...) and, while a thread runs, from its
    stacks too: as threads park and wake between the two dumps, 40 KiB or more of
    them move between "(shared)" and the module's root "gogrow" with no thread
    started (seen on a fresh machine: +20 objects, +44176 bytes one way, -21,
    -44240 the other). The two rows are summed: a move between them is no growth."""
    pair = [r for r in rows if r["key"] in ("(shared)", "gogrow")]
    if len(pair) < 2:
        return rows
    summed = dict(pair[0], key="(shared) + gogrow",
                  count_growth=sum(r["count_growth"] for r in pair),
                  bytes_growth=sum(r["bytes_growth"] for r in pair))
    rest = [r for r in rows if r not in pair] + [summed]
    return sorted(rest, key=lambda r: (-r["bytes_growth"], r["key"]))


for by, match, want_before in (
        ("site", lambda r: r["site"].startswith("main.grow ("), 0),
        ("type", lambda r: r["key"] == "main.Block", 2000),
        ("root", lambda r: r["key"] == "gogrow!main.grown", 1)):
    with case("--by " + by):
        res = diff(by)
        rows = res["rows"]
        if by == "site":              # summed per site name (see the docstring)
            named = {}
            for r in rows:
                a = named.setdefault(r["site"], dict(r, key=r["site"], count_growth=0,
                                                     bytes_growth=0, before_count=0))
                a["count_growth"] += r["count_growth"]
                a["bytes_growth"] += r["bytes_growth"]
                a["before_count"] += r["before_count"]
            rows = sorted(named.values(), key=lambda r: (-r["bytes_growth"], r["key"]))
        if by == "root":              # "(shared)" and the module's root summed
            ids = [r["key"] for r in rows if re.search(r"(goroutine|thread) [0-9]|0x[0-9a-f]", r["key"])]
            check(not ids, "--by root: keys carry no goroutine or thread id, no address "
                  "(they differ from run to run): %s" % ids[:3])
            rows = sum_shared_and_module(rows)
        known = [r for r in rows if match(r)]
        check_eq(len(known), 1, "one row for the growth")
        if not known:
            continue
        k = known[0]
        check_eq(growth(k), (N, N * BLOCK), "%s: +%d objects, +%d bytes" % (k["key"].split("\n")[0],
                                                                            N, N * BLOCK))
        check_eq(k["before_count"], want_before, "what it had before")
        check_eq(rows[0] is k or growth(rows[0]) == growth(k), True,
                 "it is the biggest growth (first row)")
        others = noise_ok(rows, k, by)
        check(not others, "nothing else moved by more than %d objects or %d bytes: %s"
              % (NOISE_OBJECTS, NOISE_BYTES, others[:5]))
        t = res["totals"]
        tg = (t["after_count"] - t["before_count"], t["after_bytes"] - t["before_bytes"])
        check(abs(tg[0] - N) <= NOISE_OBJECTS and abs(tg[1] - N * BLOCK) <= NOISE_BYTES,
              "the totals grew by the blocks, within the noise (%s)" % (tg,))
        note("--by %s: rows that changed besides the growth: %s" % (by, [
            (r["key"].split("\n")[0], growth(r)) for r in rows
            if r is not k and growth(r) != (0, 0)][:10]))

with case("the grown blocks in NEW.db"):
    con = sqlite3.connect(new_db)
    rows = {}
    for a in m2["grown_objects"]:
        r = con.execute("SELECT s.name, n.name FROM object o JOIN object_site os ON os.object_id = o.id"
                        " JOIN site s ON s.id = os.site_id LEFT JOIN root_node n"
                        " ON n.id = o.retaining_root WHERE o.addr = ?", (parse_addr(a),)).fetchone()
        key = (r[0].split(" (")[0], r[1]) if r else None
        rows[key] = rows.get(key, 0) + 1
    con.close()
    check_eq(rows, {("main.grow", "gogrow!main.grown"): N},
             "each of the %d blocks the program lists: site main.grow, root main.grown" % N)

with case("a pprof profile of the difference"):
    f = os.path.join(d, "diff.pb.gz")
    cprof("diff", old_db, new_db, "--by", "site", "-o", f)
    r = pprof_raw(f)
    check("Main binary filename not available" not in r["stderr"] and
          os.path.basename(r["mappings"].get(1, {}).get("file", "")) == "gogrow",
          "its first mapping is the main binary, gogrow (%s; %s)"
          % (r["mappings"].get(1), r["stderr"][-200:]))
    mine = [s for s in r["samples"] if s["functions"][0] == "main.grow (main.go:50)"
            or s["functions"][0].startswith("main.grow (")]
    check_eq((sum(s["values"]["inuse_objects"] for s in mine),
              sum(s["values"]["inuse_space"] for s in mine)), (N, N * BLOCK),
             "go tool pprof reads main.grow's growth")
    po, pn = os.path.join(d, "old.pb.gz"), os.path.join(d, "new.pb.gz")
    cprof("pprof", "--db", old_db, "--by", "site", "-o", po)
    cprof("pprof", "--db", new_db, "--by", "site", "-o", pn)
    rc, out, err = go_pprof("-top", "-nodecount=1000", "-sample_index=inuse_objects", "-base", po, pn)
    line = [ln for ln in out.splitlines() if ln.rstrip().endswith(" main.grow")]
    check(rc == 0 and line and line[0].split()[0] == str(N),
          "go tool pprof -base OLD NEW: main.grow grew by %d objects (%s)" % (N, line or err[-300:]))

with case("two different programs"):
    # diff matches by name: two programs' heaps would "differ" by everything.
    # Same program: same_program true and no warning; another program's
    # database (goblocks): a warning naming both, same_program false.
    rc, out, err = cprof("diff", old_db, new_db)
    check("different programs" not in err, "no warning for two cores of one program")
    check_eq(diff("type").get("same_program"), True, "same_program is true")
    require_corpus_program("goblocks")
    cb = corpus_core("goblocks")
    other = os.path.join(d, "other.db")
    cprof("analyze", cb.core, cb.exe, "--db", other)
    rc, out, err = cprof("diff", old_db, other)
    check("different programs" in err and old_db in err and other in err,
          "a warning says they are different programs: %s" % err.strip()[:300])
    j = cprof("diff", old_db, other, "--json", json=True)
    check_eq(j.get("same_program"), False, "--json: same_program is false")

with case("offsets in root names are kept"):
    # A stripped module's roots are named by offset ("varnishd+0x1653d0"): the
    # same in every run of the build, so they are not masked as addresses are -
    # or every one of them would be one row.  A copy of NEW.db whose module
    # roots are renamed so must keep one row per name.
    import shutil
    renamed = os.path.join(d, "renamed.db")
    shutil.copyfile(new_db, renamed)
    con = sqlite3.connect(renamed)
    con.execute("UPDATE root_node SET name = 'gogrow+0x' || printf('%x', 4096 + id)"
                " WHERE kind != 'super'")
    con.commit()
    held = {n for n, in con.execute(
        "SELECT DISTINCT n.name FROM object o JOIN root_node n ON n.id = o.retaining_root"
        " WHERE o.reachable = 1")}
    con.close()
    rows = cprof("diff", renamed, renamed, "--by", "root", "--json", "--limit", "100000",
                 json=True)["rows"]
    keys = {r["key"] for r in rows}
    check(len(held) > 1 and held <= keys and not any("0x_" in k for k in keys),
          "one row per root named by offset (%d names, rows %s)" % (len(held), sorted(keys)[:5]))

finish()
