package execute

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/figure"
	"github.com/labrun/labrun/results/plot"
	"github.com/labrun/labrun/runner/plan"
)

// writeFigures writes each declared figure's data as plots/<name>.csv
// and draws it.
func writeFigures(dir string, p *plan.Plan, rows []results.Row) error {
	if len(p.Figures) == 0 || len(rows) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return err
	}
	var errs []error
	for _, f := range p.Figures {
		data, err := figure.FigureData(dir, f, rows)
		if err == nil {
			err = results.WriteFileAtomic(filepath.Join(dir, "plots", f.Name+".csv"), data)
		}
		if err == nil {
			err = renderFigure(dir, p, f, data)
		}
		if err != nil {
			// One figure that cannot be drawn does not keep the others.
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// renderFigure draws plots/<name>.csv as plots/<name>.svg and .png (a
// figure no run has data for is skipped; see plot.Render).
func renderFigure(dir string, p *plan.Plan, f results.FigureSpec, csv []byte) error {
	title := f.Title
	if title == p.Experiment {
		title = f.Name // the default title; the experiment is the subtitle
	}
	fig := plot.Figure{Name: f.Name, Kind: f.Kind, X: f.X, Y: f.Y, Groups: f.Facet, Title: title, Subtitle: "experiment " + p.Experiment,
		LogX: f.LogX, LogY: f.LogY, LinearX: f.LinearX}
	base := filepath.Join(dir, "plots", f.Name)
	if err := plot.Render(csv, fig, base+".svg", base+".png"); err != nil {
		return fmt.Errorf("figure %s: %w", f.Name, err)
	}
	return nil
}
