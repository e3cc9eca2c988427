package main

import (
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/shard"
)

// shardInfo is what a shard's manifest.json records beside
// results.Manifest's fields, for labrun merge (results/merge reads them):
//
//	"plan_hash": PlanHash, "shard": Shard, "plan_runs": PlanRuns
type shardInfo struct {
	PlanHash string   // shard.PlanHash of the full plan's run IDs
	Shard    string   // "K/N"
	PlanRuns []string // the full plan's run IDs, in plan order
}

// shardPlan keeps in p the runs of shard s, in plan order (each run's
// Index stays its place in the full plan), and returns what the shard's
// manifest must record. Integration point: labrun run --shard K/N|auto
// parses the flag with shard.Parse(v, os.Getenv), calls shardPlan after
// evaluating the plan, and Execute writes the three fields into the
// manifest.
func shardPlan(p *plan.Plan, s shard.Spec) shardInfo {
	info := shardInfo{Shard: s.String()}
	runs := make([]shard.Run, len(p.Runs))
	for i, r := range p.Runs {
		runs[i] = shard.Run{ID: r.ID, Duration: int64(r.Estimate())}
		info.PlanRuns = append(info.PlanRuns, r.ID)
	}
	info.PlanHash = shard.PlanHash(info.PlanRuns)
	keep := make([]plan.Run, 0, len(p.Runs)/s.N+1)
	for _, i := range shard.Select(runs, s) {
		keep = append(keep, p.Runs[i])
	}
	p.Runs = keep
	return info
}

// searchName is the name of a search of the plan, or "": a plan with a
// search is not split into shards.
func searchName(p *plan.Plan) string {
	for _, a := range p.Axes {
		if a.Search != nil {
			return a.Search.Name
		}
	}
	return ""
}
