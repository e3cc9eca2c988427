package link

import (
	"math"
	"strings"
	"testing"
)

// lossRun returns which of n packets of length bytes the model drops.
func lossRun(t testing.TB, l LossModel, n, length int, seed uint64) []bool {
	m := ok(NewModel(Config{Loss: l, Seed: seed}))
	out := make([]bool, n)
	for i := range out {
		_, f := m.Admit(int64(i)*1000, length)
		out[i] = f == DropLoss
	}
	return out
}

func count(bs []bool) (k uint64) {
	for _, b := range bs {
		if b {
			k++
		}
	}
	return k
}

func TestLossRates(t *testing.T) {
	const n = 100_000
	ber := ok(BitError(1e-5)).(*BitErrorModel)
	for _, c := range []struct {
		l      LossModel
		length int
		rate   float64
	}{
		{ok(Bernoulli(0.01)), 1500, 0.01},
		{ok(Bernoulli(0.3)), 1500, 0.3},
		{ber, 1500, 1 - math.Pow(1-1e-5, 12000)},
		{ber, 64, ber.RateFor(64)},
		{ber, 9000, ber.RateFor(9000)},
		{ber, 20000, ber.RateFor(20000)}, // beyond the table
		{ok(GilbertElliott(0.01, 0.3, 1, 0)), 1500, 0.01 / 0.31},
		{ok(GilbertElliott(0.05, 0.2, 0.7, 0.01)), 1500, (0.7*0.05 + 0.01*0.2) / 0.25},
		{ok(Markov4(0.02, 0.3, 0.1, 0.2, 0.01)), 1500, 0},
		{ok(Markov4(0.001, 0.5, 0, 0, 0.05)), 1500, 0},
	} {
		rate := c.rate
		if rate == 0 {
			rate = c.l.Rate()
		} else if c.length == RateFrame && math.Abs(c.l.Rate()-rate) > 1e-12 {
			t.Errorf("%v: Rate %v, want %v", c.l, c.l.Rate(), rate)
		}
		k := count(lossRun(t, c.l, n, c.length, 3))
		// Correlated losses get an interval over the effective sample.
		lo, hi := LossInterval(c.l, k, n, 0.99)
		t.Logf("%-60s len %5d: %6d lost of %d, 99%% interval [%.5f, %.5f], theory %.5f", c.l, c.length, k, n, lo, hi, rate)
		if rate < lo || rate > hi {
			t.Errorf("%v, %d-byte frames: theoretical rate %.5f outside the 99%% interval [%.5f, %.5f] of %d/%d", c.l, c.length, rate, lo, hi, k, n)
		}
	}
}

