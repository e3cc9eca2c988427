// Package mem prepares memory for timed loops.
package mem

import (
	"os"
	"unsafe"
)

var pageSize = os.Getpagesize()

// Touch writes the zero value to one element in every page of a, so that
// the pages are faulted in now and not in a timed loop that writes a
// later. a's elements must be zero already (a fresh make), as Touch
// leaves them.
//
// It is one store per page in an ordinary loop, which the Go runtime can
// preempt. The idiom `for i := range a { a[i] = zero }` compiles to a
// single call of the runtime's memclr, which cannot be preempted: for a
// trace of a million frames it ran for hundreds of milliseconds of page
// faults, and a garbage collection that started meanwhile waited for it,
// signalling its thread every few microseconds (15,000 signals in one run).
func Touch[T any](a []T) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if size == 0 || len(a) == 0 {
		return
	}
	step := max(1, pageSize/size)
	for i := 0; i < len(a); i += step {
		a[i] = zero
	}
	a[len(a)-1] = zero // the last page, when a ends inside one the steps skipped
}
