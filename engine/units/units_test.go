package units

import (
	"fmt"
	"math"
	"testing"
)

// wantErr is the full message for a parse error with the given reason.
func wantErr(kind, input, reason, forms string) string {
	return fmt.Sprintf("bad %s %q: %s; accepted forms: %s", kind, input, reason, forms)
}

// check compares a parse result with the wanted value or error reason.
func check[T comparable](t *testing.T, kind, forms, in string, got T, err error, want T, reason string) {
	t.Helper()
	switch {
	case reason != "" && err == nil:
		t.Errorf("%q: got %v, want error %q", in, got, reason)
	case reason != "" && err.Error() != wantErr(kind, in, reason, forms):
		t.Errorf("%q: got error\n\t%s\nwant\n\t%s", in, err, wantErr(kind, in, reason, forms))
	case reason == "" && err != nil:
		t.Errorf("%q: unexpected error: %v", in, err)
	case reason == "" && got != want:
		t.Errorf("%q: got %v, want %v", in, got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		// The example from the package's contract, spelled out in full.
		{second(ParseDuration("70 us")), `bad duration "70 us": no space between number and unit; accepted forms: 70us, 2.5ms, 1s, 100ns (units: ns, us, µs, ms, s)`},
		// Rate errors explain bps and pps.
		{second(ParseRate("10")), `bad rate "10": missing unit; accepted forms: 1Gbps, 100Mbps, 1.2Mpps, 500kpps (units: bps counts bits per second, pps packets per second; optional prefix k, M or G)`},
		// Size errors list binary and decimal units.
		{second(ParseSize("1KB")), `bad size "1KB": unknown unit "KB"; accepted forms: 64B, 1500B, 128MiB, 1KiB, 1MB (units: B, KiB, MiB, GiB, kB, MB, GB)`},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("got error\n\t%v\nwant\n\t%s", c.err, c.want)
		}
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in     string
		want   Duration
		reason string
	}{
		// Microseconds, the common case.
		{"70us", 70000, ""},
		// Micro sign spelling.
		{"1.5µs", 1500, ""},
		// Greek mu spelling.
		{"1.5μs", 1500, ""},
		// Fraction of a millisecond.
		{"2.5ms", 2500000, ""},
		// Exact decimal where float64 would round: 0.1s.
		{"0.1s", 100000000, ""},
		// Exact decimal where float64 would round: 2.675ms.
		{"2.675ms", 2675000, ""},
		// Whole seconds.
		{"1s", 1000000000, ""},
		// Nanoseconds.
		{"100ns", 100, ""},
		// Zero is fine as long as it has a unit.
		{"0us", 0, ""},
		// Trailing fractional zeros do not make a value fractional.
		{"7.000ns", 7, ""},
		// Leading zeros are harmless.
		{"007ms", 7000000, ""},
		// The largest duration.
		{"9223372036.854775807s", math.MaxInt64, ""},
		// One nanosecond more overflows.
		{"9223372036.854775808s", 0, "too large"},
		// Far too large.
		{"99999999999999999999999ns", 0, "too large"},
		// A bare number is ambiguous.
		{"70", 0, "missing unit"},
		// Zero needs a unit too.
		{"0", 0, "missing unit"},
		// So does a bare decimal.
		{"2.5", 0, "missing unit"},
		// Space between number and unit.
		{"70 us", 0, "no space between number and unit"},
		// Negative values.
		{"-3ms", 0, "negative values are not allowed"},
		// Half a nanosecond.
		{"0.5ns", 0, "not a whole number of nanoseconds"},
		// Many fractional digits that never become whole.
		{"1.0000000000000000000000000000000001s", 0, "not a whole number of nanoseconds"},
		// Empty input.
		{"", 0, "empty"},
		// A unit without a number.
		{"us", 0, "not a number"},
		// Exponents.
		{"1e3us", 0, "exponents are not allowed"},
		// Explicit plus sign.
		{"+5ms", 0, "not a number"},
		// NaN.
		{"NaNs", 0, "not a number"},
		// Inf.
		{"Infs", 0, "not a number"},
		// Missing digits before the point.
		{".5ms", 0, "not a number"},
		// Missing digits after the point.
		{"5.ms", 0, "not a number"},
		// Two decimal points.
		{"1.2.3ms", 0, "not a number"},
		// Spelled-out unit.
		{"70usec", 0, "unknown unit \"usec\""},
		// Units are case-sensitive.
		{"70US", 0, "unknown unit \"US\""},
		// Minutes are not supported.
		{"2m", 0, "unknown unit \"m\""},
		// Surrounding space.
		{" 70us", 0, "leading or trailing space is not allowed"},
	} {
		got, err := ParseDuration(c.in)
		check(t, "duration", DurationForms, c.in, got, err, c.want, c.reason)
	}
}

