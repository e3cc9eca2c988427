package shard

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

type fixtureRun struct {
	ID       string `json:"id"`
	Duration int64  `json:"duration_ns"`
}

// shippedPlans reads testdata/plans.json: the runs of every shipped
// experiment (kept in step by cmd/labrun's TestShardFixture).
func shippedPlans(t *testing.T) map[string][]Run {
	b, err := os.ReadFile("testdata/plans.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string][]fixtureRun
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) < 5 {
		t.Fatalf("testdata/plans.json holds %d experiments", len(raw))
	}
	out := map[string][]Run{}
	for name, rs := range raw {
		for _, r := range rs {
			out[name] = append(out[name], Run{r.ID, r.Duration})
		}
	}
	return out
}

// synthetic plans the shipped ones do not cover: many light runs, one
// giant, equal durations, unknown durations mixed with known ones.
func syntheticPlans() map[string][]Run {
	out := map[string][]Run{}
	for i := range 100 {
		out["ramp"] = append(out["ramp"], Run{fmt.Sprintf("r%03d", i), int64(i+1) * 1e6})
		out["equal"] = append(out["equal"], Run{fmt.Sprintf("e%03d", i), 5e8})
		d := int64(0)
		if i%3 == 0 {
			d = int64(i) * 1e7
		}
		out["mixed"] = append(out["mixed"], Run{fmt.Sprintf("m%03d", 99-i), d})
	}
	out["giant"] = append(slices.Clone(out["ramp"][:20]), Run{"zzz", 1e12})
	return out
}

// TestAssignProperties splits every plan in 1..7 shards and checks that
// the shards partition the plan and balance its scheduled time.
//
// The bound: greedy assignment to the lightest shard keeps every pair of
// shards within the heaviest run pmax of each other (an invariant of each
// step: the run added is at most pmax, and went to the lightest shard).
// So every shard's total L satisfies mean-pmax <= L <= mean+pmax, and
// when pmax <= mean/3 that is within 1.5x of the mean both ways. When a
// single run outweighs a third of the mean, the plan itself does not
// allow 1.5x (a shard holding it is heavier), and only the pmax bound is
// checked.
func TestAssignProperties(t *testing.T) {
	plans := shippedPlans(t)
	for k, v := range syntheticPlans() {
		plans[k] = v
	}
	for name, runs := range plans {
		for n := 1; n <= 7; n++ {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				shards := Assign(runs, n)
				if len(shards) != n {
					t.Fatalf("%d shards, want %d", len(shards), n)
				}
				seen := make([]int, len(runs))
				var total, pmax int64
				loads := make([]int64, n)
				for k, idx := range shards {
					if !slices.IsSorted(idx) {
						t.Errorf("shard %d not in plan order: %v", k, idx)
					}
					for _, i := range idx {
						seen[i]++
						loads[k] += runs[i].Duration
					}
				}
				for i, c := range seen {
					if c != 1 {
						t.Errorf("run %d (%s) is in %d shards, want 1", i, runs[i].ID, c)
					}
					total += runs[i].Duration
					pmax = max(pmax, runs[i].Duration)
				}
				mean := float64(total) / float64(n)
				for k, l := range loads {
					if float64(l) > mean+float64(pmax) || float64(l) < mean-float64(pmax) {
						t.Errorf("shard %d: %d ns, outside mean %.0f +- heaviest run %d", k, l, mean, pmax)
					}
					if float64(pmax) <= mean/3 && (float64(l) > 1.5*mean || float64(l) < mean/1.5) {
						t.Errorf("shard %d: %d ns, not within 1.5x of the mean %.0f", k, l, mean)
					}
				}
				if total == 0 { // unknown durations: balanced by count
					lo, hi := len(runs), 0
					for _, idx := range shards {
						lo, hi = min(lo, len(idx)), max(hi, len(idx))
					}
					if hi-lo > 1 {
						t.Errorf("shard sizes from %d to %d, want at most 1 apart", lo, hi)
					}
				}
			})
		}
	}
}

