package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/labrun/labrun/runner/script"
)

// shardFixture is ../../runner/shard/testdata/plans.json: the run IDs and
// scheduled durations of every shipped experiment on its defaults, which
// runner/shard's tests split. The shard package imports nothing of runner,
// so this test keeps its fixture in step with the experiments.
const shardFixture = "../../runner/shard/testdata/plans.json"

type fixtureRun struct {
	ID       string `json:"id"`
	Duration int64  `json:"duration_ns"`
}

// TestShardFixture compares the fixture with the plans the experiments
// make now; go test -run TestShardFixture -update rewrites it.
func TestShardFixture(t *testing.T) {
	files, err := filepath.Glob("../../experiments/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiments: %v", err)
	}
	plans := map[string][]fixtureRun{}
	for _, f := range files {
		p, err := script.Evaluate(f, script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if searchName(p) != "" {
			continue // a plan with a search is never split into shards
		}
		for _, r := range p.Runs {
			plans[filepath.Base(f)] = append(plans[filepath.Base(f)], fixtureRun{r.ID, int64(r.Estimate())})
		}
	}
	want, err := json.MarshalIndent(plans, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(shardFixture, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(shardFixture)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/labrun -run TestShardFixture -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: the experiments' plans changed; go test ./cmd/labrun -run TestShardFixture -update rewrites it", shardFixture)
	}
}
