package execute

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// Bad tcp.paced calls are refused at evaluation, naming file:line and the
// accepted forms.
func TestPacedErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`tcp.paced(segments = 10)`, "give the requested inter-transmission time as rate = "},
		{`tcp.paced(rate = "1Gbps", pacer = "fast")`, "is not one of timer, fq, tcp, none, iperf3"},
		{`tcp.paced(rate = "1Gbps", pacer = "none", timer = timer.busy())`, "timer = is for pacer = \"timer\""},
		{`experiment(name = "p", workload = tcp.paced(rate = "1Gbps", segment = "100KiB"))`, "segment 102400 B: accepted 1..65535 bytes"},
		{`experiment(name = "p", workload = tcp.paced(gap = sweep.axis("g", ["10us", "2s"])))`, "gap 2s: accepted 1ns..1s"},
	} {
		_, err := evalSrc(t, tc.src, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.src, err, tc.want)
			continue
		}
		checkErrorForm(t, err)
	}
}

// A paced run measures every segment at the receiver; fq is skipped, not
// failed, where the kernel has no fq.
func TestPacedRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs")
	}
	p := mustEval(t, `experiment(name = "p", workload = tcp.paced(gap = "500us", segments = 50,
    pacer = sweep.axis("pacer", ["timer", "fq", "none"])))`, nil)
	prog := newProgress(io.Discard, ProgressQuiet, len(p.Runs))
	defer prog.stop()
	for _, r := range p.Runs {
		t.Run(r.Config.Workload.Pacer, func(t *testing.T) {
			row, err := runWorkload(context.Background(), r, prog)
			var skip *SkipError
			if errors.As(err, &skip) {
				if r.Config.Workload.Pacer != "fq" || !strings.Contains(skip.Reason, "fq") {
					t.Fatalf("skipped: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := row.Metrics
			// A segment lost before the receiver's tap comes back as a
			// retransmission.
			seen := m["tcp_segments"] + m["tcp_seg_retrans"]
			if m["tcp_segments"] > 50 || seen < 50 || m["packets"] != 50 || m["tcp_mss"] != 1448 || m["rate_req_pps"] != 2000 {
				t.Errorf("segments %v (+%v retransmitted), writes %v, MSS %v, requested %v pps; want 50, 50, 1448, 2000",
					m["tcp_segments"], m["tcp_seg_retrans"], m["packets"], m["tcp_mss"], m["rate_req_pps"])
			}
			if _, ok := m["iat_err_p95_us"]; !ok {
				t.Errorf("no iat_err_p95_us in %v", m)
			}
		})
	}
}
