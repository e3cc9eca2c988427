package figure

import "testing"

func TestCDFRanks(t *testing.T) {
	// Short series keep every rank; long ones 1000 spaced ranks plus the
	// whole top 0.1 %, in increasing order, ending at the maximum.
	for _, n := range []int{1, 2000, 2001, 5000, 1_000_000} {
		r := cdfRanks(n)
		if n <= 2000 && len(r) != n {
			t.Errorf("n=%d: %d ranks", n, len(r))
		}
		if n > 2000 && (len(r) > 1000+n/1000+1 || len(r) < 1000) {
			t.Errorf("n=%d: %d ranks", n, len(r))
		}
		for i := 1; i < len(r); i++ {
			if r[i] <= r[i-1] {
				t.Fatalf("n=%d: ranks not increasing at %d: %d, %d", n, i, r[i-1], r[i])
			}
		}
		if r[0] != 0 || r[len(r)-1] != n-1 {
			t.Errorf("n=%d: ranks from %d to %d", n, r[0], r[len(r)-1])
		}
	}
}
