package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cyclictest is one cyclictest (rt-tests) invocation: one measurement
// thread waking every Interval with an absolute clock_nanosleep and
// recording how late it woke, the same work as labrun's timers at a fixed
// interval.
type Cyclictest struct {
	Interval time.Duration // whole microseconds, >= 1 us
	// Loops bounds the run in wake-ups; Duration in time (whole seconds,
	// cyclictest's unit). One of them is required; both: whichever first.
	Loops    int
	Duration time.Duration
	// CPU pins the thread (-a); -1 leaves it unpinned.
	CPU int
	// Policy is "other" (the default), "fifo" or "rr"; Priority 1-99 goes
	// with fifo and rr. cyclictest -p 0 would silently run SCHED_FIFO
	// priority 2, so for "other" no -p is passed at all.
	Policy   string
	Priority int
	Mlock    bool // -m
	// DMALatency lets cyclictest hold /dev/cpu_dma_latency at 0 (its
	// default); false passes --laptop, so it leaves it alone, as a labrun
	// run that does not set dma_latency does.
	DMALatency bool
	// HistogramUS is the histogram's range in us (-h); later wake-ups count
	// as overflows. 0 means 20000.
	HistogramUS int
	Extra       []string
}

// Validate checks the invocation.
func (c Cyclictest) Validate() error {
	switch {
	case c.Interval < time.Microsecond || c.Interval%time.Microsecond != 0:
		return fmt.Errorf("cyclictest: interval %v: want whole microseconds, at least 1us", c.Interval)
	case c.Loops < 0 || c.Duration < 0:
		return fmt.Errorf("cyclictest: loops and duration must be >= 0")
	case c.Loops == 0 && c.Duration == 0:
		return fmt.Errorf("cyclictest: give loops or a duration (it would run forever)")
	case c.Duration%time.Second != 0:
		return fmt.Errorf("cyclictest: duration %v: cyclictest takes whole seconds", c.Duration)
	case c.CPU < -1:
		return fmt.Errorf("cyclictest: CPU %d: give a CPU number or -1", c.CPU)
	case c.HistogramUS < 0 || c.HistogramUS > 1_000_000:
		return fmt.Errorf("cyclictest: histogram range %d us: accepted 1..1000000", c.HistogramUS)
	}
	switch c.policy() {
	case "other":
		if c.Priority != 0 {
			return fmt.Errorf("cyclictest: priority %d goes with policy fifo or rr, not other", c.Priority)
		}
	case "fifo", "rr":
		if c.Priority < 1 || c.Priority > 99 {
			return fmt.Errorf("cyclictest: policy %s needs a priority 1-99, got %d", c.Policy, c.Priority)
		}
	default:
		return fmt.Errorf("cyclictest: policy %q: accepted other, fifo, rr", c.Policy)
	}
	return nil
}

func (c Cyclictest) policy() string {
	if c.Policy == "" {
		return "other"
	}
	return c.Policy
}

func (c Cyclictest) histogram() int {
	if c.HistogramUS == 0 {
		return 20000
	}
	return c.HistogramUS
}

// Args returns cyclictest's command line, writing its results as JSON to
// jsonPath.
func (c Cyclictest) Args(jsonPath string) []string {
	a := []string{"-t", "1", "-q", "-i", strconv.FormatInt(int64(c.Interval/time.Microsecond), 10),
		"-h", strconv.Itoa(c.histogram()), "--json=" + jsonPath}
	if c.Loops > 0 {
		a = append(a, "-l", strconv.Itoa(c.Loops))
	}
	if c.Duration > 0 {
		a = append(a, "-D", strconv.FormatInt(int64(c.Duration/time.Second), 10)+"s")
	}
	if c.CPU >= 0 {
		a = append(a, "-a", strconv.Itoa(c.CPU))
	}
	switch c.policy() {
	case "other":
		a = append(a, "--policy=other")
	default:
		a = append(a, "--policy="+c.Policy, "-p", strconv.Itoa(c.Priority))
	}
	if c.Mlock {
		a = append(a, "-m")
	}
	if !c.DMALatency {
		a = append(a, "--laptop")
	}
	return append(a, c.Extra...)
}

