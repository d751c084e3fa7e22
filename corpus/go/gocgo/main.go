// gocgo MANIFEST_PATH [N]: Go and C memory in one process (cgo). N Go structs
// (default 100), each holding a C.malloc'd buffer of 4096+8 bytes (a request glibc
// serves exactly: malloc_usable_size == request); 3 more C buffers held by a C
// global array (c_held), and 5 leaked (nothing points to them: the program keeps
// their addresses complemented, and zeroes 64 KiB of dead C stack). The main goroutine is locked to the main thread,
// so every C allocation comes from glibc's main_arena. The manifest lists every C
// buffer with its malloc_usable_size, every Go struct, and glibc's mallinfo2()
// taken just before the manifest is written (see corpus/README.md).
package main

/*
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define C_HELD 3
void *c_held[C_HELD];

static void *c_alloc(size_t n, int fill) {
	void *p = malloc(n);
	if (p) memset(p, fill, n);
	return p;
}
static size_t c_usable(void *p) { return malloc_usable_size(p); }
static void c_hold(int i, size_t n, int fill) { c_held[i] = c_alloc(n, fill); }
static uintptr_t c_held_addr(int i) { return (uintptr_t)c_held[i]; }
static uintptr_t c_held_slot(int i) { return (uintptr_t)&c_held[i]; }
// The leaked buffer's address, complemented: no word anywhere holds the pointer.
static uintptr_t c_leak(size_t n, int fill) { return ~(uintptr_t)c_alloc(n, fill); }
static size_t c_usable_at(uintptr_t a) { return malloc_usable_size((void *)a); }
// Zero 64 KiB of dead stack below the caller (the thread's system stack, where C
// runs): no stale copy of a leaked pointer stays there.
static void __attribute__((noinline)) c_scrub(void) {
	char buf[65536];
	memset(buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

struct mallinfo2 c_mi;
static void c_mallinfo(void) { c_mi = mallinfo2(); }
*/
import "C"

import (
	"runtime"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

// CBuffer is a Go object holding C memory.
type CBuffer struct {
	ID   int64
	Data unsafe.Pointer // C.malloc'd: the Go GC does not look at it
	Size int64
	Next *CBuffer
}

var holders []*CBuffer

const (
	BufRequest  = 4096 + 8
	HeldRequest = 2048 + 8
	LeakRequest = 1024 + 8
	NHeld       = 3
	NLeaked     = 5
)

var leaked [NLeaked]uintptr // complemented addresses

func init() {
	runtime.LockOSThread() // main goroutine on the main thread: C mallocs in main_arena
}

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 100)

	for i := 0; i < n; i++ {
		b := &CBuffer{ID: int64(i), Size: BufRequest}
		b.Data = C.c_alloc(BufRequest, C.int('A'+i%26))
		if b.Data == nil {
			manifest.Fail("malloc failed")
		}
		*(*int64)(b.Data) = int64(0x6367000000 + i) // the first 8 bytes: 0x6367000000 + i
		if i > 0 {
			b.Next = holders[i-1]
		}
		holders = append(holders, b)
	}
	for i := 0; i < NHeld; i++ {
		C.c_hold(C.int(i), HeldRequest, C.int('h'))
	}
	for i := 0; i < NLeaked; i++ {
		leaked[i] = uintptr(C.c_leak(LeakRequest, C.int('l')))
	}
	C.c_scrub()
	goSize, _, _ := manifest.Slot(unsafe.Sizeof(CBuffer{}), true)

	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.Key("globals")
		w.Obj()
		w.KAddr("holders", uintptr(unsafe.Pointer(&holders)))
		w.KAddr("c_held", uintptr(C.c_held_slot(0)))
		w.End()
		w.Key("go_structs")
		w.Arr()
		for _, b := range holders {
			w.Obj()
			w.KAddr("addr", uintptr(unsafe.Pointer(b)))
			w.KInt("size", int64(goSize))
			w.KAddr("data", uintptr(b.Data))
			w.End()
		}
		w.EndArr()
		w.Key("c_buffers")
		w.Arr()
		for _, b := range holders {
			cbuf(w, uintptr(b.Data), BufRequest, "go", uintptr(unsafe.Pointer(b)))
		}
		for i := 0; i < NHeld; i++ {
			cbuf(w, uintptr(C.c_held_addr(C.int(i))), HeldRequest, "c_global", uintptr(C.c_held_slot(C.int(i))))
		}
		for i := 0; i < NLeaked; i++ {
			cbuf(w, ^leaked[i], LeakRequest, "leaked", 0)
		}
		w.EndArr()
		C.c_mallinfo()
		mi := &C.c_mi
		w.Key("mallinfo2")
		w.Obj()
		w.KUint("arena", uint64(mi.arena))
		w.KUint("ordblks", uint64(mi.ordblks))
		w.KUint("smblks", uint64(mi.smblks))
		w.KUint("hblks", uint64(mi.hblks))
		w.KUint("hblkhd", uint64(mi.hblkhd))
		w.KUint("usmblks", uint64(mi.usmblks))
		w.KUint("fsmblks", uint64(mi.fsmblks))
		w.KUint("uordblks", uint64(mi.uordblks))
		w.KUint("fordblks", uint64(mi.fordblks))
		w.KUint("keepcost", uint64(mi.keepcost))
		w.End()
	})
	select {}
}

// cbuf: one C buffer; HELD_BY says what points to it (go: the Go struct at FROM;
// c_global: the c_held slot at FROM; leaked: nothing).
func cbuf(w *manifest.Writer, addr uintptr, request int, heldBy string, from uintptr) {
	w.Obj()
	w.KAddr("addr", addr)
	w.KInt("request", int64(request))
	w.KInt("usable", int64(C.c_usable_at(C.uintptr_t(addr))))
	w.KStr("held_by", heldBy)
	if from != 0 {
		w.KAddr("from", from)
	}
	w.End()
}
