package trace

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// window streams a file through read-only memory mappings, double
// buffered as NetVCR describes: the reader parses the current mapping
// while the next one is already mapped and advised (MADV_SEQUENTIAL and
// MADV_WILLNEED), so the kernel reads it ahead in the background; a
// mapping is unmapped once the reader has moved past it. The whole file
// is never mapped at once, so files larger than memory stream.
//
// Window k maps [k*stride, (k+1)*stride + overlap): consecutive mappings
// overlap by overlap bytes, so a record that straddles a stride boundary
// is whole in one of them. A record larger than the overlap that still
// does not fit gets a mapping of its own (reposition).
type window struct {
	fd      int
	size    int64 // file size
	stride  int64 // window size, a multiple of the page size
	overlap int64 // min(stride, MaxRecordLen), a multiple of the page size
	page    int64
	cur     mapping
	next    mapping // cur.base + stride, mapped ahead; empty at the end
	maps    int     // mappings made so far (tests check windows change)
}

// mapping is one mapped part of the file.
type mapping struct {
	base int64  // file offset of data[0], page-aligned
	data []byte // nil if nothing is mapped
}

// newWindow prepares to stream f (size bytes) in windows of stride bytes
// (0: DefaultWindow). Nothing is mapped until the first view.
func newWindow(f *os.File, size, stride int64) *window {
	page := int64(os.Getpagesize())
	if stride == 0 {
		stride = DefaultWindow
	}
	stride = (stride + page - 1) / page * page
	overlap := min(stride, (MaxRecordLen+page-1)/page*page)
	return &window{fd: int(f.Fd()), size: size, stride: stride, overlap: overlap, page: page}
}

// view makes the file's bytes [off, off+n) mapped in w.cur, moving to the
// next window or mapping anew as needed. The caller has checked that they
// are in the file. Views of earlier calls may be unmapped.
func (w *window) view(off int64, n int) error {
	end := off + int64(n)
	if w.cur.data != nil && off >= w.cur.base && end <= w.cur.base+int64(len(w.cur.data)) {
		return nil
	}
	if w.next.data != nil && off >= w.next.base && end <= w.next.base+int64(len(w.next.data)) {
		w.cur.unmap()
		w.cur, w.next = w.next, mapping{}
		return w.prefetch()
	}
	// A jump, a first view, or a record larger than the overlap.
	w.cur.unmap()
	w.next.unmap()
	base := off &^ (w.page - 1)
	length := max(w.stride+w.overlap, (end-base+w.page-1)/w.page*w.page)
	var err error
	if w.cur, err = w.mapAt(base, length); err != nil {
		return err
	}
	return w.prefetch()
}

// prefetch maps and advises the window after the current one.
func (w *window) prefetch() error {
	base := w.cur.base + w.stride
	if base >= w.size {
		return nil
	}
	var err error
	w.next, err = w.mapAt(base, w.stride+w.overlap)
	return err
}

// mapAt maps up to length bytes of the file from base, stopping at its
// end, and asks the kernel to read them ahead sequentially.
func (w *window) mapAt(base, length int64) (mapping, error) {
	length = min(length, w.size-base)
	if length <= 0 {
		return mapping{}, nil
	}
	data, err := unix.Mmap(w.fd, base, int(length), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return mapping{}, fmt.Errorf("mmap %d bytes at offset %d: %w", length, base, err)
	}
	w.maps++
	// Advice only: a kernel that ignores it reads the file all the same.
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	_ = unix.Madvise(data, unix.MADV_WILLNEED)
	return mapping{base: base, data: data}, nil
}

// unmap releases the mapping, if any.
func (m *mapping) unmap() {
	if m.data != nil {
		_ = unix.Munmap(m.data)
		m.data = nil
	}
}

// close unmaps everything.
func (w *window) close() {
	w.cur.unmap()
	w.next.unmap()
}
