#!/bin/sh
# corpus/build.sh OUTDIR - build the corpus programs into OUTDIR (see corpus/README.md).
#
# Idempotent: a binary is rebuilt only when it is missing or older than one of its
# sources (or this script). Outputs are written to a temporary name and renamed,
# so a reader never sees a half-written binary. The environment's CFLAGS/LDFLAGS
# (and friends) are ignored on purpose: the corpus must never be built with
# sanitizers or other instrumentation, whatever the caller's environment says.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: corpus/build.sh OUTDIR" >&2
	exit 2
fi

unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS LDLIBS CC_FOR_BUILD GCC_COMPARE_DEBUG || true
CC=cc

SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" || { echo "corpus/build.sh: cannot create $1" >&2; exit 1; }
OUT=$(cd "$1" && pwd)
SELF="$SRC/build.sh"

command -v "$CC" >/dev/null 2>&1 || { echo "corpus/build.sh: '$CC' not found" >&2; exit 1; }

# Flags of the corpus programs (not heap, see below).
COMMON="-g -O0 -fno-omit-frame-pointer -Wall -pthread"

# needs_build OUTPUT DEP...: true when OUTPUT is missing or older than a DEP.
needs_build() {
	out=$1
	shift
	[ -e "$out" ] || return 0
	for dep in "$@"; do
		[ "$dep" -nt "$out" ] && return 0
	done
	return 1
}

# run NAME OUTPUT CMD...: run CMD (which writes OUTPUT.tmp), then rename into OUTPUT.
run() {
	name=$1
	out=$2
	shift 2
	echo "corpus/build.sh: building $name: $*" >&2
	if ! "$@"; then
		rm -f "$out.tmp"
		echo "corpus/build.sh: error: failed to build $name (command: $*)" >&2
		exit 1
	fi
	mv -f "$out.tmp" "$out"
}

H="$SRC/corpus.h"

# threads: PIE
if needs_build "$OUT/threads" "$SRC/threads.c" "$H" "$SELF"; then
	run threads "$OUT/threads" \
		$CC $COMMON -pie -fPIE "$SRC/threads.c" -o "$OUT/threads.tmp"
fi

# threads-nopie: position-dependent executable
if needs_build "$OUT/threads-nopie" "$SRC/threads.c" "$H" "$SELF"; then
	run threads-nopie "$OUT/threads-nopie" \
		$CC $COMMON -no-pie -fno-pie "$SRC/threads.c" -o "$OUT/threads-nopie.tmp"
fi

# threads-static: statically linked (needs libc.a from libc6-dev)
if needs_build "$OUT/threads-static" "$SRC/threads.c" "$H" "$SELF"; then
	run threads-static "$OUT/threads-static" \
		$CC $COMMON -static "$SRC/threads.c" -o "$OUT/threads-static.tmp"
fi

# libcorpus.so: the corpus's own shared library
if needs_build "$OUT/libcorpus.so" "$SRC/libcorpus.c" "$SRC/libcorpus.h" "$SELF"; then
	run libcorpus.so "$OUT/libcorpus.so" \
		$CC $COMMON -fPIC -shared -Wl,-soname,libcorpus.so \
		"$SRC/libcorpus.c" -o "$OUT/libcorpus.so.tmp"
fi

# uselib: PIE linked against libcorpus.so, found at run time through rpath $ORIGIN
if needs_build "$OUT/uselib" "$SRC/uselib.c" "$SRC/libcorpus.h" "$H" "$OUT/libcorpus.so" "$SELF"; then
	run uselib "$OUT/uselib" \
		$CC $COMMON -pie -fPIE "$SRC/uselib.c" -o "$OUT/uselib.tmp" \
		-L"$OUT" -lcorpus '-Wl,-rpath,$ORIGIN'
fi

# leaks: heap blocks of known reachability (the leak oracle, tests t05xx); PIE linked
# against libcorpus.so like uselib. corpus.h includes <valgrind/valgrind.h> when it
# exists (its client requests are no-ops outside valgrind).
if needs_build "$OUT/leaks" "$SRC/leaks.c" "$SRC/libcorpus.h" "$H" "$OUT/libcorpus.so" "$SELF"; then
	run leaks "$OUT/leaks" \
		$CC $COMMON -pie -fPIE "$SRC/leaks.c" -o "$OUT/leaks.tmp" \
		-L"$OUT" -lcorpus '-Wl,-rpath,$ORIGIN'
