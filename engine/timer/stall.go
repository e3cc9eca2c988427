package timer

import (
	"sync/atomic"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/mem"
)

// stallThreshold is measure.StallThreshold: the gap between two clock
// readings of a running timed loop above which the thread is taken not to
// have run.
const stallThreshold = measure.StallThreshold

// StallLog records the spans a timed thread did not run, into storage
// allocated once: recording never allocates. A Timer given a log
// (Config.Stalls) records
//
//   - while spinning (busy, and firm's spin phase): every gap between two
//     consecutive clock readings longer than measure.StallThreshold, as the
//     span between the two readings;
//   - after a sleep (sleep, firm, timerfd, tick): a wake-up later than the
//     expected lateness plus the threshold, as the span from the requested
//     wake-up plus the expected lateness to the reading after the wake.
//     The expected lateness is the thread's own running 99.5 % quantile of
//     wake-up lateness (the estimate firm sizes its margin from; it learns
//     the timer slack and the host's ordinary wake-up latency), so an
//     ordinary wake-up is not a stall and an unusually late one is;
//   - before the first wait: a loop that starts running more than the
//     threshold after it was released (Begin);
//   - between two waits (the send call and the loop's own work): a gap
//     from the reading a Wait returned to the first reading of the next
//     Wait longer than the threshold. A send that takes that long is not
//     labrun's loop either: the host took the CPU, or the kernel's send
//     path did more work than sending (a full ring, softirq processing).
//
// It belongs to one thread, like its Timer.
type StallLog struct {
	buf []measure.Stall
	n   int
	// The cursors of Within: stalls before k ended before its last from
	// (summed length before), stalls before m started at or before its
	// last to (summed length upto).
	k, m         int
	before, upto int64
	from, to     int64
	last         int64 // the reading the last Wait returned (0: none yet)
	// Counters over the whole run, overflow included.
	Count int64 // stalls
	Total int64 // their summed length, ns
	Max   int64 // the longest, ns
	Send  int64 // of Count: stalls found between two waits (around a send)
	// Short counts the interruptions of a spin (gaps over
	// measure.InterruptThreshold, up to the stall threshold): stored for
	// attribution like stalls, not counted in Count, Total or Max.
	Short    int64
	Overflow int64 // stalls counted but not stored: the storage was full
}

// NewStallLog returns a log that stores up to capacity stalls; later ones
// are counted (Overflow) but not stored.
func NewStallLog(capacity int) *StallLog {
	l := &StallLog{buf: make([]measure.Stall, max(capacity, 1))}
	mem.Touch(l.buf) // fault the pages in now, not in the loop
	return l
}

// add records the stall [from, to].
//
//go:nosplit
func (l *StallLog) add(from, to int64) {
	d := to - from
	l.Count++
	l.Total += d
	if d > l.Max {
		l.Max = d
	}
	if l.n < len(l.buf) {
		l.buf[l.n] = measure.Stall{From: from, To: to}
		l.n++
	} else {
		l.Overflow++
	}
}

// addShort records the interruption [from, to] of a spin: shorter than a
// stall, stored for attribution only.
//
//go:nosplit
func (l *StallLog) addShort(from, to int64) {
	l.Short++
	if l.n < len(l.buf) {
		l.buf[l.n] = measure.Stall{From: from, To: to}
		l.n++
	} else {
		l.Overflow++
	}
}

// spinGap records the gap between two consecutive readings of a spin:
// a stall over the stall threshold, an interruption over the interrupt
// threshold.
//
//go:nosplit
func (l *StallLog) spinGap(from, to int64) {
	if d := to - from; d > stallThreshold {
		l.add(from, to)
	} else if d > measure.InterruptThreshold {
		l.addShort(from, to)
	}
}

// Begin starts the log of a timed loop released at release (a reading
// taken by the thread that released it) whose first own reading is now:
// a thread that starts running more than the threshold after its release
// did not run when it should have, and everything due meanwhile waited.
func (l *StallLog) Begin(release, now int64) {
	if now-release > stallThreshold {
		l.add(release, now)
	}
	l.last = now
}

