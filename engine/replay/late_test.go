package replay

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/tx"
)

// fakeTimer is a clock that moves only when a packet waits: Wait returns
// the later of the clock and the due time, plus the lateness injected for
// that wait.
type fakeTimer struct {
	now    int64
	inject map[int]int64 // wait number -> extra lateness, ns
	waits  int
}

func (f *fakeTimer) Wait(due int64) int64 {
	f.now = max(f.now, due) + f.inject[f.waits]
	f.waits++
	return f.now
}
func (f *fakeTimer) Stats() timer.Stats { return timer.Stats{} }
func (f *fakeTimer) Close() error       { return nil }

// runFake runs one thread's loop over 10 packets 100 us apart with the
// fourth one (index 3) released 550 us late.
func runFake(t *testing.T, late timer.LatePolicy, dropAfter time.Duration) *Result {
	t.Helper()
	const start = 1_000_000
	cfg := Config{Timer: timer.Config{Mode: timer.Busy, Late: late, DropAfter: dropAfter}}
	th := newThread(cfg, Sender{Source: synth(t, 10, 100*time.Microsecond), Sink: &tx.Null{}}, 0, 1, 10)
	var stop atomic.Bool
	th.loop(cfg, &stop, start, &fakeTimer{inject: map[int]int64{3: 550_000}})
	th.attribute()
	r := &Result{Senders: 1, Late: late}
	r.merge([]*thread{th}, start, 10)
	return r
}

func TestLatePolicies(t *testing.T) {
	const us = 1000
	base := int64(1_000_000)
	due := func(i int) int64 { return base + int64(i)*100*us }
	t.Run("catch_up sends the late ones back to back", func(t *testing.T) {
		r := runFake(t, timer.CatchUp, 0)
		if len(r.Sched) != 10 || r.Due != nil || r.LateDropped != 0 || r.Interrupted {
			t.Fatalf("sent %d, due %v, dropped %d", len(r.Sched), r.Due, r.LateDropped)
		}
		for i := 3; i <= 8; i++ { // due before 3's release at due(3)+550us
			if r.Actual[i] != due(3)+550*us {
				t.Errorf("packet %d at %d, want with packet 3", i, r.Actual[i]-base)
			}
		}
		if r.Actual[9] != due(9) {
			t.Errorf("packet 9 at %d, want on time", r.Actual[9]-base)
		}
	})
	t.Run("shift moves the rest by the lateness", func(t *testing.T) {
		r := runFake(t, timer.Shift, 0)
		if len(r.Sched) != 10 || len(r.Due) != 10 || r.Shift != 550*us {
			t.Fatalf("sent %d, due %v, shift %d", len(r.Sched), r.Due, r.Shift)
		}
		for i := range 10 {
			want := due(i)
			if i > 3 {
				want += 550 * us
			}
			if r.Sched[i] != due(i) || r.Due[i] != want || r.Actual[i] != want+map[bool]int64{true: 550 * us}[i == 3] {
				t.Errorf("packet %d: sched %d due %d actual %d", i, r.Sched[i]-base, r.Due[i]-base, r.Actual[i]-base)
			}
		}
		m := r.Metrics()
		if m[measure.ShiftUS] != 550 || m[measure.DriftUS] != 550 || m[measure.GapErrP99US] != 550 {
			t.Errorf("shift %v drift %v gap p99 %v", m[measure.ShiftUS], m[measure.DriftUS], m[measure.GapErrP99US])
		}
	})
	t.Run("drop leaves out what is later than drop_after", func(t *testing.T) {
		r := runFake(t, timer.Drop, 200*time.Microsecond)
		// 3 is 550 us late, 4-6 350, 250 and ... at the clock due(3)+550:
		// 4 is 450 late, 5 350, 6 250: dropped; 7 is 150 late: sent.
		want := []int{0, 1, 2, 7, 8, 9}
		if len(r.Sched) != len(want) || r.LateDropped != 4 || r.Interrupted {
			t.Fatalf("sent %d, dropped %d, interrupted %v", len(r.Sched), r.LateDropped, r.Interrupted)
		}
		for k, i := range want {
			if r.Sched[k] != due(i) {
				t.Errorf("row %d is packet due %d, want packet %d", k, r.Sched[k]-base, i)
			}
			if e := r.Actual[k] - r.Sched[k]; e > 200*us {
				t.Errorf("packet %d sent %d us late, past drop_after", i, e/us)
			}
		}
		if m := r.Metrics(); m[measure.LateDropped] != 4 || m[measure.Packets] != 6 {
			t.Errorf("metrics %v", m)
		}
	})
}

