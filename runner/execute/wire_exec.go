package execute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// SkipError is a run that could not be made here for a reason outside
// labrun (a peer tool is not installed): reported as skipped, not failed.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return e.Reason }

// runWire executes a run whose packets go on a wire: it builds the run's
// namespaces and veth pair, starts the receiver, lets labrun or a peer tool
// send, drains the receiver, and tears everything down, on every path.
func runWire(ctx context.Context, dir string, r plan.Run, prog *progress, allowSystem bool, expSeed int64) (row results.Row, res *replay.Result, err error) {
	row = results.Row{ID: r.ID, Params: r.Params}
	c := r.Config
	kind := c.SenderKind()

	// The schedule, by sequence number, for the receiver's analysis.
	src, err := buildSource(dir, c.Trace, r.Seed, expSeed)
	if err != nil {
		return row, nil, err
	}
	if cs, ok := src.(*trace.CaptureSource); ok {
		defer cs.Close()
	}
	n := src.Len()
	sched := make([]int64, n)
	// A capture's frames carry no sequence mark: the receiver knows them
	// by their content. Several labrun threads each keep their flows'
	// order, not the order between them: order is judged per thread.
	var match *rx.Matcher
	if c.Trace.Kind == "pcap" {
		if match, err = rx.NewMatcher(n); err != nil {
			return row, nil, err
		}
	}
	var streams []uint16
	threads := labrunThreads(c)
	if threads > 1 {
		streams = make([]uint16, n)
	}
	var first []byte
	var p trace.Packet
	for i := 0; src.Next(&p); i++ {
		if p.Seq < uint64(n) {
			sched[p.Seq] = p.Offset
			if match != nil {
				match.Add(int(p.Seq), p.Frame)
			}
			if streams != nil {
				streams[p.Seq] = uint16(trace.FlowPart(p.Frame, threads))
			}
		}
		if i == 0 {
			first = append([]byte(nil), p.Frame...)
		}
	}
	src.Rewind()

	var tool *peerRun
	if kind != "labrun" {
		if tool, err = preparePeer(dir, c, r, expSeed, first, n); err != nil {
			return row, nil, err
		}
	}

	tp, err := topo.Build(topo.Config{RunID: r.ID[:min(len(r.ID), 8)], MTU: c.Topology.MTU, Offloads: c.Topology.Offloads, Emulator: c.Topology.Emulator})
	if err != nil {
		return row, nil, fmt.Errorf("building the run's namespaces: %w", err)
	}
	defer func() {
		if cerr := tp.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("removing the run's namespaces: %w", cerr)
		}
	}()

	// The receiver wakes when a block of its ring is full or times out:
	// on the sender's CPU each wake-up would delay a send by 10-20 us. So unless the script says otherwise it gets CPU
	// 0 and the sender the last CPU.
	if rps := c.Topology.RPS; len(rps) > 0 {
		if err := tp.Receiver.SteerReceive(tp.Receiver.Ifname, rps); err != nil {
			return row, nil, err
		}
	}
	rc := rx.Config{Ifindex: tp.Receiver.Ifindex, Expect: n, CPU: -1, Streams: streams, Match: match}
	if c.Receiver.CPU != nil {
		rc.CPU = *c.Receiver.CPU
	} else if runtime.NumCPU() > 1 {
		rc.CPU = 0
	}

	if c.Receiver.Capture {
		if err := os.MkdirAll(filepath.Join(dir, "pcap"), 0o755); err != nil {
			return row, nil, err
		}
		rc.Capture = filepath.Join(dir, "pcap", r.ID+"-rx.pcapng")
	}
	var rcv *rx.Receiver
	if err := tp.Receiver.Do(func() error {
		var err error
		rcv, err = rx.Open(rc)
		return err
	}); err != nil {
		return row, nil, fmt.Errorf("receiver: %w", err)
	}
	defer rcv.Close()
	rcv.Start()

	if c.Topology.TBF > 0 {
		mf := c.Topology.MTU + 14
		if err := tp.Sender.ShapeTBF(tp.Sender.Ifname, c.Topology.TBF, mf, 1000*mf); err != nil {
			return row, nil, err
		}
	}
	var fw *link.Forwarder
	if c.Link != nil {
		lay := emuCPUs(runtime.NumCPU())
		if fw, err = startForwarder(tp, c.Link, r.Seed, n, lay.emu); err != nil {
			return row, nil, fmt.Errorf("emulated link: %w", err)
		}
		defer func() {
			if fw != nil {
				fw.Stop()
			}
		}()
		if lay.emu >= 0 {
			// The emulator's CPU is its own: every other thread of labrun
			// (the Go runtime's included) wakes elsewhere.
			_, undo := kernel.KeepOff([]int{lay.emu})
			defer undo()
		}
	}

	steal0 := stealTicks()
	prog.sent.Store(0)
	prog.packets.Store(int64(n))
	var sent uint64
	var actual []int64 // labrun's actual send times by sequence number, on the clock.Now scale
	var start int64    // labrun's schedule start
	row.Metrics = map[string]float64{}
	switch kind {
	case "labrun":
		res, err = sendLabrun(ctx, c, tp, src, dir, r, expSeed, prog, allowSystem)
		if res == nil {
			return row, nil, err
		}
		if err != nil {
			return row, res, err
		}
		sent = uint64(res.Sink.Packets)
		for k, v := range res.Metrics() {
			row.Metrics[k] = v
		}
		start = res.Start
		if !res.Interrupted {
			actual = res.Actual
		}
	default:
		// The tool reports nothing while it runs: show what arrives.
		stopProg := make(chan struct{})
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProg:
					return
				case <-t.C:
					_, total := rcv.Counts()
					prog.sent.Store(int64(total))
				}
			}
		}()
		st, err := tool.run(ctx, tp.Sender, tp.Sender.Ifname)
		close(stopProg)
		if err != nil {
			return row, nil, err
		}
		sent = st.sent
		for k, v := range st.metrics {
			row.Metrics[k] = v
		}
		res = &replay.Result{Sched: sched, Interrupted: ctx.Err() != nil}
	}

	if s1 := stealTicks(); steal0 >= 0 && s1 >= 0 {
		row.Metrics[measure.StealMS] = float64(s1-steal0) * 10
	}
	got, err := rcv.Stop(sent, time.Duration(c.Receiver.Quiet), time.Duration(c.Receiver.Drain))
	if err != nil {
		return row, res, fmt.Errorf("receiver: %w", err)
	}
	m := rx.Analyze(sched, got)
	for k, v := range m.Map() {
		row.Metrics[k] = v
	}
	row.Metrics[measure.Sent] = float64(sent)
	var linkDrops uint64
	if s, err := tp.Sender.Stats(tp.Sender.Ifname); err == nil {
		linkDrops += s.TxDropped
	}
	if s, err := tp.Receiver.Stats(tp.Receiver.Ifname); err == nil {
		linkDrops += s.RxDropped
	}
	row.Metrics[measure.LinkDrops] = float64(linkDrops)
	var emuDrops uint64
	if fw != nil {
		sts, err := fw.Stop()
		fw = nil
		if err != nil {
			return row, res, fmt.Errorf("emulated link: %w", err)
		}
		addForwardMetrics(row.Metrics, sts[0])
		addReverseMetrics(row.Metrics, sts)
		f := sts[0]
		emuDrops = f.Pipe.Model.QueueDrops + f.Pipe.Model.LossDrops + f.KernelDrops + uint64(f.Tx.Errors)
		if s, err := tp.Emulator.Stats(tp.Emulator.Ifname2); err == nil {
			linkDrops += s.TxDropped
		}
	}
	// Exact accounting: every frame the sender handed over either arrived
	// or was dropped by the receiver's ring. A veth that refuses a frame
	// (backlog full) tells the sender (ENOBUFS): labrun and tcpreplay
	// retry it and count it sent only once it went, so the veth's drop
	// counter is not a loss for them; trafgen's TX ring does not retry,
	// so for it the veth's drops are lost frames.
	unexplained := int64(sent) - int64(got.Received) - int64(got.KernelDrops) - int64(emuDrops)
	if kind == "trafgen" {
		// trafgen's frames carry no sequence numbers: they are unmarked.
		unexplained = int64(sent) - int64(got.Unmarked) - int64(got.KernelDrops) - int64(linkDrops)
	}
	row.Metrics[measure.RxUnexplained] = float64(unexplained)
	if actual != nil {
		p50, p99, mx := rx.Latency(actual, got)
		row.Metrics[measure.LatP50US], row.Metrics[measure.LatP99US], row.Metrics[measure.LatMaxUS] = float64(p50)/1e3, float64(p99)/1e3, float64(mx)/1e3
	}
	if bps, ovh := shaper(c); bps > 0 && c.Trace.Frame > 0 {
		addShapeMetrics(row.Metrics, got.Arrival, int(c.Trace.Frame)-trace.FCSLen+ovh, bps)
	}
	if err := writeWireSeries(filepath.Join(dir, "series", r.ID+".csv"), sched, start, actual, got); err != nil {
		return row, res, err
	}
	return row, res, nil
}

