// gogoroutines MANIFEST_PATH [N [SIZE]]: a goroutine leak. N goroutines (default
// 1000) each allocate a SIZE-byte []byte (default 64 KiB: a large object, its own
// span) and block for ever receiving from a channel nobody writes: even-numbered
// workers from a channel of their own (referenced only by that goroutine: its stack
// and its sudog), odd-numbered ones from one shared channel (a global). The buffer
// is used after the receive, so the only thing keeping it alive is the worker's
// stack. The manifest lists every buffer and channel (see corpus/README.md).
//
// Two more goroutines park in code the compiler inlined: blockInlined (a
// sync.WaitGroup.Wait, inlined into its go statement's wrapper) and chainOuter
// -> chainMiddle -> chainInner (a channel receive; all three inlined into the
// wrapper), so the runtime's traceback of them lists inlined calls that have no
// frame of their own. The main goroutine, locked to the main thread, ends in
// pause(2) through syscall.RawSyscall: it stays "running" (a raw system call
// does not leave the running state), and the process-directed SIGABRT is
// delivered to the main thread, interrupting it: its registers are in the
// kernel's signal frame, its innermost function a frameless assembly stub.
// Before that, Dead goroutines run at once and exit: allgs keeps them, dead
// (Gdead), for reuse.
package main

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

var (
	shared  = make(chan int)
	ready   sync.WaitGroup
	bufAddr []uintptr // written by each worker before it blocks (uintptr: keeps nothing alive)
	chAddr  []uintptr
	sink    int
)

func init() {
	// the main goroutine runs on the main thread, which process-directed
	// signals go to first
	runtime.LockOSThread()
}

var (
	never     sync.WaitGroup // Add(1), never Done
	chainCh   = make(chan int)
	chainSink int
)

// Small enough for the compiler to inline into the go statements' wrappers.
func blockInlined(wg *sync.WaitGroup) { wg.Wait() }
func chainInner(c chan int) int     { return <-c }
func chainMiddle(c chan int) int    { return chainInner(c) + 1 }
func chainOuter(c chan int)         { chainSink = chainMiddle(c) }

// parkRunning blocks the main goroutine in pause(2) without leaving the running
// state (RawSyscall does not call entersyscall).
//
//go:noinline
func parkRunning() {
	for {
		syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
	}
}

// Dead goroutines are started together and exit (none can before the last starts).
const Dead = 100

func makeDead() {
	release := make(chan struct{})
	var done sync.WaitGroup
	before := runtime.NumGoroutine()
	done.Add(Dead)
	for i := 0; i < Dead; i++ {
		go func() {
			<-release
			done.Done()
		}()
	}
	close(release)
	done.Wait()
	for try := 0; runtime.NumGoroutine() != before; try++ {
		if try == 5000 {
			manifest.Fail("the short-lived goroutines did not exit")
		}
		time.Sleep(time.Millisecond)
	}
}

// Marker: a buffer's first 8 bytes are Marker + its worker's index (little endian).
const Marker = 0x60b0f0000000

//go:noinline
func worker(i int, size int, c chan int) {
	buf := make([]byte, size) // not constant: over 32 bytes, on the heap (checked in main)
	m := uint64(Marker + i)
	for j := 0; j < 8; j++ {
		buf[j] = byte(m >> (8 * j))
	}
	for j := 8; j < len(buf); j++ {
		buf[j] = byte(i)
	}
	bufAddr[i] = uintptr(unsafe.Pointer(&buf[0]))
	ready.Done()
	v := <-c
	buf[8] = byte(v) // buf is live across the receive
	sink += int(buf[len(buf)-1])
}

