package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/labrun/labrun/results"
)

func TestSweepPoints(t *testing.T) {
	a := AxisInfo{Name: "a", Values: []string{"a1", "a2"}}
	b := AxisInfo{Name: "b", Values: []string{"b1", "b2", "b3"}}
	z := AxisInfo{Name: "z", Values: []string{"x", "x", "y"}, Zip: 1} // zipped with b
	tests := []struct {
		name  string
		sweep Sweep
		want  string // params of each point, in order
	}{
		{"none", Sweep{Repeat: 1}, "[]"},
		{"last varies fastest", Sweep{Groups: [][]AxisInfo{{a}, {b}}, Repeat: 1},
			"a1 b1|a1 b2|a1 b3|a2 b1|a2 b2|a2 b3"},
		{"repeats outermost", Sweep{Groups: [][]AxisInfo{{a}}, Repeat: 2},
			"a1 0|a2 0|a1 1|a2 1"},
		{"pinned", Sweep{Groups: [][]AxisInfo{{a}, {b}}, Repeat: 1, Pinned: map[string]string{"b": "b2"}},
			"a1 b2|a2 b2"},
		{"pinned zip keeps every step with the label", Sweep{Groups: [][]AxisInfo{{b, z}}, Repeat: 1, Pinned: map[string]string{"z": "x"}},
			"b1 x|b2 x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, pt := range tc.sweep.points() {
				var vals []string
				for _, g := range tc.sweep.Groups {
					for _, ax := range g {
						vals = append(vals, pt.Params[ax.Name])
					}
				}
				if tc.sweep.Repeat > 1 {
					vals = append(vals, pt.Params["rep"])
				}
				got = append(got, strings.Join(vals, " "))
			}
			s := strings.Join(got, "|")
			if len(got) == 1 && s == "" {
				s = "[]"
			}
			if s != tc.want {
				t.Errorf("points %s, want %s", s, tc.want)
			}
		})
	}
	if n := (Sweep{Groups: [][]AxisInfo{{a}, {b}}, Repeat: 3}).size(MaxRuns); n != 18 {
		t.Errorf("size %d, want 18", n)
	}
	big := AxisInfo{Name: "n", Values: make([]string, 1000)}
	if n := (Sweep{Groups: [][]AxisInfo{{big}, {big}}, Repeat: 1}).size(MaxRuns); n != MaxRuns+1 {
		t.Errorf("size %d, want %d", n, MaxRuns+1)
	}
}

func TestDuplicateRuns(t *testing.T) {
	p := &Plan{Experiment: "x", Seed: 1}
	for i := range 3 {
		p.addRun(Point{Params: map[string]string{"i": fmt.Sprint(i)}}, RunConfig{Rep: i % 2})
	}
	if i, j := p.duplicate(); i != 0 || j != 2 {
		t.Errorf("duplicate %d, %d; want 0, 2", i, j)
	}
	if p.Runs[0].ID == p.Runs[1].ID || p.Runs[1].Index != 1 {
		t.Errorf("runs %+v", p.Runs)
	}
}

func TestBuild(t *testing.T) {
	ax := AxisInfo{Name: "n", Values: []string{"1", "2"}}
	resolveRep := func(pt Point) (RunConfig, error) { return RunConfig{Rep: pt.Steps[0]}, nil }
	same := func(Point) (RunConfig, error) { return RunConfig{}, nil }
	big := AxisInfo{Name: "big", Values: make([]string, 1000)}
	tests := []struct {
		name    string
		sweep   Sweep
		resolve func(Point) (RunConfig, error)
		err     string // "" for a plan
	}{
		{"two runs", Sweep{Groups: [][]AxisInfo{{ax}}, Repeat: 1}, resolveRep, ""},
		{"same configuration", Sweep{Groups: [][]AxisInfo{{ax}}, Repeat: 1}, same,
			"x.star:3:1: runs 1 and 2 resolve to the same configuration (n=2); two sweep values that mean the same thing?"},
		{"too many runs", Sweep{Groups: [][]AxisInfo{{big}, {big}}, Repeat: 1}, same,
			"x.star:3:1: experiment: the sweep expands to more than 100000 runs (--max-runs 100000); use fewer axis values, pin axes with --set, or give --max-runs up to 1000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Build(Description{Experiment: "x", Seed: 1, Pos: "x.star:3:1", Sweep: tc.sweep, Resolve: tc.resolve,
				Outputs:   Outputs{Tables: []TableDecl{{Pos: "x.star:2:1", Kind: "table", Spec: results.TableSpec{Rows: []string{"n"}}}}},
				Dangerous: func() []SysctlUse { return nil }})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || len(p.Runs) != 2 || len(p.Tables) != 1 || p.Tables[0].Title != "x" || p.Runs[1].Params["n"] != "2" || p.Runs[0].Config.Experiment != "x" {
				t.Fatalf("plan %+v, %v", p, err)
			}
		})
	}
}
