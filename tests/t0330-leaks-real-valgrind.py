#!/usr/bin/env python3
"""t0330: leaks of real Debian programs, from a core taken at the very end of exit(),
against valgrind memcheck's leak check at exit of the same invocation.

Each program (git, perl, gawk, jq, xmllint, python3, ninja (C++), pigz with four
threads) runs twice in the same directory with the same input:
  - under `valgrind --leak-check=full --show-leak-kinds=all --run-libc-freeres=no
    --run-cxx-freeres=no --leak-check-heuristics=none`: its HEAP SUMMARY ("in use at
    exit") and LEAK SUMMARY are the oracle (libc's and libstdc++'s freeres hooks off:
    the core is taken before they would run; heuristics off: an interior pointer is
    an interior pointer, as for cprof-core's interior_only);
  - natively with corpus/exit-core.c preloaded (LD_PRELOAD=libexit-core.so,
    CPROF_EXIT_CORE=1): it aborts after every atexit handler, C++ destructor and
    _dl_fini, and the kernel writes the core.
The environments are identical: the environment valgrind gives the program (its
wrapper adds LD_LIBRARY_PATH=/usr/lib/debug and PWD; valgrind GLIBCXX_FORCE_NEW=1,
GLIBCPP_FORCE_NEW=1 and its LD_PRELOAD) is read from `valgrind /usr/bin/env` run the
same way, and the native run gets exactly those variables, in that order, with
LD_PRELOAD naming the shim padded with slashes to the same length, plus
CPROF_EXIT_CORE=1, which the shim removes before the program's code runs.  Programs
that copy their environment (perl's %ENV, gawk's ENVIRON) then allocate the same.

Required per program, from `cprof-core analyze` and `cprof-core leaks --json`:
  - used chunks (direct + indirect + reachable) == valgrind's blocks in use at exit;
  - direct == "definitely lost" and indirect == "indirectly lost" (blocks), unless
    the program has an entry in STALE: each entry names a chunk that valgrind calls
    lost and the stale word that keeps it reachable in the core; the test finds the
    chunk (its size and first bytes), checks with `path` that the word holding it
    is the one the entry says (a word past the requested size of its holder, in a
    freed chunk's old contents...) and that the difference in each class is exactly
    what the listed chunks explain;
  - interior_only and "possibly lost" are reported side by side (not required equal:
    valgrind's and cprof-core's bytes per block differ - requested against usable -
    so an interior pointer can land in one's block and not the other's).
The multi-threaded program (pigz -p 4) must leave more than one glibc arena in its
core.  valgrind's results and the cores are cached under CPROF_WORK/real-valgrind
(keyed on the invocation and the files involved), so both builds of the suite share
them.
"""
import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

VALGRIND_OPTIONS = ("--leak-check=full", "--show-leak-kinds=all", "--run-libc-freeres=no",
                    "--run-cxx-freeres=no", "--leak-check-heuristics=none",
                    "--num-callers=30")
BASE_ENV = [("PATH", "/usr/bin:/bin"), ("LC_ALL", "C")]


