package plot

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seriesCSV is a 2x2 grid (timer x interval), one run per panel; the
// busy/70us run has long points, the others short.
func seriesCSV(long, short int) []byte {
	var b bytes.Buffer
	b.WriteString("run,timer,interval,packet,time_s,err_us\n")
	run := 0
	for _, timer := range []string{"busy", "sleep"} {
		for _, iv := range []string{"70us", "100us"} {
			run++
			n := short
			if run == 1 {
				n = long
			}
			for i := range n {
				y := math.Sin(float64(i)/40) * 3
				if i == n/2 {
					y = 80 // a spike
				}
				fmt.Fprintf(&b, "r%d,%s,%s,%d,%g,%g\n", run, timer, iv, i, float64(i)*70e-6, y)
			}
		}
	}
	return b.Bytes()
}

func cdfCSV() []byte {
	var b bytes.Buffer
	b.WriteString("run,timer,err_us,cdf\n")
	for r, timer := range []string{"busy", "sleep", "hrtimer"} {
		for k := 1; k <= 500; k++ {
			fmt.Fprintf(&b, "r%d,%s,%g,%g\n", r, timer, float64(r+1)*math.Log(float64(k)), float64(k)/500)
		}
	}
	return b.Bytes()
}

// checkOutputs checks both files exist, the PNG decodes to w x h pixels
// and the SVG holds each of texts.
func checkOutputs(t *testing.T, svgPath, pngPath string, w, h int, texts ...string) {
	t.Helper()
	pf, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("%s: %v", pngPath, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("png is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<?xml")) || !bytes.Contains(svg, []byte("</svg>")) {
		t.Errorf("%s does not look like an SVG", svgPath)
	}
	for _, s := range texts {
		if !bytes.Contains(svg, []byte(">"+s+"<")) {
			t.Errorf("svg lacks text %q", s)
		}
	}
}

func TestRenderSeries(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "epsilon.svg"), filepath.Join(dir, "epsilon.png")
	f := Figure{Name: "epsilon", Kind: "series", Y: "err_us", Groups: []string{"timer", "interval"},
		Title: "Send-time error", Subtitle: "experiment timers"}
	start := time.Now()
	if err := Render(seriesCSV(10_000, 300), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered 2x2 series (10,300 points) in %v", time.Since(start))
	// 2 columns x 6 in, 2 rows x 2.2 in + 0.6 in, at 150 dpi.
	checkOutputs(t, svgPath, pngPath, 1800, 750,
		"Send-time error", "experiment timers",
		"timer=busy interval=70us", "timer=busy interval=100us", "timer=sleep interval=70us", "timer=sleep interval=100us",
		"send-time error ε (µs)", "packet index")
	svg, _ := os.ReadFile(svgPath)
	// The long panel is drawn from at most MaxPoints points: count circles
	// (one path per glyph) against the 10,900 rows.
	if n := strings.Count(string(svg), "<path"); n > 3*MaxPoints {
		t.Errorf("svg has %d paths; the 10,000-point panel was not downsampled", n)
	}
}

