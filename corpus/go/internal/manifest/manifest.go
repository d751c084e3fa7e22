// Package manifest is what the Go programs of the corpus share: the start of a
// program (Start), its manifest, written without allocating once the measured state
// is final (Finish), and the Go allocator's size classes (Slot).
//
// The protocol is corpus/README.md's: PROGRAM MANIFEST_PATH [ARGS...]; the program
// sets up its state, writes the manifest to MANIFEST_PATH.tmp, renames it to
// MANIFEST_PATH and parks forever. Go specifics:
//
//   - Finish runs the program's manifest code before the measurement (a dry run: it
//     sizes the buffer, initializes everything that allocates lazily, and checks
//     that the code does not allocate), then runtime.GC() twice,
//     debug.FreeOSMemory(), waits until the runtime is quiet, then
//     runtime.ReadMemStats, runtime/metrics.Read, the threads from /proc/self/task,
//     and formats the manifest into the buffer allocated before the GCs
//     (strconv.Append*, never beyond the buffer's capacity) and writes it with raw
//     system calls (openat, write, renameat: syscall.Open and os.WriteFile allocate).
//     The MemStats taken before and after the writing are both in the manifest
//     ("memstats", "memstats_after"); see Finish for what happens if they differ.
//   - Start starts the keeper: a goroutine locked to its thread, blocked in read(2)
//     on a pipe nobody writes. Without a thread in a system call, a program whose
//     goroutines all wait on channels would die of "all goroutines are asleep -
//     deadlock!" (runtime.checkdead). Its thread is the one manifest thread whose
//     system call (read, 0) and function (keeper, on the goroutine it is locked
//     to) are known.
//   - Start calls debug.SetTraceback("crash"): SIGABRT makes the runtime print every
//     goroutine (with gp= addresses and frames) and die of SIGABRT, so the kernel
//     writes a core, whatever GOTRACEBACK the caller set (the harness sets
//     GOTRACEBACK=crash too).
package manifest

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// ---------------------------------------------------------------------------
// the JSON writer: appends into a buffer allocated beforehand, never beyond its
// capacity (append within the capacity does not allocate); an overflow is
// recorded and the dry run retries with a buffer twice as large.

// Writer formats JSON into a fixed buffer. Objects and arrays at the first two
// levels get one member per line.
type Writer struct {
	buf      []byte
	overflow bool
	depth    int
	first    [32]bool
	afterKey bool
}

func (w *Writer) reset() {
	w.buf = w.buf[:0]
	w.overflow = false
	w.depth = 0
	w.afterKey = false
}

func (w *Writer) room(n int) bool {
	if len(w.buf)+n > cap(w.buf) {
		w.overflow = true
		return false
	}
	return true
}

func (w *Writer) raw(s string) {
	if w.room(len(s)) {
		w.buf = append(w.buf, s...)
	}
}

func (w *Writer) sep() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if w.depth > 0 {
		if !w.first[w.depth] {
			w.raw(",")
		}
		w.first[w.depth] = false
		if w.depth <= 2 {
			w.raw("\n")
		}
	}
}

func (w *Writer) push() {
	if w.depth+1 >= len(w.first) {
		w.overflow = true
		return
	}
	w.depth++
	w.first[w.depth] = true
}

func (w *Writer) pop() {
	if w.depth > 0 {
		w.depth--
	}
}

// Obj starts an object (a value: after Key, or an array element).
func (w *Writer) Obj() { w.sep(); w.raw("{"); w.push() }

// End ends the current object.
func (w *Writer) End() { w.pop(); w.raw("}") }

// Arr starts an array.
func (w *Writer) Arr() { w.sep(); w.raw("["); w.push() }

// EndArr ends the current array.
func (w *Writer) EndArr() { w.pop(); w.raw("]") }

// Key writes a member name; the next value is its value.
func (w *Writer) Key(k string) {
	w.sep()
	w.str(k)
	w.raw(":")
	w.afterKey = true
}

