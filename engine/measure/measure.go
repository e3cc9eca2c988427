// Package measure turns raw per-packet times into the numbers labrun
// reports: exact percentiles, CPU utilisation, achieved rates. Metric names
// are defined here once and used by tables, CSV files and figures alike.
package measure

import (
	"math"
	"slices"
)

// Metric names shared by tables, runs.csv and figures. Errors are the send
// time error epsilon = actual - scheduled send time, in microseconds.
const (
	Packets      = "packets"        // packets sent
	WallS        = "wall_s"         // wall time of the timed loop, s
	RateReqPPS   = "rate_req_pps"   // requested packet rate
	RatePPS      = "rate_pps"       // achieved packet rate
	CPUPct       = "cpu_pct"        // CPU time of the sending thread / wall time, %
	ProcCPUPct   = "proc_cpu_pct"   // CPU time of the whole process / wall time, %
	ErrMeanUS    = "err_mean_us"    // epsilon mean
	ErrStdUS     = "err_std_us"     // epsilon standard deviation
	ErrMinUS     = "err_min_us"     // epsilon minimum
	ErrP50US     = "err_p50_us"     // epsilon median
	ErrP90US     = "err_p90_us"     // epsilon 90th percentile
	ErrP99US     = "err_p99_us"     // epsilon 99th percentile
	ErrP999US    = "err_p999_us"    // epsilon 99.9th percentile
	ErrMaxUS     = "err_max_us"     // epsilon maximum
	DriftUS      = "drift_us"       // epsilon of the last packet: how late the run ended
	GapErrP50US  = "gap_err_p50_us" // |actual gap - scheduled gap| between consecutive packets: median
	GapErrP99US  = "gap_err_p99_us" // ... 99th percentile
	GapErrSumUS  = "gap_err_sum_us" // ... sum over the run
	ReadP50US    = "read_p50_us"    // per-packet read latency of a capture: median
	ReadP99US    = "read_p99_us"
	ReadP999US   = "read_p999_us"
	ReadMaxUS    = "read_max_us"
	Skipped      = "skipped"        // capture packets left out: not Ethernet, or not transformable
	TimerSleeps  = "timer_sleeps"   // waits that entered the kernel
	Senders      = "senders"        // sending threads
	SendRetries  = "send_retries"   // sends repeated after ENOBUFS/EAGAIN
	SendErrors   = "send_errors"    // frames given up after retries
	SendSyscalls = "send_syscalls"  // system calls that sent frames
	FirmMargin   = "firm_margin_us" // firm timer: final wake-up margin

	// Measured at the receiver, on the far side of the wire.
	Sent          = "sent"            // frames the sender handed to the kernel (labrun) or reported sent (a peer tool)
	RxReceived    = "rx_received"     // distinct labrun frames that arrived
	RxLost        = "rx_lost"         // frames sent that never arrived
	RxDup         = "rx_dup"          // frames that arrived again
	RxReordered   = "rx_reordered"    // frames that arrived after a later one
	RxUnmarked    = "rx_unmarked"     // frames without labrun's sequence marker
	RxOutOfRange  = "rx_out_of_range" // labrun frames with a sequence number past the trace's
	RxKernelDrops = "rx_kernel_drops" // dropped by the receiving socket (ring full)
	LinkDrops     = "link_drops"      // dropped by the veth pair (backlog full)
	RxUnexplained = "rx_unexplained"  // sent - received - counted drops: 0 when accounting is exact
	RxHWStamped   = "rx_hw_stamped"   // frames the NIC stamped (named interfaces, timestamps = "hardware")
	RxPPS         = "rx_pps"          // received rate of labrun frames
	RxAllPPS      = "rx_all_pps"      // received rate of all frames
	IATErrMeanUS  = "iat_err_mean_us" // inter-arrival error e = measured - requested gap: mean
	IATErrStdUS   = "iat_err_std_us"
	IATErrMAEUS   = "iat_err_mae_us" // mean |e|
	IATErrP50US   = "iat_err_p50_us" // |e| percentiles
	IATErrP95US   = "iat_err_p95_us"
	IATErrP99US   = "iat_err_p99_us"
	IATErrP999US  = "iat_err_p999_us"
	IATErrMaxUS   = "iat_err_max_us"
	RxDriftUS     = "rx_drift_us"  // how late the last frame arrived against the schedule, from the first
	RxDriftPct    = "rx_drift_pct" // ... as a percentage of the scheduled span
	LatP50US      = "lat_p50_us"   // one-way latency, actual send to arrival: median
	LatP99US      = "lat_p99_us"
	LatMaxUS      = "lat_max_us"
)

