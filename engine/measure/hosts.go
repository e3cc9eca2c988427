package measure

// Metrics of runs whose sender and receiver are on different hosts
// (docs/hosts.md): the clocks' offset, measured over the control channel,
// that corrects the cross-host latencies, and its bound.
const (
	ClockOffsetUS      = "clock_offset_us"      // receiver's clock minus the sender's
	ClockUncertaintyUS = "clock_uncertainty_us" // bound of the offset's error, hence of each latency's
	ClockDriftUS       = "clock_drift_us"       // the larger change of a host's offset over the run
)

func init() {
	Names = append(Names,
		struct{ Name, Doc string }{ClockOffsetUS, "hosts: receiver's clock minus the sender's, mean of before and after the run (us); the latencies are corrected by it"},
		struct{ Name, Doc string }{ClockUncertaintyUS, "hosts: bound of the offset's error, and so of each corrected latency: half the best round trip plus half the drift, both hosts (us)"},
		struct{ Name, Doc string }{ClockDriftUS, "hosts: the larger change of a host's clock offset between before and after the run (us)"},
	)
}
