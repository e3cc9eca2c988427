package execute

import (
	"context"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// An invocation writes a self-contained report.html (tables, figures
// inline, machine, settings, sources; nothing fetched), and Report draws
// it again from the stored folder without running anything.
func TestReportHTML(t *testing.T) {
	p := mustEval(t, `experiment(name = "r", description = "a report",
    trace = trace.synthetic(count = 300, interval = "100us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    tables = [table(rows = ["timer"], metrics = ["err_p50_us", "err_p99_us"], title = "Errors by timer")],
    figures = [figure.series(name = "eps", facet = ["timer"]), figure.cdf(name = "eps-cdf", by = ["timer"])],
    expectations = [expect(metric = "packets", above = 300)])`, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		b, err := os.ReadFile(filepath.Join(out.Dir, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		h := string(b)
		for _, want := range []string{"<h1>r</h1>", "a report", "Errors by timer", "Expectations", "Kernel settings", "Sources", "sha256", `alt="eps"`, `alt="eps-cdf"`} {
			if !strings.Contains(h, want) {
				t.Errorf("%s: report.html lacks %q", when, want)
			}
		}
		if n := strings.Count(h, "data:image/png;base64,"); n != 2 {
			t.Errorf("%s: %d inline figures, want 2", when, n)
		}
		// Self-contained: no src or href to anything but data: URLs.
		if m := regexp.MustCompile(`(src|href)="(https?:|//|/)[^"]*"`).FindAllString(h, -1); len(m) > 0 {
			t.Errorf("%s: report.html fetches %v", when, m)
		}
	}
	check("after run")
	os.Remove(filepath.Join(out.Dir, "report.html"))
	os.Remove(filepath.Join(out.Dir, "plots", "eps.png"))
	if err := Report(out.Dir); err != nil {
		t.Fatal(err)
	}
	check("after labrun report")
	if _, err := os.Stat(filepath.Join(out.Dir, "plots", "eps.png")); err != nil {
		t.Errorf("labrun report did not draw the figure again: %v", err)
	}
	// A folder without report.json (an older labrun) gets its runs.
	os.Remove(filepath.Join(out.Dir, "report.json"))
	if err := Report(out.Dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out.Dir, "report.html")); !strings.Contains(string(b), "Runs (runs.csv)") {
		t.Error("an old folder's report lacks its runs")
	}
	if err := Report(t.TempDir()); err == nil {
		t.Error("an empty folder: no error")
	}
}

// report.html opens in headless Chromium with no failed request and no
// console message, and shows its content (a screenshot that is not
// blank). Skipped without Chromium (make test-deps installs it as root).
func TestReportInChromium(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed: apt-get install chromium (make test-deps does, as root)")
	}
	p := mustEval(t, `experiment(name = "c", trace = trace.synthetic(count = 200, interval = "100us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    tables = [table(rows = ["timer"], metrics = ["err_p99_us"])],
    figures = [figure.series(name = "eps", facet = ["timer"])])`, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--window-size=1200,2000", "--enable-logging=stderr", "--v=0",
		"--screenshot="+shot, "file://"+filepath.Join(out.Dir, "report.html"))
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, logs)
	}
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Failed to load resource") || strings.Contains(line, "net::ERR_") {
			t.Errorf("chromium: %s", line)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Count pixels that are not white: tables and figures make many.
	b := img.Bounds()
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				ink++
			}
		}
	}
	if ink < 5000 {
		t.Errorf("the screenshot is nearly blank: %d inked pixels sampled", ink)
	}
}
