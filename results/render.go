package results

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteText renders the table for a terminal: the title on its own line, the
// table drawn with Unicode box characters, then one line per note. Columns
// whose cells are all numbers (or "-") are right-aligned, others
// left-aligned. The output depends only on the table, not on the locale, so
// it can be compared against golden files. When w is a terminal narrower
// than the table ($COLUMNS, else the terminal's width), the table is
// printed in parts that fit (see WriteTextWidth); anywhere else it is
// printed whole.
func (t Table) WriteText(w io.Writer) error {
	return t.WriteTextWidth(w, terminalWidth(w))
}

// writeText renders the whole table (see WriteText).
func (t Table) writeText(w io.Writer) error {
	var buf bytes.Buffer
	if t.Title != "" {
		fmt.Fprintln(&buf, t.Title)
	}
	if err := t.render(&buf, renderer.NewBlueprint(), t.Header, t.Cells); err != nil {
		return err
	}
	for _, n := range t.Notes {
		fmt.Fprintln(&buf, n)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteMarkdown renders the table as a GitHub-flavoured Markdown table with
// "### Title" above it and each note as a plain paragraph below it. Numeric
// columns are right-aligned; "|" in cells is escaped.
func (t Table) WriteMarkdown(w io.Writer) error {
	var buf bytes.Buffer
	if t.Title != "" {
		fmt.Fprintf(&buf, "### %s\n\n", strings.Join(strings.Fields(t.Title), " "))
	}
	header := escapeMarkdown(t.Header)
	cells := make([][]string, len(t.Cells))
	for i, row := range t.Cells {
		cells[i] = escapeMarkdown(row)
	}
	if err := t.render(&buf, renderer.NewMarkdown(), header, cells); err != nil {
		return err
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&buf, "\n%s\n", n)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// render draws header and cells with the given tablewriter renderer.
func (t Table) render(w io.Writer, r tw.Renderer, header []string, cells [][]string) error {
	tbl := tablewriter.NewTable(w,
		tablewriter.WithRenderer(r),
		// Keep headers as given: no upper-casing, no "_" -> " ".
		tablewriter.WithHeaderAutoFormat(tw.Off),
		// Never wrap or truncate: these tables are meant to be complete.
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		// Measure "ε" and the like as one column regardless of locale.
		// Note that tablewriter keeps this setting process-wide.
		tablewriter.WithEastAsian(tw.Off),
		tablewriter.WithAlignment(t.alignment()),
	)
	tbl.Header(header)
	if err := tbl.Bulk(cells); err != nil {
		return fmt.Errorf("results: render table %q: %w", t.Title, err)
	}
	if err := tbl.Render(); err != nil {
		return fmt.Errorf("results: render table %q: %w", t.Title, err)
	}
	return nil
}

// alignment right-aligns the columns whose cells are all numbers or "-",
// and left-aligns the rest (and every column of a table without rows).
func (t Table) alignment() tw.Alignment {
	align := make(tw.Alignment, len(t.Header))
	for c := range align {
		align[c] = tw.AlignRight
		if len(t.Cells) == 0 {
			align[c] = tw.AlignLeft
		}
		for _, row := range t.Cells {
			if c < len(row) && row[c] != "-" {
				if _, err := strconv.ParseFloat(row[c], 64); err != nil {
					align[c] = tw.AlignLeft
					break
				}
			}
		}
	}
	return align
}

// mdEscaper keeps a cell on its one line and in its one column: "|" is
// escaped and a line break becomes "<br>", which Markdown renderers show
// as a break inside the cell.
var mdEscaper = strings.NewReplacer("|", `\|`, "\r\n", "<br>", "\n", "<br>", "\r", "<br>")

// escapeMarkdown escapes "|" and line breaks so a cell cannot split a
// Markdown table row or column.
func escapeMarkdown(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = mdEscaper.Replace(c)
	}
	return out
}

// WriteCSV writes the table as CSV: its header, then its cells, text
// cells escaped against spreadsheet formulas (CSVCell).
func (t Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvCells(t.Header)); err != nil {
		return err
	}
	for _, row := range t.Cells {
		if err := cw.Write(csvCells(row)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = CSVCell(c)
	}
	return out
}
