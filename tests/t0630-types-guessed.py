#!/usr/bin/env python3
"""t0630: types guessed from an object's layout are marked as guesses and contained.

On corpus/blocks.c (the 100 leaked blocks, which no typed pointer reaches, are typed
`struct block` by their layout):
  - every guessed object says so: `show` (text and JSON `type_guessed`), `histogram`
    (the `guessed` count of the `struct block` row, and its text), `roots --type`
    (the `guessed` count of each group: the leaked group's only), the summary's JSON;
  - a guess is never followed: a leaked block's payload is untyped, while the
    payload of a block a typed pointer reaches is `char[n]` from DWARF;
  - a struct that ends in a flexible array member (`struct note`, held by the global
    `notes`, in chunks with room for several of its 16-byte headers) is one struct,
    not an array of them.
On a real program nobody here wrote: git (`git diff-tree --stdin -r -p` over a
repository made here, parked in read(2) once it has echoed a line that names no
commit, dumped with gcore).  git has no DWARF; libc's (libc6-dbg) has a 24-byte
`struct binding` (a flexible array member at its end) whose shape matched git's tree
nodes and strings, and from them a 32 KiB buffer became `struct binding[1362]`.  The
objects typed `struct binding` must be exactly the list that libc's own
`_nl_domain_bindings` heads, as gdb walks it in the core with libc's DWARF.
A program built here holds a typedef'd anonymous struct and a pthread_cond_t (an
anonymous union) from globals: their chunks are typed by the typedef names gdb gives.
"""
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

with case("blocks"):
    c = corpus_core("blocks")
    m = c.manifest
    db = os.path.join(c.dir, "t0630.db")
    summary = cprof("analyze", c.core, c.exe, "--db", db, "--json", json=True)
    con = sqlite3.connect(db)
    got = {a: (t, s, p) for a, t, s, p in con.execute(
        "SELECT o.addr, t.name, o.type_source, o.id FROM object o LEFT JOIN type t "
        "ON t.id = o.type_id")}
    leaked = [b for b in m["blocks"] if b["group"] == "leaked"]
    held = [b for b in m["blocks"] if b["group"] == "cache"]
    wrong = [b["addr"] for b in leaked if got.get(parse_addr(b["addr"]), ())[:2] !=
             ("struct block", "layout")]
    check(not wrong, "the %d leaked blocks are typed struct block by layout (wrong: %s)"
          % (len(leaked), wrong[:3]))
    wrong = [b["payload"] for b in leaked if got.get(parse_addr(b["payload"]), ())[:1] != (None,)]
    check(not wrong, "a guess is not followed: the leaked blocks' payloads are untyped "
          "(wrong: %s)" % [(a, got.get(parse_addr(a))) for a in wrong[:3]])
    wrong = [b["payload"] for b in held if not (got.get(parse_addr(b["payload"]), ("",))[0] or "")
             .startswith("char[") or got[parse_addr(b["payload"])][1] != "dwarf"]
    check(not wrong, "... while a held block's payload is char[n] from DWARF (wrong: %s)"
          % [(a, got.get(parse_addr(a))) for a in wrong[:3]])
    n_guessed = con.execute("SELECT count(*) FROM object WHERE type_source = 'layout'").fetchone()[0]
    check_eq(summary.get("types", {}).get("guessed"), n_guessed,
             "analyze --json: types.guessed counts the objects typed by layout")

    lk = leaked[0]
    show = cprof("show", "--db", db, lk["addr"], "--json", json=True)
    check_eq((show.get("type"), show.get("type_source"), show.get("type_guessed")),
             ("struct block", "layout", True), "show --json: a leaked block's type is a guess")
    _, out, _ = cprof("show", "--db", db, lk["addr"])
    check("struct block" in out.splitlines()[0] and "guessed from its layout" in out.splitlines()[0],
          "show: says the type is guessed (%s)" % out.splitlines()[0])
    show = cprof("show", "--db", db, held[0]["addr"], "--json", json=True)
    check_eq((show.get("type_source"), show.get("type_guessed")), ("dwarf", False),
             "show --json: a held block's type is no guess")

    hist = {h["type"]: h for h in cprof("histogram", "--db", db, "--json", json=True)}
    check_eq((hist.get("struct block", {}).get("count"), hist.get("struct block", {}).get("guessed")),
             (len(m["blocks"]), len(leaked)),
             "histogram --json: struct block counts every block, %d of them guessed" % len(leaked))
    _, out, _ = cprof("histogram", "--db", db)
    row = [l for l in out.splitlines() if l.rstrip().endswith("the layout)") and "struct block" in l]
    check(len(row) == 1 and "%d of them: type guessed from the layout" % len(leaked) in row[0],
          "histogram: the struct block row says how many are guessed (%s)" % row)
    groups = {g["root"]: g.get("guessed") for g in
              cprof("roots", "--db", db, "--type", "struct block", "--json", json=True)}
    check_eq(groups.get("leaked (no root)"), len(leaked),
             "roots --type --json: the leaked group's blocks are guesses")
    check_eq(sorted(v for k, v in groups.items() if k != "leaked (no root)"), [0] * (len(groups) - 1),
             "roots --type --json: no other group has a guess (%s)" % groups)

    wrong = [(n["addr"], got.get(parse_addr(n["addr"]))) for n in m["notes"]
             if got.get(parse_addr(n["addr"]), ())[:2] != ("struct note", "dwarf")]
    check(all(n["usable"] >= 2 * n["header"] for n in m["notes"]),
          "every note's chunk has room for two of its headers")
    check(not wrong, "the %d notes (flexible array member; chunks of %s bytes for a %d-byte "
          "header) are each one struct note (wrong: %s)"
          % (len(m["notes"]), [n["usable"] for n in m["notes"]], m["notes"][0]["header"], wrong))
    con.close()