func (w *Writer) str(s string) {
	if !w.room(2 + 6*len(s)) {
		return
	}
	const hex = "0123456789abcdef"
	w.buf = append(w.buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			w.buf = append(w.buf, '\\', c)
		case c < 0x20:
			w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			w.buf = append(w.buf, c)
		}
	}
	w.buf = append(w.buf, '"')
}

// Str writes a string value.
func (w *Writer) Str(s string) { w.sep(); w.str(s) }

// Int writes a number.
func (w *Writer) Int(v int64) {
	w.sep()
	if w.room(24) {
		w.buf = strconv.AppendInt(w.buf, v, 10)
	}
}

// Uint writes a number.
func (w *Writer) Uint(v uint64) {
	w.sep()
	if w.room(24) {
		w.buf = strconv.AppendUint(w.buf, v, 10)
	}
}

// Float writes a number (finite).
func (w *Writer) Float(v float64) {
	w.sep()
	if w.room(32) {
		w.buf = strconv.AppendFloat(w.buf, v, 'g', -1, 64)
	}
}

// Addr writes an address: "0x1f".
func (w *Writer) Addr(v uintptr) {
	w.sep()
	if w.room(24) {
		w.buf = append(w.buf, '"', '0', 'x')
		w.buf = strconv.AppendUint(w.buf, uint64(v), 16)
		w.buf = append(w.buf, '"')
	}
}

// Bool writes true or false.
func (w *Writer) Bool(b bool) {
	w.sep()
	if b {
		w.raw("true")
	} else {
		w.raw("false")
	}
}

// Null writes null.
func (w *Writer) Null() { w.sep(); w.raw("null") }

// KStr, KInt, KUint, KAddr, KBool: a member and its value.
func (w *Writer) KStr(k, v string)       { w.Key(k); w.Str(v) }
func (w *Writer) KInt(k string, v int64) { w.Key(k); w.Int(v) }
func (w *Writer) KUint(k string, v uint64) {
	w.Key(k)
	w.Uint(v)
}
func (w *Writer) KAddr(k string, v uintptr) { w.Key(k); w.Addr(v) }
func (w *Writer) KBool(k string, v bool)    { w.Key(k); w.Bool(v) }

// Strs writes an array of strings.
func (w *Writer) Strs(v []string) {
	w.Arr()
	for _, s := range v {
		w.Str(s)
	}
	w.EndArr()
}

// ---------------------------------------------------------------------------
// size classes: what an allocation of N bytes occupies in the Go heap

