package replay

import (
	"context"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
)

func synth(t testing.TB, n int, interval time.Duration) trace.Source {
	s, err := trace.NewSynthetic(n, int64(interval), 64, trace.DefaultEndpoints())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every mode must send every packet, never before its due time, and the
// schedule must be anchored: due(i) = start + i*interval exactly.
func TestRunAllModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  timer.Config
	}{
		{"busy polls", timer.Config{Mode: timer.Busy}},
		{"sleep is relative nanosleep", timer.Config{Mode: timer.Sleep}},
		{"firm sleeps then spins", timer.Config{Mode: timer.Firm}},
		{"timerfd", timer.Config{Mode: timer.Timerfd}},
		{"tick of 1ms", timer.Config{Mode: timer.Tick, Period: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &tx.Null{}
			res, err := Run(context.Background(), Config{Source: synth(t, 200, 100*time.Microsecond), Timer: tc.cfg, Sink: sink})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Sched) != 200 || sink.Stats().Packets != 200 || res.Interrupted {
				t.Fatalf("sent %d, sink saw %d, interrupted %v", len(res.Sched), sink.Stats().Packets, res.Interrupted)
			}
			for i := range res.Sched {
				if res.Sched[i] != res.Start+int64(i)*100_000 {
					t.Fatalf("packet %d due %d, want start+%d", i, res.Sched[i]-res.Start, i*100_000)
				}
				if res.Actual[i] < res.Sched[i] {
					t.Fatalf("packet %d sent %d ns early", i, res.Sched[i]-res.Actual[i])
				}
			}
			m := res.Metrics()
			if m[measure.Packets] != 200 || m[measure.ErrMinUS] < 0 || m[measure.RateReqPPS] < 9999 || m[measure.RateReqPPS] > 10001 {
				t.Fatalf("metrics %v", m)
			}
		})
	}
}

// With the tick timer every packet leaves on a multiple of the period.
func TestTickReleasesOnTicks(t *testing.T) {
	res, err := Run(context.Background(), Config{Source: synth(t, 50, 130*time.Microsecond),
		Timer: timer.Config{Mode: timer.Tick, Period: time.Millisecond}, Sink: &tx.Null{}})
	if err != nil {
		t.Fatal(err)
	}
	onTick, late := 0, 0
	for i, a := range res.Actual {
		if i > 0 && res.Actual[i-1] >= res.Sched[i] {
			// Already late when its wait began (the machine was busy): a
			// late packet leaves at once, not on a tick.
			late++
			continue
		}
		// The release is the first clock reading after the tick; allow
		// for wake-up latency but require that it is after a tick that is
		// at or after the due time.
		tick := (res.Sched[i] + 999_999) / 1_000_000 * 1_000_000
		if a >= tick {
			onTick++
		}
	}
	if onTick < (50-late)*9/10 {
		t.Fatalf("only %d of %d packets released at or after their tick", onTick, 50-late)
	}
}

// Cancelling the context stops the loop and keeps what was measured.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Config{Source: synth(t, 1_000_000, 10*time.Millisecond), Timer: timer.Config{Mode: timer.Sleep}, Sink: &tx.Null{}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || len(res.Sched) >= 1_000_000 {
		t.Fatalf("interrupted %v after %d packets", res.Interrupted, len(res.Sched))
	}
}

// The per-packet path (source, timer with a past due time, sink, record)
// must not allocate.
func TestLoopBodyDoesNotAllocate(t *testing.T) {
	src := synth(t, 20_000, 0)
	tm, err := timer.New(timer.Config{Mode: timer.Busy})
	if err != nil {
		t.Fatal(err)
	}
	sink := &tx.Null{}
	sched, actual := make([]int64, 1), make([]int64, 1)
	var p trace.Packet
	n := testing.AllocsPerRun(10000, func() {
		src.Next(&p)
		now := tm.Wait(p.Offset)
		_ = sink.Send(p.Frame, now)
		sched[0], actual[0] = p.Offset, now
	})
	if n != 0 {
		t.Fatalf("loop body allocates %v per packet", n)
	}
}

// BenchmarkNullLoop is the per-packet cost of the replay loop with a null
// sink and a schedule that is always due (topspeed): source, timer check,
// sink and recording.
func BenchmarkNullLoop(b *testing.B) {
	src := synth(b, b.N, 0)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{Source: src, Timer: timer.Config{Mode: timer.Busy}, Sink: &tx.Null{}, Lead: time.Microsecond})
	if err != nil || len(res.Sched) != b.N {
		b.Fatal(err)
	}
}

// panicSink fails in the timed loop, as a buggy sink would.
type panicSink struct{ tx.Null }

func (p *panicSink) Send([]byte, int64) error { panic("sink bug") }

// A panic on the timed thread becomes an error of the run; the process and
// the caller's goroutine survive, and the GC is switched back on.
func TestRunPanicInLoop(t *testing.T) {
	_, err := Run(context.Background(), Config{Source: synth(t, 10, time.Microsecond), Timer: timer.Config{Mode: timer.Busy}, Sink: &panicSink{}})
	if err == nil || !strings.Contains(err.Error(), "sink bug") {
		t.Fatalf("error %v", err)
	}
	if pct := debug.SetGCPercent(100); pct < 0 {
		t.Fatalf("GC left off (percent %d)", pct)
	}
}

