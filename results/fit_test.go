package results

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// wideTable is a table like replay_vs_tcpreplay's topspeed one: two
// row-label columns and 14 metric columns, far wider than a terminal.
func wideTable() Table {
	t := Table{Title: "topspeed", Header: []string{"sender", "sink"}, Notes: []string{"median of 3 repetitions"}}
	for m := range 14 {
		t.Header = append(t.Header, fmt.Sprintf("metric number %d (unit)", m))
	}
	for r, s := range []string{"labrun", "tcpreplay(topspeed)", "trafgen"} {
		row := []string{s, "afpacket"}
		for m := range 14 {
			row = append(row, fmt.Sprintf("%d.%d", r*1000+m, m))
		}
		if r == 1 {
			row[5] += " *"
		}
		t.Cells = append(t.Cells, row)
	}
	return t
}

// A table wider than the terminal is printed in parts no wider than it,
// each with the row labels; every column and value is printed once, in
// order, and the notes once at the end.
func TestWriteTextWidthSplits(t *testing.T) {
	tbl := wideTable()
	var whole bytes.Buffer
	if err := tbl.WriteTextWidth(&whole, 0); err != nil {
		t.Fatal(err)
	}
	if w := maxLineWidth(whole.String()); w <= 100 {
		t.Fatalf("the test table is only %d wide", w)
	}
	for _, width := range []int{100, 60} {
		var b bytes.Buffer
		if err := tbl.WriteTextWidth(&b, width); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if w := maxLineWidth(out); w > width {
			t.Errorf("width %d: a line is %d wide:\n%s", width, w, out)
		}
		parts := strings.Count(out, "split to fit")
		if parts < 2 {
			t.Errorf("width %d: %d parts", width, parts)
		}
		if n := strings.Count(out, "tcpreplay(topspeed)"); n != parts {
			t.Errorf("width %d: the row label is in %d of %d parts", width, n, parts)
		}
		last := -1
		for _, h := range tbl.Header[2:] {
			i := strings.Index(out, h+" ")
			if i < 0 || strings.Count(out, h+" ") != 1 || i < last {
				t.Errorf("width %d: column %q printed %d times, or out of order", width, h, strings.Count(out, h+" "))
			}
			last = i
		}
		for _, row := range tbl.Cells {
			for _, c := range row[2:] {
				if !strings.Contains(out, " "+c+" ") {
					t.Errorf("width %d: value %q missing", width, c)
				}
			}
		}
		if strings.Count(out, "median of 3 repetitions") != 1 || !strings.HasSuffix(out, "median of 3 repetitions\n") {
			t.Errorf("width %d: the note is not printed once at the end", width)
		}
	}
}

// A table that fits, or output that is not a terminal, is printed whole:
// WriteText to a buffer or a file is the golden rendering.
func TestWriteTextKeepsWholeOffTerminal(t *testing.T) {
	tbl := wideTable()
	var whole, fits, buf bytes.Buffer
	tbl.WriteTextWidth(&whole, 0)
	tbl.WriteTextWidth(&fits, 10_000)
	tbl.WriteText(&buf)
	if fits.String() != whole.String() || buf.String() != whole.String() {
		t.Error("a table that fits, or written to a buffer, is not printed whole")
	}
	t.Setenv("COLUMNS", "40")
	f, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if w := terminalWidth(f); w != 0 {
		t.Errorf("a file has terminal width %d; want 0 (not a terminal), whatever COLUMNS says", w)
	}
}

func maxLineWidth(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, utf8.RuneCountInString(l))
	}
	return w
}

func TestLabelColumns(t *testing.T) {
	for _, c := range []struct {
		name  string
		cells [][]string
		want  int
	}{
		{"two labels", [][]string{{"a", "b", "1", "2"}}, 2},
		{"best mark is a number", [][]string{{"a", "1.5 *", "-"}}, 1},
		{"a numeric label counts as one", [][]string{{"64", "1", "2"}}, 1},
		{"no rows: every column labels, the table stays whole", nil, 4},
	} {
		tbl := Table{Header: make([]string, 4), Cells: c.cells}
		if len(c.cells) > 0 {
			tbl.Header = make([]string, len(c.cells[0]))
		}
		if got := tbl.labelColumns(); got != c.want {
			t.Errorf("%s: %d label columns, want %d", c.name, got, c.want)
		}
	}
}