// TestAssignStable: the split depends on the runs only, not on the order
// they come in (beyond the plan indices it returns), and is the same on
// every call.
func TestAssignStable(t *testing.T) {
	runs := shippedPlans(t)["timer_vs_cyclictest.star"]
	a := Assign(runs, 4)
	if b := Assign(runs, 4); !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("two calls differ")
	}
	rev := slices.Clone(runs)
	slices.Reverse(rev)
	b := Assign(rev, 4)
	ids := func(rs []Run, idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, rs[i].ID)
		}
		slices.Sort(out)
		return out
	}
	for k := range a {
		if !slices.Equal(ids(runs, a[k]), ids(rev, b[k])) {
			t.Errorf("shard %d holds other runs when the plan is reversed", k)
		}
	}
	for k := range 4 {
		if got := Select(runs, Spec{k, 4}); !slices.Equal(got, a[k]) {
			t.Errorf("Select shard %d = %v, Assign says %v", k, got, a[k])
		}
	}
}

func TestParse(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		v    string
		env  func(string) string
		want Spec
		err  string // part of the error
	}{
		{"0/1", env(), Spec{0, 1}, ""},
		{"3/4", env(), Spec{3, 4}, ""},
		{"4/4", env(), Spec{}, "numbered 0 to 3"},
		{"-1/4", env(), Spec{}, "numbered 0 to 3"},
		{"1/0", env(), Spec{}, "must be 1 to"},
		{"1", env(), Spec{}, "want K/N"},
		{"a/b", env(), Spec{}, "want K/N"},
		{"+1/4", env(), Spec{}, "want K/N"},
		{"auto", env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "5"), Spec{2, 5}, ""},
		{"auto", env("SLURM_ARRAY_TASK_ID", "7", "SLURM_ARRAY_TASK_MIN", "5", "SLURM_ARRAY_TASK_MAX", "8"), Spec{2, 4}, ""},
		{"auto", env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "5", "SLURM_ARRAY_TASK_COUNT", "3"), Spec{}, "contiguous"},
		{"auto", env("SLURM_ARRAY_TASK_ID", "1"), Spec{}, "SLURM_ARRAY_TASK_COUNT"},
		{"auto", env("SLURM_ARRAY_TASK_ID", "1", "LABRUN_SHARDS", "2"), Spec{1, 2}, ""},
		{"auto", env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "3", "LABRUN_SHARDS", "2"), Spec{}, "LABRUN_SHARDS=2"},
		{"auto", env("SLURM_ARRAY_TASK_ID", "x"), Spec{}, "not a number"},
		{"auto", env("JOB_COMPLETION_INDEX", "4", "LABRUN_SHARDS", "6"), Spec{4, 6}, ""},
		{"auto", env("JOB_COMPLETION_INDEX", "4"), Spec{}, "LABRUN_SHARDS"},
		{"auto/6", env("JOB_COMPLETION_INDEX", "4"), Spec{4, 6}, ""},
		{"auto/3", env("JOB_COMPLETION_INDEX", "4"), Spec{}, "does not exist"},
		{"auto/0", env(), Spec{}, "auto/N"},
		{"auto", env(), Spec{}, "not in a Slurm array task"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.v, tc.env)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.v, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Parse(%q) error = %v; want one saying %q", tc.v, err, tc.err)
		}
	}
}

func TestPlanHash(t *testing.T) {
	h := PlanHash([]string{"a", "b"})
	if len(h) != 64 || h == PlanHash([]string{"b", "a"}) || h != PlanHash([]string{"a", "b"}) {
		t.Errorf("PlanHash: %s", h)
	}
}

// TestAssignLarge splits the largest plan labrun makes over many shards:
// a partition, each shard within the heaviest run of the others.
func TestAssignLarge(t *testing.T) {
	runs := make([]Run, 100_000)
	for i := range runs {
		runs[i] = Run{fmt.Sprintf("%012x", i*7919), int64(i%977) * 1e6}
	}
	shards := Assign(runs, 1000)
	n, lo, hi := 0, int64(1<<62), int64(0)
	for _, idx := range shards {
		var l int64
		for _, i := range idx {
			l += runs[i].Duration
		}
		n += len(idx)
		lo, hi = min(lo, l), max(hi, l)
	}
	if n != len(runs) || hi-lo > 976e6 {
		t.Errorf("%d runs in the shards, loads %d to %d", n, lo, hi)
	}
}
