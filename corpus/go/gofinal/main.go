// gofinal MANIFEST_PATH [N]: objects the Go collector keeps alive through span
// specials, not through any pointer of the program. N (default 20) resources,
// each held by the global slice res and each with a finalizer whose closure
// captures a buffer of its own (FinBytes): the closure, and so the buffer, is
// reachable only from the finalizer record. With Go 1.24 or later (cleanup.go),
// as many more resources with a cleanup (runtime.AddCleanup) whose argument is a
// buffer of its own (CleanupBytes), reachable only from the cleanup record. The
// manifest lists every resource and buffer (see corpus/README.md).
package main

import (
	"runtime"
	"time"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

// Resource is what the finalizers and cleanups are attached to.
type Resource struct {
	ID   int64
	Name string
}

const (
	FinBytes     = 3000 // a finalizer's captured buffer: size class 3072
	CleanupBytes = 5000 // a cleanup's argument: size class 5376
)

var (
	res  []*Resource
	sink int
)

// finalizer makes a resource's finalizer; it captures buf, so the closure holds it.
func finalizer(buf []byte) func(*Resource) {
	return func(r *Resource) { sink += len(buf) + int(r.ID) }
}

type entry struct {
	res, buf uintptr
	kind     string
	size     int
}

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 20)
	var entries []entry
	for i := 0; i < n; i++ {
		r := &Resource{ID: int64(i), Name: "finalized"}
		buf := make([]byte, FinBytes)
		buf[0] = byte(i)
		runtime.SetFinalizer(r, finalizer(buf))
		res = append(res, r)
		entries = append(entries, entry{uintptr(unsafe.Pointer(r)),
			uintptr(unsafe.Pointer(&buf[0])), "finalizer", FinBytes})
	}
	entries = addCleanups(n, entries)
	// Let the runtime start what finalizers and cleanups make it start (the
	// finalizer goroutine, cleanup goroutines, an M for them) before the
	// manifest lists the threads: a thread born after it fails the harness.
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}

	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.KBool("cleanups", cleanupsSupported)
		w.Key("objects")
		w.Arr()
		for _, e := range entries {
			slot, _, _ := manifest.Slot(uintptr(e.size), false)
			w.Obj()
			w.KStr("kind", e.kind)
			w.KAddr("resource", e.res)
			w.KAddr("buffer", e.buf)
			w.KInt("buffer_size", int64(slot))
			w.End()
		}
		w.EndArr()
	})
	select {}
}
