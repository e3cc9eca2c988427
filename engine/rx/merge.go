package rx

// Merge combines the results of receivers on several ports of one run,
// each sized for the same expected sequence numbers, into one: the
// arrival of each sequence number wherever it arrived (a number that
// arrived on two ports keeps the earlier arrival and counts as a
// duplicate), and every counter summed. The clock figures are the widest
// of the parts, and Stopped the first part's reason other than
// StopComplete, if any. The parts are not modified; Merge of one result
// returns it.
func Merge(parts ...*Result) *Result {
	if len(parts) == 1 {
		return parts[0]
	}
	out := &Result{Stopped: StopComplete}
	n := 0
	for _, p := range parts {
		n = max(n, len(p.Arrival))
	}
	out.Arrival = make([]int64, n)
	for i, p := range parts {
		for q, a := range p.Arrival {
			switch {
			case a == 0:
			case out.Arrival[q] == 0:
				out.Arrival[q] = a
			default:
				out.Arrival[q] = min(out.Arrival[q], a)
				out.Dup++
				out.Received-- // counted by both parts
			}
		}
		out.Received += p.Received
		out.Dup += p.Dup
		out.Reordered += p.Reordered
		out.OutOfRange += p.OutOfRange
		out.Unmarked += p.Unmarked
		out.Total += p.Total
		if p.FirstAny != 0 && (out.FirstAny == 0 || p.FirstAny < out.FirstAny) {
			out.FirstAny = p.FirstAny
		}
		out.LastAny = max(out.LastAny, p.LastAny)
		out.KernelPackets += p.KernelPackets
		out.KernelDrops += p.KernelDrops
		out.KernelFreezes += p.KernelFreezes
		out.Malformed += p.Malformed
		out.EarlyStamped += p.EarlyStamped
		out.Captured += p.Captured
		if i == 0 {
			out.ClockOffset = p.ClockOffset
		}
		if abs64(p.ClockDrift) > abs64(out.ClockDrift) {
			out.ClockDrift = p.ClockDrift
		}
		out.ClockUncertainty = max(out.ClockUncertainty, p.ClockUncertainty)
		if out.Stopped == StopComplete && p.Stopped != StopComplete {
			out.Stopped = p.Stopped
		}
	}
	return out
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Fairness summarises per-port receive rates: the smallest and largest,
// and Jain's fairness index (sum x)^2 / (n sum x^2), 1 when every port got
// the same rate and 1/n when one port got everything. No rates, or all
// zero, give zeros.
func Fairness(pps []float64) (lo, hi, jain float64) {
	if len(pps) == 0 {
		return 0, 0, 0
	}
	lo = pps[0]
	var sum, sq float64
	for _, x := range pps {
		lo, hi = min(lo, x), max(hi, x)
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return lo, hi, 0
	}
	return lo, hi, sum * sum / (float64(len(pps)) * sq)
}
