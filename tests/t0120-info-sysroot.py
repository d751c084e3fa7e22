#!/usr/bin/env python3
"""t0120: a core from "another machine": its files found under --sysroot.

The uselib corpus program (with its own libcorpus.so) is copied to a fresh directory
and run from there; after the dump the directory is moved under a sysroot, so the
paths the core records no longer exist on this machine.
  - without --sysroot: libcorpus.so is "missing", with a warning naming it, and the
    analysis goes on (exit 0); the library's functions have no names in backtraces;
  - with --sysroot: libcorpus.so is found and "ok", the backtraces name
    corpus_lib_park, and its code (left out of a kernel core) reads from the file.
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

shutil.rmtree(base, ignore_errors=True)
finish()