func TestParseRate(t *testing.T) {
	bps := func(v float64) Rate { return Rate{BitsPerSecond, v} }
	pps := func(v float64) Rate { return Rate{PacketsPerSecond, v} }
	for _, c := range []struct {
		in     string
		want   Rate
		reason string
	}{
		// Gigabits.
		{"1Gbps", bps(1e9), ""},
		// Megabits.
		{"100Mbps", bps(1e8), ""},
		// Kilobits.
		{"10kbps", bps(1e4), ""},
		// Capital K is accepted for kilo.
		{"10Kbps", bps(1e4), ""},
		// Plain bits.
		{"64bps", bps(64), ""},
		// Fractional megapackets.
		{"1.2Mpps", pps(1.2e6), ""},
		// Kilopackets.
		{"500kpps", pps(5e5), ""},
		// Plain packets.
		{"10pps", pps(10), ""},
		// Fractional packets per second are fine for rates.
		{"0.5pps", pps(0.5), ""},
		// Zero rate.
		{"0bps", bps(0), ""},
		// A bare number: bits or packets?
		{"10", Rate{}, "missing unit"},
		// Space between number and unit.
		{"1 Gbps", Rate{}, "no space between number and unit"},
		// Negative rate.
		{"-1Mbps", Rate{}, "negative values are not allowed"},
		// Lower-case giga.
		{"1gbps", Rate{}, "unknown unit \"gbps\""},
		// Bytes per second is not a rate unit here.
		{"1MBps", Rate{}, "unknown unit \"MBps\""},
		// Prefix without a unit.
		{"1M", Rate{}, "unknown unit \"M\""},
		// Exponent.
		{"1e9bps", Rate{}, "exponents are not allowed"},
		// Overflows float64.
		{"1" + zeros(400) + "bps", Rate{}, "too large"},
		// Underflows float64.
		{"0." + zeros(400) + "1bps", Rate{}, "too small"},
	} {
		got, err := ParseRate(c.in)
		check(t, "rate", RateForms, c.in, got, err, c.want, c.reason)
	}
}

// zeros returns n zero digits.
func zeros(n int) string { return fmt.Sprintf("%0*d", n, 0) }

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in     string
		want   Size
		reason string
	}{
		// Bytes.
		{"64B", 64, ""},
		// A typical MTU.
		{"1500B", 1500, ""},
		// Binary kilobyte.
		{"1KiB", 1024, ""},
		// Fractional binary unit that is still whole bytes.
		{"1.5KiB", 1536, ""},
		// Binary megabytes.
		{"128MiB", 134217728, ""},
		// Binary gigabyte.
		{"1GiB", 1 << 30, ""},
		// Decimal kilobyte.
		{"1kB", 1000, ""},
		// Decimal megabyte.
		{"1MB", 1000000, ""},
		// Decimal gigabyte.
		{"1GB", 1000000000, ""},
		// One byte written as 1/1024 KiB.
		{"0.0009765625KiB", 1, ""},
		// Zero bytes.
		{"0B", 0, ""},
		// The largest size.
		{"9223372036854775807B", math.MaxInt64, ""},
		// Overflow.
		{"8589934592GiB", 0, "too large"},
		// Half a byte.
		{"0.5B", 0, "not a whole number of bytes"},
		// Bare number.
		{"1500", 0, "missing unit"},
		// Space.
		{"64 B", 0, "no space between number and unit"},
		// Negative.
		{"-1B", 0, "negative values are not allowed"},
		// Hexadecimal.
		{"0x10B", 0, "not a number"},
		// KB is ambiguous between 1000 and 1024.
		{"1KB", 0, "unknown unit \"KB\""},
		// Lower-case b means bits, not bytes.
		{"1kb", 0, "unknown unit \"kb\""},
	} {
		got, err := ParseSize(c.in)
		check(t, "size", SizeForms, c.in, got, err, c.want, c.reason)
	}
}