func TestRenderSeriesTimeAxisOneFacet(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	b.WriteString("run,timer,packet,time_s,lat_us\n")
	for r, timer := range []string{"busy", "sleep", "hr"} {
		for i := range 50 {
			fmt.Fprintf(&b, "r%d,%s,%d,%g,%d\n", r, timer, i, float64(i)/1000, 10+i%7)
		}
	}
	f := Figure{Name: "lat", Kind: "series", X: "time_s", Y: "lat_us", Groups: []string{"timer"}}
	svgPath, pngPath := filepath.Join(dir, "lat.svg"), filepath.Join(dir, "lat.png")
	if err := Render(b.Bytes(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	// One group: a column of 3 panels; the title defaults to the name.
	checkOutputs(t, svgPath, pngPath, 900, 1080, "lat", "timer=hr", "one-way latency (µs)", "time (s)")
}

func TestRenderCDF(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "cdf.svg"), filepath.Join(dir, "cdf.png")
	f := Figure{Name: "cdf-2", Kind: "cdf", X: "err_us", Groups: []string{"timer"}, Title: "timers", Subtitle: "experiment timers"}
	if err := Render(cdfCSV(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	// One 6 x 3.6 in panel + 0.6 in header.
	checkOutputs(t, svgPath, pngPath, 900, 630, "timers", "experiment timers",
		"timer=busy", "timer=sleep", "timer=hrtimer", // the legend
		"send-time error ε (µs)", "fraction of packets")
}

func TestRenderEmptySkips(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "e.svg"), filepath.Join(dir, "e.png")
	// A stale image from an earlier render goes.
	os.WriteFile(pngPath, []byte("stale"), 0o644)
	for _, f := range []Figure{{Name: "e", Kind: "series", Groups: []string{"timer"}}, {Name: "e", Kind: "cdf"}} {
		hdr := "run,timer,packet,time_s,err_us\n"
		if f.Kind == "cdf" {
			hdr = "run,err_us,cdf\n"
		}
		if err := Render([]byte(hdr), f, svgPath, pngPath); err != nil {
			t.Fatalf("%s: %v", f.Kind, err)
		}
		for _, p := range []string{svgPath, pngPath} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s exists (%v)", f.Kind, p, err)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	series := Figure{Name: "s", Kind: "series", Groups: []string{"timer"}}
	for _, tc := range []struct {
		name string
		f    Figure
		csv  string
		want string
	}{
		{"short row", series, "run,timer,packet,time_s,err_us\nr1,busy,0,0,1.5\nr1,busy,1,0.1\n", "line 3: wrong number of fields"},
		{"bad number", series, "run,timer,packet,time_s,err_us\nr1,busy,0,0,1.5\nr1,busy,1,0.1,1.5\nr1,busy,x,0.2,3\n", `line 4: column packet: bad number "x"`},
		{"NaN", series, "run,timer,packet,time_s,err_us\nr1,busy,0,0,NaN\n", `line 2: column err_us: bad number "NaN"`},
		{"bad quote", series, "run,timer,packet,time_s,err_us\nr1,\"bu\"sy,0,0,1\n", "line 2: "},
		{"missing facet", series, "run,packet,time_s,err_us\nr1,0,0,1\n", `line 1: no column "timer"`},
		{"missing y", Figure{Name: "c", Kind: "cdf", X: "lat_us"}, "run,err_us,cdf\n", `line 1: no column "lat_us"`},
		{"empty", series, "", "line 1: empty input"},
		{"kind", Figure{Name: "k", Kind: "pie"}, "a\n", `unknown figure kind "pie"`},
	} {
		dir := t.TempDir()
		err := Render([]byte(tc.csv), tc.f, filepath.Join(dir, "x.svg"), filepath.Join(dir, "x.png"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: wrote %d files", tc.name, len(ents))
		}
	}
}

func TestRenderQuotedFacetValues(t *testing.T) {
	// A parameter value with a comma is quoted in the CSV.
	dir := t.TempDir()
	csv := "run,gaps,packet,time_s,err_us\nr1,\"10us,20us\",0,0,1\nr1,\"10us,20us\",1,0.1,2\n"
	f := Figure{Name: "q", Kind: "series", Groups: []string{"gaps"}}
	svgPath, pngPath := filepath.Join(dir, "q.svg"), filepath.Join(dir, "q.png")
	if err := Render([]byte(csv), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, svgPath, pngPath, 900, 420, "gaps=10us,20us")
}

func BenchmarkRenderLarge(b *testing.B) {
	// 4x2 grid, 200,000 points per panel.
	var buf bytes.Buffer
	buf.WriteString("run,timer,interval,packet,time_s,err_us\n")
	run := 0
	for _, timer := range []string{"busy", "sleep", "hrtimer", "nanosleep"} {
		for _, iv := range []string{"70us", "100us"} {
			run++
			for i := range 200_000 {
				fmt.Fprintf(&buf, "r%d,%s,%s,%d,%g,%g\n", run, timer, iv, i, float64(i)*70e-6, math.Sin(float64(i)/400)*3+float64(i%97)/50)
			}
		}
	}
	dir := b.TempDir()
	f := Figure{Name: "big", Kind: "series", Groups: []string{"timer", "interval"}}
	b.ResetTimer()
	for b.Loop() {
		if err := Render(buf.Bytes(), f, filepath.Join(dir, "big.svg"), filepath.Join(dir, "big.png")); err != nil {
			b.Fatal(err)
		}
	}
}