// SizeClasses is the Go runtime's table (internal/runtime/gc/sizeclasses.go, Go
// 1.21-1.26: 68 classes up to 32 KiB); Finish checks it against
// runtime.MemStats.BySize.
var SizeClasses = [...]uintptr{0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176,
	192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768,
	896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096,
	4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568,
	14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

const (
	PageSize     = 8192 // the runtime's page (mspan granularity)
	MaxSmallSize = 32768
	TinySize     = 16  // noscan objects smaller than this share 16-byte tiny blocks
	HeaderSize   = 8   // malloc header of scan objects > 512 bytes (Go 1.22+)
	NoHeaderMax  = 512 // scan objects up to this size keep their heap bits in the span
)

// Slot returns what a single allocation of N bytes (POINTERS: its type has
// pointers) occupies: the slot (size class, or whole pages for a large object),
// the offset of the object in the slot (HeaderSize for small scan objects over
// NoHeaderMax bytes, whose slot starts with the type pointer), and whether it is
// a tiny allocation (N < 16 without pointers: the object shares a 16-byte block).
func Slot(n uintptr, pointers bool) (slot, offset uintptr, tiny bool) {
	if n == 0 {
		return 0, 0, false // runtime.zerobase
	}
	if !pointers && n < TinySize {
		return TinySize, 0, true
	}
	if pointers && n > NoHeaderMax && n <= MaxSmallSize-HeaderSize {
		n += HeaderSize
		offset = HeaderSize
	}
	if n > MaxSmallSize {
		return (n + PageSize - 1) &^ (PageSize - 1), 0, false
	}
	for _, s := range SizeClasses[1:] {
		if s >= n {
			return s, offset, false
		}
	}
	panic("unreachable")
}

// ---------------------------------------------------------------------------
// start

var (
	keeperTid int32
	keeperW   int // the pipe's write end, kept open: the read blocks forever
)

// Args returns the program's arguments after MANIFEST_PATH (exits with status 2
// on a usage error).
func Args(usage string) []string {
	if len(os.Args) < 2 || os.Args[1] == "" {
		println("usage:", filepath.Base(os.Args[0]), "MANIFEST_PATH", usage)
		os.Exit(2)
	}
	return os.Args[2:]
}

// IntArg parses ARGS[I] (a positive number) or returns DEF.
func IntArg(args []string, i int, def int) int {
	if i >= len(args) {
		return def
	}
	v, err := strconv.Atoi(args[i])
	if err != nil || v <= 0 {
		Fail("bad argument " + strconv.Quote(args[i]) + ": a positive number expected")
	}
	return v
}

// StackFrames returns the functions of one goroutine in runtime.Stack's text
// (its lines, the "goroutine N [...]:" header first), innermost first, as
// runtime.Stack prints them: without the runtime's frames and wrappers.
func StackFrames(lines []string) []string {
	frames := []string{}
	for _, l := range lines[1:] {
		if l == "" || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "created by ") {
			continue
		}
		if k := strings.LastIndex(l, "("); k > 0 {
			l = l[:k]
		}
		frames = append(frames, l)
	}
	return frames
}

// Fail prints MSG and exits with status 3 (the protocol's "could not set up").
func Fail(msg string) {
	println(filepath.Base(os.Args[0])+":", msg)
	os.Exit(3)
}

// Start: traceback level crash (SIGABRT dumps a core) and the keeper goroutine.
// Call it first in main.
func Start() {
	debug.SetTraceback("crash")
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		Fail("pipe2: " + err.Error())
	}
	keeperW = p[1]
	started := make(chan struct{})
	go keeper(p[0], started)
	<-started
}

// keeper holds one thread in read(2) for ever (see the package comment).
//
//go:noinline
func keeper(fd int, started chan struct{}) {
	runtime.LockOSThread()
	keeperTid = int32(syscall.Gettid())
	close(started)
	var b [1]byte
	for {
		syscall.Read(fd, b[:])
	}
}

// ---------------------------------------------------------------------------
// the manifest

// The runtime/metrics read with the MemStats (uint64 ones only: reading them does
// not allocate).
var metricNames = [...]string{
	"/gc/heap/objects:objects",
	"/gc/heap/allocs:objects",
	"/gc/heap/frees:objects",
	"/gc/heap/tiny/allocs:objects",
	"/gc/heap/allocs:bytes",
	"/gc/heap/frees:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/gc/stack/starting-size:bytes",
	"/gc/scan/globals:bytes",
	"/gc/scan/heap:bytes",
	"/gc/scan/stack:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/total:bytes",
	"/sched/gomaxprocs:threads",
	"/sched/goroutines:goroutines",
	"/sched/threads/total:threads",
}

var (
	before, after, final runtime.MemStats
	samples              [len(metricNames)]metrics.Sample
	tids                 [4096]int32
	ntids                int
	direntBuf            [16384]byte
	procTask             = []byte("/proc/self/task\x00")
)

// prepared before the measurement
type prepared struct {
	program, exe, goVersion string
	loadBias                uintptr
	build                   [][2]string
	tmpZ, finalZ            []byte
	w                       *Writer
}

var prep prepared