func TestDurationString(t *testing.T) {
	for _, c := range []struct {
		in   Duration
		want string
	}{
		// Whole microseconds.
		{70000, "70us"},
		// Fractional milliseconds.
		{2500000, "2.5ms"},
		// One second.
		{1e9, "1s"},
		// Fractional microseconds.
		{1500, "1.5us"},
		// Below a microsecond.
		{7, "7ns"},
		// Zero.
		{0, "0s"},
		// Every digit kept.
		{1000000001, "1.000000001s"},
		// Largest value.
		{math.MaxInt64, "9223372036.854775807s"},
	} {
		if got := c.in.String(); got != c.want {
			t.Errorf("Duration(%d).String() = %q, want %q", int64(c.in), got, c.want)
		}
	}
}

func TestRateString(t *testing.T) {
	for _, c := range []struct {
		in   Rate
		want string
	}{
		// Gigabits.
		{Rate{BitsPerSecond, 1e9}, "1Gbps"},
		// Fractional megapackets.
		{Rate{PacketsPerSecond, 1.2e6}, "1.2Mpps"},
		// Below a kilo.
		{Rate{BitsPerSecond, 64}, "64bps"},
		// Fraction below one.
		{Rate{PacketsPerSecond, 0.25}, "0.25pps"},
		// Zero.
		{Rate{BitsPerSecond, 0}, "0bps"},
		// Beyond giga stays in giga.
		{Rate{BitsPerSecond, 4e12}, "4000Gbps"},
	} {
		if got := c.in.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	for _, c := range []struct {
		in   Size
		want string
	}{
		// Bytes.
		{64, "64B"},
		// Binary megabytes.
		{134217728, "128MiB"},
		// Not a whole KiB.
		{1536, "1536B"},
		// Decimal sizes print in bytes.
		{1000000, "1000000B"},
		// Largest binary unit that divides.
		{3 << 30, "3GiB"},
		// Zero.
		{0, "0B"},
	} {
		if got := c.in.String(); got != c.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(c.in), got, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, d := range []Duration{0, 1, 7, 999, 1000, 1001, 1500, 70000, 2500000, 2675000, 1e8, 1e9, 1e9 + 1, 36e11, math.MaxInt64} {
		if got, err := ParseDuration(d.String()); err != nil || got != d {
			t.Errorf("Duration %d: %q parsed as %d, %v", int64(d), d.String(), int64(got), err)
		}
	}
	for _, s := range []Size{0, 1, 64, 1000, 1023, 1024, 1536, 1500, 1 << 20, 3 << 30, 1 << 40, math.MaxInt64} {
		if got, err := ParseSize(s.String()); err != nil || got != s {
			t.Errorf("Size %d: %q parsed as %d, %v", int64(s), s.String(), int64(got), err)
		}
	}
	for _, v := range []float64{0, 1, 0.1, 1.2e6, 999.999, 1e9, 1.7976931348623157e308, 5e-324, math.Pi * 1e7, 1.0 / 3} {
		for _, k := range []RateKind{BitsPerSecond, PacketsPerSecond} {
			r := Rate{k, v}
			if got, err := ParseRate(r.String()); err != nil || got != r {
				t.Errorf("Rate %#v: %q parsed as %#v, %v", r, r.String(), got, err)
			}
		}
	}
}

func TestNanoseconds(t *testing.T) {
	// Nanoseconds is the plain integer value.
	if got := Duration(2500000).Nanoseconds(); got != 2500000 {
		t.Errorf("Nanoseconds() = %d, want 2500000", got)
	}
}