// The whole timed loop, stall accounting included, allocates nothing:
// not per packet, and not once per run.
func TestLoopDoesNotAllocate(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, late := range []timer.LatePolicy{timer.CatchUp, timer.Shift} {
		cfg := Config{Timer: timer.Config{Mode: timer.Busy, Late: late}}
		th := newThread(cfg, Sender{Source: synth(t, 2000, 0), Sink: &tx.Null{}}, 0, 1, 2000)
		tc := cfg.Timer
		tc.Stalls = th.log
		tm, err := timer.New(tc)
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		n := testing.AllocsPerRun(5, func() {
			th.src.Rewind()
			th.loop(cfg, &stop, clock.Now()+int64(DefaultLead), tm)
			th.attribute()
		})
		if n != 0 || th.n != 2000 {
			t.Errorf("late %v: the loop over %d packets allocates %v times", late, th.n, n)
		}
		tm.Close()
	}
}

// BenchmarkBusyLoop is the per-packet cost of the timed loop with a busy
// timer, a null sink and a schedule that is always due (topspeed: no
// spinning hides the cost), with and without the stall accounting. It
// reports the wall time (ns/op), the sending thread's CPU time (cpu-ns/op:
// on a shared machine the steadier of the two) and the cost of the
// attribution after the loop (attrib-ns/op).
//
//	go test -run '^$' -bench BusyLoop -benchmem -benchtime 3000000x -count 10 ./engine/replay/
func BenchmarkBusyLoop(b *testing.B) {
	for _, acc := range []struct {
		name string
		off  bool
	}{{"stalls=off", true}, {"stalls=on", false}} {
		b.Run(acc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cfg := Config{Timer: timer.Config{Mode: timer.Busy}, NoStallAccounting: acc.off}
			th := newThread(cfg, Sender{Source: synth(b, b.N, 0), Sink: &tx.Null{}}, 0, 1, b.N)
			tc := cfg.Timer
			tc.Stalls = th.log
			tm, err := timer.New(tc)
			if err != nil {
				b.Fatal(err)
			}
			defer tm.Close()
			var stop atomic.Bool
			b.ReportAllocs()
			b.ResetTimer()
			// Released now, due after the lead, as Run does: no stall
			// at the start unless the thread really was held up.
			th.loop(cfg, &stop, clock.Now()+int64(DefaultLead), tm)
			b.StopTimer()
			if th.n != b.N {
				b.Fatalf("sent %d of %d", th.n, b.N)
			}
			// The thread's CPU time per packet: on a shared machine the
			// wall time per packet also counts the time the thread was
			// not running.
			b.ReportMetric(float64(th.cpu.Exact)/float64(b.N), "cpu-ns/op")
			// Attributing stalls to packets runs after the loop, off the
			// clock; its cost per packet, for the record.
			t0 := clock.Now()
			th.attribute()
			b.ReportMetric(float64(clock.Now()-t0)/float64(b.N), "attrib-ns/op")
		})
	}
}

// BenchmarkBusyLoopAB runs the loop of BenchmarkBusyLoop without and with
// stall accounting in alternation, one round of 300,000 packets each per
// iteration, so that a shared machine's changing load falls on both alike.
// It reports the sending thread's CPU time per packet of each and their
// ratio (the median of the rounds' ratios).
//
//	go test -run '^$' -bench BusyLoopAB -benchtime 30x ./engine/replay/
func BenchmarkBusyLoopAB(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const pkts = 300_000
	src := synth(b, pkts, 0)
	var cpu [2]int64
	ratios := make([]float64, 0, b.N)
	round := func(off bool) int64 {
		cfg := Config{Timer: timer.Config{Mode: timer.Busy}, NoStallAccounting: off}
		src.Rewind()
		th := newThread(cfg, Sender{Source: src, Sink: &tx.Null{}}, 0, 1, pkts)
		tc := cfg.Timer
		tc.Stalls = th.log
		tm, err := timer.New(tc)
		if err != nil {
			b.Fatal(err)
		}
		defer tm.Close()
		var stop atomic.Bool
		// Due at once: no lead to poll through, whose CPU time would
		// dilute the per-packet cost (the log counts the lead as a
		// stall, which costs the loop nothing).
		th.loop(cfg, &stop, clock.Now(), tm)
		if th.n != pkts {
			b.Fatalf("sent %d of %d", th.n, pkts)
		}
		return int64(th.cpu.Exact)
	}
	b.ReportAllocs()
	for range b.N {
		off, on := round(true), round(false)
		cpu[0] += off
		cpu[1] += on
		ratios = append(ratios, float64(on)/float64(off))
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(cpu[0])/float64(b.N*pkts), "off-cpu-ns/pkt")
	b.ReportMetric(float64(cpu[1])/float64(b.N*pkts), "on-cpu-ns/pkt")
	b.ReportMetric(ratios[len(ratios)/2], "on/off")
}
