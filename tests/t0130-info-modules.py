#!/usr/bin/env python3
"""t0130: the modules are the ones the dynamic linker loaded, not every ELF file mapped.

phantom/<placement>/<dumper> (corpus/phantom.c, placements libc and heap, kernel and
gcore cores): the program maps the first page of libphantom.so (read-only, from offset
0: the core holds its ELF header; its program headers span 32 MiB) right below libc,
or right below the mapping of a leaked 1 MiB chunk, and records dl_iterate_phdr's list.
  - `info --json` lists exactly dl_iterate_phdr's modules: the same load biases, the
    same ranges (the first PT_LOAD's page to the end of the last), the same names
    (file names: the executable's as it was run, the vdso linux-vdso.so.1), the same
    files, each with status ok;
    every one from the link map but the vdso (auxv);
  - no module holds the page libphantom.so is mapped on, and none holds the leaked
    chunk;
  - `analyze`: the leak summary equals valgrind's on the same program (definitely ==
    direct, indirectly == indirect: blocks and requested bytes) and the manifest's
    blocks (addresses and usable sizes), and the leak root is the manifest's chunk A.
gdb/own-core: gdb runs a corpus program to a breakpoint, and its Python maps the first
page of libphantom.so and of libc.so.6 (private, read-only: ELF files mapped, not
loaded, as symbolizers do); gcore dumps gdb itself.  gdb reading that core
(`info sharedlibrary`, from the link map) is the oracle:
  - every shared object gdb lists is a module of `info` at the place gdb says (its
    .text inside the module's range), and every module is one of those, the
    executable (/usr/bin/gdb) or the vdso; each ends where its file's PT_LOADs end;
  - the two pages Python mapped are in the core (NT_FILE, from offset 0, ELF headers
    in the core's bytes) and are not modules; nor is any other ELF file mapped from
    offset 0 that gdb does not list;
  - `analyze` of gdb's core walks glibc's heap (used chunks > 0).
phantom/<placement>/unreadable-link-map: the same core with r_debug.r_map pointing
nowhere (edited in a copy): a warning says the modules are guessed from the mapped ELF
files (one only mapped may be listed); libc is such a module ("mapped", ok); the
leaked chunk is in no module and the leaks still equal valgrind's.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403


def realpath(p):
    return os.path.realpath(p) if p else p


def modules_of(info):
    return info.get("modules") or []


def check_dl_modules(c, info):
    """info's modules == the manifest's dl_iterate_phdr list."""
    m = c.manifest
    mods = modules_of(info)
    by_start = {parse_addr(x["start"]): x for x in mods}
    check_eq(len(mods), len(m["dl_modules"]),
             "number of modules (info: %s; dl_iterate_phdr: %s)"
             % ([x.get("name") for x in mods], [d["name"] for d in m["dl_modules"]]))
    for d in m["dl_modules"]:
        start, end, bias = parse_addr(d["start"]), parse_addr(d["end"]), parse_addr(d["load_bias"])
        name = d["name"] or m["exe"]
        x = by_start.get(start)
        if not check(x is not None, "a module starts at %#x (%s); modules: %s"
                     % (start, name, [(x.get("name"), x.get("start")) for x in mods])):
            continue
        check_eq(parse_addr(x["end"]), end, "end of module %s" % name)
        check_eq(parse_addr(x.get("load_bias", "0x1")), bias, "load bias of module %s" % name)
        check_eq(x.get("status"), "ok", "status of module %s" % name)
        check_eq(x.get("name"), os.path.basename(name), "name of the module at %#x" % start)
        if d["name"].startswith("/") or not d["name"]:
            check_eq(realpath(x.get("path")), realpath(name), "file of the module at %#x" % start)
            check_eq(x.get("source"), "link_map", "source of module %s" % name)
        else:
            check_eq(x.get("source"), "auxv", "source of module %s (the vdso)" % name)


def holder(info, addr):
    for x in modules_of(info):
        if parse_addr(x["start"]) <= addr < parse_addr(x["end"]):
            return x.get("name")
    return None


def check_phantom(c, vg):
    m = c.manifest
    info = cprof("info", c.core, c.exe, "--json", json=True)
    check_dl_modules(c, info)
    page = parse_addr(m["phantom"]["addr"])
    check_eq(holder(info, page), None, "module holding libphantom.so's page at %#x" % page)
    a = next(b for b in m["blocks"] if b["name"] == "A")
    check_eq(holder(info, parse_addr(a["addr"])), None, "module holding the leaked chunk A")

    db = os.path.join(c.dir, "t0130.db")
    remove_db(db)
    cprof("analyze", c.core, c.exe, "--db", db)
    j = cprof("leaks", "--db", db, "--json", json=True)
    s = j.get("summary") or {}
    direct, indirect = s.get("direct") or {}, s.get("indirect") or {}
    for cls, vkey in (("direct", "definitely"), ("indirect", "indirectly")):
        got = s.get(cls) or {}
        want = [b for b in m["blocks"] if b["expect"] == cls]
        check_eq(got.get("count"), vg[vkey][1], "%s leaks: count, valgrind's %s lost" % (cls, vkey))
        check_eq(got.get("count"), len(want), "%s leaks: count, the manifest's" % cls)
        check_eq(got.get("bytes"), sum(b["size"] for b in want),
                 "%s leaks: bytes, the manifest's usable sizes" % cls)
        check_eq(sum(b["request"] for b in want), vg[vkey][0],
                 "%s: the manifest's requests, valgrind's %s lost bytes" % (cls, vkey))
    roots = [parse_addr(x["addr"]) for x in j.get("leaks") or []]
    check_eq(roots, [parse_addr(a["addr"])], "leak roots: chunk A")
    reach = s.get("reachable") or {}
    check(reach.get("count", 0) >= 1, "R is reachable (reachable count %s)" % reach.get("count"))
    remove_db(db)


def r_debug_of(c, d):
    """The address of r_debug: the executable's DT_DEBUG, read from the core D (the
    executable's PT_DYNAMIC, from its file, at the manifest's load bias)."""
    bias = parse_addr(c.manifest["exe_load_bias"])
    dyn = next(p for p in Elf(c.exe).phdrs if p["type"] == 2)   # PT_DYNAMIC
    for i in range(dyn["memsz"] // 16):
        addr = bias + dyn["vaddr"] + 16 * i
        tag = d.read64(addr)
        if tag == 21:   # DT_DEBUG
            return d.read64(addr + 8)
        if tag == 0:
            break
    raise Abort("no DT_DEBUG in %s's dynamic section" % c.exe)


def check_unreadable_link_map(c, vg):
    """r_debug.r_map pointing nowhere: a warning says modules are guessed from the
    mapped ELF files; libc is still a module, and the leaks are still valgrind's (the
    guessed modules are clipped to their own files' mappings)."""
    d = Damaged(c, "t0130-r_map.core")
    try:
        r_debug = r_debug_of(c, d)
        check(r_debug != 0, "DT_DEBUG holds r_debug's address")
        d.write64(r_debug + 8, 0x10)                 # r_map
        rc, out, err = cprof("info", d.path, c.exe, "--json")
        check(warned(stderr_lines(err), "r_debug", "cannot be read", "only mapped"),
              "a warning says the link map cannot be read: %s" % stderr_lines(err))
        info = json.loads(out)
        libc = [m for m in modules_of(info) if m.get("name") == "libc.so.6"]
        check(len(libc) == 1 and libc[0].get("source") == "mapped" and
              libc[0].get("status") == "ok", "libc is a module guessed from the mappings (%s)" % libc)
        a = next(b for b in c.manifest["blocks"] if b["name"] == "A")
        check_eq(holder(info, parse_addr(a["addr"])), None, "module holding the leaked chunk A")
        db = os.path.join(c.dir, "t0130-r_map.db")
        remove_db(db)
        cprof("analyze", d.path, c.exe, "--db", db)
        s = cprof("leaks", "--db", db, "--json", json=True).get("summary") or {}
        check_eq(((s.get("direct") or {}).get("count"), (s.get("indirect") or {}).get("count")),
                 (vg["definitely"][1], vg["indirectly"][1]),
                 "direct and indirect leaks, valgrind's definitely and indirectly lost")
        remove_db(db)
    finally:
        os.unlink(d.path)