def git(repo, *args, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_AUTHOR_DATE="2020-01-01T00:00:00Z", GIT_COMMITTER_DATE="2020-01-01T00:00:00Z",
               GIT_CONFIG_NOSYSTEM="1", HOME=repo, LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return subprocess.run(["git", "-C", repo] + list(args), env=env, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw).stdout


def git_core(d):
    """A repository of 40 commits over 8 directories, then a gcore of
    `git diff-tree --stdin -r -p` parked in read(2) after diffing them all."""
    repo = os.path.join(d, "repo")
    os.makedirs(repo)
    git(repo, "init", "-q")
    for i in range(40):
        for k in range(8):
            sub = os.path.join(repo, "dir%d" % k, "sub%d" % (i % 3))
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "file%d.txt" % (i % 5)), "a") as f:
                f.write("commit %d line %d\n" % (i, k) * (1 + k))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "commit %d" % i)
    revs = git(repo, "rev-list", "HEAD")
    sentinel = b"cprof-t0630-no-such-commit\n"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": repo,
           "GIT_CONFIG_NOSYSTEM": "1"}
    p = subprocess.Popen(["git", "--no-pager", "-C", repo, "diff-tree", "--stdin", "-r", "-p"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    try:
        p.stdin.write(revs + sentinel)
        p.stdin.flush()
        # diff-tree echoes a line that names no commit once it has done the rest.
        out, deadline = b"", time.time() + 60
        while sentinel not in out:
            if time.time() > deadline or p.poll() is not None:
                raise Abort("git diff-tree did not echo its last input line")
            out += os.read(p.stdout.fileno(), 1 << 16)
        time.sleep(0.2)     # into read(2)
        core = os.path.join(d, "core")
        r = subprocess.run(["gcore", "-o", core, str(p.pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        core = "%s.%d" % (core, p.pid)
        if not os.path.exists(core):
            raise Abort("gcore failed: %s" % r.stderr.decode("utf-8", "replace")[-2000:])
        return core
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


def gdb_bindings(exe, core):
    """The struct binding list of libc's _nl_domain_bindings, as gdb reads it."""
    script = os.path.join(os.path.dirname(core), "bindings.gdb")
    with open(script, "w") as f:
        f.write("set $b = _nl_domain_bindings\nwhile $b\n  print $b\n  set $b = $b->next\nend\n")
    r = subprocess.run(["gdb", "-nx", "-batch", "-x", script, exe, core],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=120)
    found = re.findall(r"^\$\d+ = \(struct binding \*\) (0x[0-9a-f]+)", r.stdout, re.M)
    if not found and "_nl_domain_bindings" not in r.stdout + r.stderr:
        raise Abort("gdb printed no binding: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return {int(a, 16) for a in found}


with case("git"):
    require_tool("git")
    require_tool("gdb")
    require_tool("gcore")
    exe = os.path.realpath(shutil.which("git"))
    d = os.path.join(WORK, "t0630-git")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    core = git_core(d)
    real = gdb_bindings(exe, core)
    check(real, "gdb finds git's text domain bindings in libc's list (%s)" % sorted(map(hex, real)))
    db = os.path.join(d, "t0630.db")
    cprof("analyze", core, exe, "--db", db, timeout=300)
    con = sqlite3.connect(db)
    typed = {a: (n, s) for a, n, s in con.execute(
        "SELECT o.addr, t.name, o.type_source FROM object o JOIN type t ON t.id = o.type_id "
        "WHERE t.name LIKE 'struct binding%'")}
    n_objects = con.execute("SELECT count(*) FROM object").fetchone()[0]
    con.close()
    note("git: %d objects; typed struct binding: %s" % (n_objects, sorted(
        (hex(a), n, s) for a, (n, s) in typed.items())[:10]))
    check_eq(sorted(map(hex, typed)), sorted(map(hex, real)),
             "git: the objects typed struct binding are exactly _nl_domain_bindings' list")
    check(all(n == "struct binding" for n, _ in typed.values()),
          "git: each binding is one struct (flexible array member), not an array")

ANON = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
typedef struct { void *p; long n; } anon_t;
anon_t *g_anon;
pthread_cond_t *g_cond;
int main(void) {
	g_anon = calloc(1, sizeof *g_anon);
	g_cond = calloc(1, sizeof *g_cond);
	printf("%p %p\n", (void *)g_anon, (void *)g_cond);
	fflush(stdout);
	for (;;)
		pause();
}
"""

with case("an anonymous struct or union is named by its typedef"):
    # A MariaDB trial: a chunk holding a pthread_cond_t was typed "union
    # <anonymous>" - glibc's pthread_cond_t is a typedef of an unnamed union.
    # The name is the one gdb gives the pointee (whatis *g).
    require_tool("gdb")
    ad = os.path.join(WORK, "t0630-anon")
    aexe = build_c_program(ad, "anon", ANON)
    words, acore = run_and_dump(aexe, ad, "anon")
    adb = os.path.join(ad, "anon.db")
    cprof("analyze", acore, aexe, "--db", adb)
    con = sqlite3.connect(adb)
    for var, addr in zip(("g_anon", "g_cond"), words):
        got = con.execute("SELECT t.name FROM object o JOIN type t ON t.id = o.type_id"
                          " WHERE o.addr = ?", (int(addr, 16),)).fetchone()
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "whatis *%s" % var, aexe],
                           capture_output=True, text=True, timeout=60)
        want = r.stdout.strip().split("type = ")[-1]
        check(want in ("anon_t", "pthread_cond_t") and got == (want,),
              "%s's chunk is typed %s, as gdb names it (%s)" % (var, want, got))
    con.close()

finish()