func main() {
	manifest.Start()
	args := manifest.Args("[N [SIZE]]")
	n := manifest.IntArg(args, 0, 1000)
	size := manifest.IntArg(args, 1, 64<<10)
	if size < 16 {
		manifest.Fail("SIZE must be at least 16")
	}
	bufAddr = make([]uintptr, n)
	chAddr = make([]uintptr, n)
	ready.Add(n)
	for i := 0; i < n; i++ {
		c := shared
		if i%2 == 0 {
			c = make(chan int)
		}
		chAddr[i] = *(*uintptr)(unsafe.Pointer(&c))
		go worker(i, size, c)
	}
	ready.Wait()
	never.Add(1)
	go blockInlined(&never)
	go chainOuter(chainCh)
	// ready.Done() runs before the receive: wait until every worker is parked in it,
	// as the runtime's own traceback of every goroutine shows them.
	frames := waitParked(n)
	makeDead()
	inlined := [][]string{waitStack("[sync.WaitGroup.Wait", "\nmain.blockInlined("),
		waitStack("[chan receive", "\nmain.chainInner(")}

	bufSize, _, _ := manifest.Slot(uintptr(size), false)
	for i, a := range bufAddr {
		if size > manifest.MaxSmallSize && a%manifest.PageSize != 0 {
			manifest.Fail("buffer " + strconv.Itoa(i) + " is not a large heap object (on the stack?)")
		}
	}
	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.KInt("marker", Marker)
		w.Key("goroutines")
		w.Obj()
		w.KInt("workers", int64(n))
		w.KStr("function", "main.worker")
		w.KStr("wait_reason", "chan receive")
		// innermost first, as runtime.Stack prints them (without the runtime's frames)
		w.Key("functions")
		w.Strs(frames)
		w.KStr("main_function", "main.main")
		w.KStr("main_status", "running")
		w.KInt("dead_at_least", Dead)
		w.End()
		// the goroutines parked in inlined code: their stacks as runtime.Stack
		// prints them (inlined calls included, innermost first, without the
		// runtime's frames)
		w.Key("inlined")
		w.Arr()
		for _, f := range inlined {
			w.Obj()
			w.Key("functions")
			w.Strs(f)
			w.End()
		}
		w.EndArr()
		w.Key("globals")
		w.Obj()
		w.KAddr("shared", uintptr(unsafe.Pointer(&shared)))
		w.End()
		w.KAddr("shared_chan", *(*uintptr)(unsafe.Pointer(&shared)))
		w.Key("buffers")
		w.Arr()
		for i := 0; i < n; i++ {
			w.Obj()
			w.KInt("worker", int64(i))
			w.KAddr("addr", bufAddr[i])
			w.KInt("len", int64(size))
			w.KInt("size", int64(bufSize))
			w.KAddr("chan", chAddr[i])
			w.KBool("shared_chan", i%2 == 1)
			w.End()
		}
		w.EndArr()
	})
	parkRunning()
}

// waitStack waits until runtime.Stack shows a goroutine whose header contains
// STATE and whose stack contains CALL, and returns its functions.
func waitStack(state, call string) []string {
	buf := make([]byte, 1<<22)
	for try := 0; try < 5000; try++ {
		text := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(text, "\n\n") {
			lines := strings.Split(g, "\n")
			if strings.Contains(lines[0], state) && strings.Contains(g, call) {
				return manifest.StackFrames(lines)
			}
		}
		time.Sleep(time.Millisecond)
	}
	manifest.Fail("no goroutine " + state + " in " + call + " after 5 s")
	return nil
}

// waitParked waits until runtime.Stack shows N goroutines of main.worker in
// "chan receive", and returns the functions of the first one's stack, innermost
// first (runtime.Stack leaves out the runtime's frames, whatever GOTRACEBACK says).
func waitParked(n int) []string {
	buf := make([]byte, 4096*n+(1<<20))
	for try := 0; ; try++ {
		text := string(buf[:runtime.Stack(buf, true)])
		var frames []string
		count := 0
		for _, g := range strings.Split(text, "\n\n") {
			lines := strings.Split(g, "\n")
			if !strings.Contains(lines[0], "[chan receive") || !strings.Contains(g, "\nmain.worker(") {
				continue
			}
			count++
			if frames == nil {
				frames = manifest.StackFrames(lines)
			}
		}
		if count == n {
			return frames
		}
		if try == 5000 {
			manifest.Fail("workers not parked after 5 s: " + strconv.Itoa(count) + " of " + strconv.Itoa(n))
		}
		time.Sleep(time.Millisecond)
	}
}
