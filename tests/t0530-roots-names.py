#!/usr/bin/env python3
"""t0530: every root slot has a name a user understands.

On the leaks corpus program (scenario `all`), the blocks that only a root keeps alive
must be reached from a root_ref whose slot_name says where the pointer is:
  - a local of a worker thread's function: "thread TID frame N worker_stack (leaks.c:L)";
  - a __thread variable: "thread TID tls leaks!t_keep+0x0" (main thread and a worker);
  - a register: "thread TID register r12";
  - globals: "leaks!g_bss_ptr+0x0", "leaks!g_data_holder+0x8" (a struct field),
    "libcorpus.so!corpus_lib_keep+0x0" (a shared library's .bss);
  - each thread's DTV: "thread TID tcb dtv".
and the root table names each root after its thread or module; ld.so's globals run
to the end of its last data page (its early allocator's memory), no mapping root there.
"""
import os
import re
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

c = corpus_core("leaks", ("all",))
db = os.path.join(c.dir, "t0530.db")
cprof("analyze", c.core, c.exe, "--db", db)
con = sqlite3.connect(db)
names = {}
for addr, name in con.execute(
        "SELECT o.addr, r.slot_name FROM root_ref r JOIN object o ON o.id = r.dst"):
    names.setdefault(addr, []).append(name)

blocks = {b["name"]: b for b in c.manifest["blocks"]}
tid = {b["name"]: b["tid"] for b in c.manifest["blocks"]}


def expect(block, pattern):
    b = blocks.get(block)
    if not check(b is not None, "the manifest has block %r" % block):
        return
    got = names.get(parse_addr(b["addr"]), [])
    check(any(re.fullmatch(pattern, n) for n in got),
          "block %s (%s) is named %r by a root slot (got %s)" % (block, b["via"], pattern, got))


expect("kept", r"thread %d frame \d+ worker_stack \(leaks\.c:\d+\)" % tid["kept"])
expect("t_keep[main]", r"thread %d tls leaks!t_keep\+0x0" % tid["t_keep[main]"])
expect("t_keep[worker]", r"thread %d tls leaks!t_keep\+0x0" % tid["t_keep[worker]"])
expect("R", r"thread %d register r12" % tid["R"])
expect("bss[0]", r"leaks!g_bss_ptr\+0x0")
expect("data", r"leaks!g_data_holder\+0x8")
expect("lib", r"libcorpus\.so!corpus_lib_keep\+0x0")

dtv = [n for ns in names.values() for n in ns if n.endswith("tcb dtv")]
check_eq(len(dtv), len(c.manifest["threads"]) - 1,
         "one 'tcb dtv' slot per thread the program created")

roots = list(con.execute("SELECT kind, name FROM root"))
for t in c.manifest["threads"]:
    for kind in ("registers", "stack", "tls"):
        check(("%s" % kind, "thread %d %s" % (t["tid"], kind)) in roots,
              "a %s root for thread %d" % (kind, t["tid"]))
check(any(k == "globals" and n.startswith("libcorpus.so") for k, n in roots),
      "a globals root for libcorpus.so")
# The rest of a module's last data page past its _end is the module's (ld.so's
# early allocator puts its objects there: a PostgreSQL trial's "unowned" 408
# bytes were held from it), not anonymous memory nobody owns.
mod_end, = con.execute("SELECT end FROM module WHERE name LIKE 'ld-linux%'").fetchone()
page_end = con.execute("SELECT end FROM mapping WHERE start < ? AND end > ?",
                       (mod_end, mod_end)).fetchone()
ld = con.execute("SELECT max(r.end) FROM root r JOIN module m ON m.id = r.module_id"
                 " WHERE r.kind = 'globals' AND m.name LIKE 'ld-linux%'").fetchone()[0]
tail = con.execute("SELECT count(*) FROM root WHERE kind = 'mapping' AND start = ?",
                   (mod_end,)).fetchone()[0]
check(page_end and ld == page_end[0] and not tail,
      "ld.so's globals root runs to the end of its last data page (%#x), no mapping root"
      " starts at its _end (%#x)" % (page_end[0] if page_end else 0, mod_end))
con.close()
finish()
