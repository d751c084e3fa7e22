"""cprof_test - the test harness of cprof-core (Python standard library only).

A test is a script tests/tNNNN-<cmd>-<detail>.py that does

    import os, sys
    sys.dont_write_bytecode = True   # no __pycache__ in the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    from cprof_test import *

    with case("threads"):              # an Abort inside fails this case only
        ...

Checks: check(cond, msg), check_eq(got, expected, msg) record a failure and go on;
fail(msg) stops the current case(); finish() prints the summary and exits.
cprof(...) fails the case on a crash, a hang, a sanitizer report or an
unexpected exit status.

    c = corpus_core("threads")                      # build, run, dump (cached)
    info = cprof("info", c.core, c.exe, "--json", json=True)
    check_eq(info["process"]["pid"], c.manifest["pid"], "pid")
    finish()

Leak oracles (corpus/leaks.c runs the check itself where it would park, then exits):
valgrind_leaks("leaks", ("list",)) -> {"definitely": (bytes, blocks), ...} from
valgrind memcheck, lsan_leaks("leaks", ("list",)) -> {"direct": (bytes, objects), ...}
from the program's LeakSanitizer build (leaks-lsan); both cached like the cores, with
.manifest, the manifest of that run.

Go programs (corpus/go, built only when `go` is on PATH): require_corpus_program(name)
skips when one was not built; they run with PROGRAM_ENV[name] (GOTRACEBACK=crash,
GOMAXPROCS=2) added to CORPUS_ENV; go_traceback(c) parses the runtime's crash report
of a kernel core (every goroutine with its g address and frames), go_heap_profile(path)
reads a pprof heap profile (goprofile writes one).

Environment:
  CPROF              path of the cprof-core binary (required by cprof())
  CPROF_SOURCE_ROOT  repository root (default: two levels above this file)
  CPROF_WORK         scratch directory (default: $CPROF_WORK_DEFAULT, which
                     tests/meson.build sets to BUILDDIR/tests/work; else
                     $TMPDIR/cprof-work). Cores are cached there.
  CPROF_CORPUS_BIN   an already-built corpus directory (default: build it with
                     corpus/build.sh into $CPROF_WORK/corpus-bin, under a file lock)
  CPROF_REQUIRE_ALL  "1": a test that would be skipped for a missing tool fails
  CPROF_VERBOSE      "1": print every passing check too
  CPROF_ASLR         "1": run the corpus programs with address space randomization
                     (default: without, so that addresses are the same on every run)

Exit status of a test (meson's convention): 0 passed, 1 failed, 77 skipped.
See corpus/README.md for the protocol between the corpus programs and this harness.
"""

import contextlib
import ctypes
import fcntl
import hashlib
import json as _json
import os
import re
import resource
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = [
    "SOURCE_ROOT", "WORK", "REQUIRE_ALL", "TEST_NAME",
    "Abort", "Fatal", "Elf", "ElfError", "CoreRun",
    "corpus_dir", "corpus_core", "available_dumpers", "all_dumpers", "require_tool", "skip",
    "build_c_program", "run_and_dump", "kernel_dump",
    "cprof", "cprof_path",
    "check", "check_eq", "fail", "warn", "note", "case", "finish",
    "is_subsequence", "normalize_function", "parse_addr",
    "gdb_backtraces", "eu_stack_backtraces", "reference_read",
    "stderr_lines", "crash_markers",
    "LeakReport", "valgrind_leaks", "valgrind_log_figures", "lsan_leaks", "fmt_bytes", "X86_64_REGS",
    "CORPUS_ENV", "GO_PROGRAMS", "PROGRAM_ENV", "corpus_env", "require_corpus_program",
    "go_traceback", "go_print_name", "check_go_traceback", "go_heap_profile",
    "check_go_types", "Damaged", "analyze_damaged",
    "warned", "dump_process", "go_tool", "pprof_raw", "go_pprof",
    "remove_db", "lines_with", "expect_error", "scratch",
]

# ---------------------------------------------------------------------------
# environment

SOURCE_ROOT = os.path.abspath(os.environ.get("CPROF_SOURCE_ROOT") or
                              os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WORK = os.path.abspath(os.environ.get("CPROF_WORK") or os.environ.get("CPROF_WORK_DEFAULT") or
                       os.path.join(tempfile.gettempdir(), "cprof-work"))
REQUIRE_ALL = os.environ.get("CPROF_REQUIRE_ALL", "") == "1"
VERBOSE = os.environ.get("CPROF_VERBOSE", "") == "1"
ASLR = os.environ.get("CPROF_ASLR", "") == "1"
TEST_NAME = os.path.splitext(os.path.basename(sys.argv[0] or "test"))[0]

SKIP_STATUS = 77

# The corpus programs run with this environment only: with ASLR off, their stack
# addresses depend on the environment's size, and must not depend on the caller's.
CORPUS_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

# The Go programs of the corpus (corpus/go; built only when `go` is on PATH).
GO_PROGRAMS = ("goblocks", "goblocks-nodwarf", "gogoroutines", "goprofile", "gocgo",
               "gofinal", "gotypes", "goshared", "gostatic", "gogrow")

# Environment added to CORPUS_ENV for some corpus programs, by name. The Go programs:
# GOTRACEBACK=crash - on SIGABRT the Go runtime prints every goroutine (with their
# g addresses, frames and registers: program.out), then dies of SIGABRT with the
# default action, so the kernel writes a core (with the default GOTRACEBACK it
# exits with status 2 and no core; the programs also call
# debug.SetTraceback("crash") themselves); GOMAXPROCS=2 - the same number of Ps
# (mcaches, GC workers, threads) whatever the machine's CPU count or cgroup limit.
PROGRAM_ENV = {name: {"GOTRACEBACK": "crash", "GOMAXPROCS": "2"} for name in GO_PROGRAMS}
# gogoroutines' main goroutine stays running in pause(2) (a raw system call): without
# asynchronous preemption, sysmon's preemption signal does not wake it every 10 ms,
# so the harness's SIGABRT always finds it there.
PROGRAM_ENV["gogoroutines"]["GODEBUG"] = "asyncpreemptoff=1"


def corpus_env(name, extra=None):
    """The environment corpus program NAME runs with: CORPUS_ENV, PROGRAM_ENV[NAME],
    then EXTRA."""
    env = dict(CORPUS_ENV)
    env.update(PROGRAM_ENV.get(os.path.basename(name), {}))
    env.update(extra or {})
    return env

# Markers of a sanitizer report or a crash message in a tool's stderr.
crash_markers = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                 "ThreadSanitizer", "MemorySanitizer", "runtime error:", "Segmentation fault",
                 "stack smashing detected", "double free", "malloc(): ", "free(): ")


def _say(msg):
    sys.stdout.write(msg + ("" if msg.endswith("\n") else "\n"))
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# checks

class Abort(Exception):
    """Stop the current case (or the test, outside case()) with a failure."""


class Unsettled(Abort):
    """The program changed after writing its manifest (a Go runtime started one
    more thread, which allocates its M): the manifest no longer describes the
    process, so the run is taken again rather than checked against it."""


class Fatal(Abort):
    """Stop the whole test with a failure: nothing else can work (e.g. no cprof-core)."""


_state = {"checks": 0, "failures": [], "warnings": 0, "case": None}


def _prefix():
    return "%s: " % _state["case"] if _state["case"] else ""


def check(cond, msg):
    """Record a check; on failure print `FAIL: msg` and go on. Returns bool(cond)."""
    _state["checks"] += 1
    if cond:
        if VERBOSE:
            _say("ok: %s%s" % (_prefix(), msg))
        return True
    full = _prefix() + msg
    _state["failures"].append(full)
    _say("FAIL: " + full)
    return False


def _short(v, limit=300):
    s = repr(v) if not isinstance(v, str) else '"%s"' % v
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def check_eq(got, expected, msg):
    """Check got == expected; the message says both."""
    return check(got == expected, "%s: expected %s, got %s" % (msg, _short(expected), _short(got)))


def fail(msg):
    """Record a failure and stop the current case."""
    raise Abort(msg)


def warn(msg):
    _state["warnings"] += 1
    _say("WARNING: " + _prefix() + msg)


def note(msg):
    _say(_prefix() + msg)


@contextlib.contextmanager
def case(name):
    """Run a block as a named case: an Abort inside it is recorded as a failure
    of that case and the test goes on with the next one. Fatal is not caught."""
    old = _state["case"]
    _state["case"] = name if not old else old + "/" + name
    _say("--- " + _state["case"])
    try:
        yield
    except Fatal:
        raise
    except Abort as e:
        check(False, str(e))
    except Exception:  # a bug in the test or an unexpected situation: keep going
        check(False, "unexpected exception:\n" + traceback.format_exc())
    finally:
        _state["case"] = old


def finish():
    """Print the summary and exit: 0 if every check passed, 1 otherwise."""
    n, f = _state["checks"], len(_state["failures"])
    if n == 0 and f == 0:
        _say("%s: FAIL: no check ran" % TEST_NAME)
        sys.exit(1)
    if f:
        _say("%s: %d of %d checks FAILED%s" % (TEST_NAME, f, n,
             ", %d warnings" % _state["warnings"] if _state["warnings"] else ""))
        for m in _state["failures"][:40]:
            _say("  - " + m.splitlines()[0][:300])
        if f > 40:
            _say("  ... and %d more" % (f - 40))
        sys.exit(1)
    _say("%s: all %d checks passed%s" % (TEST_NAME, n,
         ", %d warnings" % _state["warnings"] if _state["warnings"] else ""))
    sys.exit(0)


def skip(reason):
    """Skip the test (exit 77); under CPROF_REQUIRE_ALL=1, fail it instead."""
    if REQUIRE_ALL:
        _say("FAIL: %s: %s (CPROF_REQUIRE_ALL=1 forbids skipping)" % (TEST_NAME, reason))
        sys.exit(1)
    _say("SKIP: %s: %s" % (TEST_NAME, reason))
    sys.exit(SKIP_STATUS)


