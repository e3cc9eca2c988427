package results

import (
	"math"
	"testing"
)

func TestExpectationCheck(t *testing.T) {
	rows := []Row{
		{Params: map[string]string{"sender": "labrun", "frame": "64B"}, Metrics: map[string]float64{"pps": 300}},
		{Params: map[string]string{"sender": "tcpreplay", "frame": "64B"}, Metrics: map[string]float64{"pps": 200}},
		{Params: map[string]string{"sender": "labrun", "frame": "1500B"}, Metrics: map[string]float64{"pps": 100}},
		{Params: map[string]string{"sender": "tcpreplay", "frame": "1500B"}, Metrics: map[string]float64{"pps": 90}},
	}
	f := func(v float64) *float64 { return &v }
	e := Expectation{Name: "r", Metric: "pps", Where: map[string][]string{"sender": {"labrun"}}, RatioTo: map[string]string{"sender": "tcpreplay"}, Above: f(1.25)}
	res := e.Check(rows)
	if len(res) != 2 || !res[0].Pass || res[0].Value != 1.5 || res[1].Pass || math.Abs(res[1].Value-100.0/90) > 1e-9 {
		t.Fatalf("ratio: %+v", res)
	}
	if Failed(res) != 1 {
		t.Errorf("failed %d, want 1", Failed(res))
	}
	b := Expectation{Name: "b", Metric: "pps", Below: f(150)}
	if res := b.Check(rows); len(res) != 4 || Failed(res) != 2 {
		t.Errorf("below 150 over all runs: %+v", res)
	}
	none := Expectation{Name: "n", Metric: "pps", Where: map[string][]string{"sender": {"trafgen"}}, Above: f(1)}
	if res := none.Check(rows); len(res) != 1 || res[0].Pass || res[0].Why == "" {
		t.Errorf("no run matched must fail with a reason: %+v", res)
	}
	noRef := Expectation{Name: "x", Metric: "pps", RatioTo: map[string]string{"sender": "trafgen"}, Above: f(1)}
	if res := noRef.Check(rows); Failed(res) != len(res) || res[0].Why == "" {
		t.Errorf("missing reference must fail: %+v", res)
	}
	missing := Expectation{Name: "m", Metric: "cpu", Above: f(1)}
	if res := missing.Check(rows); Failed(res) != 4 {
		t.Errorf("a missing metric must fail: %+v", res)
	}
	if err := (Expectation{Metric: "pps"}).Validate(func(string) bool { return true }); err == nil {
		t.Error("no bound: no error")
	}
	tb := ExpectTable(res)
	if tb.Cells[0][4][:4] != "FAIL" {
		t.Errorf("table: %v", tb.Cells)
	}
}
