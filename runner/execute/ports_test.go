package execute

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/runner/script"
)

// countCapture counts the frames in a capture file.
func countCapture(t *testing.T, path string) int {
	t.Helper()
	r, err := trace.OpenCapture(path, trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	var rec trace.Record
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		n++
	}
}

// A run on several ports sends on each port and receives on each: every
// port's receiver got frames, the ports' captures add up to what was
// sent, the merged accounting is exact, and nothing is left behind.
func TestPortsEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs (run the tests as root, as CI does)")
	}
	p, err := script.Evaluate("testdata/ports/ports.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if left := lrNamespaces(t); len(left) > 0 {
		t.Fatalf("namespaces left behind: %v", left)
	}
	if out.Failed != 0 || len(out.Rows) != 2 {
		t.Fatalf("%d failed, %d rows, want 2", out.Failed, len(out.Rows))
	}
	for _, r := range out.Rows {
		m := r.Metrics
		ports, _ := strconv.Atoi(r.Params["ports"])
		if m["sent"] != 3000 || m["rx_received"] != 3000 || m["rx_unexplained"] != 0 || m["rx_dup"] != 0 || m["senders"] != float64(ports) {
			t.Errorf("%d ports: sent %v received %v unexplained %v dup %v senders %v", ports, m["sent"], m["rx_received"], m["rx_unexplained"], m["rx_dup"], m["senders"])
		}
		if lo, hi, j := m["rx_port_min_pps"], m["rx_port_max_pps"], m["rx_port_jain"]; lo <= 0 || lo > hi || j <= 0 || j > 1+1e-9 {
			t.Errorf("%d ports: per-port min %v max %v Jain %v", ports, lo, hi, j)
		}
		total := 0
		for k := range ports {
			n := countCapture(t, filepath.Join(out.Dir, "pcap", r.ID+"-rx-port"+strconv.Itoa(k)+".pcapng"))
			// 6 flows split evenly over 2 or 3 ports.
			if n != 3000/ports {
				t.Errorf("%d ports: port %d captured %d frames, want %d", ports, k, n, 3000/ports)
			}
			total += n
		}
		if total != 3000 {
			t.Errorf("%d ports: the ports' captures add up to %d, want 3000", ports, total)
		}
	}
}
