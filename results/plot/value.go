package plot

import (
	"fmt"
	"math"
	"strconv"

	"github.com/labrun/labrun/engine/units"
)

// Dim is what a sweep value label measures.
type Dim string

// The dimensions ParseValue knows.
const (
	Plain    Dim = ""         // a bare number: a batch size, a count
	Duration Dim = "duration" // nanoseconds
	Size     Dim = "size"     // bytes
	BitRate  Dim = "bit rate" // bits per second
	PktRate  Dim = "packet rate"
)

// ParseValue reads a sweep value label as a number: a bare number
// ("512", "2.5"), a duration ("70us", in ns), a size ("64B", in bytes) or
// a rate ("1Gbps" in bit/s, "10kpps" in packets/s), with the syntax of
// engine/units.
func ParseValue(label string) (float64, Dim, error) {
	if v, err := strconv.ParseFloat(label, 64); err == nil {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, Plain, fmt.Errorf("%q is not a finite number", label)
		}
		return v, Plain, nil
	}
	if d, err := units.ParseDuration(label); err == nil {
		return float64(d), Duration, nil
	}
	if s, err := units.ParseSize(label); err == nil {
		return float64(s), Size, nil
	}
	if r, err := units.ParseRate(label); err == nil {
		if r.Kind == units.PacketsPerSecond {
			return r.PerSecond, PktRate, nil
		}
		return r.PerSecond, BitRate, nil
	}
	return 0, Plain, fmt.Errorf("%q is not a number, a duration, a size or a rate (such as 512, \"70us\", \"64B\" or \"1Gbps\")", label)
}

// ParseValues reads labels with ParseValue and checks that they measure
// the same thing.
func ParseValues(labels []string) ([]float64, Dim, error) {
	out := make([]float64, len(labels))
	var dim Dim
	for i, l := range labels {
		v, d, err := ParseValue(l)
		if err != nil {
			return nil, Plain, err
		}
		if i > 0 && d != dim {
			return nil, Plain, fmt.Errorf("%q is a %s but %q is a %s: the values of an axis must measure one thing", labels[0], dimName(dim), l, dimName(d))
		}
		out[i], dim = v, d
	}
	return out, dim, nil
}

func dimName(d Dim) string {
	if d == Plain {
		return "bare number"
	}
	return string(d)
}

// displayUnit picks the unit values of dim are drawn in, from the
// smallest of them in magnitude: 70us..2500us in µs, 100Mbps..3Gbps in
// Mbit/s. It returns the divisor and the unit ("" for bare numbers).
func displayUnit(dim Dim, vals []float64) (float64, string) {
	lo := math.Inf(1)
	binary := true
	for _, v := range vals {
		if a := math.Abs(v); a > 0 && a < lo {
			lo = a
		}
		if math.Mod(v, 1024) != 0 {
			binary = false
		}
	}
	type u struct {
		div  float64
		name string
	}
	var steps []u
	switch dim {
	case Duration:
		steps = []u{{1, "ns"}, {1e3, "µs"}, {1e6, "ms"}, {1e9, "s"}}
	case Size:
		steps = []u{{1, "B"}, {1e3, "kB"}, {1e6, "MB"}, {1e9, "GB"}}
		if binary {
			steps = []u{{1, "B"}, {1 << 10, "KiB"}, {1 << 20, "MiB"}, {1 << 30, "GiB"}}
		}
	case BitRate:
		steps = []u{{1, "bit/s"}, {1e3, "kbit/s"}, {1e6, "Mbit/s"}, {1e9, "Gbit/s"}}
	case PktRate:
		steps = []u{{1, "packets/s"}, {1e3, "kpackets/s"}, {1e6, "Mpackets/s"}}
	default:
		return 1, ""
	}
	best := steps[0]
	for _, s := range steps {
		if lo >= s.div {
			best = s
		}
	}
	return best.div, best.name
}
