// Package many builds a large Go heap shaped like a language server's (gopls):
// millions of small objects of many types, most of them starting with an
// integer position (Pos, like go/token.Pos) whose value lies inside the
// program's own address range, so that a word-by-word look at the heap sees
// millions of "addresses in the binary".  It is bench/go-types' generator
// (corpus/go/gomany, gomanycgo); nothing here is a test oracle beyond the
// counts it returns.
package many

import (
	"reflect"
	"strconv"
	"unsafe"

	"cprofcorpus/internal/manifest"
)

// Pos is an offset into a file set, like go/token.Pos: an integer.
type Pos uintptr

// Node is a list cell holding a value of type T; its instantiations are
// distinct Go types (Node[int], Node[string], ...).
type Node[T any] struct {
	P    Pos
	V    T
	Next *Node[T]
}

// Ident is a name at a position (like go/ast.Ident).
type Ident struct {
	P    Pos
	Name string
	Obj  *Ident
}

// Expr and Stmt are interfaces: slices of them are interface-typed storage.
type Expr interface{ Pos() Pos }
type Stmt interface{ Pos() Pos }

type BasicLit struct {
	P     Pos
	Kind  int
	Value string
}

type BinaryExpr struct {
	P    Pos
	Op   int
	X, Y Expr
}

type ExprStmt struct {
	P Pos
	X Expr
}

type AssignStmt struct {
	P        Pos
	Lhs, Rhs []Expr
}

type BlockStmt struct {
	P     Pos
	List  []Stmt
	Close Pos
}

type FuncDecl struct {
	P    Pos
	Name *Ident
	Body *BlockStmt
	Doc  []string
}

// File is what the heap hangs from: one per "source file".
type File struct {
	P      Pos
	Name   string
	Decls  []*FuncDecl
	Idents map[Pos]*Ident
	// Node lists, one per instantiation
	A *Node[int]
	B *Node[string]
	C *Node[float64]
	D *Node[[2]int]
	E *Node[[5]int]
	G *Node[*Ident]
	H *Node[Expr]
	I *Node[[]byte]
}

func (x *Ident) Pos() Pos      { return x.P }
func (x *BasicLit) Pos() Pos   { return x.P }
func (x *BinaryExpr) Pos() Pos { return x.P }
func (x *ExprStmt) Pos() Pos   { return x.P }
func (x *AssignStmt) Pos() Pos { return x.P }
func (x *BlockStmt) Pos() Pos  { return x.P }

// Heap is everything Build made, held by the caller (a global).
type Heap struct {
	Files []*File
	// Counts by kind: what Build allocated (objects the program asked for,
	// not counting slices' and maps' storage).
	Counts map[string]int
	Lo, Hi uintptr // the range Pos values are drawn from
}

var anchor [64]byte // in .bss: the high end of the Pos range

func marker() {}

// Build allocates about n objects in files of about 2000 each.
func Build(n int) *Heap {
	h := &Heap{Counts: map[string]int{}}
	h.Lo = reflect.ValueOf(marker).Pointer()
	h.Hi = uintptr(unsafe.Pointer(&anchor))
	span := uint64(h.Hi - h.Lo)
	seq := uint64(0)
	pos := func() Pos {
		seq++
		return Pos(uint64(h.Lo) + (seq*0x9E3779B97F4A7C15>>20)%span)
	}
	made := 0
	for made < n {
		f := &File{P: pos(), Name: "file" + strconv.Itoa(len(h.Files)) + ".go", Idents: map[Pos]*Ident{}}
		made += 3
		for d := 0; d < 40 && made < n; d++ {
			fd := &FuncDecl{P: pos(), Name: &Ident{P: pos(), Name: "fn" + strconv.Itoa(d)},
				Body: &BlockStmt{P: pos()}, Doc: []string{"// doc"}}
			made += 5
			for s := 0; s < 6; s++ {
				x := &Ident{P: pos(), Name: "x"}
				y := &BasicLit{P: pos(), Kind: s, Value: strconv.Itoa(s * d)}
				bin := &BinaryExpr{P: pos(), Op: s, X: x, Y: y}
				var st Stmt
				if s%2 == 0 {
					st = &ExprStmt{P: pos(), X: bin}
				} else {
					st = &AssignStmt{P: pos(), Lhs: []Expr{x}, Rhs: []Expr{bin, y}}
					made += 2
				}
				fd.Body.List = append(fd.Body.List, st)
				f.Idents[x.P] = x
				made += 6
			}
			f.Decls = append(f.Decls, fd)
		}
		made += lists(f, pos, 20)
		h.Files = append(h.Files, f)
	}
	h.Counts["objects requested"] = made
	return h
}

// lists hangs k cells of each of eight Node instantiations from f.
func lists(f *File, pos func() Pos, k int) int {
	for j := 0; j < k; j++ {
		f.A = &Node[int]{pos(), j, f.A}
		f.B = &Node[string]{pos(), "s", f.B}
		f.C = &Node[float64]{pos(), float64(j), f.C}
		f.D = &Node[[2]int]{pos(), [2]int{j, j}, f.D}
		f.E = &Node[[5]int]{pos(), [5]int{j}, f.E}
		f.G = &Node[*Ident]{pos(), nil, f.G}
		f.H = &Node[Expr]{pos(), nil, f.H}
		f.I = &Node[[]byte]{pos(), nil, f.I}
	}
	return 8 * k
}

// Manifest writes what Build made of n objects (the caller's manifest body).
func (h *Heap) Manifest(w *manifest.Writer, n int) {
	w.KInt("n", int64(n))
	w.KInt("objects_requested", int64(h.Counts["objects requested"]))
	w.KInt("files", int64(len(h.Files)))
	w.KAddr("pos_lo", h.Lo)
	w.KAddr("pos_hi", h.Hi)
}
