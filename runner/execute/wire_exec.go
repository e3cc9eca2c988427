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

// wire is one run whose packets go on a wire: the schedule by sequence
// number, the run's namespaces and veth pair, the receiver and the
// emulated link, and the steps that take them down.
type wire struct {
	*runContext
	c       plan.RunConfig
	src     trace.Source
	n       int
	sched   []int64
	match   *rx.Matcher
	streams []uint16
	first   []byte // the first frame, for a peer tool's own trace
	tp      *topo.Topology
	rcv     *rx.Receiver
	ports   *portReceivers // a receiver per port, with topology.veth(pairs = N)
	fw      *link.Forwarder
	undo    undoStack
	// On named interfaces (named_exec.go): how the receiver stamps.
	outcomes []kernel.Outcome
	hwRx     bool
}

// A wireSender sends a wire run's packets: labrun's engine or a peer
// tool.
type wireSender interface {
	// prepare runs before the namespaces are built.
	prepare(w *wire) error
	// send sends and returns how many frames went; res is nil when
	// nothing was sent.
	send(ctx context.Context, w *wire, m map[string]float64) (sent uint64, res *replay.Result, start int64, actual []int64, err error)
}

// runWire executes a run whose packets go on a wire: it builds the run's
// namespaces and veth pair, starts the receiver, lets labrun or a peer tool
// send, drains the receiver, and tears everything down, on every path.
func runWire(ctx context.Context, rc *runContext, snd wireSender) (row results.Row, res *replay.Result, err error) {
	r := rc.run
	row = results.Row{ID: r.ID, Params: r.Params}
	w := &wire{runContext: rc, c: r.Config}
	defer func() {
		if uerr := w.undo.unwind(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	if err := w.schedule(); err != nil {
		return row, nil, err
	}
	if err := snd.prepare(w); err != nil {
		return row, nil, err
	}
	if err := w.build(); err != nil {
		return row, nil, err
	}
	probe, err := w.startProbe(senderCPUs(w.c))
	if err != nil {
		return row, nil, err
	}
	steal0 := measure.StealTicks()
	w.prog.sent.Store(0)
	w.prog.packets.Store(int64(w.n))
	row.Metrics = map[string]float64{}
	sent, res, start, actual, err := snd.send(ctx, w, row.Metrics)
	if probe != nil {
		probe.stop()
		probe.addMetrics(row.Metrics)
	}
	if res == nil || err != nil {
		return row, res, err
	}
	defer func() { res.Settings = append(res.Settings, w.outcomes...) }()
	if w.rcv == nil && w.ports == nil { // named tx only: the receiver is elsewhere
		return row, res, w.sentOnly(row.Metrics, sent, start, actual)
	}
	if s1 := measure.StealTicks(); steal0 >= 0 && s1 >= 0 {
		row.Metrics[measure.StealMS] = float64(s1-steal0) * 10
	}
	labrun := w.c.SenderKind() == "labrun"
	x := w.exclusion(res, start, labrun && actual != nil, probe)
	got, err := w.drain(row.Metrics, sent, actual, x)
	if err != nil {
		return row, res, err
	}
	if err := writeWireSeries(filepath.Join(w.dir, "series", r.ID+".csv"), w.sched, start, actual, got, x); err != nil {
		return row, res, err
	}
	return row, res, nil
}

// schedule reads the trace once for the receiver's analysis: the
// schedule by sequence number and, for a capture, the frames to know
// them by.
func (w *wire) schedule() error {
	r, c := w.run, w.c
	src, err := buildSource(w.dir, c.Trace, r.Seed, w.expSeed)
	if err != nil {
		return err
	}
	w.src = src
	if cs, ok := src.(*trace.CaptureSource); ok {
		w.undo.push(func() error { cs.Close(); return nil })
	}
	w.n = src.Len()
	w.sched = make([]int64, w.n)
	// A capture's frames carry no sequence mark: the receiver knows them
	// by their content. Several labrun threads each keep their flows'
	// order, not the order between them: order is judged per thread.
	if c.Trace.Kind == "pcap" {
		if w.match, err = rx.NewMatcher(w.n); err != nil {
			return err
		}
	}
	threads := labrunThreads(c)
	if threads > 1 {
		w.streams = make([]uint16, w.n)
	}
	var p trace.Packet
	var pad *tx.FramePadder // the frames as sink.afpacket(pad = True) sends them
	if c.Sink.Pad && c.SenderKind() == "labrun" {
		fp := tx.NewFramePadder(c.Topology.MTU + 14)
		pad = &fp
	}
	for i := 0; src.Next(&p); i++ {
		if p.Seq < uint64(w.n) {
			w.sched[p.Seq] = p.Offset
			if w.match != nil && pad != nil {
				w.match.Add(int(p.Seq), pad.Pad(p.Frame))
			} else if w.match != nil {
				w.match.Add(int(p.Seq), p.Frame)
			}
			if w.streams != nil {
				w.streams[p.Seq] = uint16(trace.FlowPart(p.Frame, threads))
			}
		}
		if i == 0 {
			w.first = append([]byte(nil), p.Frame...)
		}
	}
	src.Rewind()
	return nil
}

// build makes the run's namespaces, starts the receiver, and sets up the
// shaper and the emulated link; each step pushes its undoing.
func (w *wire) build() error {
	r, c := w.run, w.c
	if c.Topology.Interfaces != nil {
		return w.attach()
	}
	tp, err := topo.Build(topo.Config{RunID: r.ID[:min(len(r.ID), 8)], MTU: c.Topology.MTU, Offloads: c.Topology.Offloads, Emulator: c.Topology.Emulator, Pairs: c.Topology.Pairs, Queues: c.Topology.Queues})
	if err != nil {
		return fmt.Errorf("building the run's namespaces: %w", err)
	}
	w.tp = tp
	w.undo.push(func() error {
		if err := tp.Close(); err != nil {
			return fmt.Errorf("removing the run's namespaces: %w", err)
		}
		return nil
	})
	if err := w.startReceiver(); err != nil {
		return err
	}
	if c.Topology.TBF > 0 {
		mf := c.Topology.MTU + 14
		for k := range tp.Sender.Ports() { // every port's sender end
			if err := tp.Sender.ShapeTBF(tp.Sender.Port(k).Ifname, c.Topology.TBF, mf, 1000*mf); err != nil {
				return err
			}
		}
	}
	if c.Link == nil {
		return nil
	}
	lay := emuCPUs(runtime.NumCPU())
	if w.fw, err = startForwarder(tp, c.Link, r.Seed, w.n, lay.emu); err != nil {
		return fmt.Errorf("emulated link: %w", err)
	}
	w.undo.push(func() error {
		if w.fw != nil {
			w.fw.Stop()
		}
		return nil
	})
	if lay.emu >= 0 {
		// The emulator's CPU is its own: every other thread of labrun
		// (the Go runtime's included) wakes elsewhere.
		_, undo := kernel.KeepOff([]int{lay.emu})
		w.undo.push(func() error { undo(); return nil })
	}
	return nil
}

// startReceiver opens the receiver in its namespace and starts it.
func (w *wire) startReceiver() error {
	c, tp := w.c, w.tp
	if ports(c) > 0 {
		return w.startPortReceivers()
	}
	// The receiver wakes when a block of its ring is full or times out:
	// on the sender's CPU each wake-up would delay a send by 10-20 us. So unless the script says otherwise it gets CPU
	// 0 and the sender the last CPU.
	if rps := c.Topology.RPS; len(rps) > 0 {
		if err := tp.Receiver.SteerReceive(tp.Receiver.Ifname, rps); err != nil {
			return err
		}
	}
	rc := rx.Config{Ifindex: tp.Receiver.Ifindex, Expect: w.n, CPU: -1, Streams: w.streams, Match: w.match, RingBytes: int(c.Receiver.Ring), Fanout: c.Receiver.Fanout}
	if c.Receiver.CPU != nil {
		rc.CPU = *c.Receiver.CPU
	} else if runtime.NumCPU() > 1 {
		rc.CPU = 0
	}
	if c.Receiver.Capture {
		if err := os.MkdirAll(filepath.Join(w.dir, "pcap"), 0o755); err != nil {
			return err
		}
		rc.Capture = filepath.Join(w.dir, "pcap", w.run.ID+"-rx.pcapng")
	}
	if err := w.namedRx(&rc); err != nil {
		return err
	}
	if err := tp.Receiver.Do(func() error {
		var err error
		w.rcv, err = rx.Open(rc)
		return err
	}); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	w.undo.push(func() error { w.rcv.Close(); return nil })
	w.rcv.Start()
	return nil
}

// drain stops the receiver once what was sent arrived or stopped coming,
// and adds what arrived, what was lost where, and latency to m.
func (w *wire) drain(m map[string]float64, sent uint64, actual []int64, x *rx.Exclusion) (*rx.Result, error) {
	c, tp := w.c, w.tp
	var got *rx.Result
	var err error
	if w.ports != nil {
		got, err = w.stopPortReceivers(m, sent)
	} else {
		got, err = w.rcv.Stop(sent, time.Duration(c.Receiver.Quiet), time.Duration(c.Receiver.Drain))
	}
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	for k, v := range rx.AnalyzeExcluding(w.sched, got, x).Map() {
		m[k] = v
	}
	m[measure.RxStallCount] = float64(got.ThreadStallCount)
	m[measure.RxStallMaxUS] = float64(got.ThreadStallMax) / 1e3
	m[measure.Sent] = float64(sent)
	var drops uint64
	if !tp.Named() {
		drops = linkDrops(tp) // every port's pair
	}
	w.timestampOutcome(m, got)
	m[measure.LinkDrops] = float64(drops)
	var emuDrops uint64
	if w.fw != nil {
		sts, err := w.fw.Stop()
		w.fw = nil
		if err != nil {
			return nil, fmt.Errorf("emulated link: %w", err)
		}
		addForwardMetrics(m, sts[0])
		addReverseMetrics(m, sts)
		f := sts[0]
		emuDrops = f.Pipe.Model.QueueDrops + f.Pipe.Model.LossDrops + f.KernelDrops + uint64(f.Tx.Errors)
		if s, err := tp.Emulator.Stats(tp.Emulator.Ifname2); err == nil {
			drops += s.TxDropped
		}
	}
	// Exact accounting: every frame the sender handed over either arrived
	// or was dropped by the receiver's ring. A veth that refuses a frame
	// (backlog full) tells the sender (ENOBUFS): labrun and tcpreplay
	// retry it and count it sent only once it went, so the veth's drop
	// counter is not a loss for them; trafgen's TX ring does not retry,
	// so for it the veth's drops are lost frames.
	unexplained := int64(sent) - int64(got.Received) - int64(got.KernelDrops) - int64(emuDrops)
	if c.SenderKind() == "trafgen" {
		// trafgen's frames carry no sequence numbers: they are unmarked.
		unexplained = int64(sent) - int64(got.Unmarked) - int64(got.KernelDrops) - int64(drops)
	}
	m[measure.RxUnexplained] = float64(unexplained)
	if actual != nil {
		p50, p99, mx := rx.Latency(actual, got)
		m[measure.LatP50US], m[measure.LatP99US], m[measure.LatMaxUS] = float64(p50)/1e3, float64(p99)/1e3, float64(mx)/1e3
	}
	if bps, ovh := shaper(c); bps > 0 && c.Trace.Frame > 0 {
		addShapeMetrics(m, got.Arrival, int(c.Trace.Frame)-trace.FCSLen+ovh, bps)
	}
	return got, nil
}

// labrunSender sends with labrun's engine.
type labrunSender struct{}

func (labrunSender) prepare(*wire) error { return nil }

func (labrunSender) send(ctx context.Context, w *wire, m map[string]float64) (uint64, *replay.Result, int64, []int64, error) {
	res, err := sendLabrun(ctx, w.c, w.tp, w.src, w.dir, w.run, w.expSeed, w.prog, w.allowSystem)
	if res == nil || err != nil {
		return 0, res, 0, nil, err
	}
	for k, v := range res.Metrics() {
		m[k] = v
	}
	var actual []int64 // labrun's actual send times by sequence number, on the clock.Now scale
	// A frame dropped as late leaves no row: rows are no longer by sequence number.
	if !res.Interrupted && res.LateDropped == 0 {
		actual = res.Actual
	}
	return uint64(res.Sink.Packets), res, res.Start, actual, nil
}

// toolSender sends with a peer tool (tcpreplay, trafgen).
type toolSender struct{ tool *peerRun }

func (t *toolSender) prepare(w *wire) error {
	var err error
	t.tool, err = preparePeer(w.dir, w.c, w.run, w.expSeed, w.first, w.n)
	return err
}

func (t *toolSender) send(ctx context.Context, w *wire, m map[string]float64) (uint64, *replay.Result, int64, []int64, error) {
	// The tool reports nothing while it runs: show what arrives.
	stopProg := make(chan struct{})
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopProg:
				return
			case <-tk.C:
				_, total := w.rcv.Counts()
				w.prog.sent.Store(int64(total))
			}
		}
	}()
	st, err := t.tool.run(ctx, w.tp.Sender, w.tp.Sender.Ifname)
	close(stopProg)
	if err != nil {
		return 0, nil, 0, nil, err
	}
	for k, v := range st.metrics {
		m[k] = v
	}
	return st.sent, &replay.Result{Sched: w.sched, Interrupted: ctx.Err() != nil}, 0, nil, nil
}

