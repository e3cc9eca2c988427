package link

import (
	"math"
	"strings"
	"testing"
	"time"
)

// delaySamples draws n delays through a Model with no bandwidth limit,
// with arrivals far enough apart that the order is never forced.
func delaySamples(t testing.TB, d Delay, n int, seed uint64) []int64 {
	m := ok(NewModel(Config{Delay: d, Seed: seed}))
	xs := make([]int64, n)
	gap := d.Max() + 1
	for i := range xs {
		at := int64(i) * gap
		r, f := m.Admit(at, 100)
		if f != Deliver {
			t.Fatalf("fate %v", f)
		}
		xs[i] = r - at
	}
	return xs
}

func fidelityDelays(t testing.TB) []Delay {
	ds := []Delay{
		ok(Constant(3 * time.Millisecond)),
		ok(Uniform(time.Millisecond, 3*time.Millisecond)),
		ok(Exponential(2 * time.Millisecond)),
		ok(Normal(10*time.Millisecond, 2*time.Millisecond)),
		ok(Normal(time.Millisecond, 2*time.Millisecond)), // the truncation at 0 bites
		ok(Normal(0, time.Millisecond)),                  // half-normal
		ok(Pareto(time.Millisecond, 1.5)),
		ok(Pareto(100*time.Microsecond, 3)),
		ok(Empirical([]time.Duration{3e6, 1e6, 1.5e6, 1.5e6, 2e6, 8e6, 2.5e6})),
	}
	// An empirical distribution from a file of many samples.
	var sb strings.Builder
	k := streamKey(7, 77)
	for i := range 2000 {
		sb.WriteString(time.Duration(500_000+float64(4e6)*uniform(k, uint64(i))*uniform(k, uint64(i+5000))).Round(time.Microsecond).String() + "\n")
	}
	ds = append(ds, ok(ReadEmpirical(writeFile(t, "samples", sb.String()))))
	return ds
}

func TestDelayFidelity(t *testing.T) {
	const n = 100_000
	for _, d := range fidelityDelays(t) {
		xs := delaySamples(t, d, n, 1)
		sum := 0.0
		mx := int64(0)
		for _, x := range xs {
			sum += float64(x)
			mx = max(mx, x)
		}
		ks := KSDistance(xs, d)
		mean := sum / n
		t.Logf("%-60s KS %.5f  mean %.4g (theory %.4g)  max %v (Max %v)", d, ks, mean, d.Mean(), time.Duration(mx), time.Duration(d.Max()))
		if ks > 0.01 {
			t.Errorf("%v: KS distance %.4f > 0.01", d, ks)
		}
		if mx > d.Max() {
			t.Errorf("%v: sample %d > Max %d", d, mx, d.Max())
		}
		// The sample mean is within 5 standard errors of Mean (the
		// Pareto with shape 1.5 has infinite variance untruncated, so
		// it only gets a loose check).
		sd := 0.0
		for _, x := range xs {
			sd += (float64(x) - mean) * (float64(x) - mean)
		}
		se := math.Sqrt(sd/n) / math.Sqrt(n)
		tol := 5*se + 1
		if strings.Contains(d.String(), "shape=1.5") {
			tol = 0.1 * d.Mean()
		}
		if math.Abs(mean-d.Mean()) > tol {
			t.Errorf("%v: sample mean %.6g, Mean %.6g (tolerance %.3g)", d, mean, d.Mean(), tol)
		}
	}
}

