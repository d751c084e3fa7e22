#!/usr/bin/env python3
"""t0520: the `cprof-core leaks` command: text output, --min-bytes, --json, errors.

On the core of `leaks all` (corpus/leaks.c: 12 leak roots of 24 to 2056 bytes,
holding 40 bytes to 2.01 KiB), after `cprof-core analyze --db DB`:
  - text: every leak root (of `leaks --json`) on exactly one line, naming its address,
    in the JSON's order (biggest holds first), and no other line names a leaked
    chunk's address as a root; the size and holds columns are right-aligned: on every
    root line the size (decimal, or as cprof-core prints bytes: "2.01 KiB") ends at the
    same character position, and so does holds_bytes;
  - --min-bytes N keeps exactly the roots holding N bytes or more (JSON and text),
    in the same order, with the same summary;
  - --json has the shape of formats/leaks.json.md: version 1, db, summary.{direct,
    indirect, reachable, interior_only}.{count, bytes}, leaks[] with id, addr, size,
    holds_count, holds_bytes, first_bytes (the chunk's first min(32, size) bytes, as
    the core holds them), text (those bytes, '.' for unprintable ones) and pointers
    ({offset, value, symbol} for words pointing into a module: the tree root's
    g_tree_ops at offset 0, shared A's and B's shared_visit at offset 8; no other
    root has one; never a heap address);
  - `path` on a leaked chunk: from its leak root through leaked chunks, as the
    program links them (list[0] to list[k], the ring from its lowest-addressed node,
    A or B then C then D with --all), in JSON (root_kind "leaked") and text;
  - `--by size` gathers the leak roots by size (count, bytes, what they hold, an
    example), as the program's record adds them up, biggest holdings first;
    `--by type` puts the untyped ones in one group; `--by stack` is refused;
  - `show`: a pointer into a chunk's middle says where it lands (S1 + 16 = I2 + 48),
    among the pointers out of S1 and the pointers into I2;
  - a missing database: exit status 1, nothing on stdout, one line on stderr naming it;
  - `leaks --help`: exit status 0, the options described.
"""
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cprof_test import *  # noqa: E402,F401,F403

SUMMARY_KEYS = ("direct", "indirect", "reachable", "interior_only")
LEAK_KEYS = ("id", "addr", "size", "holds_count", "holds_bytes", "first_bytes", "text",
             "pointers")


def is_hex_addr(v):
    return isinstance(v, str) and re.fullmatch(r"0x[0-9a-f]+", v) is not None


def renderings(n):
    return {str(n), fmt_bytes(n)}


def ends_of(line, n):
    """End positions of tokens of LINE that print the number N."""
    out = set()
    for r in renderings(n):
        for mm in re.finditer(r"(?<![\w.])" + re.escape(r) + r"(?![\w.])", line):
            out.add(mm.end())
    return out


def root_lines(text, roots):
    """{addr: [indexes of the lines naming it]} for every root address."""
    lines = text.splitlines()
    found = {}
    for a in roots:
        pat = re.compile(r"0x0*%x(?![0-9a-fA-F])" % a)
        found[a] = [i for i, l in enumerate(lines) if pat.search(l)]
    return lines, found


def check_text(text, leaks, what):
    roots = [parse_addr(l["addr"]) for l in leaks]
    lines, found = root_lines(text, roots)
    bad = {"%#x" % a: v for a, v in found.items() if len(v) != 1}
    check(not bad, "%s: each leak root's address on exactly one line (not: %s)" % (what, bad))
    if bad:
        return
    order = [found[a][0] for a in roots]
    check(order == sorted(order), "%s: root lines in the JSON's order (biggest holds first)" % what)
    rows = [(lines[found[parse_addr(l["addr"])][0]], l) for l in leaks]
    for col in ("size", "holds_bytes"):
        common = None
        for line, l in rows:
            e = ends_of(line, l[col])
            common = e if common is None else common & e
        check(bool(common), "%s: the %s column is right-aligned: one position where every "
              "root line's %s ends (lines: %s)"
              % (what, col, col, [r[0] for r in rows][:4]))