def make_git(d):
    """A repository of 3 commits with fixed names and dates; then one `git status`
    (it refreshes the index: without it the first measured run writes it)."""
    env = dict(BASE_ENV + [("HOME", d), ("GIT_CONFIG_NOSYSTEM", "1"),
                           ("GIT_AUTHOR_NAME", "A"), ("GIT_AUTHOR_EMAIL", "a@example.org"),
                           ("GIT_COMMITTER_NAME", "A"),
                           ("GIT_COMMITTER_EMAIL", "a@example.org")])
    def git(*args, date=None):
        e = dict(env)
        if date:
            e["GIT_AUTHOR_DATE"] = e["GIT_COMMITTER_DATE"] = date
        subprocess.run(["/usr/bin/git"] + list(args), cwd=d, env=e, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    git("init", "-q", "-b", "main")
    for i in range(3):
        for j in range(20):
            with open(os.path.join(d, "f%02d.txt" % j), "a") as f:
                f.write("line %d of file %d\n" % (i, j))
        git("add", "-A")
        git("commit", "-q", "-m", "commit %d" % i, date="2024-01-0%d 12:00:00 +0000" % (i + 1))
    git("status")


def make_xml(d):
    with open(os.path.join(d, "doc.xml"), "w") as f:
        f.write('<?xml version="1.0"?>\n<!DOCTYPE doc [<!ELEMENT doc (item*)>'
                '<!ELEMENT item (#PCDATA)><!ATTLIST item id ID #REQUIRED kind CDATA #IMPLIED>]>\n'
                '<doc>\n')
        for i in range(2000):
            f.write('<item id="i%d" kind="k%d">text %d &amp; more</item>\n' % (i, i % 7, i))
        f.write('</doc>\n')


def make_json(d):
    with open(os.path.join(d, "in.json"), "w") as f:
        json.dump({"a": list(range(500)), "b": {"k%d" % i: "v%d" % i for i in range(200)}}, f)


def make_ninja(d):
    with open(os.path.join(d, "build.ninja"), "w") as f:
        f.write("rule cc\n  command = touch $out\n  description = CC $out\n\n")
        for i in range(300):
            f.write("build obj/f%d.o: cc src/f%d.c\n" % (i, i))
        f.write("build all: phony %s\ndefault all\n" % " ".join("obj/f%d.o" % i for i in range(300)))
    os.makedirs(os.path.join(d, "src"))
    for i in range(300):
        open(os.path.join(d, "src", "f%d.c" % i), "w").close()


def make_text(d):
    words = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
    with open(os.path.join(d, "data.txt"), "w") as f:
        for i in range(60000):
            f.write("%s %s %s %d\n" % (words[i % 8], words[(i * 7) % 8], words[(i * 3) % 5], i))


# name: (argv, extra environment, set-up of the run directory)
PROGRAMS = {
    "git": (["/usr/bin/git", "--no-pager", "log", "--stat", "-n", "3"],
            [("GIT_PAGER", "cat"), ("GIT_CONFIG_NOSYSTEM", "1")], make_git),
    "perl": (["/usr/bin/perl", "-e",
              'my %h; $h{"k$_"} = [$_, "v" x ($_ % 50)] for 1 .. 5000; '
              'print scalar(keys %h), "\\n"'],
             [("PERL_HASH_SEED", "0"), ("PERL_PERTURB_KEYS", "0")], None),
    "gawk": (["/usr/bin/gawk", 'BEGIN { for (i = 0; i < 5000; i++) a["k" i] = i * 2; '
              'n = 0; for (k in a) n++; print n }'], [], None),
    "jq": (["/usr/bin/jq", "-c", "[.a[] | . * 2] | length, (.b | keys | length)", "in.json"],
           [], make_json),
    "xmllint": (["/usr/bin/xmllint", "--xpath", 'count(//item[@kind="k3"])', "doc.xml"],
                [], make_xml),
    "python3": (["/usr/bin/python3", "-c",
                 'import json; d = {str(i): [i] * 3 for i in range(5000)}; '
                 'print(len(json.dumps(d)))'], [("PYTHONHASHSEED", "0")], None),
    "ninja": (["/usr/bin/ninja", "-n"], [], make_ninja),
    "pigz": (["/usr/bin/pigz", "-p", "4", "-b", "128", "-c", "data.txt"], [], make_text),
}
MULTI_ARENA = {"pigz"}

# Differences explained by a stale word (see the docstring); none so far.
STALE = {}


def stamp(path):
    st = os.stat(path)
    return [st.st_mtime_ns, st.st_size]


def preexec(core):
    def setup():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2 if core
                           else (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return setup


def valgrind_env(vg, run, env):
    """The environment valgrind gives a program run with ENV in RUN, in its order."""
    r = subprocess.run([vg, "-q", "--tool=none", "/usr/bin/env", "-0"], cwd=run, env=dict(env),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise Abort("valgrind /usr/bin/env failed: %s" % r.stderr.decode()[-2000:])
    out = []
    for item in r.stdout.decode().split("\0"):
        if item:
            k, _, v = item.partition("=")
            out.append((k, v))
    return out


def run_pair(name, d):
    """Run program NAME under valgrind and with the exit-core shim in D/run.
    Returns the result dict (cached in D/result.json)."""
    argv, extra, setup = PROGRAMS[name]
    vg = require_tool("valgrind")
    shim = os.path.join(corpus_dir(), "libexit-core.so")
    exe = os.path.realpath(argv[0])
    spec = hashlib.sha1(repr((argv, extra, VALGRIND_OPTIONS)).encode()).hexdigest()[:16]
    try:
        with open(os.path.join(d, "result.json")) as f:
            res = json.load(f)
        if res["spec"] == spec and all(os.path.exists(p) and stamp(p) == s
                                       for p, s in res["deps"].items()):
            res["cached"] = True
            return res
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(d, ignore_errors=True)
    run = os.path.join(d, "run")
    os.makedirs(run)
    if setup:
        setup(run)
    env = BASE_ENV + [("HOME", run)] + list(extra)
    venv = valgrind_env(vg, run, env)
    # 1. valgrind
    t0 = time.monotonic()
    log = os.path.join(d, "valgrind.log")
    with open(os.path.join(d, "valgrind.out"), "w") as out:
        r = subprocess.run([vg] + list(VALGRIND_OPTIONS) + ["--log-file=" + log] + argv,
                           cwd=run, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, preexec_fn=preexec(False), timeout=600)
    vg_seconds = time.monotonic() - t0
    with open(log) as f:
        figures = valgrind_log_figures(f.read())
    if figures["in_use"] is None:
        raise Abort("%s: valgrind's log has no HEAP SUMMARY (status %d)" % (name, r.returncode))
    # 2. the core
    vpre = dict(venv).get("LD_PRELOAD", "")
    if len(shim) > len(vpre):
        raise Abort("the shim's path %s is longer than valgrind's LD_PRELOAD (%d characters): "
                    "use a shorter CPROF_WORK" % (shim, len(vpre)))
    nenv = [(k, "/" * (len(vpre) - len(shim)) + shim if k == "LD_PRELOAD" else v)
            for k, v in venv] + [("CPROF_EXIT_CORE", "1")]
    for f in os.listdir(run):
        if f.startswith("core"):
            os.unlink(os.path.join(run, f))
    t0 = time.monotonic()
    with open(os.path.join(d, "native.out"), "w") as out:
        p = subprocess.run(argv, cwd=run, env=dict(nenv), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, preexec_fn=preexec(True), timeout=600)
    core_seconds = time.monotonic() - t0
    if p.returncode != -signal.SIGABRT or not os.path.exists(os.path.join(run, "core")):
        raise Abort("%s with the exit-core shim: status %d, no core in %s:\n%s"
                    % (name, p.returncode, run,
                       open(os.path.join(d, "native.out"), errors="replace").read()[-2000:]))
    core = os.path.join(d, "core")
    os.rename(os.path.join(run, "core"), core)
    deps = {p: stamp(p) for p in [exe, shim, vg] + [f[3] for f in Elf(core).core_files()]
            if os.path.isfile(p)}
    res = dict(spec=spec, exe=exe, core=core, valgrind=figures, deps=deps,
               vg_seconds=round(vg_seconds, 2), core_seconds=round(core_seconds, 2),
               env=nenv)
    with open(os.path.join(d, "result.json.tmp"), "w") as f:
        json.dump(res, f, indent=1)
    os.replace(os.path.join(d, "result.json.tmp"), os.path.join(d, "result.json"))
    res["cached"] = False
    return res


def cn(x):
    return (x["count"], x["bytes"])


T_START = time.monotonic()
rows = []
for name in PROGRAMS:
    with case(name):
        require_tool(os.path.basename(PROGRAMS[name][0][0]))
        d = os.path.join(WORK, "real-valgrind", name)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        with open(d + ".lock", "a") as lk:
            import fcntl
            fcntl.flock(lk.fileno(), fcntl.LOCK_EX)
            res = run_pair(name, d)
        if not res["cached"]:
            note("ran %s: valgrind %.1f s, native to the core %.1f s"
                 % (name, res["vg_seconds"], res["core_seconds"]))
        db = os.path.join(d, "cprof-%d.db" % os.getpid())
        rc, out, err = cprof("analyze", res["core"], res["exe"], "--db", db, timeout=600)
        ww = [l for l in stderr_lines(err) if "warning" in l]
        check(not ww, "%s: no warning from analyze (got %s)" % (name, ww[:3]))
        lk = cprof("leaks", "--db", db, "--json", json=True)
        s = lk["summary"]
        vgf = {k: tuple(v) if v else v for k, v in res["valgrind"].items()}
        used = s["direct"]["count"] + s["indirect"]["count"] + s["reachable"]["count"]
        used_bytes = s["direct"]["bytes"] + s["indirect"]["bytes"] + s["reachable"]["bytes"]
        row = (name, (used, used_bytes), vgf["in_use"][::-1], cn(s["direct"]),
               vgf["definitely"][::-1], cn(s["indirect"]), vgf["indirectly"][::-1],
               cn(s["interior_only"]), vgf["possibly"][::-1])
        rows.append(row)
        note("%s: used %s valgrind %s; direct %s definitely %s; indirect %s indirectly %s; "
             "interior_only %s possibly %s" % ((name,) + tuple("%d/%d" % x for x in row[1:])))
        check_eq(used, vgf["in_use"][1], "%s: used chunks == valgrind's blocks in use at exit"
                 % name)
        check(used_bytes >= vgf["in_use"][0], "%s: used bytes (usable sizes) %d >= valgrind's "
              "requested bytes %d" % (name, used_bytes, vgf["in_use"][0]))
        exc = STALE.get(name, [])
        check_eq(s["direct"]["count"], vgf["definitely"][1],
                 "%s: direct == valgrind's definitely lost blocks" % name)
        check_eq(s["indirect"]["count"], vgf["indirectly"][1],
                 "%s: indirect == valgrind's indirectly lost blocks" % name)
        if name in MULTI_ARENA:
            info = cprof("info", res["core"], res["exe"], "--json", json=True)
            arenas = [a["kind"] for al in info.get("allocators", []) if al["name"] == "glibc"
                      for a in al["arenas"]]
            note("%s: %d glibc arenas (%s)" % (name, len(arenas), ", ".join(arenas)))
            check(len(arenas) > 1, "%s: the core has more than one glibc arena (%d)"
                  % (name, len(arenas)))
        os.unlink(db)

note("%-8s %16s %16s %14s %14s %14s %14s %14s %14s" % (
    "program", "used", "vg in use", "direct", "vg definitely", "indirect",
    "vg indirectly", "interior_only", "vg possibly"))
for r in rows:
    note("%-8s %16s %16s %14s %14s %14s %14s %14s %14s" % (
        (r[0],) + tuple("%d/%d" % x for x in r[1:])))
note("t0330 took %.1f s" % (time.monotonic() - T_START))
finish()
