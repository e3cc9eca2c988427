package link

import (
	"math"
	"testing"
	"time"
)

func TestKSDistance(t *testing.T) {
	u := ok(Uniform(0, 100*time.Nanosecond))
	// Samples 0, 10, ..., 90 against uniform(0, 100): F_n jumps to
	// (k+1)/10 at 10k where F = k/10, so the distance is 0.1 (just
	// after each sample; F at x is x/100).
	xs := []int64{90, 0, 10, 20, 30, 40, 50, 60, 70, 80}
	if d := KSDistance(xs, u); math.Abs(d-0.1) > 1e-12 {
		t.Errorf("KS = %v, want 0.1", d)
	}
	if xs[0] != 0 || xs[9] != 90 {
		t.Error("samples not sorted in place")
	}
	c := ok(Constant(5))
	if d := KSDistance([]int64{5, 5, 5}, c); d != 0 {
		t.Errorf("constant: KS = %v, want 0", d)
	}
	if d := KSDistance([]int64{5, 5, 6}, c); math.Abs(d-1.0/3) > 1e-12 {
		t.Errorf("constant with an outlier: KS = %v, want 1/3", d)
	}
	if d := KSDistance(nil, c); d != 0 {
		t.Errorf("no samples: %v", d)
	}
}

func TestBinomialInterval(t *testing.T) {
	// Wilson interval for 10/100 at 95%: [0.0552, 0.1744].
	lo, hi := BinomialInterval(10, 100, 0.95)
	if math.Abs(lo-0.05523) > 1e-4 || math.Abs(hi-0.17437) > 1e-4 {
		t.Errorf("10/100 at 95%%: [%v, %v]", lo, hi)
	}
	lo, hi = BinomialInterval(0, 100, 0.99)
	if lo != 0 || hi <= 0 || hi > 0.07 {
		t.Errorf("0/100: [%v, %v]", lo, hi)
	}
	lo, hi = BinomialInterval(100, 100, 0.99)
	if hi != 1 || lo >= 1 || lo < 0.93 {
		t.Errorf("100/100: [%v, %v]", lo, hi)
	}
	if lo, hi := BinomialInterval(0, 0, 0.99); lo != 0 || hi != 1 {
		t.Errorf("0/0: [%v, %v]", lo, hi)
	}
	if lo, _ := BinomialInterval(1, 2, 1); !math.IsNaN(lo) {
		t.Error("conf 1 accepted")
	}
	if lo, _ := BinomialInterval(3, 2, 0.9); !math.IsNaN(lo) {
		t.Error("k > n accepted")
	}
}

func TestBursts(t *testing.T) {
	for _, c := range []struct {
		in    []bool
		mean  float64
		count int
	}{
		{nil, 0, 0},
		{[]bool{false, false}, 0, 0},
		{[]bool{true}, 1, 1},
		{[]bool{true, true, false, true, false, false, true, true, true}, 2, 3},
	} {
		m, n := Bursts(c.in)
		if m != c.mean || n != c.count {
			t.Errorf("Bursts(%v) = %v, %d; want %v, %d", c.in, m, n, c.mean, c.count)
		}
	}
}

// The loss interval holds for the model that made the losses: over 100
// seeds of 20,000 frames, the theoretical rate of each Markov model (those
// of experiments/tlem_fidelity.star, and a Gilbert model with rate 4.76 %)
// lies inside its 99 % interval at least 98 times, where the Wilson
// interval, which assumes independent losses, misses it more often. (Over
// 1,000 seeds the coverage is 98.5 to 99.2 %.)
func TestLossIntervalCoverage(t *testing.T) {
	const seeds, n = 100, 20_000
	for _, l := range []LossModel{
		ok(GilbertElliott(0.01, 0.2, 1, 0)),
		ok(GilbertElliott(0.01, 0.3, 1, 0)),
		ok(GilbertElliott(0.05, 0.5, 0.8, 0.01)),
		ok(Markov4(0.02, 0.4, 0.05, 0.3, 0.001)),
	} {
		in, wilsonIn := 0, 0
		for seed := range uint64(seeds) {
			k := count(lossRun(t, l, n, 1500, 1+seed))
			if lo, hi := LossInterval(l, k, n, 0.99); l.Rate() >= lo && l.Rate() <= hi {
				in++
			}
			if lo, hi := BinomialInterval(k, n, 0.99); l.Rate() >= lo && l.Rate() <= hi {
				wilsonIn++
			}
		}
		t.Logf("%-55s rate %.4f: inside its interval %d of %d seeds, inside Wilson's %d", l, l.Rate(), in, seeds, wilsonIn)
		if in < 98 {
			t.Errorf("%v: theoretical rate %.4f inside the 99%% loss interval for %d of %d seeds, want at least 98", l, l.Rate(), in, seeds)
		}
		if wilsonIn >= in {
			t.Errorf("%v: the Wilson interval holds for %d of %d seeds: the case does not tell correlated losses apart", l, wilsonIn, seeds)
		}
	}
}

// Independent losses keep the Wilson interval; an interval for bursty
// losses is wider by about the square root of the dispersion.
func TestLossIntervalWidth(t *testing.T) {
	b := ok(Bernoulli(0.05))
	lo, hi := LossInterval(b, 1000, 20000, 0.99)
	wlo, whi := BinomialInterval(1000, 20000, 0.99)
	if lo != wlo || hi != whi {
		t.Errorf("Bernoulli: [%v, %v], want Wilson's [%v, %v]", lo, hi, wlo, whi)
	}
	g := ok(GilbertElliott(0.01, 0.2, 1, 0)).(gilbertElliott)
	// Loss only in the bad state: D = (1+lambda)/(1-lambda), lambda = 1-p-r.
	lambda := 1 - 0.01 - 0.2
	if d := g.chain().dispersion(); math.Abs(d-(1+lambda)/(1-lambda)) > 1e-6 {
		t.Errorf("dispersion %v, want (1+lambda)/(1-lambda) = %v", d, (1+lambda)/(1-lambda))
	}
	lo, hi = LossInterval(g, 1000, 20000, 0.99)
	ratio := (hi - lo) / (whi - wlo)
	if want := math.Sqrt((1 + lambda) / (1 - lambda)); math.Abs(ratio-want)/want > 0.05 {
		t.Errorf("Gilbert interval %.4f wide, %.2f times Wilson's, want about %.2f", hi-lo, ratio, want)
	}
}