// The emulated link (TLEM): its own counters, the pipeline's speed and the
// model's fidelity.
const (
	LinkArrived     = "link_arrived"        // frames that reached the emulated link
	LinkQueueDrops  = "link_queue_drops"    // dropped because the link queue was full
	LinkLossDrops   = "link_loss_drops"     // dropped by the loss model
	LinkDelivered   = "link_delivered"      // released by the output stage
	LinkQueuePeak   = "link_queue_peak"     // most frames in the link queue at an arrival
	LinkBytes       = "link_bytes"          // bytes the emulated link released
	RevArrived      = "rev_link_arrived"    // the reverse direction (receiver to sender): frames in
	RevDrops        = "rev_link_drops"      // ... dropped by its queue or loss model
	RevDelivered    = "rev_link_delivered"  // ... released
	LinkInputDrops  = "link_input_drops"    // dropped by the kernel before the emulator read them (its receive ring was full)
	LinkPreempted   = "link_preempted"      // times another thread took the emulator's output thread's CPU
	StealMS         = "steal_ms"            // CPU time the host took from this machine's vCPUs during the run, ms
	InLagP99US      = "in_lag_p99_us"       // time from a frame's kernel arrival to the emulator reading it: 99th percentile
	InLagMaxUS      = "in_lag_max_us"       // ... maximum
	RelErrP50US     = "rel_err_p50_us"      // release error = actual - scheduled release: median
	RelErrP99US     = "rel_err_p99_us"      // ... 99th percentile
	RelErrP999US    = "rel_err_p999_us"     // ... 99.9th percentile
	RelErrMaxUS     = "rel_err_max_us"      // ... maximum
	PipeNsPerPkt    = "ns_per_pkt"          // in-memory pipeline: time per frame
	PipeMpps        = "mpps"                // ... the packet rate it corresponds to
	PipeGbps        = "gbps"                // ... and the bit rate, counting 24 B of Ethernet framing
	PipeInCPUPct    = "in_cpu_pct"          // input stage CPU time over wall time
	PipeOutCPUPct   = "out_cpu_pct"         // output stage CPU time over wall time
	DelayKS         = "delay_ks"            // Kolmogorov-Smirnov distance, measured delays vs the requested distribution
	DelayMeanUS     = "delay_mean_us"       // measured delay: mean
	DelayReqMeanUS  = "delay_req_mean_us"   // requested distribution: mean
	DelayP50US      = "delay_p50_us"        // measured delay: median
	DelayReqP50US   = "delay_req_p50_us"    // requested: median
	DelayP99US      = "delay_p99_us"        // measured delay: 99th percentile
	DelayReqP99US   = "delay_req_p99_us"    // requested: 99th percentile
	LossRate        = "loss_rate"           // measured loss rate of the loss model
	LossTheory      = "loss_theory"         // the model's long-run loss rate
	LossCILo        = "loss_ci_lo"          // 99 % interval of the measured rate (link.LossInterval): low end
	LossCIHi        = "loss_ci_hi"          // ... high end
	LossInCI        = "loss_in_ci"          // 1 when the theoretical rate lies inside the interval
	BurstMean       = "burst_mean"          // measured mean length of runs of consecutive losses
	BurstTheory     = "burst_theory"        // the model's mean burst length
	BurstErrPct     = "burst_err_pct"       // (measured - theory) / theory, %
	LinkReordered   = "link_reordered"      // frames released before an earlier one
	SameSeedSame    = "same_seed_same"      // 1 when a second run with the same seed dropped and delayed the same frames
	OtherSeedDiffer = "other_seed_differs"  // 1 when a run with another seed dropped other frames
	ShapeMbps       = "shape_mbps"          // delivered rate through a shaper, counting its framing overhead (Mbit/s)
	ShapeRateErrPct = "shape_rate_err_pct"  // (delivered - configured rate) / configured, %
	ShapeGapP50US   = "shape_gap_p50_us"    // |inter-arrival - (len + overhead) / rate| between consecutive frames: median
	ShapeGapP99US   = "shape_gap_p99_us"    // ... 99th percentile
	ShapeGapMaxUS   = "shape_gap_max_us"    // ... maximum
	Goodput         = "goodput_mbps"        // TCP payload delivered over the transfer (Mbit/s)
	SteadyGoodput   = "steady_goodput_mbps" // ... after the warm-up
	GoodputPct      = "goodput_pct"         // steady goodput over the emulated link's bandwidth, %
	TCPRetrans      = "tcp_retrans"         // segments retransmitted (tcpi_total_retrans)
	SRTTms          = "srtt_ms"             // smoothed RTT at the end
	MinRTTms        = "min_rtt_ms"          // smallest RTT the sender saw
	RTTP50ms        = "rtt_p50_ms"          // TCP_INFO RTT samples: median
	RTTP99ms        = "rtt_p99_ms"          // ... 99th percentile
	RRCount         = "rr_count"            // request/response transactions completed
	RRP50ms         = "rr_p50_ms"           // transaction time: median
	RRP99ms         = "rr_p99_ms"           // ... 99th percentile
	RRMaxms         = "rr_max_ms"           // ... maximum
)

