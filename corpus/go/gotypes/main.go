// gotypes MANIFEST_PATH [N]: objects whose type only the runtime's own data
// says. N (default 100) of each:
//   - *Circle held by an interface (Shape: an iface, its itab names the type);
//   - Square values boxed by an interface (the data word points to a copy);
//   - *Circle held by `any` (an eface: its type word names the type);
//   - *Big (pointerful, 1000 bytes: a malloc header names its type) and *Huge
//     (pointerful, 40000 bytes: a large span's largeType names it), held only
//     through unsafe.Pointer, which DWARF cannot follow;
//   - *Circle queued in a buffered channel (a global chan *Circle of 64): the
//     buffer, an unsafe.Pointer, is typed by the channel's element type;
//   - map internals, which DWARF reaches only through the runtime's map
//     structures: *Circle values of a small map (at most 8 entries: Go
//     1.24+ keeps one group and no directory) and of a large one; Circle
//     values stored in a map's slots, whose Name leads to a string; Rec
//     values over 128 bytes, which a map stores behind a pointer, leading to
//     a *Circle;
//   - closures (func values) capturing a *Circle: the closure is named by its
//     function, and its captured variables typed (DWARF gives their offsets
//     from Go 1.23 on);
//   - the *Circle a *Big or *Huge points to: typed by following the runtime's
//     type of its holder;
//   - the *Circle of an atomic.Pointer[Circle] (an unsafe.Pointer whose type
//     only a zero-length `_ [0]*T` member says), in a global and in a field;
//   - an Outer reached only as the *Inner embedded at its start: it is an
//     Inner, not two (Outer is exactly two Inners long), and what follows the
//     Inner (Q, a *string) must not be typed as a second Inner's C;
//   - a Wrap reached only as the *Mid in its middle (16 bytes in), from the
//     global slice mids: "main.Mid at +0x10" (what is before it is not known),
//     and the *Circle its C points to typed by following it;
//   - a method value (tk.Tick: a closure of the compiler's (*Ticker).Tick-fm,
//     which holds its receiver) held by `any`: the closure typed through the
//     eface's func type, its receiver *Ticker and the *Circle behind it;
//   - the storage of interface slices, named after the interface ([n]main.Shape,
//     not [n]runtime.iface), and storage whose length the pointer knows: a
//     slice's cap elements and a string's len bytes, not as many as its size
//     class holds (a []Shape of cap 17 in a 288-byte slot is [17]main.Shape; a
//     []*Circle of cap 5 in a 48-byte slot [5]*main.Circle; a 20-byte string
//     in a 24-byte slot [20]uint8).
//
// The manifest lists every object with the type it must get (see corpus/README.md).
package main