func TestQuantileTable(t *testing.T) {
	// The table's knots are exact and the interpolation is close to the
	// exact quantile everywhere, both tails included.
	d := ok(Pareto(time.Millisecond, 2)).(*tableDelay)
	exact := func(u float64) float64 { return 1e6 * math.Pow(1-u*(1-TailMass), -0.5) }
	for _, u := range []float64{0, 1e-9, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 - 1e-5, 1 - 1e-7, 1 - 1e-9, 1 - 1.0/twoTo53} {
		got := float64(d.Quantile(u))
		if want := exact(u); math.Abs(got-want) > 1e-5*want+1 {
			t.Errorf("pareto Quantile(%v) = %v, want %v", u, got, want)
		}
	}
	if d.Quantile(0) != 1e6 || d.Quantile(math.NaN()) != 1e6 || d.Quantile(2) != d.Max() {
		t.Errorf("ends: %d %d %d", d.Quantile(0), d.Quantile(math.NaN()), d.Quantile(2))
	}
	// Monotone in u.
	n := ok(Normal(10*time.Millisecond, 3*time.Millisecond))
	prev := int64(-1)
	for i := range 100_001 {
		q := n.Quantile(float64(i) / 100_001)
		if q < prev {
			t.Fatalf("normal quantile decreases at %d", i)
		}
		prev = q
	}
	// The truncation at 0 removes a = Phi(-10/3) of the mass, so the
	// median is mu + sd*Phi^-1(a + (1-a)/2), less the upper TailMass.
	a := stdPhi(-10.0 / 3)
	if want := 10e6 + 3e6*stdPhiInv(a+(1-a)*(1-TailMass)/2); n.Quantile(0) != 0 || math.Abs(float64(n.Quantile(0.5))-want) > 1 {
		t.Errorf("normal: Quantile(0) %d, median %d, want 0 and %.0f", n.Quantile(0), n.Quantile(0.5), want)
	}
}

func TestQuantileCDFAgree(t *testing.T) {
	// CDF(Quantile(u)) = u up to the ns rounding and the table's
	// interpolation, everywhere in [0, 1), tails included.
	for _, d := range fidelityDelays(t)[1:] {
		worst := 0.0
		for i := range 200_000 {
			u := (float64(i) + 0.5) / 200_000
			x := d.Quantile(u)
			// x is rounded, so u lies between CDF(x-1) and CDF(x+1).
			lo, hi := d.CDF(x-1), d.CDF(x+1)
			worst = max(worst, lo-u, u-hi)
		}
		t.Logf("%-60s worst %.2g", d, worst)
		if worst > 1e-4 {
			t.Errorf("%v: CDF(Quantile(u)) is %.2g from u", d, worst)
		}
	}
}

func TestDelayValues(t *testing.T) {
	e := ok(Empirical([]time.Duration{4, 0, 2}))
	for _, c := range []struct {
		u    float64
		want int64
	}{{0, 0}, {0.25, 1}, {0.5, 2}, {0.75, 3}, {0.999999, 4}} {
		if got := e.Quantile(c.u); got != c.want {
			t.Errorf("empirical Quantile(%v) = %d, want %d", c.u, got, c.want)
		}
	}
	for _, c := range []struct {
		x    int64
		want float64
	}{{-1, 0}, {0, 0}, {1, 0.25}, {2, 0.5}, {3, 0.75}, {4, 1}, {9, 1}} {
		if got := e.CDF(c.x); got != c.want {
			t.Errorf("empirical CDF(%d) = %v, want %v", c.x, got, c.want)
		}
	}
	if e.Mean() != 2 || e.Max() != 4 {
		t.Errorf("empirical mean %v max %v", e.Mean(), e.Max())
	}
	u := ok(Uniform(time.Millisecond, 3*time.Millisecond))
	if u.Quantile(0.5) != 2*ms || u.CDF(2*ms) != 0.5 || u.Mean() != 2e6 || u.Max() != 3*ms {
		t.Error("uniform values")
	}
	x := ok(Exponential(time.Millisecond))
	if x.Quantile(0) != 0 || x.Quantile(1-1/math.E) != ms || math.Abs(x.CDF(ms)-(1-1/math.E)) > 1e-12 {
		t.Errorf("exponential values %d", x.Quantile(1-1/math.E))
	}
	if x.Max() != int64(math.Round(53*math.Ln2*1e6)) || x.Quantile(1) > x.Max() {
		t.Errorf("exponential Max %d, Quantile(1) %d", x.Max(), x.Quantile(1))
	}
	for d, want := range map[Delay]string{
		ok(Constant(70 * time.Microsecond)): "constant(70us)",
		u:                                   "uniform(1ms, 3ms)",
		x:                                   "exponential(mean=1ms)",
		ok(Normal(10*time.Millisecond, 2*time.Millisecond)): "normal(mean=10ms, stddev=2ms)",
		ok(Pareto(time.Millisecond, 1.5)):                   "pareto(scale=1ms, shape=1.5)",
		e:                                                   "empirical(n=3, min=0s, median=2ns, max=4ns)",
	} {
		if d.String() != want {
			t.Errorf("String() = %q, want %q", d.String(), want)
		}
	}
	// Normal with stddev 0 is constant; the truncated mean is above the
	// parameter when the truncation bites.
	if d := ok(Normal(time.Millisecond, 0)); d.String() != "constant(1ms)" {
		t.Errorf("normal stddev 0: %v", d)
	}
	h := ok(Normal(0, time.Millisecond))
	if want := 1e6 * math.Sqrt(2/math.Pi); math.Abs(h.Mean()-want) > 1e-3*want {
		t.Errorf("half-normal mean %v, want %v", h.Mean(), want)
	}
}

func TestDelayErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"constant<0", second(Constant(-1)), "constant delay -1ns out of range: want 0 <= constant delay <= 24h0m0s"},
		{"constant huge", second(Constant(25 * time.Hour)), "out of range"},
		{"uniform lo<0", second(Uniform(-1, 5)), "uniform lo -1ns out of range"},
		{"uniform lo>hi", second(Uniform(5, 3)), "uniform lo 5ns > hi 3ns: want 0 <= lo <= hi"},
		{"exponential<0", second(Exponential(-time.Second)), "exponential mean -1s out of range: want 0 <= mean <= "},
		{"exponential huge", second(Exponential(time.Hour)), "exponential mean 1h0m0s out of range"},
		{"normal mean<0", second(Normal(-1, 1)), "normal mean -1ns out of range"},
		{"normal sd<0", second(Normal(1, -1)), "normal stddev -1ns out of range: want 0 <= normal stddev"},
		{"normal huge", second(Normal(time.Hour, 5*time.Hour)), "want its 1-2^-20 quantile <= 24h0m0s"},
		{"pareto shape 1", second(Pareto(time.Millisecond, 1)), "pareto shape 1 out of range: want 1 < shape <= 1000"},
		{"pareto shape NaN", second(Pareto(time.Millisecond, math.NaN())), "pareto shape NaN out of range"},
		{"pareto shape Inf", second(Pareto(time.Millisecond, math.Inf(1))), "pareto shape +Inf out of range"},
		{"pareto scale<0", second(Pareto(-1, 2)), "pareto scale -1ns out of range"},
		{"pareto huge", second(Pareto(time.Hour, 1.1)), "want scale*2^(20/shape) <= 24h0m0s"},
		{"empirical 1", second(Empirical([]time.Duration{1})), "empirical delay: 1 samples: want at least 2"},
		{"empirical neg", second(Empirical([]time.Duration{1, -1})), "sample 1: empirical sample -1ns out of range"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestReadEmpirical(t *testing.T) {
	p := writeFile(t, "d", "# delays\n\n1.5ms\n  800us  # trailing comment\n2ms\n")
	d, err := ReadEmpirical(p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Quantile(0) != 800_000 || d.Max() != 2*ms || d.Quantile(0.5) != 1_500_000 {
		t.Errorf("%v", d)
	}
	for _, c := range []struct{ text, want string }{
		{"1ms\n\n5\n", `:3: bad duration "5"`},
		{"1ms\n-2ms\n", `:2: bad duration "-2ms"`},
		{"1ms\n2 ms\n", ":2: "},
		{"1ms\n30h\n", ":2: "},
		{"# nothing\n\n", ": no samples: want one duration with a unit per line, such as 1.5ms or 800us"},
		{"1ms\n", ": empirical delay: 1 samples: want at least 2"},
	} {
		p := writeFile(t, "d", c.text)
		_, err := ReadEmpirical(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: %v, want an error containing %q", c.text, err, p+c.want)
		} else if strings.HasPrefix(c.want, ":") && strings.Contains(c.want, "bad duration") && !strings.Contains(err.Error(), "accepted forms") {
			t.Errorf("%q: %v does not list the accepted forms", c.text, err)
		}
	}
}