// batchSink queues frames and "sends" them every size frames.
type batchSink struct {
	tx.Null
	size, pending, flushes int
}

func (b *batchSink) Send(f []byte, at int64) error {
	b.pending++
	if b.pending == b.size {
		b.pending = 0
		b.flushes++
	}
	return b.Null.Send(f, at)
}
func (b *batchSink) Pending() int { return b.pending }
func (b *batchSink) Flush() error {
	if b.pending > 0 {
		b.flushes++
	}
	b.pending = 0
	return nil
}

// Every frame of a batch is stamped with the time its batch left: the
// due time of the batch's last frame, or the final flush.
func TestRunBatchStampsBatchTime(t *testing.T) {
	sink := &batchSink{size: 8}
	res, err := Run(context.Background(), Config{Source: synth(t, 100, 20*time.Microsecond), Timer: timer.Config{Mode: timer.Busy}, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actual) != 100 || sink.flushes != 13 {
		t.Fatalf("%d rows, %d flushes", len(res.Actual), sink.flushes)
	}
	for i := range 96 {
		last := i/8*8 + 7
		if res.Actual[i] != res.Actual[last] || res.Actual[last] < res.Sched[last] {
			t.Fatalf("packet %d stamped %d, its batch left at %d (due %d)", i, res.Actual[i], res.Actual[last], res.Sched[last])
		}
	}
	for i := 96; i < 100; i++ {
		if res.Actual[i] != res.Actual[99] || res.Actual[i] < res.Sched[99] {
			t.Fatalf("tail packet %d stamped %d, flush %d", i, res.Actual[i], res.Actual[99])
		}
	}
}

// Two senders split a four-flow trace by flow; the result is in sequence
// order with every packet once, and each sender saw half.
func TestRunSendersSplitByFlow(t *testing.T) {
	mk := func() trace.Source {
		s, err := trace.NewSynth(trace.SynthConfig{Count: 1000, Interval: 5000, FrameSize: 64, Flows: 4, Endpoints: trace.DefaultEndpoints()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := &tx.Null{}, &tx.Null{}
	var prog atomic.Int64
	res, err := Run(context.Background(), Config{
		Timer:    timer.Config{Mode: timer.Busy},
		Senders:  []Sender{{Source: mk(), Sink: a}, {Source: mk(), Sink: b}},
		Progress: &prog,
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Stats().Packets != 500 || b.Stats().Packets != 500 || prog.Load() != 1000 {
		t.Fatalf("senders sent %d and %d, progress %d", a.Stats().Packets, b.Stats().Packets, prog.Load())
	}
	if len(res.Sched) != 1000 || res.Interrupted || res.Senders != 2 {
		t.Fatalf("%d rows, interrupted %v, senders %d", len(res.Sched), res.Interrupted, res.Senders)
	}
	for i := range res.Sched {
		if res.Sched[i] != res.Start+int64(i)*5000 || res.Actual[i] < res.Sched[i] {
			t.Fatalf("row %d: due %d sent %d (start %d)", i, res.Sched[i], res.Actual[i], res.Start)
		}
	}
	if m := res.Metrics(); m[measure.Senders] != 2 || m[measure.Packets] != 1000 {
		t.Fatalf("metrics %v", m)
	}
}

// farSource yields two packets 300 days apart.
type farSource struct{ i int }

var farFrame = make([]byte, 64)

func (s *farSource) Len() int { return 2 }
func (s *farSource) Rewind()  { s.i = 0 }
func (s *farSource) Next(p *trace.Packet) bool {
	if s.i >= 2 {
		return false
	}
	p.Offset, p.Seq, p.Frame = int64(s.i)*int64(300*24*time.Hour), uint64(s.i), farFrame
	s.i++
	return true
}

// firstSend tells when its first frame is sent.
type firstSend struct {
	tx.Null
	sent chan struct{}
}

func (s *firstSend) Send(frame []byte, now int64) error {
	select {
	case s.sent <- struct{}{}:
	default:
	}
	return s.Null.Send(frame, now)
}

// A run waiting towards a packet 300 days ahead returns once its context
// is cancelled, in every timer mode, with the first packet recorded and
// the run marked interrupted. The 10 s bound only catches a wait that
// does not end; how soon it ends is measured by hand.
func TestRunStopsDuringLongWait(t *testing.T) {
	for _, cfg := range []timer.Config{
		{Mode: timer.Busy}, {Mode: timer.Sleep}, {Mode: timer.Firm}, {Mode: timer.Timerfd},
		{Mode: timer.Tick, Period: time.Millisecond},
	} {
		sink := &firstSend{sent: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		type out struct {
			res *Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := Run(ctx, Config{Source: &farSource{}, Timer: cfg, Sink: sink})
			done <- out{res, err}
		}()
		select {
		case <-sink.sent:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: first packet not sent within 10 s", cfg.Mode)
		}
		t0 := time.Now()
		cancel()
		select {
		case o := <-done:
			if o.err != nil || !o.res.Interrupted || len(o.res.Sched) != 1 || sink.Stats().Packets != 1 {
				t.Errorf("%v: err %v, result %+v, sink %+v", cfg.Mode, o.err, o.res, sink.Stats())
			}
			t.Logf("%v: returned %v after the cancel", cfg.Mode, time.Since(t0).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still waiting 10 s after the cancel", cfg.Mode)
		}
	}
}
