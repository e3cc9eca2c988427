package merge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/runner/shard"
)

var planIDs4 = []string{"r0", "r1", "r2", "r3"}

// fold describes a folder to make: its shard ("" for a whole plan), and
// per run ID its status and end (minutes after t0), and runs.csv columns.
type fold struct {
	shard string
	hash  string // "": planIDs4's; "-": none; else planIDs4 with r3 named so
	runs  map[string]string
	ends  map[string]int
	extra string // an extra runs.csv column
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// makeFolder writes a result folder as labrun run (--shard) writes it.
func makeFolder(t *testing.T, dir string, f fold) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "series"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"experiment": "x", "status": "ok", "seed": 1, "start": t0, "machine": map[string]any{"hostname": "node-" + filepath.Base(dir)}}
	if f.shard != "" {
		m["shard"], m["plan_hash"], m["plan_runs"] = f.shard, shard.PlanHash(planIDs4), planIDs4
	}
	switch f.hash {
	case "":
	case "-":
		delete(m, "plan_hash")
		delete(m, "plan_runs")
	default: // another plan
		other := []string{"r0", "r1", "r2", f.hash}
		m["plan_hash"], m["plan_runs"] = shard.PlanHash(other), other
	}
	var runs []map[string]any
	csv := "id,status,rate,mean_us\n"
	if f.extra != "" {
		csv = "id,status,rate,mean_us," + f.extra + "\n"
	}
	for i, id := range planIDs4 {
		st, ok := f.runs[id]
		if !ok {
			if f.shard != "" {
				continue // not this shard's run
			}
			st = "pending"
		}
		r := map[string]any{"index": i, "id": id, "status": st, "parameters": map[string]string{"rate": fmt.Sprint(i)}}
		if st != "pending" {
			r["end"] = t0.Add(time.Duration(f.ends[id]) * time.Minute)
			r["series"] = "series/" + id + ".csv"
			series := fmt.Sprintf("packet,scheduled_ns\n0,%d\n", f.ends[id])
			if err := os.WriteFile(filepath.Join(dir, "series", id+".csv"), []byte(series), 0o644); err != nil {
				t.Fatal(err)
			}
			csv += fmt.Sprintf("%s,%s,%d,%d", id, st, i, 10+f.ends[id])
			if f.extra != "" {
				csv += ",7"
			}
			csv += "\n"
		}
		runs = append(runs, r)
	}
	m["runs"] = runs
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runs.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name      string
		folders   []fold
		status    string
		missing   []string
		dups      map[string]string // id -> part of the why, kept folder index after "@"
		rows      string            // runs.csv wanted
		errSubstr string
	}{
		{name: "two shards", folders: []fold{
			{shard: "0/2", runs: map[string]string{"r0": "ok", "r3": "ok"}},
			{shard: "1/2", runs: map[string]string{"r1": "ok", "r2": "failed"}, extra: "loss"},
		}, status: "failed", rows: "id,status,rate,mean_us,loss\nr0,ok,0,10,\nr1,ok,1,10,7\nr2,failed,2,10,7\nr3,ok,3,10,\n"},
		{name: "a shard missing", folders: []fold{
			{shard: "0/3", runs: map[string]string{"r0": "ok", "r3": "ok"}},
			{shard: "2/3", runs: map[string]string{"r2": "ok"}},
		}, status: "interrupted", missing: []string{"r1"}, rows: "id,status,rate,mean_us\nr0,ok,0,10\nr1,missing,,\nr2,ok,2,10\nr3,ok,3,10\n"},
		{name: "measured twice", folders: []fold{
			{shard: "0/2", runs: map[string]string{"r0": "ok", "r1": "failed", "r3": "ok"}, ends: map[string]int{"r3": 5}},
			{shard: "1/2", runs: map[string]string{"r1": "ok", "r2": "ok", "r3": "ok"}, ends: map[string]int{"r3": 9}},
		}, status: "ok", dups: map[string]string{"r1": "status ok over failed@1", "r3": "later end@1"},
			rows: "id,status,rate,mean_us\nr0,ok,0,10\nr1,ok,1,10\nr2,ok,2,10\nr3,ok,3,19\n"},
		{name: "same end: first folder", folders: []fold{
			{shard: "0/2", runs: map[string]string{"r0": "ok", "r1": "ok", "r3": "ok"}},
			{shard: "1/2", runs: map[string]string{"r1": "ok", "r2": "ok"}},
		}, status: "ok", dups: map[string]string{"r1": "folder given first@0"}},
		{name: "resumed pieces", folders: []fold{
			{runs: map[string]string{"r0": "ok", "r1": "interrupted"}},
			{runs: map[string]string{"r1": "ok", "r2": "ok", "r3": "ok"}},
		}, status: "ok", dups: map[string]string{"r1": "status ok over interrupted@1"}},
		{name: "different plans", folders: []fold{
			{shard: "0/2", runs: map[string]string{"r0": "ok"}},
			{shard: "1/2", runs: map[string]string{"r1": "ok"}, hash: "r9"},
		}, errSubstr: "different plans (plan hash " + shard.PlanHash(planIDs4)[:16] + " and " + shard.PlanHash([]string{"r0", "r1", "r2", "r9"})[:16] + ")"},
		{name: "shard without hash", folders: []fold{
			{shard: "0/2", runs: map[string]string{"r0": "ok"}},
			{shard: "1/2", runs: map[string]string{"r1": "ok"}, hash: "-"},
		}, errSubstr: "shard 1/2 but no plan_hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var dirs []string
			for i, f := range tc.folders {
				d := filepath.Join(root, fmt.Sprintf("s%d", i))
				makeFolder(t, d, f)
				dirs = append(dirs, d)
			}
			out := filepath.Join(root, "merged")
			res, err := Merge(dirs, Options{Out: out, Command: []string{"labrun", "merge"}})
			if tc.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("err = %v, want one with %q", err, tc.errSubstr)
				}
				if !strings.Contains(err.Error(), dirs[1]) || strings.Contains(tc.errSubstr, "different") && !strings.Contains(err.Error(), dirs[0]) {
					t.Errorf("err %v does not name both folders", err)
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Errorf("a refused merge left %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status {
				t.Errorf("status %s, want %s", res.Status, tc.status)
			}
			var miss []string
			for _, m := range res.Missing {
				miss = append(miss, m.ID)
			}
			if !slices.Equal(miss, tc.missing) {
				t.Errorf("missing %v, want %v", miss, tc.missing)
			}
			if len(res.Duplicates) != len(tc.dups) {
				t.Errorf("duplicates %+v, want %v", res.Duplicates, tc.dups)
			}
			for _, d := range res.Duplicates {
				why, at, _ := strings.Cut(tc.dups[d.ID], "@")
				if !strings.Contains(d.Why, why) || d.Kept != dirs[at[0]-'0'] {
					t.Errorf("duplicate %s: kept %s (%s), want %s (%s)", d.ID, d.Kept, d.Why, dirs[at[0]-'0'], why)
				}
			}
			checkOutput(t, out, tc.rows, res)
		})
	}
}

