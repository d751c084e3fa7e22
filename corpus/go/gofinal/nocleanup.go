//go:build !go1.24

package main

const cleanupsSupported = false

// Before Go 1.24 there is no runtime.AddCleanup.
func addCleanups(n int, entries []entry) []entry { return entries }
