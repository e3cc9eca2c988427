package execute

import (
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/script"
)

// lrNamespaces lists this process's labrun namespaces.
func lrNamespaces(t *testing.T) []string {
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	prefix := "lr-" + strconv.Itoa(os.Getpid()) + "-"
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A wire experiment runs end to end as root: every sender's frames all
// arrive and are accounted for, the receiver's capture and the series are
// written, and no namespace is left behind.
func TestWireExperimentEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs (run the tests as root, as CI does)")
	}
	p, err := script.Evaluate("testdata/wire/small.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, haveTcpreplay := exec.LookPath("tcpreplay")
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if left := lrNamespaces(t); len(left) > 0 {
		t.Fatalf("namespaces left behind: %v", left)
	}
	want := 4
	if haveTcpreplay != nil {
		want = 3
		if out.Skipped != 1 {
			t.Fatalf("tcpreplay missing: %d runs skipped, want 1", out.Skipped)
		}
	}
	if out.Failed != 0 || len(out.Rows) != want {
		t.Fatalf("%d failed, %d rows (want %d)", out.Failed, len(out.Rows), want)
	}
	for _, r := range out.Rows {
		m := r.Metrics
		if m["sent"] != 3000 || m["rx_received"] != 3000 || m["rx_unexplained"] != 0 || m["rx_dup"] != 0 || m["rx_lost"] != 0 {
			t.Errorf("%s: sent %v received %v unexplained %v dup %v lost %v (metrics %v)", r.Params["sender"], m["sent"], m["rx_received"], m["rx_unexplained"], m["rx_dup"], m["rx_lost"], m)
		}
		// Each sending thread keeps its flows in order; two threads'
		// frames interleave on the wire, which is not reordering (judged
		// across threads, about half the frames were counted). A busy
		// machine may reorder a few frames for real on the way.
		if m["rx_reordered"] > 3000/10 {
			t.Errorf("%s: %v of 3000 frames reordered", r.Params["sender"], m["rx_reordered"])
		}
		// The stall probe (probe = True) spins beside the paced one-CPU senders (not the
		// two threads, nor tcpreplay at top speed); labrun's rows get
		// clean figures excluding its own stalls; the peer's stay
		// empty (the kernel stamps on its CPU, in its send call).
		sender := r.Params["sender"]
		_, probed := m[measure.ProbePerS]
		if want := sender == "labrun sendto" || sender == "labrun udp"; probed != want {
			t.Errorf("%s: probe figures %v, want %v", sender, probed, want)
		}
		// On a machine busy enough, every pair may be hit by a stall:
		// then the clean figures are absent, and all 2999 pairs are
		// counted excluded.
		_, clean := m[measure.IATCleanP99]
		_, attributed := m[measure.IATExclSrc]
		labrun := strings.HasPrefix(sender, "labrun")
		if attributed != labrun || labrun && m[measure.IATExclSrc] != 2 || clean && !labrun || labrun && !clean && m[measure.IATExcluded] != 2999 {
			t.Errorf("%s: clean figures %v (sources %v, %v pairs excluded), want attribution %v", sender, clean, m[measure.IATExclSrc], m[measure.IATExcluded], labrun)
		}
		if _, ok := m[measure.RxStallCount]; !ok {
			t.Errorf("%s: no %s", sender, measure.RxStallCount)
		}
		if _, err := os.Stat(filepath.Join(out.Dir, "pcap", r.ID+"-rx.pcapng")); err != nil {
			t.Errorf("%s: no capture: %v", r.Params["sender"], err)
		}
		s, err := results.ReadSeries(filepath.Join(out.Dir, "series", r.ID+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		if arr := s.Column("arrival_ns"); len(arr) != 3000 || arr[2999] == results.Missing {
			t.Errorf("%s: series has %d arrivals", r.Params["sender"], len(arr))
		}
		// Each frame's flag: was its pair left out of the clean figures.
		flags, excluded := s.Column("iat_stall"), 0.0
		for _, f := range flags {
			if f == 1 {
				excluded++
			}
		}
		if (flags != nil) != attributed || excluded != m[measure.IATExcluded] {
			t.Errorf("%s: %d per-frame stall flags, %v flagged, %v excluded", sender, len(flags), excluded, m[measure.IATExcluded])
		}
	}
	if _, err := os.Stat(filepath.Join(out.Dir, "plots", "iat.csv")); err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(out.Dir, "manifest.json"))
	if err != nil || !strings.Contains(string(m), "-rx.pcapng") {
		t.Fatalf("manifest does not list the receiver's captures (%v)", err)
	}
	// The provenance names the veth driver and, when installed, tcpreplay's version.
	if !strings.Contains(string(m), `"driver": "veth"`) || haveTcpreplay == nil && !strings.Contains(string(m), `"name": "tcpreplay"`) {
		t.Errorf("manifest provenance lacks the veth driver or tcpreplay's version")
	}
}

// Cancelling (Ctrl-C) in the middle of a wire run keeps what was
// measured and removes the run's namespaces.
func TestWireInterruptedCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs")
	}
	// 500,000 frames at 20 us: 10 s unless interrupted.
	p, err := script.Evaluate("testdata/wire/small.star", script.Options{Overrides: map[string]string{"sender": "labrun sendto", "packets": "500000"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt once the run's namespaces exist (polled, bounded).
		for i := 0; i < 2000 && len(lrNamespaces(t)) == 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	out, err := Execute(ctx, p, ExecOptions{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted {
		t.Fatal("not marked interrupted")
	}
	if left := lrNamespaces(t); len(left) > 0 {
		t.Fatalf("namespaces left behind: %v", left)
	}
	// Interrupted while setting up or sending: at most one row, short.
	if len(out.Rows) > 1 || len(out.Rows) == 1 && out.Rows[0].Metrics["sent"] >= 500000 {
		t.Fatalf("rows %v", out.Rows)
	}
}

// A peer tool that is not installed makes its runs skipped, with the
// command that installs it; the other runs go on.
func TestWireMissingToolIsSkipped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs ip (iproute2) for receive steering")
	}
	// A PATH with ip but without tcpreplay.
	bin := t.TempDir()
	if err := os.Symlink(ip, filepath.Join(bin, "ip")); err != nil {
		t.Fatal(err)
	}
	sh, _ := exec.LookPath("sh")
	os.Symlink(sh, filepath.Join(bin, "sh"))
	t.Setenv("PATH", bin)
	p, err := script.Evaluate("testdata/wire/small.star", script.Options{Overrides: map[string]string{"packets": "500"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if out.Skipped != 1 || out.Failed != 0 || len(out.Rows) != 3 {
		t.Fatalf("skipped %d failed %d rows %d, want 1, 0, 3", out.Skipped, out.Failed, len(out.Rows))
	}
	m, err := os.ReadFile(filepath.Join(out.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m), "apt-get install -y tcpreplay") || !strings.Contains(string(m), `"skipped"`) {
		t.Fatal("manifest does not say the tcpreplay run was skipped and how to install it")
	}
}

// A real capture replayed on the wire is timed: its frames carry no
// sequence mark, and the receiver matches them by content (the copies of
// a looped capture in order), so every frame has an arrival, a latency
// and an inter-arrival error.
func TestWireCaptureIsTimed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs (run the tests as root, as CI does)")
	}
	p, err := script.Evaluate("testdata/wire/capture.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || len(out.Rows) != 1 {
		t.Fatalf("%d failed, %d rows", out.Failed, len(out.Rows))
	}
	r := out.Rows[0]
	m := r.Metrics
	const n = 2400
	t.Logf("sent %v received %v dup %v unmarked %v; latency p50 %v us p99 %v us; inter-arrival error p50 %v us p99 %v us",
		m["sent"], m["rx_received"], m["rx_dup"], m["rx_unmarked"], m["lat_p50_us"], m["lat_p99_us"], m["iat_err_p50_us"], m["iat_err_p99_us"])
	if m["sent"] != n || m["rx_received"] != n || m["rx_unexplained"] != 0 || m["rx_dup"] != 0 || m["rx_reordered"] != 0 {
		t.Errorf("sent %v received %v unexplained %v dup %v reordered %v", m["sent"], m["rx_received"], m["rx_unexplained"], m["rx_dup"], m["rx_reordered"])
	}
	// Timed: a frame arrives after it was sent, and consecutive frames
	// give inter-arrival errors.
	if _, ok := m["lat_p50_us"]; !ok || m["lat_p50_us"] <= 0 || m["iat_err_max_us"] < m["iat_err_p50_us"] {
		t.Errorf("latency p50 %v us, inter-arrival error p50 %v max %v us", m["lat_p50_us"], m["iat_err_p50_us"], m["iat_err_max_us"])
	}
	s, err := results.ReadSeries(filepath.Join(out.Dir, "series", r.ID+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	lat, iat := s.Column("latency_ns"), s.Column("iat_err_ns")
	if len(lat) != n || len(iat) != n {
		t.Fatalf("series has %d latencies and %d inter-arrival errors, want %d", len(lat), len(iat), n)
	}
	for q := range n {
		if lat[q] == results.Missing || lat[q] <= 0 || q > 0 && iat[q] == results.Missing {
			t.Fatalf("frame %d: latency %d ns, inter-arrival error %d ns", q, lat[q], iat[q])
		}
	}
}

// sink.afpacket(pad = True) sends frames the receiver knows (it is given
// them padded), and sender.labrun(profile = N) reaches the loop: the
// sink's padding and checksum are timed apart, and the stage means add up
// to the loop's.
func TestWirePaddedProfile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs (run the tests as root, as CI does)")
	}
	p, err := script.Evaluate("testdata/wire/padded.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || len(out.Rows) != 1 {
		t.Fatalf("%d failed, %d rows", out.Failed, len(out.Rows))
	}
	m := out.Rows[0].Metrics
	const n = 2000
	if m["sent"] != n || m["rx_received"] != n || m["rx_unmarked"] != 0 {
		t.Errorf("sent %v received %v unmarked %v: want every padded frame matched", m["sent"], m["rx_received"], m["rx_unmarked"])
	}
	if m["prof_every"] != 4 || m["prof_samples"] < n/8 {
		t.Errorf("profile every %v, %v samples", m["prof_every"], m["prof_samples"])
	}
	sum := 0.0
	for _, k := range []string{"prof_read_mean_us", "prof_wait_mean_us", "prof_pad_mean_us", "prof_csum_mean_us", "prof_send_mean_us", "prof_book_mean_us"} {
		v, ok := m[k]
		if !ok || v < 0 {
			t.Errorf("%s = %v, %v", k, v, ok)
		}
		sum += v
	}
	if loop := m["prof_loop_mean_us"]; math.Abs(sum-loop) > 1e-9*loop+1e-9 {
		t.Errorf("stage means add up to %v us, loop mean %v us", sum, loop)
	}
	if left := lrNamespaces(t); len(left) != 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}
