package figure

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labrun/labrun/results"
)

func TestCDFRanks(t *testing.T) {
	// Short series keep every rank; long ones 1000 spaced ranks plus the
	// whole top 0.1 %, in increasing order, ending at the maximum.
	for _, n := range []int{1, 2000, 2001, 5000, 1_000_000} {
		r := cdfRanks(n)
		if n <= 2000 && len(r) != n {
			t.Errorf("n=%d: %d ranks", n, len(r))
		}
		if n > 2000 && (len(r) > 1000+n/1000+1 || len(r) < 1000) {
			t.Errorf("n=%d: %d ranks", n, len(r))
		}
		for i := 1; i < len(r); i++ {
			if r[i] <= r[i-1] {
				t.Fatalf("n=%d: ranks not increasing at %d: %d, %d", n, i, r[i-1], r[i])
			}
		}
		if r[0] != 0 || r[len(r)-1] != n-1 {
			t.Errorf("n=%d: ranks from %d to %d", n, r[0], r[len(r)-1])
		}
	}
}

// A cdf's where keeps the runs whose parameters match: the paced runs of
// a table that also holds topspeed ones.
func TestCDFWhere(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "series"), 0o755)
	for _, id := range []string{"paced", "topspeed"} {
		os.WriteFile(filepath.Join(dir, "series", id+".csv"), []byte("packet,scheduled_ns,actual_ns,error_ns\n0,0,10,10\n1,1000,1020,20\n"), 0o644)
	}
	rows := []results.Row{
		{ID: "paced", Params: map[string]string{"workload": "paced"}, Status: "ok"},
		{ID: "topspeed", Params: map[string]string{"workload": "topspeed"}, Status: "ok"},
	}
	for _, c := range []struct {
		where map[string][]string
		want  []string // run IDs in the data
	}{
		{nil, []string{"paced", "topspeed"}},
		{map[string][]string{"workload": {"paced"}}, []string{"paced"}},
	} {
		b, err := FigureData(dir, results.FigureSpec{Name: "c", Kind: "cdf", X: "err_us", Where: c.where}, rows)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			if id, _, _ := strings.Cut(line, ","); !slices.Contains(got, id) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("where %v: runs %v, want %v:\n%s", c.where, got, c.want, b)
		}
	}
}
