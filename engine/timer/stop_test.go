package timer

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/clock"
)

// Every mode's wait towards a due time a year ahead returns, before the
// due time, once the stop flag is set: the flag is looked at between
// slices of at most MaxSlice. (How soon is measured by hand, not here:
// the bound below only catches a wait that never ends.)
func TestWaitStops(t *testing.T) {
	for _, c := range modes {
		var stop atomic.Bool
		c.Stop = &stop
		type result struct{ now, due int64 }
		started, done := make(chan struct{}), make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread is discarded with its settings
			tm := newTimer(t, c)
			if tm == nil {
				close(started)
				done <- result{}
				return
			}
			defer tm.Close()
			due := clock.Now() + int64(365*24*time.Hour)
			close(started)
			done <- result{tm.Wait(due), due}
		}()
		<-started
		stop.Store(true)
		select {
		case r := <-done:
			if r.due != 0 && r.now >= r.due {
				t.Errorf("%v: Wait returned at %d, not before the due time %d", c.Mode, r.now, r.due)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: Wait still waiting 10 s after the stop flag was set", c.Mode)
		}
	}
}

// Without a stop flag, or with one never set, a wait longer than a slice
// still releases at or after its due time.
func TestSlicedWaitKeepsDueTime(t *testing.T) {
	for _, c := range modes {
		var stop atomic.Bool
		c.Stop = &stop
		onThread(t, func() {
			tm := newTimer(t, c)
			if tm == nil {
				return
			}
			defer tm.Close()
			due := clock.Now() + int64(MaxSlice)*5/2
			if now := tm.Wait(due); now < due {
				t.Errorf("%v: released %d ns before the due time", c.Mode, due-now)
			}
		})
	}
}
