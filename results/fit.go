package results

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/renderer"
	"golang.org/x/sys/unix"
)

// terminalWidth is the width of the terminal w writes to: $COLUMNS when
// set to a number, else the terminal's own (TIOCGWINSZ); 0 when w is not
// a terminal (a pipe, a file, a buffer), where a table is kept whole.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	return int(ws.Col)
}

// WriteTextWidth renders the table as WriteText does, fitted to width
// characters: a table wider than that is printed as several tables, each
// with the row-label columns and as many of the other columns as fit, in
// order; the title names the part. width <= 0 keeps the table whole.
func (t Table) WriteTextWidth(w io.Writer, width int) error {
	parts := t.split(width)
	if len(parts) <= 1 {
		return t.writeText(w)
	}
	var buf bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			buf.WriteByte('\n')
		}
		fmt.Fprintf(&buf, "%s (part %d of %d, split to fit %d columns)\n", cmpTitle(t.Title), i+1, len(parts), width)
		if err := t.render(&buf, renderer.NewBlueprint(), p.Header, p.Cells); err != nil {
			return err
		}
	}
	for _, n := range t.Notes {
		fmt.Fprintln(&buf, n)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func cmpTitle(s string) string {
	if s == "" {
		return "table"
	}
	return s
}

// split cuts the table into tables no wider than width (drawn with box
// characters: each column takes its widest cell plus 3, the table 1
// more), each repeating the row-label columns. A table that fits, or a
// width <= 0, gives the table itself.
func (t Table) split(width int) []Table {
	widths := make([]int, len(t.Header))
	for c, h := range t.Header {
		widths[c] = utf8.RuneCountInString(h)
		for _, row := range t.Cells {
			if c < len(row) {
				widths[c] = max(widths[c], utf8.RuneCountInString(row[c]))
			}
		}
	}
	total := 1
	for _, w := range widths {
		total += w + 3
	}
	labels := t.labelColumns()
	if width <= 0 || total <= width || labels >= len(t.Header) {
		return []Table{t}
	}
	base := 1
	for _, w := range widths[:labels] {
		base += w + 3
	}
	var parts []Table
	for c := labels; c < len(t.Header); {
		cols, used := []int{}, base
		for c < len(t.Header) && (len(cols) == 0 || used+widths[c]+3 <= width) {
			cols = append(cols, c)
			used += widths[c] + 3
			c++
		}
		parts = append(parts, t.columns(labels, cols))
	}
	return parts
}

// columns is the table of the first labels columns and the columns cols.
func (t Table) columns(labels int, cols []int) Table {
	pick := func(row []string) []string {
		out := make([]string, 0, labels+len(cols))
		for c := range labels {
			out = append(out, cell(row, c))
		}
		for _, c := range cols {
			out = append(out, cell(row, c))
		}
		return out
	}
	p := Table{Title: t.Title, Header: pick(t.Header)}
	for _, row := range t.Cells {
		p.Cells = append(p.Cells, pick(row))
	}
	return p
}

func cell(row []string, c int) string {
	if c < len(row) {
		return row[c]
	}
	return ""
}

// labelColumns counts the leading columns that label rows: those whose
// cells are not all numbers (a value marked best, "12.5 *", is a number),
// at least one. In a table without rows every column counts.
func (t Table) labelColumns() int {
	n := 0
	for c := range t.Header {
		numeric := len(t.Cells) > 0
		for _, row := range t.Cells {
			v := strings.TrimSuffix(cell(row, c), " *")
			if v == "-" {
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				numeric = false
				break
			}
		}
		if numeric {
			break
		}
		n++
	}
	return max(n, 1)
}
