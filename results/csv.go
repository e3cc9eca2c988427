package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// WriteRunsCSV writes the runs as tidy CSV, one line per Row.
//
// The header is "id", then the parameter names in paramOrder, then the metric
// names in metricOrder. Parameters or metrics that occur in rows but are not
// listed are appended after the listed ones in sorted order, so no measured
// data is dropped (nil orders thus give sorted columns); duplicates are
// written once. Metric values are formatted with strconv 'g' and full
// precision; a parameter or metric a run lacks is an empty cell.
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
	metrics := columnOrder(metricOrder, extraM)

	cw := csv.NewWriter(w)
	header := append(append([]string{"id"}, params...), metrics...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("results: write runs CSV: %w", err)
	}
	rec := make([]string, len(header))
	for _, r := range rows {
		rec = rec[:0]
		rec = append(rec, r.ID)
		for _, p := range params {
			rec = append(rec, r.Params[p])
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
