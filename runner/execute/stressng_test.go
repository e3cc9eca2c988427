package execute

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
)

// stress-ng runs beside ten short runs in a row and reports its metrics
// in every one. Each run's timed loop exits on a locked thread, which the
// runtime then ends: stress-ng used to be forked from such threads and
// killed with them (its parent-death signal), and 2-3 runs of 4 failed
// with "no metrics".
func TestStressNGEveryRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runs match labrun's privileged runs (run the tests as root, as CI does)")
	}
	if _, err := peer.Find("stress-ng"); err != nil {
		t.Skipf("%v", err)
	}
	p := mustEval(t, `experiment(
    name = "stress",
    trace = trace.synthetic(count = 2000, interval = "100us"),
    timer = timer.firm(),
    background = [background.stress_ng(cpu = 1, cpu_load = 30)],
    repeat = 10,
)`, nil)
	var log strings.Builder
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Stderr: &log, Stdout: &log})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || len(out.Rows) != 10 {
		t.Fatalf("%d failed, %d rows; want 10 ok:\n%s", out.Failed, len(out.Rows), log.String())
	}
	// Every run has stress-ng's metrics (a short run on a busy machine may
	// have seen no whole bogo operation: then 0), and it did work.
	var ops float64
	for _, r := range out.Rows {
		v, ok := r.Metrics[measure.LoadStressOps]
		if !ok {
			t.Errorf("%s: no %s", r.ID, measure.LoadStressOps)
		}
		ops += v
	}
	if ops <= 0 {
		t.Errorf("%s is 0 in every run", measure.LoadStressOps)
	}
}