// sendLabrun replays the trace with labrun's engine: one sending thread
// per sender, each with its own socket in the sender namespace.
func sendLabrun(ctx context.Context, c plan.RunConfig, tp *topo.Topology, src trace.Source, dir string, r plan.Run, expSeed int64, prog *progress, allowSystem bool) (*replay.Result, error) {
	mode, err := timer.ParseMode(c.Timer.Mode)
	if err != nil {
		return nil, err
	}
	threads, cpus := labrunThreads(c), []int(nil)
	if c.Sender != nil {
		cpus = c.Sender.CPUs
	}
	ks := c.Kernel.Settings()
	ks.AllowSystem = allowSystem
	maxFrame := c.Topology.MTU + 14
	var senders []replay.Sender
	defer func() {
		for _, s := range senders {
			s.Sink.Close()
		}
	}()
	for k := range threads {
		s := src
		if k > 0 {
			if s, err = buildSource(dir, c.Trace, r.Seed, expSeed); err != nil {
				return nil, err
			}
			if cs, ok := s.(*trace.CaptureSource); ok {
				defer cs.Close()
			}
		}
		var sink tx.Sink
		err := tp.Sender.Do(func() error {
			var err error
			if c.Sink.Kind == "udp" {
				sink, err = tx.NewUDP(tx.UDPConfig{Dst: netip.AddrPortFrom(tp.Receiver.IP, 9), Src: netip.AddrPortFrom(tp.Sender.IP, uint16(49152+k)), Batch: c.Sink.Batch})
				return err
			}
			pm, err := tx.ParsePacketMode(c.Sink.Mode)
			if err != nil {
				return err
			}
			sink, err = tx.NewPacket(tx.PacketConfig{Ifindex: tp.Sender.Ifindex, Mode: pm, Batch: max(c.Sink.Batch, 1), QdiscBypass: c.Sink.QdiscBypass, MaxFrame: maxFrame})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("sender socket: %w", err)
		}
		snd := replay.Sender{Source: s, Sink: sink}
		switch {
		case len(cpus) > 0:
			snd.CPUs = []int{cpus[k%len(cpus)]}
		case threads > 1:
			snd.CPUs = []int{k % runtime.NumCPU()}
		case len(ks.CPUs) == 0 && c.Link != nil:
			// With an emulated link the link has the last CPU (see
			// emuCPUs).
			if cpu := emuCPUs(runtime.NumCPU()).sender; cpu >= 0 {
				snd.CPUs = []int{cpu}
			}
		case len(ks.CPUs) == 0:
			// One thread, not pinned by the script: the last CPU, away
			// from the receiver.
			snd.CPUs = []int{runtime.NumCPU() - 1}
		}
		senders = append(senders, snd)
	}
	cfg := replay.Config{
		Timer:    timer.Config{Mode: mode, Period: time.Duration(c.Timer.Period), Margin: time.Duration(c.Timer.Margin), MaxMargin: time.Duration(c.Timer.MaxMargin)},
		Kernel:   ks,
		Progress: &prog.sent,
		Senders:  senders,
		// With an emulated link on two CPUs the link has the isolated
		// CPU and the sender shares the other (emuCPUs).
		NoIsolate: c.Link != nil && runtime.NumCPU() <= 2,
	}
	res, err := replay.Run(ctx, cfg)
	for _, s := range senders {
		if cerr := s.Sink.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	senders = nil
	if err == nil && res.Sink.Errors > 0 {
		prog.line("run %s: %d frames could not be sent after retries (counted in send_errors)", r.ID, res.Sink.Errors)
	}
	return res, err
}

// labrunThreads is the number of labrun's sending threads in a run it
// sends (1 for a peer tool's run).
func labrunThreads(c plan.RunConfig) int {
	if c.SenderKind() != "labrun" || c.Sender == nil {
		return 1
	}
	if c.Sender.Threads == 0 {
		return runtime.NumCPU()
	}
	return c.Sender.Threads
}

// writeWireSeries writes a wire run's per-packet rows: schedule, labrun's
// send times when it sent, arrival times and inter-arrival errors.
// Arrivals are on the schedule's scale: counted from labrun's start, or
// for a peer tool from the first arrival aligned with its packet's
// scheduled offset.
func writeWireSeries(path string, sched []int64, start int64, actual []int64, got *rx.Result) error {
	n := len(sched)
	arr := make([]int64, n)
	iat := make([]int64, n)
	base := start
	if actual == nil {
		base = 0
		for q, a := range got.Arrival {
			if a != 0 && q < n {
				base = a - sched[q]
				break
			}
		}
	}
	for q := range n {
		arr[q], iat[q] = results.Missing, results.Missing
		if q < len(got.Arrival) && got.Arrival[q] != 0 {
			arr[q] = got.Arrival[q] - base
			if q > 0 && got.Arrival[q-1] != 0 {
				iat[q] = (got.Arrival[q] - got.Arrival[q-1]) - (sched[q] - sched[q-1])
			}
		}
	}
	var cols []seriesCol
	if actual != nil && len(actual) == n {
		act, errs, lat := make([]int64, n), make([]int64, n), make([]int64, n)
		for q := range n {
			act[q], errs[q] = actual[q]-start, actual[q]-(start+sched[q])
			lat[q] = results.Missing
			if arr[q] != results.Missing {
				lat[q] = got.Arrival[q] - actual[q]
			}
		}
		cols = append(cols, seriesCol{"actual_ns", act}, seriesCol{"error_ns", errs})
		cols = append(cols, seriesCol{"arrival_ns", arr}, seriesCol{"iat_err_ns", iat}, seriesCol{"latency_ns", lat})
	} else {
		cols = append(cols, seriesCol{"arrival_ns", arr}, seriesCol{"iat_err_ns", iat})
	}
	return writeSeriesCols(path, sched, cols)
}

// peerRun is a peer tool's run, prepared before the topology exists.
type peerRun struct {
	kind  string
	tcp   peer.Tcpreplay
	traf  peer.Trafgen
	cfg   string // trafgen's configuration file
	count int
}

type peerStats struct {
	sent    uint64
	metrics map[string]float64
}

// preparePeer checks the tool is installed and writes what it reads.
func preparePeer(dir string, c plan.RunConfig, r plan.Run, expSeed int64, first []byte, n int) (*peerRun, error) {
	s := c.Sender
	if _, err := peer.Version(s.Kind); err != nil {
		if errors.Is(err, peer.ErrNotInstalled) {
			return nil, &SkipError{Reason: err.Error()}
		}
		return nil, err
	}
	pr := &peerRun{kind: s.Kind, count: n}
	switch s.Kind {
	case "tcpreplay":
		path, err := tracePcap(dir, c.Trace, r.Seed, expSeed)
		if err != nil {
			return nil, err
		}
		pr.tcp = peer.Tcpreplay{Pcap: path, Timing: s.Timing, Timer: s.Timer, Multiplier: s.Multiplier, Preload: s.Preload}
		if s.Rate != "" {
			rt, err := parseRate(s.Rate)
			if err != nil {
				return nil, err
			}
			if s.Timing == "pps" {
				pr.tcp.PPS = rt
			} else {
				pr.tcp.Mbps = rt / 1e6
			}
		}
	case "trafgen":
		pr.traf = peer.Trafgen{Frame: first, SeqOffset: trace.HeaderLen + 4, Count: n, CPUs: s.Procs, Gap: time.Duration(c.Trace.Interval), QdiscBypass: s.QdiscBypass}
		pr.cfg = filepath.Join(dir, "traces", r.ID+".trafgen.cfg")
		if err := os.MkdirAll(filepath.Dir(pr.cfg), 0o755); err != nil {
			return nil, err
		}
		if err := results.WriteFileAtomic(pr.cfg, []byte(pr.traf.Config())); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

// run starts the tool in the sender namespace and waits for it.
func (pr *peerRun) run(ctx context.Context, h *topo.Host, ifname string) (peerStats, error) {
	var args []string
	switch pr.kind {
	case "tcpreplay":
		pr.tcp.Iface = ifname
		if err := pr.tcp.Validate(); err != nil {
			return peerStats{}, err
		}
		args = pr.tcp.Args()
	case "trafgen":
		pr.traf.Iface = ifname
		args = pr.traf.Args(pr.cfg)
	}
	var out, errb bytes.Buffer
	t0 := clock.Now()
	proc, err := peer.Start(ctx, pr.kind, args, h.NSPath(), &out, &errb)
	if err != nil {
		return peerStats{}, err
	}
	if (pr.kind == "tcpreplay" || pr.kind == "trafgen" && pr.traf.CPUs <= 1) && runtime.NumCPU() > 1 {
		// The same place as labrun's single sender: the last CPU, away
		// from the receiver. (trafgen with several processes pins each
		// to its own CPU itself.)
		if err := proc.Pin(runtime.NumCPU() - 1); err != nil {
			proc.Stop(time.Second)
			return peerStats{}, err
		}
	}
	code, err := proc.Wait()
	wall := time.Duration(clock.Now() - t0)
	st := peerStats{metrics: map[string]float64{}}
	if cpu := proc.CPU(); wall > 0 {
		st.metrics[measure.CPUPct] = measure.Pct(cpu, wall)
	}
	st.metrics[measure.WallS] = wall.Seconds()
	if err := proc.Early(); err != nil { // killed, or failed, before the run was over
		return st, fmt.Errorf("%w\n%s", err, tail(out.String(), 1500))
	}
	if ctx.Err() != nil {
		return st, nil
	}
	if err != nil || code != 0 {
		return st, fmt.Errorf("%s exited with status %d: %v\n%s", pr.kind, code, err, tail(errb.String()+out.String(), 1500))
	}
	switch pr.kind {
	case "tcpreplay":
		ts, err := peer.ParseTcpreplay(out.String())
		if err != nil {
			return st, fmt.Errorf("tcpreplay's statistics: %w\n%s", err, tail(out.String(), 1500))
		}
		st.sent = uint64(ts.Packets) // "Actual": failed sends are counted apart (send_errors)
		st.metrics[measure.SendRetries] = float64(ts.RetriedENOBUFS + ts.RetriedEAGAIN)
		st.metrics[measure.SendErrors] = float64(ts.Failed)
		st.metrics[measure.Packets] = float64(ts.Packets)
	case "trafgen":
		st.sent = uint64(pr.count)
		if ts, err := peer.ParseTrafgen(out.String() + errb.String()); err == nil && ts.Packets > 0 {
			st.sent = uint64(ts.Packets)
		}
		st.metrics[measure.Packets] = float64(st.sent)
	}
	return st, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
