package plan

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/labrun/labrun/results"
)

// Printable returns s safe to write to a terminal: every control character
// (C0, DEL, C1, ESC), every bidirectional override and every byte that is
// not UTF-8 is escaped as in a Go string literal (\x1b, \n, \u202e), so a
// string from a script (a label, a name, an error) cannot move the cursor,
// clear the screen or reorder what is shown. Anything else, µ included,
// is kept. It is the one helper every terminal output of script strings
// goes through.
func Printable(s string) string { return printable(s, false) }

// PrintableLines is Printable for a message of several lines: it keeps the
// newlines.
func PrintableLines(s string) string { return printable(s, true) }

func printable(s string, keepNewlines bool) string {
	if !needsEscape(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || (r < 0x20 && !(r == '\n' && keepNewlines)) || r == 0x7f || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune reports the non-ASCII runes a terminal acts on: C1 controls,
// line and paragraph separators and bidirectional overrides.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// EscapeTable makes every header and cell of t Printable, before the
// table measures its columns.
func EscapeTable(t *results.Table) {
	t.Title = Printable(t.Title)
	for i, h := range t.Header {
		t.Header[i] = Printable(h)
	}
	for _, row := range t.Cells {
		for i, c := range row {
			row[i] = Printable(c)
		}
	}
}
