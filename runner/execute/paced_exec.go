package execute

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/labrun/labrun/engine/flow"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/runner/plan"
)

// pacedPort is the server port of a paced flow: the receiver tells the
// flow's segments by it.
const pacedPort = 5301

// measurePaced runs a paced TCP flow (tcp.paced, or tcp.iperf3 with a
// rate) with a receiver on the receiver's interface that stamps every
// data segment, and puts Caliper's inter-arrival error into m. Without
// the fq qdisc a pacer = "fq" run is skipped.
func measurePaced(ctx context.Context, tp *topo.Topology, c plan.RunConfig, m map[string]float64) error {
	w := c.Workload
	port := pacedPort
	if w.Pacer == "iperf3" { // script.PaceIperf3
		port = peer.DefaultIperf3Port
		if _, err := peer.Find("iperf3"); err != nil {
			return &SkipError{Reason: err.Error()}
		}
	}
	if w.Pacer == flow.PaceFQ {
		if err := flow.AddFQ(tp.Sender, tp.Sender.Ifname); err != nil {
			if errors.Is(err, flow.ErrNoFQ) {
				return &SkipError{Reason: err.Error()}
			}
			return err
		}
	}
	rxCPU, sndCPU := -1, -1
	if n := runtime.NumCPU(); n > 1 {
		rxCPU, sndCPU = 0, n-1 // as the wire runs: the receiver away from the sender
	}
	rcv, err := flow.OpenSegReceiver(tp.Receiver, tp.Receiver.Ifindex, port, 2*w.Segments+64, rxCPU)
	if err != nil {
		return err
	}
	defer rcv.Close()
	written, err := sendPaced(ctx, tp, c, port, sndCPU, m)
	if err != nil {
		return err
	}
	segs, drops, err := rcv.Stop(5 * time.Second)
	if err != nil {
		return err
	}
	p := flow.MeasurePrecision(segs, time.Duration(w.Gap))
	m[measure.Packets] = float64(written)
	m[measure.RateReqPPS] = 1e9 / float64(w.Gap)
	m[measure.RxKernelDrops] = float64(drops)
	m[measure.TCPSegments] = float64(p.Segments)
	m[measure.TCPSegRetrans] = float64(p.Retrans)
	m[measure.TCPSegOdd] = float64(p.OddSizes)
	m[measure.RxPPS] = p.SegRate
	m[measure.Goodput] = p.PayloadBps / 1e6
	if p.Pairs > 0 {
		m[rx.IATMAEUS] = us(p.Mean)
		m[rx.IATP50US] = us(p.P50)
		m[rx.IATP95US] = us(p.P95)
		m[rx.IATP99US] = us(p.P99)
		m[rx.IATMaxUS] = us(p.Max)
	}
	if p.Segments == 0 {
		return fmt.Errorf("%s: the receiver saw no data segment to port %d (%d frames dropped by its ring)", w.Kind, port, drops)
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// sendPaced sends the flow with its pacer and returns the writes made.
func sendPaced(ctx context.Context, tp *topo.Topology, c plan.RunConfig, port, cpu int, m map[string]float64) (int, error) {
	w := c.Workload
	d := time.Duration(w.Duration)
	if w.Pacer == "iperf3" { // script.PaceIperf3
		// -b is of payload: the same segments per second as the frame rate.
		payloadRate := w.Rate * float64(w.Segment) / float64(w.Segment+flow.FrameOverhead)
		cfg := peer.Iperf3{Duration: d, CC: w.CC, Bytes: int64(w.Segments) * int64(w.Segment),
			Extra: []string{"-b", strconv.FormatFloat(payloadRate, 'f', 0, 64), "-l", strconv.Itoa(int(w.Segment))}}
		res, err := peer.RunIperf3(ctx, cfg, tp.Receiver.NSPath(), tp.Sender.NSPath(), tp.Receiver.IP)
		if err != nil {
			return 0, err
		}
		m[measure.TCPRetrans] = float64(res.Retransmits)
		return int(res.BytesSent / int64(w.Segment)), nil
	}
	ks := c.Kernel.Settings()
	if len(ks.CPUs) == 0 && cpu >= 0 {
		ks.CPUs = []int{cpu}
	}
	cfg := flow.PacedConfig{Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP, Port: port, Pacer: w.Pacer,
		Count: w.Segments, Segment: int(w.Segment), Gap: time.Duration(w.Gap), Thread: ks, Duration: d, CC: w.CC, Ifname: tp.Sender.Ifname}
	if t := w.PaceTimer; t != nil {
		mode, err := timer.ParseMode(t.Mode)
		if err != nil {
			return 0, err
		}
		cfg.Timer = timer.Config{Mode: mode, Margin: time.Duration(t.Margin), MaxMargin: time.Duration(t.MaxMargin)}
	}
	res, err := flow.Paced(ctx, cfg)
	m[measure.TCPRetrans] = float64(res.Retransmits)
	m[measure.TCPMSS] = float64(res.MSS)
	if w.Pacer == flow.PaceTimer {
		m[measure.PaceLateP50US] = us(res.LateP50)
		m[measure.PaceLateP99US] = us(res.LateP99)
	}
	return res.Written, err
}
