package results

import (
	"bytes"
	"strings"
	"testing"
)

func TestMarkdownEscaping(t *testing.T) {
	// A label may hold anything a script wrote: a cell stays one cell of
	// one row.
	tests := []struct {
		name, cell, want string
	}{
		{"pipe", "a|b", `a\|b`},
		{"newline", "two\nlines", "two<br>lines"},
		{"crlf", "two\r\nlines", "two<br>lines"},
		{"cr", "two\rlines", "two<br>lines"},
		{"both", "a|\nb", `a\|<br>b`},
		{"plain", "busy", "busy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := Table{Title: "t\nitle", Header: []string{"label", "x"}, Cells: [][]string{{tc.cell, "1"}}}
			var b bytes.Buffer
			if err := tb.WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			// "### t itle", "", header, separator, one row.
			if len(lines) != 5 || lines[0] != "### t itle" {
				t.Fatalf("markdown is not one table row:\n%s", b.String())
			}
			if !strings.Contains(lines[4], tc.want) {
				t.Errorf("row %q lacks %q", lines[4], tc.want)
			}
			// Three column separators: the cell did not split.
			if n := strings.Count(lines[4], "|") - strings.Count(lines[4], `\|`); n != 3 {
				t.Errorf("row %q has %d separators, want 3", lines[4], n)
			}
		})
	}
}

func TestTableCSVEscaping(t *testing.T) {
	// Expectations and other tables written as CSV: formulas quoted,
	// numbers and "-" untouched.
	tb := Table{Header: []string{"expectation", "measured", "bound"}, Cells: [][]string{
		{"=cmd()", "-3.5", "< 20"},
		{"@x", "-", "+Inf"},
	}}
	var b bytes.Buffer
	if err := tb.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "expectation,measured,bound\n'=cmd(),-3.5,< 20\n'@x,-,+Inf\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
