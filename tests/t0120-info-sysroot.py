#!/usr/bin/env python3
"""t0120: a core from "another machine": its files found under --sysroot.

The uselib corpus program (with its own libcorpus.so) is copied to a fresh directory
and run from there; after the dump the directory is moved under a sysroot, so the
paths the core records no longer exist on this machine.
  - without --sysroot: libcorpus.so is "missing", with a warning naming it, and the
    analysis goes on (exit 0); the library's functions have no names in backtraces;
  - with --sysroot: libcorpus.so is found and "ok", the backtraces name
    corpus_lib_park, and its code (left out of a kernel core) reads from the file;
    libc and the other files the core names, not under the sysroot, get one
    warning that counts them.
"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

if "kernel" not in available_dumpers():
    skip("kernel core dumps are not available here (the test moves files after a kernel dump)")

base = tempfile.mkdtemp(prefix="cprof-t0120-", dir=WORK if os.path.isdir(WORK) else None)
app = os.path.join(base, "app")
os.makedirs(app)
for f in ("uselib", "libcorpus.so"):
    shutil.copy2(os.path.join(corpus_dir(), f), os.path.join(app, f))
manifest = os.path.join(app, "manifest.json")


def limits():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


proc = subprocess.Popen([os.path.join(app, "uselib"), manifest], cwd=app,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, preexec_fn=limits,
                        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
try:
    deadline = time.time() + 20
    while not os.path.exists(manifest):
        if time.time() > deadline or proc.poll() is not None:
            raise Fatal("uselib did not write its manifest")
        time.sleep(0.01)
    time.sleep(0.3)            # every thread parked
    os.kill(proc.pid, signal.SIGABRT)
    proc.wait(60)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
cores = [f for f in os.listdir(app) if f == "core" or f.startswith("core.")]
if not cores:
    raise Fatal("no kernel core in %s" % app)
m = json.load(open(manifest))

sysroot = os.path.join(base, "sysroot")
moved = os.path.join(sysroot, app.lstrip("/"))
os.makedirs(os.path.dirname(moved))
shutil.move(app, moved)
core = os.path.join(moved, cores[0])
exe = os.path.join(moved, "uselib")
lib_path = os.path.join(app, "libcorpus.so")


def lib_module(info):
    for mod in info.get("modules", []):
        if mod.get("name", "").endswith("libcorpus.so"):
            return mod
    return None


def frame_names(info):
    return [f.get("function") for t in info.get("threads", []) for f in t.get("frames", [])]


with case("without --sysroot"):
    rc, out, err = cprof("info", core, exe, "--json")
    info = json.loads(out)
    mod = lib_module(info)
    check(mod is not None and mod.get("status") == "missing",
          "libcorpus.so is a missing module (%s)" % (mod and mod.get("status")))
    check(any("libcorpus.so" in l and "warning" in l for l in stderr_lines(err)),
          "a warning names libcorpus.so")
    check("corpus_lib_park" not in frame_names(info), "its functions have no names")

with case("with --sysroot"):
    info = cprof("info", core, exe, "--sysroot", sysroot, "--json", json=True)
    mod = lib_module(info)
    check(mod is not None and mod.get("status") == "ok",
          "libcorpus.so is found under the sysroot (%s)" % (mod and mod.get("status")))
    check("corpus_lib_park" in frame_names(info), "the backtraces name corpus_lib_park")
    sym = [s for s in m.get("symbols", []) if s["name"] == "corpus_lib_park"]
    if check(bool(sym), "the manifest has corpus_lib_park's address"):
        a = parse_addr(sym[0]["addr"])
        r = cprof("read", core, exe, "%#x" % a, "16", "--sysroot", sysroot, "--json", json=True)
        check(r.get("bytes") is not None, "its code reads (%s)" % r.get("error"))
        check(all(s["source"] == "file" for s in r.get("sources", [])),
              "from the file under the sysroot (%s)" % r.get("sources"))

with case("files missing under a sysroot: a line each, or one for many"):
    # uselib: libc and ld.so are not under the sysroot, a line each
    rc, out, err = cprof("info", core, exe, "--sysroot", sysroot, "--json")
    lines = [l for l in stderr_lines(err) if "not found under sysroot" in l]
    check(len(lines) == 2 and all(": not found under sysroot" in l for l in lines),
          "uselib: a warning for each of its two missing files: %s" % lines)
    # allocator with jemalloc preloaded (libjemalloc, libstdc++, libm,
    # libgcc_s, libc, ld.so) under an empty sysroot: one warning counts them
    # and names the first few (a new user's sysroot with one library got a
    # line per missing file); info lists each
    empty = os.path.join(base, "empty-sysroot")
    os.makedirs(empty)
    PROGRAM_ENV["allocator-t0120"] = {"LD_PRELOAD": "libjemalloc.so.2"}
    c = corpus_core("allocator-t0120", exe=require_corpus_program("allocator"))
    rc, out, err = cprof("info", c.core, c.exe, "--sysroot", empty, "--json")
    info = json.loads(out)
    missing = [mod for mod in info.get("modules", []) if mod.get("status") == "missing"
               and mod.get("name") != "[vdso]"]
    lines = [l for l in stderr_lines(err) if "under sysroot" in l]
    check(len(missing) > 3, "allocator: more than three files are missing (%d)" % len(missing))
    check_eq(len(lines), 1, "allocator: one warning for them: %s" % lines[:3])
    check(any(("%d files the core names were not found under sysroot" % len(missing)) in l
              for l in lines), "it counts them (%d): %s" % (len(missing), lines[:1]))

shutil.rmtree(base, ignore_errors=True)
finish()