// Finish writes the manifest: the common members, then BODY's (BODY writes members
// of the top-level object with w.Key/w.K*: it must not allocate, and must write the
// same thing every time it runs), and returns. The caller then parks its goroutine.
//
// The steps: a dry run (sizes the buffer; repeated until a run allocates nothing:
// the runtime's own background work can allocate too), runtime.GC() twice,
// debug.FreeOSMemory() (a third GC, then every free page is returned to the OS:
// the background scavenger has nothing left to do, HeapReleased stays put), a wait
// until the runtime is quiet (Mallocs, HeapReleased, NumGC and the threads unchanged
// across 10 ms in nanosleep(2), twice in a row: starting the world after a GC or a
// ReadMemStats can start a new M, which allocates), then the measurement and the
// manifest, written to MANIFEST_PATH.tmp; if Mallocs or HeapReleased moved while it
// was written, the runtime is waited for again and the manifest rewritten (at most
// 5 times). Exits with status 3 when the program's own code allocates.
func Finish(body func(w *Writer)) {
	path := os.Args[1]
	prep.tmpZ = []byte(path + ".tmp\x00")
	prep.finalZ = []byte(path + "\x00")
	prep.program = filepath.Base(os.Args[0])
	if exe, err := os.Executable(); err == nil {
		prep.exe = exe
	}
	prep.goVersion = runtime.Version()
	prep.loadBias = loadBias()
	// A program that writes its manifest twice (gogrow) appends into the same
	// array: the second Finish allocates no more than the first.
	prep.build = prep.build[:0]
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			prep.build = append(prep.build, [2]string{s.Key, s.Value})
		}
	}
	for i := range samples {
		samples[i].Name = metricNames[i]
	}
	checkSizeClasses()
	prep.w = &Writer{buf: make([]byte, 0, 1<<16)}
	w := prep.w

	// Dry runs: size the buffer, then check that a whole run allocates nothing.
	for {
		measure()
		w.reset()
		head(w)
		body(w)
		tail(w)
		if !w.overflow {
			break
		}
		w.buf = make([]byte, 0, 2*cap(w.buf))
	}
	for try := 1; ; try++ {
		runtime.ReadMemStats(&final)
		measure()
		w.reset()
		head(w)
		body(w)
		tail(w)
		runtime.ReadMemStats(&after)
		if after.Mallocs == final.Mallocs && !w.overflow {
			break
		}
		if try == 5 {
			println("manifest: the manifest code allocates:", after.Mallocs-final.Mallocs,
				"objects (overflow:", w.overflow, ")")
			os.Exit(3)
		}
		settle()
	}

	// The measurement.
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	settleRounds = settle()
	for attempts = 1; ; attempts++ {
		measure()
		w.reset()
		head(w)
		body(w)
		fd := openTmp()
		writeAll(fd, w.buf)
		runtime.ReadMemStats(&after)
		if (after.Mallocs != before.Mallocs || after.HeapReleased != before.HeapReleased) && attempts < 5 {
			syscall.Close(fd)
			settleRounds += settle()
			continue
		}
		w.reset()
		w.depth, w.first[1] = 1, false
		tail(w)
		w.raw("\n}\n")
		writeAll(fd, w.buf)
		syscall.Close(fd)
		break
	}
	if _, _, e := syscall.Syscall6(syscall.SYS_RENAMEAT, atFdcwd, uintptr(unsafe.Pointer(&prep.tmpZ[0])),
		atFdcwd, uintptr(unsafe.Pointer(&prep.finalZ[0])), 0, 0); e != 0 {
		println("manifest: rename:", e.Error())
		os.Exit(3)
	}
	runtime.ReadMemStats(&final)
	if after.Mallocs != before.Mallocs || final.Mallocs != before.Mallocs {
		println("manifest: warning: the runtime allocated while the manifest was written: Mallocs",
			before.Mallocs, after.Mallocs, final.Mallocs)
	}
}

var (
	settleRounds, attempts int
	sleepTs                = syscall.Timespec{Nsec: 10e6}
	s1, s2                 runtime.MemStats
	t1                     [len(tids)]int32
)

