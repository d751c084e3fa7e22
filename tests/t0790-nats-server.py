#!/usr/bin/env python3
"""t0790: a real Go server under real load - nats-server v2.15.3, built from the Go
module proxy inside the test (cached under CPROF_WORK/nats).

The server runs with JetStream on 127.0.0.1 and its profiling port; corpus/natsload
(a client built from the proxy too: nats.go) opens 20 connections with 300
subscriptions, fills a JetStream memory stream with 20000 messages and a key-value
bucket with 2000 keys, sends every subscription a message and stays connected. When
the server is quiet (two forced-GC MemStats in a row agree), the test reads its
/debug/pprof/heap?debug=1&gc=1 MemStats (and, for the gcore core, its
/debug/pprof/goroutine?debug=2 dump), then takes the core: with GOTRACEBACK=crash and
SIGABRT (the kernel's), and with gcore. From each core:
  - the runtime's counters equal the page's: Sys, MSpanSys, MCacheSys, StackSys -
    StackInuse and HeapSys + StackInuse + BuckHashSys + GCSys + OtherSys (the handler
    that read them goes on: its stack grows into heap spans, it may need a profile
    bucket or GC metadata from what OtherSys counted, and the sweeper hands the
    forced collection's idle work buffers back to the heap, from GCSys to HeapSys);
    HeapSys + StackInuse moved by whole 32 KiB work buffer spans; HeapReleased within 2% of
    HeapSys (the background scavenger releases as it goes); the Go objects
    reachable in the core are the page's HeapObjects and HeapAlloc (a forced GC's
    live heap) within 0.5% (the server's own background work between; consecutive
    pages differ by about 0.05%), and the walk's HeapAlloc is not below the page's
    (the handler allocated after reading them);
  - kernel core: the goroutines are the runtime's crash traceback's, call by call,
    inlined calls included, with their file:line, status, wait reason and creator
    (check_go_traceback);
  - gcore core: every goroutine parked in the goroutine dump and in the core, but
    those of the profiler's HTTP server, has the dump's calls (inlined ones
    included; the dump leaves out the runtime's unexported functions and the
    compiler's wrappers) with their file:line;
  - the summary's biggest entry is a JetStream stream (server.stream), retaining
    at least the bytes the stream itself reports (the client's StreamInfo);
  - no warning, no slot of the executable's data left as module+offset but a
    handful (composite literals named by their variables).
The viewcore comparison is bench/nats-viewcore (viewcore is built outside the repo).
"""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403
import cprof_test as H  # noqa: E402  (the harness's process helpers)

VERSION = "v2.15.3"
GO = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK)
                            else None)
if not GO:
    skip("go not installed (nats-server and its client are built from the module proxy)")
NATS = os.path.join(WORK, "nats")
BIN = os.path.join(NATS, "bin")
SERVER = os.path.join(BIN, "nats-server")
CLIENT = os.path.join(BIN, "natsload")
CLIENT_SRC = os.path.join(SOURCE_ROOT, "corpus", "natsload")
# Counters that change only when the runtime obtains memory from the OS; and sums
# that do. The heap's pages serve three users, counted in different fields: heap
# spans (HeapSys), goroutine stacks (StackInuse) and the collector's work buffers
# (GCSys: gcWorkBufInUse). The handler that read the page goes on: its stack grows,
# taking heap spans from HeapSys to StackInuse; a profile bucket or GC metadata it
# needs moves bytes from OtherSys to BuckHashSys or GCSys; and after the forced
# collection the background sweeper hands idle work buffers back to the heap
# (freeSomeWbufs), 32 KiB spans (the runtime's workbufAlloc) from GCSys to HeapSys
# (a CI run saw one move between the page and the kernel's dump). HeapReleased
# moves with the background scavenger (64 KiB at a time): within 2% of HeapSys.
EXACT = ("Sys", "MSpanSys", "MCacheSys")
SUMS = (("HeapSys", "StackInuse", "BuckHashSys", "GCSys", "OtherSys"),
        ("StackSys", "-StackInuse"))
WORKBUF_SPAN = 32 << 10


def total(stats, names):
    return sum(-stats.get(n[1:], 0) if n[0] == "-" else stats.get(n, 0) for n in names)


