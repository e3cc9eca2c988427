package execute

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"time"

	"github.com/labrun/labrun/engine/flow"
	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/linkconf"
	"github.com/labrun/labrun/runner/plan"
)

// runWorkload executes a run whose workload measures the emulator itself.
func runWorkload(ctx context.Context, r plan.Run, prog *progress) (results.Row, error) {
	row := results.Row{ID: r.ID, Params: r.Params, Metrics: map[string]float64{}}
	w := r.Config.Workload
	prog.sent.Store(0)
	prog.packets.Store(int64(w.Packets))
	switch w.Kind {
	case "throughput":
		in, out := -1, -1
		if n := runtime.NumCPU(); n > 1 {
			in, out = 0, n-1
		}
		res, err := link.MeasureThroughput(link.ThroughputConfig{Packets: w.Packets, Frame: int(w.Frame), Delay: time.Duration(w.Delay),
			NoCopy: w.NoCopy, Plain: w.Plain, Batch: w.Batch, InCPU: in, OutCPU: out})
		if err != nil {
			return row, err
		}
		prog.sent.Store(int64(w.Packets))
		m := row.Metrics
		m[measure.Packets] = float64(res.Packets)
		m[measure.PipeNsPerPkt] = res.NsPerPkt
		m[measure.PipeMpps] = 1e3 / res.NsPerPkt
		m[measure.PipeGbps] = float64(int(w.Frame)+24) * 8 / res.NsPerPkt
		wall := res.Elapsed + time.Duration(w.Delay)
		m[measure.PipeInCPUPct] = measure.Pct(res.InputCPU, wall)
		m[measure.PipeOutCPUPct] = measure.Pct(res.OutputCPU, wall)
		m[measure.WallS] = wall.Seconds()
		return row, nil
	case "fidelity":
		return row, fidelity(ctx, r, row.Metrics, prog)
	case "tcp.bulk", "tcp.rr", "tcp.iperf3", "tcp.paced":
		return row, runTCP(ctx, r, row.Metrics)
	}
	return row, fmt.Errorf("unknown workload %q", w.Kind)
}

// simulation is the outcome of running a model over a virtual schedule.
type simulation struct {
	fates   []link.Fate
	release []int64
	stats   link.ModelStats
}

// simulate feeds n frames arriving every gap (virtual time: nothing waits)
// through a fresh model.
func simulate(ctx context.Context, c link.Config, n int, gap time.Duration, frame int) (simulation, error) {
	m, err := link.NewModel(c)
	if err != nil {
		return simulation{}, err
	}
	s := simulation{fates: make([]link.Fate, n), release: make([]int64, n)}
	for i := 0; i < n; i++ {
		if i&0xffff == 0 && ctx.Err() != nil {
			return s, ctx.Err()
		}
		s.release[i], s.fates[i] = m.Admit(int64(i)*int64(gap), frame)
	}
	s.stats = m.Stats()
	return s, nil
}

