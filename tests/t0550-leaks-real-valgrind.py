#!/usr/bin/env python3
"""t0550: leaks of real Debian programs, from a core taken at the very end of exit(),
against valgrind memcheck's leak check at exit of the same invocation.

18 invocations of git, perl, gawk, jq, xmllint, python3, ninja (C++), cmake (C++),
sqlite3 and pigz (four threads; its core has six glibc arenas) each run twice in the
same directory with the same input:
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
  - direct == "definitely lost", indirect == "indirectly lost" and interior_only ==
    "possibly lost" (blocks), except for the blocks an entry of STALE explains: each
    names a block whose class differs and the stale word behind it (a word in the
    slack of a chunk past its requested size, a pointer landing past a block's
    requested size, or a word of valgrind's own run where no word of the core points);
    the test finds the block, checks the word on the core (its holder's bytes, its
    value, `path`'s marks) and requires the differences of each class to be exactly
    what the explained blocks make;
  - where valgrind's log gives a block's size alone (a loss record of one block),
    a chunk of a matching usable size is in the same class.
The multi-threaded program (pigz -p 4) must leave more than one glibc arena in its
core.  The programs run in /tmp/cprof-real-valgrind/NAME/run (a fixed path: see
REAL_DIR), where valgrind's results and the cores are kept, keyed on the invocation
and the files involved, so both builds of the suite (and every checkout) share
them (the first run of all 18 takes 30-110 s; cached, the test takes 6-8 s).
Differences not explained yet would go in KNOWN_UNEXPLAINED (reported as known
failures, not failed): none today.
"""
import collections
import ctypes
import fcntl
import hashlib
import inspect
import json
import re
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
# Where the programs run and their results are kept. Not under CPROF_WORK: the
# run directory's path is in the programs' environment (PWD, HOME) and memory
# (getcwd), so its length shapes their heaps, and with them which stale words
# there are; a fixed path gives every checkout and machine the same heaps.
REAL_DIR = "/tmp/cprof-real-valgrind"


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
            path = os.path.join(d, "f%02d.txt" % j)
            with open(path, "a") as f:
                f.write("line %d of file %d\n" % (i, j))
            # Older than the index: no entry is "racily clean", so no run
            # rewrites the index (33 more blocks in the run that would).
            os.utime(path, (1700000000 + i, 1700000000 + i))
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


def make_cmake(d):
    with open(os.path.join(d, "s.cmake"), "w") as f:
        f.write('foreach(i RANGE 1 500)\n  string(APPEND acc "item${i};")\n'
                '  list(APPEND lst "v${i}")\nendforeach()\nlist(LENGTH lst n)\nmessage("${n}")\n')


def make_sql(d):
    with open(os.path.join(d, "s.sql"), "w") as f:
        f.write("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);\n"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                " INSERT INTO t SELECT i, printf('row %d', i) FROM n;\n"
                "CREATE INDEX tb ON t(b);\nSELECT count(*) FROM t;\n")


GIT_ENV = [("GIT_PAGER", "cat"), ("GIT_CONFIG_NOSYSTEM", "1")]
PERL_ENV = [("PERL_HASH_SEED", "0"), ("PERL_PERTURB_KEYS", "0")]
PY_ENV = [("PYTHONHASHSEED", "0")]

