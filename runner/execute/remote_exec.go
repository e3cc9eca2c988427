package execute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/labrun/labrun/engine/clocksync"
	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/remote"
)

// remoteKind runs a wire run whose sender and receiver are on other
// hosts, each driven by its labrun agent over SSH (docs/hosts.md).
type remoteKind struct{}

func (remoteKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	return runRemote(ctx, rc, remote.OptionsFromEnv())
}

// Clock offsets: the exchanges per measurement, and the bound of the
// best round trip (a slower channel says too little to correct with).
const (
	clockExchanges = 16
	clockBound     = 500 * time.Millisecond
	// undoTimeout bounds the requests that take a run down, which go out
	// even when the run was interrupted.
	undoTimeout = 30 * time.Second
)

// remoteRun is one run between hosts: its schedule, the connections to
// its hosts, their clock offsets, and the steps that take it down.
type remoteRun struct {
	*runContext
	c        plan.RunConfig
	sched    []int64
	hosts    map[string]*remoteHost // by role
	settings []kernel.Outcome
	undo     undoStack
}

// remoteHost is one host of a run.
type remoteHost struct {
	cfg    plan.HostConfig
	client *remote.Client
	before clocksync.Estimate
	span   clocksync.Span
	undone []kernel.Outcome
}

// hostRecord is what hosts/<run id>.json (and the manifest) record of a
// run's hosts.
type hostRecord struct {
	Role      string            `json:"role"`
	SSH       string            `json:"ssh"`
	Interface string            `json:"interface"`
	Info      remote.HostInfo   `json:"host"`
	Clock     clocksync.Span    `json:"clock"`
	Offset    int64             `json:"offset_ns"`
	Uncertain int64             `json:"uncertainty_ns"`
	Settings  []kernel.Outcome  `json:"settings,omitempty"`
	Undone    []kernel.Outcome  `json:"undone,omitempty"`
	Extra     map[string]string `json:"notes,omitempty"`
}

func runRemote(ctx context.Context, rc *runContext, o remote.Options) (row results.Row, res *replay.Result, err error) {
	r := rc.run
	row = results.Row{ID: r.ID, Params: r.Params}
	w := &remoteRun{runContext: rc, c: r.Config, hosts: map[string]*remoteHost{}}
	defer func() {
		if uerr := w.undo.unwind(); uerr != nil && err == nil {
			err = uerr
		}
		if res != nil {
			res.Settings = append(res.Settings, w.settings...)
		}
	}()
	if err := w.schedule(); err != nil {
		return row, nil, err
	}
	if err := w.connect(ctx, o); err != nil {
		return row, nil, err
	}
	if err := w.prepare(ctx); err != nil {
		return row, &replay.Result{}, err
	}
	w.prog.sent.Store(0)
	w.prog.packets.Store(int64(len(w.sched)))
	sent, err := w.send(ctx)
	if err != nil {
		return row, &replay.Result{}, err
	}
	res = &replay.Result{Sched: w.sched, Interrupted: sent.Interrupted || ctx.Err() != nil}
	row.Metrics = map[string]float64{}
	for k, v := range sent.Metrics {
		row.Metrics[k] = v
	}
	times, got, err := w.collect(sent.Sent)
	if err != nil {
		return row, res, err
	}
	if err := w.clocks(ctx, false); err != nil {
		return row, res, err
	}
	if err := w.takeDown(); err != nil {
		return row, res, err
	}
	start, actual := w.correct(times, got)
	w.metrics(row.Metrics, sent.Sent, actual, got)
	if err := writeWireSeries(filepath.Join(w.dir, "series", r.ID+".csv"), w.sched, start, actual, got, nil); err != nil {
		return row, res, err
	}
	return row, res, w.writeHosts()
}

// schedule builds the trace here too, for the offsets the receiver's
// arrivals are judged against; the sender's agent builds the same frames
// from the same configuration and seed.
func (w *remoteRun) schedule() error {
	src, err := trace.NewSynth(w.c.Trace.Synth(w.run.Seed))
	if err != nil {
		return err
	}
	w.sched = make([]int64, src.Len())
	var p trace.Packet
	for src.Next(&p) {
		if p.Seq < uint64(len(w.sched)) {
			w.sched[p.Seq] = p.Offset
		}
	}
	return nil
}