// CyclictestResult is what cyclictest measured, in microseconds.
type CyclictestResult struct {
	Cycles    int
	Min, Max  int
	Avg       float64
	Hist      map[int]int // wake-up latency (us) -> count
	Overflows int         // wake-ups later than the histogram's range
	// CPU is the CPU time cyclictest used, Wall its run time (filled by
	// RunCyclictest).
	CPU, Wall time.Duration
}

type cyclictestJSON struct {
	ReturnCode int `json:"return_code"`
	Thread     map[string]struct {
		Histogram map[string]int `json:"histogram"`
		Cycles    int            `json:"cycles"`
		Min       int            `json:"min"`
		Max       int            `json:"max"`
		Avg       float64        `json:"avg"`
	} `json:"thread"`
}

// ParseCyclictestJSON reads cyclictest's --json output (one thread).
func ParseCyclictestJSON(b []byte) (CyclictestResult, error) {
	var j cyclictestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return CyclictestResult{}, fmt.Errorf("cyclictest: reading its JSON: %w", err)
	}
	if j.ReturnCode != 0 {
		return CyclictestResult{}, fmt.Errorf("cyclictest: return code %d", j.ReturnCode)
	}
	t, ok := j.Thread["0"]
	if !ok || len(j.Thread) != 1 {
		return CyclictestResult{}, fmt.Errorf("cyclictest: want one measurement thread, found %d", len(j.Thread))
	}
	r := CyclictestResult{Cycles: t.Cycles, Min: t.Min, Max: t.Max, Avg: t.Avg, Hist: map[int]int{}}
	n := 0
	for k, v := range t.Histogram {
		us, err := strconv.Atoi(k)
		if err != nil || us < 0 {
			return CyclictestResult{}, fmt.Errorf("cyclictest: histogram bucket %q is not a number of us", k)
		}
		r.Hist[us] += v
		n += v
	}
	if r.Overflows = r.Cycles - n; r.Overflows < 0 {
		return CyclictestResult{}, fmt.Errorf("cyclictest: histogram holds %d wake-ups, more than the %d cycles", n, r.Cycles)
	}
	return r, nil
}

// Quantile returns the wake-up latency (us) at quantile q (nearest rank),
// counting overflows as Max.
func (r CyclictestResult) Quantile(q float64) int {
	if r.Cycles == 0 {
		return 0
	}
	keys := make([]int, 0, len(r.Hist))
	for k := range r.Hist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	rank := int(q*float64(r.Cycles) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	seen := 0
	for _, k := range keys {
		seen += r.Hist[k]
		if seen >= rank {
			return k
		}
	}
	return r.Max
}

// RunCyclictest runs cyclictest to the end (bounded by its loops or
// duration, plus grace) and parses its results.
func RunCyclictest(ctx context.Context, c Cyclictest, grace time.Duration) (CyclictestResult, error) {
	if err := c.Validate(); err != nil {
		return CyclictestResult{}, err
	}
	dir, err := os.MkdirTemp("", "labrun-cyclictest-")
	if err != nil {
		return CyclictestResult{}, err
	}
	defer os.RemoveAll(dir)
	js := filepath.Join(dir, "out.json")
	var stderr strings.Builder
	t0 := time.Now()
	p, err := Start(ctx, "cyclictest", c.Args(js), "", io.Discard, &stderr)
	if err != nil {
		return CyclictestResult{}, err
	}
	bound := c.Duration + time.Duration(c.Loops)*c.Interval*2 + grace
	if !p.WaitFor(bound) {
		return CyclictestResult{}, fmt.Errorf("cyclictest: still running after %v: stopped", bound)
	}
	if err := p.Early(); err != nil {
		return CyclictestResult{}, err
	}
	if ctx.Err() != nil {
		return CyclictestResult{}, ctx.Err()
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		return CyclictestResult{}, fmt.Errorf("cyclictest: exit %d: %v: %s", code, err, tail(stderr.String()))
	}
	wall := time.Since(t0)
	b, err := os.ReadFile(js)
	if err != nil {
		return CyclictestResult{}, fmt.Errorf("cyclictest: no results: %w", err)
	}
	r, err := ParseCyclictestJSON(b)
	r.CPU, r.Wall = p.CPU(), wall
	return r, err
}
