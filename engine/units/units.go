// Package units parses and prints the quantities that labrun scripts
// write as strings: durations ("70us"), rates ("1Gbps", "500kpps") and
// sizes ("128MiB").
//
// This is the only place in labrun where units are parsed, and it is
// deliberately strict. A bare number is an error because it is ambiguous:
// "70" could mean 70ns or 70s, 70 bits or 70 packets per second, 70 bytes
// or 70 KiB, and guessing wrong silently skews a timing experiment by
// orders of magnitude. For the same reason the parsers reject spaces
// between number and unit, signs, exponents, hexadecimal, NaN and Inf,
// unknown or mis-cased units, values that overflow, and durations or sizes
// that are not a whole number of nanoseconds or bytes. Decimal fractions
// are parsed exactly, never through float64, so "0.1s" is exactly
// 100000000ns.
//
// Every error reads
//
//	bad <kind> "<input>": <reason>; accepted forms: <forms>
//
// where <forms> is [DurationForms], [RateForms] or [SizeForms].
//
// String methods print a canonical form that parses back to the identical
// value.
package units

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Accepted-forms text used in error messages, exported so that other
// packages can print it in help output.
const (
	// DurationForms lists example durations and the duration units.
	DurationForms = "70us, 2.5ms, 1s, 100ns (units: ns, us, µs, ms, s)"
	// RateForms lists example rates and the rate units.
	RateForms = "1Gbps, 100Mbps, 1.2Mpps, 500kpps (units: bps counts bits per second, pps packets per second; optional prefix k, M or G)"
	// SizeForms lists example sizes and the size units.
	SizeForms = "64B, 1500B, 128MiB, 1KiB, 1MB (units: B, KiB, MiB, GiB, kB, MB, GB)"
)

// Duration is a length of time in nanoseconds.
type Duration int64

// durationUnits maps each accepted duration unit to its length in
// nanoseconds. Both the micro sign (U+00B5) and Greek mu (U+03BC) are
// accepted for micro.
var durationUnits = map[string]int64{
	"ns": 1, "us": 1e3, "\u00b5s": 1e3, "\u03bcs": 1e3, "ms": 1e6, "s": 1e9,
}

// ParseDuration parses a non-negative decimal number immediately followed
// by one of the units ns, us (or µs), ms or s, such as "70us" or "2.5ms".
// The result must be a whole number of nanoseconds that fits in an int64.
func ParseDuration(s string) (Duration, error) {
	n, err := parseExact(s, "duration", DurationForms, "nanoseconds", durationUnits)
	return Duration(n), err
}

// String returns d in the largest unit not exceeding it, with no
// redundant zeros: 70000 is "70us", 2500000 is "2.5ms" and 0 is "0s".
// For d >= 0 the result parses back to d exactly.
func (d Duration) String() string {
	u, sign := uint64(d), ""
	if d < 0 {
		u, sign = -u, "-"
	}
	unit, exp := "ns", 0
	switch {
	case u == 0:
		return "0s"
	case u >= 1e9:
		unit, exp = "s", 9
	case u >= 1e6:
		unit, exp = "ms", 6
	case u >= 1e3:
		unit, exp = "us", 3
	}
	return sign + decimal(strconv.FormatUint(u, 10), -exp) + unit
}

// Nanoseconds returns d as an integer count of nanoseconds.
func (d Duration) Nanoseconds() int64 { return int64(d) }

// Size is an amount of data in bytes.
type Size int64

