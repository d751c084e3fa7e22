// gomany MANIFEST_PATH [N]: a Go heap of about N objects (default 4000000) shaped
// like a language server's, most of them starting with an integer that lies in
// the program's own address range (see internal/many).  bench/go-types' core;
// the manifest gives MemStats and what the program allocated.
package main

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
	manifest.Finish(func(w *manifest.Writer) { heap.Manifest(w, n) })
	select {}
}
