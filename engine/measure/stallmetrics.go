package measure

// Stall accounting of a sending thread (engine/timer.StallLog): the spans
// it did not run, the packets they touched, and the send-time error over
// the packets they did not touch.
const (
	StallCount     = "stall_count"       // stalls of the sending threads (gaps over StallThreshold)
	StallPct       = "stall_pct"         // their summed length over the sending threads' wall time, %
	StallMaxUS     = "stall_max_us"      // the longest stall
	StallSends     = "stall_send_count"  // of stall_count: gaps found around a send call
	StallShort     = "stall_short_count" // interruptions of a spin over InterruptThreshold (1 us) and up to 10 us: not stalls, but left out of the clean figures
	StallOverflow  = "stall_overflow"    // stalls counted but not stored (storage full): attribution incomplete
	PktsStalled    = "pkts_stalled"      // packets whose lateness window (due to send) a stall overlapped
	ErrCleanP50US  = "err_clean_p50_us"  // epsilon over packets no stall touched: median
	ErrCleanP99US  = "err_clean_p99_us"  // ... 99th percentile
	ErrCleanP999US = "err_clean_p999_us" // ... 99.9th percentile
	ErrCleanMaxUS  = "err_clean_max_us"  // ... maximum
	Nivcsw         = "nivcsw"            // involuntary context switches of the sending threads
	RunqWaitUS     = "runq_wait_us"      // time the sending threads were runnable but not running (schedstat)
	LateDropped    = "late_dropped"      // late = "drop": packets not sent, later than drop_after
	ShiftUS        = "shift_us"          // late = "shift": how far the schedule moved, summed over the run
)

var stallNames = []struct{ Name, Doc string }{
	{StallCount, "stalls: spans over 10 us in which a sending thread's timed loop (or the stall probe) did not run (clock gaps while spinning, wake-ups later than expected, slow sends)"},
	{StallPct, "summed stall time over the sending threads' (or the probe's) wall time (%)"},
	{StallMaxUS, "the longest stall (us)"},
	{StallSends, "of the stalls, those found around a send call (between two waits)"},
	{StallShort, "interruptions of a sending thread's spin longer than 1 us and up to 10 us (ticks, interrupts, short hypervisor exits): not counted as stalls, but the packets they touched are left out of the clean figures like a stall's"},
	{StallOverflow, "stalls counted but not stored, the storage being full: per-packet attribution is incomplete"},
	{PktsStalled, "packets a stall or an interruption over 1 us touched: one overlapped the span from the packet's due time to its send"},
	{ErrCleanP50US, "epsilon over the packets no stall touched, against the schedule the late policy kept: median (us)"},
	{ErrCleanP99US, "epsilon over untouched packets: 99th percentile (us)"},
	{ErrCleanP999US, "epsilon over untouched packets: 99.9th percentile (us)"},
	{ErrCleanMaxUS, "epsilon over untouched packets: maximum (us)"},
	{Nivcsw, "involuntary context switches of the sending threads during the timed loop"},
	{RunqWaitUS, "time the sending threads were runnable but waited for a CPU (/proc/thread-self/schedstat, us)"},
	{LateDropped, "late = \"drop\": packets not sent because they were later than drop_after"},
	{ShiftUS, "late = \"shift\": how far the schedule moved after late packets, summed over the run (us)"},
}

func init() { Names = append(Names, stallNames...) }

// AddCleanErrorMetrics puts the percentiles of errs (ns) over the packets
// whose stall is 0 into m, in us.
func AddCleanErrorMetrics(m map[string]float64, errs, stall []int64) {
	clean := make([]int64, 0, len(errs))
	for i, e := range errs {
		if stall[i] == 0 {
			clean = append(clean, e)
		}
	}
	if len(clean) == 0 {
		return
	}
	s := Summarize(clean)
	m[ErrCleanP50US] = float64(s.P50) / 1e3
	m[ErrCleanP99US] = float64(s.P99) / 1e3
	m[ErrCleanP999US] = float64(s.P999) / 1e3
	m[ErrCleanMaxUS] = float64(s.Max) / 1e3
}
