package measure

// Runs on several ports (topology.veth(pairs = N)): a receiver per port,
// and how evenly the ports were served.
const (
	RxPortMinPPS = "rx_port_min_pps" // received rate of the slowest port
	RxPortMaxPPS = "rx_port_max_pps" // ... of the fastest port
	RxPortJain   = "rx_port_jain"    // Jain's fairness index over the ports' received rates
	RxSendPct    = "rx_send_pct"     // frames received as % of the frames sent
)

func init() {
	Names = append(Names, []struct{ Name, Doc string }{
		{RxPortMinPPS, "several ports: received rate (frames/s) of the slowest port"},
		{RxPortMaxPPS, "several ports: received rate (frames/s) of the fastest port"},
		{RxPortJain, "several ports: Jain's fairness index (sum x)^2 / (n sum x^2) of the ports' received rates: 1 even, 1/n one port only"},
		{RxSendPct, "several ports: frames received as % of the frames sent: the share of what the sender offered that the receiver took"},
	}...)
}
