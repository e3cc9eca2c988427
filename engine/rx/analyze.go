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
}

// Analyze computes the receive metrics of res against the schedule:
// sched[i] is the scheduled offset (ns) of sequence number i. Sequence
// numbers past the shorter of sched and res.Arrival are left out of the
// timing metrics. Analyze does no I/O and does not modify its arguments.
func Analyze(sched []int64, res *Result) Metrics {
	arr := res.Arrival
	m := Metrics{
		Expect: len(arr), Received: res.Received, Dup: res.Dup, Reordered: res.Reordered,
		OutOfRange: res.OutOfRange, Unmarked: res.Unmarked, KernelDrops: res.KernelDrops,
		FirstSeq: -1, LastSeq: -1,
	}
	m.Lost = uint64(len(arr)) - min(res.Received, uint64(len(arr)))

	// Rates: first to last arrival, over received sequence numbers and
	// over all frames.
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
	m.PPS = rate(n, hi-lo)
	m.AllPPS = rate(int(res.Total), res.LastAny-res.FirstAny)

	// Inter-arrival errors over consecutive sequence numbers that both
	// arrived.
	k := min(len(sched), len(arr))
	e := make([]int64, 0, k)
	for i := 0; i+1 < k; i++ {
		if arr[i] != 0 && arr[i+1] != 0 {
			e = append(e, (arr[i+1]-arr[i])-(sched[i+1]-sched[i]))
		}
	}
	m.Pairs = len(e)
	if len(e) > 0 {
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

	// Drift between the first and last received sequence numbers.
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
	return m
}

// rate is (n-1) frames over span ns, in packets per second; 0 if it is not
// defined.
func rate(n int, span int64) float64 {
	if n < 2 || span <= 0 {
		return 0
	}
	return float64(n-1) / (float64(span) / 1e9)
}

// Map returns the metrics under the names above, times in microseconds.
func (m Metrics) Map() map[string]float64 {
	us := func(v float64) float64 { return v / 1e3 }
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
