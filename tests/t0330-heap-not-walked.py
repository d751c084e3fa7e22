#!/usr/bin/env python3
"""t0330: which allocator serves malloc, and never "0 leaks" for a heap that was
not walked (corpus/allocator.c).

allocator records, before it allocates, the file the dynamic linker bound its
malloc to (dladdr of its own &malloc) and what the allocator says it is (jemalloc's
mallctl("version"), gperftools' tc_version(), glibc's gnu_get_libc_version()), then
keeps 200 blocks in a global array and drops 50. It runs six times: as it is
(glibc), with LD_PRELOAD=libjemalloc.so.2, with LD_PRELOAD=libtcmalloc_minimal.so.4,
built with jemalloc linked in (allocator-jemalloc-static: malloc is the
executable's own), with LD_PRELOAD=libtcmalloc_debug.so.4 (gperftools' debug
allocator: blocks behind MallocBlock headers, freed ones queued - not walked) and
with LD_PRELOAD=libmimalloc.so.2 (an allocator cprof-core does not know: named
"unknown" by the library malloc resolves to, never taken for an empty heap).
From each core:
  - `info` (text and JSON) names the allocator serving malloc, its version and its
    module, as the process said; glibc's malloc in the preloaded runs is named as
    never initialized, not as missing;
  - an allocator whose heap cprof-core does not walk (tcmalloc's debug allocator,
    mimalloc, and the jemalloc core analyzed with a --sysroot without
    libjemalloc.so.2, whose hidden extent map cannot be found without the
    library's file): the summary,
    `leaks`, `top`, `roots` and `histogram` each say in one line that malloc's heap
    was not analyzed, and their JSON carries the allocator with "walked": false and
    the reason (roots and histogram, whose JSON is an array: a warning on stderr);
    exit status 0; cprof.db's allocator table says so; with no heap walked at all,
    no leak figures and no "where the memory is" follow (zeros that answer
    nothing);
  - glibc, jemalloc (preloaded and linked in) and tcmalloc (preloaded): no such
    line anywhere, every dropped block is a leak root and every kept one reachable
    (by construction), malloc's allocator is walked.
Debian's redis-server (jemalloc) is t0350's.
And a core cut short before any heap's metadata: every report says that no heap was
walked (leaks --json and top --json: heap_walked false), never a plain "0 leaks".
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F403

# How each run gets its allocator: (the program, LD_PRELOAD).
RUNS = {
    "glibc": ("allocator", None),
    "jemalloc": ("allocator", "libjemalloc.so.2"),
    "tcmalloc": ("allocator", "libtcmalloc_minimal.so.4"),
    # jemalloc linked into the executable: malloc is the executable's own
    "jemalloc-static": ("allocator-jemalloc-static", None),
    "tcmalloc-debug": ("allocator", "libtcmalloc_debug.so.4"),
    "unknown-mimalloc": ("allocator", "libmimalloc.so.2"),
}
LINE = "its heap is not analyzed: no leak or retention figures"
# The runs whose malloc's heap cprof-core walks.
WALKED = ("glibc", "jemalloc", "tcmalloc", "jemalloc-static")


def lib_present(name):
    """Whether the dynamic linker can find shared library NAME."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    return any(l.strip().startswith(name + " ") for l in out.splitlines())


def expected_version(name, said):
    """Our version string for what the allocator said of itself."""
    if name == "jemalloc":        # "5.3.0-0-g54eaed1d..."
        return said.split("-")[0]
    if name == "tcmalloc":        # "gperftools 2.10"
        return said.split()[-1]
    if name == "unknown":         # the program knows no more either
        return ""
    return said                    # glibc: "2.36"


def not_analyzed_lines(text):
    return [l for l in text.splitlines() if LINE in l]


def sysroot_without(c, prefix):
    """A sysroot (in C's directory) with every file C's core names (hard links, else
    copies) but those whose name starts with PREFIX."""
    root = os.path.join(c.dir, "t0330-sysroot-without-" + prefix)
    shutil.rmtree(root, ignore_errors=True)
    for _, _, _, path in Elf(c.core).core_files():
        dst = root + path
        if (os.path.basename(path).startswith(prefix) or not path.startswith("/") or
                not os.path.isfile(path) or os.path.exists(dst)):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            os.link(path, dst)
        except OSError:
            shutil.copy2(path, dst)
    return root


def title(name, version, module):
    return "%s%s (%s)" % (name, " " + version if version else "", module)