func TestMarkov4Stationary(t *testing.T) {
	// Solve the 4-state chain by hand: with p13, p31, p32, p23, p14,
	// balance gives pi4 = p14 pi1, pi3 = (p13 pi1 + p23 pi2)/(p31+p32),
	// pi2 p23 = p32 pi3.
	p13, p31, p32, p23, p14 := 0.02, 0.3, 0.1, 0.2, 0.01
	// From pi2 p23 = p32 pi3 and pi3 (p31+p32) = p13 pi1 + p23 pi2:
	// pi3 p31 = p13 pi1.
	pi1 := 1.0
	pi3 := p13 / p31 * pi1
	pi2 := p32 * pi3 / p23
	pi4 := p14 * pi1
	sum := pi1 + pi2 + pi3 + pi4
	want := (pi3 + pi4) / sum
	if got := ok(Markov4(p13, p31, p32, p23, p14)).Rate(); math.Abs(got-want) > 1e-12 {
		t.Errorf("Rate %v, want %v", got, want)
	}
	// Reducible chains: never leaving state 1, and state 3 absorbing.
	if r := ok(Markov4(0, 0.5, 0.5, 0.5, 0)).Rate(); r != 0 {
		t.Errorf("no way out of state 1: rate %v", r)
	}
	if r := ok(Markov4(0.1, 0, 0, 0, 0)).Rate(); math.Abs(r-1) > 1e-12 {
		t.Errorf("state 3 absorbing: rate %v", r)
	}
	if b := ok(Markov4(0.1, 0, 0, 0, 0)).MeanBurst(); !math.IsInf(b, 1) {
		t.Errorf("state 3 absorbing: mean burst %v", b)
	}
	// A periodic chain: 1 -> 3 -> 1 -> 3 ...
	m := ok(Markov4(1, 1, 0, 0, 0))
	if m.Rate() != 0.5 || m.MeanBurst() != 1 {
		t.Errorf("periodic: rate %v burst %v", m.Rate(), m.MeanBurst())
	}
	got := lossRun(t, m, 6, 100, 1)
	if want := []bool{true, false, true, false, true, false}; !equalBools(got, want) {
		t.Errorf("periodic drops %v, want %v", got, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMeanBurst(t *testing.T) {
	// 1M packets so that the sampling error of the mean burst is about
	// 1% and the 5% tolerance is several standard errors.
	const n = 1_000_000
	for _, c := range []struct {
		l    LossModel
		want float64
	}{
		{ok(GilbertElliott(0.01, 0.3, 1, 0)), 1 / 0.3},
		{ok(GilbertElliott(0.05, 0.2, 0.7, 0.01)), 0},
		{ok(Markov4(0.02, 0.3, 0.1, 0.2, 0.01)), 0},
		{ok(Bernoulli(0.2)), 1.25},
	} {
		want := c.want
		if want == 0 {
			want = c.l.MeanBurst()
		} else if math.Abs(c.l.MeanBurst()-want) > 1e-9 {
			t.Errorf("%v: MeanBurst %v, want %v", c.l, c.l.MeanBurst(), want)
		}
		mean, runs := Bursts(lossRun(t, c.l, n, 1500, 5))
		t.Logf("%-60s mean burst %.4f over %d runs, theory %.4f", c.l, mean, runs, want)
		if math.Abs(mean-want) > 0.05*want {
			t.Errorf("%v: mean burst %.4f, theory %.4f: more than 5%% apart", c.l, mean, want)
		}
	}
}

func TestGilbertElliottSemantics(t *testing.T) {
	// Decisions use the state before the transition: with p = 1, r = 1,
	// 1-h = 1, 1-k = 0 the link alternates good, bad, good... from good,
	// so packets 1, 3, 5 are lost, not 0, 2, 4.
	got := lossRun(t, ok(GilbertElliott(1, 1, 1, 0)), 6, 100, 1)
	if want := []bool{false, true, false, true, false, true}; !equalBools(got, want) {
		t.Errorf("drops %v, want %v", got, want)
	}
	// p = r = 0 stays good: the rate is 1-k.
	g := ok(GilbertElliott(0, 0, 1, 0.25))
	if g.Rate() != 0.25 {
		t.Errorf("p = r = 0: rate %v, want 0.25", g.Rate())
	}
	if b := ok(GilbertElliott(0.01, 0.3, 1, 0)).MeanBurst(); math.Abs(b-1/0.3) > 1e-12 {
		t.Errorf("simple Gilbert burst %v", b)
	}
}

func TestPattern(t *testing.T) {
	for _, c := range []struct {
		p     string
		drops []bool
		rate  float64
		burst float64
		str   string
	}{
		{"0011", []bool{false, false, true, true, false, false, true, true, false}, 0.5, 2, "pattern(0011)"},
		{"1001", []bool{true, false, false, true, true, false}, 0.5, 2, "pattern(1001)"},
		{"every 3", []bool{false, false, true, false, false, true, false}, 1.0 / 3, 1, "pattern(every 3)"},
		{"every 1", []bool{true, true, true}, 1, math.Inf(1), "pattern(every 1)"},
		{"000", []bool{false, false, false, false}, 0, 0, "pattern(000)"},
	} {
		l := ok(Pattern(c.p))
		got := lossRun(t, l, len(c.drops), 100, 1)
		if !equalBools(got, c.drops) || l.Rate() != c.rate || l.MeanBurst() != c.burst || l.String() != c.str {
			t.Errorf("%q: drops %v rate %v burst %v %q; want %v %v %v %q", c.p, got, l.Rate(), l.MeanBurst(), l.String(), c.drops, c.rate, c.burst, c.str)
		}
	}
}

func TestLossErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"bernoulli>1", second(Bernoulli(1.5)), "bernoulli p = 1.5 out of range: want a probability 0 <= p <= 1"},
		{"bernoulli NaN", second(Bernoulli(math.NaN())), "bernoulli p = NaN out of range"},
		{"biterror<0", second(BitError(-1e-6)), "biterror ber = -1e-06 out of range"},
		{"ge r", second(GilbertElliott(0.1, 2, 1, 0)), "gilbert-elliott r = 2 out of range"},
		{"ge 1-h", second(GilbertElliott(0.1, 0.2, -0.1, 0)), "gilbert-elliott 1-h = -0.1 out of range"},
		{"ge 1-k", second(GilbertElliott(0.1, 0.2, 1, math.Inf(1))), "gilbert-elliott 1-k = +Inf out of range"},
		{"markov4 p23", second(Markov4(0.1, 0.1, 0.1, 1.1, 0)), "markov4 p23 = 1.1 out of range"},
		{"markov4 from 1", second(Markov4(0.6, 0.1, 0.1, 0.1, 0.5)), "markov4 p13 + p14 = 1.1: want p13 + p14 <= 1"},
		{"markov4 from 3", second(Markov4(0.1, 0.6, 0.5, 0.1, 0.1)), "markov4 p31 + p32 = 1.1: want p31 + p32 <= 1"},
		{"pattern chars", second(Pattern("0120")), `bad loss pattern "0120": character 2 is '2', not '0' or '1'; accepted forms: a string of '0' and '1'`},
		{"pattern empty", second(Pattern("")), `bad loss pattern "": empty; accepted forms:`},
		{"every 0", second(Pattern("every 0")), `bad loss pattern "every 0": N must be an integer in [1, 1048576]; accepted forms:`},
		{"every x", second(Pattern("every x")), "N must be an integer"},
		{"pattern long", second(Pattern(strings.Repeat("0", MaxPattern+1))), "longer than 1048576 characters"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, c.err, c.want)
		}
	}
}

func TestLossStrings(t *testing.T) {
	for l, want := range map[LossModel]string{
		ok(Bernoulli(0.01)):                    "bernoulli(p=0.01)",
		ok(BitError(1e-6)):                     "biterror(ber=1e-06)",
		ok(GilbertElliott(0.01, 0.3, 1, 0)):    "gilbert-elliott(p=0.01, r=0.3, 1-h=1, 1-k=0)",
		ok(Markov4(0.02, 0.3, 0.1, 0.2, 0.01)): "markov4(p13=0.02, p31=0.3, p32=0.1, p23=0.2, p14=0.01)",
		ok(Pattern("every 10")):                "pattern(every 10)",
	} {
		if l.String() != want {
			t.Errorf("String() = %q, want %q", l.String(), want)
		}
	}
}
