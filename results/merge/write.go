package merge

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/labrun/labrun/results"
)

// write makes the merged folder: each kept run's files, runs.csv,
// manifest.json, report.json, then Redraw.
func (p *merged) write(o Options) error {
	if err := os.MkdirAll(filepath.Join(o.Out, "series"), 0o755); err != nil {
		return fmt.Errorf("-o %s: %w", o.Out, err)
	}
	p.res.Dir = o.Out
	for _, c := range p.kept {
		if c.m == nil {
			continue
		}
		r := c.run()
		for _, f := range append([]string{r.Series}, r.Files...) {
			if f == "" {
				continue
			}
			if err := linkIn(c.m.dir, o.Out, f); err != nil {
				return fmt.Errorf("run %s: %w", r.ID, err)
			}
		}
	}
	if err := p.writeRuns(o.Out); err != nil {
		return err
	}
	if err := p.writeManifest(o); err != nil {
		return err
	}
	if err := p.writeReport(o.Out); err != nil {
		return err
	}
	redraw := o.Redraw
	if redraw == nil {
		redraw = results.RenderReport
	}
	if err := redraw(o.Out); err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	return nil
}

// linkIn hard-links the file rel of folder src into dst (copies it when
// the folders are on different file systems). rel must stay inside src.
func linkIn(src, dst, rel string) error {
	if err := results.CheckRelPath(rel); err != nil {
		return fmt.Errorf("%s/manifest.json: %w", src, err)
	}
	from, to := filepath.Join(src, rel), filepath.Join(dst, rel)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(from)
	if err != nil {
		return fmt.Errorf("%s: %w (the manifest lists it)", from, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", from)
	}
	err = os.Link(from, to)
	if err == nil || !errors.Is(err, syscall.EXDEV) && !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EMLINK) {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	a, err := results.CreateAtomic(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(a, in); err != nil {
		a.Abort()
		return err
	}
	return a.Commit()
}

// csvTable is a folder's runs.csv: its header and its records by run ID.
type csvTable struct {
	header []string
	rows   map[string][]string
}

func readRunsCSV(dir string) (csvTable, error) {
	t := csvTable{rows: map[string][]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "runs.csv"))
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil // no run finished there
	}
	if err != nil {
		return t, err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return t, fmt.Errorf("%s/runs.csv: %w", dir, err)
	}
	if len(recs) == 0 {
		return t, nil
	}
	t.header = recs[0]
	if !slices.Equal(t.header[:min(2, len(t.header))], []string{"id", "status"}) {
		return t, fmt.Errorf("%s/runs.csv: the header starts %q, want id,status", dir, t.header[:min(2, len(t.header))])
	}
	for _, rec := range recs[1:] {
		t.rows[results.ParseCSVCell(rec[0])] = rec
	}
	return t, nil
}

// writeRuns writes runs.csv: one header with the union of the folders'
// columns (in the order first seen), then a row per run of the plan in
// plan order: the kept folder's row as written, or id and status alone
// (missing, or the status of a run that left no row).
func (p *merged) writeRuns(out string) error {
	tabs := map[*manifest]csvTable{}
	header := []string{"id", "status"}
	for _, m := range p.ms {
		t, err := readRunsCSV(m.dir)
		if err != nil {
			return err
		}
		tabs[m] = t
		for _, h := range t.header {
			if !slices.Contains(header, h) {
				header = append(header, h)
			}
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	for j, c := range p.kept {
		rec := make([]string, len(header))
		rec[0], rec[1] = results.CSVCell(p.ids[j]), "missing"
		if c.m != nil {
			rec[1] = results.CSVCell(c.run().Status)
			t := tabs[c.m]
			if row, ok := t.rows[p.ids[j]]; ok {
				for i, v := range row {
					rec[slices.Index(header, t.header[i])] = v
				}
			}
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return results.WriteFileAtomic(filepath.Join(out, "runs.csv"), b.Bytes())
}

// mergedRecord is the "merged" field of the merged manifest.
type mergedRecord struct {
	Shards        []ShardRecord `json:"shards"`
	Missing       []Missing     `json:"missing,omitempty"`
	MissingShards []string      `json:"missing_shards,omitempty"`
	Duplicates    []Duplicate   `json:"duplicates,omitempty"`
	Rule          string        `json:"rule"`
}

// Rule is the duplicate rule, as the merged manifest states it.
const Rule = "a run in several folders is kept from one: best status (ok, interrupted, failed, skipped), then latest end, then the folder given first"

// writeManifest writes the first folder's manifest with the merged runs,
// status, times and command, and what was merged from where.
func (p *merged) writeManifest(o Options) error {
	raw := map[string]json.RawMessage{}
	for k, v := range p.ms[0].raw {
		raw[k] = v
	}
	delete(raw, fieldShard)
	var runs []json.RawMessage
	first, last := p.ms[0].Start, p.ms[0].End
	for j, c := range p.kept {
		if c.m == nil {
			b, _ := json.Marshal(map[string]any{"index": j, "id": p.ids[j], "status": "missing"})
			runs = append(runs, b)
			continue
		}
		runs = append(runs, c.m.runs[c.i])
	}
	for _, m := range p.ms {
		if !m.Start.IsZero() && (first.IsZero() || m.Start.Before(first)) {
			first = m.Start
		}
		last = later(last, m.End)
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		raw[k] = b
	}
	set("runs", runs)
	set("status", p.res.Status)
	set("start", first)
	set("end", last)
	set(fieldPlanHash, p.res.PlanHash)
	set(fieldPlanRuns, p.ids)
	if o.Command != nil {
		set("command", o.Command)
	}
	if s := p.res.summary(); s != "" {
		set("error", s)
	} else {
		delete(raw, "error")
	}
	set(fieldMerged, mergedRecord{Shards: p.res.Shards, Missing: p.res.Missing, MissingShards: p.res.MissingShards, Duplicates: p.res.Duplicates, Rule: Rule})
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	return results.WriteFileAtomic(filepath.Join(o.Out, "manifest.json"), append(b, '\n'))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// writeReport writes report.json: the folders merged, the duplicates,
// and runs.csv as a table.
func (p *merged) writeReport(out string) error {
	r := results.Report{Experiment: p.res.Experiment, Description: "merged from " + plural(len(p.ms), "folder") + " of plan " + short(p.res.PlanHash)}
	shards := results.Table{Title: "Merged folders", Header: []string{"folder", "machine", "shard", "status", "runs kept"}}
	for _, s := range p.res.Shards {
		shards.Cells = append(shards.Cells, []string{s.Folder, s.Machine, s.Shard, s.Status, strconv.Itoa(s.Runs)})
	}
	if s := p.res.summary(); s != "" {
		shards.Notes = append(shards.Notes, s)
	}
	for _, d := range p.res.Duplicates {
		shards.Notes = append(shards.Notes, fmt.Sprintf("run %s measured %d times: kept from %s (%s)", d.ID, len(d.Dropped)+1, d.Kept, d.Why))
	}
	r.Tables = append(r.Tables, shards)
	b, err := os.ReadFile(filepath.Join(out, "runs.csv"))
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		for i := range rec {
			rec[i] = results.ParseCSVCell(rec[i])
		}
	}
	r.Tables = append(r.Tables, results.Table{Title: "Runs (runs.csv)", Header: recs[0], Cells: recs[1:]})
	rb, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return results.WriteFileAtomic(filepath.Join(out, "report.json"), rb)
}
