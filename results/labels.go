package results

import (
	"math"
	"strconv"
	"strings"
)

// metricLabels maps metric names to the headers shown in tables.
// Metric names not listed here are shown unchanged.
var metricLabels = map[string]string{
	"cpu_pct":        "CPU %",
	"proc_cpu_pct":   "proc CPU %",
	"err_mean_us":    "ε mean (us)",
	"err_min_us":     "ε min (us)",
	"err_p50_us":     "ε p50 (us)",
	"err_p99_us":     "ε p99 (us)",
	"err_p999_us":    "ε p99.9 (us)",
	"err_max_us":     "ε max (us)",
	"err_std_us":     "ε std (us)",
	"rate_pps":       "rate (pps)",
	"rate_req_pps":   "requested (pps)",
	"packets":        "packets",
	"wall_s":         "wall (s)",
	"err_p90_us":     "ε p90 (us)",
	"drift_us":       "drift (us)",
	"gap_err_p50_us": "gap err p50 (us)",
	"gap_err_p99_us": "gap err p99 (us)",
	"gap_err_sum_us": "gap err sum (us)",
	"read_p50_us":    "read p50 (us)",
	"read_p99_us":    "read p99 (us)",
	"read_p999_us":   "read p99.9 (us)",
	"read_max_us":    "read max (us)",
	"skipped":        "skipped",
	"timer_sleeps":   "sleeps",
	"firm_margin_us": "firm margin (us)",
}

// MetricLabel returns the human-readable column header for a metric name,
// e.g. "err_p99_us" -> "ε p99 (us)" and "cpu_pct" -> "CPU %".
// Unknown names are returned unchanged.
func MetricLabel(name string) string {
	if l, ok := metricLabels[name]; ok {
		return l
	}
	return name
}

// FormatValue formats a metric value for a table cell.
//
// Integral values are printed without decimals ("78"). Other values are
// rounded (half away from zero) to 3 significant digits, but never below the
// integer part: 0.0123 -> "0.0123", 12.345 -> "12.3", 1234.5 -> "1235".
// Trailing zeros after the decimal point are dropped (1.5 -> "1.5", not
// "1.50"). NaN, the marker for "no value", is printed as "-"; infinities as
// "+Inf" and "-Inf".
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0" // also turns -0 into "0"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	a := math.Abs(v)
	if a < 1e-6 {
		// Far below anything labrun measures; avoid a long run of zeros.
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	// Integer digits (<= 0 for |v| < 1) decide how many decimals are left
	// for 3 significant digits.
	decimals := max(3-(int(math.Floor(math.Log10(a)))+1), 0)
	r := roundTo(v, decimals)
	if decimals > 0 && math.Abs(r) >= math.Pow10(3-decimals) {
		// Rounding carried into a new digit (9.996 -> 10.0): one decimal less.
		decimals--
		r = roundTo(v, decimals)
	}
	s := strconv.FormatFloat(r, 'f', decimals, 64)
	if decimals > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// roundTo rounds v to the given number of decimals, half away from zero.
func roundTo(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
