package results

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"path/filepath"
	"sort"
	"strings"
)

// ReportFigure is one rendered figure of a result folder.
type ReportFigure struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	PNG   string `json:"png"` // path relative to the folder
	CSV   string `json:"csv"`
}

// PlotSpec describes how a figure is drawn from its CSV.
type PlotSpec struct {
	Name, Kind, X, Y, Title, Subtitle string
	Groups                            []string
	LogX, LogY, LinearX               bool `json:",omitempty"`
}

// ReportSetting is one kernel setting's outcome over the runs.
type ReportSetting struct {
	Setting, Value, State, Reason, Runs string
}

// Report is what report.html shows; it is also stored as report.json so
// `labrun report DIR` can draw it again without running anything.
type Report struct {
	Experiment string `json:"experiment"`
	// Plots are the figures' descriptions, to draw them again from their
	// CSVs (labrun report).
	Plots       []PlotSpec      `json:"plots,omitempty"`
	Description string          `json:"description,omitempty"`
	Tables      []Table         `json:"tables"`
	Figures     []ReportFigure  `json:"figures"`
	Settings    []ReportSetting `json:"settings"`
	Expect      []ExpectResult  `json:"expectations,omitempty"`
}

// reportView is what the template sees.
type reportView struct {
	Report
	M      Manifest
	Images map[string]template.URL
	Status string
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": strings.Join,
	"img":  func(v reportView, name string) template.URL { return v.Images[name] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Experiment}}: labrun report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#555;margin-top:.2em}
table{border-collapse:collapse;margin:.6em 0 1.6em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.notes{font-size:.8em;color:#555;margin-top:-1.2em}
.wide{overflow-x:auto;max-width:100%}
figure{margin:1em 0 2em}figure img{max-width:100%;border:1px solid #ddd}
.fail{color:#b00;font-weight:bold}.pass{color:#070}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;font-size:.9em}dt{font-weight:bold}
@media print{figure{page-break-inside:avoid}table{page-break-inside:avoid}}
</style></head><body>
<h1>{{.Experiment}}</h1>
<p class="sub">{{.Description}}</p>
<dl>
<dt>status</dt><dd>{{.Status}}</dd>
<dt>script</dt><dd>{{.M.Script}}</dd>
<dt>seed</dt><dd>{{.M.Seed}}</dd>
<dt>command</dt><dd>{{join .M.Command " "}}</dd>
<dt>labrun</dt><dd>{{.M.Labrun.Version}} ({{.M.Labrun.Revision}}, {{.M.Labrun.Go}})</dd>
<dt>machine</dt><dd>{{.M.Machine.Hostname}}: {{.M.Machine.CPUModel}}, {{.M.Machine.CPUs}} CPUs, {{.M.Machine.Arch}}</dd>
<dt>kernel</dt><dd>{{.M.Machine.Kernel}}{{if .M.Machine.Preempt}}, preempt {{.M.Machine.Preempt}}{{end}}, clock source {{.M.Machine.ClockSource}}</dd>
<dt>started</dt><dd>{{.M.Start.Format "2006-01-02 15:04:05 MST"}}</dd>
</dl>
{{with .Expect}}<h2>Expectations</h2>
<table><tr><th>expectation</th><th>run</th><th>measured</th><th>bound</th><th>result</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Run}}</td><td>{{.Measured}}</td><td>{{.Bound}}</td><td class="{{if .Pass}}pass{{else}}fail{{end}}">{{if .Pass}}pass{{else}}FAIL {{.Why}}{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Tables</h2>
{{range .Tables}}<h3>{{.Title}}</h3>
<div class="wide"><table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Cells}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table></div>
{{with .Notes}}<div class="notes">{{range .}}<p>{{.}}</p>{{end}}</div>{{end}}
{{end}}
{{with .Figures}}<h2>Figures</h2>{{end}}
{{range .Figures}}<figure><img alt="{{.Title}}" src="{{img $ .Name}}"><figcaption>{{.Title}} (data: {{.CSV}})</figcaption></figure>
{{end}}
<h2>Kernel settings</h2>
{{if .Settings}}<table><tr><th>setting</th><th>value</th><th>state</th><th>runs</th><th>reason</th></tr>
{{range .Settings}}<tr><td>{{.Setting}}</td><td>{{.Value}}</td><td>{{.State}}</td><td>{{.Runs}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>none</p>{{end}}
<h2>Sources</h2>
<table><tr><th>file</th><th>sha256</th></tr>
{{range .Sources}}<tr><td>{{.Name}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</table>
<p class="sub">Per-run rows: runs.csv. Per-packet series: series/. Everything needed to repeat the runs: manifest.json.</p>
</body></html>
`))

type sourceView struct{ Name, SHA256 string }

// Sources lists the manifest's script files with their hashes.
func (v reportView) Sources() []sourceView {
	b, _ := json.Marshal(v.M.Sources)
	var raw []map[string]any
	json.Unmarshal(b, &raw)
	var out []sourceView
	for _, s := range raw {
		name, _ := s["name"].(string)
		if name == "" {
			name, _ = s["path"].(string)
		}
		sha, _ := s["sha256"].(string)
		out = append(out, sourceView{name, sha})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteReport writes dir/report.json and dir/report.html: one file with
// the tables, the figures inline (PNG as data: URLs, so nothing is fetched),
// the machine, every setting and the sources' hashes. m is the manifest as
// the invocation ends (its final status); nil reads dir/manifest.json.
func WriteReport(dir string, r Report, m *Manifest) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "report.json"), b); err != nil {
		return err
	}
	if m == nil {
		if m, err = readManifest(dir); err != nil {
			return err
		}
	}
	return renderReport(dir, r, m)
}

// RenderReport draws dir/report.html from dir/report.json and
// dir/manifest.json. It reads only files inside dir: a figure whose path
// leads out of it (an absolute path, "..", a symbolic link) is refused.
func RenderReport(dir string) error {
	b, err := ReadFileIn(dir, "report.json")
	if err != nil {
		return err
	}
	r, err := ReadReport(b)
	if err != nil {
		return fmt.Errorf("%s/report.json: %w", dir, err)
	}
	m, err := readManifest(dir)
	if err != nil {
		return err
	}
	return renderReport(dir, r, m)
}

func readManifest(dir string) (*Manifest, error) {
	var m Manifest
	mb, err := ReadFileIn(dir, "manifest.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	return &m, nil
}

func renderReport(dir string, r Report, m *Manifest) error {
	v := reportView{Report: r, M: *m, Images: map[string]template.URL{}, Status: m.Status}
	for _, f := range r.Figures {
		png, err := ReadFileIn(dir, f.PNG)
		if errors.Is(err, ErrOutside) {
			return fmt.Errorf("%s/report.json: figure %q: %w", dir, f.Name, err)
		}
		if err != nil {
			continue // the figure had no data
		}
		v.Images[f.Name] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	kept := r.Figures[:0:0]
	for _, f := range r.Figures {
		if _, ok := v.Images[f.Name]; ok {
			kept = append(kept, f)
		}
	}
	v.Figures = kept
	var out bytes.Buffer
	if err := reportTmpl.Execute(&out, v); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "report.html"), out.Bytes())
}

// ReadReport parses a report.json.
func ReadReport(b []byte) (Report, error) {
	var r Report
	err := json.Unmarshal(b, &r)
	return r, err
}