// Expected tells the log that the time up to now was the loop's own work,
// not a stall: the system call that handed over a batch of frames, which
// takes 80-350 us for 128-512 frames. The next Wait measures its gap from
// now. A stall inside that call is not seen.
func (l *StallLog) Expected(now int64) { l.last = now }

// Own tells the log that the time up to now was the loop's own work if it
// took at most work ns since the last reading; a longer gap is left to
// the next Wait, which counts it as a stall.
func (l *StallLog) Own(now, work int64) {
	if now-l.last <= work {
		l.last = now
	}
}

// resume is called with the first clock reading of a Wait: a long gap
// since the previous Wait returned is a stall.
func (l *StallLog) resume(now int64) {
	if l.last != 0 && now-l.last > stallThreshold {
		l.add(l.last, now)
		l.Send++
	}
}

// woke is called after a sleep requested to end at wake: a reading more
// than expected + the threshold later is a stall.
func (l *StallLog) woke(wake, expected, now int64) {
	if from := wake + max(expected, 0); now-from > stallThreshold {
		l.add(from, now)
	}
}

// Stalls returns the stored stalls, in the order they happened (sorted,
// none overlapping another). The slice is the log's own storage.
func (l *StallLog) Stalls() measure.Stalls { return measure.Stalls(l.buf[:l.n]) }

// Within returns the stall time, ns, that lies in [from, to]. It takes
// amortised constant time when successive calls do not decrease from or
// to (the due and send times of a replay thread's packets), however many
// stalls a window spans; a call that goes back starts the search over.
func (l *StallLog) Within(from, to int64) int64 {
	if from < l.from || to < l.to { // out of order: start over
		l.k, l.before, l.m, l.upto = 0, 0, 0, 0
	}
	l.from, l.to = from, to
	// k: the first stall that ends at or after from.
	for l.k < l.n && l.buf[l.k].To < from {
		l.before += l.buf[l.k].To - l.buf[l.k].From
		l.k++
	}
	// m: past the last stall that starts at or before to.
	for l.m < l.n && l.buf[l.m].From <= to {
		l.upto += l.buf[l.m].To - l.buf[l.m].From
		l.m++
	}
	if l.m <= l.k {
		return 0
	}
	s := l.upto - l.before
	if f := l.buf[l.k].From; f < from {
		s -= from - f
	}
	if t := l.buf[l.m-1].To; t > to {
		s -= t - to
	}
	return max(s, 0)
}

// spinUntilLog is spinUntil that records stalls in l.
//
//go:nosplit
func spinUntilLog(now, due int64, l *StallLog) int64 {
	if now >= due {
		return now
	}
	entersyscall()
	for now < due {
		n := clock.Now()
		if n-now > measure.InterruptThreshold {
			l.spinGap(now, n)
		}
		now = n
	}
	exitsyscall()
	return now
}

// spinUntilStopLog is spinUntilStop that records stalls in l.
//
//go:nosplit
func spinUntilStopLog(now, due int64, stop *atomic.Bool, l *StallLog) int64 {
	if now >= due {
		return now
	}
	entersyscall()
	for i := uint32(1); now < due; i++ {
		n := clock.Now()
		if n-now > measure.InterruptThreshold {
			l.spinGap(now, n)
		}
		now = n
		if i&1023 == 0 && stop.Load() {
			break
		}
	}
	exitsyscall()
	return now
}

// wakeEst is a running estimate of the 99.5 % quantile of wake-up
// lateness (the stochastic estimator firm uses), the expected lateness of
// a sleeping mode's wake-up.
type wakeEst int64

func (e *wakeEst) observe(late int64) {
	if late > int64(*e) {
		*e += wakeEst(firmUp)
	} else if *e > wakeEst(firmDown) {
		*e -= wakeEst(firmDown)
	}
}
