package plan

import "fmt"

// A Description is what a script declares, as the plan needs it: the
// experiment, its sweep, and how to resolve a point of the sweep into a
// run. It holds no Starlark; runner/script fills it in.
type Description struct {
	Experiment  string
	Description string
	Seed        int64
	// Pos is where the experiment is declared (file:line:col), for errors
	// about the plan as a whole.
	Pos   string
	Sweep Sweep
	// Resolve resolves the run at a point of the sweep.
	Resolve func(Point) (RunConfig, error)
	// Outputs are the tables, figures and expectations, checked against
	// the runs once they are known.
	Outputs Outputs
	// Dangerous lists the dangerous sysctls the resolved runs set.
	Dangerous func() []SysctlUse
	// AllowSysctls are the dangerous sysctls --allow-sysctl permits.
	AllowSysctls []string
	// MaxRuns bounds the number of runs (--max-runs); 0 means MaxRuns.
	MaxRuns int
}

// Build expands a description into the plan: every point of the sweep,
// in order, resolved into a run with its ID and seed; then the outputs
// checked against the runs, the actions on the system and the sysctl
// policy.
func Build(d Description) (*Plan, error) {
	p := &Plan{Experiment: d.Experiment, Description: d.Description, Seed: d.Seed, Repeat: d.Sweep.Repeat}
	limit := d.MaxRuns
	if limit <= 0 {
		limit = MaxRuns
	}
	if d.Sweep.size(limit) > limit {
		return nil, d.errorf("experiment: the sweep expands to more than %d runs (--max-runs %d); use fewer axis values, pin axes with --set, or give --max-runs up to %d", limit, limit, MaxRunsLimit)
	}
	p.Axes, p.groups = d.Sweep.axes(), d.Sweep.Groups
	defer func() { p.groups = nil }()
	points := d.Sweep.points()
	p.Runs = make([]Run, 0, len(points)) // a Run is large: no regrowth
	for _, pt := range points {
		cfg, err := d.Resolve(pt)
		if err != nil {
			return nil, err
		}
		p.addRun(pt, cfg)
	}
	if i, j := p.duplicate(); i >= 0 {
		return nil, d.errorf("runs %d and %d resolve to the same configuration (%s); two sweep values that mean the same thing?", i+1, j+1, ParamString(p.Runs[j].Params))
	}
	if err := p.addOutputs(d.Outputs); err != nil {
		return nil, err
	}
	p.Actions = Actions(p.Runs)
	p.Dangerous = d.Dangerous()
	p.MarkAllowed(d.AllowSysctls)
	return p, nil
}

// errorf is a script error at the experiment's declaration.
func (d Description) errorf(format string, args ...any) error {
	return &ScriptError{Msg: d.Pos + ": " + fmt.Sprintf(format, args...)}
}
