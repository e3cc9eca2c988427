package replay

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
)

// markSink does some frame work of its own and marks its steps, as a
// padding sink does.
type markSink struct {
	tx.Null
	sum uint32
}

func (s *markSink) work(f []byte) {
	for _, b := range f {
		s.sum += uint32(b)
	}
}

func (s *markSink) Send(f []byte, at int64) error {
	s.work(f)
	s.work(f)
	return s.Null.Send(f, at)
}

func (s *markSink) SendMarked(f []byte, at int64, m *tx.Marks) error {
	s.work(f)
	m.Pad = clock.Now()
	s.work(f)
	m.Csum = clock.Now()
	return s.Null.Send(f, at)
}

// clockCost measures one clock.Now reading (ns), the profiler's unit of
// overhead.
func clockCost() float64 {
	const n = 10000
	t0 := clock.Now()
	for range n {
		clock.Now()
	}
	return float64(clock.Now()-t0) / n
}

// The stages of every sampled packet add up to its iteration exactly, and
// the sampled iterations' mean stands for the loop over every packet: the
// two differ by no more than the sampling error (from the spread of every
// packet's loop time, at topspeed the gap between consecutive sends) plus
// the timestamps a sampled packet takes.
func TestProfileStagesAddUp(t *testing.T) {
	for _, c := range []struct {
		name   string
		sink   tx.Sink
		marked bool
	}{
		{"marking sink", &markSink{}, true},
		{"null sink", &tx.Null{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n, every = 20000, 8
			res, err := Run(context.Background(), Config{Source: synth(t, n, 0), Timer: timer.Config{Mode: timer.Busy}, Sink: c.sink, Profile: every})
			if err != nil {
				t.Fatal(err)
			}
			p := res.Profile
			if p == nil || p.Every != every || p.Marked != c.marked {
				t.Fatalf("profile %+v: want every %d, marked %v", p, every, c.marked)
			}
			if want := n / every; len(p.Loop) < want*4/5 || len(p.Loop) > want*6/5 {
				t.Fatalf("%d samples of %d packets, want about %d", len(p.Loop), n, want)
			}
			for i := range p.Loop {
				sum := p.Read[i] + p.Wait[i] + p.Pad[i] + p.Csum[i] + p.Send[i] + p.Book[i]
				if sum != p.Loop[i] {
					t.Fatalf("sample %d: stages add up to %d ns, loop %d ns", i, sum, p.Loop[i])
				}
				for k, v := range []int64{p.Read[i], p.Wait[i], p.Pad[i], p.Csum[i], p.Send[i], p.Book[i]} {
					if v < 0 {
						t.Fatalf("sample %d: stage %d is %d ns", i, k, v)
					}
				}
			}
			gaps := make([]int64, len(res.Actual)-1)
			for i := range gaps {
				gaps[i] = res.Actual[i+1] - res.Actual[i]
			}
			all := measure.Summarize(gaps)
			sampled := measure.Summarize(p.Loop)
			tol := 5*all.Std/math.Sqrt(float64(sampled.N)) + 8*clockCost()
			if d := math.Abs(sampled.Mean - p.LoopAll); d > tol {
				t.Errorf("sampled loop mean %.0f ns, every packet %.0f ns: %.0f ns apart, more than the %.0f ns sampling error and timestamps allow",
					sampled.Mean, p.LoopAll, d, tol)
			}
			m := res.Metrics()
			_, hasPad := m[measure.ProfPadP50US]
			if m[measure.ProfSamples] != float64(len(p.Loop)) || m[measure.ProfEvery] != every || hasPad != c.marked || m[measure.LoopMeanUS] <= 0 {
				t.Errorf("metrics: samples %v every %v pad %v loop %v", m[measure.ProfSamples], m[measure.ProfEvery], hasPad, m[measure.LoopMeanUS])
			}
			for _, name := range []string{measure.ProfReadP50US, measure.ProfSendP99US, measure.ProfBookMeanUS, measure.ProfLoopP50US} {
				if _, ok := m[name]; !ok {
					t.Errorf("metric %s missing", name)
				}
				if !measure.Known(name) {
					t.Errorf("metric %s not in measure.Names", name)
				}
			}
		})
	}
}

