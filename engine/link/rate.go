package link

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Bandwidth limits, in bits per second. Bandwidths are used with a
// resolution of 0.001 bit/s: serialization times are computed exactly in
// integers from the bandwidth rounded to whole millibits per second.
const (
	MinBandwidth = 1
	MaxBandwidth = 1e15
)

// TraceOpportunity is the number of bytes one line of a delivery trace
// can carry (mahimahi's MTU-sized delivery opportunity).
const TraceOpportunity = 1504

// checkBandwidth reports whether b is 0 (allowed only if zeroOK) or in
// [MinBandwidth, MaxBandwidth].
func checkBandwidth(what string, b float64, zeroOK bool) error {
	if b == 0 && zeroOK {
		return nil
	}
	if !(b >= MinBandwidth && b <= MaxBandwidth) {
		zero := ""
		if zeroOK {
			zero = "0 or "
		}
		return fmt.Errorf("%s %v bit/s out of range: want %s%g <= bandwidth <= %g bit/s", what, b, zero, float64(MinBandwidth), float64(MaxBandwidth))
	}
	return nil
}

// millibits converts a checked bandwidth to whole millibits per second.
func millibits(b float64) uint64 { return uint64(math.Round(b * 1000)) }

// bitWork is the work one bit needs: a link of Bm millibit/s does Bm
// units of work per ns, so a bit takes 1e12 units.
const bitWork = 1e12

// divider divides by a fixed integer quickly: a float estimate of the
// quotient, corrected to the exact one. Valid for quotients below 2^51.
type divider struct {
	d   uint64
	inv float64
}

func newDivider(d uint64) divider { return divider{d: d, inv: 1 / float64(d)} }

// div returns n/d and n%d.
func (v divider) div(n uint64) (q, r uint64) {
	q = uint64(float64(n) * v.inv)
	s := int64(n - q*v.d)
	for s < 0 {
		q--
		s += int64(v.d)
	}
	for uint64(s) >= v.d {
		q++
		s -= int64(v.d)
	}
	return q, uint64(s)
}

// RateStep is one piece of a piecewise-constant bandwidth schedule.
type RateStep struct {
	For       time.Duration // how long the step lasts, > 0
	Bandwidth float64       // bits per second during it; 0 is an outage
}

type rateStep struct {
	start, dur int64 // ns from the start of the cycle
	div        divider
}

// RateSchedule is a time-varying bandwidth: either piecewise-constant
// steps (Steps) or a cellular delivery trace (ReadDeliveryTrace). Time 0
// of a schedule is the arrival of the first packet at the link. A
// schedule is immutable and may be shared by several models.
type RateSchedule struct {
	steps  []rateStep
	repeat bool
	period int64   // ns of one cycle (repeat, trace)
	opps   []int64 // trace: opportunity times in ns within a cycle
	desc   string
}

// String describes the schedule.
func (s *RateSchedule) String() string { return s.desc }

