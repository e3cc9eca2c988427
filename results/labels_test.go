package results

import (
	"math"
	"testing"
)

func TestMetricLabel(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		// CPU share of the whole machine.
		{"cpu_pct", "CPU %"},
		// CPU share of the measured process.
		{"proc_cpu_pct", "proc CPU %"},
		// Timing error statistics use ε and keep the unit.
		{"err_mean_us", "ε mean (us)"},
		{"err_min_us", "ε min (us)"},
		{"err_p50_us", "ε p50 (us)"},
		{"err_p99_us", "ε p99 (us)"},
		// p999 reads as the 99.9th percentile.
		{"err_p999_us", "ε p99.9 (us)"},
		{"err_max_us", "ε max (us)"},
		{"err_std_us", "ε std (us)"},
		// Achieved and requested packet rates.
		{"rate_pps", "rate (pps)"},
		{"rate_req_pps", "requested (pps)"},
		// Plain counts keep their name.
		{"packets", "packets"},
		{"wall_s", "wall (s)"},
		// Unknown names come back unchanged.
		{"jitter_ns", "jitter_ns"},
		// The empty name too.
		{"", ""},
	}
	for _, tc := range tests {
		if got := MetricLabel(tc.name); got != tc.want {
			t.Errorf("MetricLabel(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		// Integers print without decimals.
		{78, "78"},
		// Zero, and negative zero, print as "0".
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		// Large integers are not shortened.
		{123456789, "123456789"},
		// Below 1: 3 significant digits.
		{0.0123, "0.0123"},
		{0.123456, "0.123"},
		// Two integer digits leave one decimal.
		{12.345, "12.3"},
		// Negative values round the same way.
		{-12.345, "-12.3"},
		// Three integer digits leave no decimals.
		{123.456, "123"},
		// The integer part is kept even beyond 3 digits; halves round up.
		{1234.5, "1235"},
		// Halves round away from zero, also for negative values.
		{-1234.5, "-1235"},
		// Trailing zeros are dropped.
		{1.5, "1.5"},
		{0.5, "0.5"},
		// Rounding that carries into a new digit keeps 3 significant digits.
		{9.996, "10"},
		{99.95, "100"},
		{0.9996, "1"},
		{0.09996, "0.1"},
		// Tiny values switch to exponent notation.
		{1.234e-7, "1.23e-07"},
		// NaN means "no value".
		{math.NaN(), "-"},
		// Infinities are spelled out.
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
	}
	for _, tc := range tests {
		if got := FormatValue(tc.v); got != tc.want {
			t.Errorf("FormatValue(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