# name: (argv, extra environment, set-up of the run directory)
PROGRAMS = {
    "git": (["/usr/bin/git", "--no-pager", "log", "--stat", "-n", "3"], GIT_ENV, make_git),
    "git-status": (["/usr/bin/git", "--no-pager", "status"], GIT_ENV, make_git),
    "git-diff": (["/usr/bin/git", "--no-pager", "diff", "HEAD~2"], GIT_ENV, make_git),
    "git-blame": (["/usr/bin/git", "--no-pager", "blame", "f03.txt"], GIT_ENV, make_git),
    "perl": (["/usr/bin/perl", "-e",
              'my %h; $h{"k$_"} = [$_, "v" x ($_ % 50)] for 1 .. 5000; '
              'print scalar(keys %h), "\\n"'], PERL_ENV, None),
    "perl-dumper": (["/usr/bin/perl", "-MData::Dumper", "-e",
                     'my @a = map { { id => $_, l => [1..3] } } 1..2000; '
                     'local $Data::Dumper::Indent = 0; my $s = Dumper(\\@a); '
                     'print length($s), "\\n"'], PERL_ENV, None),
    "gawk": (["/usr/bin/gawk", 'BEGIN { for (i = 0; i < 5000; i++) a["k" i] = i * 2; '
              'n = 0; for (k in a) n++; print n }'], [], None),
    "gawk-split": (["/usr/bin/gawk", 'BEGIN { for (i = 0; i < 3000; i++) '
                    '{ s = sprintf("%05d", i); b[s] = substr(s, 2) } '
                    'split("a b c d", q); delete b; print length(q) }'], [], None),
    "jq": (["/usr/bin/jq", "-c", "[.a[] | . * 2] | length, (.b | keys | length)", "in.json"],
           [], make_json),
    "xmllint": (["/usr/bin/xmllint", "--xpath", 'count(//item[@kind="k3"])', "doc.xml"],
                [], make_xml),
    "xmllint-valid": (["/usr/bin/xmllint", "--noout", "--valid", "doc.xml"], [], make_xml),
    "python3": (["/usr/bin/python3", "-c",
                 'import json; d = {str(i): [i] * 3 for i in range(5000)}; '
                 'print(len(json.dumps(d)))'], PY_ENV, None),
    "python3-sqlite": (["/usr/bin/python3", "-c",
                        "import sqlite3; c = sqlite3.connect(':memory:'); "
                        "c.execute('create table t(a)'); "
                        "c.executemany('insert into t values (?)', [(i,) for i in range(3000)]); "
                        "print(c.execute('select count(*) from t').fetchone())"], PY_ENV, None),
    "python3-email": (["/usr/bin/python3", "-c",
                       "import email.parser, http.client, argparse, collections; print(1)"],
                      PY_ENV, None),
    "ninja": (["/usr/bin/ninja", "-n"], [], make_ninja),
    "cmake": (["/usr/bin/cmake", "-P", "s.cmake"], [], make_cmake),
    "sqlite3": (["/usr/bin/sqlite3", ":memory:", ".read s.sql"], [], make_sql),
    "pigz": (["/usr/bin/pigz", "-p", "4", "-b", "128", "-c", "data.txt"], [], make_text),
}
MULTI_ARENA = {"pigz"}