def check_json_shape(j, db, c):
    check_eq(j.get("version"), 1, "version")
    check(isinstance(j.get("db"), str) and os.path.basename(j["db"]) == os.path.basename(db),
          "db names the database (%r)" % j.get("db"))
    sm = j.get("summary")
    check(isinstance(sm, dict) and all(
        isinstance(sm.get(k), dict) and isinstance(sm[k].get("count"), int) and
        isinstance(sm[k].get("bytes"), int) for k in SUMMARY_KEYS),
        "summary.{%s}.{count, bytes} are numbers" % ", ".join(SUMMARY_KEYS))
    leaks = j.get("leaks")
    if not isinstance(leaks, list) or not leaks:
        fail("leaks is not a non-empty list")
    check_eq(len(leaks), sm["direct"]["count"], "one leaks[] entry per direct leak")
    blocks = {parse_addr(b["addr"]): b for b in c.manifest["blocks"]}
    heap = [(parse_addr(b["addr"]), parse_addr(b["addr"]) + b["size"]) for b in c.manifest["blocks"]]
    sym = {o["name"]: parse_addr(o["addr"]) for o in c.manifest["symbols"] + c.manifest["globals"]}
    core = Elf(c.core)
    bad = []
    ids = set()
    for l in leaks:
        missing = [k for k in LEAK_KEYS if k not in l]
        if missing:
            bad.append("%s lacks %s" % (l.get("addr"), missing))
            continue
        if not (isinstance(l["id"], int) and is_hex_addr(l["addr"]) and
                all(isinstance(l[k], int) for k in ("size", "holds_count", "holds_bytes")) and
                isinstance(l["first_bytes"], str) and isinstance(l["text"], str) and
                isinstance(l["pointers"], list)):
            bad.append("%s: field types %s" % (l["addr"], {k: type(l[k]).__name__ for k in LEAK_KEYS}))
            continue
        ids.add(l["id"])
        a = parse_addr(l["addr"])
        b = blocks.get(a)
        n = min(32, l["size"])
        data, _ = reference_read(core, a, n)
        if data is None or l["first_bytes"] != data.hex():
            bad.append("%s: first_bytes %r, the core holds %r" % (l["addr"], l["first_bytes"],
                                                                  data.hex() if data else None))
        elif l["text"] != "".join(chr(x) if 0x20 <= x < 0x7f else "." for x in data):
            bad.append("%s: text %r does not match first_bytes" % (l["addr"], l["text"]))
        want = []
        if b and b["group"] == "tree":
            want = [(0, sym["g_tree_ops"], "g_tree_ops")]
        elif b and b["group"] == "shared":
            want = [(8, sym["shared_visit"], "shared_visit")]
        got = []
        for p in l["pointers"]:
            if not (isinstance(p, dict) and isinstance(p.get("offset"), int) and
                    is_hex_addr(p.get("value")) and isinstance(p.get("symbol"), str)):
                bad.append("%s: pointer entry %r" % (l["addr"], p))
                continue
            v = parse_addr(p["value"])
            if any(lo <= v < hi for lo, hi in heap):
                bad.append("%s: pointers[] names a heap address %s" % (l["addr"], p))
            got.append((p["offset"], v, p["symbol"]))
        ok = len(got) == len(want) and all(
            g[0] == w[0] and g[1] == w[1] and w[2] in g[2] for g, w in zip(got, want))
        if not ok:
            bad.append("%s (%s): pointers %s, expected %s" % (l["addr"], b and b["name"], got, want))
    check_eq(len(ids), len(leaks), "leaks[].id are distinct")
    check(not bad, "leaks[] entries as formats/leaks.json.md says (%d wrong: %s)"
          % (len(bad), bad[:4]))


