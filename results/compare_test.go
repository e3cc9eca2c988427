package results

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeResult writes a result folder with one run whose per-packet errors
// are draw(i) ns, and its runs.csv row.
func fakeResult(t *testing.T, interval string, draw func(i int) int64) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "series"), 0o755)
	var b strings.Builder
	b.WriteString("packet,scheduled_ns,actual_ns,error_ns\n")
	vals := make([]float64, 5000)
	for i := range vals {
		e := draw(i)
		vals[i] = float64(e)
		fmt.Fprintf(&b, "%d,%d,%d,%d\n", i, i*1000, i*1000+int(e), e)
	}
	os.WriteFile(filepath.Join(dir, "series", "r1.csv"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"runs": [{"id": "r1", "series": "series/r1.csv"}]}`), 0o644)
	p50 := quantileOf(sortedCopy(vals), 0.5) / 1e3
	os.WriteFile(filepath.Join(dir, "runs.csv"), []byte(fmt.Sprintf("id,interval,timer,err_p50_us,cpu_pct\nr1,%s,sleep,%g,5\n", interval, p50)), 0o644)
	return dir
}

func sortedCopy(v []float64) []float64 {
	c := append([]float64(nil), v...)
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j] < c[j-1]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c
}

// Two runs drawn from the same distribution are within noise; a run whose
// errors doubled (another interval) is reported higher, with an interval
// that excludes 1, and --fail-if makes it a regression.
func TestCompare(t *testing.T) {
	r1 := rand.New(rand.NewPCG(1, 1))
	r2 := rand.New(rand.NewPCG(2, 2))
	r3 := rand.New(rand.NewPCG(3, 3))
	a := fakeResult(t, "70us", func(int) int64 { return int64(60000 + r1.ExpFloat64()*20000) })
	same := fakeResult(t, "70us", func(int) int64 { return int64(60000 + r2.ExpFloat64()*20000) })
	other := fakeResult(t, "2500us", func(int) int64 { return int64(120000 + r3.ExpFloat64()*40000) })

	c, err := Compare(CompareOptions{A: a, B: same, Metrics: []string{"err_p50_us", "cpu_pct"}, Resamples: 300})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 2 || c.Rows[0].Verdict != "within noise" || c.Rows[1].Verdict != "same" {
		t.Fatalf("same distribution: %+v", c.Rows)
	}
	th, _ := ParseThreshold("err_p50_us=1.2")
	c, err = Compare(CompareOptions{A: a, B: other, Metrics: []string{"err_p50_us"}, Resamples: 300, FailIf: []Threshold{th}})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Rows[0]
	if math.IsNaN(r.Lo) || r.Lo <= 1 || r.Hi < r.Lo || !strings.HasPrefix(r.Verdict, "higher") || c.Regressions != 1 || !strings.Contains(r.Run, "interval=2500us") {
		t.Fatalf("doubled errors: %+v (regressions %d)", r, c.Regressions)
	}
	if _, err := ParseThreshold("nope=2"); err == nil {
		t.Error("unknown metric in --fail-if: no error")
	}
	if _, err := Compare(CompareOptions{A: t.TempDir(), B: a}); err == nil || !strings.Contains(err.Error(), "not a labrun result folder") {
		t.Errorf("empty folder: %v", err)
	}
}

// With repeats, A and B are medians over them and the interval comes from
// how the runs vary: the same values on both sides are within noise, a
// doubling is higher.
func TestCompareRepeats(t *testing.T) {
	write := func(vals []float64) string {
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("id,rep,timer,cpu_pct\n")
		for i, v := range vals {
			fmt.Fprintf(&b, "r%d,%d,firm,%g\n", i, i, v)
		}
		os.WriteFile(filepath.Join(dir, "runs.csv"), []byte(b.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"runs": []}`), 0o644)
		return dir
	}
	a := write([]float64{10, 12, 9, 11, 10})
	same := write([]float64{11, 9, 10, 12, 10.5})
	double := write([]float64{20, 23, 21, 19, 22})
	c, err := Compare(CompareOptions{A: a, B: same, Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 1 || c.Rows[0].Verdict != "within noise" || c.Rows[0].A != 10 || c.Rows[0].B != 10.5 {
		t.Fatalf("same spread: %+v", c.Rows)
	}
	c, err = Compare(CompareOptions{A: a, B: double, Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Rows[0]; r.Verdict != "higher" || r.Lo <= 1 {
		t.Fatalf("doubled: %+v", r)
	}
}
