package script

import (
	"bytes"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

const searchSrc = `
frame = sweep.axis("frame", ["64B", "1518B"])
rate = sweep.search("rate", lo = "10Mbps", hi = "200Mbps", resolution = "10Mbps",
    until = {"metric": "link_queue_drops", "at_most": 0})
experiment(
    name = "s",
    seed = 1,
    trace = trace.synthetic(count = 2000, rate = rate, frame = frame),
    timer = timer.busy(),
    sink = sink.null(),
    emulator = link.emulator(bandwidth = "100Mbps", queue = 100),
)
`

// A search composed with an ordinary axis: a run per candidate and point,
// each marked with its candidate, and labrun plan says what it can take.
func TestSweepSearchPlan(t *testing.T) {
	p := mustEval(t, searchSrc, nil)
	if len(p.Runs) != 2*20 {
		t.Fatalf("%d runs, want 40 (2 frames x 20 candidates)", len(p.Runs))
	}
	for i, r := range p.Runs {
		if r.Search == nil || r.Search.Name != "rate" || r.Search.Candidate != i%20 {
			t.Fatalf("run %d: search %+v, want candidate %d of rate", i, r.Search, i%20)
		}
		if want := p.Axes[1].Values[i%20]; r.Params["rate"] != want || r.Params["frame"] != []string{"64B", "1518B"}[i/20] {
			t.Fatalf("run %d: params %v", i, r.Params)
		}
	}
	var b bytes.Buffer
	if err := plan.WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"search rate: 10Mbps..200Mbps by 10Mbps, 20 candidates, at most 6 trials, the last confirmed, until link_queue_drops <= 0",
		"2 search(es), one per point of the other axes: at most 12 trials over their 40 candidate runs",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSweepSearchErrors(t *testing.T) {
	cases := []struct{ call, want string }{
		{`sweep.search("rate", lo = "10Mbps", hi = "5Mbps", resolution = "1Mbps", until = {"metric": "m", "at_most": 0})`, "below lo"},
		{`sweep.search("rate", lo = "10Mbps", hi = "20Mbps", resolution = "1Mbps", until = {"metric": "m"})`, "one of at_most, at_least"},
		{`sweep.search("rate", lo = "10Mbps", hi = "20Mbps", resolution = "1Mbps", until = {"metric": "m", "below": 1})`, "unknown key"},
		{`sweep.search("rate", lo = "10Mbps", hi = "20Mbps", resolution = "3Mbps", until = {"metric": "m", "at_most": 0})`, "whole number of resolutions"},
	}
	for _, c := range cases {
		src := strings.Replace(searchSrc, `sweep.search("rate", lo = "10Mbps", hi = "200Mbps", resolution = "10Mbps",
    until = {"metric": "link_queue_drops", "at_most": 0})`, c.call, 1)
		_, err := evalSrc(t, src, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), ":3:") {
			t.Errorf("%s: error %v, want one at line 3 saying %q", c.call, err, c.want)
		}
	}
	if _, err := evalSrc(t, searchSrc, map[string]string{"rate": "50Mbps"}); err == nil || !strings.Contains(err.Error(), "is a search") {
		t.Errorf("--set on a search: %v", err)
	}
}
