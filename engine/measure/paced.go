package measure

// Paced TCP flows (tcp.paced, tcp.iperf3 with a rate): what the receiver
// saw of the flow's data segments. Their inter-arrival errors use the
// iat_err_* names, rates rate_req_pps and rx_pps, as for UDP frames.
const (
	TCPSegments   = "tcp_segments"     // new data segments of the flow at the receiver
	TCPSegRetrans = "tcp_seg_retrans"  // segments at the receiver that ended at or below the highest byte seen (retransmissions)
	TCPSegOdd     = "tcp_seg_odd_size" // segments whose payload was not the flow's usual size
	TCPMSS        = "tcp_mss"          // the sender's MSS (TCP_MAXSEG)
	PaceLateP50US = "pace_late_p50_us" // timed writes: start - due time, median
	PaceLateP99US = "pace_late_p99_us" // ... 99th percentile
)

func init() {
	Names = append(Names, []struct{ Name, Doc string }{
		{TCPSegments, "paced TCP: new data segments of the flow captured at the receiver"},
		{TCPSegRetrans, "paced TCP: segments at the receiver that ended at or below the highest byte seen before (retransmissions; left out of iat_err_*)"},
		{TCPSegOdd, "paced TCP: segments whose payload was not the flow's most common size (writes merged or split)"},
		{TCPMSS, "paced TCP: the sender's MSS (TCP_MAXSEG, bytes)"},
		{PaceLateP50US, "paced TCP, labrun's timer: start of a write minus its due time, median (us)"},
		{PaceLateP99US, "paced TCP, labrun's timer: start of a write minus its due time, 99th percentile (us)"},
	}...)
}
