package execute

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/runner/plan"
)

// A run with topology.veth(pairs = N) sends on N ports: sending thread k
// on sender port k, a receiver on receiver port k, both pinned to CPU
// k mod the CPU count unless the script places them. The receivers'
// results are merged for the run's usual rx_ metrics, and the ports'
// received rates give the fairness metrics.

// ports is the run's number of ports when the script gave pairs, else 0
// (one pair, the sender and receiver placed as usual).
func ports(c plan.RunConfig) int {
	if c.Topology == nil {
		return 0
	}
	return c.Topology.Pairs
}

// portCPU is the CPU of port k's sender and receiver.
func portCPU(k int) int { return k % runtime.NumCPU() }

// portReceivers are the receivers of a run on several ports.
type portReceivers struct {
	rcvs []*rx.Receiver
}

// startPortReceivers opens and starts one receiver on each receiver port;
// each pushes its closing onto the run's undo stack.
func (w *wire) startPortReceivers() error {
	c, tp := w.c, w.tp
	w.ports = &portReceivers{}
	for k := range tp.Receiver.Ports() {
		p := tp.Receiver.Port(k)
		if rps := c.Topology.RPS; len(rps) > 0 {
			if err := tp.Receiver.SteerReceive(p.Ifname, rps); err != nil {
				return err
			}
		}
		rc := rx.Config{Ifindex: p.Ifindex, Expect: w.n, CPU: portCPU(k), Streams: w.streams, RingBytes: int(c.Receiver.Ring), Fanout: c.Receiver.Fanout}
		if c.Receiver.CPU != nil {
			rc.CPU = *c.Receiver.CPU
		}
		if c.Receiver.Capture {
			if err := os.MkdirAll(filepath.Join(w.dir, "pcap"), 0o755); err != nil {
				return err
			}
			rc.Capture = filepath.Join(w.dir, "pcap", w.run.ID+"-rx-port"+strconv.Itoa(k)+".pcapng")
		}
		var r *rx.Receiver
		if err := tp.Receiver.Do(func() error {
			var err error
			r, err = rx.Open(rc)
			return err
		}); err != nil {
			return fmt.Errorf("receiver on %s: %w", p.Ifname, err)
		}
		w.undo.push(func() error { r.Close(); return nil })
		w.ports.rcvs = append(w.ports.rcvs, r)
		r.Start()
	}
	return nil
}

// stopPortReceivers stops every port's receiver at once and returns their
// merged result; it adds the per-port rates and their fairness to m.
// When every frame was sent, each receiver waits for its own port's
// share; otherwise for quiet.
func (w *wire) stopPortReceivers(m map[string]float64, sent uint64) (*rx.Result, error) {
	rcvs := w.ports.rcvs
	want := make([]uint64, len(rcvs))
	for k := range want {
		want[k] = sent
	}
	if sent == uint64(w.n) && w.streams != nil {
		for k := range want {
			want[k] = 0
		}
		for _, s := range w.streams {
			want[s]++
		}
	}
	res := make([]*rx.Result, len(rcvs))
	errs := make([]error, len(rcvs))
	var wg sync.WaitGroup
	for k, r := range rcvs {
		wg.Go(func() {
			res[k], errs[k] = r.Stop(want[k], time.Duration(w.c.Receiver.Quiet), time.Duration(w.c.Receiver.Drain))
		})
	}
	wg.Wait()
	pps := make([]float64, len(rcvs))
	for k := range rcvs {
		if errs[k] != nil {
			return nil, fmt.Errorf("receiver on port %d: %w", k, errs[k])
		}
		pps[k] = rx.Analyze(nil, res[k]).PPS
	}
	m[measure.RxPortMinPPS], m[measure.RxPortMaxPPS], m[measure.RxPortJain] = rx.Fairness(pps)
	got := rx.Merge(res...)
	if sent > 0 {
		m[measure.RxSendPct] = float64(got.Received) / float64(sent) * 100
	}
	return got, nil
}

// linkDrops sums the frames the run's veth pairs refused: at the sender's
// and the receiver's end of every port.
func linkDrops(tp *topo.Topology) uint64 {
	var n uint64
	for k := range tp.Sender.Ports() {
		if s, err := tp.Sender.Stats(tp.Sender.Port(k).Ifname); err == nil {
			n += s.TxDropped
		}
		if s, err := tp.Receiver.Stats(tp.Receiver.Port(k).Ifname); err == nil {
			n += s.RxDropped
		}
	}
	return n
}
