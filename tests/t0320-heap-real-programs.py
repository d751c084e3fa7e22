#!/usr/bin/env python3
"""t0320: glibc heaps of real programs from Debian's packages, not ours.

Three programs build a large structure and wait on their standard input: the sqlite3
shell after loading a table of 100000 rows with an index, perl after building a
hash of 200000 strings and 50000 arrays, and python3 after making 200000 small tuples
(pymalloc's arenas, anonymous mmaps glibc does not own) and a bytearray of 1 MiB (a glibc
mmapped chunk, in the same mapping as arenas once the kernel merges them).  glibc's own mallinfo2() is taken inside the
process just before the dump, by corpus/mallinfo-oracle.c (preloaded; SIGUSR1 makes it
call mallinfo2 and write the figures; it allocates nothing, and the program goes back
to its read()).  Then the core is taken with gcore (the kernel when gdb is missing).
`cprof-core analyze` must reproduce all ten mallinfo2 fields, with and without libc's
debug info, without a walker warning; and the heap bytes of the summary's memory by
category and of `info`'s mappings must be mallinfo2's arena + hblkhd: the walked heaps'
bytes, never the whole of a mapping a heap shares with other memory.  The summary names
the modules that have no DWARF (`types.no_debug_info`, the executable first, and a text
line for the executable): readelf finds no .debug_info in their files, and with the
default debug directories no separate debug file of their build-id either.

(gdb's own `call mallinfo2()` would be the simpler oracle, but gdb 13 cannot make
inferior calls on kernels whose XSAVE area it cannot write back - "Couldn't write
extended state status" - so the preloaded library stands in.)
"""
import json as _json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

MALLINFO = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost"]

PROGRAMS = {
    "sqlite3": (["sqlite3", ":memory:"],
                "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB);\n"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)\n"
                "INSERT INTO t SELECT i, printf('row %d', i), randomblob(i % 200) FROM n;\n"
                "CREATE INDEX tb ON t(b);\n"
                "SELECT count(*) FROM t;\n"
                ".print ready\n"),
    "perl": (["perl", "-e",
              'my %h; $h{"key$_"} = "v" x ($_ % 300) for 1 .. 200000; '
              'my @a = map { [$_, "x$_"] } 1 .. 50000; $| = 1; print "ready\\n"; '
              'my $in = <STDIN>; print scalar(keys %h) + @a;'], ""),
    # pymalloc's arenas (1 MiB anonymous mmaps) next to glibc's mmapped chunk of a
    # 1 MiB bytearray: the kernel merges them into one mapping, of which only the
    # chunk is a walked heap.
    "python3": (["/usr/bin/python3", "-c",
                 'import sys; objs = [(i, str(i)) for i in range(200000)]; '
                 'big = bytearray(1 << 20); print("ready", flush=True); '
                 'sys.stdin.read(1); print(len(objs) + len(big))'], ""),
}


def has_debug_section(path):
    """Whether the ELF file has DWARF of its own (readelf, not cprof-core)."""
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True).stdout
    return re.search(r"\s\.z?debug_info\s", out) is not None


def separate_debug_file(build_id):
    return bool(build_id) and os.path.exists(
        "/usr/lib/debug/.build-id/%s/%s.debug" % (build_id[:2], build_id[2:]))


def take(name):
    argv, script = PROGRAMS[name]
    require_tool(argv[0])
    exe = shutil.which(argv[0])
    if not exe:
        raise Abort("%s not found" % argv[0])
    exe = os.path.realpath(exe)
    oracle = os.path.join(corpus_dir(), "libmallinfo-oracle.so")
    d = os.path.join(WORK, "real-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    mi_path = os.path.join(d, "mallinfo2.txt")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C",
           "LD_PRELOAD": oracle, "CPROF_MALLINFO_OUT": mi_path}
    def limits():
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=d, preexec_fn=limits)
    try:
        if script:
            p.stdin.write(script.encode())
            p.stdin.flush()
        deadline = time.time() + 120
        line = b""
        while b"ready" not in line:
            if time.time() > deadline or p.poll() is not None:
                raise Abort("%s did not get ready: %s" % (name, p.stderr.read(2000)))
            line = p.stdout.readline()
        time.sleep(0.3)   # let it block in read()
        os.kill(p.pid, signal.SIGUSR1)
        while not os.path.exists(mi_path):
            if time.time() > deadline or p.poll() is not None:
                raise Abort("%s: the mallinfo2 oracle wrote nothing" % name)
            time.sleep(0.02)
        text = open(mi_path).read()
        mi = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}
        return dump_process(p, d, name), exe, mi
    finally:
        p.kill()
        p.wait()


