package execute

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/script"
)

// labrun sends through sink.afxdp on one thread and on two (a queue
// each): every frame arrives, once (a busy machine may reorder a few on
// the way, as in TestWireExperimentEndToEnd). Two threads on a veth of
// one queue fail at plan time with the fix in the message.
func TestWireXDP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs, opens XDP sockets")
	}
	p, err := script.Evaluate("testdata/wire/xdp.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || len(out.Rows) != 2 {
		t.Fatalf("%d failed, %d rows (want 2)", out.Failed, len(out.Rows))
	}
	for _, r := range out.Rows {
		m := r.Metrics
		if m["sent"] != 3000 || m["rx_received"] != 3000 || m["rx_unexplained"] != 0 || m["rx_dup"] != 0 || m["rx_lost"] != 0 || m["rx_reordered"] > 3000/10 {
			t.Errorf("%s: sent %v received %v unexplained %v dup %v lost %v reordered %v", r.Params["sender"], m["sent"], m["rx_received"], m["rx_unexplained"], m["rx_dup"], m["rx_lost"], m["rx_reordered"])
		}
	}
	if left := lrNamespaces(t); len(left) > 0 {
		t.Fatalf("namespaces left behind: %v", left)
	}

	// Known before anything runs: the plan refuses it, with the fix.
	_, err = script.Evaluate("testdata/wire/xdp.star", script.Options{Overrides: map[string]string{"queues": "1"}})
	if err == nil || !strings.Contains(err.Error(), "xdp.star:") || !strings.Contains(err.Error(), "give topology.veth(queues = 2)") {
		t.Fatalf("two threads on one queue: %v", err)
	}
}
