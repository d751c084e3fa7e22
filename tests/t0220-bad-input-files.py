#!/usr/bin/env python3
"""t0220: files that are not what they should be: never a hang, never a file from
outside --sysroot, always a message naming the file.

With a kernel core of corpus program threads (and its EXE), every cprof-core run below
has a 30 s timeout, so a regression that blocks fails instead of hanging the suite.
Errors (exit 1, one `cprof-core: error:` line naming the file and what it is):
  - EXE a directory, /dev/null (a character device), a FIFO;
  - CORE a directory, a FIFO.
Warnings (exit 0, a `cprof-core: warning:` line naming the file; the module is
"unusable", the file not used):
  - EXE a text file ("not an ELF file");
  - EXE cut at half its size, its build-id note intact (so a build-id check alone
    passes: "truncated").
Files the core names:
  - an NT_FILE path (edited in a copy of the core) naming a FIFO: a warning naming it;
  - with --sysroot, libc.so.6 under the sysroot a FIFO: a warning; a debug file
    (--debug-dir DIR, DIR/.build-id/xx/yyyy.debug for libc's build-id) a FIFO: a
    warning, and libc's symbols still come from its own file;
  - sysroot escapes: a copy of libc.so.6 sits OUTSIDE the sysroot (so a lookup that
    escapes finds a file whose build-id matches: status ok, bytes read). Through
    libc's NT_FILE names edited to "/..//////outside/libc.so.6"; through
    SYSROOT/<libc's path> an absolute symlink to it, and a relative symlink with more
    "../" than the sysroot is deep. In each, libc is "missing" and its code cannot be
    read (`read` says missing). Control: a copy at SYSROOT/<the absolute target>
    (where an absolute link resolves under the sysroot) is found: "ok", and its code
    reads as the file's bytes.
"""
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

WARN = "cprof-core: warning: "
T = 30   # seconds: a blocked open would hang for ever


def expect_warning(args, path, words):
    """Runs `info ARGS --json` (exit 0): a warning names PATH and says WORDS.
    Returns the JSON."""
    rc, out, err = cprof("info", *args, "--json", expect_rc=None, timeout=T)
    what = "cprof-core info %s" % " ".join(str(a) for a in args)
    check_eq(rc, 0, "%s: exit status (stderr %r)" % (what, err[-500:]))
    warns = lines_with(err, WARN)
    check(any(path in w and all(x in w for x in words) for w in warns),
          "%s: a warning names %s and says %s; warnings: %s" % (what, path, words, warns))
    return json.loads(out) if rc == 0 else {}


def module(info, base):
    for m in info.get("modules") or []:
        if m.get("name") == base:
            return m
    return None


def libc_of(c):
    """(the path the core names for libc, its text mapping (start, file offset))."""
    e = Elf(c.core)
    for start, end, off, path in e.core_files():
        if os.path.basename(path) == "libc.so.6" and off > 0:
            _, src = reference_read(e, start, 16)
            if all(s == "file" for _, _, s in src):
                return path, start, off
    raise Abort("no libc text mapping read from the file in %s" % c.core)


def read_sources(c, addr, extra):
    r = cprof("read", c.core, c.exe, "%#x" % addr, "16", "--json", *extra, timeout=T, json=True)
    return r.get("bytes"), sorted(set(s["source"] for s in r.get("sources") or []))


