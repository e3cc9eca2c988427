package load

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// vmWorker page-faults continuously: it touches every page of an
// anonymous mapping, gives the pages back (MADV_DONTNEED) and starts
// again, so every touch is a minor fault that allocates and zeroes a page.
type vmWorker struct {
	s   Spec
	mem []byte
}

func newVM(s Spec) (*vmWorker, error) {
	if avail, err := memAvailable(); err == nil && s.Bytes > avail/2 {
		return nil, fmt.Errorf("bytes %s is more than half of the available memory (%s)", size(s.Bytes), size(avail))
	}
	mem, err := unix.Mmap(-1, 0, int(s.Bytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %v", size(s.Bytes), err)
	}
	// Small pages: with transparent huge pages one fault would map 2 MiB.
	_ = unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	return &vmWorker{s: s, mem: mem}, nil
}

func (w *vmWorker) close() { _ = unix.Munmap(w.mem) }

func (w *vmWorker) run(stop *atomic.Bool) (Report, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rep := Report{Unit: "faults/s"}
	if err := applyThread(w.s, 0); err != nil {
		return rep, err
	}
	page := os.Getpagesize()
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &before); err != nil {
		return rep, err
	}
	start := time.Now()
	var passes, touched float64
	for !stop.Load() {
		n := 0
		for off := 0; off < len(w.mem); off += page {
			w.mem[off] = 1
			n++
			if n%256 == 0 && stop.Load() {
				break
			}
		}
		if err := unix.Madvise(w.mem, unix.MADV_DONTNEED); err != nil {
			return rep, fmt.Errorf("madvise: %v", err)
		}
		touched += float64(n * page)
		passes += float64(n*page) / float64(len(w.mem))
	}
	wall := time.Since(start)
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &after); err != nil {
		return rep, err
	}
	faults := float64(after.Minflt - before.Minflt)
	rep.Work = rate(faults, wall)
	rep.Details = map[string]float64{
		"bytes":        float64(w.s.Bytes),
		"faults":       faults,
		"major_faults": float64(after.Majflt - before.Majflt),
		"passes":       passes,
		"touched_MBps": rate(touched/1e6, wall),
	}
	return rep, nil
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}
