package load

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// cpuWorker spins Duty of every CPUPeriod on each of Threads locked
// threads and sleeps the rest.
type cpuWorker struct{ s Spec }

func (w *cpuWorker) close() {}

func (w *cpuWorker) run(stop *atomic.Bool) (Report, error) {
	type result struct {
		loops, periods uint64
		cpu            time.Duration
		err            error
	}
	res := make([]result, w.s.Threads)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := &res[i]
			if r.err = applyThread(w.s, 0); r.err != nil {
				return
			}
			r.loops, r.periods = spin(w.s.Duty, stop)
			var ru unix.Rusage
			if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
				r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var loops, periods float64
	var cpu time.Duration
	for _, r := range res {
		if r.err != nil {
			return Report{Unit: "loops/s"}, r.err
		}
		loops += float64(r.loops)
		periods += float64(r.periods)
		cpu += r.cpu
	}
	n := float64(w.s.Threads)
	return Report{
		Work: rate(loops, wall),
		Unit: "loops/s",
		Details: map[string]float64{
			"threads":       n,
			"duty":          w.s.Duty,
			"duty_achieved": cpu.Seconds() / (wall.Seconds() * n), // thread CPU time over wall time
			"periods":       periods / n,
		},
	}, nil
}

// sink keeps the spin loop's arithmetic from being optimised away.
var sink atomic.Uint64

// spin runs periods of CPUPeriod until stop. It spins until its busy
// time since the start reaches duty of the time to the end of the current
// period, then sleeps to that end: a late wake-up shortens the sleep, not
// the spin, so the achieved duty stays duty on average. A debt larger than
// one period (after a stall) is forgiven rather than paid back.
func spin(duty float64, stop *atomic.Bool) (loops, periods uint64) {
	period := CPUPeriod
	t0 := time.Now()
	var busy time.Duration // spun so far
	next := period         // end of the current period, since t0
	x := uint64(1)
	for !stop.Load() {
		from := time.Since(t0)
		debt := min(time.Duration(duty*float64(next))-busy, period)
		for end := from + debt; ; {
			loops++
			x = x*6364136223846793005 + 1442695040888963407
			if time.Since(t0) >= end {
				break
			}
		}
		now := time.Since(t0)
		busy += now - from
		periods++
		if now > next+period {
			// stalled (preempted) for more than a period: restart the count
			busy = time.Duration(duty * float64(now))
			next = now
		}
		if now < next {
			time.Sleep(next - now)
		}
		next += period
	}
	sink.Add(x)
	return loops, periods
}
