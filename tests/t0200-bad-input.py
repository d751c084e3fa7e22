#!/usr/bin/env python3
"""t0200: bad input never crashes cprof-core, and is reported well.

Errors (exit status 1, exactly one `cprof-core: error: ` line on stderr, naming the
file): a text file, an ELF executable, an empty file, a core patched to another
machine (EM_AARCH64) or to ELFCLASS32 given as CORE; a missing CORE or EXE path.
Warnings (exit status 0, a `cprof-core: warning: ` line naming the file): an
executable that does not match the core (the warning names both build-ids);
a core truncated at 20 offsets (header, program headers, notes, segments; a cut
in the ELF header or program headers must be an error, elsewhere either an error
or a truncation warning with JSON that still parses). Never a crash, a sanitizer
report or a hang (60 s). Also: --help and `info --help` exit 0 with usage on
stdout; an unknown option exits 2.
"""
import json
import os
import random
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

ERR = "cprof-core: error: "
WARN = "cprof-core: warning: "
EM_AARCH64 = 183


def copy_prefix(src, dst, n):
    """Copy the first N bytes of SRC to DST, keeping holes (cores are sparse)."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        left = n
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            if chunk.count(0) == len(chunk):
                g.seek(len(chunk), os.SEEK_CUR)
            else:
                g.write(chunk)
            left -= len(chunk)
        g.truncate(n - left)


def patched(src, dst, offset, data):
    copy_prefix(src, dst, os.path.getsize(src))
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(data)


def truncation_offsets(core):
    """20 offsets, 0 < off < size, from the ELF header to deep in the segments
    (deterministic for a given core layout: random.Random(1))."""
    rng = random.Random(1)
    size = core.size
    notes = [p for p in core.phdrs if p["type"] == 4]
    note_lo = notes[0]["offset"] if notes else core.phdrs_end
    note_hi = (notes[-1]["offset"] + notes[-1]["filesz"]) if notes else core.phdrs_end + 1
    seg_lo = min([p["offset"] for p in core.loads if p["filesz"]] or [note_hi])
    regions = [("ELF header", 1, 64, 2),
               ("program headers", 64, core.phdrs_end, 3),
               ("notes", note_lo, note_hi, 5),
               ("segments", max(seg_lo, note_hi), size, 10)]
    out = []
    for name, lo, hi, count in regions:
        hi = min(hi, size)
        for i in range(count):
            off = lo + int((hi - lo) * (i + rng.random()) / count)
            off = max(1, min(off, size - 1))
            out.append((name, off))
    return out


def main():
    cprof_path()
    work = os.path.join(WORK, "tmp")
    os.makedirs(work, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="t0200-", dir=work)
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


def run(tmp):
    exe_dir = corpus_dir()
    exe = os.path.join(exe_dir, "threads")
    nopie = os.path.join(exe_dir, "threads-nopie")

    with case("usage"):
        for args in (["--help"], ["info", "--help"]):
            rc, out, err = cprof(*args, expect_rc=None)
            check_eq(rc, 0, "cprof-core %s: exit status" % " ".join(args))
            check("usage" in out.lower(), "cprof-core %s: usage on stdout, got %r"
                  % (" ".join(args), out[:200]))
        for args in (["--no-such-option"], ["info", "--no-such-option", exe]):
            rc, out, err = cprof(*args, expect_rc=None)
            check_eq(rc, 2, "cprof-core %s: exit status (stderr %r)" % (" ".join(args), err[-300:]))

    with case("a-text-file"):
        p = os.path.join(tmp, "not-a-core.txt")
        with open(p, "w") as f:
            f.write("this is a text file, not a core dump\n" * 20)
        expect_error(["info", p, exe], p)

    with case("b-executable-as-core"):
        expect_error(["info", exe, exe], exe)

    with case("e-empty-file"):
        p = os.path.join(tmp, "empty-core")
        open(p, "w").close()
        expect_error(["info", p, exe], p)

    with case("d-missing-core"):
        expect_error(["info", "/nonexistent/core", exe], "/nonexistent/core")

    if not available_dumpers():
        check(not REQUIRE_ALL, "no way to take a core (CPROF_REQUIRE_ALL=1)")
        note("no way to take a core here: the cases that need one are not run")
        return
    c = corpus_core("threads")
    core = Elf(c.core)

    with case("d-missing-exe"):
        expect_error(["info", c.core, "/nonexistent/app"], "/nonexistent/app")

    with case("c-other-arch"):
        p = os.path.join(tmp, "core-aarch64")
        patched(c.core, p, 18, EM_AARCH64.to_bytes(2, "little"))
        expect_error(["info", p, exe], p)
        p32 = os.path.join(tmp, "core-elfclass32")
        patched(c.core, p32, 4, b"\x01")
        expect_error(["info", p32, exe], p32)
        os.unlink(p)
        os.unlink(p32)

    with case("f-mismatched-exe"):
        want_core = Elf(c.exe).build_id()
        want_file = Elf(nopie).build_id()
        check(want_core and want_file and want_core != want_file,
              "threads and threads-nopie have different build-ids (%s, %s)" % (want_core, want_file))
        rc, out, err = cprof("info", c.core, nopie, "--json", expect_rc=None, timeout=60)
        check_eq(rc, 0, "info CORE(threads) threads-nopie: exit status (stderr %r)" % err[-500:])
        warns = lines_with(err, WARN)
        check(any(nopie in w for w in warns),
              "a warning names %s; warnings: %s" % (nopie, warns))
        check(any(want_core in w and want_file in w for w in warns),
              "a warning names both build-ids %s (core) and %s (file); warnings: %s"
              % (want_core, want_file, warns))
        check(any("the core names %s" % c.exe in w for w in warns),
              "the warning names the executable the core names, %s; warnings: %s" % (c.exe, warns))
        if rc == 0:
            try:
                info = json.loads(out)
                mods = [mm for mm in info.get("modules") or [] if mm.get("status") == "mismatch"]
                check(any(mm.get("build_id") == want_core and mm.get("file_build_id") == want_file
                          for mm in mods),
                      "a module with status mismatch, build_id %s and file_build_id %s; got %s"
                      % (want_core, want_file, mods))
            except ValueError as e:
                check(False, "info --json output is not JSON: %s" % e)

    with case("g-truncated"):
        for region, off in truncation_offsets(core):
            with case("%s@%d" % (region, off)):
                p = os.path.join(tmp, "core-cut-%d" % off)
                copy_prefix(c.core, p, off)
                rc, out, err = cprof("info", p, exe, "--json", expect_rc=None, timeout=60)
                errs, warns = lines_with(err, ERR), lines_with(err, WARN)
                if off < core.phdrs_end:
                    check_eq(rc, 1, "cut at %d (in the %s): exit status" % (off, region))
                if rc == 1:
                    if check_eq(len(errs), 1, "cut at %d: number of error lines in %r" % (off, err[-1000:])):
                        check(p in errs[0], "cut at %d: the error line %r names %s" % (off, errs[0], p))
                elif rc == 0:
                    check(any(p in w and "truncat" in w.lower() for w in warns),
                          "cut at %d: a warning names %s and says it is truncated; warnings: %s"
                          % (off, p, warns))
                    try:
                        info = json.loads(out)
                        check_eq((info.get("core") or {}).get("truncated"), True,
                                 "cut at %d: core.truncated" % off)
                    except ValueError as e:
                        check(False, "cut at %d: info --json output is not JSON (%s): %r"
                              % (off, e, out[:300]))
                else:
                    check(False, "cut at %d (in the %s): exit status %d, want 0 or 1; stderr %r"
                          % (off, region, rc, err[-1000:]))
                os.unlink(p)


main()
