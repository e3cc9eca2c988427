package units

import "testing"

// seeds are inputs shared by all fuzz targets: valid forms of every kind
// plus the malformed shapes the parsers must reject.
var seeds = []string{
	"70us", "2.5ms", "1s", "100ns", "1.5µs", "0.1s", "9223372036.854775807s",
	"1Gbps", "1.2Mpps", "500kpps", "10Kbps", "0.5pps",
	"64B", "1.5KiB", "128MiB", "1MB", "0.0009765625KiB",
	"", "70", "70 us", "-3ms", "+5ms", "1e3us", "0x10B", "NaNs", "5.ms", "0.5ns",
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %d, negative", s, int64(d))
		}
		if got, err := ParseDuration(d.String()); err != nil || got != d {
			t.Fatalf("ParseDuration(%q) = %d; String %q reparsed as %d, %v", s, int64(d), d.String(), int64(got), err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if !(r.PerSecond >= 0) {
			t.Fatalf("ParseRate(%q) = %#v, negative or NaN", s, r)
		}
		if got, err := ParseRate(r.String()); err != nil || got != r {
			t.Fatalf("ParseRate(%q) = %#v; String %q reparsed as %#v, %v", s, r, r.String(), got, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, int64(n))
		}
		if got, err := ParseSize(n.String()); err != nil || got != n {
			t.Fatalf("ParseSize(%q) = %d; String %q reparsed as %d, %v", s, int64(n), n.String(), int64(got), err)
		}
	})
}
