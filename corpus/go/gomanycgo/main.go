// gomanycgo MANIFEST_PATH [N]: gomany's Go heap of about N objects (default
// 4000000) plus N/10 C++ objects of four classes with vtables (cxx.cpp), held
// by a C++ global vector.  bench/go-types --cgo's core: the manifest gives the
// C++ objects per class (their demangled names), which the types phase must
// name by their vtables while it never takes a Go object for a C++ one.
package main

// #cgo CXXFLAGS: -O1 -g
// #cgo LDFLAGS: -lstdc++
// #include "cxx.h"
import "C"

import (
	"cprofcorpus/internal/manifest"
	"cprofcorpus/internal/many"
)

var heap *many.Heap

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 4000000)
	heap = many.Build(n)
	C.cxx_build(C.size_t(n / 10))
	var names [4]string
	var counts [4]int64
	for i := range names {
		names[i] = C.GoString(C.cxx_class(C.int(i)))
		counts[i] = int64(C.cxx_count(C.int(i)))
	}
	manifest.Finish(func(w *manifest.Writer) {
		heap.Manifest(w, n)
		w.Key("cxx")
		w.Obj()
		for i := range names {
			w.KInt(names[i], counts[i])
		}
		w.End()
	})
	select {}
}
