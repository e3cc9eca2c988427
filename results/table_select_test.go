package results

import (
	"strings"
	"testing"
)

// Where keeps only the selected runs; Best marks the best cell of each
// column group and explains the mark.
func TestBuildWhereAndBest(t *testing.T) {
	rows := []Row{
		{ID: "a", Params: map[string]string{"w": "paced", "batch": "1", "mode": "ring"}, Metrics: map[string]float64{"rx_pps": 100}},
		{ID: "b", Params: map[string]string{"w": "fast", "batch": "1", "mode": "ring"}, Metrics: map[string]float64{"rx_pps": 300}},
		{ID: "c", Params: map[string]string{"w": "fast", "batch": "64", "mode": "ring"}, Metrics: map[string]float64{"rx_pps": 500}},
		{ID: "d", Params: map[string]string{"w": "fast", "batch": "1", "mode": "mmsg"}, Metrics: map[string]float64{"rx_pps": 700}},
		{ID: "e", Params: map[string]string{"w": "fast", "batch": "64", "mode": "mmsg"}, Metrics: map[string]float64{"rx_pps": 600}},
	}
	tb, err := Build(TableSpec{Rows: []string{"batch"}, Cols: "mode", Metrics: []string{"rx_pps"},
		Where: map[string][]string{"w": {"fast"}}, Best: map[string]string{"rx_pps": "max"}}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Cells) != 2 {
		t.Fatalf("rows %v, want batch 1 and 64 only", tb.Cells)
	}
	got := [][]string{tb.Cells[0][1:], tb.Cells[1][1:]}
	if !strings.HasSuffix(got[1][0], " *") || strings.HasSuffix(got[0][0], " *") {
		t.Fatalf("ring column: %v, want batch 64 marked", got)
	}
	if !strings.HasSuffix(got[0][1], " *") || strings.HasSuffix(got[1][1], " *") {
		t.Fatalf("mmsg column: %v, want batch 1 marked", got)
	}
	if len(tb.Notes) != 1 || !strings.Contains(tb.Notes[0], "highest") {
		t.Fatalf("notes %v", tb.Notes)
	}
	if _, err := Build(TableSpec{Rows: []string{"batch"}, Metrics: []string{"rx_pps"}, Where: map[string][]string{"w": {"none"}}}, rows); err == nil {
		t.Fatal("a table selecting no run built without error")
	}
}

// A Relative column divides each row's metric by the chosen row's, per
// column group; a row without a baseline shows "-".
func TestBuildRelative(t *testing.T) {
	rows := []Row{
		{ID: "a", Params: map[string]string{"sender": "tool", "frame": "64B"}, Metrics: map[string]float64{"pps": 200}},
		{ID: "b", Params: map[string]string{"sender": "labrun", "frame": "64B"}, Metrics: map[string]float64{"pps": 300}},
		{ID: "c", Params: map[string]string{"sender": "labrun", "frame": "1500B"}, Metrics: map[string]float64{"pps": 100}},
	}
	tb, err := Build(TableSpec{Rows: []string{"sender"}, Cols: "frame", Metrics: []string{"pps"},
		Relatives: []Relative{{Metric: "pps", Param: "sender", Value: "tool"}}}, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"tool", "200", "1.00", "-", "-"}, {"labrun", "300", "1.50", "100", "-"}}
	for i, r := range want {
		for j, c := range r {
			if tb.Cells[i][j] != c {
				t.Fatalf("cells %v, want %v", tb.Cells, want)
			}
		}
	}
	if !strings.Contains(tb.Header[2], "/ tool") {
		t.Fatalf("header %v", tb.Header)
	}
	if _, err := Build(TableSpec{Rows: []string{"sender"}, Metrics: []string{"pps"}, Relatives: []Relative{{Metric: "pps", Param: "frame", Value: "64B"}}}, rows); err == nil {
		t.Fatal("a relative on a parameter that is not a row was accepted")
	}
}
