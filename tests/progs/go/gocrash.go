// SPDX-License-Identifier: MIT
// gocrash: a Go program with no cgo (statically linked, no libc: no shim can
// load) that dereferences nil in main.crashHere; run with GOTRACEBACK=crash
// the runtime dies of SIGABRT and the kernel dumps its core.
package main

import "fmt"

type node struct{ next *node }

//go:noinline
func crashHere(n *node) int {
	return len(fmt.Sprint(n.next.next))
}

func main() {
	fmt.Println("gocrash")
	fmt.Println(crashHere(&node{}))
}