# Differences explained by a stale word, found by the method of shared research:
# valgrind's gdbserver (--vgdb=yes --vgdb-error=0; at _exit: `monitor leak_check
# full`, `monitor block_list N`, `monitor who_points_at ADDR LEN`) names the block
# and what holds it in valgrind's run; `cprof-core path ADDR --all N` and `show`
# on the core name the word that holds it there.  Each entry is checked on the
# core and cprof.db; a block it explains moves from valgrind's class ("valgrind")
# to cprof-core's ("cprof").  Kinds:
#   slack       valgrind calls a block of usable size "size" lost; in the core it
#               is reachable only through one word, at offset "at" of a chunk of
#               usable size "holder_size" whose bytes begin with the C string
#               "holder_text" (NUL included): the program wrote no further (a
#               string's request is its length + 1), so the word lies (in part)
#               past the requested size, in the chunk's slack, where valgrind does
#               not look; its value is what an earlier use of the memory left.
#               "holds": how many blocks, reachable only through it, valgrind
#               calls indirectly lost with it.
#   past-request valgrind calls a block (requested "request" bytes, usable "size")
#               indirectly lost; in the core every pointer from a reachable object
#               lands at or past its requested size - in the chunk's slack, where
#               valgrind's block has ended (its redzone follows).
#   no-word     valgrind calls a block possibly lost through a word of its own run;
#               in the core no word (memory outside free chunks, registers, vector
#               registers) points into it, so it is a leak root.
STALE = {
    # git diff: the 2048-byte block from xmalloc (valgrind: "2,055 (2,048 direct, 7
    # indirect) bytes in 1 blocks are definitely lost", holding a 7-byte strdup) is
    # pointed to, 2048 bytes in (past its own request), by the word at +0x10 of a
    # 24-byte chunk holding ".git\0packed-refs\0" (17 bytes requested): the
    # program's NUL is the word's low byte, the other seven are an old pointer's.
    "git-diff": [dict(kind="slack", valgrind="definitely", size=2056, holds=1,
                      holder_size=24, at=0x10, holder_text=b".git\0packed-refs\0")],
    "perl-dumper": [
        # A 272-byte calloc from Perl_gv_fetchpvn_flags (all zeros; valgrind: "272
        # bytes in 1 blocks are definitely lost") is pointed to, 32 bytes in, by the
        # word at +0x30 of a 56-byte chunk holding the 44-byte path of Carp.pm.
        dict(kind="slack", valgrind="definitely", size=280, holds=0, holder_size=56,
             at=0x30, holder_text=b"/usr/lib/x86_64-linux-gnu/perl-base/Carp.pm\0"),
        # In some runs (the layout depends on the run): a 1088-byte calloc from
        # Perl_gv_fetchpvn_flags ("1,088 bytes in 1 blocks are definitely lost") is
        # pointed to, 0x5c bytes in, by the word at +0x10 of a 24-byte chunk
        # holding "verbose" (8 bytes requested): an old pointer in its slack.
        dict(kind="slack", valgrind="definitely", size=1096, holds=0, holder_size=24,
             at=0x10, holder_text=b"verbose\0"),
        # One of the three 256-byte blocks a lost 656-byte block holds (valgrind:
        # "indirectly lost"; who_points_at: only the 656-byte block) is entered in
        # the core at +256 by the word at +0x10 of a perl body arena: perl points
        # 16 bytes before a body whose first fields it does not allocate, and the
        # arena's chunk follows this one, so that pointer lands in this chunk's
        # last usable bytes (glibc lends a chunk the next one's prev_size field).
        dict(kind="past-request", valgrind="indirectly", size=264, request=256),
        # perl's 32016-byte temporaries stack (Perl_tmps_grow_p; valgrind: possibly
        # lost, through "*0x4f49a60 interior points at 11996 bytes inside": a word
        # of a 16424-byte block in valgrind's run, whose low heap addresses
        # ordinary integers land in) has no word pointing into it in the core but
        # one in a free chunk (a freed copy of its address).
        dict(kind="no-word", valgrind="possibly", size=32024),
    ],
}

# Differences not explained yet: the checks that fail for them are listed here,
# reported as known failures rather than failing the test.  None today.
KNOWN_UNEXPLAINED = {}


def stamp(path):
    st = os.stat(path)
    return [st.st_mtime_ns, st.st_size]


def preexec(core):
    libc = ctypes.CDLL(None, use_errno=True)

    def setup():
        # The same addresses on every run (failures reproduce); valgrind lays
        # out memory its own way whatever this says.
        cur = libc.personality(0xffffffff)
        if cur != -1:
            libc.personality(cur | 0x0040000)  # ADDR_NO_RANDOMIZE
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
    shim = os.path.join(REAL_DIR, "libexit-core.so")
    exe = os.path.realpath(argv[0])
    spec = hashlib.sha1(repr((argv, extra, VALGRIND_OPTIONS,
                              inspect.getsource(setup) if setup else None)).encode()).hexdigest()[:16]
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


LOSS_RECORD = re.compile(r"^==\d+== ([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?"
                         r"bytes in ([\d,]+) blocks are (definitely lost|indirectly lost|"
                         r"possibly lost|still reachable) in loss record")
VG_CLASS = {"definitely lost": "definitely", "indirectly lost": "indirectly",
            "possibly lost": "possibly", "still reachable": "reachable"}


def usable(request):
    """The usable sizes glibc malloc gives a request: from the heap, and (for 128 KiB
    and more) mmapped."""
    out = {max(32, (request + 8 + 15) & ~15) - 8}
    if request >= 128 << 10:
        out.add(((request + 16 + 4095) & ~4095) - 16)
    return out