def run(tmp):
    c = corpus_core("threads", dumper="kernel")
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)

    with case("exe/directory"):
        expect_error(["info", c.core, tmp], tmp, ["directory"], timeout=T)
    with case("exe/dev-null"):
        expect_error(["info", c.core, "/dev/null"], "/dev/null", ["character device"], timeout=T)
    with case("exe/fifo"):
        expect_error(["info", c.core, fifo], fifo, ["FIFO"], timeout=T)
    with case("core/directory"):
        expect_error(["info", tmp, c.exe], tmp, ["directory"], timeout=T)
    with case("core/fifo"):
        expect_error(["info", fifo, c.exe], fifo, ["FIFO"], timeout=T)

    with case("exe/not-elf"):
        p = os.path.join(tmp, "text-exe")
        with open(p, "w") as f:
            f.write("#!/bin/sh\necho this is not an ELF file\n" * 50)
        info = expect_warning([c.core, p], p, ["not an ELF file"])
        exe = module(info, "threads")
        check(exe is not None and exe.get("status") == "unusable",
              "the executable's module is unusable (%s)" % (exe and exe.get("status")))

    with case("exe/truncated"):
        p = os.path.join(tmp, "cut-exe")
        size = os.path.getsize(c.exe)
        with open(c.exe, "rb") as f, open(p, "wb") as g:
            g.write(f.read(size // 2))
        check_eq(Elf(p).build_id(), Elf(c.exe).build_id(),
                 "the cut copy keeps the build-id note (a build-id check alone passes)")
        info = expect_warning([c.core, p], p, ["truncated"])
        exe = module(info, "threads")
        check(exe is not None and exe.get("status") == "unusable",
              "the executable's module is unusable (%s)" % (exe and exe.get("status")))

    libc_path, text, text_off = libc_of(c)
    want = Elf(libc_path).read(text_off, 16).hex()

    with case("nt-file/fifo"):
        d = Damaged(c, "t0220-fifo.core")
        short = tempfile.mkdtemp(prefix="c", dir="/tmp")   # names are edited in place
        name = os.path.join(short, "f")
        name += "x" * (len(libc_path) - len(name))
        os.mkfifo(name)
        check_eq(d.rename_files(libc_path.encode(), name.encode()) > 0, True,
                 "libc's NT_FILE entries renamed to a FIFO")
        c2 = CoreRunView(c, d.path)
        info = expect_warning([c2.core, c.exe], name, ["FIFO"])
        lib = module(info, "libc.so.6")
        check(lib is not None and lib.get("status") == "missing",
              "the module is missing (%s)" % (lib and lib.get("status")))
        os.unlink(d.path)
        shutil.rmtree(short)

    with case("sysroot/fifo"):
        root = os.path.join(tmp, "root-fifo")
        os.makedirs(os.path.dirname(root + libc_path))
        os.mkfifo(root + libc_path)
        expect_warning([c.core, c.exe, "--sysroot", root], root + libc_path, ["FIFO"])

    with case("debug-dir/fifo"):
        bid = Elf(libc_path).build_id()
        dbg = os.path.join(tmp, "debug")
        p = os.path.join(dbg, ".build-id", bid[:2], bid[2:] + ".debug")
        os.makedirs(os.path.dirname(p))
        os.mkfifo(p)
        info = expect_warning([c.core, c.exe, "--debug-dir", dbg], p, ["FIFO"])
        lib = module(info, "libc.so.6")
        check(lib is not None and lib.get("status") == "ok",
              "libc is still ok (%s)" % (lib and lib.get("status")))

    # sysroot escapes: a copy of libc outside the sysroot
    outside = os.path.join(tmp, "outside")
    os.makedirs(outside)
    shutil.copy2(libc_path, os.path.join(outside, "libc.so.6"))
    root = os.path.join(tmp, "root")
    os.makedirs(root)

    def confined(core_path, label):
        args = [core_path, c.exe, "--sysroot", root]
        rc, out, err = cprof("info", *args, "--json", timeout=T)
        lib = module(json.loads(out), "libc.so.6")
        check(lib is not None and lib.get("status") == "missing",
              "%s: libc is missing under the sysroot (%s, file %s)"
              % (label, lib and lib.get("status"), lib and lib.get("path")))
        r = cprof("read", core_path, c.exe, "%#x" % text, "16", "--json", "--sysroot", root,
                  timeout=T, json=True)
        check_eq(r.get("bytes"), None, "%s: libc's code at %#x is not read" % (label, text))

    with case("sysroot/dotdot"):
        d = Damaged(c, "t0220-dotdot.core")
        tail = "outside/libc.so.6"     # root + "/../" + tail is the outside copy
        name = "/.." + "/" * (len(libc_path) - 3 - len(tail)) + tail
        check_eq(len(name), len(libc_path), "the escaping name %r has libc's name's length" % name)
        check(os.path.exists(root + name), "without confinement %s%s would be the outside copy"
              % (root, name))
        check(d.rename_files(libc_path.encode(), name.encode()) > 0, "libc's names edited")
        confined(d.path, "../ in NT_FILE")
        os.unlink(d.path)

    link = root + libc_path
    os.makedirs(os.path.dirname(link), exist_ok=True)
    with case("sysroot/absolute-symlink"):
        os.symlink(os.path.join(outside, "libc.so.6"), link)
        confined(c.core, "an absolute symlink in the sysroot")
    with case("sysroot/relative-symlink"):
        os.unlink(link)
        depth = len(os.path.dirname(libc_path).strip("/").split("/"))
        os.symlink("../" * (depth + 8) + os.path.join(outside, "libc.so.6").lstrip("/"), link)
        confined(c.core, "a relative symlink with too many ../")
    with case("sysroot/absolute-symlink-inside"):
        # the same absolute link resolves under the sysroot: a copy there is used
        os.unlink(link)
        os.symlink(os.path.join(outside, "libc.so.6"), link)
        inside = root + os.path.join(outside, "libc.so.6")
        os.makedirs(os.path.dirname(inside))
        shutil.copy2(libc_path, inside)
        info = cprof("info", c.core, c.exe, "--sysroot", root, "--json", timeout=T, json=True)
        lib = module(info, "libc.so.6")
        check(lib is not None and lib.get("status") == "ok",
              "libc is found through the link, under the sysroot (%s)" % (lib and lib.get("status")))
        got, srcs = read_sources(c, text, ["--sysroot", root])
        check_eq((got, srcs), (want, ["file"]), "libc's code at %#x, from the file" % text)


class CoreRunView:
    """A CoreRun whose core is another file (a damaged copy)."""

    def __init__(self, c, core):
        self.core, self.exe, self.dir, self.manifest = core, c.exe, c.dir, c.manifest


def main():
    cprof_path()
    if "kernel" not in available_dumpers():
        skip("kernel core dumps are not available here")
    with scratch("t0220") as tmp:
        run(tmp)
    finish()


main()
