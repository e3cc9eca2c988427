package rx

import (
	"math"
	"slices"

	"github.com/labrun/labrun/engine/measure"
)

// Metric names of the receive side, in the style of package measure.
// Inter-arrival errors are Caliper's: e = measured inter-arrival time minus
// requested inter-transmission time, for each pair of consecutive sequence
// numbers that both arrived, in microseconds.
const (
	Received    = "rx_received"     // distinct expected sequence numbers that arrived
	Lost        = "rx_lost"         // expected sequence numbers that never arrived
	Dup         = "rx_dup"          // copies of sequence numbers that had arrived already
	Reordered   = "rx_reordered"    // first arrivals below the highest sequence number seen before in their stream
	OutOfRange  = "rx_out_of_range" // marked frames with a sequence number past the expected ones
	Unmarked    = "rx_unmarked"     // frames without labrun's marker
	KernelDrops = "rx_kernel_drops" // frames the kernel dropped because the ring was full
	PPS         = "rx_pps"          // rate of the received sequence numbers
	AllPPS      = "rx_all_pps"      // rate of all frames
	IATMeanUS   = "iat_err_mean_us" // e: mean
	IATStdUS    = "iat_err_std_us"  // e: standard deviation
	IATMAEUS    = "iat_err_mae_us"  // |e|: mean
	IATP50US    = "iat_err_p50_us"  // |e|: median
	IATP95US    = "iat_err_p95_us"  // |e|: 95th percentile
	IATP99US    = "iat_err_p99_us"  // |e|: 99th percentile
	IATP999US   = "iat_err_p999_us" // |e|: 99.9th percentile
	IATMaxUS    = "iat_err_max_us"  // |e|: maximum
	DriftUS     = "rx_drift_us"     // arrival span minus scheduled span, first to last received
	DriftPct    = "rx_drift_pct"    // DriftUS as a percentage of the scheduled span
)

// Names lists every receive metric in report order, with a one-line meaning.
var Names = []struct{ Name, Doc string }{
	{Received, "distinct expected sequence numbers that arrived"},
	{Lost, "expected sequence numbers that never arrived"},
	{Dup, "frames whose sequence number had already arrived"},
	{Reordered, "first arrivals whose sequence number is below the highest seen before in their stream (sending thread)"},
	{OutOfRange, "marked frames with a sequence number at or past the expected count"},
	{Unmarked, "frames without labrun's marker (other traffic)"},
	{KernelDrops, "frames the kernel dropped at the receive ring (PACKET_STATISTICS tp_drops)"},
	{PPS, "receive rate of the expected frames (packets/s, first to last arrival)"},
	{AllPPS, "receive rate of all frames (packets/s)"},
	{IATMeanUS, "inter-arrival error e = measured inter-arrival - requested gap: mean (us)"},
	{IATStdUS, "inter-arrival error: standard deviation (us)"},
	{IATMAEUS, "|inter-arrival error|: mean (us)"},
	{IATP50US, "|inter-arrival error|: median (us)"},
	{IATP95US, "|inter-arrival error|: 95th percentile (us)"},
	{IATP99US, "|inter-arrival error|: 99th percentile (us)"},
	{IATP999US, "|inter-arrival error|: 99.9th percentile (us)"},
	{IATMaxUS, "|inter-arrival error|: maximum (us)"},
	{DriftUS, "arrival span minus scheduled span between the first and last received sequence numbers (us)"},
	{DriftPct, "that drift as a percentage of the scheduled span (%)"},
}

// Metrics is the analysis of one receive run. Times are in nanoseconds.
type Metrics struct {
	Expect                                     int
	Received, Lost, Dup, Reordered, OutOfRange uint64
	Unmarked, KernelDrops                      uint64
	PPS, AllPPS                                float64 // packets/s; 0 with fewer than two frames
	Pairs                                      int     // inter-arrival errors measured
	IATMean, IATStd, IATMAE                    float64 // of e (mean, std) and |e| (MAE)
	IATP50, IATP95, IATP99, IATP999, IATMax    int64   // of |e|
	Drift                                      int64   // arrival span - scheduled span
	DriftPct                                   float64 // Drift / scheduled span * 100; 0 if the span is 0
	FirstSeq, LastSeq                          int     // first and last received sequence numbers; -1 if none
	// Clean holds the inter-arrival error over the pairs no excluded
	// stall hit; nil when no exclusion was applied (AnalyzeExcluding with
	// a nil Exclusion).
	Clean *CleanIAT
}

// CleanIAT is the inter-arrival error over the pairs that no stall of an
// Exclusion hit. Times in ns.
type CleanIAT struct {
	Pairs, Excluded     int   // pairs kept, pairs left out
	P50, P99, P999, Max int64 // of |e| over the kept pairs
	Sources             int   // what the exclusion held (Exclusion.Sources)
}

