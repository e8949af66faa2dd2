// SPDX-License-Identifier: MIT
// goexit N: a dynamically linked Go program (cgo: it links libc, so the shim
// loads into it) that exits with status N. The Go runtime ends the process
// with a raw exit_group system call, which no preloaded library sees.
package main

// #include <stdlib.h>
import "C"

import (
	"os"
	"strconv"
)

func main() {
	n := 0
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	_ = C.abs(C.int(n)) // a real call into libc
	os.Exit(n)
}
