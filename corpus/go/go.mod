// The Go programs of the corpus (see ../README.md). Standard library only: building
// them never downloads anything (corpus/build.sh sets GOPROXY=off, GOTOOLCHAIN=local).
module cprofcorpus

go 1.20
