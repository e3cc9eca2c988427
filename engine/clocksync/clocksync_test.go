package clocksync

import (
	"testing"
	"time"
)

func TestBest(t *testing.T) {
	// The other clock is 1000 ns ahead; transit 50 ns each way, except
	// where said.
	mk := func(t1, out, back, hold int64) Sample {
		return Sample{T1: t1, T2: t1 + out + 1000, T3: t1 + out + 1000 + hold, T4: t1 + out + hold + back}
	}
	cases := []struct {
		name    string
		samples []Sample
		offset  int64
		rtt     int64
		unc     int64
		err     bool
	}{
		{"symmetric", []Sample{mk(0, 50, 50, 10)}, 1000, 100, 50, false},
		{"keeps the shortest round trip", []Sample{mk(0, 500, 50, 10), mk(1e6, 50, 50, 10), mk(2e6, 50, 900, 10)}, 1000, 100, 50, false},
		{"asymmetry within the bound", []Sample{mk(0, 90, 10, 0)}, 1040, 100, 50, false},
		{"a stepped clock is ignored", []Sample{{T1: 0, T2: 10, T3: 5000, T4: 100}, mk(0, 50, 50, 0)}, 1000, 100, 50, false},
		{"nothing valid", []Sample{{T1: 0, T2: 10, T3: 5000, T4: 100}}, 0, 0, 0, true},
		{"empty", nil, 0, 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Best(c.samples)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if c.err {
				return
			}
			if e.Offset != c.offset || e.RTT != c.rtt || e.Uncertainty != c.unc {
				t.Errorf("got offset %d rtt %d unc %d, want %d %d %d", e.Offset, e.RTT, e.Uncertainty, c.offset, c.rtt, c.unc)
			}
			// The true offset (1000) lies within the bound.
			if d := abs(e.Offset - 1000); d > e.Uncertainty {
				t.Errorf("true offset 1000 is %d from the estimate, outside ± %d", d, e.Uncertainty)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	s := Span{Before: Estimate{Offset: 100, Uncertainty: 20}, After: Estimate{Offset: 140, Uncertainty: 30}}
	if s.Offset() != 120 || s.Drift() != 40 || s.Uncertainty() != 50 {
		t.Errorf("offset %d drift %d unc %d, want 120 40 50", s.Offset(), s.Drift(), s.Uncertainty())
	}
}

// The same clock seen through a local exchange: the offset is within
// its uncertainty of 0.
func TestMeasureSameClock(t *testing.T) {
	e, err := Measure(8, 0, func() (int64, int64, error) {
		t2 := Realtime()
		return t2, Realtime(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if abs(e.Offset) > e.Uncertainty {
		t.Errorf("offset %d ns outside ± %d ns", e.Offset, e.Uncertainty)
	}
	if e.Samples != 8 {
		t.Errorf("samples = %d, want 8", e.Samples)
	}
}

func TestMeasureBound(t *testing.T) {
	_, err := Measure(2, time.Nanosecond, func() (int64, int64, error) {
		// The other side "held" the request -1 us: the round trip is
		// at least 1 us, over the 1 ns bound.
		t2 := Realtime()
		return t2, t2 - 1000, nil
	})
	if err == nil {
		t.Error("a round trip over the bound was accepted")
	}
}

func TestPair(t *testing.T) {
	p := Pair()
	m := Monotonic()
	r := Realtime()
	if d := abs(m + p - r); d > int64(time.Second) {
		t.Errorf("monotonic + pair is %d ns from realtime", d)
	}
}
