#!/usr/bin/env python3
"""t0210: strings from the core cannot drive a terminal or break a JSON parser.

The corpus program `threads`, copied to a directory and a file whose names hold
an OSC sequence (set the window title), a CSI sequence (clear the screen), a C1
control (U+009B, the one-byte CSI that UTF-8 terminals obey), a byte that is not
UTF-8 and a printable non-ASCII character: the kernel writes those names into the
core (the process name, its command line, NT_FILE). For `info`, `analyze`, `top`
and `leaks`, in text and JSON:
  - stdout and stderr hold no control byte but newline and tab, no C1 control,
    and are valid UTF-8; the escapes are shown as text (\\x1b, \\xc2\\x9b, \\xff)
    and the printable character as it is;
  - the JSON is valid UTF-8 that a strict parser reads, and names the process
    with its bytes (controls escaped, the invalid byte as U+FFFD).
"""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

NASTY = "\x1b]0;pwned\x07\x1b[2J\udcc2\udc9b\udcff\u20ac"   # surrogateescape: raw bytes
d = os.path.join(WORK, "t0210", "dir" + NASTY)
os.makedirs(d, exist_ok=True)
exe = os.path.join(d, "thr" + NASTY)
shutil.copy2(os.path.join(corpus_dir(), "threads"), exe)
c = corpus_core("threads", exe=exe)


def clean(what, data):
    """data: bytes a command wrote. Fails the case on any terminal control."""
    bad = [b for b in data if (b < 0x20 and b not in (0x0a, 0x09)) or b == 0x7f]
    check(not bad, "%s: no control bytes (found %s)" % (what, sorted(set(bad))[:8]))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, "%s: valid UTF-8 (%s)" % (what, e))
        return ""
    c1 = [ch for ch in text if 0x80 <= ord(ch) <= 0x9f]
    check(not c1, "%s: no C1 control characters (found %r)" % (what, c1[:4]))
    return text


def run(*args):
    import subprocess
    r = subprocess.run([cprof_path()] + [os.fsencode(a) if isinstance(a, str) else a
                                        for a in args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    check(r.returncode in (0, 1), "%s: exit status %d" % (args[0], r.returncode))
    return r.stdout, r.stderr


db = os.path.join(c.dir, "t0210.db")
for cmd in (["info", c.core, exe], ["analyze", c.core, exe, "--db", db],
            ["top", "--db", db], ["leaks", "--db", db]):
    with case(cmd[0] + " text"):
        out, err = run(*cmd)
        text = clean(cmd[0] + " stdout", out)
        clean(cmd[0] + " stderr", err)
        if cmd[0] in ("info", "analyze"):
            check("\\x1b]0;pwned\\x07\\x1b[2J\\xc2\\x9b\\xff\u20ac" in text,
                  "%s shows the name's controls as \\xHH and the euro sign as it is" % cmd[0])
    with case(cmd[0] + " json"):
        out, err = run(*(cmd + ["--json"]))
        text = clean(cmd[0] + " --json stdout", out)
        clean(cmd[0] + " --json stderr", err)
        try:
            doc = json.loads(text)
        except ValueError as e:
            check(False, "%s --json: strict JSON (%s)" % (cmd[0], e))
            continue
        if cmd[0] == "info":
            args = doc.get("process", {}).get("args", "")
            check("\x1b]0;pwned\x07\x1b[2J\x9b\ufffd\u20ac" in args,
                  "info --json: the command line keeps its characters, the invalid "
                  "byte as U+FFFD (%r)" % args)

finish()
