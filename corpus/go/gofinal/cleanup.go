//go:build go1.24

package main

import (
	"runtime"
	"unsafe"
)

const cleanupsSupported = true

// Payload is a cleanup's argument: reachable only from the cleanup record.
type Payload struct{ buf []byte }

func addCleanups(n int, entries []entry) []entry {
	for i := 0; i < n; i++ {
		r := &Resource{ID: int64(1000 + i), Name: "cleaned up"}
		p := &Payload{buf: make([]byte, CleanupBytes)}
		runtime.AddCleanup(r, func(p *Payload) { sink += len(p.buf) }, p)
		res = append(res, r)
		entries = append(entries, entry{uintptr(unsafe.Pointer(r)),
			uintptr(unsafe.Pointer(&p.buf[0])), "cleanup", CleanupBytes})
	}
	return entries
}
