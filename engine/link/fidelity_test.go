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
