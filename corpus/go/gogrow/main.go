// gogrow MANIFEST_PATH [N]: a program dumped twice while it runs (t0810:
// `cprof-core diff`). runtime.MemProfileRate = 1 first, so every object has its
// allocation stack. It keeps 2000 *Block from main.makeBase in the global base,
// makes room for N more in the global grown (the slice's array allocated now, so
// that growing allocates nothing else), writes MANIFEST_PATH and waits for
// SIGUSR1 (the first core is taken then). On SIGUSR1 it allocates N (default
// 500) *Block in main.grow, appended to grown, and writes MANIFEST_PATH.2 with
// the same non-allocating writer (the second core is taken then). Between the
// two manifests the program itself allocates only those N blocks: the known
// growth, under the root gogrow!main.grown, at the site main.grow, of type
// main.Block (64 bytes: no malloc header). It rehearses the signal first, so
// that the runtime's threads for it are there before the first core.
package main

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Block struct {
	ID      int64
	Payload [48]byte
	Next    *Block
}

var (
	base  []*Block
	grown []*Block
	path2 string
)

const baseCount = 2000

//go:noinline
func makeBase(out []*Block) {
	for i := range out {
		out[i] = &Block{ID: int64(i)}
		if i > 0 {
			out[i].Next = out[i-1]
		}
	}
}

//go:noinline
func grow(n int) {
	for i := 0; i < n; i++ {
		grown = append(grown, &Block{ID: int64(baseCount + i)})
	}
}

func main() {
	runtime.MemProfileRate = 1
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 500)
	path2 = os.Args[1] + ".2"
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)

	// A rehearsal of what happens between the two cores (a signal received,
	// collections), so that the threads (Ms) the runtime starts for it exist
	// before the first core: a new M is the runtime's own growth (an m, its
	// goroutines, their records).
	for i := 0; i < 3; i++ {
		syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		<-sig
		runtime.GC()
	}

	base = make([]*Block, baseCount)
	makeBase(base)
	grown = make([]*Block, 0, n)
	phase := 1
	body := func(w *manifest.Writer) {
		w.KInt("phase", int64(phase))
		w.KInt("base", baseCount)
		w.KInt("grow", int64(n))
		w.KInt("grown", int64(len(grown)))
		w.KInt("block_size", int64(unsafe.Sizeof(Block{})))
		w.KStr("site", "main.grow")
		w.KStr("root", "main.grown")
		w.KStr("type", "main.Block")
		w.Key("grown_objects")
		w.Arr()
		for _, b := range grown {
			w.Addr(uintptr(unsafe.Pointer(b)))
		}
		w.EndArr()
	}
	manifest.Finish(body)
	<-sig
	grow(n)
	phase = 2
	os.Args[1] = path2
	manifest.Finish(body)
	select {}
}