def single_blocks(log):
    """{valgrind class: [requested size of each loss record of exactly one block]}:
    the blocks whose size valgrind's log gives one by one."""
    out = collections.defaultdict(list)
    for line in log.splitlines():
        m = LOSS_RECORD.match(line)
        if m and m.group(3) == "1":
            out[VG_CLASS[m.group(4)]].append(int((m.group(2) or m.group(1)).replace(",", "")))
    return out


def missing_sizes(requests, sizes):
    """Requests (of valgrind's single blocks) for which no chunk of a matching usable
    size is left in SIZES (a Counter, consumed)."""
    missing = []
    for r in sorted(requests, reverse=True):
        u = next((x for x in sorted(usable(r)) if sizes[x] > 0), None)
        if u is None:
            missing.append(r)
        else:
            sizes[u] -= 1
    return missing


def explain_slack(name, con, core, db, e):
    """A STALE entry of kind slack: [lost block id, ids of the blocks it holds]."""
    q = lambda sql, *a: con.execute(sql, a).fetchall()
    found = []
    for oid, addr in q("SELECT id, addr FROM object WHERE state = 'used' AND reachable = 1 "
                       "AND interior_only = 1 AND size = ?", e["size"]):
        ins = q("SELECT src, src_offset, dst_offset FROM ref WHERE dst = ?", oid)
        if q("SELECT count(*) FROM root_ref WHERE dst = ?", oid)[0][0] or len(ins) != 1:
            continue
        src, so, do = ins[0]
        hsize, haddr = q("SELECT size, addr FROM object WHERE id = ?", src)[0]
        if hsize != e["holder_size"] or so != e["at"] or not do:
            continue
        data, _ = reference_read(Elf(core), haddr, hsize)
        if data and data.startswith(e["holder_text"]):
            found.append((oid, addr, haddr, so, do, data))
    what = ("%s: a %d-byte chunk reached only through +%#x of a %d-byte chunk starting %r"
            % (name, e["size"], e["at"], e["holder_size"], e["holder_text"]))
    if not found:
        # Stale words depend on the layout: without this one, the figures must be
        # equal (the checks that follow say so).
        note("not in this core: %s" % what)
        return []
    if not check_eq(len(found), 1, what):
        return []
    oid, addr, haddr, so, do, data = found[0]
    end = len(e["holder_text"])     # the requested size: the string and its NUL
    word = int.from_bytes(data[so:so + 8], "little")
    check(so + 8 > end, "%s: the word at +%#x of the holder 0x%x lies past its requested "
          "%d bytes (bytes +%#x..+%#x of it are slack)" % (name, so, haddr, end, max(end, so),
                                                          so + 7))
    check_eq(word, addr + do, "%s: that word's value is the pointer into 0x%x (+%#x)"
             % (name, addr, do))
    rc, out, err = cprof("path", "0x%x" % addr, "--db", db)
    check("0x%x: (unknown type) (%d B), pointer at +%#x\n" % (haddr, e["holder_size"], so)
          in out and "entered at +%#x (interior)" % do in out,
          "%s: `path 0x%x` names the holder, the word and the interior pointer (got %s)"
          % (name, addr, out.strip()))
    steps = cprof("path", "0x%x" % addr, "--db", db, "--json", json=True)["path"]
    check_eq([(parse_addr(x["addr"]), x.get("pointer_at"), x.get("past_type_end"))
              for x in steps[-2:]], [(haddr, so, None), (addr, None, None)],
             "%s: path --json: the holder's word; past_type_end unknown (untyped holder)" % name)
    check_eq((steps[-1]["entered_at"], steps[-1]["interior"]), (do, True),
             "%s: path --json: entered at +%#x, interior" % (name, do))
    held = [r[0] for r in q(
        "SELECT dst FROM ref WHERE src = ? AND dst != ? AND dst IN (SELECT id FROM object "
        "WHERE interior_only = 1) AND (SELECT count(*) FROM ref r2 WHERE r2.dst = ref.dst) = 1 "
        "AND (SELECT count(*) FROM root_ref rr WHERE rr.dst = ref.dst) = 0", oid, oid)]
    check_eq(len(held), e["holds"], "%s: blocks held only by 0x%x" % (name, addr))
    note("explained: 0x%x (%d B) is reachable only through the word at +%#x of 0x%x, "
         "past the holder's requested %d bytes: valgrind calls it and %d more lost"
         % (addr, e["size"], so, haddr, end, len(held)))
    return [oid] + held