require_tool("readelf")
for name in PROGRAMS:
    with case(name):
        core, exe, mi = take(name)
        note("%s: mallinfo2 in the process: %s" % (name, mi))
        for tag, extra in (("debug", []), ("nodebug", ["--no-default-debug-dirs"])):
            db = os.path.join(os.path.dirname(core), "cprof-%s.db" % tag)
            rc, out, err = cprof("analyze", core, exe, "--db", db, "--json", *extra,
                                 timeout=600)
            ww = [l for l in stderr_lines(err) if "glibc heap" in l]
            check(not ww, "%s/%s: no walker warning (got %s)" % (name, tag, ww[:3]))
            con = sqlite3.connect(db)
            got = dict(con.execute(
                "SELECT name, value FROM allocator_stat WHERE source = 'mallinfo2'"))
            n = con.execute("SELECT count(*) FROM object").fetchone()[0]
            con.close()
            note("%s/%s: %d objects" % (name, tag, n))
            for k in MALLINFO:
                check_eq(got.get(k), mi[k], "%s/%s: mallinfo2.%s" % (name, tag, k))
            # The heap bytes are the walked heaps' (arenas' and mmapped chunks'),
            # never a whole mapping a heap merely overlaps.
            heaps = [m for m in _json.loads(out)["memory"] if m["category"] == "heaps"]
            check_eq(heaps[0]["mapped_bytes"] if heaps else None, mi["arena"] + mi["hblkhd"],
                     "%s/%s: the summary's heap bytes (mallinfo2 arena + hblkhd)" % (name, tag))
            if tag == "debug":
                summary = _json.loads(out)
            else:
                nodebug = _json.loads(out)
        info = cprof("info", core, exe, "--json", json=True)
        # The modules without DWARF, as the files say (readelf), executable first:
        # the summary names them; without the default debug directories, exactly
        # those whose file has no .debug_info, with them also those that have no
        # separate debug file under /usr/lib/debug/.build-id.
        used = [m for m in info["modules"] if m["path"] and m["status"] in ("ok", "unverified")
                and not m["name"].startswith(("linux-vdso", "[vdso]"))]
        exe_mod = [m for m in used if os.path.realpath(m["path"]) == exe]
        used = exe_mod + [m for m in used if m not in exe_mod]
        bare = [m for m in used if not has_debug_section(m["path"])]
        for tag, j in (("debug", summary), ("nodebug", nodebug)):
            want = [m["name"] for m in bare
                    if tag == "nodebug" or not separate_debug_file(m["build_id"])]
            check_eq(j["types"].get("no_debug_info"), want,
                     "%s/%s: the modules without debug info, as readelf says" % (name, tag))
        _, text, _ = cprof("analyze", core, exe, "--db", os.path.join(os.path.dirname(core),
                           "cprof-text.db"), "--no-default-debug-dirs", timeout=600)
        says = ("no debug info (DWARF) for the executable %s:" % exe_mod[0]["name"]) in text
        check(exe_mod and says == (exe_mod[0] in bare),
              "%s: the summary says the executable has no debug info iff readelf finds none"
              " (%s)" % (name, says))
        check_eq(sum(m["heap_bytes"] for m in info["mappings"]), mi["arena"] + mi["hblkhd"],
                 "%s: info's heap bytes of the mappings (mallinfo2 arena + hblkhd)" % name)
        check(all(m["role"] != "heap" or m["heap_bytes"] == parse_addr(m["end"]) - parse_addr(m["start"])
                  for m in info["mappings"]), "%s: info's heap mappings are heap whole" % name)
finish()
