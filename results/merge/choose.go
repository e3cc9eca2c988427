package merge

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/labrun/labrun/runner/shard"
)

// merged is the plan's runs, each with the folder it is taken from.
type merged struct {
	ms    []*manifest
	ids   []string    // the plan's run IDs, in plan order
	kept  []candidate // per plan run; m nil when missing
	res   *Result
	index map[string]int
}

// choose picks each run's folder by the rule of the package comment.
func choose(ms []*manifest) *merged {
	p := &merged{ms: ms, ids: planIDs(ms), index: map[string]int{}}
	for i, id := range p.ids {
		p.index[id] = i
	}
	cands := make([][]candidate, len(p.ids))
	for _, m := range ms {
		for i, r := range m.Runs {
			if j, ok := p.index[r.ID]; ok && statusRank(r.Status) >= 0 {
				cands[j] = append(cands[j], candidate{m, i})
			}
		}
	}
	p.res = &Result{Experiment: ms[0].Experiment, PlanHash: ms[0].PlanHash, Runs: len(p.ids)}
	p.kept = make([]candidate, len(p.ids))
	for j, cs := range cands {
		if len(cs) == 0 {
			p.res.Missing = append(p.res.Missing, Missing{Index: j, ID: p.ids[j]})
			continue
		}
		best := 0
		for k := 1; k < len(cs); k++ {
			if ok, _ := better(cs[k], cs[best]); ok {
				best = k
			}
		}
		p.kept[j] = cs[best]
		if len(cs) > 1 {
			p.res.Duplicates = append(p.res.Duplicates, duplicate(p.ids[j], cs, best))
		}
	}
	p.res.Status = statusOf(p.kept, len(p.res.Missing))
	p.res.Shards, p.res.MissingShards = p.shardRecords()
	return p
}

// duplicate describes run id, found in every folder of cs, kept from
// cs[best].
func duplicate(id string, cs []candidate, best int) Duplicate {
	d := Duplicate{ID: id, Kept: cs[best].m.dir}
	next := -1
	for k, c := range cs {
		if k == best {
			continue
		}
		d.Dropped = append(d.Dropped, c.m.dir)
		if next < 0 {
			next = k
		} else if ok, _ := better(c, cs[next]); ok {
			next = k
		}
	}
	_, d.Why = better(cs[best], cs[next])
	return d
}

// planIDs is the full plan: from a shard's plan_runs, from a folder of
// the whole plan, or else the union of the folders' runs by index.
func planIDs(ms []*manifest) []string {
	for _, m := range ms {
		if len(m.PlanRuns) > 0 || m.Shard == "" {
			return m.planIDs()
		}
	}
	byIndex := map[int]string{}
	for _, m := range ms {
		for _, r := range m.Runs {
			byIndex[r.Index] = r.ID
		}
	}
	var idx []int
	for i := range byIndex {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var ids []string
	for _, i := range idx {
		ids = append(ids, byIndex[i])
	}
	return ids
}

// shardRecords lists the folders, and the shard numbers none holds.
func (p *merged) shardRecords() ([]ShardRecord, []string) {
	keptFrom := map[*manifest]int{}
	for _, c := range p.kept {
		if c.m != nil {
			keptFrom[c.m]++
		}
	}
	var recs []ShardRecord
	n := 0
	seen := map[int]bool{}
	for _, m := range p.ms {
		recs = append(recs, ShardRecord{Folder: m.dir, Machine: m.Machine.Hostname, Shard: m.Shard, Status: m.Status, Runs: keptFrom[m]})
		if s, err := shard.Parse(m.Shard, noEnv); err == nil {
			n = max(n, s.N)
			seen[s.K] = true
		}
	}
	var missing []string
	for k := 0; k < n; k++ {
		if !seen[k] {
			missing = append(missing, strconv.Itoa(k)+"/"+strconv.Itoa(n))
		}
	}
	return recs, missing
}

// summary says in a line what the merge found wrong, or "".
func (r *Result) summary() string {
	s := ""
	if n := len(r.Missing); n > 0 {
		var ids []string
		for _, m := range r.Missing {
			ids = append(ids, m.ID)
		}
		s = fmt.Sprintf("%s of %d missing: %s", plural(n, "run"), r.Runs, listIDs(ids))
	}
	if len(r.MissingShards) > 0 {
		if s != "" {
			s += "; "
		}
		s += "no folder of shard " + listIDs(r.MissingShards)
	}
	return s
}