import (
	"strconv"
	"sync/atomic"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

type Shape interface{ Area() float64 }

type Circle struct {
	R    float64
	Name *string
}

type Square struct{ S, T float64 }

type Big struct {
	Ptrs [60]*Circle
	Pad  [520]byte
}

type Huge struct {
	Ptrs [4000]*Circle
	Pad  [8000]byte
}

// Inner is embedded first in Outer, which is exactly two Inners long.
type Inner struct {
	C   *Circle
	Pad [9]uint64
}

type Outer struct {
	Inner
	Q   *string
	Pad [9]uint64
}

// Mid sits 16 bytes into Wrap; mids holds pointers to it, not to the Wrap.
type Mid struct {
	C *Circle
	N int64
}

type Wrap struct {
	A, B int64
	M    Mid
}

// Ticker's method value tk.Tick is a closure holding tk.
type Ticker struct {
	C *Circle
	N int64
}

func (k *Ticker) Tick() float64 { return k.C.R + float64(k.N) }

// Holder keeps a *Circle in an atomic.Pointer field.
type Holder struct {
	N   int
	Cur atomic.Pointer[Circle]
}

// Rec is over 128 bytes: a map keeps it behind a pointer.
type Rec struct {
	C   *Circle
	Pad [24]uint64
}

func (c *Circle) Area() float64 { return c.R * c.R }
func (s Square) Area() float64  { return s.S * s.T }

var (
	shapes   []Shape
	anys     []any
	hidden   []unsafe.Pointer
	queue    = make(chan *Circle, ChanCap)
	small    map[string]*Circle
	byName   map[string]*Circle
	byID     map[int64]Circle
	recs     map[int]Rec
	handlers []func() float64
	inners   []*Inner
	mids     []*Mid
	current  atomic.Pointer[Circle]
	holders  []*Holder
	shapes17 []Shape   // cap 17: 272 bytes in a 288-byte slot
	circles5 []*Circle // cap 5: 40 bytes in a 48-byte slot
	label    string    // 20 bytes in a 24-byte slot
)

// SmallMap is small's size: few enough for one group.
const SmallMap = 5

// closure returns a func value capturing c and k: a heap closure.
//
//go:noinline
func closure(c *Circle, k int) func() float64 {
	return func() float64 { return c.R + float64(k) }
}

// ChanCap is queue's capacity; the program queues ChanCap/2 circles.
const ChanCap = 64

type entry struct {
	addr uintptr
	typ  string
	size uintptr
	ptrs bool
	via  string
}

// data is an interface value's data word: where its value lives.
func data(p unsafe.Pointer) uintptr { return uintptr((*[2]unsafe.Pointer)(p)[1]) }

func main() {
	manifest.Start()
	args := manifest.Args("[N]")
	n := manifest.IntArg(args, 0, 100)
	var es []entry
	circle := func(c *Circle, via string) {
		es = append(es, entry{uintptr(unsafe.Pointer(c)), "main.Circle", unsafe.Sizeof(Circle{}), true, via})
	}
	current.Store(&Circle{R: -1})
	circle(current.Load(), "atomic.Pointer")
	small = map[string]*Circle{}
	for i := 0; i < SmallMap; i++ {
		c := &Circle{R: float64(i)}
		small["s"+strconv.Itoa(i)] = c
		circle(c, "small map")
	}
	byName = map[string]*Circle{}
	byID = map[int64]Circle{}
	recs = map[int]Rec{}
	for i := 0; i < n; i++ {
		c := &Circle{R: float64(i)}
		byName["name-"+strconv.Itoa(i)] = c
		circle(c, "map")
		name := new(string)
		*name = "id-" + strconv.Itoa(i)
		byID[int64(i)] = Circle{R: float64(i), Name: name}
		es = append(es, entry{uintptr(unsafe.Pointer(name)), "string", unsafe.Sizeof(""), true, "map slot"})
		if i%5 == 0 {
			c := &Circle{R: float64(i)}
			recs[i] = Rec{C: c}
			circle(c, "map indirect")
			c = &Circle{R: float64(i)}
			f := closure(c, i)
			handlers = append(handlers, f)
			circle(c, "closure variable")
			es = append(es, entry{uintptr(*(*unsafe.Pointer)(unsafe.Pointer(&f))), "closure main.closure.func1",
				unsafe.Sizeof(uintptr(0)) + unsafe.Sizeof(c) + unsafe.Sizeof(i), true, "closure"})
		}
	}
	for i := 0; i < n; i++ {
		name := "circle-" + strconv.Itoa(i)
		var s Shape = &Circle{R: float64(i), Name: &name}
		shapes = append(shapes, s)
		es = append(es, entry{data(unsafe.Pointer(&shapes[len(shapes)-1])), "main.Circle", unsafe.Sizeof(Circle{}), true, "iface"})
		shapes = append(shapes, Square{S: float64(i), T: float64(i + 1)})
		es = append(es, entry{data(unsafe.Pointer(&shapes[len(shapes)-1])), "main.Square", unsafe.Sizeof(Square{}), false, "iface"})
		anys = append(anys, &Circle{R: -float64(i)})
		es = append(es, entry{data(unsafe.Pointer(&anys[len(anys)-1])), "main.Circle", unsafe.Sizeof(Circle{}), true, "eface"})
		if i%10 == 0 {
			b := &Big{}
			b.Ptrs[0] = &Circle{R: 1}
			circle(b.Ptrs[0], "header field")
			hidden = append(hidden, unsafe.Pointer(b))
			es = append(es, entry{uintptr(unsafe.Pointer(b)), "main.Big", unsafe.Sizeof(Big{}), true, "header"})
			h := &Huge{}
			h.Ptrs[1] = &Circle{R: 2}
			circle(h.Ptrs[1], "largeType field")
			hidden = append(hidden, unsafe.Pointer(h))
			o := &Outer{Inner: Inner{C: &Circle{R: 3}}, Q: new(string)}
			inners = append(inners, &o.Inner)
			es = append(es, entry{uintptr(unsafe.Pointer(o)), "main.Inner", unsafe.Sizeof(*o), true, "embedded"})
			circle(o.C, "embedded field")
			w := &Wrap{A: int64(i), M: Mid{C: &Circle{R: 5}}}
			mids = append(mids, &w.M)
			es = append(es, entry{uintptr(unsafe.Pointer(w)), "main.Mid at +0x10", unsafe.Sizeof(*w), true, "middle"})
			circle(w.M.C, "middle field")
			tk := &Ticker{C: &Circle{R: 7}, N: int64(i)}
			anys = append(anys, any(tk.Tick))
			es = append(es, entry{data(unsafe.Pointer(&anys[len(anys)-1])), "closure main.(*Ticker).Tick-fm",
				2 * unsafe.Sizeof(uintptr(0)), true, "method value"})
			es = append(es, entry{uintptr(unsafe.Pointer(tk)), "main.Ticker", unsafe.Sizeof(*tk), true,
				"method value receiver"})
			circle(tk.C, "method value field")
			hd := &Holder{N: i}
			hd.Cur.Store(&Circle{R: 4})
			holders = append(holders, hd)
			circle(hd.Cur.Load(), "atomic.Pointer field")
			es = append(es, entry{uintptr(unsafe.Pointer(o.Q)), "string", unsafe.Sizeof(""), true, "after embedded"})
			es = append(es, entry{uintptr(unsafe.Pointer(h)), "main.Huge", unsafe.Sizeof(Huge{}), true, "largeType"})
		}
	}
	for i := 0; i < ChanCap/2; i++ {
		c := &Circle{R: float64(100 + i)}
		queue <- c
		circle(c, "chan")
	}
	shapes17 = make([]Shape, 17)
	for i := range shapes17 {
		shapes17[i] = Square{S: float64(i)}
	}
	circles5 = make([]*Circle, 5)
	label = string(make([]byte, 20))
	storage := func(p unsafe.Pointer, typ string, size uintptr, ptrs bool, via string) {
		es = append(es, entry{uintptr(p), typ, size, ptrs, via})
	}
	storage(unsafe.Pointer(&shapes[0]), "["+strconv.Itoa(cap(shapes))+"]main.Shape",
		uintptr(cap(shapes))*unsafe.Sizeof(shapes[0]), true, "interface slice")
	storage(unsafe.Pointer(&shapes17[0]), "[17]main.Shape", 17*unsafe.Sizeof(shapes17[0]), true,
		"slice cap")
	storage(unsafe.Pointer(&circles5[0]), "[5]*main.Circle", 5*unsafe.Sizeof(circles5[0]), true,
		"slice cap")
	storage(unsafe.Pointer(unsafe.StringData(label)), "[20]uint8", 20, false, "string len")
	manifest.Finish(func(w *manifest.Writer) {
		w.KInt("n", int64(n))
		w.KInt("chan_cap", ChanCap)
		w.KInt("small_map", SmallMap)
		w.Key("objects")
		w.Arr()
		for _, e := range es {
			slot, off, _ := manifest.Slot(e.size, e.ptrs)
			w.Obj()
			w.KAddr("addr", e.addr)
			w.KStr("type", e.typ)
			w.KInt("slot", int64(slot))
			w.KInt("offset", int64(off))
			w.KStr("via", e.via)
			w.End()
		}
		w.EndArr()
	})
	select {}
}