fi

# leaks-lsan: the same program built with LeakSanitizer (-fsanitize=leak), the one
# exception to "no sanitizers in the corpus": it is LeakSanitizer's own run (with
# CPROF_LSAN=1 it calls __lsan_do_recoverable_leak_check() where it would park), a
# second oracle; it is never dumped. Skipped, with a note, when the compiler cannot
# link -fsanitize=leak (t0510 then skips).
if needs_build "$OUT/leaks-lsan" "$SRC/leaks.c" "$SRC/libcorpus.h" "$H" "$OUT/libcorpus.so" "$SELF"; then
	if echo 'int main(void){return 0;}' | $CC -fsanitize=leak -x c - -o "$OUT/lsan-probe.tmp" 2>/dev/null; then
		rm -f "$OUT/lsan-probe.tmp"
		run leaks-lsan "$OUT/leaks-lsan" \
			$CC $COMMON -pie -fPIE -fsanitize=leak -DCORPUS_LSAN=1 "$SRC/leaks.c" \
			-o "$OUT/leaks-lsan.tmp" -L"$OUT" -lcorpus '-Wl,-rpath,$ORIGIN'
	else
		rm -f "$OUT/lsan-probe.tmp"
		echo "corpus/build.sh: note: $CC cannot link -fsanitize=leak; leaks-lsan not built" >&2
	fi
fi

# libphantom.so: an ELF file phantom maps (one page) without loading it; a 32 MiB
# .bss makes its program headers span 32 MiB.
if needs_build "$OUT/libphantom.so" "$SRC/libphantom.c" "$SELF"; then
	run libphantom.so "$OUT/libphantom.so" \
		$CC $COMMON -fPIC -shared "$SRC/libphantom.c" -o "$OUT/libphantom.so.tmp"
fi

# phantom: maps libphantom.so's first page next to libc or to a leaked chunk
# (tests t0130); like leaks, it runs its leak check under valgrind (corpus.h).
if needs_build "$OUT/phantom" "$SRC/phantom.c" "$H" "$SELF"; then
	run phantom "$OUT/phantom" $CC $COMMON -pie -fPIE "$SRC/phantom.c" -o "$OUT/phantom.tmp"
fi

# heap: glibc malloc states (heap.c is written separately; built only if present).
# -O1 and plain flags, linked normally, never with sanitizers.
if [ -e "$SRC/heap.c" ]; then
	if needs_build "$OUT/heap" "$SRC/heap.c" "$H" "$SELF"; then
		run heap "$OUT/heap" $CC -g -O1 -Wall -pthread "$SRC/heap.c" -o "$OUT/heap.tmp"
	fi
fi

# blocks: struct block held by a global, a thread's local, both, and leaked (retention oracle).
if needs_build "$OUT/blocks" "$SRC/blocks.c" "$H" "$SELF"; then
	run blocks "$OUT/blocks" $CC $COMMON -pie -fPIE -pthread "$SRC/blocks.c" -o "$OUT/blocks.tmp"
fi

# dontdump: a 2 GiB mapping marked MADV_DONTDUMP (tests/t0240)
if needs_build "$OUT/dontdump" "$SRC/dontdump.c" "$H" "$SELF"; then
	run dontdump "$OUT/dontdump" $CC $COMMON -pie -fPIE "$SRC/dontdump.c" -o "$OUT/dontdump.tmp"
fi

# allocator: which allocator serves malloc and blocks leaked in it, by the
# process's own word; run as it is and with LD_PRELOAD=libjemalloc.so.2 or a
# tcmalloc (tests/t0330).
if needs_build "$OUT/allocator" "$SRC/allocator.c" "$H" "$SELF"; then
	run allocator "$OUT/allocator" $CC $COMMON -pie -fPIE "$SRC/allocator.c" -o "$OUT/allocator.tmp"
