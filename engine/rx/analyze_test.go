package rx

import (
	"math"
	"slices"
	"testing"

	"github.com/labrun/labrun/engine/measure"
)

// steps returns n offsets spaced step ns apart, starting at start.
func steps(start, step int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = start + int64(i)*step
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestAnalyze(t *testing.T) {
	const base = 5_000_000_000
	late := steps(base, 1000, 5)
	late[2] += 300 // one packet 300 ns late
	gappy := steps(base, 1000, 5)
	gappy[2] = 0 // never arrived
	cases := []struct {
		name  string
		sched []int64
		res   Result
		want  Metrics
	}{
		{
			name:  "perfect arrivals",
			sched: steps(0, 10_000, 4),
			res:   Result{Arrival: steps(base, 10_000, 4), Received: 4, Total: 4, FirstAny: base, LastAny: base + 30_000},
			want: Metrics{Expect: 4, Received: 4, PPS: 1e5, AllPPS: 1e5, Pairs: 3,
				FirstSeq: 0, LastSeq: 3},
		},
		{
			// e = +300 into the late packet, -300 out of it: |e| = 0, 0, 300, 300.
			name:  "a single late packet",
			sched: steps(0, 1000, 5),
			res:   Result{Arrival: late, Received: 5, Total: 5, FirstAny: base, LastAny: base + 4000},
			want: Metrics{Expect: 5, Received: 5, PPS: 1e6, AllPPS: 1e6, Pairs: 4,
				IATMean: 0, IATStd: math.Sqrt(2 * 300 * 300 / 4.0), IATMAE: 150,
				IATP50: 0, IATP95: 300, IATP99: 300, IATP999: 300, IATMax: 300, FirstSeq: 0, LastSeq: 4},
		},
		{
			// Pairs (1,2) and (2,3) are skipped; (0,1) and (3,4) remain.
			name:  "a missing packet skips its pairs",
			sched: steps(0, 1000, 5),
			res:   Result{Arrival: gappy, Received: 4, Total: 4, FirstAny: base, LastAny: base + 4000},
			want: Metrics{Expect: 5, Received: 4, Lost: 1, PPS: 3 / 4e-6, AllPPS: 3 / 4e-6, Pairs: 2,
				FirstSeq: 0, LastSeq: 4},
		},
		{
			// Arrivals 1010 ns apart for a 1000 ns schedule: e = +10 each,
			// the span 4040 ns for 4000 ns scheduled: +40 ns, +1 %.
			name:  "slow receiver drifts positive",
			sched: steps(0, 1000, 5),
			res:   Result{Arrival: steps(base, 1010, 5), Received: 5, Total: 5, FirstAny: base, LastAny: base + 4040},
			want: Metrics{Expect: 5, Received: 5, PPS: 4 / 4.04e-6, AllPPS: 4 / 4.04e-6, Pairs: 4,
				IATMean: 10, IATMAE: 10, IATP50: 10, IATP95: 10, IATP99: 10, IATP999: 10, IATMax: 10,
				Drift: 40, DriftPct: 1, FirstSeq: 0, LastSeq: 4},
		},
		{
			// Only seqs 1 and 3 arrived, 1900 ns apart for 2000 scheduled:
			// drift -100 ns, -5 %, and no consecutive pair.
			name:  "fast arrivals drift negative over the received ends",
			sched: steps(0, 1000, 5),
			res:   Result{Arrival: []int64{0, base, 0, base + 1900, 0}, Received: 2, Total: 3, FirstAny: base - 100, LastAny: base + 1900},
			want: Metrics{Expect: 5, Received: 2, Lost: 3, PPS: 1 / 1.9e-6, AllPPS: 2 / 2e-6,
				Drift: -100, DriftPct: -5, FirstSeq: 1, LastSeq: 3},
		},
		{
			name:  "counts pass through",
			sched: steps(0, 1000, 3),
			res: Result{Arrival: steps(base, 1000, 3), Received: 3, Dup: 2, Reordered: 1, OutOfRange: 4, Unmarked: 5,
				KernelDrops: 6, Total: 14, FirstAny: base, LastAny: base + 2000},
			want: Metrics{Expect: 3, Received: 3, Dup: 2, Reordered: 1, OutOfRange: 4, Unmarked: 5, KernelDrops: 6,
				PPS: 1e6, AllPPS: 13 / 2e-6, Pairs: 2, FirstSeq: 0, LastSeq: 2},
		},
		{
			name:  "nothing arrived",
			sched: steps(0, 1000, 3),
			res:   Result{Arrival: make([]int64, 3)},
			want:  Metrics{Expect: 3, Lost: 3, FirstSeq: -1, LastSeq: -1},
		},
		{
			name:  "one arrival has no rate and no drift",
			sched: steps(0, 1000, 3),
			res:   Result{Arrival: []int64{0, base, 0}, Received: 1, Total: 1, FirstAny: base, LastAny: base},
			want:  Metrics{Expect: 3, Received: 1, Lost: 2, FirstSeq: 1, LastSeq: 1},
		},
		{
			// Sequence numbers past the schedule take no part in the timing.
			name:  "schedule shorter than the arrivals",
			sched: steps(0, 1000, 2),
			res:   Result{Arrival: steps(base, 1000, 3), Received: 3, Total: 3, FirstAny: base, LastAny: base + 2000},
			want: Metrics{Expect: 3, Received: 3, PPS: 1e6, AllPPS: 1e6, Pairs: 1,
				FirstSeq: 0, LastSeq: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			arr := append([]int64(nil), c.res.Arrival...)
			got := Analyze(c.sched, &c.res)
			w := c.want
			floats := []struct {
				name      string
				got, want float64
			}{
				{"PPS", got.PPS, w.PPS}, {"AllPPS", got.AllPPS, w.AllPPS}, {"IATMean", got.IATMean, w.IATMean},
				{"IATStd", got.IATStd, w.IATStd}, {"IATMAE", got.IATMAE, w.IATMAE}, {"DriftPct", got.DriftPct, w.DriftPct},
			}
			for _, f := range floats {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			got.PPS, got.AllPPS, got.IATMean, got.IATStd, got.IATMAE, got.DriftPct = 0, 0, 0, 0, 0, 0
			w.PPS, w.AllPPS, w.IATMean, w.IATStd, w.IATMAE, w.DriftPct = 0, 0, 0, 0, 0, 0
			if got != w {
				t.Errorf("Analyze =\n %+v\nwant\n %+v", got, w)
			}
			for i := range arr {
				if arr[i] != c.res.Arrival[i] {
					t.Fatalf("Analyze modified Arrival[%d]", i)
				}
			}
		})
	}
}

// The errors are signed before the absolute value is taken: a late packet
// shows as +d then -d, mean 0, and the percentiles see |e|.
func TestAnalyzeSignedErrors(t *testing.T) {
	arr := steps(1_000_000, 1000, 4)
	arr[3] += 500 // the last gap is 500 ns long: e = 0, 0, +500
	m := Analyze(steps(0, 1000, 4), &Result{Arrival: arr, Received: 4})
	if !near(m.IATMean, 500.0/3) || m.IATMax != 500 || m.Drift != 500 {
		t.Fatalf("mean %v max %d drift %d; want 166.67, 500, 500", m.IATMean, m.IATMax, m.Drift)
	}
	arr[3] -= 1000 // e = 0, 0, -500
	m = Analyze(steps(0, 1000, 4), &Result{Arrival: arr, Received: 4})
	if !near(m.IATMean, -500.0/3) || m.IATMax != 500 || m.IATP99 != 500 || m.Drift != -500 {
		t.Fatalf("mean %v max %d p99 %d drift %d; want -166.67, 500, 500, -500", m.IATMean, m.IATMax, m.IATP99, m.Drift)
	}
}

func TestMetricsMap(t *testing.T) {
	m := Metrics{Received: 7, Lost: 3, Dup: 2, Reordered: 1, OutOfRange: 9, Unmarked: 4, KernelDrops: 5,
		PPS: 1000, AllPPS: 2000, IATMean: -1500, IATStd: 2500, IATMAE: 3500, IATP50: 1000, IATP95: 2000,
		IATP99: 3000, IATP999: 4000, IATMax: 5000, Drift: -7000, DriftPct: -0.5}
	want := map[string]float64{
		Received: 7, Lost: 3, Dup: 2, Reordered: 1, OutOfRange: 9, Unmarked: 4, KernelDrops: 5,
		PPS: 1000, AllPPS: 2000, IATMeanUS: -1.5, IATStdUS: 2.5, IATMAEUS: 3.5, IATP50US: 1,
		IATP95US: 2, IATP99US: 3, IATP999US: 4, IATMaxUS: 5, DriftUS: -7, DriftPct: -0.5,
	}
	got := m.Map()
	if len(got) != len(want) || len(got) != len(Names) {
		t.Fatalf("Map has %d names, want %d (Names lists %d)", len(got), len(want), len(Names))
	}
	for _, n := range Names {
		v, ok := got[n.Name]
		if !ok {
			t.Errorf("%s missing from Map", n.Name)
			continue
		}
		if !near(v, want[n.Name]) {
			t.Errorf("%s = %v, want %v", n.Name, v, want[n.Name])
		}
	}
}

func TestLatency(t *testing.T) {
	res := &Result{Arrival: []int64{1100, 0, 1350, 1400, 2000}}
	// Seq 1 never arrived; seq 4 has no send time.
	actual := []int64{1000, 1100, 1200, 1300, 0}
	p50, p99, mx := Latency(actual, res)
	// Latencies 100, 150, 100: sorted 100, 100, 150.
	if p50 != 100 || p99 != 150 || mx != 150 {
		t.Fatalf("Latency = %d, %d, %d; want 100, 150, 150", p50, p99, mx)
	}
	if a, b, c := Latency(nil, res); a != 0 || b != 0 || c != 0 {
		t.Fatalf("Latency with no send times = %d, %d, %d", a, b, c)
	}
}

// The clean inter-arrival figures leave out exactly the pairs an excluded
// stall could have moved (see Exclusion).
func TestAnalyzeExcluding(t *testing.T) {
	const base = 5_000_000_000
	sched := steps(0, 1000, 8)
	due := steps(base, 1000, 8) // sent from base on the schedule
	// Frame 4 stamped 500 ns late after a stall: e = +500 into it, -500
	// out of it.
	oneLate := steps(base, 1000, 8)
	oneLate[4] += 500
	// A stall from 2100 to 5050 holds frames 3, 4 and 5 back; the sender
	// catches up, sending them 10 ns apart from 5060: e = +2060, -990,
	// -990, -80.
	backlog := steps(base, 1000, 8)
	backlog[3], backlog[4], backlog[5] = base+5060, base+5070, base+5080
	// Frame 2 lost; a stall between the arrivals of 1 and 3.
	lost := steps(base, 1000, 8)
	lost[2] = 0
	st := func(from, to int64) measure.Stalls { return measure.Stalls{{From: base + from, To: base + to}} }
	cases := []struct {
		name     string
		arr      []int64
		x        Exclusion
		excluded int
		kept     []int64 // |e| of the kept pairs
	}{
		{"no stall: every pair kept", oneLate, Exclusion{}, 0, []int64{0, 0, 0, 500, 500, 0, 0}},
		{"a stall before the late frame: both its pairs out", oneLate, Exclusion{Stalls: st(3500, 4400), Sources: SourceProbe}, 2, []int64{0, 0, 0, 0, 0}},
		{"a stall before frame 6: its two pairs out", oneLate, Exclusion{Stalls: st(5600, 5700)}, 2, []int64{0, 0, 0, 500, 500}},
		{"catch-up, arrivals only: the back-to-back pairs stay", backlog, Exclusion{Stalls: st(2100, 5050)}, 2, []int64{0, 0, 990, 80, 0}},
		{"catch-up, due times: every frame sent late is out", backlog, Exclusion{Stalls: st(2100, 5050), Due: due, Sources: SourceSender}, 4, []int64{0, 0, 0}},
		{"a lost frame: the span starts at the last arrival", lost, Exclusion{Stalls: st(1500, 1600)}, 1, []int64{0, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := &Result{Arrival: c.arr, Received: 8}
			m := AnalyzeExcluding(sched, res, &c.x)
			if m.Clean == nil {
				t.Fatal("no clean figures")
			}
			kept := slices.Clone(c.kept)
			slices.Sort(kept)
			want := CleanIAT{Pairs: len(kept), Excluded: c.excluded, Sources: c.x.Sources,
				P50: measure.Quantile(kept, 0.5), P99: measure.Quantile(kept, 0.99), P999: measure.Quantile(kept, 0.999), Max: kept[len(kept)-1]}
			if *m.Clean != want {
				t.Errorf("clean = %+v, want %+v", *m.Clean, want)
			}
			if m.Pairs != c.excluded+len(kept) {
				t.Errorf("%d pairs, %d excluded + %d kept", m.Pairs, c.excluded, len(kept))
			}
			mp := m.Map()
			if mp[measure.IATExcluded] != float64(c.excluded) || mp[measure.IATCleanMax] != float64(want.Max)/1e3 {
				t.Errorf("map: excluded %v, clean max %v", mp[measure.IATExcluded], mp[measure.IATCleanMax])
			}
			// The per-frame flags agree with the count.
			n := 0
			for _, h := range c.x.Hit(c.arr) {
				if h {
					n++
				}
			}
			if n != c.excluded {
				t.Errorf("Hit flags %d pairs, %d excluded", n, c.excluded)
			}
			// The raw figures do not change.
			if raw := Analyze(sched, res); raw.IATP99 != m.IATP99 || raw.IATMax != m.IATMax || raw.Clean != nil {
				t.Errorf("raw figures changed with an exclusion: %+v vs %+v", raw, m)
			}
		})
	}
	// Without an exclusion there are no clean figures at all.
	if mp := Analyze(sched, &Result{Arrival: oneLate, Received: 8}).Map(); len(mp) != len(Names) {
		t.Errorf("no exclusion: %d metrics, want the %d raw ones", len(mp), len(Names))
	}
}