// Without Profile there is no profile and no prof_ metric.
func TestProfileOff(t *testing.T) {
	res, err := Run(context.Background(), Config{Source: synth(t, 100, 0), Timer: timer.Config{Mode: timer.Busy}, Sink: &tx.Null{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Profile != nil {
		t.Fatalf("profile %+v without Profile", res.Profile)
	}
	for k := range res.Metrics() {
		if strings.HasPrefix(k, "prof_") || k == measure.LoopMeanUS {
			t.Errorf("metric %s without Profile", k)
		}
	}
}

func TestProfileRefusesNegative(t *testing.T) {
	_, err := Run(context.Background(), Config{Source: synth(t, 10, 0), Sink: &tx.Null{}, Profile: -1})
	if err == nil || !strings.Contains(err.Error(), "want 0 (off) or N >= 1") {
		t.Fatalf("err %v", err)
	}
}

// The gaps between samples are 1..2N-1 packets, N on average, and not
// all the same.
func TestProfileGaps(t *testing.T) {
	for _, every := range []int{1, 2, 64} {
		pr := newProfiler(every, 10, &tx.Null{})
		const n = 100000
		sum, lo, hi := 0, math.MaxInt, 0
		for range n {
			g := pr.gap()
			sum += g
			lo, hi = min(lo, g), max(hi, g)
		}
		mean := float64(sum) / n
		// Uniform on 1..2N-1: variance ((2N-1)^2-1)/12; 6 standard errors.
		tol := 6 * math.Sqrt((float64((2*every-1)*(2*every-1))-1)/12/n)
		if lo < 1 || hi > 2*every-1 || math.Abs(mean-float64(every)) > tol || every > 1 && lo == hi {
			t.Errorf("every %d: gaps %d..%d, mean %.3f", every, lo, hi, mean)
		}
	}
}

// The profiled loop body, sampled on every packet, does not allocate.
func TestProfiledLoopBodyDoesNotAllocate(t *testing.T) {
	src := synth(t, 20_000, 0)
	tm, err := timer.New(timer.Config{Mode: timer.Busy})
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []tx.Sink{&tx.Null{}, &markSink{}} {
		pr := newProfiler(1, 20_000, sink)
		sched, actual := make([]int64, 1), make([]int64, 1)
		var p trace.Packet
		n := testing.AllocsPerRun(10000, func() {
			src.Next(&p)
			pr.read()
			now := tm.Wait(p.Offset)
			if pr.on {
				_ = pr.send(sink, p.Frame, now)
			} else {
				_ = sink.Send(p.Frame, now)
			}
			sched[0], actual[0] = p.Offset, now
			pr.end()
		})
		if n != 0 {
			t.Fatalf("%T: profiled loop body allocates %v per packet", sink, n)
		}
		if pr.n == 0 {
			t.Fatalf("%T: nothing sampled", sink)
		}
		src.Rewind()
	}
}

// BenchmarkProfiledLoop is BenchmarkNullLoop's loop with a marking sink,
// without profiling and sampling one packet in 64 and every packet: the
// profiler's cost per packet is the difference in loop-ns/pkt (the timed
// loop's wall time per packet; ns/op includes the set-up).
func BenchmarkProfiledLoop(b *testing.B) {
	for _, c := range []struct {
		name  string
		every int
	}{{"off", 0}, {"every64", DefaultProfileEvery}, {"every1", 1}} {
		b.Run(c.name, func(b *testing.B) {
			src := synth(b, b.N, 0)
			b.ReportAllocs()
			b.ResetTimer()
			res, err := Run(context.Background(), Config{Source: src, Timer: timer.Config{Mode: timer.Busy}, Sink: &markSink{}, Lead: time.Microsecond, Profile: c.every})
			if err != nil || len(res.Sched) != b.N {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.CPUWall)/float64(b.N), "loop-ns/pkt")
		})
	}
}
