package plot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Twelve series (and up to 24) get distinct styles: distinct as drawn
// with markers (lines figures), and distinct as lines alone (cdf,
// histogram), where the marker does not show.
func TestStylesDistinct(t *testing.T) {
	for _, n := range []int{12, len(palette) * len(dashPatterns)} {
		full, lineOnly := map[string]int{}, map[string]int{}
		for i := range n {
			s := styleOf(i)
			r, g, b, _ := s.color.RGBA()
			line := fmt.Sprintf("%d,%d,%d %v", r, g, b, s.dashes)
			key := fmt.Sprintf("%s %T", line, s.glyph)
			if j, ok := full[key]; ok {
				t.Errorf("%d series: series %d and %d look the same (%s)", n, j, i, key)
			}
			if j, ok := lineOnly[line]; ok {
				t.Errorf("%d series: as lines, series %d and %d look the same (%s)", n, j, i, line)
			}
			full[key], lineOnly[line] = i, i
		}
	}
}

// A lines figure of twelve groups draws, with a legend entry per group.
func TestTwelveLinesRender(t *testing.T) {
	var b strings.Builder
	b.WriteString("sender,rate,iat_err_p95_us\n")
	for g := range 12 {
		for _, r := range []string{"1kpps", "10kpps", "100kpps"} {
			fmt.Fprintf(&b, "s%d,%s,%d\n", g, r, 10+g)
		}
	}
	dir := t.TempDir()
	f := Figure{Name: "l", Kind: "lines", X: "rate", Y: "iat_err_p95_us", Groups: []string{"sender"}}
	svg := filepath.Join(dir, "l.svg")
	if err := Render([]byte(b.String()), f, svg, ""); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, svg)
	for g := range 12 {
		if !strings.Contains(data, fmt.Sprintf("sender=s%d<", g)) {
			t.Errorf("no legend entry for sender=s%d", g)
		}
	}
	if !strings.Contains(data, "stroke-dasharray") {
		t.Error("no dashed line among twelve groups")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
