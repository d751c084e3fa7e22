// goprofile MANIFEST_PATH [default]: the Go heap profile as an oracle.
// runtime.MemProfileRate = 1 first thing in main (unless "default": the
// runtime's rate), so every allocation after it is sampled (a profile
// record - a "special" on the object's span - per object, and a bucket per call
// stack); then four call sites allocate distinct numbers of objects of distinct
// kinds and sizes, kept in globals:
//
//	main.allocSiteA  4000 x 24 B   *Small  (pointers, no malloc header)
//	main.allocSiteB   700 x 200 B  []byte  (no pointers, size class 208)
//	main.newBig       150 x 1000 B *Big    (pointers, > 512 B: an 8-byte malloc
//	                                        header, the object at slot + 8; class 1024)
//	                                        inlined into main.allocSiteC: the site is
//	                                        the inlined call, as pprof says
//	main.allocSiteD    12 x 50000 B []byte (large: 7 pages, 57344 B)
//
// After runtime.GC() the program writes the heap profile the runtime would serve
// (pprof.Lookup("heap").WriteTo(f, 0): gzipped protobuf) to MANIFEST_PATH.heap.pb.gz,
// then the manifest, with each site's in-use objects and bytes (the runtime
// profiles whole slots: bytes = objects x slot size) and the address of every
// object (see corpus/README.md).
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Small struct {
	A, B int64
	P    *Small
}

type Big struct {
	Ptrs [100]*byte
	Tail [200]byte
}

var (
	keptA []*Small
	keptB [][]byte
	keptC []*Big
	keptD [][]byte
)

type site struct {
	function string
	count    int
	request  uintptr
	pointers bool
}

var sites = [...]site{
	{"main.allocSiteA", 4000, unsafe.Sizeof(Small{}), true},
	{"main.allocSiteB", 700, 200, false},
	{"main.newBig", 150, unsafe.Sizeof(Big{}), true},
	{"main.allocSiteD", 12, 50000, false},
}

//go:noinline
func allocSiteA(out []*Small) {
	for i := range out {
		out[i] = &Small{A: int64(i), B: 0x5a5a}
		if i > 0 {
			out[i].P = out[i-1]
		}
	}
}

//go:noinline
func allocSiteB(out [][]byte) {
	for i := range out {
		out[i] = make([]byte, 200)
		out[i][0] = 'B'
	}
}

// newBig is small enough to be inlined into allocSiteC.
func newBig() *Big {
	b := new(Big)
	b.Tail[0] = 'C'
	return b
}

//go:noinline
func allocSiteC(out []*Big) {
	for i := range out {
		out[i] = newBig()
	}
}

//go:noinline
func allocSiteD(out [][]byte) {
	for i := range out {
		out[i] = make([]byte, 50000)
		out[i][0] = 'D'
	}
}

func main() {
	// "default": the runtime's own rate (one sample per 512 KiB allocated),
	// for pairing a profile whose figures are estimates (t0820).
	if len(os.Args) < 3 || os.Args[2] != "default" {
		runtime.MemProfileRate = 1
	}
	manifest.Start()
	manifest.Args("[default]")

	// The holders are allocated here (site main.main), not in the sites.
	keptA = make([]*Small, sites[0].count)
	keptB = make([][]byte, sites[1].count)
	keptC = make([]*Big, sites[2].count)
	keptD = make([][]byte, sites[3].count)
	allocSiteA(keptA)
	allocSiteB(keptB)
	allocSiteC(keptC)
	allocSiteD(keptD)

	runtime.GC()
	runtime.GC()
	profile := os.Args[1] + ".heap.pb.gz"
	f, err := os.Create(profile)
	if err != nil {
		manifest.Fail(err.Error())
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		manifest.Fail("writing the heap profile: " + err.Error())
	}
	if err := f.Close(); err != nil {
		manifest.Fail(err.Error())
	}

	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("mem_profile_rate", int64(runtime.MemProfileRate))
		w.KStr("heap_profile", profile)
		w.Key("sites")
		w.Arr()
		for i := range sites {
			s := &sites[i]
			slot, off, _ := manifest.Slot(s.request, s.pointers)
			w.Obj()
			w.KStr("function", s.function)
			w.Key("functions") // the allocation's stack, innermost first, from the site up
			w.Arr()
			w.Str(s.function)
			w.Str("main.main")
			w.Str("runtime.main")
			w.EndArr()
			w.KInt("inuse_objects", int64(s.count))
			w.KInt("inuse_bytes", int64(s.count)*int64(slot))
			w.KInt("request", int64(s.request))
			w.KInt("size", int64(slot))
			w.KInt("header", int64(off))
			w.KBool("pointers", s.pointers)
			w.Key("objects")
			w.Arr()
			for k := 0; k < s.count; k++ {
				w.Addr(objAddr(i, k))
			}
			w.EndArr()
			w.End()
		}
		w.EndArr()
	})
	select {}
}

// objAddr: the address of site I's K-th object (what the program holds: for a
// headered object, 8 bytes into its slot).
func objAddr(i, k int) uintptr {
	switch i {
	case 0:
		return uintptr(unsafe.Pointer(keptA[k]))
	case 1:
		return uintptr(unsafe.Pointer(unsafe.SliceData(keptB[k])))
	case 2:
		return uintptr(unsafe.Pointer(keptC[k]))
	default:
		return uintptr(unsafe.Pointer(unsafe.SliceData(keptD[k])))
	}
}
