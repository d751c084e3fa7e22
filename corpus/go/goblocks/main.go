// goblocks MANIFEST_PATH [N]: an in-memory persistence layer that keeps every
// *Block twice - in the global slice store and in the global map index (a real
// leak pattern: deleting from one of them frees nothing). N blocks (default 10000)
// with payloads of varied sizes: tiny ones (< 16 bytes, sharing 16-byte tiny
// blocks), small ones, and every 1000th one large (> 32 KiB, its own span). Block
// i points to block i-1 (Next) unless i%10 == 0 (chains of 10); every 100th block
// has a Tags map. The manifest lists every block (see corpus/README.md).
// One more goroutine parks in a channel receive inside calls the compiler
// inlined (parkOuter -> parkInner, into the go statement's wrapper): its
// traceback lists inlined calls, with each Go release's inline tree.
package main

import (
	"sort"
	"strconv"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Block struct {
	ID      int64
	Payload []byte
	Next    *Block
	Tags    map[string]string
}

var store []*Block
var index map[int64]*Block

var (
	parkCh   = make(chan int) // nobody sends
	parkSink int
)

func parkInner(c chan int) int { return <-c }
func parkOuter(c chan int)     { parkSink = parkInner(c) + 1 }

// IDBase + i is block i's ID; its payload starts with the ID (8 bytes, little
// endian) when it has room, and the rest is 'a' + i%26.
const IDBase = 1000000

// payloadSize: the payload's length and capacity for block i (deterministic).
func payloadSize(i int, r uint64) (n, c int) {
	switch {
	case i%1000 == 999:
		n = 33000 + int(r%20000) // large: > 32 KiB
	case i%97 == 0:
		n = 1 + int(r%15) // tiny
	case i%7 == 0:
		n = 2048 + int(r%8192)
	default:
		n = 16 + int(r%1024)
	}
	c = n
	if i%3 == 1 && n >= 16 {
		c = n + n/2 // room to grow: the allocation is sized by the capacity
	}
	return
}

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 10000)
	go parkOuter(parkCh)

	index = make(map[int64]*Block)
	r := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < n; i++ {
		r = r*6364136223846793005 + 1442695040888963407
		ln, cp := payloadSize(i, r>>33)
		p := make([]byte, ln, cp)
		for j := range p {
			p[j] = byte('a' + i%26)
		}
		id := int64(IDBase + i)
		if ln >= 8 {
			for j := 0; j < 8; j++ {
				p[j] = byte(id >> (8 * j))
			}
		}
		b := &Block{ID: id, Payload: p}
		if i%10 != 0 {
			b.Next = store[i-1]
		}
		if i%100 == 0 {
			b.Tags = map[string]string{
				"owner": "user-" + strconv.Itoa(i),
				"kind":  "block",
			}
		}
		store = append(store, b)
		index[id] = b
	}

	// Self-check: blocks of consecutive allocations are one size class apart.
	size, _, _ := manifest.Slot(unsafe.Sizeof(Block{}), true)
	addrs := make([]uintptr, len(store))
	for i, b := range store {
		addrs[i] = uintptr(unsafe.Pointer(b))
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	minDiff := ^uintptr(0)
	for i := 1; i < len(addrs); i++ {
		if d := addrs[i] - addrs[i-1]; d < minDiff {
			minDiff = d
		}
	}
	if len(addrs) > 1 && minDiff != size {
		manifest.Fail("blocks are " + strconv.Itoa(int(minDiff)) + " bytes apart, expected " +
			strconv.Itoa(int(size)))
	}
	addrs = nil

	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.KInt("id_base", IDBase)
		w.Key("globals")
		w.Obj()
		w.KAddr("store", uintptr(unsafe.Pointer(&store)))
		w.KAddr("index", uintptr(unsafe.Pointer(&index)))
		w.End()
		arr := uintptr(unsafe.Pointer(unsafe.SliceData(store)))
		slot, _, _ := manifest.Slot(uintptr(cap(store))*8, true)
		w.Key("store")
		w.Obj()
		w.KAddr("array", arr)
		w.KInt("len", int64(len(store)))
		w.KInt("cap", int64(cap(store)))
		w.KInt("size", int64(slot))
		w.End()
		w.Key("index")
		w.Obj()
		w.KAddr("map", *(*uintptr)(unsafe.Pointer(&index)))
		w.KInt("len", int64(len(index)))
		w.End()
		w.Key("types")
		w.Arr()
		w.Obj()
		w.KStr("name", "main.Block")
		w.KInt("size", int64(unsafe.Sizeof(Block{})))
		w.Key("fields")
		w.Arr()
		field(w, "ID", unsafe.Offsetof(Block{}.ID), unsafe.Sizeof(Block{}.ID))
		field(w, "Payload", unsafe.Offsetof(Block{}.Payload), unsafe.Sizeof(Block{}.Payload))
		field(w, "Next", unsafe.Offsetof(Block{}.Next), unsafe.Sizeof(Block{}.Next))
		field(w, "Tags", unsafe.Offsetof(Block{}.Tags), unsafe.Sizeof(Block{}.Tags))
		w.EndArr()
		w.End()
		w.EndArr()
		w.Key("blocks")
		w.Arr()
		for _, b := range store {
			w.Obj()
			w.KInt("id", b.ID)
			w.KAddr("addr", uintptr(unsafe.Pointer(b)))
			w.KInt("size", int64(size))
			w.KAddr("payload", uintptr(unsafe.Pointer(unsafe.SliceData(b.Payload))))
			w.KInt("payload_len", int64(len(b.Payload)))
			w.KInt("payload_cap", int64(cap(b.Payload)))
			ps, _, tiny := manifest.Slot(uintptr(cap(b.Payload)), false)
			w.KInt("payload_size", int64(ps))
			if tiny {
				w.KBool("payload_tiny", true)
			}
			w.KAddr("next", uintptr(unsafe.Pointer(b.Next)))
			w.KAddr("tags", *(*uintptr)(unsafe.Pointer(&b.Tags)))
			w.End()
		}
		w.EndArr()
	})
	select {}
}

func field(w *manifest.Writer, name string, off, size uintptr) {
	w.Obj()
	w.KStr("name", name)
	w.KInt("offset", int64(off))
	w.KInt("size", int64(size))
	w.End()
}
