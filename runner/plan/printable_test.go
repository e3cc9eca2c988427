package plan

import (
	"testing"
)

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want, lines string }{
		// Plain text and non-ASCII letters are kept.
		{"busy 70µs", "busy 70µs", "busy 70µs"},
		// ESC: a label that would clear the screen.
		{"a\x1b[2Jb", `a\x1b[2Jb`, `a\x1b[2Jb`},
		// Newlines: escaped in a cell, kept in a message of lines.
		{"a\nb", `a\nb`, "a\nb"},
		// Carriage return, tab, BEL, DEL.
		{"\r\t\a\x7f", `\r\t\x07\x7f`, `\r\t\x07\x7f`},
		// C1 controls (CSI as one rune) and a bidirectional override.
		{"x\u009b2Jy\u202e", `x\u009b2Jy\u202e`, `x\u009b2Jy\u202e`},
		// A byte that is not UTF-8.
		{"\xff", `\xff`, `\xff`},
	}
	for _, tc := range tests {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := PrintableLines(tc.in); got != tc.lines {
			t.Errorf("PrintableLines(%q) = %q, want %q", tc.in, got, tc.lines)
		}
	}
}