def require_tool(tool):
    """Skip the test if TOOL is not on PATH (fail under CPROF_REQUIRE_ALL=1).
    Returns the tool's path."""
    path = shutil.which(tool)
    if not path:
        skip("%s not installed" % tool)
    return path


def _excepthook(tp, value, tb):
    if isinstance(value, Abort):
        check(False, str(value))
        n, f = _state["checks"], len(_state["failures"])
        _say("%s: %d of %d checks FAILED" % (TEST_NAME, f, n))
        sys.stdout.flush()
        os._exit(1)
    sys.__excepthook__(tp, value, tb)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


sys.excepthook = _excepthook


# ---------------------------------------------------------------------------
# small helpers

def parse_addr(v):
    """'0x1f' / 31 -> 31."""
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return int(v, 16) if v.lower().startswith("0x") else int(v, 10)
    raise ValueError("not an address: %r" % (v,))


def is_subsequence(needles, hay):
    """True if NEEDLES appear in HAY in order (not necessarily adjacent)."""
    it = iter(hay)
    return all(any(n == h for h in it) for n in needles)


def normalize_function(name):
    """Compare libc function names across tools: '__GI___libc_read' -> 'read',
    'pause@GLIBC_2.2.5' -> 'pause', '__pthread_cond_wait' -> 'pthread_cond_wait'."""
    if not name:
        return ""
    n = name.split("@")[0]
    prev = None
    while n != prev:
        prev = n
        n = n.lstrip("_")
        for p in ("GI_", "libc_"):
            if n.startswith(p):
                n = n[len(p):]
    return n


def stderr_lines(err):
    return [l for l in err.splitlines() if l.strip()]


