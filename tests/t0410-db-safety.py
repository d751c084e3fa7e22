#!/usr/bin/env python3
"""t0410: cprof.db is replaced safely, and a damaged one is called so.

On the core of a small corpus program (bigheap 2000):
  - --db naming a directory, a FIFO, a symbolic link or a device node (made with
    mknod in a temporary directory, as root) is refused at once with one message
    naming it and what it is; nothing is renamed or created next to it;
  - NAME.tmp-PID files of processes that no longer run are removed by the next
    analysis; one whose process still runs is left alone;
  - the commit, killed (SIGKILL, injected by strace) at each of its file system
    calls in turn, always leaves a complete cprof.db at its name - the old one or
    the new one (PRAGMA integrity_check, application_id, the object count) - and
    the next analysis removes what the killed one left;
  - query commands on a database cut short (inside its header, and halfway), on a
    file that is not SQLite, and on a FIFO: exit status 1 and "truncated or
    damaged" / "not a cprof.db" / "is a FIFO", never a hang.
"""
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

c = corpus_core("bigheap", ("2000",))
d = os.path.join(c.dir, "t0410")
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)


def is_cprof_db(path):
    """(ok, object count) of the file at PATH, read with Python's own SQLite."""
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        app = con.execute("PRAGMA application_id").fetchone()[0]
        n = con.execute("SELECT count(*) FROM object").fetchone()[0]
        con.close()
        return ok and app == 0x63707266, n
    except sqlite3.Error as e:
        return False, str(e)


def listing(dirname):
    return sorted(os.listdir(dirname))


with case("targets that are not regular files"):
    t = os.path.join(d, "targets")
    os.makedirs(t)
    os.mkdir(os.path.join(t, "adir"))
    os.mkfifo(os.path.join(t, "afifo"))
    open(os.path.join(t, "real.db"), "w").close()
    os.symlink("real.db", os.path.join(t, "alink"))
    kinds = {"adir": "a directory", "afifo": "a FIFO", "alink": "a symbolic link"}
    if os.geteuid() == 0:
        os.mknod(os.path.join(t, "anull"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        kinds["anull"] = "a character device"
    elif REQUIRE_ALL:
        check(False, "mknod needs root (CPROF_REQUIRE_ALL=1): the device case did not run")
    else:
        warn("not root: no device node case")
    before = listing(t)
    for name, kind in kinds.items():
        p = os.path.join(t, name)
        rc, out, err = cprof("analyze", c.core, c.exe, "--db", p, expect_rc=1, timeout=30)
        check("%s: is %s" % (p, kind) in err, "--db %s: the message names it as %s (got %r)"
              % (name, kind, err.strip()))
        check_eq(len(stderr_lines(err)), 1, "--db %s: one message" % name)
        check_eq(out, "", "--db %s: no summary" % name)
    check_eq(listing(t), before, "nothing renamed, created or left next to the targets")
    check(stat.S_ISDIR(os.lstat(os.path.join(t, "adir")).st_mode), "the directory is still one")
    check(stat.S_ISFIFO(os.lstat(os.path.join(t, "afifo")).st_mode), "the FIFO is still one")
    check(os.path.islink(os.path.join(t, "alink")), "the link is still one")

with case("stale temporary files"):
    s = os.path.join(d, "stale")
    os.makedirs(s)
    db = os.path.join(s, "cprof.db")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = "%s.tmp-%d" % (db, dead.pid)
    live = "%s.tmp-%d" % (db, os.getpid())
    other = "%s.tmp-%dx" % (db, dead.pid)   # not of the form NAME.tmp-PID
    for f in (stale, live, other):
        with open(f, "w") as fh:
            fh.write("left by a killed analysis")
    cprof("analyze", c.core, c.exe, "--db", db)
    check(not os.path.exists(stale), "the dead process's %s is removed" % os.path.basename(stale))
    check(os.path.exists(live), "a running process's temporary file is left alone")
    check(os.path.exists(other), "a file not named NAME.tmp-PID is left alone")
    check(is_cprof_db(db)[0], "cprof.db written")

with case("killed at each step of the commit"):
    require_tool("strace")
    k = os.path.join(d, "kill")
    os.makedirs(k)
    db = os.path.join(k, "cprof.db")
    cprof("analyze", c.core, c.exe, "--db", db)
    ok, n_objects = is_cprof_db(db)
    check(ok, "the first database is complete")
    calls = "link,linkat,rename,renameat,renameat2,unlink,unlinkat"
    # LeakSanitizer (the ASan build) refuses to run under ptrace: exit status 99.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    trace = os.path.join(k, "trace")
    cmd = [cprof_path(), "analyze", c.core, c.exe, "--db", db]
    # LeakSanitizer cannot run under ptrace (the ASan build fails with status 99)
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    r = subprocess.run(["strace", "-f", "-qq", "-o", trace, "-e", "trace=" + calls] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, env=env)
    check_eq(r.returncode, 0, "analyze under strace")
    steps = []
    for line in open(trace):
        m = re.match(r"^(?:\d+\s+)?(\w+)\(", line)
        if m and m.group(1) in calls.split(","):
            steps.append(m.group(1))
    check(len(steps) >= 2, "the commit makes file system calls (%s)" % steps)
    seen = {}
    for i, sc in enumerate(steps):
        seen[sc] = seen.get(sc, 0) + 1
        inject = "inject=%s:signal=KILL:when=%d" % (sc, seen[sc])
        r = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + sc,
                            "-e", inject] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                           env=env)
        ok, n = is_cprof_db(db)
        check(ok and n == n_objects,
              "killed at step %d (%s #%d, status %d): a complete cprof.db at its name (%s)"
              % (i + 1, sc, seen[sc], r.returncode, n))
    cprof("analyze", c.core, c.exe, "--db", db)
    check_eq([f for f in listing(k) if ".tmp-" in f], [],
             "the next analysis removed what the killed ones left")
    check(is_cprof_db(db)[0] and is_cprof_db(db + ".old")[0], "cprof.db and cprof.db.old")

with case("damaged databases"):
    g = os.path.join(d, "damaged")
    os.makedirs(g)
    good = os.path.join(g, "good.db")
    cprof("analyze", c.core, c.exe, "--db", good)
    data = open(good, "rb").read()
    cases = {
        "header.db": (data[:50], "truncated or damaged"),
        "half.db": (data[:len(data) // 2], "truncated or damaged"),
        "text.db": (b"this is not a database\n" * 10, "not a cprof.db"),
    }
    for name, (content, words) in cases.items():
        p = os.path.join(g, name)
        with open(p, "wb") as f:
            f.write(content)
        for q in (["leaks"], ["top"], ["histogram"]):
            rc, out, err = cprof(*q, "--db", p, expect_rc=1, timeout=30)
            check(words in err and p in err, "%s on %s: %r (got %r)" % (q[0], name, words,
                                                                         err.strip()))
    fifo = os.path.join(g, "fifo.db")
    os.mkfifo(fifo)
    rc, out, err = cprof("leaks", "--db", fifo, expect_rc=1, timeout=30)
    check("is a FIFO" in err, "leaks on a FIFO: refused at once (got %r)" % err.strip())

finish()
