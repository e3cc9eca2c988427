package results

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteRunsCSV writes the runs as tidy CSV, one line per Row.
//
// The header is "id", "status", then the parameter names in paramOrder, then
// the metric names in metricOrder that some row has: a metric no run
// measured gets no column. Parameters or metrics that occur in
// rows but are not listed are appended after the listed ones in sorted
// order, so no measured data is dropped (nil orders thus give sorted
// columns); duplicates are written once. Metric values are formatted with
// strconv 'g' and full precision; a parameter or metric a run lacks is an
// empty cell. Text cells are escaped against spreadsheet formulas (CSVCell).
func WriteRunsCSV(w io.Writer, paramOrder, metricOrder []string, rows []Row) error {
	var extraP, extraM []string
	for _, r := range rows {
		for p := range r.Params {
			extraP = append(extraP, p)
		}
		for m := range r.Metrics {
			extraM = append(extraM, m)
		}
	}
	params := columnOrder(paramOrder, extraP)
	metrics := columnOrder(filled(metricOrder, extraM), extraM)

	cw := csv.NewWriter(w)
	header := append(append([]string{"id", "status"}, params...), metrics...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("results: write runs CSV: %w", err)
	}
	rec := make([]string, len(header))
	for _, r := range rows {
		rec = rec[:0]
		rec = append(rec, CSVCell(r.ID), CSVCell(cmp.Or(r.Status, "ok")))
		for _, p := range params {
			rec = append(rec, CSVCell(r.Params[p]))
		}
		for _, m := range metrics {
			cell := ""
			if v, ok := r.Metrics[m]; ok {
				cell = strconv.FormatFloat(v, 'g', -1, 64)
			}
			rec = append(rec, cell)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("results: write runs CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("results: write runs CSV: %w", err)
	}
	return nil
}

// filled keeps the names of order that are in present.
func filled(order, present []string) []string {
	var out []string
	for _, n := range order {
		if slices.Contains(present, n) {
			out = append(out, n)
		}
	}
	return out
}

// CSVCell makes a text cell safe to open in a spreadsheet: a cell that
// starts with =, +, -, @, a tab or a carriage return, and is not a number,
// would be run as a formula, so it gets a leading single quote (as does a
// cell that already starts with a quote followed by one of those, so that
// ParseCSVCell gives back the original). Numbers and "-" (no value) are
// left as they are.
func CSVCell(s string) string {
	if s == "" || s == "-" {
		return s
	}
	c := s
	if c[0] == '\'' {
		c = c[1:]
	}
	if c == "" || !strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return s
	}
	if c == s {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s
		}
	}
	return "'" + s
}

// ParseCSVCell undoes CSVCell.
func ParseCSVCell(s string) string {
	if len(s) >= 2 && s[0] == '\'' && (strings.ContainsRune("=+-@\t\r", rune(s[1])) || s[1] == '\'' && CSVCell(s[1:]) == s) {
		return s[1:]
	}
	return s
}

// columnOrder returns order without duplicates, followed by the sorted names
// in extra that order does not list.
func columnOrder(order, extra []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range order {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	var rest []string
	for _, n := range extra {
		if !seen[n] {
			seen[n] = true
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