with case("all"):
    c = corpus_core("leaks", ("all",))
    db = os.path.join(c.dir, "%s.db" % TEST_NAME)
    cprof("analyze", c.core, c.exe, "--db", db)
    j = cprof("leaks", "--db", db, "--json", json=True)
    check_json_shape(j, db, c)
    leaks = j["leaks"]

    with case("text"):
        rc, out, err = cprof("leaks", "--db", db)
        check_eq(stderr_lines(err), [], "nothing on stderr")
        check_text(out, leaks, "leaks")
        leaked = [parse_addr(b["addr"]) for b in c.manifest["blocks"] if b["expect"] == "indirect"]
        _, f = root_lines(out, leaked)
        check(not any(f.values()), "no line names an indirect chunk as a root (%s)"
              % ["%#x" % a for a, v in f.items() if v][:4])

    with case("min-bytes"):
        holds = sorted({l["holds_bytes"] for l in leaks})
        for n in (holds[len(holds) // 2], holds[-1], holds[-1] + 1, 0):
            jf = cprof("leaks", "--db", db, "--json", "--min-bytes", n, json=True)
            want = [l for l in leaks if l["holds_bytes"] >= n]
            check_eq([l.get("addr") for l in jf.get("leaks", [])], [l["addr"] for l in want],
                     "--min-bytes %d --json: the roots holding %d bytes or more" % (n, n))
            check_eq(jf.get("summary"), j["summary"], "--min-bytes %d: the same summary" % n)
            rc, out, err = cprof("leaks", "--db", db, "--min-bytes", n)
            lines, found = root_lines(out, [parse_addr(l["addr"]) for l in leaks])
            shown = [l["addr"] for l in leaks if found[parse_addr(l["addr"])]]
            check_eq(shown, [l["addr"] for l in want],
                     "--min-bytes %d: text shows the roots holding %d bytes or more" % (n, n))
            if len(want) > 1:
                check_text(out, want, "--min-bytes %d" % n)

    with case("path from the leak root"):
        # A leaked object has no root slot: `path` shows the way to it from its leak
        # root through leaked memory, which the program records: its list links each
        # node at +0, its ring links node i to i+1 (the lowest address leads), and
        # shared A and B each point at C, which points at D.
        addr = {b["name"]: parse_addr(b["addr"]) for b in c.manifest["blocks"]}

        def way(target, n_all=None):
            args = ["path", "--db", db, "%#x" % target, "--json"]
            if n_all:
                args += ["--all", str(n_all)]
            got = cprof(*args, json=True)
            paths = got if n_all else [got]
            return [([parse_addr(s["addr"]) for s in p["path"]], p) for p in paths]

        for k in (0, 4, 9):
            (got, p), = way(addr["list[%d]" % k])
            check_eq(got, [addr["list[%d]" % i] for i in range(k + 1)],
                     "path list[%d]: list[0] (the leak root) to list[%d]" % (k, k))
            check(p["root_kind"] == "leaked" and parse_addr(p["slot"]) == addr["list[0]"]
                  and all(s.get("pointer_at") == 0 for s in p["path"][:-1]),
                  "path list[%d]: from the leak root, each step's pointer at +0 (%s)" % (k, p))
        ring = [addr["ring[%d]" % i] for i in range(5)]
        low = ring.index(min(ring))
        for i in range(5):
            (got, _), = way(ring[i])
            want = [ring[(low + s) % 5] for s in range((i - low) % 5 + 1)]
            check_eq(got, want, "path ring[%d]: from the ring's leader ring[%d]" % (i, low))
        got = way(addr["D"], 5)
        check_eq(sorted(g for g, _ in got),
                 sorted([[addr[x], addr["C"], addr["D"]] for x in ("A", "B")]),
                 "path D --all 5: one path from each leak root holding it, A and B")
        rc, out, err = cprof("path", "--db", db, "%#x" % addr["list[2]"])
        lines = out.splitlines()
        check(len(lines) == 4 and lines[0].startswith("leak root (no root reaches it")
              and all(("at %#x:" % addr["list[%d]" % i]) in lines[i + 1] for i in range(3)),
              "path list[2] (text): the leak root line, then list[0..2]:\n%s" % out)

    with case("--by size: the leak roots gathered"):
        # the program's record: each direct block's usable size and what it holds
        want = {}
        for b in c.manifest["blocks"]:
            if b["expect"] == "direct":
                g = want.setdefault(b["size"], [0, 0, 0, 0])
                g[0] += 1
                g[1] += b["size"]
                g[2] += b["holds_count"]
                g[3] += b["holds_bytes"]
        jg = cprof("leaks", "--db", db, "--by", "size", "--json", json=True)
        got = {g["size"]: [g["roots"], g["bytes"], g["holds_count"], g["holds_bytes"]]
               for g in jg.get("groups", [])}
        check_eq(got, want, "leaks --by size: roots, bytes and holdings per size")
        check_eq([g["holds_bytes"] for g in jg["groups"]],
                 sorted((g["holds_bytes"] for g in jg["groups"]), reverse=True),
                 "--by size: the groups holding the most first")
        check(all(parse_addr(g["example_addr"]) in
                  {parse_addr(b["addr"]) for b in c.manifest["blocks"]
                   if b["expect"] == "direct" and b["size"] == g["size"]} for g in jg["groups"]),
              "--by size: each example is a leak root of its size")
        check_eq(jg.get("by"), "size", "--by size --json: by")
        rc, out, err = cprof("leaks", "--db", db, "--by", "size", "--limit", "2")
        rows = [l for l in out.splitlines() if re.match(r"^ +\d+ +[\d.]+ (B|KiB) ", l)]
        check(len(rows) == 2 and ("(2 of %d groups shown)" % len(want)) in out,
              "--by size --limit 2 (text): two group rows, and says so:\n%s" % out)
        jt = cprof("leaks", "--db", db, "--by", "type", "--json", json=True)
        check_eq([(g["type"], g["roots"]) for g in jt["groups"]],
                 [(None, sum(v[0] for v in want.values()))],
                 "--by type: leaks.c's blocks have no type: one group of every root")
        rc, out, err = cprof("leaks", "--db", db, "--by", "stack", expect_rc=2)
        check("--by takes type or size" in err, "--by stack: refused (%s)" % err.strip())

    with case("path on a free chunk says it is free"):
        # a PostgreSQL trial: "reached from no root", as if it were lost
        import sqlite3
        free = sqlite3.connect(db).execute(
            "SELECT addr FROM object WHERE state = 'free' LIMIT 1").fetchone()[0]
        rc, out, err = cprof("path", "--db", db, "%#x" % free, expect_rc=1)
        check("(it is free: no program's object" in err, "path on a free chunk: %s" % err.strip())

    with case("show: where an interior pointer lands"):
        # the program's record: S1 + 16 holds I2 + 48
        s1, i2 = addr["S1"], addr["I2"]
        _, out, _ = cprof("show", "--db", db, "%#x" % s1)
        check(re.search(r"^  \+0x10 +-> object \d+ at %#x \+0x30 \(" % i2, out, re.M),
              "show S1: its pointer at +0x10 lands at I2 +0x30:\n%s" % out)
        _, out, _ = cprof("show", "--db", db, "%#x" % i2)
        check(re.search(r"^  object \d+ at %#x \+0x10 \(.*\) -> \+0x30$" % s1, out, re.M),
              "show I2: pointed to from S1 +0x10, landing at +0x30:\n%s" % out)

    with case("histogram --by site on glibc: why there are no sites"):
        # a MariaDB trial: the line spoke of Go and jemalloc only
        _, out, _ = cprof("histogram", "--db", db, "--by", "site")
        check("glibc's malloc keeps none" in out and "analyze --profile FILE" in out,
              "histogram --by site says glibc keeps no records and how to get them:\n%s"
              % out[-400:])

    with case("roots --type: untyped objects said"):
        # leaks.c's blocks have no type (void * globals): a type query that finds
        # nothing says how many reachable objects no pattern can match.
        import sqlite3
        n, b = sqlite3.connect(db).execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM object"
            " WHERE reachable = 1 AND type_id IS NULL").fetchone()
        rc, out, err = cprof("roots", "--db", db, "--type", "node")
        check(n > 0 and ("(%d reachable objects, " % n) in out and "have no type" in out,
              "roots --type node: says %d reachable objects have no type:\n%s" % (n, out))

INTRUSIVE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct link { struct link *next; };
struct item { long key; char name[8]; struct link link; char pad[32]; };
struct link *g_items;     /* a list linked through a member inside each item */
int main(void) {
	struct link **at = &g_items;
	for (int i = 0; i < 100; i++) {
		struct item *it = calloc(1, sizeof *it);
		it->key = i;
		*at = &it->link;
		at = &it->link.next;
	}
	printf("%zu\n", __builtin_offsetof(struct item, link));
	fflush(stdout);
	for (;;)
		pause();
}
"""

with case("possibly lost by layout: where the pointers enter"):
    # A Varnish trial: 90% of a healthy cache was "possibly lost" (reached only
    # through interior pointers), with no word that every one is entered at the
    # same member.  100 items linked through a member at +0x10: the leak report
    # (the summary's from memory and leaks' from cprof.db) says the pointers
    # between them enter them there.
    idir = os.path.join(WORK, "t0520-intrusive")
    iexe = build_c_program(idir, "intrusive", INTRUSIVE)
    words, icore = run_and_dump(iexe, idir, "intrusive")
    idb = os.path.join(idir, "intrusive.db")
    _, summary, _ = cprof("analyze", icore, iexe, "--db", idb)
    _, text, _ = cprof("leaks", "--db", idb)
    # 99 links between items (the global's pointer to the first is a root slot's)
    want = "99 of the 99 pointers into them enter at +0x%x (99):" % int(words[0])
    check(want in summary and want in text, "%r in the summary and in leaks:\n%s" % (want, text))
    j = cprof("leaks", "--db", idb, "--json", json=True)
    check_eq(j.get("interior_entry"),
             {"pointers": 99, "offsets": [{"offset": int(words[0]), "pointers": 99}]},
             "leaks --json: interior_entry")
    _, text, _ = cprof("leaks", "--db", db)
    check("pointers into them enter at" not in text,
          "leaks.c's few interior-only chunks, entered at different places: no such line")

with case("missing-db"):
    missing = os.path.join(WORK, "t0520-no-such-dir", "cprof.db")
    rc, out, err = cprof("leaks", "--db", missing, expect_rc=1)
    check_eq(out, "", "nothing on stdout")
    lines = stderr_lines(err)
    check(len(lines) == 1 and missing in lines[0],
          "one line on stderr naming %s (got %s)" % (missing, lines))
    rc, out, err = cprof("leaks", "--db", missing, "--json", expect_rc=1)
    check(len(stderr_lines(err)) == 1, "--json: one line on stderr too (got %s)" % stderr_lines(err))

with case("help"):
    rc, out, err = cprof("leaks", "--help")
    for opt in ("--db", "--min-bytes", "--json"):
        check(opt in out, "leaks --help describes %s" % opt)
finish()
