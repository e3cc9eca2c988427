package plan

import (
	"strconv"
)

// MaxRuns bounds the size of a plan unless Description.MaxRuns (labrun
// --max-runs) says otherwise; MaxRunsLimit bounds that.
const (
	MaxRuns      = 100_000
	MaxRunsLimit = 1_000_000
)

// A Sweep is the experiment's sweep axes as the plan expands them: zip
// groups in declaration order, each a list of axes that step together.
type Sweep struct {
	Groups [][]AxisInfo
	Repeat int
	// Pinned are the labels --set pins axes to, by axis name. A zipped
	// axis may repeat a label: every step with it is kept.
	Pinned map[string]string
}

// A Point is one run's place in the sweep: the step of each group, the
// repetition and the parameters they give.
type Point struct {
	Steps  []int
	Rep    int
	Params map[string]string
}

// size is the number of runs the sweep makes (the --set pins applied),
// or limit+1 once it passes limit.
func (s Sweep) size(limit int) int {
	total := s.Repeat
	for _, g := range s.Groups {
		kept := 0
		for i := range g[0].Values {
			if s.stepPinned(g, i) {
				kept++
			}
		}
		if total *= kept; total > limit {
			return limit + 1
		}
	}
	return total
}

// stepPinned says whether step i of group g has the labels --set pins.
func (s Sweep) stepPinned(g []AxisInfo, i int) bool {
	for _, ax := range g {
		if l, ok := s.Pinned[ax.Name]; ok && ax.Values[i] != l {
			return false
		}
	}
	return true
}

// axes lists the axes in the order of the plan.
func (s Sweep) axes() []AxisInfo {
	var out []AxisInfo
	for _, g := range s.Groups {
		out = append(out, g...)
	}
	return out
}

// points expands the sweep: an odometer over the groups, the last group
// varying fastest, with repetitions as the outermost loop, so that noise
// that drifts over time spreads over all points instead of landing on
// one.
func (s Sweep) points() []Point {
	// The steps of each group that the pins keep: a pinned axis of a
	// million values costs a million checks, not a product.
	kept := make([][]int, len(s.Groups))
	for gi, g := range s.Groups {
		for i := range g[0].Values {
			if s.stepPinned(g, i) {
				kept[gi] = append(kept[gi], i)
			}
		}
		if len(kept[gi]) == 0 {
			return nil
		}
	}
	idx := make([]int, len(s.Groups)) // into kept
	var steps [][]int
	for {
		st := make([]int, len(idx))
		for gi, k := range idx {
			st[gi] = kept[gi][k]
		}
		steps = append(steps, st)
		k := len(s.Groups) - 1
		for k >= 0 {
			idx[k]++
			if idx[k] < len(kept[k]) {
				break
			}
			idx[k] = 0
			k--
		}
		if k < 0 {
			break
		}
	}
	var out []Point
	for r := 0; r < s.Repeat; r++ {
		for _, st := range steps {
			params := map[string]string{}
			for gi, g := range s.Groups {
				for _, ax := range g {
					params[ax.Name] = ax.Values[st[gi]]
				}
			}
			if s.Repeat > 1 {
				params["rep"] = strconv.Itoa(r)
			}
			out = append(out, Point{Steps: st, Rep: r, Params: params})
		}
	}
	return out
}

// addRun appends the run of a point with its resolved configuration,
// giving it its index, ID and seed.
func (p *Plan) addRun(pt Point, cfg RunConfig) {
	cfg.Experiment = p.Experiment
	id, seed := RunID(cfg, p.Seed)
	run := Run{Index: len(p.Runs), ID: id, Seed: seed, Params: pt.Params, Config: cfg}
	for gi, g := range p.groups {
		if len(g) == 1 && g[0].Search != nil {
			run.Search = &RunSearch{Name: g[0].Search.Name, Candidate: pt.Steps[gi]}
		}
	}
	p.Runs = append(p.Runs, run)
}

// duplicate finds two runs that resolve to the same configuration (two
// sweep values that mean the same thing): their indexes, or -1, -1.
func (p *Plan) duplicate() (int, int) {
	seen := map[string]int{}
	for _, r := range p.Runs {
		if j, dup := seen[r.ID]; dup {
			return j, r.Index
		}
		seen[r.ID] = r.Index
	}
	return -1, -1
}