// Background loads: how much work each kind of load really did during the
// run (summed over loads of a kind).
const (
	LoadCPUPct       = "load_cpu_pct"         // CPU time of all background loads over the run's wall time, %
	LoadSpinLoops    = "load_cpu_loops_s"     // CPU load: spin loops per second
	LoadVMFaults     = "load_vm_faults_s"     // memory load: page faults per second
	LoadHDDMBs       = "load_hdd_mb_s"        // file-system load: MB written and read per second
	LoadUDPPPS       = "load_udp_pps"         // loopback flood: packets per second
	LoadTimerWakeups = "load_timer_wakeups_s" // timer storm: expirations per second
	LoadStressOps    = "load_stress_ops_s"    // stress-ng: bogo operations per second, all stressors
)

// Names lists every metric in report order, with a one-line meaning.
var Names = []struct{ Name, Doc string }{
	{Packets, "packets sent"},
	{WallS, "wall time of the timed loop (s)"},
	{RateReqPPS, "requested rate (packets/s, from the schedule)"},
	{RatePPS, "achieved rate (packets/s)"},
	{CPUPct, "CPU time of the sending thread over wall time (%)"},
	{ProcCPUPct, "CPU time of the labrun process over wall time (%)"},
	{ErrMeanUS, "send-time error epsilon = actual - scheduled: mean (us)"},
	{ErrStdUS, "epsilon standard deviation (us)"},
	{ErrMinUS, "epsilon minimum (us)"},
	{ErrP50US, "epsilon median (us)"},
	{ErrP90US, "epsilon 90th percentile (us)"},
	{ErrP99US, "epsilon 99th percentile (us)"},
	{ErrP999US, "epsilon 99.9th percentile (us)"},
	{ErrMaxUS, "epsilon maximum (us)"},
	{DriftUS, "epsilon of the last packet (us): how late the run ended"},
	{GapErrP50US, "|actual - scheduled gap| between consecutive packets: median (us)"},
	{GapErrP99US, "|gap error|: 99th percentile (us)"},
	{GapErrSumUS, "|gap error| summed over the run (us)"},
	{ReadP50US, "time to read one packet from the capture: median (us)"},
	{ReadP99US, "read time: 99th percentile (us)"},
	{ReadP999US, "read time: 99.9th percentile (us)"},
	{ReadMaxUS, "read time: maximum (us)"},
	{Skipped, "capture packets left out of the replay (not Ethernet, or could not be transformed): counted, never sent"},
	{TimerSleeps, "waits that slept in the kernel"},
	{Senders, "sending threads (the trace split between them by flow)"},
	{SendRetries, "sends repeated after ENOBUFS or EAGAIN"},
	{SendErrors, "frames given up after retries (counted, not lost silently)"},
	{SendSyscalls, "system calls that sent frames"},
	{Sent, "frames sent: accepted by the kernel (labrun) or reported sent by the tool"},
	{RxReceived, "distinct frames that arrived at the receiver"},
	{RxLost, "frames that never arrived"},
	{RxDup, "frames that arrived more than once"},
	{RxReordered, "frames that arrived after a frame the same sending thread sent later"},
	{RxUnmarked, "frames at the receiver without labrun's sequence number (other traffic, or a tool that cannot number frames)"},
	{RxOutOfRange, "labrun frames whose sequence number is past the trace's last (another run's frames)"},
	{RxKernelDrops, "frames the receiving socket dropped (its ring was full)"},
	{LinkDrops, "frames the veth pair refused (backlog full): the sender is told (ENOBUFS); labrun and tcpreplay send them again"},
	{RxUnexplained, "sent - received - receiver ring drops (and, for trafgen, which does not resend, - link drops): 0 when every frame is accounted for"},
	{RxHWStamped, "frames the receiving NIC stamped with its own clock (topology.interfaces(timestamps = \"hardware\")); the rest have the kernel's software stamps"},
	{RxPPS, "received rate (frames/s), first to last arrival"},
	{RxAllPPS, "received rate of every frame, labrun's or not (frames/s)"},
	{IATErrMeanUS, "inter-arrival error e = measured gap - scheduled gap: mean (us)"},
	{IATErrStdUS, "inter-arrival error: standard deviation (us)"},
	{IATErrMAEUS, "inter-arrival error: mean |e| (us)"},
	{IATErrP50US, "|inter-arrival error|: median (us)"},
	{IATErrP95US, "|inter-arrival error|: 95th percentile (us, Caliper's metric)"},
	{IATErrP99US, "|inter-arrival error|: 99th percentile (us)"},
	{IATErrP999US, "|inter-arrival error|: 99.9th percentile (us)"},
	{IATErrMaxUS, "|inter-arrival error|: maximum (us)"},
	{RxDriftUS, "how late the last frame arrived, against the schedule counted from the first arrival (us)"},
	{RxDriftPct, "drift as a percentage of the scheduled span"},
	{LatP50US, "one-way latency from labrun's send to arrival: median (us)"},
	{LatP99US, "one-way latency: 99th percentile (us)"},
	{LatMaxUS, "one-way latency: maximum (us)"},
	{FirmMargin, "firm timer's learned wake-up margin at the end (us)"},
	{LinkArrived, "frames that reached the emulated link"},
	{LinkQueueDrops, "frames the emulated link dropped because its queue was full"},
	{LinkLossDrops, "frames the emulated link's loss model dropped"},
	{LinkDelivered, "frames the emulated link released"},
	{LinkQueuePeak, "most frames in the emulated link's queue at an arrival"},
	{LinkBytes, "bytes the emulated link released"},
	{RevArrived, "reverse direction of the emulated link (receiver to sender): frames in"},
	{RevDrops, "reverse direction: frames dropped by its queue or loss model"},
	{RevDelivered, "reverse direction: frames released"},
	{LinkInputDrops, "frames the kernel dropped before the emulator read them (its receive ring was full)"},
	{LinkPreempted, "times another thread took the emulated link's output thread's CPU (involuntary context switches)"},
	{StealMS, "CPU time the host took from this machine's vCPUs during the run (steal time summed over CPUs, ms)"},
	{InLagP99US, "time from a frame's kernel arrival at the emulator to the emulator reading it: 99th percentile (us); a frame read later than its delay cannot leave on time"},
	{InLagMaxUS, "time from kernel arrival to the emulator reading a frame: maximum (us)"},
	{RelErrP50US, "emulator release error = actual - scheduled release: median (us)"},
	{RelErrP99US, "release error: 99th percentile (us)"},
	{RelErrP999US, "release error: 99.9th percentile (us)"},
	{RelErrMaxUS, "release error: maximum (us)"},
	{PipeNsPerPkt, "in-memory link pipeline: time per frame (ns)"},
	{PipeMpps, "in-memory link pipeline: frames per second it corresponds to (millions)"},
	{PipeGbps, "in-memory link pipeline: bit rate it corresponds to, with 24 B Ethernet framing per frame (Gbit/s)"},
	{PipeInCPUPct, "input stage CPU time over wall time (%)"},
	{PipeOutCPUPct, "output stage CPU time over wall time (%)"},
	{DelayKS, "Kolmogorov-Smirnov distance between the measured delays and the requested distribution"},
	{DelayMeanUS, "measured link delay: mean (us)"},
	{DelayReqMeanUS, "requested delay distribution: mean (us)"},
	{DelayP50US, "measured link delay: median (us)"},
	{DelayReqP50US, "requested delay distribution: median (us)"},
	{DelayP99US, "measured link delay: 99th percentile (us)"},
	{DelayReqP99US, "requested delay distribution: 99th percentile (us)"},
	{LossRate, "measured loss rate of the loss model"},
	{LossTheory, "the loss model's long-run loss rate"},
	{LossCILo, "99 % interval of the measured loss rate (Wilson; for a Markov model over the effective sample): low end"},
	{LossCIHi, "99 % interval of the measured loss rate (Wilson; for a Markov model over the effective sample): high end"},
	{LossInCI, "1 when the model's loss rate lies inside the 99 % interval of the measured one"},
	{BurstMean, "measured mean length of runs of consecutive losses"},
	{BurstTheory, "the loss model's mean burst length"},
	{BurstErrPct, "(measured - theoretical mean burst) / theoretical (%)"},
	{LinkReordered, "frames the emulated link released before an earlier one (always 0: release times are forced monotonic)"},
	{SameSeedSame, "1 when a second run with the same seed dropped and delayed the very same frames"},
	{OtherSeedDiffer, "1 when a run with another seed dropped other frames"},
	{ShapeMbps, "delivered rate through the shaper (emulated link or tbf), counting its framing overhead: the least-squares slope of arrival time over frame count (Mbit/s)"},
	{ShapeRateErrPct, "(delivered - configured rate) / configured rate (%)"},
	{ShapeGapP50US, "|inter-arrival - frame time at the configured rate| between consecutive frames: median (us)"},
	{ShapeGapP99US, "|inter-arrival - frame time|: 99th percentile (us)"},
	{ShapeGapMaxUS, "|inter-arrival - frame time|: maximum (us)"},
	{Goodput, "TCP payload delivered, first to last byte at the receiver (Mbit/s)"},
	{SteadyGoodput, "TCP goodput after the warm-up (Mbit/s)"},
	{GoodputPct, "steady goodput as a share of the emulated link's bandwidth (%)"},
	{TCPRetrans, "TCP segments retransmitted by the sender (tcpi_total_retrans)"},
	{SRTTms, "TCP smoothed RTT at the end (ms; iperf3: mean RTT)"},
	{MinRTTms, "smallest RTT the TCP sender saw (ms)"},
	{RTTP50ms, "TCP_INFO RTT samples every 10 ms: median (ms)"},
	{RTTP99ms, "TCP_INFO RTT samples: 99th percentile (ms)"},
	{RRCount, "request/response transactions completed"},
	{RRP50ms, "request/response transaction time: median (ms)"},
	{RRP99ms, "request/response transaction time: 99th percentile (ms)"},
	{RRMaxms, "request/response transaction time: maximum (ms)"},
	{LoadCPUPct, "CPU time of the background loads over the run's wall time (%, 100 = one CPU)"},
	{LoadSpinLoops, "CPU load: spin loops per second"},
	{LoadVMFaults, "memory load: page faults per second"},
	{LoadHDDMBs, "file-system load: MB written and read per second"},
	{LoadUDPPPS, "loopback UDP flood: packets per second"},
	{LoadTimerWakeups, "timer storm: timer expirations per second"},
	{LoadStressOps, "stress-ng: bogo operations per second, all stressors"},
}

