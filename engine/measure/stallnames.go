package measure

// Stall metrics of the receive side and of the stall probe, kept apart
// from the sender's block in measure.go. stall_count, stall_per_s,
// stall_pct, stall_p999_us and stall_max_us are the names the sender's
// own stall accounting uses for its thread; a stall_probe run reports
// its spinning thread's stalls under the same names, so the probe's row
// and the senders' rows share columns.
const (
	StallPerS    = "stall_per_s"   // stalls per second
	StallP999US  = "stall_p999_us" // stall length: 99.9th percentile
	ProbeCount   = "probe_stall_count"
	ProbePerS    = "probe_stall_per_s"
	ProbePct     = "probe_stall_pct"
	ProbeMaxUS   = "probe_stall_max_us"
	RxStallCount = "rx_stall_count"  // the receiving thread's stalls while it walked the ring
	RxStallMaxUS = "rx_stall_max_us" // ... longest
	IATCleanP50  = "iat_clean_p50_us"
	IATCleanP99  = "iat_clean_p99_us"
	IATCleanP999 = "iat_clean_p999_us"
	IATCleanMax  = "iat_clean_max_us"
	IATExcluded  = "iat_excluded"      // inter-arrival pairs left out of the clean figures
	IATExclSrc   = "iat_clean_sources" // which stalls were excluded: 1 probe, 2 sender's own, summed
)

var probeStallNames = []struct{ Name, Doc string }{
	{StallPerS, "stalls per second"},
	{StallP999US, "stall length: 99.9th percentile (us)"},
	{ProbeCount, "stalls of the probe spinning beside a paced wire run (on the receiver's CPU unless set)"},
	{ProbePerS, "the probe's stalls per second"},
	{ProbePct, "time the probe lost in stalls over the run (%)"},
	{ProbeMaxUS, "the probe's longest stall (us)"},
	{RxStallCount, "stalls of the receiving thread while it walked its ring (they delay reading, not the kernel's stamps)"},
	{RxStallMaxUS, "the receiving thread's longest stall (us)"},
	{IATCleanP50, "|inter-arrival error| over pairs not hit by an excluded stall: median (us)"},
	{IATCleanP99, "clean |inter-arrival error|: 99th percentile (us)"},
	{IATCleanP999, "clean |inter-arrival error|: 99.9th percentile (us)"},
	{IATCleanMax, "clean |inter-arrival error|: maximum (us)"},
	{IATExcluded, "inter-arrival pairs hit by an excluded stall, left out of the clean figures"},
	{IATExclSrc, "stalls the clean figures exclude: 0 none, 1 the probe's, 2 the sender's own, 3 both"},
}

func init() { Names = append(Names, probeStallNames...) }