def explain_past_request(name, con, core, db, e):
    """A STALE entry of kind past-request: [the block's id]."""
    q = lambda sql, *a: con.execute(sql, a).fetchall()
    found = []
    for oid, addr in q("SELECT id, addr FROM object WHERE state = 'used' AND reachable = 1 "
                       "AND interior_only = 1 AND size = ?", e["size"]):
        if q("SELECT count(*) FROM root_ref WHERE dst = ?", oid)[0][0]:
            continue
        ins = q("SELECT r.src, r.src_offset, r.dst_offset, o.reachable FROM ref r "
                "JOIN object o ON o.id = r.src WHERE r.dst = ?", oid)
        live = [x for x in ins if x[3] == 1]
        lost = [x for x in ins if x[3] == 0]
        if live and lost and all(x[2] >= e["request"] for x in live) and \
                all(x[2] < e["request"] for x in lost):
            found.append((oid, addr, live))
    what = ("%s: a %d-byte chunk held by a lost one and entered from reachable ones only at "
            "or past its requested %d bytes" % (name, e["size"], e["request"]))
    if not found:
        note("not in this core: %s" % what)
        return []
    if not check_eq(len(found), 1, what):
        return []
    oid, addr, live = found[0]
    for src, so, do, _ in live:
        saddr = con.execute("SELECT addr FROM object WHERE id = ?", (src,)).fetchone()[0]
        data, _ = reference_read(Elf(core), saddr + so, 8)
        check_eq(int.from_bytes(data or b"", "little"), addr + do,
                 "%s: the core's word at 0x%x points %d bytes into 0x%x"
                 % (name, saddr + so, do, addr))
    note("explained: 0x%x (%d B, %d requested) is entered from reachable objects only at "
         "+%s: in its slack, past valgrind's block" % (addr, e["size"], e["request"],
                                                       ", +".join(str(x[2]) for x in live)))
    return [oid]


def explain_no_word(name, con, core, db, e):
    """A STALE entry of kind no-word: [the block's id]."""
    rows = con.execute("SELECT id, addr FROM object WHERE state = 'used' AND leak = 'direct' "
                       "AND size = ? AND id NOT IN (SELECT dst FROM ref) AND id NOT IN "
                       "(SELECT dst FROM root_ref)", (e["size"],)).fetchall()
    what = "%s: a %d-byte leak root nothing points to" % (name, e["size"])
    if not rows:
        note("not in this core: %s" % what)
        return []
    if not check_eq(len(rows), 1, what):
        return []
    oid, addr = rows[0]
    elf = Elf(core)
    free = sorted(con.execute("SELECT addr, addr + size FROM object WHERE state = 'free'"))
    in_free = lambda a: any(lo <= a < hi for lo, hi in free)
    words = [w for w in elf.core_words_in([(addr, addr + e["size"])])
             if not addr <= w[0] < addr + e["size"]]
    live = [w for w in words if not in_free(w[0])]
    regs = [(t, r) for t, rr in list(elf.core_registers().items()) +
            list(elf.core_vector_words().items()) for r, v in rr.items()
            if addr <= v < addr + e["size"]]
    check(not live and not regs, "%s: no word of the core (memory outside free chunks, "
          "registers, vector registers) points into 0x%x (found %s %s)"
          % (name, addr, ["0x%x" % w[0] for w in live[:3]], regs[:3]))
    note("explained: 0x%x (%d B) is pointed into by no word of the core but %d in free "
         "chunks (%s), which keep nothing alive; valgrind's possibly-lost holder is a word "
         "of its own run" % (addr, e["size"], len(words), ", ".join("0x%x" % w[0]
                                                                     for w in words[:3])))
    return [oid]


