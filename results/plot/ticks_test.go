package plot

import (
	"strings"
	"testing"
)

func TestTicker(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   string // the labels
	}{
		{0, 299, 6, "0 50 100 150 200 250"},
		{0, 9999, 6, "0 2000 4000 6000 8000"},
		{-3, 80, 4, "0 25 50 75"},
		{-3, 60, 4, "0 20 40 60"},
		{0, 1, 4, "0.00 0.25 0.50 0.75 1.00"},
		{0, 0.02093, 6, "0.000 0.005 0.010 0.015 0.020"},
		{-1, 1, 4, "-1.0 -0.5 0.0 0.5 1.0"},
		{5, 5, 4, "5"},
	} {
		var labels []string
		minor := 0
		for _, tk := range (ticker{n: tc.n}).Ticks(tc.lo, tc.hi) {
			if tk.Label == "" {
				minor++
				continue
			}
			labels = append(labels, tk.Label)
			if tk.Value < tc.lo || tk.Value > tc.hi {
				t.Errorf("[%g, %g]: tick %g outside", tc.lo, tc.hi, tk.Value)
			}
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("[%g, %g]: labels %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
		if tc.lo < tc.hi && minor == 0 {
			t.Errorf("[%g, %g]: no minor ticks", tc.lo, tc.hi)
		}
	}
}