fi
# allocator-jemalloc-static: the same with jemalloc linked into the executable
# (libjemalloc-dev's libjemalloc_pic.a): malloc is the executable's own;
# -rdynamic lets the program find its own mallctl with dlsym.
JEMALLOC_A=$(ls /usr/lib/*/libjemalloc_pic.a 2>/dev/null | head -n 1 || true)
if [ -n "$JEMALLOC_A" ]; then
	if needs_build "$OUT/allocator-jemalloc-static" "$SRC/allocator.c" "$H" "$SELF"; then
		run allocator-jemalloc-static "$OUT/allocator-jemalloc-static" \
			$CC $COMMON -pie -fPIE -rdynamic "$SRC/allocator.c" \
			-o "$OUT/allocator-jemalloc-static.tmp" "$JEMALLOC_A" -lm -lstdc++ -ldl
	fi
else
	echo "corpus/build.sh: note: libjemalloc_pic.a (libjemalloc-dev) not found: allocator-jemalloc-static not built" >&2
fi
# tcmalloc-minimal, tcmalloc-full: malloc is gperftools' tcmalloc, linked in
# (-ltcmalloc_minimal, -ltcmalloc; libgoogle-perftools-dev), with tcmalloc's
# own figures at the dump (tests/t0360). Built only when gperftools' headers
# are there.
if [ -e /usr/include/gperftools/malloc_extension_c.h ]; then
	for v in minimal full; do
		lib=tcmalloc_minimal
		[ "$v" = full ] && lib=tcmalloc
		if needs_build "$OUT/tcmalloc-$v" "$SRC/tcmalloc.c" "$H" "$SELF"; then
			run "tcmalloc-$v" "$OUT/tcmalloc-$v" $CC $COMMON -pie -fPIE "$SRC/tcmalloc.c" \
				-o "$OUT/tcmalloc-$v.tmp" -Wl,--no-as-needed -l$lib -ldl
		fi
	done
else
	echo "corpus/build.sh: note: gperftools' headers (libgoogle-perftools-dev) not found: tcmalloc-minimal and tcmalloc-full not built" >&2
fi
# shared: structures held by several roots at once (the summary's top entries), and
# pointers left in vector register words. shared-stripped: the same, linked with -s
# (no symbol table, no DWARF; the same code and layout as shared).
if needs_build "$OUT/shared" "$SRC/shared.c" "$H" "$SELF"; then
	run shared "$OUT/shared" $CC $COMMON -pie -fPIE -pthread "$SRC/shared.c" -o "$OUT/shared.tmp"
fi
if needs_build "$OUT/shared-stripped" "$SRC/shared.c" "$H" "$SELF"; then
	run shared-stripped "$OUT/shared-stripped" \
		$CC $COMMON -s -pie -fPIE -pthread "$SRC/shared.c" -o "$OUT/shared-stripped.tmp"
fi

# jemalloc: malloc is jemalloc (-ljemalloc, libjemalloc-dev), and what jemalloc
# says of its heap (mallctl); built only when jemalloc's header is there.
if [ -e /usr/include/jemalloc/jemalloc.h ]; then
	if needs_build "$OUT/jemalloc" "$SRC/jemalloc.c" "$H" "$SELF"; then
		run jemalloc "$OUT/jemalloc" $CC $COMMON -pie -fPIE "$SRC/jemalloc.c" \
			-o "$OUT/jemalloc.tmp" -ljemalloc -ldl
	fi
	# jemalloc-prof: the same with jemalloc's profiler sampling every allocation
	if needs_build "$OUT/jemalloc-prof" "$SRC/jemalloc.c" "$H" "$SELF"; then
		run jemalloc-prof "$OUT/jemalloc-prof" $CC $COMMON -pie -fPIE -DCORPUS_JE_PROF \
			"$SRC/jemalloc.c" -o "$OUT/jemalloc-prof.tmp" -ljemalloc -ldl
	fi
else
	echo "corpus/build.sh: note: jemalloc/jemalloc.h (libjemalloc-dev) not found: jemalloc not built" >&2
fi

# jemalloc-je, jemalloc-je-prof: corpus/jemalloc.c on a jemalloc built here from
# Debian's source package (jemalloc_5.3.0.orig.tar.bz2, which
# scripts/install-deps --tests fetches into the cache named below) with what
# Debian's build does not have: the je_ API prefix (linked into the executable,
# so malloc stays glibc's), LG_QUANTUM 3 (235 size classes, not 232),
# --enable-debug (nstime_t grows a magic word: e_prof_tctx moves from offset 80
# to 88) and debug information (the walker reads these layouts from DWARF).
# LG_VADDR is set to 57, not Debian's 48: configure takes it from the CPU it
# runs on, and a CPU with 5-level paging gives 57 (this build's extent map has
# three levels of 15 bits and two-word leaf entries); set, so that every
# machine builds the same.
JE_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cprof-core
JE_TARBALL=${CPROF_JEMALLOC_TARBALL:-$JE_CACHE/jemalloc_5.3.0.orig.tar.bz2}
JE_SHA256=2db82d1e7119df3e71b7640219b6dfe84789bc0537983c3b7ac4f7189aecfeaa
JE_CONF="--with-jemalloc-prefix=je_ --with-lg-quantum=3 --with-lg-vaddr=57 --enable-debug --enable-prof --disable-cxx"
JE_DIR=$OUT/jemalloc-je-src
if [ -f "$JE_TARBALL" ]; then
	if [ "$(sha256sum "$JE_TARBALL" | cut -d' ' -f1)" != "$JE_SHA256" ]; then
		echo "corpus/build.sh: error: $JE_TARBALL: not Debian's jemalloc_5.3.0.orig.tar.bz2 (sha256 differs)" >&2
		exit 1
	fi
	# built once per configuration (the stamp), into a temporary tree renamed when done
	if [ "$(cat "$JE_DIR/.stamp" 2>/dev/null)" != "$JE_SHA256 $JE_CONF" ]; then
		echo "corpus/build.sh: building jemalloc 5.3.0 from $JE_TARBALL ($JE_CONF): about 2 minutes" >&2
		rm -rf "$JE_DIR" "$JE_DIR.tmp"
		mkdir -p "$JE_DIR.tmp"
		# shellcheck disable=SC2086
		if ! (tar -xjf "$JE_TARBALL" -C "$JE_DIR.tmp" --strip-components=1 &&
		      cd "$JE_DIR.tmp" && CC=$CC ./configure $JE_CONF > configure.log 2>&1 &&
		      make -j"$(nproc)" lib/libjemalloc_pic.a > make.log 2>&1); then
			echo "corpus/build.sh: error: building jemalloc from $JE_TARBALL failed (logs in $JE_DIR.tmp)" >&2
			exit 1
		fi
		echo "$JE_SHA256 $JE_CONF" > "$JE_DIR.tmp/.stamp"
		mv "$JE_DIR.tmp" "$JE_DIR"
	fi
	for v in jemalloc-je jemalloc-je-prof; do
		if needs_build "$OUT/$v" "$SRC/jemalloc.c" "$H" "$SELF" "$JE_DIR/.stamp"; then
			prof=""
			[ "$v" = jemalloc-je-prof ] && prof=-DCORPUS_JE_PROF
			run "$v" "$OUT/$v" $CC $COMMON -pie -fPIE -DCORPUS_JE_MANGLE $prof \
				-I"$JE_DIR/include" "$SRC/jemalloc.c" -o "$OUT/$v.tmp" \
				"$JE_DIR/lib/libjemalloc_pic.a" -lm -ldl
		fi
	done
	# jemalloc-je-nodwarf: the same without its DWARF (objcopy --strip-debug:
	# .symtab stays): the extent map's shape and the layouts without DWARF
	if needs_build "$OUT/jemalloc-je-nodwarf" "$OUT/jemalloc-je"; then
		run jemalloc-je-nodwarf "$OUT/jemalloc-je-nodwarf" \
			objcopy --strip-debug "$OUT/jemalloc-je" "$OUT/jemalloc-je-nodwarf.tmp"
	fi
else
	echo "corpus/build.sh: note: $JE_TARBALL (Debian's jemalloc source: scripts/install-deps --tests) not found: jemalloc-je not built" >&2
fi

# jemalloc-52, jemalloc-52-prof: corpus/jemalloc.c on Debian 11's jemalloc 5.2.1
# (libjemalloc2_5.2.1-3_amd64.deb, which scripts/install-deps --tests fetches:
# unpacked here, the program linked to its library by path and run path).
JE52_DEB=$JE_CACHE/libjemalloc2_5.2.1-3_amd64.deb
JE52_SHA256=dcb79555b137ad70c9d392ca31e04533e3a10b63aa0db02d5a26f464060cc0f5
JE52_DIR=$OUT/jemalloc-5.2.1
if [ -f "$JE52_DEB" ] && [ -e /usr/include/jemalloc/jemalloc.h ]; then
	if [ "$(sha256sum "$JE52_DEB" | cut -d' ' -f1)" != "$JE52_SHA256" ]; then
		echo "corpus/build.sh: error: $JE52_DEB: not Debian 11's libjemalloc2 5.2.1-3 (sha256 differs)" >&2
		exit 1
	fi
	# unpacked once (the stamp: dpkg-deb keeps the package's old file times,
	# so the library itself cannot tell whether it is older than the .deb)
	if [ "$(cat "$JE52_DIR/.stamp" 2>/dev/null)" != "$JE52_SHA256" ]; then
		rm -rf "$JE52_DIR.tmp"
		mkdir -p "$JE52_DIR.tmp/deb"
		dpkg-deb -x "$JE52_DEB" "$JE52_DIR.tmp/deb"
		mv "$JE52_DIR.tmp/deb/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" "$JE52_DIR.tmp/"
		rm -rf "$JE52_DIR.tmp/deb" "$JE52_DIR"
		echo "$JE52_SHA256" > "$JE52_DIR.tmp/.stamp"
		mv "$JE52_DIR.tmp" "$JE52_DIR"
	fi
	for v in jemalloc-52 jemalloc-52-prof; do
		if needs_build "$OUT/$v" "$SRC/jemalloc.c" "$H" "$SELF" "$JE52_DIR/.stamp"; then
			prof=""
			[ "$v" = jemalloc-52-prof ] && prof=-DCORPUS_JE_PROF
			run "$v" "$OUT/$v" $CC $COMMON -pie -fPIE $prof "$SRC/jemalloc.c" \
				-o "$OUT/$v.tmp" "$JE52_DIR/libjemalloc.so.2" -Wl,-rpath,"$JE52_DIR" -ldl
		fi
	done
else
	echo "corpus/build.sh: note: $JE52_DEB (Debian 11's jemalloc 5.2.1: scripts/install-deps --tests) not found: jemalloc-52 not built" >&2
fi

# shapes: polymorphic C++ objects (typing from vtables); needs g++.
if command -v "${CXX:-g++}" >/dev/null 2>&1; then
	if needs_build "$OUT/shapes" "$SRC/shapes.cpp" "$SELF"; then
		run shapes "$OUT/shapes" "${CXX:-g++}" -g -O0 -Wall "$SRC/shapes.cpp" -o "$OUT/shapes.tmp"
	fi
else
	echo "corpus/build.sh: g++ not found: shapes (C++) not built" >&2
fi

# stale: a word past the end of its object's type, interior pointers (t0540).
if needs_build "$OUT/stale" "$SRC/stale.c" "$H" "$SELF"; then
	run stale "$OUT/stale" $CC $COMMON -pie -fPIE "$SRC/stale.c" -o "$OUT/stale.tmp"
fi

# bigheap: a large random pointer graph of three threads with known leaks
# (bench/bigheap; small, t0400). -O1: it makes 10^7 chunks in seconds.
if needs_build "$OUT/bigheap" "$SRC/bigheap.c" "$H" "$SELF"; then
	run bigheap "$OUT/bigheap" $CC -g -O1 -Wall -pthread "$SRC/bigheap.c" -o "$OUT/bigheap.tmp"
fi

# libmallinfo-oracle.so: preloaded into real programs (t0320) to take their
# mallinfo2() on SIGUSR1.
if needs_build "$OUT/libmallinfo-oracle.so" "$SRC/mallinfo-oracle.c" "$SELF"; then
	run libmallinfo-oracle.so "$OUT/libmallinfo-oracle.so" \
		$CC -O1 -Wall -shared -fPIC "$SRC/mallinfo-oracle.c" -o "$OUT/libmallinfo-oracle.so.tmp"
fi

# libexit-core.so: preloaded into real programs (t0550) to dump their core at the
# very end of exit(), where valgrind's leak check looks.
if needs_build "$OUT/libexit-core.so" "$SRC/exit-core.c" "$SELF"; then
	run libexit-core.so "$OUT/libexit-core.so" \
		$CC -O1 -Wall -shared -fPIC "$SRC/exit-core.c" -o "$OUT/libexit-core.so.tmp"
fi

# libjemalloc-oracle.so: preloaded into real programs whose malloc is jemalloc
# (t0350: redis-server) to record jemalloc's statistics at the dump.
if needs_build "$OUT/libjemalloc-oracle.so" "$SRC/jemalloc-oracle.c" "$SELF"; then
	run libjemalloc-oracle.so "$OUT/libjemalloc-oracle.so" \
		$CC -O1 -Wall -shared -fPIC "$SRC/jemalloc-oracle.c" -o "$OUT/libjemalloc-oracle.so.tmp" -ldl
fi

# Go programs (corpus/go, a module of its own: standard library only). Built only
# when `go` (1.22 or later: what cprof-core reads; go -C needs 1.20) is on PATH (or in
# /usr/local/go/bin), into OUTDIR like the others, with an
# environment of their own so that nothing depends on the caller's: the build
# cache under OUTDIR, no network (GOPROXY=off), no toolchain switch
# (GOTOOLCHAIN=local), no VCS stamping, the caller's GOFLAGS, GOOS/GOARCH,
# GOEXPERIMENT and CGO_* flags ignored. Default optimizations, DWARF included.
# The upstream tarball's place (/usr/local/go) counts when PATH has no go.
GO=$(command -v go 2>/dev/null || true)
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then
	GO=/usr/local/go/bin/go
fi
go_minor=
if [ -n "$GO" ]; then
	go_minor=$(GOTOOLCHAIN=local GOENV=off "$GO" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')
fi
if [ -z "$GO" ]; then
	echo "corpus/build.sh: note: go not found on PATH nor in /usr/local/go/bin: the Go programs (corpus/go) are not built" >&2
elif [ -z "$go_minor" ] || [ "$go_minor" -lt 22 ]; then
	echo "corpus/build.sh: note: $GO is older than Go 1.22, the oldest cprof-core reads (or its version is unknown): the Go programs (corpus/go) are not built" >&2
else
	unset GOOS GOARCH GOAMD64 GOEXPERIMENT GODEBUG GOFLAGS GOWORK GOBIN GOENV \
		CGO_CFLAGS CGO_CPPFLAGS CGO_CXXFLAGS CGO_FFLAGS CGO_LDFLAGS || true
	export GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOENV=off GOWORK=off GO111MODULE=on
	export GOFLAGS=-buildvcs=false
	export GOCACHE="$OUT/.gocache" GOPATH="$OUT/.gopath" GOMODCACHE="$OUT/.gopath/pkg/mod"
	export CC

	# go_needs_build OUTPUT DIR: true when OUTPUT is missing or older than a Go
	# source of DIR (its package) or of internal/ (what they share), go.mod or this
	# script.
	go_needs_build() {
		[ -e "$1" ] || return 0
		[ "$SELF" -nt "$1" ] && return 0
		[ "$SRC/go/go.mod" -nt "$1" ] && return 0
		[ -n "$(find "$SRC/go/$2" "$SRC/go/internal" -type f -name '*.go' -newer "$1" | head -n 1)" ]
	}

	# The pure-Go programs (corpus/README.md says what each holds): goblocks
	# (*Block kept by a global slice and a global map), gogoroutines (1000
	# goroutines blocked for ever, each with a 64 KiB buffer), goprofile
	# (MemProfileRate = 1, its own heap profile), gofinal (objects kept only by
	# finalizer and cleanup records), gotypes (objects typed only through the
	# runtime's words: interfaces, channels, maps, closures, headers), goshared
	# (a store held by two package variables and a goroutine; goroutines
	# started by the program's own `go` helper), gostatic (package variables
	# pointing to composite literals laid out in .data, heap objects below),
	# gogrow (dumped twice, with a known growth in between: t0810).
	for prog in goblocks gogoroutines goprofile gofinal gotypes goshared gostatic gogrow; do
		if go_needs_build "$OUT/$prog" "$prog"; then
			run "$prog" "$OUT/$prog" \
				env CGO_ENABLED=0 "$GO" -C "$SRC/go" build -o "$OUT/$prog.tmp" "./$prog"
		fi
	done
	# goblocks-nodwarf: the same linked without DWARF (-ldflags=-w)
	if go_needs_build "$OUT/goblocks-nodwarf" goblocks; then
		run goblocks-nodwarf "$OUT/goblocks-nodwarf" \
			env CGO_ENABLED=0 "$GO" -C "$SRC/go" build -ldflags=-w -o "$OUT/goblocks-nodwarf.tmp" ./goblocks
	fi
	# gocgo: Go structs holding C.malloc'd buffers (cgo: needs the C compiler)
	if go_needs_build "$OUT/gocgo" gocgo; then
		run gocgo "$OUT/gocgo" \
			env CGO_ENABLED=1 "$GO" -C "$SRC/go" build -o "$OUT/gocgo.tmp" ./gocgo
	fi
fi

exit 0