// Steps returns a piecewise-constant schedule: step 0 from time 0 for
// steps[0].For, then step 1, and so on. With repeat the sequence loops
// forever; without, the last step holds forever after its end (so its
// bandwidth must be positive). A packet in a link with a schedule
// leaves at the earliest time at which the capacity since it started
// (the later of its arrival and the previous packet's exit) covers its
// bits, across step boundaries and skipping outages. Each For is > 0;
// each bandwidth is 0 or in [MinBandwidth, MaxBandwidth]; at least one
// step must be positive.
func Steps(steps []RateStep, repeat bool) (*RateSchedule, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("rate schedule: no steps: want at least one RateStep{For > 0, Bandwidth}")
	}
	s := &RateSchedule{repeat: repeat}
	pos := false
	var desc []string
	for i, st := range steps {
		if st.For <= 0 {
			return nil, fmt.Errorf("rate step %d: duration %v: want For > 0", i, st.For)
		}
		if err := checkBandwidth(fmt.Sprintf("rate step %d: bandwidth", i), st.Bandwidth, true); err != nil {
			return nil, err
		}
		if s.period > math.MaxInt64/4-int64(st.For) {
			return nil, fmt.Errorf("rate step %d: the schedule is too long: want a total under %v", i, time.Duration(math.MaxInt64/4))
		}
		var dv divider
		if st.Bandwidth > 0 {
			pos = true
			dv = newDivider(millibits(st.Bandwidth))
		}
		s.steps = append(s.steps, rateStep{start: s.period, dur: int64(st.For), div: dv})
		s.period += int64(st.For)
		desc = append(desc, fmt.Sprintf("%gbit/s for %v", st.Bandwidth, st.For))
	}
	if !pos {
		return nil, fmt.Errorf("rate schedule: every step has bandwidth 0: want at least one positive")
	}
	if !repeat && steps[len(steps)-1].Bandwidth == 0 {
		return nil, fmt.Errorf("rate schedule: the last step holds forever without repeat, so its bandwidth must be positive, not 0")
	}
	mode := "then hold"
	if repeat {
		mode = "repeat"
	}
	s.desc = "steps(" + strings.Join(desc, ", ") + "; " + mode + ")"
	return s, nil
}

// TraceForms describes the delivery trace format.
const TraceForms = "one integer millisecond timestamp per line, non-decreasing, the last > 0 (mahimahi format: each line is one 1504-byte delivery opportunity)"

// ReadDeliveryTrace reads a cellular link trace in mahimahi's format: one
// integer millisecond timestamp per line, non-decreasing; each line is
// one delivery opportunity of TraceOpportunity bytes at that millisecond
// (repeated timestamps give several). The trace loops with its last
// timestamp as the period: opportunity k of cycle c is at
// c*last + ts_k ms. A packet of n bytes (frame length plus Overhead)
// takes the byte credit of successive opportunities from the later of
// its arrival and the previous packet's exit, and leaves at the one that
// completes it; credit it leaves over goes to the next packet only if
// that one is there by then (credit unused at an opportunity is lost).
// Blank lines and '#' comments are skipped. Errors name path:line.
func ReadDeliveryTrace(path string) (*RateSchedule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &RateSchedule{repeat: true}
	sc := bufio.NewScanner(f)
	line := 0
	prev := int64(0)
	for sc.Scan() {
		line++
		t := sc.Text()
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = t[:i]
		}
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 || ms > math.MaxInt64/4/1_000_000 {
			return nil, fmt.Errorf("%s:%d: bad timestamp %q: want %s", path, line, t, TraceForms)
		}
		if ms < prev {
			return nil, fmt.Errorf("%s:%d: timestamp %d is before the previous one, %d: want %s", path, line, ms, prev, TraceForms)
		}
		prev = ms
		s.opps = append(s.opps, ms*1e6)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if len(s.opps) == 0 {
		return nil, fmt.Errorf("%s: no timestamps: want %s", path, TraceForms)
	}
	if prev == 0 {
		return nil, fmt.Errorf("%s: the last timestamp is 0, so the trace has no period: want %s", path, TraceForms)
	}
	s.period = prev * 1e6
	s.desc = fmt.Sprintf("trace(%s: %d opportunities in %dms, %.4g bit/s)", path, len(s.opps), prev,
		float64(len(s.opps))*TraceOpportunity*8/(float64(prev)/1e3))
	return s, nil
}

// MeanBandwidth returns the schedule's average bandwidth over one cycle,
// in bits per second (for Steps without repeat, over the listed steps).
func (s *RateSchedule) MeanBandwidth() float64 {
	if s.opps != nil {
		return float64(len(s.opps)) * TraceOpportunity * 8 / (float64(s.period) / 1e9)
	}
	bits := 0.0
	for _, st := range s.steps {
		bits += float64(st.div.d) / 1000 * float64(st.dur) / 1e9
	}
	return bits / (float64(s.period) / 1e9)
}

