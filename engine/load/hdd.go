package load

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const hddChunk = 1 << 20

// hddWorker writes a file, fsyncs it, drops it from the page cache
// (posix_fadvise DONTNEED) so that the reads go to the device, reads it
// back, and starts again. The file never has a name that outlives the
// child: it is made with O_TMPFILE (no name at all) or, where the file
// system lacks that, created and unlinked at once. Its blocks are freed
// when the child ends, however it ends.
type hddWorker struct {
	s     Spec
	dir   string
	f     *os.File
	tmpfs bool
	buf   []byte
}

func newHDD(s Spec) (*hddWorker, error) {
	dir := s.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("dir %s: %v", dir, err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); s.Bytes > free/2 {
		return nil, fmt.Errorf("bytes %s is more than half of the free space in %s (%s)", size(s.Bytes), dir, size(free))
	}
	w := &hddWorker{s: s, dir: dir, tmpfs: st.Type == unix.TMPFS_MAGIC}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		w.f = os.NewFile(uintptr(fd), dir+"/(O_TMPFILE)")
	} else {
		f, err := os.CreateTemp(dir, ".labrun-load-*.tmp")
		if err != nil {
			return nil, fmt.Errorf("making a file in %s: %v", dir, err)
		}
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return nil, fmt.Errorf("unlinking %s: %v", f.Name(), err)
		}
		w.f = f
	}
	w.buf = make([]byte, min(s.Bytes, hddChunk))
	r := rand.New(rand.NewPCG(1, 2)) // incompressible, the same every run
	for i := range w.buf {
		w.buf[i] = byte(r.Uint32())
	}
	return w, nil
}

func (w *hddWorker) close() { w.f.Close() }

func (w *hddWorker) run(stop *atomic.Bool) (Report, error) {
	rep := Report{Unit: "MB/s"}
	fd := int(w.f.Fd())
	var written, read, passes float64
	var wtime, rtime time.Duration
	start := time.Now()
	// chunks does f on each chunk of the file until the end or stop.
	chunks := func(f func(b []byte, off int64) (int, error)) (int64, error) {
		var n int64
		for off := int64(0); off < w.s.Bytes && !stop.Load(); {
			b := w.buf[:min(int64(len(w.buf)), w.s.Bytes-off)]
			k, err := f(b, off)
			if err != nil {
				return n, err
			}
			if k == 0 {
				return n, fmt.Errorf("short read at %d of %d bytes", off, w.s.Bytes)
			}
			n += int64(k)
			off += int64(k)
		}
		return n, nil
	}
	for !stop.Load() {
		t := time.Now()
		n, err := chunks(func(b []byte, off int64) (int, error) { return unix.Pwrite(fd, b, off) })
		if err == nil {
			err = unix.Fsync(fd)
		}
		wtime += time.Since(t)
		written += float64(n)
		if err != nil {
			return rep, fmt.Errorf("writing %s: %v", w.dir, err)
		}
		if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
			return rep, fmt.Errorf("posix_fadvise: %v", err)
		}
		t = time.Now()
		n, err = chunks(func(b []byte, off int64) (int, error) { return unix.Pread(fd, b, off) })
		rtime += time.Since(t)
		read += float64(n)
		if err != nil {
			return rep, fmt.Errorf("reading %s: %v", w.dir, err)
		}
		passes += float64(n) / float64(w.s.Bytes)
	}
	wall := time.Since(start)
	tmpfs := 0.0
	if w.tmpfs {
		tmpfs = 1 // no device under it: the "disk" is memory
	}
	rep.Work = rate((written+read)/1e6, wall)
	rep.Details = map[string]float64{
		"bytes":      float64(w.s.Bytes),
		"passes":     passes,
		"write_MBps": rate(written/1e6, wtime), // fsync included
		"read_MBps":  rate(read/1e6, rtime),
		"tmpfs":      tmpfs,
	}
	return rep, nil
}
