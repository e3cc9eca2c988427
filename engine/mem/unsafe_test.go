package mem

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// unsafePages is a's memory from its first whole page on, in whole pages.
func unsafePages(a []int64) []byte {
	p := uintptr(unsafe.Pointer(&a[0]))
	end := p + uintptr(len(a))*8
	start := (p + uintptr(pageSize) - 1) &^ (uintptr(pageSize) - 1)
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&a[0]), start-p)), int(end-start)&^(pageSize-1))
}

func mincore(b []byte, vec []byte) error {
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return e
	}
	return nil
}
