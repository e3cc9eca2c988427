package execute

import (
	"fmt"
	"path/filepath"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/trace"
)

// A run on named interfaces (topology.interfaces, allowed by --interface)
// sends on an existing interface and receives on another, through a
// device under test between them. Nothing is created and no address,
// route, MTU, offload, qdisc, RPS or ring setting is touched. What the
// run does change is undone on every path: promiscuous mode belongs to
// the receiver's socket (the kernel drops it when the socket closes,
// also when labrun is killed), and the NIC's timestamping configuration,
// when the script asks for hardware stamps, is recorded in the state
// folder, put back by an undo step, and after a SIGKILL by the next run on
// a wire (topo.RestoreStaleTimestamps).

// attach finds the run's named interfaces and starts the receiver on rx.
func (w *wire) attach() error {
	ic := w.c.Topology.Interfaces
	tx, err := topo.ParseIface(ic.Tx)
	if err != nil {
		return err
	}
	cfg := topo.NamedConfig{Tx: tx}
	if ic.Rx != "" {
		r, err := topo.ParseIface(ic.Rx)
		if err != nil {
			return err
		}
		cfg.Rx = &r
	}
	tp, err := topo.Attach(cfg)
	if err != nil {
		return err
	}
	w.tp = tp
	w.undo.push(tp.Close)
	if mf := w.c.Trace.MaxFrame() - trace.FCSLen; mf > tp.Sender.MTU()+14 {
		return fmt.Errorf("interface %s has MTU %d: frames of up to %d B (without FCS) do not fit; labrun does not change an interface's MTU", ic.Tx, tp.Sender.MTU(), mf)
	}
	for _, h := range tp.Hosts() {
		name := ic.Tx
		if h == tp.Receiver {
			name = ic.Rx
		}
		o := kernel.Outcome{Setting: "nic " + name, State: kernel.Applied, Reason: "ethtool -i, read only"}
		if o.Value, err = h.DriverInfo(h.Ifname); err != nil {
			o.State, o.Reason = kernel.Skipped, err.Error()
		}
		w.outcomes = append(w.outcomes, o)
	}
	if tp.Receiver == nil {
		return nil
	}
	return w.startReceiver()
}

// namedRx adds to a receiver on a named interface what it needs there:
// promiscuous mode (the device under test addresses frames to whatever
// MAC it forwards to) and, when asked, the NIC's own stamps.
func (w *wire) namedRx(rc *rx.Config) error {
	ic := w.c.Topology.Interfaces
	if ic == nil {
		return nil
	}
	rc.Promisc = true
	h := w.tp.Receiver
	info, err := h.TimestampInfo(h.Ifname)
	o := kernel.Outcome{Setting: "rx_timestamps " + ic.Rx, Value: "software", State: kernel.Applied}
	switch {
	case err != nil:
		o.Reason = err.Error()
	default:
		w.outcomes = append(w.outcomes, kernel.Outcome{Setting: "ts_info " + ic.Rx, Value: info.String(), State: kernel.Applied, Reason: "ethtool -T capabilities"})
	}
	if ic.Timestamps != "hardware" {
		w.outcomes = append(w.outcomes, o)
		return nil
	}
	ok, why := info.HardwareRx()
	if err != nil {
		ok, why = false, err.Error()
	}
	if ok {
		restore, err := h.EnableRxTimestamps(h.Ifname)
		if err == nil {
			w.undo.push(restore)
			rc.Hardware, rc.PHC = true, info.PHCIndex
			w.hwRx = true
			return nil
		}
		why = err.Error()
	}
	o.State, o.Reason = kernel.Skipped, "hardware asked; software stamps used: "+why
	w.outcomes = append(w.outcomes, o)
	return nil
}

// timestampOutcome records, after the run, how the receiver's frames were
// stamped when the NIC was asked to.
func (w *wire) timestampOutcome(m map[string]float64, got *rx.Result) {
	if !w.hwRx {
		return
	}
	ic := w.c.Topology.Interfaces
	m[measure.RxHWStamped] = float64(got.HardwareStamped)
	o := kernel.Outcome{Setting: "rx_timestamps " + ic.Rx, Value: "hardware", State: kernel.Applied,
		Reason: fmt.Sprintf("NIC clock vs realtime drift %d ns over the run, uncertainty %d ns", got.PHCDrift, got.PHCUncertainty)}
	if got.HardwareStamped < got.Total {
		o.Value, o.State = "software", kernel.Skipped
		o.Reason = fmt.Sprintf("hardware asked; the NIC stamped %d of %d frames, the rest have software stamps", got.HardwareStamped, got.Total)
		if got.HardwareStamped > 0 {
			o.Value = "mixed"
		}
	}
	w.outcomes = append(w.outcomes, o)
}

// sentOnly finishes a run whose receiver is elsewhere (tx only): the
// send times are the run's series.
func (w *wire) sentOnly(m map[string]float64, sent uint64, start int64, actual []int64) error {
	m[measure.Sent] = float64(sent)
	got := &rx.Result{Arrival: make([]int64, w.n)}
	return writeWireSeries(filepath.Join(w.dir, "series", w.run.ID+".csv"), w.sched, start, actual, got, nil)
}