// settle waits until the runtime is quiet (see Finish); returns the rounds taken.
func settle() int {
	stable := 0
	for round := 1; round <= 300; round++ {
		runtime.ReadMemStats(&s1)
		readTids()
		n1 := ntids
		copy(t1[:n1], tids[:n1])
		syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&sleepTs)), 0, 0)
		runtime.ReadMemStats(&s2)
		readTids()
		same := n1 == ntids && s1.Mallocs == s2.Mallocs && s1.HeapReleased == s2.HeapReleased &&
			s1.NumGC == s2.NumGC
		for i := 0; same && i < n1; i++ {
			same = t1[i] == tids[i]
		}
		if same {
			stable++
		} else {
			stable = 0
		}
		if stable == 2 {
			return round
		}
	}
	return -1
}

// AT_FDCWD (-100) as a system call argument.
const atFdcwd = ^uintptr(99)

func measure() {
	runtime.ReadMemStats(&before)
	metrics.Read(samples[:])
	readTids()
}

func openTmp() int {
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFdcwd, uintptr(unsafe.Pointer(&prep.tmpZ[0])),
		syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644, 0, 0)
	if e != 0 {
		println("manifest: cannot create", string(prep.tmpZ[:len(prep.tmpZ)-1])+":", e.Error())
		os.Exit(3)
	}
	return int(fd)
}

func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err != nil || n <= 0 {
			println("manifest: write failed")
			os.Exit(3)
		}
		b = b[n:]
	}
}

// readTids lists /proc/self/task (getdents64 into a static buffer).
func readTids() {
	ntids = 0
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFdcwd, uintptr(unsafe.Pointer(&procTask[0])),
		syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		println("manifest: cannot open /proc/self/task:", e.Error())
		os.Exit(3)
	}
	for {
		n, _, e := syscall.Syscall(syscall.SYS_GETDENTS64, fd, uintptr(unsafe.Pointer(&direntBuf[0])), uintptr(len(direntBuf)))
		if e != 0 || int(n) <= 0 {
			break
		}
		for off := 0; off < int(n); {
			reclen := int(binary.LittleEndian.Uint16(direntBuf[off+16:]))
			tid, ok := int32(0), false
			for i := off + 19; i < off+reclen && direntBuf[i] != 0; i++ {
				c := direntBuf[i]
				if c < '0' || c > '9' {
					ok = false
					break
				}
				tid, ok = tid*10+int32(c-'0'), true
			}
			if ok && ntids < len(tids) {
				tids[ntids] = tid
				ntids++
			}
			off += reclen
		}
	}
	syscall.Close(int(fd))
	// sort (insertion: a few threads)
	for i := 1; i < ntids; i++ {
		for j := i; j > 0 && tids[j] < tids[j-1]; j-- {
			tids[j], tids[j-1] = tids[j-1], tids[j]
		}
	}
}

func head(w *Writer) {
	pid := syscall.Getpid()
	w.Obj()
	w.KStr("program", prep.program)
	w.KInt("pid", int64(pid))
	w.KStr("exe", prep.exe)
	w.KAddr("exe_load_bias", prep.loadBias)
	w.KStr("language", "go")
	w.KStr("go_version", prep.goVersion)
	w.Key("build")
	w.Obj()
	for _, kv := range prep.build {
		w.KStr(kv[0], kv[1])
	}
	w.End()
	w.KInt("gomaxprocs", int64(runtime.GOMAXPROCS(0)))
	w.KInt("num_goroutine", int64(runtime.NumGoroutine()))
	w.Key("threads")
	w.Arr()
	for i := 0; i < ntids; i++ {
		w.Obj()
		w.KInt("tid", int64(tids[i]))
		if int(tids[i]) == pid {
			w.KBool("main", true)
		}
		w.Key("functions")
		w.Arr()
		if tids[i] == keeperTid {
			w.Str("cprofcorpus/internal/manifest.keeper")
		}
		w.EndArr()
		if tids[i] == keeperTid {
			w.KBool("keeper", true)
			w.KInt("syscall", 0)
		}
		w.End()
	}
	w.EndArr()
	w.KInt("keeper_tid", int64(keeperTid))
	w.Key("memstats")
	memstats(w, &before)
	w.Key("metrics")
	w.Obj()
	for i := range samples {
		w.Key(samples[i].Name)
		if samples[i].Value.Kind() == metrics.KindUint64 {
			w.Uint(samples[i].Value.Uint64())
		} else {
			w.Null()
		}
	}
	w.End()
	w.Key("size_classes")
	w.Arr()
	for _, s := range SizeClasses {
		w.Uint(uint64(s))
	}
	w.EndArr()
}

