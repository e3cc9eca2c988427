package execute

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/stall"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// A stall_probe run spins for the trace's length on the CPU it is given
// and reports the stall figures, beside no wire at all.
func TestStallProbeRunReports(t *testing.T) {
	p := mustEval(t, `experiment(
    name = "probe",
    trace = trace.synthetic(count = 500, interval = "100us"),
    sender = sender.stall_probe(cpu = 0),
    topology = topology.veth(),
    receiver = receiver.afpacket(),
)`, nil)
	c := p.Runs[0].Config
	if c.Wire() || c.Receiver != nil || kindOf(c) != (probeKind{}) {
		t.Fatalf("the probe's run builds a wire or is not a probe: %+v", c)
	}
	var log strings.Builder
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Stderr: &log, Stdout: &log})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || len(out.Rows) != 1 {
		t.Fatalf("%d failed, %d rows:\n%s", out.Failed, len(out.Rows), log.String())
	}
	m := out.Rows[0].Metrics
	// Its series holds one row per stall.
	s, err := results.ReadSeries(filepath.Join(out.Dir, "series", out.Rows[0].ID+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Column("stall_ns")); float64(n) > m[measure.StallCount] {
		t.Errorf("%d stalls in the series, %v counted", n, m[measure.StallCount])
	}
	for _, k := range []string{measure.StallCount, measure.StallPerS, measure.StallPct, measure.StallP999US, measure.StallMaxUS, measure.WallS} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %v", k, m)
		}
	}
	// 500 x 100 us: it spun at least 50 ms, and no more than it was
	// asked plus what a stall at the end can add (bounded by the run).
	if m[measure.WallS] < 0.05 {
		t.Errorf("spun %v s, want at least 0.05", m[measure.WallS])
	}
	if m[measure.StallPct] < 0 || m[measure.StallPct] > 100 || m[measure.StallMaxUS] < m[measure.StallP999US] {
		t.Errorf("figures disagree: %v", m)
	}
}

func TestStallProbeScriptErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "0us"), sender = sender.stall_probe())`, "count and interval > 0"},
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "10us"), sender = sender.stall_probe(threshold = "2s"))`, "threshold 2s"},
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "10us"), sender = sender.stall_probe(cpu = -1))`, "cpu"},
	} {
		_, err := evalSrc(t, c.src, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one with %q", c.src, err, c.want)
			continue
		}
		checkErrorForm(t, err)
	}
}

// The probe beside a wire run: where it goes, and when its stalls are
// the stamps'.
func TestRunProbePlacement(t *testing.T) {
	one := plan.RunConfig{Sender: &plan.SenderConfig{Kind: "tcpreplay"}}
	if got := senderCPUs(one); len(got) != 1 {
		t.Errorf("tcpreplay on %v, want one CPU", got)
	}
	many := plan.RunConfig{Sender: &plan.SenderConfig{Kind: "labrun", Threads: 0}}
	if got := senderCPUs(many); got != nil {
		t.Errorf("a thread per CPU on %v, want nil (no CPU free for a probe)", got)
	}
	for _, c := range []struct {
		prequeue, cpu int
		rps           []int
		want          bool
	}{
		{1, 0, []int{0}, false}, // stamped in the send call, before RPS
		{1, 0, nil, false},
		{0, 0, []int{0}, true}, // stamped in CPU 0's softirq
		{0, 0, nil, false},     // in the sender's CPU's softirq
		{0, 0, []int{1}, false},
		{0, 0, []int{0, 1}, false}, // either CPU, by flow
	} {
		if got := stampsOn(c.prequeue, c.cpu, c.rps); got != c.want {
			t.Errorf("stampsOn(prequeue %d, cpu %d, rps %v) = %v, want %v", c.prequeue, c.cpu, c.rps, got, c.want)
		}
	}
}

// Which stalls a run's clean figures leave out: labrun's own, with its
// due times; the probe's only where the kernel stamps; nothing for a peer.
func TestExclusion(t *testing.T) {
	w := &wire{c: plan.RunConfig{Topology: &plan.TopoConfig{RPS: []int{0}}}, sched: []int64{0, 100, 200}}
	probe := &runProbe{res: stall.Result{CPU: 0, Stalls: measure.Stalls{{From: 5, To: 50}}}}
	x := w.exclusion(nil, 1000, true, nil)
	if x == nil || x.Sources != rx.SourceSender || !slices.Equal(x.Due, []int64{1000, 1100, 1200}) {
		t.Errorf("labrun: %+v", x)
	}
	stamping := tstampPrequeue() == 0
	x = w.exclusion(nil, 0, false, probe)
	if (x != nil) != stamping || stamping && (x.Sources != rx.SourceProbe || len(x.Stalls) != 1) {
		t.Errorf("a peer with a probe (prequeue 0: %v): %+v", stamping, x)
	}
	w.c.Topology.RPS = nil
	if x := w.exclusion(nil, 0, false, probe); x != nil {
		t.Errorf("a peer without RPS: %+v, want nothing attributable", x)
	}
}