// hash digests which frames were dropped and when the others leave.
func (s simulation) hash(withRelease bool) uint64 {
	h := fnv.New64a()
	var b [9]byte
	for i, f := range s.fates {
		b[0] = byte(f)
		r := uint64(0)
		if withRelease && f == link.Deliver {
			r = uint64(s.release[i])
		}
		for k := 0; k < 8; k++ {
			b[1+k] = byte(r >> (8 * k))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}

// fidelity runs the run's link model over a virtual schedule of frames
// and compares what it did with what was asked: the delay distribution,
// the loss rate and burst lengths, reordering, and reproducibility by
// seed.
func fidelity(ctx context.Context, r plan.Run, m map[string]float64, prog *progress) error {
	w := r.Config.Workload
	c, err := linkconf.Link(r.Config.Link, r.Seed)
	if err != nil {
		return err
	}
	n, gap, frame := w.Packets, time.Duration(w.Gap), int(w.Frame)
	s, err := simulate(ctx, c, n, gap, frame)
	if err != nil {
		return err
	}
	prog.sent.Store(int64(n))
	st := s.stats
	m[measure.Packets] = float64(n)
	m[measure.LinkArrived] = float64(st.Arrived)
	m[measure.LinkQueueDrops] = float64(st.QueueDrops)
	m[measure.LinkLossDrops] = float64(st.LossDrops)
	m[measure.LinkDelivered] = float64(st.Delivered)
	m[measure.LinkQueuePeak] = float64(st.QueuePeakPackets)

	addDelayMetrics(m, c, s, gap)
	if c.Loss != nil {
		addLossMetrics(m, c.Loss, s, n, frame)
	}
	again, err := simulate(ctx, c, n, gap, frame)
	if err != nil {
		return err
	}
	m[measure.SameSeedSame] = b2f(again.hash(true) == s.hash(true))
	if c.Loss != nil {
		c2 := c
		c2.Seed = c.Seed + 0x9e3779b97f4a7c15
		other, err := simulate(ctx, c2, n, gap, frame)
		if err != nil {
			return err
		}
		m[measure.OtherSeedDiffer] = b2f(other.hash(false) != s.hash(false))
	}
	return nil
}

// addDelayMetrics puts the simulation's reordering and, for a delay
// model alone, the delays it gave against those it was asked for.
func addDelayMetrics(m map[string]float64, c link.Config, s simulation, gap time.Duration) {
	var delays []int64
	reordered, last := 0, int64(-1<<63)
	for i, f := range s.fates {
		if f != link.Deliver {
			continue
		}
		if s.release[i] < last {
			reordered++
		}
		last = s.release[i]
		delays = append(delays, s.release[i]-int64(i)*int64(gap))
	}
	m[measure.LinkReordered] = float64(reordered)
	if c.Delay != nil && c.Bandwidth == 0 && c.Rate == nil && len(delays) > 0 {
		m[measure.DelayReqMeanUS] = c.Delay.Mean() / 1e3
		m[measure.DelayReqP50US] = float64(c.Delay.Quantile(0.5)) / 1e3
		m[measure.DelayReqP99US] = float64(c.Delay.Quantile(0.99)) / 1e3
		var sum float64
		for _, d := range delays {
			sum += float64(d)
		}
		m[measure.DelayMeanUS] = sum / float64(len(delays)) / 1e3
		m[measure.DelayKS] = link.KSDistance(delays, c.Delay) // sorts delays
		slices.Sort(delays)
		m[measure.DelayP50US] = float64(measure.Quantile(delays, 0.5)) / 1e3
		m[measure.DelayP99US] = float64(measure.Quantile(delays, 0.99)) / 1e3
	}
}

// addLossMetrics puts the simulation's loss rate and bursts against the
// loss model's.
func addLossMetrics(m map[string]float64, loss link.LossModel, s simulation, n, frame int) {
	st := s.stats
	lost := st.LossDrops
	arrived := st.Arrived
	rate := float64(lost) / float64(arrived)
	lo, hi := link.LossInterval(loss, lost, arrived, 0.99)
	theory := lossTheory(loss, frame)
	m[measure.LossRate], m[measure.LossTheory], m[measure.LossCILo], m[measure.LossCIHi] = rate, theory, lo, hi
	m[measure.LossInCI] = 0
	if theory >= lo && theory <= hi {
		m[measure.LossInCI] = 1
	}
	dropped := make([]bool, n)
	for i, f := range s.fates {
		dropped[i] = f == link.DropLoss
	}
	mean, _ := link.Bursts(dropped)
	m[measure.BurstMean] = mean
	if bt := loss.MeanBurst(); bt > 0 {
		m[measure.BurstTheory] = bt
		m[measure.BurstErrPct] = (mean - bt) / bt * 100
	}
}

// lossTheory is the model's loss rate for frames of the given length.
func lossTheory(l link.LossModel, frame int) float64 {
	if f, ok := l.(interface{ RateFor(int) float64 }); ok {
		return f.RateFor(frame)
	}
	return l.Rate()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// startForwarder runs the run's emulated link in the topology's emulator
// namespace: the forward direction with the link's model, the reverse
// with its reverse model (a plain pass-through if it has none).
// cpuLayout places the threads of a run with an emulated link.
type cpuLayout struct{ emu, sender int }

// emuCPUs gives the emulated link the last CPU to itself, where nothing
// else of labrun runs: a thread waking on its CPU would hold back a
// release for as long as it runs. The sender gets the CPU before it, or on
// a two-CPU machine shares CPU 0 with the receiver and the rest: the link
// times every frame from its arrival, so the sender's own jitter does not
// enter the link's release error. -1: no pinning (one CPU).
func emuCPUs(n int) cpuLayout {
	switch {
	case n <= 1:
		return cpuLayout{-1, -1}
	case n == 2:
		return cpuLayout{1, 0}
	}
	return cpuLayout{n - 1, n - 2}
}

func startForwarder(tp *topo.Topology, lc *plan.LinkConfig, seed uint64, expect, cpu int) (*link.Forwarder, error) {
	fwd, err := linkconf.Link(lc, seed)
	if err != nil {
		return nil, err
	}
	var rev link.Config
	if lc.Reverse != nil {
		if rev, err = linkconf.Link(lc.Reverse, seed+1); err != nil {
			return nil, err
		}
	}
	e := tp.Emulator
	record := expect
	if record > 50_000_000 {
		record = 50_000_000
	}
	revBatch := link.DefaultBatch
	if lc.Reverse != nil {
		revBatch = lc.Reverse.Batch
	}
	// With a CPU of its own the link spins while it waits for a due time:
	// sleeping would only add a wake-up's lateness.
	wait := timer.Firm
	if cpu >= 0 {
		wait = timer.Busy
	}
	dirs := []link.Direction{
		{Name: "forward", Link: fwd, In: e.Ifindex, Out: e.Ifindex2, SrcMAC: e.MAC2, DstMAC: tp.Receiver.MAC,
			InCPU: cpu, OutCPU: cpu, Record: record, Batch: lc.Batch, Buffer: lc.Buffer, Timer: wait, Stages: lc.Stages},
		// The reverse direction (acknowledgements, replies) sleeps between
		// due times and stays off the forward direction's CPU: two threads
		// spinning on one CPU would take turns in slices of milliseconds.
		{Name: "reverse", Link: rev, In: e.Ifindex2, Out: e.Ifindex, SrcMAC: e.MAC, DstMAC: tp.Sender.MAC,
			InCPU: -1, OutCPU: -1, Batch: revBatch, Timer: timer.Firm},
	}
	return link.StartForwarder(e.Do, dirs, 5*time.Second+time.Duration(delayMaxOf(fwd)))
}

func delayMaxOf(c link.Config) int64 {
	if c.Delay == nil {
		return 0
	}
	return c.Delay.Max()
}

// addForwardMetrics puts the forward direction's counters into m.
func addForwardMetrics(m map[string]float64, st link.ForwardStats) {
	p := st.Pipe
	m[measure.LinkArrived] = float64(p.Model.Arrived)
	m[measure.LinkQueueDrops] = float64(p.Model.QueueDrops)
	m[measure.LinkLossDrops] = float64(p.Model.LossDrops)
	m[measure.LinkDelivered] = float64(p.Released)
	m[measure.LinkBytes] = float64(p.Bytes)
	m[measure.LinkQueuePeak] = float64(p.Model.QueuePeakPackets)
	m[measure.LinkInputDrops] = float64(st.KernelDrops)
	if len(p.ReleaseErr) > 0 {
		e := slices.Clone(p.ReleaseErr)
		slices.Sort(e)
		m[measure.RelErrP50US] = float64(measure.Quantile(e, 0.5)) / 1e3
		m[measure.RelErrP99US] = float64(measure.Quantile(e, 0.99)) / 1e3
		m[measure.RelErrP999US] = float64(measure.Quantile(e, 0.999)) / 1e3
	}
	m[measure.RelErrMaxUS] = float64(p.MaxReleaseErr) / 1e3
	m[measure.LinkPreempted] = float64(p.Preempted)
	if len(st.InputLag) > 0 {
		l := slices.Clone(st.InputLag)
		slices.Sort(l)
		m[measure.InLagP99US] = float64(measure.Quantile(l, 0.99)) / 1e3
		m[measure.InLagMaxUS] = float64(l[len(l)-1]) / 1e3
	}
}

// shaper returns the rate (bits/s) and per-frame framing overhead (bytes)
// of the run's shaper: the emulated link's bandwidth, or the tbf qdisc's
// rate (tbf counts frames without overhead).
func shaper(c plan.RunConfig) (float64, int) {
	if c.Link != nil && c.Link.Bandwidth > 0 && c.Link.Rate == nil {
		return c.Link.Bandwidth, c.Link.Overhead
	}
	if c.Topology != nil && c.Topology.TBF > 0 {
		return c.Topology.TBF, 0
	}
	return 0, 0
}

// addShapeMetrics measures a shaper at the receiver: the delivered rate
// and how regularly frames of wire bytes each arrive against the time one
// takes at bps, between consecutive arrivals. The shaper must be the
// bottleneck (offered load above its rate) for the rate to be its own.
func addShapeMetrics(m map[string]float64, arrival []int64, wire int, bps float64) {
	var at []int64
	for _, a := range arrival {
		if a != 0 {
			at = append(at, a)
		}
	}
	if len(at) < 3 {
		return
	}
	slices.Sort(at)
	// The rate is the slope of a least-squares line through (frame k, its
	// arrival time): one late first or last frame would move a
	// first-to-last rate by its lateness over the span; the fit spreads
	// it over every frame.
	n := float64(len(at))
	var sx, sy, sxx, sxy float64
	for k, a := range at {
		x, y := float64(k), float64(a-at[0])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx) // ns per frame
	rate := float64(wire) * 8 / (slope / 1e9)
	m[measure.ShapeMbps] = rate / 1e6
	m[measure.ShapeRateErrPct] = (rate - bps) / bps * 100
	want := float64(wire) * 8 / bps * 1e9
	errs := make([]int64, len(at)-1)
	for i := 1; i < len(at); i++ {
		e := float64(at[i]-at[i-1]) - want
		if e < 0 {
			e = -e
		}
		errs[i-1] = int64(e)
	}
	slices.Sort(errs)
	m[measure.ShapeGapP50US] = float64(measure.Quantile(errs, 0.5)) / 1e3
	m[measure.ShapeGapP99US] = float64(measure.Quantile(errs, 0.99)) / 1e3
	m[measure.ShapeGapMaxUS] = float64(errs[len(errs)-1]) / 1e3
}

// runTCP runs closed-loop TCP between the end namespaces, through the
// emulated link when the run has one.
func runTCP(ctx context.Context, r plan.Run, m map[string]float64) (err error) {
	c, w := r.Config, r.Config.Workload
	if w.Kind == "tcp.iperf3" {
		if _, err := peer.Find("iperf3"); err != nil {
			return &SkipError{Reason: err.Error()}
		}
	}
	tp, err := topo.Build(topo.Config{RunID: r.ID[:min(len(r.ID), 8)], MTU: c.Topology.MTU, Offloads: c.Topology.Offloads, Emulator: c.Topology.Emulator})
	if err != nil {
		return fmt.Errorf("building the run's namespaces: %w", err)
	}
	defer func() {
		if cerr := tp.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("removing the run's namespaces: %w", cerr)
		}
	}()
	var fw *link.Forwarder
	if c.Link != nil {
		if fw, err = startForwarder(tp, c.Link, r.Seed, 1<<20, emuCPUs(runtime.NumCPU()).emu); err != nil {
			return fmt.Errorf("emulated link: %w", err)
		}
		defer func() {
			if fw != nil {
				fw.Stop()
			}
		}()
	}
	if err := measureFlows(ctx, tp, c, m); err != nil {
		return err
	}
	if fw != nil {
		sts, err := fw.Stop()
		fw = nil
		if err != nil {
			return fmt.Errorf("emulated link: %w", err)
		}
		addForwardMetrics(m, sts[0])
		addReverseMetrics(m, sts)
	}
	return ctx.Err()
}

// measureFlows runs the TCP workload between the run's namespaces and
// puts what it measured into m.
func measureFlows(ctx context.Context, tp *topo.Topology, c plan.RunConfig, m map[string]float64) error {
	w := c.Workload
	if w.Paced() {
		return measurePaced(ctx, tp, c, m)
	}
	d := time.Duration(w.Duration)
	switch w.Kind {
	case "tcp.bulk":
		res, err := flow.Bulk(ctx, flow.BulkConfig{Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP, Duration: d, CC: w.CC, Warmup: time.Duration(w.Warmup)})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		m[measure.Goodput] = res.Goodput / 1e6
		m[measure.SteadyGoodput] = res.SteadyGoodput / 1e6
		m[measure.TCPRetrans] = float64(res.Retransmits)
		m[measure.SRTTms] = float64(res.SRTT) / 1e6
		m[measure.MinRTTms] = float64(res.MinRTT) / 1e6
		if len(res.Samples) > 0 {
			rtt := make([]int64, 0, len(res.Samples))
			for _, s := range res.Samples {
				if s.RTT > 0 {
					rtt = append(rtt, int64(s.RTT))
				}
			}
			slices.Sort(rtt)
			if len(rtt) > 0 {
				m[measure.RTTP50ms] = float64(measure.Quantile(rtt, 0.5)) / 1e6
				m[measure.RTTP99ms] = float64(measure.Quantile(rtt, 0.99)) / 1e6
			}
		}
		addLinkShare(m, c, res.SteadyGoodput)
	case "tcp.iperf3":
		res, err := peer.RunIperf3(ctx, peer.Iperf3{Duration: d, CC: w.CC}, tp.Receiver.NSPath(), tp.Sender.NSPath(), tp.Receiver.IP)
		if err != nil {
			return err
		}
		m[measure.Goodput] = res.Goodput / 1e6
		m[measure.TCPRetrans] = float64(res.Retransmits)
		m[measure.SRTTms] = float64(res.MeanRTT) / 1e6
		m[measure.MinRTTms] = float64(res.MinRTT) / 1e6
		addLinkShare(m, c, res.Goodput)
	case "tcp.rr":
		res, err := flow.RequestResponse(ctx, flow.RRConfig{Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP,
			Requests: w.Requests, Duration: d, ReqSize: int(w.Request), RespSize: int(w.Response)})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		lat := make([]int64, len(res.Latency))
		for i, l := range res.Latency {
			lat[i] = int64(l)
		}
		slices.Sort(lat)
		m[measure.RRCount] = float64(res.Count)
		if len(lat) > 0 {
			m[measure.RRP50ms] = float64(measure.Quantile(lat, 0.5)) / 1e6
			m[measure.RRP99ms] = float64(measure.Quantile(lat, 0.99)) / 1e6
			m[measure.RRMaxms] = float64(lat[len(lat)-1]) / 1e6
		}
	}
	return nil
}

// addLinkShare puts goodput as a share of the emulated link's bandwidth.
// With a time-varying rate the share is of its mean over one cycle.
func addLinkShare(m map[string]float64, c plan.RunConfig, goodput float64) {
	switch {
	case c.Link == nil:
	case c.Link.Rate != nil:
		if rs, err := linkconf.Rate(c.Link.Rate); err == nil && rs.MeanBandwidth() > 0 {
			m[measure.GoodputPct] = goodput / rs.MeanBandwidth() * 100
		}
	case c.Link.Bandwidth > 0:
		m[measure.GoodputPct] = goodput / c.Link.Bandwidth * 100
	}
}

// addReverseMetrics puts the reverse direction's counters into m.
func addReverseMetrics(m map[string]float64, sts []link.ForwardStats) {
	if len(sts) < 2 {
		return
	}
	r := sts[1].Pipe
	m[measure.RevArrived] = float64(r.Model.Arrived)
	m[measure.RevDrops] = float64(r.Model.QueueDrops + r.Model.LossDrops)
	m[measure.RevDelivered] = float64(r.Released)
}