func tail(w *Writer) {
	w.Key("memstats_after")
	memstats(w, &after)
	w.KInt("mallocs_while_writing", int64(after.Mallocs-before.Mallocs))
	w.KInt("settle_rounds", int64(settleRounds))
	w.KInt("manifest_attempts", int64(attempts))
}

func memstats(w *Writer, m *runtime.MemStats) {
	w.Obj()
	w.KUint("Alloc", m.Alloc)
	w.KUint("TotalAlloc", m.TotalAlloc)
	w.KUint("Sys", m.Sys)
	w.KUint("Lookups", m.Lookups)
	w.KUint("Mallocs", m.Mallocs)
	w.KUint("Frees", m.Frees)
	w.KUint("HeapAlloc", m.HeapAlloc)
	w.KUint("HeapSys", m.HeapSys)
	w.KUint("HeapIdle", m.HeapIdle)
	w.KUint("HeapInuse", m.HeapInuse)
	w.KUint("HeapReleased", m.HeapReleased)
	w.KUint("HeapObjects", m.HeapObjects)
	w.KUint("StackInuse", m.StackInuse)
	w.KUint("StackSys", m.StackSys)
	w.KUint("MSpanInuse", m.MSpanInuse)
	w.KUint("MSpanSys", m.MSpanSys)
	w.KUint("MCacheInuse", m.MCacheInuse)
	w.KUint("MCacheSys", m.MCacheSys)
	w.KUint("BuckHashSys", m.BuckHashSys)
	w.KUint("GCSys", m.GCSys)
	w.KUint("OtherSys", m.OtherSys)
	w.KUint("NextGC", m.NextGC)
	w.KUint("LastGC", m.LastGC)
	w.KUint("PauseTotalNs", m.PauseTotalNs)
	w.KUint("NumGC", uint64(m.NumGC))
	w.KUint("NumForcedGC", uint64(m.NumForcedGC))
	w.Key("GCCPUFraction")
	w.Float(m.GCCPUFraction)
	w.Key("BySize") // [size, mallocs, frees] of the first 61 size classes
	w.Arr()
	for i := range m.BySize {
		w.Arr()
		w.Uint(uint64(m.BySize[i].Size))
		w.Uint(m.BySize[i].Mallocs)
		w.Uint(m.BySize[i].Frees)
		w.EndArr()
	}
	w.EndArr()
	w.End()
}

func checkSizeClasses() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	for i := range m.BySize {
		if i < len(SizeClasses) && uintptr(m.BySize[i].Size) != SizeClasses[i] {
			Fail("size class " + strconv.Itoa(i) + " is " + strconv.Itoa(int(m.BySize[i].Size)) +
				" bytes in this runtime, not " + strconv.Itoa(int(SizeClasses[i])) +
				": update manifest.SizeClasses")
		}
	}
}

// loadBias: the run-time address of the program headers (auxv AT_PHDR) minus their
// link-time address (PT_PHDR of /proc/self/exe): 0 for the default (non-PIE) Go
// executable.
func loadBias() uintptr {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0
	}
	var phdr uint64
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.LittleEndian.Uint64(auxv[i:]) == 3 { // AT_PHDR
			phdr = binary.LittleEndian.Uint64(auxv[i+8:])
		}
	}
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return 0
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_PHDR {
			return uintptr(phdr - p.Vaddr)
		}
	}
	return 0
}