# ---------------------------------------------------------------------------
# gdb's own core

def gdb_sharedlibs(core):
    """[(from, to, path)] of `info sharedlibrary` when gdb reads CORE of gdb."""
    r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex",
                        "info sharedlibrary", shutil.which("gdb"), core],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    libs = []
    for line in out.splitlines():
        mm = re.match(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(?:Yes|No)(?: \(\*\))?\s+(/\S+)$", line)
        if mm:
            libs.append((int(mm.group(1), 16), int(mm.group(2), 16), mm.group(3)))
    return libs, out


def dump_gdb(tmp):
    """gdb runs corpus program threads to park_main; its Python maps two ELF pages.
    Returns (core, [(path, addr)] of the pages)."""
    exe = os.path.join(corpus_dir(), "threads")
    phantom = os.path.join(corpus_dir(), "libphantom.so")
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    pages = os.path.join(tmp, "pages.txt")
    script = os.path.join(tmp, "map.py")
    with open(script, "w") as f:
        f.write("import mmap, os\n"
                "maps = []\n"
                "with open(%r, 'w') as out:\n"
                "    for p in (%r, %r):\n"
                "        fd = os.open(p, os.O_RDONLY)\n"
                "        m = mmap.mmap(fd, 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)\n"
                "        maps.append(m)\n"
                "        out.write(p + '\\n')\n" % (pages, phantom, libc))
    ready = os.path.join(tmp, "ready")
    cmds = ("set pagination off\nset confirm off\nbreak park_main\n"
            "run %s\nsource %s\npython open(%r, 'w').close()\n"
            % (os.path.join(tmp, "manifest.json"), script, ready))
    proc = subprocess.Popen(["gdb", "-nx", "-q", exe], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=tmp, env=corpus_env("threads"))
    try:
        proc.stdin.write(cmds.encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not os.path.exists(ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Abort("gdb did not reach park_main and map the pages")
            time.sleep(0.05)
        mapped = []
        with open("/proc/%d/maps" % proc.pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[2] == "00000000" and \
                        realpath(parts[5]) in (realpath(phantom), realpath(libc)) \
                        and parts[1].startswith("r--p"):
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    if hi - lo == 4096:
                        mapped.append((parts[5], lo))
        prefix = os.path.join(tmp, "gdbcore")
        r = subprocess.run(["gcore", "-o", prefix, str(proc.pid)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        core = "%s.%d" % (prefix, proc.pid)
        if r.returncode != 0 or not os.path.exists(core):
            raise Abort("gcore of gdb failed: %s" % r.stdout.decode("utf-8", "replace")[-2000:])
        return core, mapped
    finally:
        # gdb's inferior (its child) dies with it: killed by pid first
        children = []
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                children = [int(x) for x in f.read().split()]
        except OSError:
            pass
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.stdin.close()
        except OSError:
            pass
        proc.kill()
        proc.wait()


def check_gdb_core(tmp):
    core, mapped = dump_gdb(tmp)
    gdb = os.path.realpath(shutil.which("gdb"))
    check_eq(sorted(realpath(p) for p, _ in mapped),
             sorted(realpath(p) for p in (os.path.join(corpus_dir(), "libphantom.so"),
                                          "/lib/x86_64-linux-gnu/libc.so.6")),
             "gdb's Python mapped one page of libphantom.so and of libc.so.6")
    info = cprof("info", core, gdb, "--json", json=True)
    mods = modules_of(info)
    libs, out = gdb_sharedlibs(core)
    if not check(len(libs) >= 5, "gdb lists the shared objects of its own core (%d):\n%s"
                 % (len(libs), out[-2000:])):
        return
    matched = set()
    for lo, hi, path in libs:
        x = [m for m in mods if parse_addr(m["start"]) <= lo < parse_addr(m["end"])]
        if check(len(x) == 1, "a module holds %s's text at %#x (gdb)" % (path, lo)):
            check_eq(realpath(x[0].get("path")), realpath(path), "file of the module at %#x" % lo)
            check_eq(x[0].get("status"), "ok", "status of %s" % path)
            matched.add(x[0]["start"])
    # every module spans its file's PT_LOADs, .bss included (nothing clipped away:
    # the kernel merges a .bss with the anonymous mapping after it)
    for m in mods:
        if m.get("path") and m.get("status") == "ok":
            loads = Elf(m["path"]).loads
            end = parse_addr(m["load_bias"]) + max(p["vaddr"] + p["memsz"] for p in loads)
            check_eq(parse_addr(m["end"]), end, "end of module %s (its PT_LOADs)" % m["name"])
    for m in mods:
        if m["start"] in matched:
            continue
        what = m.get("name")
        check(realpath(m.get("path")) == gdb or m.get("source") == "auxv",
              "module %s at %s is one of gdb's shared objects, the executable or the vdso"
              % (what, m["start"]))
    # ELF files mapped from offset 0 that gdb does not list: not modules
    e = Elf(core)
    listed = {realpath(p) for _, _, p in libs} | {gdb}
    only_mapped = []
    for start, end, off, path in e.core_files():
        if off != 0 or (realpath(path) in listed and (path, start) not in mapped):
            continue
        head, src = reference_read(e, start, 4)
        if head == b"\x7fELF" and all(s == "core" for _, _, s in src):
            only_mapped.append((path, start))
    for page in mapped:
        check(page in only_mapped, "the page %s at %#x is in the core with its ELF header"
              % page)
    for path, start in only_mapped:
        check_eq(holder(info, start), None, "module holding %s mapped at %#x" % (path, start))
    db = os.path.join(tmp, "gdb.db")
    cprof("analyze", core, gdb, "--db", db, timeout=600)
    j = cprof("leaks", "--db", db, "--json", json=True)
    s = j.get("summary") or {}
    used = sum((s.get(k) or {}).get("count", 0) for k in ("direct", "indirect", "reachable"))
    check(used > 1000, "glibc's heap of gdb was walked (%d used chunks)" % used)


def main():
    cprof_path()
    dumpers = all_dumpers()
    for placement in ("libc", "heap"):
        with case("phantom/%s/oracle" % placement):
            vg = valgrind_leaks("phantom", (placement,))
            check_eq({k: vg[k] for k in ("definitely", "indirectly")},
                     {k: (vg.manifest["expect_valgrind"][k]["bytes"],
                          vg.manifest["expect_valgrind"][k]["count"])
                      for k in ("definitely", "indirectly")},
                     "valgrind's leaks, what its run's manifest predicts")
        for d in dumpers:
            with case("phantom/%s/%s" % (placement, d)):
                check_phantom(corpus_core("phantom", (placement,), dumper=d), vg)
        with case("phantom/%s/unreadable-link-map" % placement):
            check_unreadable_link_map(corpus_core("phantom", (placement,), dumper=dumpers[0]), vg)
    with case("gdb/own-core"):
        require_tool("gdb")
        require_tool("gcore")
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "python print(6 * 7)"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if b"42" not in r.stdout:
            skip("gdb has no Python (it maps the pages in gdb's own process)")
        with scratch("t0130") as tmp:
            check_gdb_core(tmp)
    finish()


main()