// sendLabrun replays the trace with labrun's engine: one sending thread
// per sender, each with its own socket in the sender namespace.
func sendLabrun(ctx context.Context, c plan.RunConfig, tp *topo.Topology, src trace.Source, dir string, r plan.Run, expSeed int64, prog *progress, allowSystem bool) (*replay.Result, error) {
	tc, err := timerConfig(c.Timer)
	if err != nil {
		return nil, err
	}
	threads, cpus := labrunThreads(c), []int(nil)
	if c.Sender != nil {
		cpus = c.Sender.CPUs
	}
	ks := c.Kernel.Settings()
	ks.AllowSystem = allowSystem
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
		sink, err := openWireSink(c, tp, k, maxFrameOf(s))
		if err != nil {
			return nil, err
		}
		snd := replay.Sender{Source: s, Sink: sink}
		switch {
		case len(cpus) > 0:
			snd.CPUs = []int{cpus[k%len(cpus)]}
		case ports(c) > 0 && len(ks.CPUs) == 0:
			snd.CPUs = []int{portCPU(k)} // with its port's receiver
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
		Timer:    tc,
		Kernel:   ks,
		Progress: &prog.sent,
		Senders:  senders,
		// With an emulated link on two CPUs the link has the isolated
		// CPU and the sender shares the other (emuCPUs).
		NoIsolate: c.Link != nil && runtime.NumCPU() <= 2,
		Profile:   c.Sender.ProfileEvery(),
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

// maxFrameOf is the longest frame src sends, if it knows (0 if not).
func maxFrameOf(src trace.Source) int {
	if m, ok := src.(interface{ MaxFrameLen() int }); ok {
		return m.MaxFrameLen()
	}
	return 0
}

// openWireSink opens sending thread k's socket in the sender namespace:
// UDP, or AF_PACKET in the sink's mode. longest is the trace's longest
// frame, if known (0: not): an AF_PACKET sink sizes its ring slots and
// buffers by it rather than by the MTU, unless it pads frames (padding
// may lengthen a frame up to the MTU). 64-byte frames then take 128-byte
// ring slots instead of 2048-byte ones: fewer pages and cache lines for
// the same batch.
func openWireSink(c plan.RunConfig, tp *topo.Topology, k, longest int) (tx.Sink, error) {
	maxFrame := c.Topology.MTU + 14
	if longest > 0 && !c.Sink.Pad {
		maxFrame = min(maxFrame, longest)
	}
	// With several ports, thread k sends on port k.
	port := 0
	if ports(c) > 0 {
		port = k
	}
	from, to := tp.Sender.Port(port), topo.Port{}
	if tp.Receiver != nil { // nil: a named tx whose receiver is elsewhere
		to = tp.Receiver.Port(port)
	}
	var sink tx.Sink
	err := tp.Sender.Do(func() error {
		var err error
		switch c.Sink.Kind {
		case "udp":
			sink, err = tx.NewUDP(tx.UDPConfig{Dst: netip.AddrPortFrom(to.IP, 9), Src: netip.AddrPortFrom(from.IP, uint16(49152+k)), Batch: c.Sink.Batch})
			return err
		case "afxdp":
			// A queue takes one XDP socket: threads sharing a port take
			// a queue each.
			q := c.Sink.Queue
			if ports(c) == 0 {
				q += k
			}
			sink, err = tx.NewXDP(tx.XDPConfig{Ifindex: from.Ifindex, Queue: q, Batch: c.Sink.Batch, MaxFrame: maxFrame})
			if err != nil && k > 0 && ports(c) == 0 {
				err = fmt.Errorf("%w (sending thread %d takes queue %d: give the interface a queue per thread: topology.veth(queues = \"cpus\"), or for a named interface ethtool -L)", err, k, q)
			}
			return err
		}
		pm, err := tx.ParsePacketMode(c.Sink.Mode)
		if err != nil {
			return err
		}
		sink, err = tx.NewPacket(tx.PacketConfig{Ifindex: from.Ifindex, Mode: pm, Batch: max(c.Sink.Batch, 1), QdiscBypass: c.Sink.QdiscBypass, MaxFrame: maxFrame, Pad: c.Sink.Pad, Linear: c.Sink.Linear})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sender socket: %w", err)
	}
	return sink, nil
}

// labrunThreads is the number of labrun's sending threads in a run it
// sends (1 for a peer tool's run).
func labrunThreads(c plan.RunConfig) int {
	if n := ports(c); n > 0 && c.SenderKind() == "labrun" {
		return n // one per port
	}
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
// scheduled offset. With an exclusion, iat_stall says whether the pair
// ending at each frame was left out of the clean figures (1) or not (0).
func writeWireSeries(path string, sched []int64, start int64, actual []int64, got *rx.Result, x *rx.Exclusion) error {
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
	if x != nil {
		flag := make([]int64, n)
		hit := x.Hit(got.Arrival)
		for q := range n {
			flag[q] = results.Missing
			if iat[q] != results.Missing && q < len(hit) {
				flag[q] = 0
				if hit[q] {
					flag[q] = 1
				}
			}
		}
		cols = append(cols, seriesCol{"iat_stall", flag})
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
		// The same place as labrun's single sender: the last CPU.
		// (trafgen's worker then pins itself to CPU 0, and trafgen with
		// several processes pins each to its own CPU; the script puts
		// the receiver on a CPU the sender does not use.)
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
