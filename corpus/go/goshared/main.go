// goshared MANIFEST_PATH: most of the heap held by several roots at once, and
// goroutines started by the program's own `go` helper.
//
//   - store: a *Store whose Items (a 5000-element []*Item, a large object) each
//     own a Data []byte; held by the package variables primary and backup and
//     by the goroutine running serve (a local live across its receive): no
//     single root retains it;
//   - sessions: 600 *Session, each with a Buf, each referenced from two
//     slices: the package variable sessions and serve's local copy;
//   - a []byte reachable only through a pointer into its middle (tail, the
//     slice big[1024:]): an ordinary Go object, not "possibly lost";
//   - Server.startGoRoutine(f) runs f in `go func() { f() }()`, as servers'
//     own helpers do: 3 goroutines run acceptLoop (parked in a channel
//     receive), 4 run writeLoop (parked in a select).
//
// The manifest gives each structure's objects' slot sizes summed (manifest.Slot)
// and the roots that hold it, and for each kind of goroutine the functions on
// its stack as runtime.Stack prints them (see corpus/README.md).
package main

import (
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Item struct {
	ID   int64
	Data []byte
	Next *Item
}

type Store struct {
	Name  string
	Items []*Item
	N     int
}

type Session struct {
	ID  int64
	Buf []byte
}

type Server struct {
	acceptCh, writeCh, quit chan int
}

const nItems, nSessions = 5000, 600

var (
	primary, backup *Store
	sessions        []*Session
	tail            []byte
	sink            int
)

// startGoRoutine runs f in a goroutine of its own, the way servers' helpers do
// (every goroutine it starts begins in the same closure).
func (s *Server) startGoRoutine(f func()) {
	go func() {
		f()
	}()
}

//go:noinline
func (s *Server) acceptLoop() {
	sink += <-s.acceptCh
}

//go:noinline
func (s *Server) writeLoop() {
	select {
	case v := <-s.writeCh:
		sink += v
	case <-s.quit:
	}
}

// serve keeps the store and its own slice of the sessions live across a receive.
//
//go:noinline
func serve(st *Store, mine []*Session, c chan int) {
	v := <-c
	sink += v + st.N + len(mine[len(mine)-1].Buf)
}

func slot(n uintptr, pointers bool) int64 {
	s, _, _ := manifest.Slot(n, pointers)
	return int64(s)
}

func main() {
	manifest.Start()
	manifest.Args("")

	var storeBytes, storeObjects int64
	st := &Store{Name: "store", Items: make([]*Item, nItems), N: nItems}
	storeBytes += slot(unsafe.Sizeof(Store{}), true) + slot(nItems*8, true)
	storeObjects += 2
	for i := range st.Items {
		it := &Item{ID: int64(i), Data: make([]byte, 16+8*(i%50))}
		if i > 0 {
			it.Next = st.Items[i-1]
		}
		st.Items[i] = it
		storeBytes += slot(unsafe.Sizeof(Item{}), true) + slot(uintptr(cap(it.Data)), false)
		storeObjects += 2
	}
	primary, backup = st, st

	var sessBytes int64
	sessions = make([]*Session, nSessions)
	for i := range sessions {
		s := &Session{ID: int64(i), Buf: make([]byte, 64+32*(i%10))}
		sessions[i] = s
		sessBytes += slot(unsafe.Sizeof(Session{}), true) + slot(uintptr(cap(s.Buf)), false)
	}
	mine := make([]*Session, nSessions)
	copy(mine, sessions)

	big := make([]byte, 8192)
	tail = big[1024:]
	bigAddr := uintptr(unsafe.Pointer(unsafe.SliceData(big)))
	big = nil

	srv := &Server{acceptCh: make(chan int), writeCh: make(chan int), quit: make(chan int)}
	for i := 0; i < 3; i++ {
		srv.startGoRoutine(srv.acceptLoop)
	}
	for i := 0; i < 4; i++ {
		srv.startGoRoutine(srv.writeLoop)
	}
	c := make(chan int)
	go serve(st, mine, c)
	storeAddr := uintptr(unsafe.Pointer(st))
	st, mine = nil, nil
	kinds := waitParked([]want{
		{"main.(*Server).acceptLoop", "chan receive", 3, nil},
		{"main.(*Server).writeLoop", "select", 4, nil},
		{"main.serve", "chan receive", 1, nil},
	})

	manifest.Finish(func(w *manifest.Writer) {
		w.Key("store")
		w.Obj()
		w.KAddr("top", storeAddr)
		w.KStr("type", "main.Store")
		w.KInt("bytes", storeBytes)
		w.KInt("objects", storeObjects)
		w.Key("roots")
		w.Strs(storeRoots[:])
		w.End()
		w.Key("sessions")
		w.Obj()
		w.KInt("count", nSessions)
		w.KStr("type", "main.Session")
		w.KInt("bytes", sessBytes)
		w.KInt("objects", 2*nSessions)
		w.Key("roots")
		w.Strs(sessionRoots[:])
		w.End()
		w.Key("interior")
		w.Obj()
		w.KAddr("addr", bigAddr)
		w.KInt("size", slot(8192, false))
		w.KAddr("pointer", uintptr(unsafe.Pointer(unsafe.SliceData(tail))))
		w.End()
		w.Key("goroutines")
		w.Arr()
		for _, k := range kinds {
			w.Obj()
			w.KStr("function", k.function)
			w.KStr("wait_reason", k.reason)
			w.KInt("count", int64(k.count))
			w.Key("frames")
			w.Strs(k.frames)
			w.End()
		}
		w.EndArr()
	})
	select {}
}

var (
	storeRoots   = [...]string{"global main.primary", "global main.backup", "goroutine main.serve"}
	sessionRoots = [...]string{"global main.sessions", "goroutine main.serve"}
)

type want struct {
	function, reason string
	count            int
	frames           []string // innermost first, as runtime.Stack prints them
}

// waitParked waits until runtime.Stack shows, for each kind, its count of
// goroutines with the function on their stack, parked for the reason; it
// returns the kinds with the first such goroutine's functions.
func waitParked(kinds []want) []want {
	buf := make([]byte, 1<<20)
	for try := 0; ; try++ {
		text := string(buf[:runtime.Stack(buf, true)])
		done := 0
		for k := range kinds {
			count := 0
			var frames []string
			for _, g := range strings.Split(text, "\n\n") {
				lines := strings.Split(g, "\n")
				if !strings.Contains(lines[0], "["+kinds[k].reason) ||
					!strings.Contains(g, "\n"+kinds[k].function+"(") {
					continue
				}
				count++
				if frames == nil {
					frames = manifest.StackFrames(lines)
				}
			}
			kinds[k].frames = frames
			if count == kinds[k].count {
				done++
			}
		}
		if done == len(kinds) {
			return kinds
		}
		if try == 5000 {
			manifest.Fail("goroutines not parked after 5 s: " + strconv.Itoa(done) + " kinds of " +
				strconv.Itoa(len(kinds)))
		}
		time.Sleep(time.Millisecond)
	}
}