def check_unwalked(tag, db, c, name, version, module, extra=()):
    want = "malloc is %s; %s" % (title(name, version, module), LINE)
    # analyze: the summary
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, *extra, expect_rc=0)
    check_eq(not_analyzed_lines(out), [want], "%s: the summary says malloc's heap was not analyzed" % tag)
    lines = out.splitlines()
    leaked = [i for i, l in enumerate(lines) if l.startswith("leaked ")]
    j = cprof("analyze", c.core, c.exe, "--db", db, "--json", *extra, json=True)
    if any(a["walked"] for a in j["allocators"]):
        check(leaked and lines[leaked[0] - 1] == want,
              "%s: the line comes right before the leak figures" % tag)
    else:
        check(not leaked and not any(l.startswith("reachable ") for l in lines) and
              "where the memory is" not in out,
              "%s: no heap walked: no leak figures follow the line (zeros answer nothing)" % tag)
        rc, out, err = cprof("leaks", "--db", db, expect_rc=0)
        check(not any(l.startswith(("leaked ", "reachable ")) for l in out.splitlines()),
              "%s: `leaks` prints no zero figures" % tag)
    ours = [a for a in j["allocators"] if a["name"] == name]
    check(len(ours) == 1 and ours[0]["walked"] is False and ours[0]["serves_malloc"] is True
          and ours[0]["reason"], "%s: analyze --json: %s not walked, serving malloc, with a reason: %s"
          % (tag, name, ours))
    # the commands that read cprof.db
    for cmd in ("leaks", "top", "roots", "histogram"):
        rc, out, err = cprof(cmd, "--db", db, expect_rc=0)
        check_eq(not_analyzed_lines(out), [want], "%s: `%s` says it" % (tag, cmd))
        rc, out, err = cprof(cmd, "--db", db, "--json", expect_rc=0)
        j = json.loads(out)
        if isinstance(j, dict):
            al = [a for a in j.get("allocators", []) if a["name"] == name]
            check(len(al) == 1 and al[0]["walked"] is False and al[0]["heap"] == "not_walked"
                  and al[0]["reason"] and al[0]["serves_malloc"] is True,
                  "%s: `%s --json` carries %s with walked false and the reason: %s"
                  % (tag, cmd, name, al))
        else:
            check(any(LINE in l and "warning" in l for l in err.splitlines()),
                  "%s: `%s --json` (an array) warns on stderr: %s" % (tag, cmd, err[:300]))
    con = sqlite3.connect(db)
    rows = con.execute("SELECT name, version, module, serves_malloc, heap, reason"
                       " FROM allocator ORDER BY id").fetchall()
    # (no version is NULL: the allocator said none)
    check([r for r in rows if r[0] == name and r[1:5] == (version or None, module, 1, "not_walked")
           and r[5]],
          "%s: cprof.db's allocator table: %s" % (tag, rows))
    # Nothing of that heap is in the object table: no figure pretends to cover it.
    leaked = {parse_addr(b["addr"]) for b in c.manifest["leaked"]}
    got = {a for (a,) in con.execute("SELECT addr FROM object")}
    check_eq(len(leaked & got), 0, "%s: none of the %d dropped blocks is an object" % (tag, len(leaked)))


def check_walked(tag, db, c, name):
    """NAME's heap is walked: no "not analyzed" line, every dropped block is a
    leak root and every kept one reachable (by construction)."""
    rc, out, err = cprof("analyze", c.core, c.exe, "--db", db, expect_rc=0)
    check_eq(not_analyzed_lines(out), [], "%s: no 'not analyzed' line" % tag)
    for cmd in ("leaks", "top", "roots", "histogram"):
        rc, out, err = cprof(cmd, "--db", db, expect_rc=0)
        check_eq(not_analyzed_lines(out + err), [], "%s: `%s` has no 'not analyzed' line" % (tag, cmd))
    con = sqlite3.connect(db)
    leak = dict(con.execute("SELECT addr, coalesce(leak, CASE reachable WHEN 1 THEN 'reachable' END)"
                            " FROM object WHERE state = 'used'"))
    dropped = [parse_addr(b["addr"]) for b in c.manifest["leaked"]]
    kept = [parse_addr(b["addr"]) for b in c.manifest["held"]]
    check_eq([a for a in dropped if leak.get(a) != "direct"], [],
             "%s: every dropped block is a leak root" % tag)
    check_eq([a for a in kept if leak.get(a) != "reachable"], [],
             "%s: every kept block is reachable" % tag)
    check_eq(con.execute("SELECT name, serves_malloc, heap FROM allocator WHERE name = ?",
                         (name,)).fetchall(),
             [(name, 1, "walked")], "%s: %s serves malloc and is walked" % (tag, name))