// Known reports whether name is a metric labrun produces.
func Known(name string) bool {
	for _, n := range Names {
		if n.Name == name {
			return true
		}
	}
	return false
}

// Summary describes a distribution of nanosecond values.
type Summary struct {
	N                             int
	Mean, Std                     float64
	Min, P50, P90, P99, P999, Max int64
}

// Summarize computes exact statistics of vals (ns). vals is not modified.
func Summarize(vals []int64) Summary {
	if len(vals) == 0 {
		return Summary{}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	var sum, sq float64
	for _, v := range s {
		sum += float64(v)
	}
	mean := sum / float64(len(s))
	for _, v := range s {
		d := float64(v) - mean
		sq += d * d
	}
	return Summary{
		N: len(s), Mean: mean, Std: math.Sqrt(sq / float64(len(s))),
		Min: s[0], P50: Quantile(s, 0.5), P90: Quantile(s, 0.9), P99: Quantile(s, 0.99),
		P999: Quantile(s, 0.999), Max: s[len(s)-1],
	}
}

// Quantile returns the q-quantile of sorted values by the nearest-rank
// method: the smallest value with at least q of the values at or below it.
func Quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	r := int(math.Ceil(q*float64(len(sorted)))) - 1
	r = max(0, min(r, len(sorted)-1))
	return sorted[r]
}

