package execute

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/plot"
	"github.com/labrun/labrun/runner/plan"
)

// writeReport writes report.json and the self-contained report.html of
// an invocation.
func writeReport(dir string, p *plan.Plan, out *Outcome, m *results.Manifest) error {
	r := results.Report{Experiment: p.Experiment, Description: p.Description, Expect: out.Expect}
	for _, t := range out.Tables {
		if t.Title == "Expectations" && len(out.Expect) > 0 {
			continue // shown apart
		}
		r.Tables = append(r.Tables, t)
	}
	for _, f := range p.Figures {
		title := f.Title
		if title == "" || title == p.Experiment {
			title = f.Name
		}
		r.Figures = append(r.Figures, results.ReportFigure{Name: f.Name, Title: title, PNG: "plots/" + f.Name + ".png", CSV: "plots/" + f.Name + ".csv"})
		r.Plots = append(r.Plots, results.PlotSpec{Name: f.Name, Kind: f.Kind, X: f.X, Y: f.Y, Groups: f.Facet, Title: title, Subtitle: "experiment " + p.Experiment,
			LogX: f.LogX, LogY: f.LogY, LinearX: f.LinearX})
	}
	for _, s := range out.Settings {
		r.Settings = append(r.Settings, results.ReportSetting{Setting: s.Setting, Value: s.Value, State: string(s.State), Reason: s.Reason, Runs: plan.RunList(s.Runs)})
	}
	return results.WriteReport(dir, r, m)
}

// Report draws a stored result folder again without running anything: its
// figures from their CSVs and report.html. A folder written before labrun
// wrote report.json gets a report of its runs.csv. It reads only files
// inside dir: report.json naming a path that leads out is refused.
func Report(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		return fmt.Errorf("%s is not a labrun result folder (no manifest.json)", dir)
	}
	rb, err := results.ReadFileIn(dir, "report.json")
	if errors.Is(err, os.ErrNotExist) {
		return reportFromRuns(dir)
	}
	if err != nil {
		return fmt.Errorf("%s/report.json: %w", dir, err)
	}
	r, err := results.ReadReport(rb)
	if err != nil {
		return fmt.Errorf("%s/report.json: %w", dir, err)
	}
	for _, f := range r.Plots {
		if strings.ContainsAny(f.Name, `/\`) || f.Name == "" || f.Name == "." || f.Name == ".." {
			return fmt.Errorf("%s/report.json: figure name %q %w (want a plain name, e.g. epsilon)", dir, f.Name, results.ErrOutside)
		}
		data, err := results.ReadFileIn(dir, "plots/"+f.Name+".csv")
		if errors.Is(err, results.ErrOutside) {
			return fmt.Errorf("%s/report.json: figure %q: %w", dir, f.Name, err)
		}
		if err != nil {
			continue
		}
		fig := plot.Figure{Name: f.Name, Kind: f.Kind, X: f.X, Y: f.Y, Groups: f.Groups, Title: f.Title, Subtitle: f.Subtitle, LogX: f.LogX, LogY: f.LogY, LinearX: f.LinearX}
		base := filepath.Join(dir, "plots", f.Name)
		if err := plot.Render(data, fig, base+".svg", base+".png"); err != nil {
			return fmt.Errorf("figure %s: %w", f.Name, err)
		}
	}
	return results.RenderReport(dir)
}

// reportFromRuns builds report.json from runs.csv alone.
func reportFromRuns(dir string) error {
	b, err := results.ReadFileIn(dir, "runs.csv")
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) == 0 {
		return fmt.Errorf("%s/runs.csv: %v", dir, err)
	}
	for _, rec := range recs {
		for i := range rec {
			rec[i] = results.ParseCSVCell(rec[i])
		}
	}
	exp := filepath.Base(filepath.Dir(dir))
	t := results.Table{Title: "Runs (runs.csv)", Header: recs[0], Cells: recs[1:],
		Notes: []string{"written by a labrun that kept no report.json: the experiment's own tables are in tables.md"}}
	return results.WriteReport(dir, results.Report{Experiment: exp, Tables: []results.Table{t}}, nil)
}