def go_env():
    env = dict(os.environ, GOFLAGS="-buildvcs=false -mod=readonly", CGO_ENABLED="0")
    for k in ("GOENV", "GOOS", "GOARCH", "GOEXPERIMENT", "GOWORK"):
        env.pop(k, None)
    return env


def build():
    """nats-server (go install from the proxy) and natsload, each built once."""
    os.makedirs(BIN, exist_ok=True)
    with H._locked(os.path.join(NATS, "build.lock")):
        if not os.path.exists(SERVER):
            t0 = time.monotonic()
            env = dict(go_env(), GOBIN=BIN)
            env["GOFLAGS"] = "-buildvcs=false"
            r = subprocess.run([GO, "install", "github.com/nats-io/nats-server/v2@" + VERSION],
                               env=env, cwd=NATS, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
            if r.returncode:
                skip("nats-server %s cannot be built from the Go module proxy: %s"
                     % (VERSION, r.stdout.decode("utf-8", "replace")[-600:]))
            note("built nats-server %s from the module proxy in %.0f s"
                 % (VERSION, time.monotonic() - t0))
        srcs = [os.path.join(CLIENT_SRC, f) for f in os.listdir(CLIENT_SRC)]
        if not os.path.exists(CLIENT) or os.path.getmtime(CLIENT) < max(map(os.path.getmtime, srcs)):
            r = subprocess.run([GO, "-C", CLIENT_SRC, "build", "-o", CLIENT + ".tmp", "."],
                               env=go_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=1200)
            if r.returncode:
                skip("corpus/natsload cannot be built (nats.go from the Go module proxy): %s"
                     % r.stdout.decode("utf-8", "replace")[-600:])
            os.rename(CLIENT + ".tmp", CLIENT)
    out = subprocess.run([SERVER, "--version"], stdout=subprocess.PIPE, timeout=30).stdout
    check(VERSION in out.decode(), "nats-server says it is %s: %s" % (VERSION, out.strip()))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode("utf-8", "replace")


def memstats(text):
    """{field: value} of the MemStats a /debug/pprof/heap?debug=1 page ends with."""
    m = {k: int(v) for k, v in re.findall(r"^# (\w+) = (\d+)$", text, re.M)}
    for name in ("Stack", "MSpan", "MCache"):
        x = re.search(r"^# %s = (\d+) / (\d+)$" % name, text, re.M)
        if x:
            m[name + "Inuse"], m[name + "Sys"] = int(x.group(1)), int(x.group(2))
    return m


def quiet_memstats(pport):
    """MemStats after a forced GC, once two readings in a row agree."""
    url = "http://127.0.0.1:%d/debug/pprof/heap?debug=1&gc=1" % pport
    prev = None
    for _ in range(30):
        cur = memstats(get(url))
        if prev and all(cur.get(k) == prev.get(k) for k in EXACT) and \
                all(total(cur, x) == total(prev, x) for x in SUMS) and \
                abs(cur["HeapAlloc"] - prev["HeapAlloc"]) <= cur["HeapAlloc"] // 1000:
            return cur
        prev = cur
        time.sleep(0.3)
    raise Abort("nats-server never settled: its MemStats kept changing")


def run(dumper):
    """Starts the server and the load, waits until it is quiet, takes the core.
    Returns (directory, core, the final MemStats, the client's report, the
    goroutine dump or None, the server's output)."""
    d = os.path.join(NATS, dumper)
    if os.path.exists(d):
        shutil.rmtree(d)
    rundir = os.path.join(d, "run")
    os.makedirs(rundir)
    port, pport = free_port(), free_port()
    out_path = os.path.join(d, "server.out")
    env = {"PATH": "/usr/bin:/bin", "GOTRACEBACK": "crash", "GOMAXPROCS": "2"}
    with open(out_path, "w") as out:
        server = subprocess.Popen([SERVER, "-a", "127.0.0.1", "-p", str(port), "-js",
                                   "-sd", os.path.join(d, "js"), "--profile", str(pport)],
                                  cwd=rundir, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=env, close_fds=True,
                                  preexec_fn=H._child_setup(dumper == "kernel"))
    client = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                get("http://127.0.0.1:%d/debug/pprof/" % pport)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise Abort("nats-server did not start:\n%s" % H._read_text(out_path))
                time.sleep(0.1)
        client = subprocess.Popen([CLIENT, "nats://127.0.0.1:%d" % port],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env, close_fds=True,
                                  preexec_fn=H._child_setup(False))
        line = client.stdout.readline().decode("utf-8", "replace")
        if not line.startswith("ready"):
            raise Abort("natsload: %s%s" % (line, client.stdout.read(4000).decode()))
        report = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
        quiet_memstats(pport)
        dump = None
        if dumper == "gcore":
            dump = get("http://127.0.0.1:%d/debug/pprof/goroutine?debug=2" % pport)
            with open(os.path.join(d, "goroutines.txt"), "w") as f:
                f.write(dump)
        url = "http://127.0.0.1:%d/debug/pprof/heap?debug=1&gc=1" % pport
        page = get(url)
        stats = memstats(page)
        if dumper == "kernel":
            server.send_signal(signal.SIGABRT)
            status = H._reap(server, 120)
            if status is None or not os.WCOREDUMP(status):
                raise Abort("nats-server dumped no core on SIGABRT (status %s)" % status)
            cores = [os.path.join(rundir, f) for f in os.listdir(rundir) if f.startswith("core")]
            if len(cores) != 1:
                raise Abort("expected one core in %s: %s" % (rundir, cores))
            core = cores[0]
        else:
            # The server goes on after the reading: the runtime may take memory
            # from the OS before gcore stops it. The same reading again after
            # the dump (the counters only grow) says whether the core is the
            # one the first reading describes; else the pair is taken again.
            prefix = os.path.join(d, "core")
            for attempt in range(1, 4):
                r = subprocess.run(["gcore", "-o", prefix, str(server.pid)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=300)
                core = "%s.%d" % (prefix, server.pid)
                if r.returncode or not os.path.exists(core):
                    raise Abort("gcore failed: %s" % r.stdout.decode()[-2000:])
                after = memstats(get(url))
                if all(after.get(k) == stats.get(k) for k in EXACT) and \
                        all(total(after, x) == total(stats, x) for x in SUMS):
                    break
                note("gcore attempt %d: MemStats moved across the dump (Sys %d -> %d): taken again"
                     % (attempt, stats.get("Sys", 0), after.get("Sys", 0)))
                os.remove(core)
                if attempt == 3:
                    raise Abort("nats-server's MemStats moved across each of 3 gcore dumps")
                page = get(url)
                stats = memstats(page)
            H._punch_zero_holes(core)
        with open(os.path.join(d, "heap.txt"), "w") as f:   # for bench/nats-viewcore
            f.write(page)
        return d, core, stats, report, dump, out_path
    finally:
        if client:
            client.stdin.close()
            H._kill(client)
        H._kill(server)


require_tool("gcore")
build()
for dumper in available_dumpers():
    with case(dumper):
        t0 = time.monotonic()
        d, core, stats, report, dump, out_path = run(dumper)
        t_run = time.monotonic() - t0
        db = os.path.join(d, "t0790.db")
        t0 = time.monotonic()
        _, summary, err = cprof("analyze", core, SERVER, "--db", db, timeout=600)
        note("%s: the server ran and was cored in %.1f s; analyze took %.1f s"
             % (dumper, t_run, time.monotonic() - t0))
        check(not err.strip(), "%s: analyze warns about nothing: %s" % (dumper, err[-600:]))
        con = sqlite3.connect(db)
        ours = dict(con.execute("SELECT name, value FROM allocator_stat WHERE allocator = 'go'"))
        for k in EXACT:
            check_eq(ours.get(k), stats.get(k), "%s: MemStats.%s" % (dumper, k))
        for x in SUMS:
            check_eq(total(ours, x), total(stats, x), "%s: MemStats %s" % (
                dumper, " + ".join(x).replace("+ -", "- ")))
        moved = total(ours, ("HeapSys", "StackInuse")) - total(stats, ("HeapSys", "StackInuse"))
        check(moved % WORKBUF_SPAN == 0 and abs(moved) <= 16 * WORKBUF_SPAN,
              "%s: HeapSys + StackInuse moved by %d bytes from the page's, whole work buffer "
              "spans of 32 KiB between GCSys and the heap (at most 16)" % (dumper, moved))
        check(abs(ours["HeapReleased"] - stats["HeapReleased"]) <= stats["HeapSys"] // 50,
              "%s: MemStats.HeapReleased %d, the page's %d (the scavenger's pace)"
              % (dumper, ours["HeapReleased"], stats["HeapReleased"]))
        n, b = con.execute(
            "SELECT count(*), sum(o.size) FROM object o JOIN heap h ON h.id = o.heap_id "
            "WHERE h.allocator = 'go' AND o.reachable").fetchone()
        check(abs(n - stats["HeapObjects"]) <= stats["HeapObjects"] // 200 and
              abs(b - stats["HeapAlloc"]) <= stats["HeapAlloc"] // 200,
              "%s: the reachable Go objects are the live heap of a forced GC within 0.5%%: "
              "%d objects, %d bytes in the core; %d, %d on the page" % (
                  dumper, n, b, stats["HeapObjects"], stats["HeapAlloc"]))
        check(ours["HeapAlloc"] >= stats["HeapAlloc"] and
              ours["HeapObjects"] >= stats["HeapObjects"],
              "%s: the walk's HeapAlloc %d (%d objects) is not below the page's %d (%d)"
              % (dumper, ours["HeapAlloc"], ours["HeapObjects"], stats["HeapAlloc"],
                 stats["HeapObjects"]))

        if dumper == "kernel":
            tb = go_traceback(H._read_text(out_path, 1 << 24))
            check(tb is not None, "kernel: the runtime's crash traceback is in the server's output")
            if tb:
                calls = check_go_traceback(db, tb, "kernel: ")
                check(calls > 300, "kernel: %d calls compared with the traceback" % calls)
        else:
            tb = go_traceback(dump)
            mine = {}
            for goid, status, fn, file, line in con.execute(
                    "SELECT g.goid, g.status, f.function, f.file, f.line FROM goroutine g "
                    "JOIN goroutine_frame f ON f.goroutine_id = g.id ORDER BY g.goid, f.depth"):
                mine.setdefault(goid, (status, []))
                fn = go_print_name(fn)
                # the dump hides the runtime's unexported functions and the
                # compiler's wrappers (showframe at GOTRACEBACK=single)
                if not (fn.startswith("runtime.") and not fn[8:9].isupper()) and \
                        file != "<autogenerated>" and not re.search(r"\.gowrap\d+$", fn):
                    mine[goid][1].append((fn, file, line))
            compared, bad = 0, []
            for goid, g in tb["goroutines"].items():
                theirs = [(f["function"], f["file"], f["line"]) for f in g["frames"]]
                if goid not in mine or mine[goid][0] != "waiting" or \
                        any("net/http" in f[0] for f in theirs):
                    continue
                compared += 1
                if theirs != mine[goid][1]:
                    bad.append((goid, theirs[:3], mine[goid][1][:3]))
            check(not bad and compared > 40,
                  "gcore: the %d goroutines parked in the core and in the dump the server "
                  "wrote before have its calls and file:lines (wrong: %s)" % (compared, bad[:2]))

        top = cprof("top", "--db", db, "--json", "--limit", "1", json=True)
        e = (top["top_entries"]["entries"] or [{}])[0]
        check(e.get("type", "").endswith("/server.stream") and
              e["biggest"]["retained_bytes"] >= report["stream_bytes"],
              "%s: the summary's biggest entry is a JetStream stream retaining at least the "
              "%d bytes the stream reports: %s %s" % (
                  dumper, report["stream_bytes"], e.get("type"),
                  e.get("biggest", {}).get("retained_bytes")))
        check("server.stream" in summary.split("where the memory is")[-1][:2000],
              "%s: the summary text names it" % dumper)
        (anon,) = con.execute("SELECT count(*) FROM root_ref WHERE slot_name LIKE "
                              "'nats-server+0x%'").fetchone()
        (named,) = con.execute("SELECT count(*) FROM root_ref WHERE slot_name LIKE "
                               "'nats-server!%'").fetchone()
        check(anon <= 5 and named > 100, "%s: %d slots of the executable's data named, %d left "
              "as nats-server+0x..." % (dumper, named, anon))
        con.close()

finish()