exes = {}
for run, (prog, lib) in RUNS.items():
    if lib and not lib_present(lib):
        skip("%s not installed (scripts/install-deps --tests installs it)" % lib)
    exes[run] = require_corpus_program(prog)
    PROGRAM_ENV["allocator-" + run] = {"LD_PRELOAD": lib} if lib else {}

for dumper in available_dumpers():
    for run, (prog, lib) in RUNS.items():
        tag = "%s/%s" % (run, dumper)
        name = run.split("-")[0]
        walked = run in WALKED
        with case(tag):
            c = corpus_core("allocator-" + run, dumper=dumper, exe=exes[run])
            m = c.manifest
            check_eq(m["allocator"]["name"], name, "the process's malloc is %s" % name)
            version = expected_version(name, m["allocator"]["version"])
            module = os.path.basename(m["malloc_module"])
            info = cprof("info", c.core, c.exe, "--json", json=True)
            serving = [a for a in info["allocators"] if a["serves_malloc"]]
            check_eq([(a["name"], a["version"], a["module"]) for a in serving],
                     [(name, version, module)],
                     "info --json: malloc is the process's own allocator, version and module")
            _, text, _ = cprof("info", c.core, c.exe)
            check("  malloc is %s: " % title(name, version, module) in text,
                  "info names malloc's allocator: %s" %
                  [l for l in text.splitlines() if "malloc is" in l])
            glibc = [a for a in info["allocators"] if a["name"] == "glibc"]
            if name != "glibc":
                check(len(glibc) == 1 and glibc[0]["heap"] == "unused" and
                      "never initialized" in glibc[0]["reason"],
                      "info --json: glibc's malloc was never initialized: %s" % glibc)
                check("glibc %s (libc.so.6): no heap: malloc was never initialized" % glibc[0]["version"]
                      in text, "info says glibc's malloc was never initialized")
                # Without libc's debug info main_arena is found by disassembly:
                # still "never initialized", never "not found".
                nodbg = cprof("info", c.core, c.exe, "--json", "--no-default-debug-dirs", json=True)
                g2 = [a for a in nodbg["allocators"] if a["name"] == "glibc"]
                check(len(g2) == 1 and g2[0]["heap"] == "unused",
                      "without libc's debug info, glibc is still 'unused': %s" % g2)
            db = os.path.join(c.dir, "t0330.db")
            if walked:
                check_walked(tag, db, c, name)
            else:
                check_unwalked(tag, db, c, name, version, module)
            if run == "jemalloc":
                # The same core where libjemalloc.so.2 is not to be had (a core
                # from another machine: a --sysroot, which confines every path
                # the core names, holding every file but that one): the
                # allocator is still named, by its library's file name (its
                # version, read from the file, is unknown), but its hidden
                # extent map cannot be found, so its heap is not walked - and
                # every report says so.
                sysroot = sysroot_without(c, "libjemalloc.so")
                check_unwalked(tag + " without its library", db, c, name, "unknown", module,
                               extra=("--sysroot", sysroot))


with case("a core cut short before any heap"):
    # The core of the plain glibc run, cut at 300 KB: no allocator's metadata
    # is in it. Zero leaks would be no answer: every report says no heap was
    # walked, and the JSON says so too.
    c = corpus_core("allocator-glibc", exe=exes["glibc"])
    cut = os.path.join(c.dir, "t0330-cut.core")
    with open(c.core, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(300000))
    db = os.path.join(c.dir, "t0330-cut.db")
    none = "no allocator's heap was found and walked: no leak or retention figures"
    rc, out, err = cprof("analyze", cut, c.exe, "--db", db)
    check(none in out.splitlines(), "analyze says no heap was walked:\n%s" % out[-1500:])
    for cmd in ("leaks", "top"):
        rc, out, err = cprof(cmd, "--db", db)
        check(none in out.splitlines(), "`%s` says no heap was walked" % cmd)
        j = cprof(cmd, "--db", db, "--json", json=True)
        check_eq(j.get("heap_walked"), False, "`%s --json`: heap_walked is false" % cmd)
    j = cprof("leaks", "--db", os.path.join(c.dir, "t0330.db"), "--json", json=True)
    check_eq(j.get("heap_walked"), True, "a walked core's leaks --json: heap_walked is true")

finish()