// Exclusion is a set of stalls whose frames the clean inter-arrival
// figures leave out: the spans, on the clock.Now scale, during which a
// thread that takes part in a frame's timestamp was not running.
//
// A pair of consecutive sequence numbers (i, i+1) that both arrived is
// hit when a stall overlaps [lo, arrival of i+1], where lo is
//   - Due[i], when Due is given: the time frame i was due to be sent (a
//     frame cannot be delayed by a stall that ended before it was due,
//     and a stall after it was due delays it however far behind the
//     sender is, as when it catches up after a stall);
//   - otherwise the arrival of the last frame before i that arrived (or
//     of i itself if none did): a sender that stamps its frames in order
//     cannot delay frame i with a stall that ended before its previous
//     frame was stamped.
//
// Either way the span covers every moment at which a stall could have
// moved the stamp of i or of i+1, and so the pair's error.
type Exclusion struct {
	Stalls measure.Stalls
	// Due is the time each sequence number was due to be sent, on the
	// clock.Now scale, or nil when the sender does not say.
	Due []int64
	// Sources records what Stalls holds, for the report (SourceProbe,
	// SourceSender, summed).
	Sources int
}

// What an Exclusion's stalls came from.
const (
	SourceProbe  = 1 // a probe on the CPU that takes the receive stamps
	SourceSender = 2 // the sending thread's own stalls
)

// hit reports whether the pair (i, i+1) is hit; prev is the arrival of the
// last frame before i that arrived, 0 if none.
func (x *Exclusion) hit(arr []int64, i int, prev int64) bool {
	lo := prev
	if lo == 0 {
		lo = arr[i]
	}
	if i < len(x.Due) && x.Due[i] != 0 {
		lo = x.Due[i]
	}
	return x.Stalls.Overlaps(lo, arr[i+1])
}

// Hit returns, for each sequence number i+1, whether the pair (i, i+1)
// was hit by a stall of x (false where the pair was not measured): the
// per-frame flags behind the clean figures, for the per-packet series.
func (x *Exclusion) Hit(arr []int64) []bool {
	out := make([]bool, len(arr))
	var prev int64
	for i := 0; i+1 < len(arr); i++ {
		if arr[i] != 0 && arr[i+1] != 0 {
			out[i+1] = x.hit(arr, i, prev)
		}
		if arr[i] != 0 {
			prev = arr[i]
		}
	}
	return out
}

// Analyze computes the receive metrics of res against the schedule:
// sched[i] is the scheduled offset (ns) of sequence number i. Sequence
// numbers past the shorter of sched and res.Arrival are left out of the
// timing metrics. Analyze does no I/O and does not modify its arguments.
func Analyze(sched []int64, res *Result) Metrics { return AnalyzeExcluding(sched, res, nil) }

// AnalyzeExcluding is Analyze, and with x not nil also the inter-arrival
// error over the pairs no stall of x hit (Metrics.Clean).
func AnalyzeExcluding(sched []int64, res *Result, x *Exclusion) Metrics {
	arr := res.Arrival
	m := Metrics{
		Expect: len(arr), Received: res.Received, Dup: res.Dup, Reordered: res.Reordered,
		OutOfRange: res.OutOfRange, Unmarked: res.Unmarked, KernelDrops: res.KernelDrops,
		FirstSeq: -1, LastSeq: -1,
	}
	m.Lost = uint64(len(arr)) - min(res.Received, uint64(len(arr)))
	// Rates: first to last arrival, over received sequence numbers and
	// over all frames.
	m.PPS = arrivalRate(arr)
	m.AllPPS = rate(int(res.Total), res.LastAny-res.FirstAny)
	k := min(len(sched), len(arr))
	m.setIAT(sched, arr, k, x)
	m.setDrift(sched, arr, k)
	return m
}

// arrivalRate is the rate of the sequence numbers that arrived, first to
// last arrival.
func arrivalRate(arr []int64) float64 {
	var lo, hi int64
	n := 0
	for _, a := range arr {
		if a == 0 {
			continue
		}
		if n == 0 || a < lo {
			lo = a
		}
		hi = max(hi, a)
		n++
	}
	return rate(n, hi-lo)
}

// setIAT computes the inter-arrival errors over the first k sequence
// numbers, pairs of consecutive ones that both arrived, and with x not nil
// the clean figures over the pairs no stall of x hit.
func (m *Metrics) setIAT(sched, arr []int64, k int, x *Exclusion) {
	e := make([]int64, 0, k)
	var clean []int64
	if x != nil {
		m.Clean = &CleanIAT{Sources: x.Sources}
		clean = make([]int64, 0, k)
	}
	var prev int64 // arrival of the last frame before i that arrived
	for i := 0; i+1 < k; i++ {
		if arr[i] != 0 && arr[i+1] != 0 {
			v := (arr[i+1] - arr[i]) - (sched[i+1] - sched[i])
			e = append(e, v)
			switch {
			case x == nil:
			case x.hit(arr, i, prev):
				m.Clean.Excluded++
			default:
				clean = append(clean, max(v, -v))
			}
		}
		if arr[i] != 0 {
			prev = arr[i]
		}
	}
	if m.Clean != nil {
		m.Clean.set(clean)
	}
	m.Pairs = len(e)
	if len(e) == 0 {
		return
	}
	var sum, abs float64
	for _, v := range e {
		sum += float64(v)
		abs += math.Abs(float64(v))
	}
	m.IATMean = sum / float64(len(e))
	m.IATMAE = abs / float64(len(e))
	var sq float64
	for _, v := range e {
		d := float64(v) - m.IATMean
		sq += d * d
	}
	m.IATStd = math.Sqrt(sq / float64(len(e)))
	for i, v := range e {
		if v < 0 {
			e[i] = -v
		}
	}
	slices.Sort(e)
	m.IATP50 = measure.Quantile(e, 0.5)
	m.IATP95 = measure.Quantile(e, 0.95)
	m.IATP99 = measure.Quantile(e, 0.99)
	m.IATP999 = measure.Quantile(e, 0.999)
	m.IATMax = e[len(e)-1]
}

