package plan

import (
	"strings"
	"testing"
)

func TestSearchCandidates(t *testing.T) {
	cases := []struct {
		lo, hi, res string
		want        []string // first, last; or the error's words
		n           int
		err         string
	}{
		{lo: "10Mbps", hi: "200Mbps", res: "1Mbps", want: []string{"10Mbps", "200Mbps"}, n: 191},
		{lo: "0.1Mbps", hi: "1Mbps", res: "0.1Mbps", want: []string{"100kbps", "1Mbps"}, n: 10},
		{lo: "1Mpps", hi: "1Mpps", res: "1kpps", want: []string{"1Mpps", "1Mpps"}, n: 1},
		{lo: "10Mbps", hi: "1Mpps", res: "1Mbps", err: "all be bit rates"},
		{lo: "10Mbps", hi: "1Mbps", res: "1Mbps", err: "below lo"},
		{lo: "10Mbps", hi: "15.5Mbps", res: "1Mbps", err: "whole number of resolutions"},
		{lo: "10Mbps", hi: "20Mbps", res: "0bps", err: "above 0"},
		{lo: "1bps", hi: "1Gbps", res: "1bps", err: "coarser resolution"},
		{lo: "fast", hi: "20Mbps", res: "1Mbps", err: "lo:"},
	}
	for _, c := range cases {
		got, err := SearchCandidates(c.lo, c.hi, c.res)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s..%s by %s: error %v, want one saying %q", c.lo, c.hi, c.res, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s..%s by %s: %v", c.lo, c.hi, c.res, err)
			continue
		}
		if len(got) != c.n || got[0] != c.want[0] || got[len(got)-1] != c.want[1] {
			t.Errorf("%s..%s by %s: %d candidates %s..%s, want %d %s..%s", c.lo, c.hi, c.res, len(got), got[0], got[len(got)-1], c.n, c.want[0], c.want[1])
		}
	}
}

func TestSearchDescribeAndUntil(t *testing.T) {
	limit := 0.1
	c, err := SearchCandidates("10Mbps", "200Mbps", "1Mbps")
	if err != nil {
		t.Fatal(err)
	}
	s := Search{Name: "rate", Lo: "10Mbps", Hi: "200Mbps", Resolution: "1Mbps", Candidates: c, Confirm: true,
		Until: Until{Metric: "rx_loss_pct", AtMost: &limit}}
	want := "search rate: 10Mbps..200Mbps by 1Mbps, 191 candidates, at most 9 trials, the last confirmed, until rx_loss_pct <= 0.1"
	if got := s.Describe(); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		m    map[string]float64
		pass bool
		err  bool
	}{
		{map[string]float64{"rx_loss_pct": 0.1}, true, false},
		{map[string]float64{"rx_loss_pct": 0.11}, false, false},
		{map[string]float64{"mpps": 1}, false, true},
	} {
		pass, err := s.Until.Pass(tc.m)
		if pass != tc.pass || (err != nil) != tc.err {
			t.Errorf("Pass(%v) = %v, %v; want %v, error %v", tc.m, pass, err, tc.pass, tc.err)
		}
	}
	for n, want := range map[int]int{1: 2, 2: 3, 3: 3, 7: 4, 8: 5, 191: 9} {
		if got := SearchTrials(n, true); got != want {
			t.Errorf("SearchTrials(%d, confirm) = %d, want %d", n, got, want)
		}
	}
}
