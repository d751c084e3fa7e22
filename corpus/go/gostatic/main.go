// gostatic MANIFEST_PATH [N]: package variables initialized by composite
// literals, which the compiler lays out in .data without a symbol of their own;
// the variables point to them, and heap objects hang below:
//
//	var store = &Store{Name: "blocks", ByHash: map[uint64]*Block{}}
//	    store.Blocks: N *Block (a heap array), store.ByHash: the same N blocks
//	var table = []*Entry{{Name: "a"}, {Name: "b"}, {Name: "c"}}
//	    (a static array of three pointers to three static Entries)
//	    table[i].Items: a heap []*Item of i+1 items
//	var cfg = &Config{Limits: &Limits{Max: 10}}
//	    (a static Config pointing to a static Limits)
//	    cfg.Limits.Cache: a heap map of 5 *Item; cfg.Spare[1]: one *Item
//
// The manifest lists each variable: its address, the address of the static
// object it points to and that object's size, and each heap object hanging from
// a slot of a static object: the slot's path ("main.store.Blocks"), the slot's
// address and the object's (see corpus/README.md).
package main

import (
	"strconv"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Block struct {
	ID      int64
	Payload []byte
	Next    *Block
}

type Store struct {
	Name   string
	Blocks []*Block
	ByHash map[uint64]*Block
	Last   *Block
}

type Item struct {
	Key   string
	Value [6]int64
}

type Entry struct {
	Name  string
	Items []*Item
}

type Limits struct {
	Max   int
	Cache map[string]*Item
}

type Config struct {
	Limits *Limits
	Spare  [2]*Item
	Tag    string
}

var store = &Store{Name: "blocks", ByHash: map[uint64]*Block{}}
var table = []*Entry{{Name: "a"}, {Name: "b"}, {Name: "c"}}
var cfg = &Config{Limits: &Limits{Max: 10}, Tag: "static"}

// A heap object hanging from a static object's slot.
type held struct {
	path       string
	slot, addr uintptr
	size       uintptr
}

var hanging []held

func hang(path string, slot unsafe.Pointer, obj unsafe.Pointer, size uintptr) {
	hanging = append(hanging, held{path, uintptr(slot), uintptr(obj), size})
}

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 1000)

	for i := 0; i < n; i++ {
		b := &Block{ID: int64(i), Payload: make([]byte, 64+i%200)}
		if i > 0 {
			b.Next = store.Blocks[i-1]
		}
		store.Blocks = append(store.Blocks, b)
		store.ByHash[uint64(i)*0x9e3779b97f4a7c15] = b
	}
	store.Last = store.Blocks[n-1]
	for i, e := range table {
		for k := 0; k <= i; k++ {
			e.Items = append(e.Items, &Item{Key: e.Name + strconv.Itoa(k)})
		}
	}
	cfg.Limits.Cache = map[string]*Item{}
	for k := 0; k < 5; k++ {
		cfg.Limits.Cache["k"+strconv.Itoa(k)] = &Item{Key: "cache"}
	}
	cfg.Spare[1] = &Item{Key: "spare"}

	itemSize, _, _ := manifest.Slot(unsafe.Sizeof(Item{}), true)
	arrSize, _, _ := manifest.Slot(uintptr(cap(store.Blocks))*8, true)
	hang("main.store.Blocks", unsafe.Pointer(&store.Blocks), unsafe.Pointer(unsafe.SliceData(store.Blocks)), arrSize)
	lastSize, _, _ := manifest.Slot(unsafe.Sizeof(Block{}), true)
	hang("main.store.Last", unsafe.Pointer(&store.Last), unsafe.Pointer(store.Last), lastSize)
	for i, e := range table {
		s, _, _ := manifest.Slot(uintptr(cap(e.Items))*8, true)
		hang("main.table["+strconv.Itoa(i)+"].Items", unsafe.Pointer(&e.Items),
			unsafe.Pointer(unsafe.SliceData(e.Items)), s)
	}
	hang("main.cfg.Spare[1]", unsafe.Pointer(&cfg.Spare[1]), unsafe.Pointer(cfg.Spare[1]), itemSize)
	names := make([]string, len(table)) // the manifest code may not allocate
	for i := range table {
		names[i] = "main.table[" + strconv.Itoa(i) + "]"
	}

	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.Key("variables")
		w.Arr()
		variable(w, "main.store", unsafe.Pointer(&store), unsafe.Pointer(store), unsafe.Sizeof(*store), "main.Store")
		variable(w, "main.table", unsafe.Pointer(&table), unsafe.Pointer(unsafe.SliceData(table)),
			uintptr(cap(table))*8, "")
		for i, e := range table {
			variable(w, names[i], unsafe.Pointer(&table[i]),
				unsafe.Pointer(e), unsafe.Sizeof(*e), "main.Entry")
		}
		variable(w, "main.cfg", unsafe.Pointer(&cfg), unsafe.Pointer(cfg), unsafe.Sizeof(*cfg), "main.Config")
		variable(w, "main.cfg.Limits", unsafe.Pointer(&cfg.Limits), unsafe.Pointer(cfg.Limits),
			unsafe.Sizeof(*cfg.Limits), "main.Limits")
		w.EndArr()
		w.Key("hanging")
		w.Arr()
		for _, h := range hanging {
			w.Obj()
			w.KStr("path", h.path)
			w.KAddr("slot", h.slot)
			w.KAddr("addr", h.addr)
			w.KInt("size", int64(h.size))
			w.End()
		}
		w.EndArr()
		w.Key("blocks")
		w.Arr()
		for _, b := range store.Blocks {
			w.Addr(uintptr(unsafe.Pointer(b)))
		}
		w.EndArr()
		w.KInt("block_size", int64(lastSize))
		w.Key("cache_items")
		w.Arr()
		for _, it := range cfg.Limits.Cache {
			w.Addr(uintptr(unsafe.Pointer(it)))
		}
		w.EndArr()
		w.KInt("item_size", int64(itemSize))
	})
	select {}
}

// variable: a pointer (or a slice's array pointer) at addr, to a static object
// of size bytes at target (its Go type, "" for an array).
func variable(w *manifest.Writer, name string, addr, target unsafe.Pointer, size uintptr, typ string) {
	w.Obj()
	w.KStr("name", name)
	w.KAddr("addr", uintptr(addr))
	w.KAddr("target", uintptr(target))
	w.KInt("size", int64(size))
	w.KStr("type", typ)
	w.End()
}