// sizeUnits maps each accepted size unit to its length in bytes.
var sizeUnits = map[string]int64{
	"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// ParseSize parses a non-negative decimal number immediately followed by
// one of the units B, KiB, MiB, GiB (powers of 1024) or kB, MB, GB (powers
// of 1000), such as "1500B" or "128MiB". The result must be a whole number
// of bytes that fits in an int64: "1.5KiB" is 1536 but "0.5B" is an error.
func ParseSize(s string) (Size, error) {
	n, err := parseExact(s, "size", SizeForms, "bytes", sizeUnits)
	return Size(n), err
}

// String returns s in the largest binary unit that divides it exactly,
// else in bytes: 64 is "64B", 134217728 is "128MiB" and 1536 is "1536B".
// For s >= 0 the result parses back to s exactly.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    Size
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && s%u.n == 0 {
			return strconv.FormatInt(int64(s/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// RateKind says what a [Rate] counts.
type RateKind int

// The kinds of rate.
const (
	// BitsPerSecond is a bit rate, written with the unit bps.
	BitsPerSecond RateKind = iota + 1
	// PacketsPerSecond is a packet rate, written with the unit pps.
	PacketsPerSecond
)

// Rate is a number of bits or packets per second.
type Rate struct {
	Kind      RateKind
	PerSecond float64
}

// ratePrefixes maps each accepted SI prefix to its power of ten.
var ratePrefixes = map[string]int{"": 0, "k": 3, "K": 3, "M": 6, "G": 9}

// ParseRate parses a non-negative decimal number immediately followed by
// an optional SI prefix (k or K, M, G) and the unit bps (bits per second)
// or pps (packets per second), such as "1Gbps" or "1.2Mpps". The number
// is rounded once, to the nearest float64.
func ParseRate(s string) (Rate, error) {
	fail := func(reason string) (Rate, error) { return Rate{}, parseError("rate", s, reason, RateForms) }
	intPart, frac, unit, reason := split(s)
	if reason != "" {
		return fail(reason)
	}
	var kind RateKind
	prefix, ok := strings.CutSuffix(unit, "bps")
	if ok {
		kind = BitsPerSecond
	} else if prefix, ok = strings.CutSuffix(unit, "pps"); ok {
		kind = PacketsPerSecond
	}
	exp, known := ratePrefixes[prefix]
	if !ok || !known {
		return fail(fmt.Sprintf("unknown unit %q", unit))
	}
	// Rounding digits×10^exp in one step keeps the result exact where
	// possible and makes String's output parse back identically.
	digits := intPart + frac
	v, err := strconv.ParseFloat(digits+"e"+strconv.Itoa(exp-len(frac)), 64)
	switch {
	case err != nil || math.IsInf(v, 0):
		return fail("too large")
	case v == 0 && strings.Trim(digits, "0") != "":
		return fail("too small")
	}
	return Rate{Kind: kind, PerSecond: v}, nil
}

// String returns r with the largest SI prefix not exceeding it and the
// shortest number that parses back to r exactly: "1Gbps", "1.2Mpps",
// "64bps".
func (r Rate) String() string {
	unit := "bps"
	switch r.Kind {
	case BitsPerSecond:
	case PacketsPerSecond:
		unit = "pps"
	default:
		return fmt.Sprintf("Rate{Kind: %d, PerSecond: %g}", r.Kind, r.PerSecond)
	}
	v := r.PerSecond
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64) + unit
	}
	// Shortest round-tripping decimal: mantissa digits and exponent.
	mant, e, _ := strings.Cut(strconv.FormatFloat(math.Abs(v), 'e', -1, 64), "e")
	exp, _ := strconv.Atoi(e)
	digits := strings.Replace(mant, ".", "", 1)
	exp -= len(digits) - 1
	prefix, p := "", 0
	for _, c := range []struct {
		name string
		p    int
		min  float64
	}{{"G", 9, 1e9}, {"M", 6, 1e6}, {"k", 3, 1e3}} {
		if math.Abs(v) >= c.min {
			prefix, p = c.name, c.p
			break
		}
	}
	sign := ""
	if v < 0 {
		sign = "-"
	}
	return sign + decimal(digits, exp-p) + prefix + unit
}

// parseExact parses s as a decimal number and a unit from units, and
// returns the number times the unit's multiplier, computed exactly.
// whole names the base unit in the "not a whole number" reason.
func parseExact(s, kind, forms, whole string, units map[string]int64) (int64, error) {
	fail := func(reason string) (int64, error) { return 0, parseError(kind, s, reason, forms) }
	intPart, frac, unit, reason := split(s)
	if reason != "" {
		return fail(reason)
	}
	mult, ok := units[unit]
	if !ok {
		return fail(fmt.Sprintf("unknown unit %q", unit))
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	// Bounds that keep the arithmetic below small: an integer part of 20
	// or more digits is at least 1e19 > MaxInt64, and since every
	// multiplier divides 2^30·10^9, a fraction with more than 30
	// significant decimals can never become whole.
	if len(intPart) > 19 {
		return fail("too large")
	}
	if len(frac) > 30 {
		return fail("not a whole number of " + whole)
	}
	n, _ := new(big.Int).SetString("0"+intPart+frac, 10)
	n.Mul(n, big.NewInt(mult))
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	n, rem := n.QuoRem(n, pow, new(big.Int))
	switch {
	case !n.IsInt64():
		return fail("too large")
	case rem.Sign() != 0:
		return fail("not a whole number of " + whole)
	}
	return n.Int64(), nil
}

// split breaks s into the integer digits, fraction digits and unit of
// "<digits>[.<digits>]<unit>". If s does not have that shape it returns
// a short reason instead. The unit is not checked against any list.
func split(s string) (intPart, frac, unit, reason string) {
	switch {
	case s == "":
		return "", "", "", "empty"
	case strings.TrimSpace(s) != s:
		return "", "", "", "leading or trailing space is not allowed"
	case s[0] == '-':
		return "", "", "", "negative values are not allowed"
	}
	i := digitsEnd(s, 0)
	if i == 0 {
		return "", "", "", "not a number"
	}
	intPart = s[:i]
	if i < len(s) && s[i] == '.' {
		j := digitsEnd(s, i+1)
		if j == i+1 {
			return "", "", "", "not a number"
		}
		frac, i = s[i+1:j], j
	}
	unit = s[i:]
	first, _ := utf8.DecodeRuneInString(unit)
	switch {
	case unit == "":
		return "", "", "", "missing unit"
	case unicode.IsSpace(first):
		return "", "", "", "no space between number and unit"
	case (first == 'e' || first == 'E') && len(unit) > 1 && strings.ContainsRune("0123456789+-", rune(unit[1])):
		return "", "", "", "exponents are not allowed"
	case strings.ContainsAny(unit, "0123456789.+-"):
		return "", "", "", "not a number"
	}
	return intPart, frac, unit, ""
}

// digitsEnd returns the index of the first non-digit in s at or after i.
func digitsEnd(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// decimal renders the non-negative integer digits times 10^exp in plain
// notation, without an exponent or redundant zeros.
func decimal(digits string, exp int) string {
	if strings.Trim(digits, "0") == "" {
		return "0"
	}
	if exp >= 0 {
		return digits + strings.Repeat("0", exp)
	}
	if point := len(digits) + exp; point > 0 {
		digits = digits[:point] + "." + digits[point:]
	} else {
		digits = "0." + strings.Repeat("0", -point) + digits
	}
	return strings.TrimSuffix(strings.TrimRight(digits, "0"), ".")
}

// parseError builds the error every parser returns.
func parseError(kind, input, reason, forms string) error {
	return fmt.Errorf("bad %s %q: %s; accepted forms: %s", kind, input, reason, forms)
}