// AddGapMetrics puts the distribution of |actual gap - scheduled gap|
// between consecutive packets into m: how well a replay reproduces the
// trace's inter-packet gaps, whatever the absolute lateness.
func AddGapMetrics(m map[string]float64, sched, actual []int64) {
	if len(sched) < 2 {
		return
	}
	gaps := make([]int64, len(sched)-1)
	var sum float64
	for i := 1; i < len(sched); i++ {
		d := (actual[i] - actual[i-1]) - (sched[i] - sched[i-1])
		if d < 0 {
			d = -d
		}
		gaps[i-1] = d
		sum += float64(d)
	}
	s := Summarize(gaps)
	m[GapErrP50US] = float64(s.P50) / 1e3
	m[GapErrP99US] = float64(s.P99) / 1e3
	m[GapErrSumUS] = sum / 1e3
}

// AddReadMetrics summarises per-packet read latencies (ns) into m.
func AddReadMetrics(m map[string]float64, lat []int64) {
	if len(lat) == 0 {
		return
	}
	s := Summarize(lat)
	m[ReadP50US] = float64(s.P50) / 1e3
	m[ReadP99US] = float64(s.P99) / 1e3
	m[ReadP999US] = float64(s.P999) / 1e3
	m[ReadMaxUS] = float64(s.Max) / 1e3
}

// Errors fills err[i] = actual[i] - sched[i].
func Errors(err, sched, actual []int64) {
	for i := range err {
		err[i] = actual[i] - sched[i]
	}
}

// AddErrorMetrics puts the summary of errors (ns) into m, in microseconds.
func AddErrorMetrics(m map[string]float64, errs []int64) {
	if len(errs) == 0 {
		return
	}
	s := Summarize(errs)
	us := func(v float64) float64 { return v / 1e3 }
	m[ErrMeanUS] = us(s.Mean)
	m[ErrStdUS] = us(s.Std)
	m[ErrMinUS] = us(float64(s.Min))
	m[ErrP50US] = us(float64(s.P50))
	m[ErrP90US] = us(float64(s.P90))
	m[ErrP99US] = us(float64(s.P99))
	m[ErrP999US] = us(float64(s.P999))
	m[ErrMaxUS] = us(float64(s.Max))
	m[DriftUS] = us(float64(errs[len(errs)-1]))
}