EXPLAIN = {"slack": explain_slack, "past-request": explain_past_request,
           "no-word": explain_no_word}
CPROF_CLASS = {"slack": "interior_only", "past-request": "interior_only", "no-word": "direct"}


def cn(x):
    return (x["count"], x["bytes"])


def kcheck(name, key, cond, msg):
    """check(COND, MSG), except for a difference listed in KNOWN_UNEXPLAINED[NAME]
    (KEY): that one must fail, and is reported as known."""
    if key not in KNOWN_UNEXPLAINED.get(name, ()):
        return check(cond, msg)
    if cond:
        note("KNOWN-UNEXPLAINED difference absent in this run: %s" % msg)
        return True
    note("KNOWN-UNEXPLAINED (fails, as listed): %s" % msg)
    return False


def compare(name, res, db):
    rc, out, err = cprof("analyze", res["core"], res["exe"], "--db", db, timeout=600)
    ww = [l for l in stderr_lines(err) if "warning" in l]
    check(not ww, "%s: no warning from analyze (got %s)" % (name, ww[:3]))
    s = cprof("leaks", "--db", db, "--json", json=True)["summary"]
    with open(os.path.join(os.path.dirname(res["core"]), "valgrind.log")) as f:
        log = f.read()
    vgf = valgrind_log_figures(log)
    used = sum(s[k]["count"] for k in ("direct", "indirect", "reachable"))
    used_bytes = sum(s[k]["bytes"] for k in ("direct", "indirect", "reachable"))
    row = (name, (used, used_bytes), vgf["in_use"][::-1], cn(s["direct"]),
           vgf["definitely"][::-1], cn(s["indirect"]), vgf["indirectly"][::-1],
           cn(s["interior_only"]), vgf["possibly"][::-1])
    note("used %s valgrind %s; direct %s definitely %s; indirect %s indirectly %s; "
         "interior_only %s possibly %s" % tuple("%d/%d" % x for x in row[1:]))
    check_eq(used, vgf["in_use"][1], "%s: used chunks == valgrind's blocks in use at exit"
             % name)
    check(used_bytes >= vgf["in_use"][0], "%s: used bytes (usable sizes) %d >= valgrind's "
          "requested bytes %d" % (name, used_bytes, vgf["in_use"][0]))
    # Stale words: each explained block moves from its valgrind class to a
    # cprof-core one; "slack" blocks take the blocks they hold along (indirectly
    # lost for valgrind).
    con = sqlite3.connect(db)
    moved = collections.Counter()           # (valgrind class, cprof class) -> blocks
    moved_ids, moved_to = set(), collections.defaultdict(list)
    size_of = dict(con.execute("SELECT id, size FROM object WHERE state = 'used'"))
    for e in STALE.get(name, []):
        ids = EXPLAIN[e["kind"]](name, con, res["core"], db, e)
        for k, i in enumerate(ids):
            vc = e["valgrind"] if k == 0 else "indirectly"
            moved[(vc, CPROF_CLASS[e["kind"]])] += 1
            moved_ids.add(i)
            moved_to[vc].append(size_of[i])
    into = lambda c: sum(n for (v, k), n in moved.items() if k == c)
    outof = lambda c: sum(n for (v, k), n in moved.items() if v == c)
    kcheck(name, "direct", s["direct"]["count"] - into("direct") + outof("definitely")
           == vgf["definitely"][1],
           "%s: direct (%d), less %d explained, plus %d explained == valgrind's definitely "
           "lost blocks (%d)" % (name, s["direct"]["count"], into("direct"),
                                 outof("definitely"), vgf["definitely"][1]))
    kcheck(name, "indirect", s["indirect"]["count"] + outof("indirectly")
           == vgf["indirectly"][1],
           "%s: indirect (%d) + %d explained == valgrind's indirectly lost blocks (%d)"
           % (name, s["indirect"]["count"], outof("indirectly"), vgf["indirectly"][1]))
    kcheck(name, "interior_only", s["interior_only"]["count"] - into("interior_only") +
           outof("possibly") == vgf["possibly"][1],
           "%s: interior_only (%d), less %d explained, plus %d explained == valgrind's "
           "possibly lost blocks (%d)" % (name, s["interior_only"]["count"],
                                          into("interior_only"), outof("possibly"),
                                          vgf["possibly"][1]))
    # Block by block where valgrind's log gives sizes one by one (a loss record
    # of one block): each has a chunk of that usable size in the same class.
    classes = {"definitely": "leak = 'direct'", "indirectly": "leak = 'indirect'",
               "possibly": "reachable = 1 AND interior_only = 1",
               "reachable": "reachable = 1 AND interior_only = 0"}
    singles = single_blocks(log)
    for vc, where in classes.items():
        sizes = collections.Counter(
            sz for i, sz in con.execute("SELECT id, size FROM object WHERE state = 'used' "
                                        "AND " + where) if i not in moved_ids)
        sizes.update(moved_to.get(vc, []))
        miss = missing_sizes(singles.get(vc, []), sizes)
        kcheck(name, "sizes " + vc, not miss,
               "%s: each of valgrind's %d single %s blocks has a chunk of its usable size "
               "there (none for requests of %s)" % (name, len(singles.get(vc, [])), vc, miss[:8]))
    con.close()
    return row


