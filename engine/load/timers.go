package load

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// timersWorker arms N periodic timerfds, their first expirations spread
// evenly over one Interval, and reads them in an epoll loop: up to
// N/Interval hrtimer firings (timer interrupts) per second, as many as the
// loop can read.
type timersWorker struct {
	s   Spec
	ep  int
	fds []int
}

func newTimers(s Spec) (*timersWorker, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %v", err)
	}
	w := &timersWorker{s: s, ep: ep}
	for i := range s.N {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("timerfd %d of %d: %v", i+1, s.N, err)
		}
		w.fds = append(w.fds, fd)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			w.close()
			return nil, fmt.Errorf("epoll_ctl: %v", err)
		}
	}
	return w, nil
}

func (w *timersWorker) close() {
	for _, fd := range w.fds {
		unix.Close(fd)
	}
	unix.Close(w.ep)
}

func (w *timersWorker) arm(on bool) error {
	iv := w.s.Interval.Nanoseconds()
	for i, fd := range w.fds {
		var spec unix.ItimerSpec
		if on {
			spec.Interval = unix.NsecToTimespec(iv)
			spec.Value = unix.NsecToTimespec(iv + iv*int64(i)/int64(len(w.fds)))
		}
		if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
			return fmt.Errorf("timerfd_settime: %v", err)
		}
	}
	return nil
}

func (w *timersWorker) run(stop *atomic.Bool) (Report, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rep := Report{Unit: "wakeups/s"}
	if err := applyThread(w.s, 0); err != nil {
		return rep, err
	}
	events := make([]unix.EpollEvent, min(len(w.fds), 256))
	var buf [8]byte
	var expirations, reads, wakeups uint64
	start := time.Now()
	if err := w.arm(true); err != nil {
		return rep, err
	}
	for !stop.Load() {
		n, err := unix.EpollWait(w.ep, events, 20)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("epoll_wait: %v", err)
		}
		if n > 0 {
			wakeups++
		}
		for _, ev := range events[:n] {
			k, err := unix.Read(w.fds[ev.Fd], buf[:])
			if err == nil && k == 8 {
				expirations += binary.NativeEndian.Uint64(buf[:])
				reads++
			}
		}
	}
	wall := time.Since(start)
	if err := w.arm(false); err != nil {
		return rep, err
	}
	// A timerfd's hrtimer is re-armed when it is read: expirations that
	// pass while it is not read are counted (overruns) but make no
	// interrupt. The achieved storm is the reads, one firing each.
	rep.Work = rate(float64(reads), wall)
	rep.Details = map[string]float64{
		"timers":              float64(len(w.fds)),
		"interval_us":         float64(w.s.Interval) / 1e3,
		"target_per_s":        float64(len(w.fds)) / w.s.Interval.Seconds(),
		"epoll_wakeups_per_s": rate(float64(wakeups), wall),
		"expirations_per_s":   rate(float64(expirations), wall), // overruns included: not all made an interrupt
	}
	return rep, nil
}