// connect reaches the hosts (at once: each connection takes a few round
// trips and maybe a copy of labrun), starts their agents, and measures
// their clock offsets before the run.
func (w *remoteRun) connect(ctx context.Context, o remote.Options) error {
	clients := make([]*remote.Client, len(w.c.Hosts))
	errs := make([]error, len(w.c.Hosts))
	var wg sync.WaitGroup
	for i, hc := range w.c.Hosts {
		w.prog.line("run %s: connecting to the %s host %s", w.run.ID, hc.Role, hc.SSH)
		wg.Go(func() {
			clients[i], errs[i] = remote.Dial(ctx, hc.Role, hc.SSH, o)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s host %s: %w", hc.Role, hc.SSH, errs[i])
			}
		})
	}
	wg.Wait()
	for i, hc := range w.c.Hosts {
		cl := clients[i]
		if cl == nil {
			continue
		}
		w.hosts[hc.Role] = &remoteHost{cfg: hc, client: cl}
		w.undo.push(cl.Close)
		for _, rec := range cl.Info.Recovered {
			w.prog.line("run %s: %s host %s: restored %s = %s, left by an agent that was killed", w.run.ID, hc.Role, hc.SSH, rec.Setting, rec.Value)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return w.clocks(ctx, true)
}

// clocks measures every host's clock offset, before or after the run.
func (w *remoteRun) clocks(ctx context.Context, before bool) error {
	if !before {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
	}
	for _, hc := range w.c.Hosts {
		h := w.hosts[hc.Role]
		e, err := h.client.Clock(ctx, clockExchanges, clockBound)
		if err != nil {
			return err
		}
		if before {
			h.before = e
		} else {
			h.span = clocksync.Span{Before: h.before, After: e}
		}
	}
	return nil
}

// prepare sets each role up (receiver first, so that it listens before
// the first frame leaves) and starts the receiver.
func (w *remoteRun) prepare(ctx context.Context) error {
	c := w.c
	tc := w.c.Trace.Synth(w.run.Seed)
	for _, role := range []string{"receiver", "sender"} {
		h := w.hosts[role]
		p := &remote.Prepare{Role: role, RunID: w.run.ID, Interface: h.cfg.Interface, System: w.allowSystem, Allowed: w.runContext.allowSysctls}
		for _, kv := range h.cfg.Sysctls {
			p.Sysctls = append(p.Sysctls, kernel.Sysctl{Key: kv[0], Value: kv[1]})
		}
		if role == "sender" {
			p.Trace = &tc
			p.Timer = remote.TimerConfig{Mode: c.Timer.Mode, Period: int64(c.Timer.Period), Margin: int64(c.Timer.Margin), MaxMargin: int64(c.Timer.MaxMargin)}
			p.Mode, p.Batch, p.Bypass, p.Linear, p.MaxFrame = c.Sink.Mode, c.Sink.Batch, c.Sink.QdiscBypass, c.Sink.Linear, c.Topology.MTU+14
			if cpus := c.Kernel.CPUs; len(cpus) > 0 {
				p.CPU = &cpus[0]
			}
		} else {
			p.Expect = len(w.sched)
		}
		w.undo.push(func() error { return w.undoHost(h) })
		resp, err := h.client.Call(ctx, remote.Request{Op: remote.OpPrepare, Prepare: p})
		for _, o := range resp.Outcome {
			o.Setting = role + " host: " + o.Setting
			w.settings = append(w.settings, o)
		}
		if err != nil {
			return err
		}
	}
	_, err := w.hosts["receiver"].client.Call(ctx, remote.Request{Op: remote.OpStart})
	return err
}

// undoHost asks a host's agent to undo its role's settings. A host whose
// connection was lost undoes them itself.
func (w *remoteRun) undoHost(h *remoteHost) error {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	resp, err := h.client.Call(ctx, remote.Request{Op: remote.OpUndo})
	if le := (*remote.LostError)(nil); errors.As(err, &le) {
		w.prog.line("run %s: %v", w.run.ID, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("undoing the %s host's settings: %w", h.cfg.Role, err)
	}
	h.undone = append(h.undone, resp.Outcome...)
	return nil
}

// send starts the sender and waits for its last frame; an interrupt
// stops it.
func (w *remoteRun) send(ctx context.Context) (*remote.SendResult, error) {
	snd := w.hosts["sender"].client
	// An interrupt while start or wait is under way (the sender may be
	// sending already) stops the sender and keeps what it sent.
	_, err := snd.Call(ctx, remote.Request{Op: remote.OpStart})
	var resp remote.Response
	if err == nil {
		resp, err = snd.Call(ctx, remote.Request{Op: remote.OpWait})
	}
	if le := (*remote.LostError)(nil); err != nil && ctx.Err() != nil && !errors.As(err, &le) {
		sctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
		defer cancel()
		resp, err = snd.Call(sctx, remote.Request{Op: remote.OpStop})
	}
	if err != nil {
		return nil, err
	}
	if resp.Sent == nil {
		return nil, errors.New("sender host: stopped before it sent anything")
	}
	w.prog.sent.Store(int64(resp.Sent.Sent))
	return resp.Sent, nil
}

// collect drains the receiver and brings back both hosts' times.
func (w *remoteRun) collect(sent uint64) (*remote.Times, *rx.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout+time.Duration(w.c.Receiver.Drain))
	defer cancel()
	rcv, snd := w.hosts["receiver"].client, w.hosts["sender"].client
	stop := &remote.Stop{Sent: sent, Quiet: int64(w.c.Receiver.Quiet), Drain: int64(w.c.Receiver.Drain)}
	if _, err := rcv.Call(ctx, remote.Request{Op: remote.OpStop, Stop: stop}); err != nil {
		return nil, nil, err
	}
	rr, err := rcv.Call(ctx, remote.Request{Op: remote.OpCollect})
	if err != nil {
		return nil, nil, err
	}
	sr, err := snd.Call(ctx, remote.Request{Op: remote.OpCollect})
	if err != nil {
		return nil, nil, err
	}
	if rr.Rx == nil || sr.Times == nil {
		return nil, nil, errors.New("hosts: collect returned nothing")
	}
	return sr.Times, rr.Rx, nil
}

// takeDown undoes both hosts' settings now, to record what was undone
// (the undo stack would do it too).
func (w *remoteRun) takeDown() error {
	var errs []error
	for _, hc := range w.c.Hosts {
		errs = append(errs, w.undoHost(w.hosts[hc.Role]))
	}
	return errors.Join(errs...)
}

// correct moves the sender's and the receiver's times onto this host's
// CLOCK_REALTIME, each by its host's offset (in place for the receiver).
func (w *remoteRun) correct(t *remote.Times, got *rx.Result) (start int64, actual []int64) {
	offS := w.hosts["sender"].span.Offset()
	offR := w.hosts["receiver"].span.Offset()
	actual = make([]int64, len(t.Actual))
	for i, a := range t.Actual {
		if a != 0 {
			actual[i] = a - offS
		}
	}
	for i, a := range got.Arrival {
		if a != 0 {
			got.Arrival[i] = a - offR
		}
	}
	if got.FirstAny != 0 {
		got.FirstAny -= offR
		got.LastAny -= offR
	}
	return t.Start - offS, actual
}

// metrics adds what arrived, the corrected latencies and the clocks'
// offset with its bound.
func (w *remoteRun) metrics(m map[string]float64, sent uint64, actual []int64, got *rx.Result) {
	for k, v := range rx.Analyze(w.sched, got).Map() {
		m[k] = v
	}
	m[measure.Sent] = float64(sent)
	m[measure.RxUnexplained] = float64(int64(sent) - int64(got.Received) - int64(got.KernelDrops))
	if len(actual) == len(w.sched) {
		p50, p99, mx := rx.Latency(actual, got)
		m[measure.LatP50US], m[measure.LatP99US], m[measure.LatMaxUS] = float64(p50)/1e3, float64(p99)/1e3, float64(mx)/1e3
	}
	s, r := w.hosts["sender"].span, w.hosts["receiver"].span
	m[measure.ClockOffsetUS] = float64(r.Offset()-s.Offset()) / 1e3
	m[measure.ClockUncertaintyUS] = float64(r.Uncertainty()+s.Uncertainty()) / 1e3
	m[measure.ClockDriftUS] = float64(max(r.Drift(), s.Drift())) / 1e3
}

// writeHosts writes hosts/<run id>.json: each host's machine, kernel,
// clock state, offset and settings.
func (w *remoteRun) writeHosts() error {
	var recs []hostRecord
	for _, hc := range w.c.Hosts {
		h := w.hosts[hc.Role]
		rec := hostRecord{Role: hc.Role, SSH: hc.SSH, Interface: hc.Interface, Info: h.client.Info, Clock: h.span,
			Offset: h.span.Offset(), Uncertain: h.span.Uncertainty(), Undone: h.undone}
		for _, o := range w.settings {
			if len(o.Setting) > len(hc.Role) && o.Setting[:len(hc.Role)] == hc.Role {
				rec.Settings = append(rec.Settings, o)
			}
		}
		recs = append(recs, rec)
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "hosts"), 0o755); err != nil {
		return err
	}
	return results.WriteFileAtomic(filepath.Join(w.dir, "hosts", w.run.ID+".json"), append(b, '\n'))
}

// hostsRecord reads a run's hosts/<run id>.json for the manifest; nil if
// the run had no hosts or did not get as far.
func hostsRecord(dir string, r plan.Run) any {
	if !r.Config.Remote() {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "hosts", r.ID+".json"))
	if err != nil {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}