def install_shim():
    """REAL_DIR/libexit-core.so: the corpus's shim, at a path that is the same
    for every checkout (it is in the environment of both runs)."""
    os.makedirs(REAL_DIR, exist_ok=True)
    src = os.path.join(corpus_dir(), "libexit-core.so")
    dst = os.path.join(REAL_DIR, "libexit-core.so")
    with open(dst + ".lock", "a") as lk:
        fcntl.flock(lk.fileno(), fcntl.LOCK_EX)
        with open(src, "rb") as f:
            new = f.read()
        try:
            with open(dst, "rb") as f:
                if f.read() == new:
                    return
        except OSError:
            pass
        with open(dst + ".tmp", "wb") as f:
            f.write(new)
        os.chmod(dst + ".tmp", 0o755)
        os.replace(dst + ".tmp", dst)


T_START = time.monotonic()
install_shim()
rows = []
for name in PROGRAMS:
    with case(name):
        require_tool(os.path.basename(PROGRAMS[name][0][0]))
        d = os.path.join(REAL_DIR, name)
        with open(d + ".lock", "a") as lk:
            fcntl.flock(lk.fileno(), fcntl.LOCK_EX)
            res = run_pair(name, d)
        if not res["cached"]:
            note("ran it: valgrind %.1f s, natively to the core %.1f s"
                 % (res["vg_seconds"], res["core_seconds"]))
        db = os.path.join(d, "cprof-%d.db" % os.getpid())
        try:
            rows.append(compare(name, res, db))
            if name in MULTI_ARENA:
                info = cprof("info", res["core"], res["exe"], "--json", json=True)
                arenas = [a["kind"] for al in info.get("allocators", [])
                          if al["name"] == "glibc" for a in al["arenas"]]
                note("%d glibc arenas (%s)" % (len(arenas), ", ".join(arenas)))
                check(len(arenas) > 1, "%s: the core has more than one glibc arena (%d)"
                      % (name, len(arenas)))
        finally:
            if os.path.exists(db):
                os.unlink(db)

note("%-15s %16s %16s %12s %14s %12s %14s %15s %14s" % (
    "program", "used", "vg in use", "direct", "vg definitely", "indirect",
    "vg indirectly", "interior_only", "vg possibly"))
for r in rows:
    note("%-15s %16s %16s %12s %14s %12s %14s %15s %14s" % (
        (r[0],) + tuple("%d/%d" % x for x in r[1:])))
note("t0550 took %.1f s" % (time.monotonic() - T_START))
finish()