@contextlib.contextmanager
def _locked(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _atomic_write(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# a small ELF64 reader (little-endian x86-64 only; what the tests need)

class ElfError(Exception):
    pass


PT_LOAD, PT_NOTE = 1, 4
# struct user_regs_struct (x86-64), the pr_reg of NT_PRSTATUS, in order
X86_64_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
               "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
               "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
ET_EXEC, ET_DYN, ET_CORE = 2, 3, 4
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_SIGINFO, NT_FILE = 1, 3, 6, 0x53494749, 0x46494c45
NT_GNU_BUILD_ID = 3
NT_FPREGSET, NT_X86_XSTATE = 2, 0x202


class Elf:
    """Headers, notes, sections and symbols of an ELF64 LSB file."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        with open(path, "rb") as f:
            h = f.read(64)
        if len(h) < 64 or h[:4] != b"\x7fELF":
            raise ElfError("%s: not an ELF file" % path)
        self.ei_class, self.ei_data = h[4], h[5]
        if self.ei_class != 2 or self.ei_data != 1:
            raise ElfError("%s: not ELF64 little-endian" % path)
        (self.e_type, self.e_machine, _, self.e_entry, self.e_phoff, self.e_shoff, _,
         _, self.e_phentsize, self.e_phnum, self.e_shentsize, self.e_shnum,
         self.e_shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", h, 16)
        self.phdrs = []
        raw = self.read(self.e_phoff, self.e_phnum * self.e_phentsize)
        if len(raw) < self.e_phnum * self.e_phentsize:
            raise ElfError("%s: program headers truncated" % path)
        for i in range(self.e_phnum):
            (p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz,
             p_align) = struct.unpack_from("<IIQQQQQQ", raw, i * self.e_phentsize)
            self.phdrs.append(dict(type=p_type, flags=p_flags, offset=p_offset, vaddr=p_vaddr,
                                   filesz=p_filesz, memsz=p_memsz, align=p_align))
        self._sections = None
        self._symbols = None

    def read(self, off, n):
        with open(self.path, "rb") as f:
            f.seek(off)
            return f.read(n)

    @property
    def loads(self):
        return [p for p in self.phdrs if p["type"] == PT_LOAD]

    @property
    def phdrs_end(self):
        return self.e_phoff + self.e_phnum * self.e_phentsize

    def notes(self):
        """[(name, type, desc bytes, file offset of the note)] of every PT_NOTE."""
        out = []
        for p in self.phdrs:
            if p["type"] != PT_NOTE:
                continue
            data = self.read(p["offset"], p["filesz"])
            off = 0
            while off + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                name_off = off + 12
                desc_off = name_off + ((namesz + 3) & ~3)
                end = desc_off + ((descsz + 3) & ~3)
                if desc_off + descsz > len(data):
                    break
                name = data[name_off:name_off + namesz].rstrip(b"\0").decode("latin-1")
                out.append((name, ntype, data[desc_off:desc_off + descsz], p["offset"] + off))
                off = end
        return out

    def build_id(self):
        """The GNU build-id as lower-case hex, or None."""
        for name, ntype, desc, _ in self.notes():
            if name == "GNU" and ntype == NT_GNU_BUILD_ID:
                return desc.hex()
        for s in self.sections():
            if s["type"] == 7 and s["name"] == ".note.gnu.build-id":  # SHT_NOTE
                d = self.read(s["offset"], s["size"])
                namesz, descsz, _ = struct.unpack_from("<III", d, 0)
                o = 12 + ((namesz + 3) & ~3)
                return d[o:o + descsz].hex()
        return None

    def sections(self):
        if self._sections is None:
            self._sections = []
            if self.e_shoff and self.e_shnum:
                raw = self.read(self.e_shoff, self.e_shnum * self.e_shentsize)
                secs = []
                for i in range(self.e_shnum):
                    (name, stype, flags, addr, offset, size, link, info, _,
                     entsize) = struct.unpack_from("<IIQQQQIIQQ", raw, i * self.e_shentsize)
                    secs.append(dict(name_off=name, type=stype, flags=flags, addr=addr,
                                     offset=offset, size=size, link=link, entsize=entsize))
                strtab = b""
                if self.e_shstrndx < len(secs):
                    s = secs[self.e_shstrndx]
                    strtab = self.read(s["offset"], s["size"])
                for s in secs:
                    end = strtab.find(b"\0", s["name_off"])
                    s["name"] = strtab[s["name_off"]:end].decode("latin-1")
                self._sections = secs
        return self._sections

    def section_at(self, vaddr):
        """The allocated section holding link-time address VADDR, or None."""
        for s in self.sections():
            if s["flags"] & SHF_ALLOC and s["addr"] <= vaddr < s["addr"] + s["size"]:
                return s
        return None

    def symbols(self):
        """{name: [(value, size, type)]} from .symtab and .dynsym."""
        if self._symbols is None:
            self._symbols = {}
            secs = self.sections()
            for s in secs:
                if s["type"] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                    continue
                strs = self.read(secs[s["link"]]["offset"], secs[s["link"]]["size"])
                data = self.read(s["offset"], s["size"])
                for o in range(0, len(data) - 23, 24):
                    st_name, st_info, _, _, st_value, st_size = struct.unpack_from("<IBBHQQ", data, o)
                    if not st_name:
                        continue
                    name = strs[st_name:strs.find(b"\0", st_name)].decode("latin-1")
                    self._symbols.setdefault(name, []).append((st_value, st_size, st_info & 15))
        return self._symbols

    def vaddr_to_offset(self, vaddr):
        """File offset of link-time address VADDR (inside some PT_LOAD's p_filesz), or None."""
        for p in self.loads:
            if p["vaddr"] <= vaddr < p["vaddr"] + p["filesz"]:
                return p["offset"] + vaddr - p["vaddr"]
        return None

    # -- cores --------------------------------------------------------------

    def core_tids(self):
        """pr_pid of every NT_PRSTATUS note, in order."""
        return [struct.unpack_from("<i", d, 32)[0]
                for n, t, d, _ in self.notes() if t == NT_PRSTATUS and n == "CORE"]

    def core_signal(self):
        for n, t, d, _ in self.notes():
            if t == NT_SIGINFO:
                return struct.unpack_from("<i", d, 0)[0]
        for n, t, d, _ in self.notes():
            if t == NT_PRSTATUS:
                return struct.unpack_from("<h", d, 12)[0]
        return None

    def core_files(self):
        """NT_FILE entries: [(start, end, file offset in bytes, path)]."""
        for n, t, d, _ in self.notes():
            if t != NT_FILE:
                continue
            count, page = struct.unpack_from("<QQ", d, 0)
            names = d[16 + count * 24:].split(b"\0")
            out = []
            for i in range(count):
                start, end, pgoff = struct.unpack_from("<QQQ", d, 16 + i * 24)
                out.append((start, end, pgoff * page, names[i].decode("utf-8", "replace")))
            return out
        return []

    def core_complete(self):
        """True if the file holds every byte its program headers point at."""
        end = self.phdrs_end
        for p in self.phdrs:
            end = max(end, p["offset"] + p["filesz"])
        return self.size >= end

    def core_registers(self):
        """{tid: {register name: value}} from every NT_PRSTATUS note (x86-64
        user_regs_struct, names as in X86_64_REGS)."""
        out = {}
        for n, t, d, _ in self.notes():
            if t != NT_PRSTATUS or n != "CORE" or len(d) < 112 + 27 * 8:
                continue
            tid = struct.unpack_from("<i", d, 32)[0]
            out[tid] = dict(zip(X86_64_REGS, struct.unpack_from("<27Q", d, 112)))
        return out

    def core_vector_words(self):
        """{tid: {"xstate+OFF": value}}: every 8-byte word of each thread's vector
        registers, as its NT_X86_XSTATE note holds them (else NT_FPREGSET): the
        xmm area of the legacy FXSAVE region, and every extended component after
        the XSAVE header (ymm upper halves, opmasks, zmm; offsets are the CPU's,
        so every word is taken rather than a layout assumed). A note belongs to the
        NT_PRSTATUS before it."""
        out, tid = {}, None
        for n, t, d, _ in self.notes():
            if n != "CORE" and n != "LINUX":
                continue
            if t == NT_PRSTATUS and len(d) >= 36:
                tid = struct.unpack_from("<i", d, 32)[0]
                continue
            if tid is None or t not in (NT_FPREGSET, NT_X86_XSTATE):
                continue
            if t == NT_FPREGSET and tid in out:
                continue   # the XSTATE note of this thread already gave the xmm area
            words = {}
            spans = [(160, 416)] + ([(576, len(d))] if t == NT_X86_XSTATE else [])
            for lo, hi in spans:
                for off in range(lo, min(hi, len(d)) - 7, 8):
                    words["xstate+%d" % off] = struct.unpack_from("<Q", d, off)[0]
            out[tid] = words
        return out

    def core_words_in(self, ranges):
        """Every 8-byte-aligned word of the memory the core holds (its PT_LOADs'
        file contents; not what only the mapped files hold) whose value lies in one
        of RANGES [(lo, hi)] (which must not overlap): [(word address, value, index
        of the range)]. All-zero pages are skipped, so sparse stacks cost little."""
        import array
        import bisect
        rs = sorted((lo, hi, i) for i, (lo, hi) in enumerate(ranges) if hi > lo)
        if not rs:
            return []
        los = [r[0] for r in rs]
        lo_all, hi_all = rs[0][0], max(r[1] for r in rs)
        out = []
        page = 4096
        zero = bytes(page)
        with open(self.path, "rb") as f:
            for p in self.loads:
                if not p["filesz"] or p["vaddr"] % 8:
                    continue
                f.seek(p["offset"])
                left, base = p["filesz"], p["vaddr"]
                while left > 0:
                    buf = f.read(min(left, 1 << 20))
                    if not buf:
                        break
                    for off in range(0, len(buf) - 7, page):
                        piece = buf[off:off + page]
                        if piece == zero[:len(piece)]:
                            continue
                        words = array.array("Q")
                        words.frombytes(piece[:len(piece) - len(piece) % 8])
                        for k, v in enumerate(words):
                            if lo_all <= v < hi_all:
                                j = bisect.bisect_right(los, v) - 1
                                if j >= 0 and v < rs[j][1]:
                                    out.append((base + off + 8 * k, v, rs[j][2]))
                    left -= len(buf)
                    base += len(buf)
        return out


def reference_read(core, addr, n, file_map=None):
    """Read N bytes at ADDR of the process dumped in CORE (an Elf) the simple way:
    from the core's PT_LOAD contents; where the core holds none (outside p_filesz, or
    outside every PT_LOAD, as gcore leaves out read-only file mappings), from the
    file mapped there per NT_FILE; else missing. FILE_MAP: {path in the core: path
    to read instead}. Returns (bytes, or None if any byte is missing,
    [(start, end, source)] with source "core", "file" or "missing")."""
    files = core.core_files()
    loads = core.loads
    out = bytearray()
    sources = []
    a, end = addr, addr + n
    while a < end:
        src, chunk, stop = "missing", None, end
        seg = None
        for p in loads:
            if p["vaddr"] <= a < p["vaddr"] + p["memsz"]:
                seg = p
                break
        if seg is not None and a < seg["vaddr"] + seg["filesz"]:
            stop = min(end, seg["vaddr"] + seg["filesz"])
            chunk = core.read(seg["offset"] + a - seg["vaddr"], stop - a)
            src = "core" if len(chunk) == stop - a else "missing"
        else:
            if seg is not None:
                stop = min(stop, seg["vaddr"] + seg["memsz"])
            else:
                for p in loads:  # up to the next segment
                    if a < p["vaddr"] < stop:
                        stop = p["vaddr"]
            for fs, fe, foff, path in files:
                if fs <= a < fe:
                    stop = min(stop, fe)
                    path = (file_map or {}).get(path, path)
                    try:
                        with open(path, "rb") as f:
                            f.seek(foff + a - fs)
                            chunk = f.read(stop - a)
                        src = "file" if len(chunk) == stop - a else "missing"
                    except OSError:
                        pass
                    break
        if src == "missing":
            out = None
        elif out is not None:
            out += chunk
        if sources and sources[-1][2] == src and sources[-1][1] == a:
            sources[-1] = (sources[-1][0], stop, src)
        else:
            sources.append((a, stop, src))
        a = stop
    return (bytes(out) if out is not None else None), sources


# ---------------------------------------------------------------------------
# the corpus

_corpus_dir_cache = []


def corpus_dir():
    """The directory with the built corpus programs (built on first use)."""
    if _corpus_dir_cache:
        return _corpus_dir_cache[0]
    given = os.environ.get("CPROF_CORPUS_BIN")
    if given:
        d = os.path.abspath(given)
        if not os.path.isdir(d):
            raise Fatal("CPROF_CORPUS_BIN=%s is not a directory" % given)
        _corpus_dir_cache.append(d)
        return d
    d = os.path.join(WORK, "corpus-bin")
    script = os.path.join(SOURCE_ROOT, "corpus", "build.sh")
    if not os.path.exists(script):
        raise Fatal("%s not found (is CPROF_SOURCE_ROOT=%s right?)" % (script, SOURCE_ROOT))
    env = dict(os.environ)
    for v in ("CFLAGS", "CPPFLAGS", "LDFLAGS"):
        env.pop(v, None)
    with _locked(os.path.join(WORK, "corpus-bin.lock")):
        r = subprocess.run(["sh", script, d], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, universal_newlines=True)
    if r.returncode != 0:
        raise Fatal("building the corpus failed (sh %s %s, status %d):\n%s"
                    % (script, d, r.returncode, r.stdout))
    _corpus_dir_cache.append(d)
    return d


def _core_pattern():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            return f.read().strip()
    except OSError:
        return None


def _kernel_dumper_problem():
    """None if kernel cores can be taken here, else why not."""
    pat = _core_pattern()
    if pat is None:
        return "cannot read /proc/sys/kernel/core_pattern"
    if not pat or pat.startswith("|") or "/" in pat:
        return "kernel core_pattern is %r (need a plain file name in the cwd)" % pat
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard != resource.RLIM_INFINITY and hard < (1 << 30):
        return "hard RLIMIT_CORE is %d (need unlimited)" % hard
    return None


def available_dumpers():
    """The ways to take a core that work here, best first: 'kernel', 'gcore'."""
    out = []
    if _kernel_dumper_problem() is None:
        out.append("kernel")
    if shutil.which("gcore") and shutil.which("gdb"):
        out.append("gcore")
    return out


def all_dumpers():
    """available_dumpers(), all of them under CPROF_REQUIRE_ALL=1 (a check), and a
    skip when there is none."""
    dumpers = available_dumpers()
    if REQUIRE_ALL:
        check_eq(dumpers, ["kernel", "gcore"], "available dumpers (CPROF_REQUIRE_ALL=1)")
    if not dumpers:
        skip("no way to take a core here (no usable core_pattern, no gcore)")
    return dumpers


class CoreRun:
    """A corpus program's core: .core, .exe, .manifest (dict), .dir, .dumper,
    .name, .args, .dump_seconds (taking the core), .total_seconds (run + core),
    .cached (True if reused from an earlier test)."""

    def __init__(self, d, info, cached):
        self.dir = d
        self.core = info["core"]
        self.exe = info["exe"]
        self.dumper = info["dumper"]
        self.name = info["name"]
        self.args = info["args"]
        self.dump_seconds = info.get("dump_seconds")
        self.total_seconds = info.get("total_seconds")
        self.cached = cached
        self.manifest = load_manifest(info["manifest"])

    def __repr__(self):
        return "CoreRun(%s, %s)" % (self.name, self.core)


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _child_setup(kernel):
    libc = _libc()

    def setup():
        # Die with the harness: the program must never outlive the test.
        if libc is not None:
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            if not ASLR:
                # Same addresses on every run: failures reproduce.
                cur = libc.personality(0xffffffff)
                if cur != -1:
                    libc.personality(cur | 0x0040000)  # ADDR_NO_RANDOMIZE
        if kernel:
            hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        else:
            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return setup


def _task_syscalls(pid):
    """{tid: first field of /proc/PID/task/TID/syscall} ('running' or a number)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, t)) as f:
                out[int(t)] = f.read().split()[0]
        except (OSError, IndexError):
            out[int(t)] = "?"
    return out


def _reap(proc, timeout):
    """waitpid PROC for up to TIMEOUT s; returns the raw status or None."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            return proc.returncode if proc.returncode is not None else 0
        if pid == proc.pid:
            proc.returncode = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                               else os.WEXITSTATUS(status))
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def _kill(proc):
    if proc.returncode is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(proc, 30)


def _read_text(path, limit=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return ""


def _run_and_dump(name, args, dumper, d, exe=None, env=None, before_dump=None):
    """Run corpus program NAME (its build EXE, when given; ENV added to its
    environment) in D/run, call BEFORE_DUMP(proc, run directory) once it is
    parked, take its core with DUMPER, kill it. Returns the info dict written to
    D/result.json."""
    exe = exe or os.path.join(corpus_dir(), name)
    if not os.access(exe, os.X_OK):
        raise Fatal("corpus program %s not found (corpus dir %s)" % (exe, corpus_dir()))
    if os.path.exists(d):
        shutil.rmtree(d)
    run = os.path.join(d, "run")
    os.makedirs(run)
    manifest = os.path.join(run, "manifest.json")
    out_path = os.path.join(d, "program.out")
    cmd = [exe, manifest] + list(args)
    if dumper == "kernel":
        problem = _kernel_dumper_problem()
        if problem:
            raise Abort("cannot take a kernel core: " + problem)
    t_start = time.monotonic()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=run, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=_child_setup(dumper == "kernel"),
                                close_fds=True, env=corpus_env(name, env))
    try:
        # 1. the manifest
        deadline = time.monotonic() + 20
        while not os.path.exists(manifest):
            if proc.poll() is not None:
                raise Abort("%s exited with status %s before writing its manifest:\n%s"
                            % (" ".join(cmd), proc.returncode, _read_text(out_path)))
            if time.monotonic() > deadline:
                raise Abort("%s wrote no manifest within 20 s:\n%s"
                            % (" ".join(cmd), _read_text(out_path)))
            time.sleep(0.005)
        m = load_manifest(manifest)
        if m.get("pid") != proc.pid:
            raise Abort("manifest pid %s is not the program's pid %d" % (m.get("pid"), proc.pid))
        # 2. every thread blocked in its syscall (the main thread in pause())
        #    (a manifest without "threads": every task blocked in some syscall)
        want = {t["tid"]: t.get("syscall") for t in m.get("threads") or []}
        deadline = time.monotonic() + 10
        while True:
            now = _task_syscalls(proc.pid)
            ok = bool(now) and (not want or set(now) == set(want)) and all(
                s.isdigit() and want.get(t) in (None, int(s)) for t, s in now.items())
            if ok:
                break
            if proc.poll() is not None:
                raise Abort("%s died before being dumped (status %s):\n%s"
                            % (name, proc.returncode, _read_text(out_path)))
            if time.monotonic() > deadline:
                why = Unsettled if want and set(now) > set(want) else Abort
                raise why("%s: threads not all blocked after 10 s: /proc says %s, manifest says %s"
                          % (name, now, want))
            time.sleep(0.005)
        if before_dump:
            before_dump(proc, run)
        # 3. the core
        t0 = time.monotonic()
        if dumper == "kernel":
            os.kill(proc.pid, signal.SIGABRT)
            status = _reap(proc, 120)
            if status is None:
                raise Abort("%s did not die within 120 s of SIGABRT" % name)
            if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT):
                raise Abort("%s: unexpected wait status %#x after SIGABRT" % (name, status))
            if not os.WCOREDUMP(status):
                raise Abort("%s died of SIGABRT but the kernel dumped no core (core_pattern %r, "
                            "RLIMIT_CORE %s)" % (name, _core_pattern(),
                                                 resource.getrlimit(resource.RLIMIT_CORE)))
            found = []
            for f in os.listdir(run):
                p = os.path.join(run, f)
                if f.startswith("manifest.json") or not os.path.isfile(p):
                    continue
                try:
                    if Elf(p).e_type == ET_CORE:
                        found.append(p)
                except ElfError:
                    pass
            if len(found) != 1:
                raise Abort("%s: expected one core file in %s, found %s (core_pattern %r)"
                            % (name, run, found or "none", _core_pattern()))
            src = found[0]
        elif dumper == "gcore":
            gcore = shutil.which("gcore")
            if not gcore:
                raise Abort("gcore not installed")
            prefix = os.path.join(d, "gcore")
            log = os.path.join(d, "gcore.log")
            with open(log, "w") as lf:
                try:
                    r = subprocess.run([gcore, "-o", prefix, str(proc.pid)], stdin=subprocess.DEVNULL,
                                       stdout=lf, stderr=subprocess.STDOUT, timeout=180)
                except subprocess.TimeoutExpired:
                    raise Abort("gcore %d hung (no exit within 180 s)" % proc.pid)
            src = "%s.%d" % (prefix, proc.pid)
            if r.returncode != 0 or not os.path.exists(src):
                raise Abort("gcore -o %s %d failed (status %d):\n%s"
                            % (prefix, proc.pid, r.returncode, _read_text(log)))
            _kill(proc)
        else:
            raise Abort("unknown dumper %r (want 'kernel' or 'gcore')" % (dumper,))
        seconds = time.monotonic() - t0
    finally:
        _kill(proc)

    if dumper == "gcore" and name in GO_PROGRAMS:
        # gcore writes the Go runtime's untouched reservations (PROT_NONE, and
        # mapped but never used) as zeros: 1.2 GB and more per core. The bytes stay;
        # the disk blocks go.
        _punch_zero_holes(src)

    core = os.path.join(d, "core.%d" % m["pid"])
    os.rename(src, core)
    try:
        e = Elf(core)
    except ElfError as ex:
        raise Abort("%s: the core is not usable: %s" % (name, ex))
    if e.e_type != ET_CORE:
        raise Abort("%s: %s is not an ELF core (e_type %d)" % (name, core, e.e_type))
    if not e.core_complete():
        raise Abort("%s: %s is incomplete (%d bytes)" % (name, core, e.size))
    final_manifest = os.path.join(d, "manifest.json")
    os.rename(manifest, final_manifest)
    deps = [exe] + [mod["path"] for mod in m.get("modules", [])]
    info = dict(name=name, args=list(args), dumper=dumper, core=core, exe=exe,
                manifest=final_manifest, dump_seconds=round(seconds, 3),
                total_seconds=round(time.monotonic() - t_start, 3),
                deps={p: _stamp(p) for p in deps}, core_size=os.path.getsize(core))
    _atomic_write(os.path.join(d, "result.json"), _json.dumps(info, indent=1))
    return info


def _punch_zero_holes(path, block=1 << 20):
    """Deallocate the disk blocks of PATH's all-zero BLOCK-sized pieces (fallocate
    PUNCH_HOLE | KEEP_SIZE): the file reads the same, its zeros take no disk space.
    Does nothing where the file system or libc cannot."""
    libc = _libc()
    if libc is None or not hasattr(libc, "fallocate"):
        return
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    zero = bytes(block)
    with open(path, "r+b") as f:
        off = 0
        while True:
            buf = f.read(block)
            if not buf:
                break
            if len(buf) == block and buf == zero:
                if libc.fallocate(f.fileno(), 3, off, block) != 0:  # PUNCH_HOLE | KEEP_SIZE
                    return
            off += len(buf)


def load_manifest(path):
    """A corpus program's manifest. Paths in it are the process's bytes (not always
    UTF-8, and raw control characters: t0210 runs a program whose name has both):
    read with surrogateescape and without JSON's strict control character rule."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return _json.loads(f.read(), strict=False)


def _stamp(path):
    st = os.stat(path)
    return [st.st_mtime_ns, st.st_size]


def _cached(d):
    try:
        with open(os.path.join(d, "result.json")) as f:
            info = _json.load(f)
        if os.path.getsize(info["core"]) != info["core_size"]:
            return None
        if not os.path.exists(info["manifest"]):
            return None
        for p, st in info["deps"].items():
            if _stamp(p) != st:
                return None
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None


def require_corpus_program(name):
    """Skip the test (fail under CPROF_REQUIRE_ALL=1) if corpus program NAME was not
    built (the Go programs are built only when `go` is on PATH, gocgo also needs
    the C compiler). Returns its path."""
    exe = os.path.join(corpus_dir(), name)
    if not os.access(exe, os.X_OK):
        why = ("go was not on PATH when corpus/build.sh ran" if name in GO_PROGRAMS
               else "corpus/build.sh did not build it")
        skip("corpus program %s not built (%s)" % (name, why))
    return exe


def corpus_core(name, args=(), dumper=None, exe=None, env=None, before_dump=None):
    """Build the corpus if needed, run corpus program NAME with ARGS, take its core
    with DUMPER ('kernel', 'gcore'; None = the first available) and return a CoreRun.
    EXE: another build of the program (another Go toolchain's, say) to run instead.
    ENV: more environment; BEFORE_DUMP(proc, run directory): called once the
    program is parked, right before the core is taken (its name and ENV key the
    cache).
    Results are cached under $CPROF_WORK/cores (shared by parallel tests, locked)."""
    avail = available_dumpers()
    if dumper is None:
        if not avail:
            skip("no way to take a core: %s, and gcore is not installed" % _kernel_dumper_problem())
        dumper = avail[0]
    elif dumper not in avail:
        why = _kernel_dumper_problem() if dumper == "kernel" else "gcore/gdb not installed"
        skip("cannot take %s cores: %s" % (dumper, why))
    corpus_dir()
    key = name
    if args:
        key += "-" + hashlib.sha1("\0".join(args).encode()).hexdigest()[:12]
    if exe:
        key += "-" + os.path.basename(exe)
    if env or before_dump:
        key += "-" + hashlib.sha1(repr((sorted((env or {}).items()),
                                        getattr(before_dump, "__name__", ""))).encode()).hexdigest()[:12]
    key += "-" + dumper
    d = os.path.join(WORK, "cores", key)
    with _locked(d + ".lock"):
        info = _cached(d)
        if info and info["exe"] == (exe or os.path.join(corpus_dir(), name)):
            return CoreRun(d, info, True)
        for attempt in range(1, 4):
            try:
                info = _run_and_dump(name, args, dumper, d, exe, env, before_dump)
                break
            except Unsettled as e:
                if attempt == 3:
                    raise
                note("run %d of %s not used (taken again): %s" % (attempt, name, e))
        note("made %s core of %s%s in %.2f s (%.2f s with the run): %s"
             % (dumper, name, " " + " ".join(args) if args else "", info["dump_seconds"],
                info["total_seconds"], info["core"]))
        return CoreRun(d, info, False)


def build_c_program(d, name, source, flags=("-O1", "-g"), cc="gcc"):
    """Writes SOURCE (C; C++ with cc="g++") to D/NAME.c (.cc) and builds D/NAME;
    returns its path (a failed build is a failed check)."""
    require_tool(cc)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, name + (".cc" if cc == "g++" else ".c"))
    exe = os.path.join(d, name)
    with open(src, "w") as f:
        f.write(source)
    r = subprocess.run([cc, *flags, "-o", exe, src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, "%s builds (%s)" % (name, r.stdout.decode()[-500:]))
    return exe


def run_and_dump(exe, d, name):
    """Runs EXE in D until it prints its first line, takes its core (dump_process)
    and stops it: (that line's words, the core's path)."""
    p = subprocess.Popen([exe], cwd=d, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         preexec_fn=_child_setup(False))
    try:
        words = p.stdout.readline().split()
        core = dump_process(p, d, name)
    finally:
        p.kill()
        p.wait()
    return words, core


def kernel_dump(exe, d, prepare=None):
    """Runs EXE in D, cores enabled, until it prints its first line; calls
    PREPARE(proc) if given, then kills it with SIGABRT: (that line's words, the
    kernel's core in D, or None when it wrote none)."""
    for f in os.listdir(d):
        if f.startswith("core"):
            os.remove(os.path.join(d, f))
    p = subprocess.Popen([exe], cwd=d, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         preexec_fn=_child_setup(True))
    try:
        words = p.stdout.readline().split()
        if prepare:
            prepare(p)
        os.kill(p.pid, signal.SIGABRT)
        p.wait(60)
    finally:
        p.kill()
        p.wait()
    cores = [f for f in os.listdir(d) if f.startswith("core")]
    return words, os.path.join(d, cores[0]) if cores else None


def dump_process(p, d, name):
    """A core of the running process P (a subprocess.Popen started in directory D
    with RLIMIT_CORE unlimited): gcore's (the process goes on), or without gcore the
    kernel's (SIGABRT: P dies; fails under CPROF_REQUIRE_ALL=1). Returns its path."""
    gcore = shutil.which("gcore")
    if gcore:
        r = subprocess.run([gcore, "-o", os.path.join(d, "core"), str(p.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        core = os.path.join(d, "core.%d" % p.pid)
        if not os.path.exists(core):
            raise Abort("gcore of %s failed: %s" % (name, r.stdout.decode("utf-8", "replace")[-2000:]))
        return core
    if REQUIRE_ALL:
        raise Abort("gcore is not installed (CPROF_REQUIRE_ALL=1)")
    os.kill(p.pid, signal.SIGABRT)
    p.wait(60)
    cores = [f for f in os.listdir(d) if f.startswith("core")]
    if not cores:
        raise Abort("no kernel core of %s" % name)
    return os.path.join(d, cores[0])


# ---------------------------------------------------------------------------
# damaged cores

class Damaged:
    """A private copy NAME (in the CoreRun C's directory) of C's core, whose words
    can be overwritten and restored."""

    def __init__(self, c, name):
        self.src = c.core
        self.path = os.path.join(c.dir, name)
        shutil.copyfile(self.src, self.path)
        self.elf = Elf(self.path)
        self.saved = []

    def offset(self, addr):
        for p in self.elf.loads:
            if p["vaddr"] <= addr and addr + 8 <= p["vaddr"] + p["filesz"]:
                return p["offset"] + addr - p["vaddr"]
        raise Abort("address %#x is not in the core file" % addr)

    def read64(self, addr):
        return struct.unpack("<Q", self.elf.read(self.offset(addr), 8))[0]

    def write(self, addr, data):
        self.write_at(self.offset(addr), data)

    def write64(self, addr, value):
        self.write(addr, struct.pack("<Q", value & (2**64 - 1)))

    def write_at(self, off, data):
        """Overwrite the core file's bytes at file offset OFF (headers, notes)."""
        with open(self.path, "r+b") as f:
            f.seek(off)
            self.saved.append((off, f.read(len(data))))
            f.seek(off)
            f.write(data)

    def rename_files(self, old, new):
        """Rename every NT_FILE entry named OLD to NEW (bytes of the same length:
        the note is edited in place). Returns how many were renamed."""
        if len(old) != len(new):
            raise Abort("NT_FILE names are edited in place: %r and %r differ in length"
                        % (old, new))
        n = 0
        for name, ntype, desc, off in self.elf.notes():
            if ntype != NT_FILE:
                continue
            namesz = struct.unpack_from("<I", self.elf.read(off, 4))[0]
            desc_off = off + 12 + ((namesz + 3) & ~3)
            count = struct.unpack_from("<Q", desc, 0)[0]
            pos = 16 + 24 * count
            for _ in range(count):
                end = desc.index(b"\0", pos)
                if desc[pos:end] == old:
                    self.write_at(desc_off + pos, new)
                    n += 1
                pos = end + 1
        return n

    def restore(self):
        with open(self.path, "r+b") as f:
            for off, data in reversed(self.saved):
                f.seek(off)
                f.write(data)
        self.saved = []


@contextlib.contextmanager
def scratch(prefix):
    """A fresh directory under $CPROF_WORK/tmp, removed afterwards."""
    work = os.path.join(WORK, "tmp")
    os.makedirs(work, exist_ok=True)
    d = tempfile.mkdtemp(prefix=prefix + "-", dir=work)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def remove_db(db):
    """Remove the database DB and the DB.old an analysis keeps."""
    for p in (db, db + ".old"):
        if os.path.exists(p):
            os.unlink(p)


def lines_with(err, prefix):
    """The lines of ERR (stderr) that begin with PREFIX."""
    return [l for l in err.splitlines() if l.startswith(prefix)]


def expect_error(args, path, words=(), timeout=60):
    """cprof-core ARGS fails with status 1 and one `cprof-core: error: ` line that
    names PATH and holds every one of WORDS. Returns (rc, stdout, stderr)."""
    rc, out, err = cprof(*args, expect_rc=None, timeout=timeout)
    what = "cprof-core %s" % " ".join(str(a) for a in args)
    check_eq(rc, 1, "%s: exit status (stderr: %r)" % (what, err[-500:]))
    errs = lines_with(err, "cprof-core: error: ")
    if check_eq(len(errs), 1, "%s: number of error lines on stderr %r" % (what, err[-1000:])):
        check(path in errs[0] and all(w in errs[0] for w in words),
              "%s: the error line %r names %s and says %s" % (what, errs[0], path, list(words)))
    return rc, out, err


def analyze_damaged(d, c, what, db, timeout=60):
    """`analyze` the Damaged core D (of CoreRun C) into DB. It must exit 0, or 1
    with exactly one error line and no database left. Returns (rc, stderr lines)."""
    remove_db(db)
    rc, out, err = cprof("analyze", d.path, c.exe, "--db", db, expect_rc=None,
                         timeout=timeout)
    lines = stderr_lines(err)
    check(rc in (0, 1), "%s: exit status 0 or 1 (got %d)" % (what, rc))
    if rc == 1:
        errors = [l for l in lines if l.startswith("cprof-core: error: ")]
        check(len(errors) == 1, "%s: exactly one error line (got %s)" % (what, errors[:3]))
        check(not os.path.exists(db), "%s: no cprof.db after an error" % what)
    return rc, lines


def warned(lines, *words):
    """Whether some warning line of LINES (stderr) holds every one of WORDS."""
    return any(all(w in l for w in words) for l in lines if "warning" in l)



# ---------------------------------------------------------------------------
# the Go runtime's own view: its crash traceback, its heap profile

_GO_SIGNAL = re.compile(r"^(SIG[A-Z0-9]+|Signal \d+): (.*)$")
_GO_SIGPC = re.compile(r"^PC=(0x[0-9a-f]+) m=(\d+) sigcode=(-?\d+)")
_GO_HEADER = re.compile(r"^goroutine (\d+)(?: gp=(0x[0-9a-f]+))?(?: m=(\d+|nil))?"
                        r"(?: mp=(0x[0-9a-f]+))? \[(.*)\]:$")
_GO_POS = re.compile(r"^\t(.*):(\d+)(?: \+0x([0-9a-f]+))?"
                     r"(?: fp=(0x[0-9a-f]+) sp=(0x[0-9a-f]+) pc=(0x[0-9a-f]+))?\s*$")
_GO_REG = re.compile(r"^([a-z0-9]+)\s+(0x[0-9a-f]+)$")


def go_traceback(text_or_run):
    """Parse the Go runtime's crash report: what a Go corpus program prints when it
    dies of SIGABRT with GOTRACEBACK=crash (a kernel core: the CoreRun's
    program.out; a gcore core has none), or a goroutine dump without a signal
    (runtime.Stack, /debug/pprof/goroutine?debug=2: one section whose "signal" is
    None; its frames have no pc). Takes the text or a CoreRun. Returns None
    if there is no report, else {"sections": [...], "goroutines": {goid: g}}.

    A section per signal the runtime handled: the first is the one the harness
    sent (SIGABRT) with every goroutine; then one per other thread (M), which the
    runtime sends SIGQUIT to print its registers, with its g0 ("goroutine 0") and
    the goroutine it was running if any. Section: {"signal": "SIGABRT", "pc": int,
    "m": int, "goroutines": [g], "registers": {"rax": int, ...}} (the registers
    of the thread when the signal arrived: the core's NT_PRSTATUS has the
    thread inside the signal handler instead).
    g: {"goid": int, "gp": int or None (the runtime.g), "m": int or None, "mp":
    int or None (the runtime.m), "status": "select (no cases)" (the wait reason
    or the state, with ", locked to thread", ", N minutes" when printed), "frames":
    [{"function", "file", "line", "pc", "sp", "fp"}] innermost first (inlined
    frames have pc/sp/fp None), "created_by": function or None, "created_in":
    goid or None}. "goroutines": every goroutine other than 0, from the first
    section that prints its frames (a goroutine running on another thread has
    none in the first: "stack unavailable"; its M's section prints them), else
    the first that prints it. "signalled": the first goroutine of the first
    section (the one the fatal signal interrupted), None when that is an M's
    own g0 (goroutine 0)."""
    if isinstance(text_or_run, CoreRun):
        path = os.path.join(text_or_run.dir, "program.out")
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            return None
    else:
        text = text_or_run
    sections, sec, g, pending = [], None, None, None
    for line in text.splitlines():
        m = _GO_SIGNAL.match(line)
        if m and not line.startswith("\t"):
            sec = {"signal": m.group(1), "description": m.group(2), "pc": None, "m": None,
                   "goroutines": [], "registers": {}}
            sections.append(sec)
            g = pending = None
            continue
        if sec is None:
            if not _GO_HEADER.match(line):
                continue
            # a goroutine dump without a signal (/debug/pprof/goroutine?debug=2)
            sec = {"signal": None, "description": None, "pc": None, "m": None,
                   "goroutines": [], "registers": {}}
            sections.append(sec)
        m = _GO_SIGPC.match(line)
        if m:
            sec["pc"], sec["m"] = int(m.group(1), 16), int(m.group(2))
            continue
        m = _GO_HEADER.match(line)
        if m:
            g = {"goid": int(m.group(1)),
                 "gp": int(m.group(2), 16) if m.group(2) else None,
                 "m": int(m.group(3)) if m.group(3) and m.group(3) != "nil" else None,
                 "mp": int(m.group(4), 16) if m.group(4) else None,
                 "status": m.group(5), "frames": [], "created_by": None, "created_in": None}
            sec["goroutines"].append(g)
            pending = None
            continue
        m = _GO_REG.match(line)
        if m and g is None:
            sec["registers"][m.group(1)] = int(m.group(2), 16)
            g = pending = None
            continue
        if g is None:
            continue
        if line.startswith("\t"):
            m = _GO_POS.match(line)
            if m and pending is not None:
                pending["file"], pending["line"] = m.group(1), int(m.group(2))
                if m.group(6):
                    pending["fp"], pending["sp"], pending["pc"] = (
                        int(m.group(4), 16), int(m.group(5), 16), int(m.group(6), 16))
            pending = None
            continue
        if line.startswith("created by "):
            rest = line[len("created by "):]
            k = rest.find(" in goroutine ")
            g["created_by"] = rest[:k] if k >= 0 else rest
            g["created_in"] = int(rest[k + len(" in goroutine "):]) if k >= 0 else None
            pending = None
            continue
        if not line.strip():
            g = pending = None
            continue
        k = line.rfind("(")
        if k > 0 and line.endswith(")"):
            pending = {"function": line[:k], "file": None, "line": None,
                       "pc": None, "sp": None, "fp": None}
            g["frames"].append(pending)
    if not sections:
        return None
    gs = {}
    for s in sections:
        for x in s["goroutines"]:
            if x["goid"] != 0 and (x["goid"] not in gs or
                                   (x["frames"] and not gs[x["goid"]]["frames"])):
                gs[x["goid"]] = x
    first = sections[0]["goroutines"][:1] if sections[0]["signal"] else []
    signalled = first[0]["goid"] if first and first[0]["goid"] != 0 else None
    return {"sections": sections, "goroutines": gs, "signalled": signalled}


def go_print_name(name):
    """A Go function's name as the runtime's traceback prints it
    (funcNameForPrint): a generic instantiation's type arguments become
    "[...]"; an assembly function's ELF symbol loses its ".abi0"."""
    if name and name.endswith(".abi0"):
        name = name[:-5]
    i = (name or "").find("[")
    j = (name or "").rfind("]")
    if i >= 0 and j > i:
        name = name[:i] + "[...]" + name[j + 1:]
    return name


def check_go_traceback(db, tb, label=""):
    """Checks the goroutine tables of DB (a kernel core's analysis) against TB, the
    runtime's crash traceback (go_traceback): the same goroutine ids; each one's
    status or wait reason; frame by frame, every call on its stack - inlined
    ones included - with its function and file:line, for every goroutine the
    traceback prints frames of (the running ones too); its creator; and the
    goroutine the fatal signal interrupted, which the traceback prints first, is
    the one marked signalled. Returns the number of calls compared."""
    import sqlite3
    con = sqlite3.connect(db)
    ours = {r[0]: r[1:] for r in con.execute(
        "SELECT goid, status, coalesce(wait_reason, ''), created_by, signalled, id "
        "FROM goroutine")}
    calls = {}
    for gid, fn, file, line, inl in con.execute(
            "SELECT goroutine_id, function, file, line, inlined FROM goroutine_frame "
            "ORDER BY goroutine_id, depth"):
        calls.setdefault(gid, []).append((go_print_name(fn), file, line, inl))
    con.close()
    check_eq(sorted(ours), sorted(tb["goroutines"]), "%sthe goroutine ids are the traceback's"
             % label)
    bad_status, bad_frames, bad_created, n_calls, n_inlined = [], [], [], 0, 0
    for goid, g in sorted(tb["goroutines"].items()):
        if goid not in ours:
            continue
        status, reason, created, _, gid = ours[goid]
        said = g["status"].split(",")[0]
        if (said in ("GC scavenge wait", "GC sweep wait") and status == "runnable"
                and not reason):
            # the runtime's background scavenger and sweeper are readied by
            # sysmon, which goes on running after the crash traceback is
            # printed and before the kernel dumps (seen once in CI on
            # nats-server): the core is right, the oracle is a moment older
            note("%sgoroutine %d: %s in the traceback, readied before the dump"
                 % (label, goid, said))
        elif said != (reason or status):
            bad_status.append((goid, g["status"], status, reason))
        if g["created_by"] and not (created or "").startswith(g["created_by"]):
            bad_created.append((goid, g["created_by"], created))
        if goid == 1 and created:          # the runtime names no creator for main's
            bad_created.append((goid, g["created_by"], created))
        if not g["frames"]:
            continue
        theirs = [(f["function"], f["file"], f["line"], f["pc"] is None) for f in g["frames"]]
        mine = [(fn, file, line, bool(inl)) for fn, file, line, inl in calls.get(gid, [])]
        n_calls += len(theirs)
        n_inlined += sum(1 for t in theirs if t[3])
        if theirs != mine:
            diff = next((i for i, (a, b) in enumerate(zip(theirs, mine)) if a != b),
                        min(len(theirs), len(mine)))
            bad_frames.append((goid, status, "call %d" % diff, theirs[diff:diff + 2],
                               mine[diff:diff + 2], len(theirs), len(mine)))
    check(not bad_status, "%severy goroutine's status or wait reason is the traceback's "
          "(wrong: %s)" % (label, bad_status[:3]))
    check(not bad_frames and n_inlined > 0,
          "%severy goroutine's calls are the traceback's, inlined ones included, with their "
          "file:line (%d calls, %d of them inlined; wrong in %d goroutines: %s)"
          % (label, n_calls, n_inlined, len(bad_frames), bad_frames[:2]))
    check(not bad_created, "%severy goroutine's creator is the traceback's (wrong: %s)"
          % (label, bad_created[:3]))
    marked = sorted(goid for goid, o in ours.items() if o[3])
    want = [tb["signalled"]] if tb["signalled"] is not None else []
    check_eq(marked, want, "%sthe goroutine marked signalled is the one the traceback "
             "prints first" % label)
    return n_calls


def check_go_types(db, manifest, label="", untyped_vias=()):
    """Checks a gotypes core's database: every object the manifest lists is an
    object of its slot's size typed with the Go type the program gave it, for each
    way ("via") the manifest says leads to it.  Objects reached through
    UNTYPED_VIAS, and what follows an embedded struct ("after embedded": no typed
    pointer says what it is), must merely not be typed wrongly."""
    untyped_vias = tuple(untyped_vias) + ("after embedded",)
    import sqlite3
    con = sqlite3.connect(db)
    got = {a: (s, t, src) for a, s, t, src in con.execute(
        "SELECT o.addr, o.size, t.name, o.type_source FROM object o LEFT JOIN type t "
        "ON t.id = o.type_id")}
    con.close()
    by_via = {}
    for o in manifest["objects"]:
        by_via.setdefault((o["via"], o["type"]), []).append(o)
    for (via, typ), objs in sorted(by_via.items()):
        wrong = []
        for o in objs:
            g = got.get(parse_addr(o["addr"]))
            ok_type = g and (g[1] == typ or (via in untyped_vias and g[1] is None))
            if not g or g[0] != o["slot"] - o["offset"] or not ok_type:
                wrong.append((o["addr"], g))
        check(not wrong, "%s%s: all %d %s objects are %s %s (wrong: %s)"
              % (label, via, len(objs), typ, "untyped or typed" if via in untyped_vias
                 else "typed", typ, wrong[:3]))
    return got, by_via


def _pb_varint(buf, i):
    """The varint at BUF[I]: (value, index after it)."""
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return v, i


def _pb_fields(buf):
    """Protocol buffer wire format: [(field number, wire type, value)], value an int
    (varint, fixed) or bytes (length-delimited)."""
    out, i, n = [], 0, len(buf)

    def varint():
        nonlocal i
        v, i = _pb_varint(buf, i)
        return v
    while i < n:
        key = varint()
        field, wt = key >> 3, key & 7
        if wt == 0:
            out.append((field, wt, varint()))
        elif wt == 1:
            out.append((field, wt, struct.unpack_from("<Q", buf, i)[0]))
            i += 8
        elif wt == 2:
            ln = varint()
            out.append((field, wt, bytes(buf[i:i + ln])))
            i += ln
        elif wt == 5:
            out.append((field, wt, struct.unpack_from("<I", buf, i)[0]))
            i += 4
        else:
            raise ValueError("protobuf: wire type %d" % wt)
    return out


def _pb_ints(wt, v):
    """A repeated integer field's values: packed (bytes) or one varint."""
    if wt != 2:
        return [v]
    vals, i = [], 0
    while i < len(v):
        x, i = _pb_varint(v, i)
        vals.append(x)
    return vals


def go_heap_profile(path):
    """Read a pprof profile (gzipped or not protobuf, profile.proto: what
    pprof.Lookup("heap").WriteTo(f, 0) writes; goprofile's MANIFEST.heap.pb.gz).
    Returns {"sample_types": ["alloc_objects", "alloc_space", "inuse_objects",
    "inuse_space"], "units": [...], "period": int, "samples": [{"values": {type:
    int}, "functions": [names, innermost first, inlined frames included],
    "labels": {key: str or int}}]}. A site's in-use figures: sum "inuse_objects" /
    "inuse_space" over the samples whose "functions" start with it (the runtime's
    allocation frames are not in heap profiles)."""
    import gzip
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    fields = _pb_fields(data)
    strings = [v.decode("utf-8", "replace") for f, wt, v in fields if f == 6]
    types, units, samples_raw, locs, funcs, period = [], [], [], {}, {}, 0
    for f, wt, v in fields:
        if f == 1:
            vt = dict((ff, vv) for ff, _, vv in _pb_fields(v))
            types.append(strings[vt.get(1, 0)])
            units.append(strings[vt.get(2, 0)])
        elif f == 2:
            samples_raw.append(v)
        elif f == 4:
            lid, lines = 0, []
            for ff, ww, vv in _pb_fields(v):
                if ff == 1:
                    lid = vv
                elif ff == 4:
                    ln = dict((a, c) for a, _, c in _pb_fields(vv))
                    lines.append(ln.get(1, 0))
            locs[lid] = lines
        elif f == 5:
            fd = dict((ff, vv) for ff, _, vv in _pb_fields(v))
            funcs[fd.get(1, 0)] = strings[fd.get(2, 0)]
        elif f == 12:
            period = v
    samples = []
    for raw in samples_raw:
        loc_ids, values, labels = [], [], {}
        for ff, ww, vv in _pb_fields(raw):
            if ff == 1:
                loc_ids += _pb_ints(ww, vv)
            elif ff == 2:
                values += [x - (1 << 64) if x >= 1 << 63 else x for x in _pb_ints(ww, vv)]
            elif ff == 3:
                lb = dict((a, c) for a, _, c in _pb_fields(vv))
                key = strings[lb.get(1, 0)]
                labels[key] = strings[lb[2]] if lb.get(2) else lb.get(3, 0)
        names = [funcs.get(fid, "?") for lid in loc_ids for fid in locs.get(lid, [])]
        samples.append({"values": dict(zip(types, values)), "functions": names,
                        "labels": labels})
    return {"sample_types": types, "units": units, "period": period, "samples": samples}


def go_tool():
    """The go command (PATH, else /usr/local/go/bin/go), or skip the test by name."""
    g = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK)
                               else None)
    if not g:
        skip("go not found on PATH nor in /usr/local/go/bin: `go tool pprof` is the client")
    return g


def go_pprof(*args, timeout=120):
    """Run `go tool pprof ARGS`; returns (rc, stdout, stderr)."""
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="", PPROF_TMPDIR=WORK)
    env.pop("DISPLAY", None)
    r = subprocess.run([go_tool(), "tool", "pprof"] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


_RAW_LOC = re.compile(r"^\s*(\d+): 0x([0-9a-f]+)(?: M=(\d+))? (.*?) (\S*):(-?\d+):(-?\d+) s=")
_RAW_BARE_LOC = re.compile(r"^\s*(\d+): 0x([0-9a-f]+)(?: M=(\d+))?\s*$")   # not symbolized
_RAW_LINE = re.compile(r"^\s+(.*?) (\S*):(-?\d+):(-?\d+) s=")
_RAW_MAP = re.compile(r"^(\d+): 0x([0-9a-f]+)/0x([0-9a-f]+)/0x([0-9a-f]+) (\S*) ?(\S*)")


def pprof_raw(path):
    """What `go tool pprof -raw PATH` prints, parsed: {"types": [names], "samples":
    [{"values": {type: int}, "locations": [ids, leaf first]}], "locations": {id:
    {"address", "mapping", "lines": [(function, file, line), ...] (none: not symbolized)}},
    "mappings": {id: {"start", "limit", "file", "build_id"}}, "comments": [...], "stderr":
    what pprof said}: what the real client makes of the file. Fails the case when pprof
    cannot read it."""
    rc, out, err = go_pprof("-raw", path)
    if rc != 0:
        raise Abort("go tool pprof -raw %s failed (status %d): %s" % (path, rc, err[-2000:]))
    res = {"types": [], "samples": [], "locations": {}, "mappings": {}, "stderr": err}
    section, loc = None, None
    for line in out.splitlines():
        if line in ("Samples:", "Locations", "Mappings"):
            section = line
            continue
        if section == "Samples:":
            if not res["types"]:
                res["types"] = [t.split("/")[0] for t in line.split()]
                continue
            if ":" not in line or "[" in line.split(":")[0]:
                continue          # a label line ("bytes:[24]")
            vals, _, ids = line.partition(":")
            if not vals.strip() or not all(v.lstrip("-").isdigit() for v in vals.split()):
                continue
            res["samples"].append({"values": dict(zip(res["types"], map(int, vals.split()))),
                                   "locations": [int(x) for x in ids.split()]})
        elif section == "Locations":
            m = _RAW_LOC.match(line)
            if m:
                loc = {"address": int(m.group(2), 16), "mapping": int(m.group(3) or 0),
                       "lines": [(m.group(4), m.group(5), int(m.group(6)))]}
                res["locations"][int(m.group(1))] = loc
                continue
            m = _RAW_BARE_LOC.match(line)
            if m:
                loc = {"address": int(m.group(2), 16), "mapping": int(m.group(3) or 0), "lines": []}
                res["locations"][int(m.group(1))] = loc
                continue
            m = _RAW_LINE.match(line)
            if m and loc:
                loc["lines"].append((m.group(1), m.group(2), int(m.group(3))))
        elif section == "Mappings":
            m = _RAW_MAP.match(line.strip())
            if m:
                res["mappings"][int(m.group(1))] = {
                    "start": int(m.group(2), 16), "limit": int(m.group(3), 16),
                    "file": m.group(5), "build_id": m.group(6)}
    for smp in res["samples"]:
        smp["functions"] = [(res["locations"][i]["lines"] or [("?",)])[0][0] for i in smp["locations"]]
    return res


# ---------------------------------------------------------------------------
# leak checkers as oracles: valgrind memcheck and LeakSanitizer, run to the point
# where the corpus program would park (corpus/leaks.c: it runs its check there and
# exits)

def fmt_bytes(n):
    """cprof-core's human byte count (src/report/format.c): '40 B', '2.01 KiB'."""
    if n < 1024:
        return "%d B" % n
    v, u = float(n), 0
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    while v >= 1024 and u < 5:
        v /= 1024
        u += 1
    return ("%.2f %s" if v < 10 else "%.1f %s" if v < 100 else "%.0f %s") % (v, units[u])


class LeakReport(dict):
    """What valgrind_leaks() / lsan_leaks() return: the figures (this dict), and
    .manifest (the manifest that run wrote, or None), .log (the tool's report),
    .dir (where the run happened), .cached (reused from an earlier test)."""

    def __init__(self, figures, manifest, log, d, cached):
        dict.__init__(self, figures)
        self.manifest = manifest
        self.log = log
        self.dir = d
        self.cached = cached


# --leak-check=no: no leak check at exit; the program's VALGRIND_DO_LEAK_CHECK is
# still a full one, so the log has exactly one LEAK SUMMARY, taken while the
# program's threads are parked. --leak-check-heuristics=none: an interior pointer
# is an interior pointer (valgrind's default, all, calls some of them - offset 8 or
# 24 with the right header words - reachable).
VALGRIND_LEAK_OPTIONS = ("--tool=memcheck", "--leak-check=no", "--show-leak-kinds=all",
                         "--errors-for-leak-kinds=none", "--leak-check-heuristics=none",
                         "--num-callers=20")
# LeakSanitizer's defaults, spelled out (they are the semantics the tests rely on),
# plus report_objects: the address of every leaked object.
LSAN_OPTIONS = ("detect_leaks=1:report_objects=1:use_registers=1:use_stacks=1:"
                "use_tls=1:use_globals=1:use_unaligned=0:max_leaks=0")

_VG_SUMMARY = re.compile(r"^==\d+==\s+(definitely lost|indirectly lost|possibly lost|"
                         r"still reachable|suppressed): ([\d,]+) bytes in ([\d,]+) blocks")
_VG_KEYS = {"definitely lost": "definitely", "indirectly lost": "indirectly",
            "possibly lost": "possibly", "still reachable": "reachable",
            "suppressed": "suppressed"}
_LSAN_RECORD = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)")
_LSAN_OBJECT = re.compile(r"^(0x[0-9a-fA-F]+) \((\d+) bytes\)")
_LSAN_SUMMARY = re.compile(r"^SUMMARY: LeakSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation")


def _run_to_exit(exe, args, d, env, prefix=(), timeout=300):
    """Run corpus program EXE with ARGS in D/run the way corpus_core runs it (cwd,
    stdin /dev/null, corpus_env(EXE's name) plus ENV, no ASLR unless CPROF_ASLR=1, killed with
    the harness), behind PREFIX (e.g. valgrind and its options), until it exits.
    Returns (status, manifest or None, stdout+stderr text)."""
    if os.path.exists(d):
        shutil.rmtree(d)
    run = os.path.join(d, "run")
    os.makedirs(run)
    manifest = os.path.join(run, "manifest.json")
    out_path = os.path.join(d, "program.out")
    cmd = list(prefix) + [exe, manifest] + list(args)
    full_env = corpus_env(exe, env)
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=run, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=_child_setup(False),
                                close_fds=True, env=full_env)
    try:
        status = _reap(proc, timeout)
        if status is None:
            raise Abort("`%s` did not exit within %d s:\n%s"
                        % (" ".join(cmd), timeout, _read_text(out_path)))
    finally:
        _kill(proc)
    m = None
    if os.path.exists(manifest):
        with open(manifest) as f:
            m = _json.load(f)
    return proc.returncode, m, _read_text(out_path, 1 << 22)


def _leak_run(tool, name, args, exe, prefix, env, deps_extra, parse):
    """Cached run of a leak checker: WORK/leakcheck/NAME[-ARGSHASH]-TOOL."""
    key = name
    if args:
        key += "-" + hashlib.sha1("\0".join(args).encode()).hexdigest()[:12]
    d = os.path.join(WORK, "leakcheck", key + "-" + tool)
    opts = hashlib.sha1(repr((prefix, env)).encode()).hexdigest()[:12]
    with _locked(d + ".lock"):
        try:
            with open(os.path.join(d, "result.json")) as f:
                info = _json.load(f)
            if info.get("options") == opts and info.get("exe") == exe and all(
                    _stamp(p) == st for p, st in info["deps"].items()):
                with open(info["log"]) as f:
                    log = f.read()
                return LeakReport({k: tuple(v) if isinstance(v, list) else v
                                   for k, v in info["figures"].items()},
                                  info["manifest"], log, d, True)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        t0 = time.monotonic()
        rc, m, out = _run_to_exit(exe, args, d, env, prefix)
        log, figures = parse(rc, out, d)
        deps = [exe] + list(deps_extra) + [mod["path"] for mod in (m or {}).get("modules", [])]
        info = dict(tool=tool, name=name, args=list(args), exe=exe, options=opts,
                    deps={p: _stamp(p) for p in deps if os.path.exists(p)},
                    figures=figures, manifest=m, log=os.path.join(d, tool + ".log"))
        with open(info["log"], "w") as f:
            f.write(log)
        _atomic_write(os.path.join(d, "result.json"), _json.dumps(info, indent=1))
        note("ran %s under %s in %.1f s" % (" ".join((name,) + tuple(args)), tool,
                                            time.monotonic() - t0))
        return LeakReport(figures, m, log, d, False)


_VG_IN_USE = re.compile(r"^==\d+==\s+in use at exit: ([\d,]+) bytes in ([\d,]+) blocks")


def valgrind_log_figures(log):
    """The figures of valgrind memcheck's log LOG: {"definitely", "indirectly",
    "possibly", "reachable", "suppressed": (bytes, blocks)} from its last LEAK
    SUMMARY (all (0, 0) when it found "no leaks are possible"), and "in_use":
    (bytes, blocks) from its HEAP SUMMARY at exit (None when it has none)."""
    figures = {k: (0, 0) for k in _VG_KEYS.values()}
    figures["in_use"] = None
    for line in log.splitlines():
        mm = _VG_IN_USE.match(line)
        if mm:
            figures["in_use"] = (int(mm.group(1).replace(",", "")),
                                 int(mm.group(2).replace(",", "")))
    k = log.rfind("LEAK SUMMARY:")
    if k >= 0:
        for line in log[k:].splitlines()[1:12]:
            mm = _VG_SUMMARY.match(line)
            if mm:
                figures[_VG_KEYS[mm.group(1)]] = (int(mm.group(2).replace(",", "")),
                                                  int(mm.group(3).replace(",", "")))
    return figures


def valgrind_leaks(name, args=()):
    """Run corpus program NAME with ARGS under valgrind memcheck (VALGRIND_LEAK_OPTIONS)
    and return the LEAK SUMMARY of the leak check the program asks for where it would
    park: a LeakReport {"definitely", "indirectly", "possibly", "reachable",
    "suppressed": (bytes, blocks)}. Cached under $CPROF_WORK/leakcheck. valgrind's
    address layout differs from the native run's; the figures do not."""
    vg = require_tool("valgrind")
    exe = os.path.join(corpus_dir(), name)
    if not os.access(exe, os.X_OK):
        raise Fatal("corpus program %s not found (corpus dir %s)" % (exe, corpus_dir()))
    log_name = "valgrind.log"

    def parse(rc, out, d):
        path = os.path.join(d, "run", log_name)
        try:
            with open(path) as f:
                log = f.read()
        except OSError:
            raise Abort("valgrind wrote no log (%s); status %s, output:\n%s"
                        % (path, rc, out[-3000:]))
        if rc != 0:
            raise Abort("%s under valgrind exited with status %s:\n%s\n%s"
                        % (name, rc, out[-2000:], log[-3000:]))
        n = log.count("LEAK SUMMARY:")
        if n > 1 or (n == 0 and "no leaks are possible" not in log):
            raise Abort("valgrind's log of %s has %d LEAK SUMMARY sections, expected the "
                        "program's one leak check:\n%s" % (name, n, log[-4000:]))
        figures = valgrind_log_figures(log)
        figures.pop("in_use")
        return log, figures

    prefix = (vg,) + VALGRIND_LEAK_OPTIONS + ("--log-file=" + log_name,)
    return _leak_run("valgrind", name, tuple(args), exe, prefix, {}, [vg], parse)


def lsan_leaks(name, args=()):
    """Run NAME-lsan (corpus program NAME built with -fsanitize=leak) with ARGS and
    CPROF_LSAN=1: the program calls __lsan_do_recoverable_leak_check() where it would
    park. Returns a LeakReport {"direct", "indirect": (bytes, objects) summed over
    LeakSanitizer's "Direct/Indirect leak of X byte(s) in N object(s)" lines,
    "summary": (bytes, allocations) of its SUMMARY line, "objects": {address:
    [size, "direct" | "indirect"]} from report_objects}. Cached like valgrind_leaks."""
    exe = os.path.join(corpus_dir(), name if name.endswith("-lsan") else name + "-lsan")
    if not os.access(exe, os.X_OK):
        skip("%s not built (corpus/build.sh builds it only when the compiler can link "
             "-fsanitize=leak)" % exe)

    def parse(rc, out, d):
        if rc != 0 or "LeakSanitizer has encountered a fatal error" in out:
            raise Abort("%s with CPROF_LSAN=1 exited with status %s (a LeakSanitizer "
                        "failure? it needs ptrace):\n%s" % (os.path.basename(exe), rc,
                                                             out[-4000:]))
        figures = {"direct": [0, 0], "indirect": [0, 0], "summary": [0, 0], "objects": {}}
        kind = None
        for line in out.splitlines():
            mm = _LSAN_RECORD.match(line)
            if mm:
                kind = mm.group(1).lower()
                figures[kind][0] += int(mm.group(2))
                figures[kind][1] += int(mm.group(3))
                continue
            mm = _LSAN_OBJECT.match(line)
            if mm and kind:
                figures["objects"]["0x%x" % int(mm.group(1), 16)] = [int(mm.group(2)), kind]
                continue
            mm = _LSAN_SUMMARY.match(line)
            if mm:
                figures["summary"] = [int(mm.group(1)), int(mm.group(2))]
        for k in ("direct", "indirect", "summary"):
            figures[k] = tuple(figures[k])
        return out, figures

    return _leak_run("lsan", name, tuple(args), exe, (),
                     {"CPROF_LSAN": "1", "LSAN_OPTIONS": LSAN_OPTIONS}, [], parse)


# ---------------------------------------------------------------------------
# running cprof-core

def cprof_path():
    p = os.environ.get("CPROF")
    if not p:
        raise Fatal("CPROF is not set: it must name the cprof-core binary (run the tests with "
                    "`meson test`, or set CPROF=/path/to/cprof-core)")
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise Fatal("cprof-core binary not found: CPROF=%s does not exist or is not executable "
                    "(is cprof-core built?)" % p)
    return p


def cprof(*args, expect_rc=0, json=False, timeout=120, input=None):
    """Run $CPROF ARGS. Fails the case (Abort) if it crashes, hangs, or exits with a
    status other than EXPECT_RC (None: any status). Returns (rc, stdout, stderr), or
    the parsed stdout if JSON."""
    exe = cprof_path()
    cmd = [exe] + [str(a) for a in args]
    line = " ".join(shlex.quote(c) for c in cmd)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL if input is None else None,
                           input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Abort("`%s` hung: no exit within %d s" % (line, timeout))
    except OSError as e:
        raise Fatal("cannot run `%s`: %s" % (line, e))
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode < 0 or r.returncode > 128:
        sig = -r.returncode if r.returncode < 0 else r.returncode - 128
        raise Abort("`%s` crashed (signal %d):\n%s" % (line, sig, err[-3000:]))
    for mk in crash_markers:
        if mk in err:
            raise Abort("`%s`: %r in stderr:\n%s" % (line, mk, err[-3000:]))
    if expect_rc is not None and r.returncode != expect_rc:
        raise Abort("`%s` exited with status %d, expected %d; stderr:\n%s"
                    % (line, r.returncode, expect_rc, err[-3000:]))
    if json:
        try:
            return _json.loads(out)
        except ValueError as e:
            raise Abort("`%s`: stdout is not JSON (%s): %s" % (line, e, _short(out, 500)))
    return r.returncode, out, err


# ---------------------------------------------------------------------------
# other debuggers' opinions

_GDB_THREAD = re.compile(r"^Thread \d+ \(.*?\bLWP (\d+)\)")
_GDB_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-fA-F]+ in )?(\S+?) \(")


def gdb_backtraces(exe, core, timeout=180):
    """{lwp: [function names, innermost first]} from gdb's `thread apply all bt`,
    and gdb's output."""
    cmd = ["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set width 0",
           "-ex", "thread apply all bt", exe, core]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Abort("gdb hung on %s" % core)
    out = r.stdout.decode("utf-8", "replace")
    threads, cur = {}, None
    for line in out.splitlines():
        m = _GDB_THREAD.match(line)
        if m:
            cur = threads.setdefault(int(m.group(1)), [])
            continue
        m = _GDB_FRAME.match(line)
        if m and cur is not None:
            cur.append(m.group(2))
    return threads, out


_EU_TID = re.compile(r"^TID (\d+):")
_EU_FRAME = re.compile(r"^#(\d+)\s+0x[0-9a-fA-F]+\s+(?:- 1\s+)?(\S+)?")


def eu_stack_backtraces(exe, core, timeout=180):
    """{tid: [function names or '??']} from eu-stack, and its output."""
    cmd = ["eu-stack", "--core", core, "--executable", exe]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Abort("eu-stack hung on %s" % core)
    out = r.stdout.decode("utf-8", "replace")
    threads, cur = {}, None
    for line in out.splitlines():
        m = _EU_TID.match(line)
        if m:
            cur = threads.setdefault(int(m.group(1)), [])
            continue
        m = _EU_FRAME.match(line)
        if m and cur is not None:
            cur.append(m.group(2) or "??")
    return threads, out