// set fills c's percentiles from the |errors| of the clean pairs (sorted
// in place).
func (c *CleanIAT) set(clean []int64) {
	c.Pairs = len(clean)
	if len(clean) == 0 {
		return
	}
	slices.Sort(clean)
	c.P50, c.P99, c.P999 = measure.Quantile(clean, 0.5), measure.Quantile(clean, 0.99), measure.Quantile(clean, 0.999)
	c.Max = clean[len(clean)-1]
}

// setDrift computes the drift between the first and last received of the
// first k sequence numbers.
func (m *Metrics) setDrift(sched, arr []int64, k int) {
	for i := 0; i < k; i++ {
		if arr[i] != 0 {
			m.FirstSeq = i
			break
		}
	}
	for i := k - 1; i >= 0; i-- {
		if arr[i] != 0 {
			m.LastSeq = i
			break
		}
	}
	if m.FirstSeq >= 0 && m.LastSeq > m.FirstSeq {
		f, l := m.FirstSeq, m.LastSeq
		span := sched[l] - sched[f]
		m.Drift = (arr[l] - arr[f]) - span
		if span != 0 {
			m.DriftPct = float64(m.Drift) / float64(span) * 100
		}
	}
}

// rate is (n-1) frames over span ns, in packets per second; 0 if it is not
// defined.
func rate(n int, span int64) float64 {
	if n < 2 || span <= 0 {
		return 0
	}
	return float64(n-1) / (float64(span) / 1e9)
}

// Map returns the metrics under the names above, times in microseconds;
// the clean figures only when an exclusion was applied.
func (m Metrics) Map() map[string]float64 {
	us := func(v float64) float64 { return v / 1e3 }
	out := m.rawMap(us)
	if c := m.Clean; c != nil {
		out[measure.IATExcluded] = float64(c.Excluded)
		out[measure.IATExclSrc] = float64(c.Sources)
		if c.Pairs > 0 {
			out[measure.IATCleanP50] = us(float64(c.P50))
			out[measure.IATCleanP99] = us(float64(c.P99))
			out[measure.IATCleanP999] = us(float64(c.P999))
			out[measure.IATCleanMax] = us(float64(c.Max))
		}
	}
	return out
}

func (m Metrics) rawMap(us func(float64) float64) map[string]float64 {
	return map[string]float64{
		Received:    float64(m.Received),
		Lost:        float64(m.Lost),
		Dup:         float64(m.Dup),
		Reordered:   float64(m.Reordered),
		OutOfRange:  float64(m.OutOfRange),
		Unmarked:    float64(m.Unmarked),
		KernelDrops: float64(m.KernelDrops),
		PPS:         m.PPS,
		AllPPS:      m.AllPPS,
		IATMeanUS:   us(m.IATMean),
		IATStdUS:    us(m.IATStd),
		IATMAEUS:    us(m.IATMAE),
		IATP50US:    us(float64(m.IATP50)),
		IATP95US:    us(float64(m.IATP95)),
		IATP99US:    us(float64(m.IATP99)),
		IATP999US:   us(float64(m.IATP999)),
		IATMaxUS:    us(float64(m.IATMax)),
		DriftUS:     us(float64(m.Drift)),
		DriftPct:    m.DriftPct,
	}
}

// Latency returns the median, 99th percentile and maximum one-way latency
// arrival - actual send time (ns) over the sequence numbers that arrived
// and have an actual send time: actual[i] is the sender's clock.Now reading
// for sequence number i, 0 if it was not sent. Sender and receiver must
// share the host's CLOCK_MONOTONIC, as they do on one machine. All three
// are 0 if no sequence number qualifies.
func Latency(actual []int64, res *Result) (p50, p99, max int64) {
	k := min(len(actual), len(res.Arrival))
	lat := make([]int64, 0, k)
	for i := 0; i < k; i++ {
		if res.Arrival[i] != 0 && actual[i] != 0 {
			lat = append(lat, res.Arrival[i]-actual[i])
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return measure.Quantile(lat, 0.5), measure.Quantile(lat, 0.99), lat[len(lat)-1]
}
