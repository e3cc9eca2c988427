package plot

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		label string
		v     float64
		dim   Dim
	}{
		{"512", 512, Plain},
		{"2.5", 2.5, Plain},
		{"70us", 70e3, Duration},
		{"2.5ms", 2.5e6, Duration},
		{"64B", 64, Size},
		{"1KiB", 1024, Size},
		{"1Gbps", 1e9, BitRate},
		{"10kpps", 1e4, PktRate},
	} {
		v, dim, err := ParseValue(tc.label)
		if err != nil || v != tc.v || dim != tc.dim {
			t.Errorf("%s: %g %q %v, want %g %q", tc.label, v, dim, err, tc.v, tc.dim)
		}
	}
	for _, bad := range []string{"gaps file", "", "NaN", "Inf", "1 Gbps", "fast"} {
		if _, _, err := ParseValue(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, _, err := ParseValues([]string{"64B", "1Gbps"}); err == nil || !strings.Contains(err.Error(), `"64B" is a size but "1Gbps" is a bit rate`) {
		t.Errorf("mixed: %v", err)
	}
}

func TestDisplayUnit(t *testing.T) {
	for _, tc := range []struct {
		dim    Dim
		labels []string
		unit   string
	}{
		{Duration, []string{"70us", "2500us"}, "µs"},
		{Duration, []string{"1ms", "1s"}, "ms"},
		{BitRate, []string{"100Mbps", "3Gbps"}, "Mbit/s"},
		{Size, []string{"64B", "1518B"}, "B"},
		{Size, []string{"1KiB", "1MiB"}, "KiB"},
		{Size, []string{"2kB", "3kB"}, "kB"},
		{Plain, []string{"1", "4096"}, ""},
	} {
		vals, dim, err := ParseValues(tc.labels)
		if err != nil || dim != tc.dim {
			t.Fatalf("%v: %q %v", tc.labels, dim, err)
		}
		if _, u := displayUnit(dim, vals); u != tc.unit {
			t.Errorf("%v: unit %q, want %q", tc.labels, u, tc.unit)
		}
	}
}

func TestUnitOf(t *testing.T) {
	for name, want := range map[string]string{
		"err_p99_us":       "µs",
		"rx_pps":           "frames/s",
		"cpu_pct":          "%",
		"srtt_ms":          "ms",
		"goodput_mbps":     "Mbit/s",
		"pipe_gbps":        "Gbit/s",
		"link_bytes":       "B",
		"wall_s":           "s",
		"load_hdd_mb_s":    "MB/s",
		"load_vm_faults_s": "/s",
		"ns_per_pkt":       "ns",
		"rx_lost":          "",
		"packets":          "",
	} {
		if got := unitOf(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if got := axisLabel("iat_err_p95_us"); got != "iat_err_p95_us (µs)" {
		t.Errorf("label %q", got)
	}
	if got := axisLabel("err_us"); got != "send-time error ε (µs)" {
		t.Errorf("label %q", got)
	}
}

func TestLogTicker(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{1, 4096, "1 10 100 1000"},
		{1, 100, "1 2 5 10 20 50 100"},
		{1, 1e6, "1 10 100 1000 10000 1e5 1e6"},
		{0.008, 50, "0.01 0.1 1 10"},
		{3, 8, "3 4 5 6 7 8"},
		{1e2, 1e14, "100 10000 1e6 1e8 1e10 1e12 1e14"},
		{1e-6, 1e-4, "1e-6 2e-6 5e-6 1e-5 2e-5 5e-5 1e-4"},
	} {
		var labels []string
		for _, tk := range (logTicker{}).Ticks(tc.lo, tc.hi) {
			if tk.Value < tc.lo*(1-1e-9) || tk.Value > tc.hi*(1+1e-9) {
				t.Errorf("[%g, %g]: tick %g outside", tc.lo, tc.hi, tk.Value)
			}
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("[%g, %g]: labels %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// linesCSV is pps against batch size for two modes, and iat error
// against rate for two senders.
func batchCSV() []byte {
	var b bytes.Buffer
	b.WriteString("mode,batch,rx_pps,runs\n")
	for _, mode := range []string{"sendmmsg", "ring"} {
		// Out of order on purpose: the figure sorts by x.
		for _, batch := range []int{64, 1, 4096, 2, 512, 8} {
			fmt.Fprintf(&b, "%s,%d,%g,1\n", mode, batch, 2e5*math.Log2(float64(batch)+1))
		}
	}
	return b.Bytes()
}

func TestRenderLines(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "l.svg"), filepath.Join(dir, "l.png")
	f := Figure{Name: "pps", Kind: "lines", X: "batch", Y: "rx_pps", Groups: []string{"mode"}, LogX: true,
		Title: "pps by batch", Subtitle: "experiment batch_size"}
	if err := Render(batchCSV(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	// One 6 x 3.6 in panel + 0.6 in header, like a cdf.
	checkOutputs(t, svgPath, pngPath, 900, 630, "pps by batch", "experiment batch_size",
		"mode=sendmmsg", "mode=ring", "batch", "rx_pps (frames/s)", "1", "10", "100", "1000")

	// Rates in Mbit/s on log-log axes.
	var b bytes.Buffer
	b.WriteString("sender,rate,iat_err_p95_us,runs\n")
	for i, s := range []string{"labrun busy", "tcpreplay gtod"} {
		for j, r := range []string{"100Mbps", "1Gbps", "200Mbps", "3Gbps"} {
			fmt.Fprintf(&b, "%s,%s,%g,3\n", s, r, 0.01*math.Pow(10, float64(i+j)))
		}
	}
	f = Figure{Name: "iat", Kind: "lines", X: "rate", Y: "iat_err_p95_us", Groups: []string{"sender"}, LogX: true, LogY: true}
	if err := Render(b.Bytes(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, svgPath, pngPath, 900, 630, "iat", "rate (Mbit/s)", "iat_err_p95_us (µs)", "sender=tcpreplay gtod", "0.1", "1000")

	// No by: one line, no legend; a single point on log axes.
	f = Figure{Name: "one", Kind: "lines", X: "interval", Y: "cpu_pct", LogX: true, LogY: true}
	if err := Render([]byte("interval,cpu_pct\n70us,99.5\n"), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, svgPath, pngPath, 900, 630, "one", "interval (µs)", "cpu_pct (%)")
}

func TestRenderBars(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "b.svg"), filepath.Join(dir, "b.png")
	var b bytes.Buffer
	b.WriteString("interval,timer,cpu_pct,runs\n")
	for _, iv := range []string{"70us", "2500us"} {
		for i, tm := range []string{"busy", "sleep", "firm", "tick"} {
			if iv == "2500us" && tm == "tick" {
				continue // a bar no run has
			}
			fmt.Fprintf(&b, "%s,%s,%g,1\n", iv, tm, 100/float64(i+1))
		}
	}
	f := Figure{Name: "cpu", Kind: "bars", X: "interval", Y: "cpu_pct", Groups: []string{"timer"}, Title: "CPU per timer", Subtitle: "experiment usleep_vs_firm"}
	if err := Render(b.Bytes(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, svgPath, pngPath, 900, 630, "CPU per timer", "experiment usleep_vs_firm",
		"70us", "2500us", "interval", "cpu_pct (%)", "timer=busy", "timer=tick")
	// Many bars widen the figure.
	b.Reset()
	b.WriteString("g,b,x_us\n")
	for g := range 10 {
		for k := range 6 {
			fmt.Fprintf(&b, "g%d,b%d,%d\n", g, k, g+k)
		}
	}
	f = Figure{Name: "wide", Kind: "bars", X: "g", Y: "x_us", Groups: []string{"b"}}
	if err := Render(b.Bytes(), f, svgPath, pngPath); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, svgPath, pngPath, int(150*(60*0.22+1)), 630, "wide", "x_us (µs)", "g9")
}

func TestRenderHistogram(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "h.svg"), filepath.Join(dir, "h.png")
	var b bytes.Buffer
	b.WriteString("timer,bin_lo,bin_hi,count\n")
	for i, tm := range []string{"busy", "sleep"} {
		for k := range 20 {
			n := int(1000 * math.Exp(-float64(k)/float64(2+2*i)))
			if k == 12 {
				n = 0 // an empty bin: a break on the log axis
			}
			fmt.Fprintf(&b, "%s,%g,%g,%d\n", tm, float64(k)*0.5, float64(k+1)*0.5, n)
		}
	}
	for _, logY := range []bool{false, true} {
		f := Figure{Name: "hist", Kind: "histogram", X: "err_us", Groups: []string{"timer"}, LogY: logY, Title: "epsilon histogram"}
		if err := Render(b.Bytes(), f, svgPath, pngPath); err != nil {
			t.Fatal(err)
		}
		checkOutputs(t, svgPath, pngPath, 900, 630, "epsilon histogram", "send-time error ε (µs)", "packets per bin", "timer=busy", "timer=sleep")
	}
}

func TestRenderSummaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Figure
		csv  string
		want string
	}{
		{"log y zero", Figure{Name: "l", Kind: "lines", X: "batch", Y: "rx_pps", LogY: true}, "batch,rx_pps\n1,5\n2,0\n", `line 3: log y axis: rx_pps = 0 (at batch = 2) is not above 0`},
		{"log x zero", Figure{Name: "l", Kind: "lines", X: "batch", Y: "rx_pps", LogX: true}, "batch,rx_pps\n0,5\n", `line 2: log x axis: batch = 0 is not above 0`},
		{"label", Figure{Name: "l", Kind: "lines", X: "rate", Y: "rx_pps"}, "rate,rx_pps\n1Gbps,5\ngaps file,3\n", `column rate: "gaps file" is not a number`},
		{"mixed", Figure{Name: "l", Kind: "lines", X: "v", Y: "rx_pps"}, "v,rx_pps\n64B,5\n70us,3\n", `column v: "64B" is a size but "70us" is a duration`},
		{"lines y", Figure{Name: "l", Kind: "lines", X: "batch", Y: "rx_pps"}, "batch,rx_pps\n1,x\n", `line 2: column rx_pps: bad number "x"`},
		{"lines by", Figure{Name: "l", Kind: "lines", X: "batch", Y: "rx_pps", Groups: []string{"mode"}}, "batch,rx_pps\n1,1\n", `line 1: no column "mode"`},
		{"bars y", Figure{Name: "b", Kind: "bars", X: "interval", Y: "cpu_pct"}, "interval,cpu_pct\n70us,\n", `line 2: column cpu_pct: bad number ""`},
		{"bars groups", Figure{Name: "b", Kind: "bars", X: "interval", Y: "cpu_pct"}, "timer,cpu_pct\n", `line 1: no column "interval"`},
		{"hist columns", Figure{Name: "h", Kind: "histogram", X: "err_us"}, "lo,hi,count\n", `line 1: no column "bin_lo"`},
		{"hist bin", Figure{Name: "h", Kind: "histogram", X: "err_us"}, "bin_lo,bin_hi,count\n2,1,5\n", `line 2: want bin_lo <= bin_hi`},
		{"hist log empty", Figure{Name: "h", Kind: "histogram", X: "err_us", LogY: true}, "bin_lo,bin_hi,count\n1,2,0\n", `log y axis: every bin is empty`},
		{"empty", Figure{Name: "b", Kind: "bars", X: "a", Y: "b"}, "", "line 1: empty input"},
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

func TestRenderSummaryEmptySkips(t *testing.T) {
	dir := t.TempDir()
	svgPath, pngPath := filepath.Join(dir, "e.svg"), filepath.Join(dir, "e.png")
	for _, tc := range []struct {
		f   Figure
		csv string
	}{
		{Figure{Name: "e", Kind: "lines", X: "batch", Y: "rx_pps", LogX: true}, "batch,rx_pps,runs\n"},
		{Figure{Name: "e", Kind: "bars", X: "interval", Y: "cpu_pct", Groups: []string{"timer"}}, "interval,timer,cpu_pct,runs\n"},
		{Figure{Name: "e", Kind: "histogram", X: "err_us", LogY: true}, "bin_lo,bin_hi,count\n"},
	} {
		os.WriteFile(pngPath, []byte("stale"), 0o644)
		if err := Render([]byte(tc.csv), tc.f, svgPath, pngPath); err != nil {
			t.Fatalf("%s: %v", tc.f.Kind, err)
		}
		for _, p := range []string{svgPath, pngPath} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s exists (%v)", tc.f.Kind, p, err)
			}
		}
	}
}