// rateCursor is one link's position in a schedule: where the last bit of
// the last packet left. Times are ns relative to schedule time 0.
type rateCursor struct {
	s       *RateSchedule
	t0      int64
	started bool
	base    int64 // start of the current cycle
	k       int   // current step or opportunity
	off     int64 // steps: ns into step k
	rem     uint64
	// steps: work done in the current ns, in units of 1/Bm ns (rem < Bm);
	// trace: bytes of credit used at opportunity k.
	last int64 // trace: exit of the last packet
}

// serve returns the exit time (absolute ns, rounded up) of a packet of
// n bytes arriving at absolute time t.
func (c *rateCursor) serve(t int64, n int) int64 {
	if !c.started {
		c.started, c.t0 = true, t
	}
	rel := t - c.t0
	if c.s.opps != nil {
		return c.t0 + c.serveTrace(rel, uint64(n))
	}
	return c.t0 + c.serveSteps(rel, uint64(n)*8*bitWork)
}

// infinite reports whether step k lasts forever (the last, no repeat).
func (c *rateCursor) infinite(k int) bool {
	return !c.s.repeat && k == len(c.s.steps)-1
}

func (c *rateCursor) nextStep() {
	c.k++
	c.off, c.rem = 0, 0
	if c.k == len(c.s.steps) {
		c.k = 0
		c.base += c.s.period
	}
}

func (c *rateCursor) serveSteps(rel int64, need uint64) int64 {
	steps := c.s.steps
	st := &steps[c.k]
	if pos := c.base + st.start + c.off; rel > pos {
		// The link was idle: move to rel.
		if c.s.repeat && rel-c.base >= c.s.period {
			c.base += (rel - c.base) / c.s.period * c.s.period
			c.k = 0
		}
		for !c.infinite(c.k) && c.base+steps[c.k].start+steps[c.k].dur <= rel {
			c.k++
			if c.k == len(steps) {
				c.k = 0
				c.base += c.s.period
			}
		}
		st = &steps[c.k]
		c.off, c.rem = rel-c.base-st.start, 0
	}
	for {
		st = &steps[c.k]
		if st.div.d == 0 {
			c.nextStep()
			continue
		}
		q, r := st.div.div(need + c.rem)
		end := c.off + int64(q)
		if c.infinite(c.k) || end < st.dur || (end == st.dur && r == 0) {
			c.off, c.rem = end, r
			break
		}
		need -= uint64(st.dur-c.off)*st.div.d - c.rem
		c.nextStep()
	}
	out := c.base + st.start + c.off
	if c.rem > 0 {
		out++
	}
	return out
}

func (c *rateCursor) serveTrace(rel int64, need uint64) int64 {
	opps := c.s.opps
	start := max(rel, c.last)
	if c.base+opps[c.k] < start {
		// The cursor's opportunity has passed: its credit is lost.
		from := c.k
		// Skip whole cycles, keeping start in (base, base+period]: the
		// last opportunity of a cycle (at its period) may be at start.
		if d := start - c.base; d > c.s.period {
			c.base += (d - 1) / c.s.period * c.s.period
			from = 0
		}
		d := start - c.base
		k, hi := from, len(opps) // first k in [from, len) with opps[k] >= d
		for k < hi {
			mid := int(uint(k+hi) >> 1)
			if opps[mid] < d {
				k = mid + 1
			} else {
				hi = mid
			}
		}
		if k == len(opps) {
			k = 0
			c.base += c.s.period
		}
		c.k, c.rem = k, 0
	}
	for {
		left := TraceOpportunity - c.rem
		if need <= left {
			c.rem += need
			c.last = c.base + opps[c.k]
			if c.rem == TraceOpportunity {
				c.advanceOpp()
			}
			return c.last
		}
		need -= left
		c.advanceOpp()
	}
}

func (c *rateCursor) advanceOpp() {
	c.k++
	c.rem = 0
	if c.k == len(c.s.opps) {
		c.k = 0
		c.base += c.s.period
	}
}