// checkOutput checks the merged folder's files.
func checkOutput(t *testing.T, out, rows string, res *Result) {
	t.Helper()
	if rows != "" {
		b, err := os.ReadFile(filepath.Join(out, "runs.csv"))
		if err != nil || string(b) != rows {
			t.Errorf("runs.csv =\n%s\nwant\n%s (%v)", b, rows, err)
		}
	}
	var m struct {
		Status   string   `json:"status"`
		PlanHash string   `json:"plan_hash"`
		Shard    string   `json:"shard"`
		PlanRuns []string `json:"plan_runs"`
		Runs     []run    `json:"runs"`
		Merged   struct {
			Shards []ShardRecord `json:"shards"`
		} `json:"merged"`
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if m.Status != res.Status || m.PlanHash != shard.PlanHash(planIDs4) || m.Shard != "" || !slices.Equal(m.PlanRuns, planIDs4) || len(m.Runs) != 4 {
		t.Errorf("manifest: %+v", m)
	}
	for _, s := range m.Merged.Shards {
		if !strings.HasPrefix(s.Machine, "node-") {
			t.Errorf("shard record %+v has no machine", s)
		}
	}
	for _, r := range m.Runs {
		if r.Series == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, r.Series)); err != nil {
			t.Errorf("run %s: %v", r.ID, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.html")); err != nil || !strings.Contains(string(b), "Merged folders") {
		t.Errorf("report.html: %v", err)
	}
}

func TestMergeRefusesOut(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	makeFolder(t, a, fold{runs: map[string]string{"r0": "ok"}})
	out := filepath.Join(root, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "keep"), nil, 0o644)
	if _, err := Merge([]string{a}, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "keep")); err != nil {
		t.Errorf("a refused merge touched %s: %v", out, err)
	}
	if _, err := Merge([]string{a, a}, Options{Out: filepath.Join(root, "o2")}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("err = %v", err)
	}
	if _, err := Merge([]string{root}, Options{Out: filepath.Join(root, "o3")}); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Errorf("err = %v", err)
	}
}

// TestMergeBadFiles: a series file the manifest lists that is gone, or a
// path that leads out of the folder, stops the merge and leaves no
// output behind.
func TestMergeBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, series, err string }{
		{"gone", "series/r0.csv", "the manifest lists it"},
		{"outside", "../../etc/passwd", "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			a := filepath.Join(root, "a")
			makeFolder(t, a, fold{runs: map[string]string{"r0": "ok", "r1": "ok"}})
			os.Remove(filepath.Join(a, "series", "r0.csv"))
			b, _ := os.ReadFile(filepath.Join(a, "manifest.json"))
			b = []byte(strings.Replace(string(b), `"series/r0.csv"`, `"`+tc.series+`"`, 1))
			os.WriteFile(filepath.Join(a, "manifest.json"), b, 0o644)
			out := filepath.Join(root, "out")
			if _, err := Merge([]string{a}, Options{Out: out}); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed merge left %s", out)
			}
		})
	}
}
