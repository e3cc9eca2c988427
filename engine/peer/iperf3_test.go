package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/topo"
)

// The JSON reports in testdata/iperf3-*.json were captured from iperf 3.12
// on a veth pair between two namespaces: a 1 s test (client), the same
// reversed with -C cubic (reverse), and a client with no server (refused).
func TestParseIperf3JSON(t *testing.T) {
	b, err := os.ReadFile("testdata/iperf3-client.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseIperf3JSON(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Iperf3Result{
		Goodput: 8812792565.7722435, SentBps: 8845163976.0085354,
		BytesReceived: 1101980224, BytesSent: 1105854464, Seconds: 1.000346,
		Retransmits: 3948, MeanRTT: 266 * time.Microsecond, MinRTT: 266 * time.Microsecond, MaxRTT: 266 * time.Microsecond,
		SenderCC: "bbr",
	}
	if r != want {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}

	b, err = os.ReadFile("testdata/iperf3-reverse.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err = ParseIperf3JSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Goodput < 1e10 || r.Retransmits != 117 || r.SenderCC != "cubic" || r.MeanRTT != 0 || r.MinRTT != 0 {
		t.Fatalf("reverse: %+v (RTTs are only reported by the sender)", r)
	}

	b, err = os.ReadFile("testdata/iperf3-refused.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseIperf3JSON(b); err == nil || !strings.Contains(err.Error(), "unable to connect to server: Connection refused") {
		t.Fatalf("refused: %v", err)
	}
	if _, err := ParseIperf3JSON([]byte("Connecting to host 198.18.0.2, port 5201\n")); err == nil || !strings.Contains(err.Error(), "-J") {
		t.Fatalf("text output: %v", err)
	}
	if _, err := ParseIperf3JSON([]byte(`{"start":{},"end":{}}`)); err == nil || !strings.Contains(err.Error(), "sum_received") {
		t.Fatalf("no end sums: %v", err)
	}
}

func TestIperf3Args(t *testing.T) {
	addr := netip.MustParseAddr("198.18.0.2")
	c := Iperf3{Duration: 3 * time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.ServerArgs(addr), []string{"-s", "-1", "-B", "198.18.0.2", "-p", "5201"}; !reflect.DeepEqual(got, want) {
		t.Errorf("server %v, want %v", got, want)
	}
	if got, want := strings.Join(c.ClientArgs(addr), " "), "-c 198.18.0.2 -p 5201 -t 3 -J"; got != want {
		t.Errorf("client %q, want %q", got, want)
	}
	c = Iperf3{Duration: 10 * time.Second, Port: 5300, Reverse: true, CC: "reno", Bytes: 1 << 20, Extra: []string{"-P", "2"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.ClientArgs(addr), " "), "-c 198.18.0.2 -p 5300 -n 1048576 -J -R -C reno -P 2"; got != want {
		t.Errorf("client %q, want %q", got, want)
	}
	if got, want := strings.Join(c.ServerArgs(addr), " "), "-s -1 -B 198.18.0.2 -p 5300"; got != want {
		t.Errorf("server %q, want %q", got, want)
	}
	for _, tc := range []struct {
		c    Iperf3
		want string
	}{
		{Iperf3{}, "accepted whole seconds from 1s to 10m0s"},
		{Iperf3{Duration: 1500 * time.Millisecond}, "accepted whole seconds"},
		{Iperf3{Duration: 11 * time.Minute}, "accepted whole seconds"},
		{Iperf3{Duration: time.Second, Port: 65536}, "accepted 1..65535, or 0 for 5201"},
		{Iperf3{Duration: time.Second, Bytes: -1}, "accepted > 0 (-n, instead of -t)"},
		{Iperf3{Duration: time.Second, CC: "bad name"}, "at most 15 printable characters"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.c, err, tc.want)
		}
	}
	if _, err := RunIperf3(context.Background(), Iperf3{}, "", "", addr); err == nil {
		t.Error("RunIperf3 does not validate")
	}
}

func TestProcNetAddr(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected values are for little-endian machines")
	}
	// As the kernel prints them on a little-endian machine.
	if got := procNetAddr(netip.MustParseAddr("198.18.0.2")); got != "020012C6" {
		t.Errorf("198.18.0.2: %s", got)
	}
	if got := procNetAddr(netip.MustParseAddr("::1")); got != "00000000000000000000000001000000" {
		t.Errorf("::1: %s", got)
	}
}

// RunIperf3 on a veth pair (no emulator), both directions.
func TestRunIperf3(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs (run go test as root)")
	}
	if _, err := Find("iperf3"); err != nil {
		if errors.Is(err, ErrNotInstalled) {
			t.Skipf("%v", err) // says: apt-get install -y iperf3
		}
		t.Fatal(err)
	}
	tp, err := topo.Build(topo.Config{RunID: "pi3"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tp.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, rev := range []bool{false, true} {
		cfg := Iperf3{Duration: time.Second, Reverse: rev, CC: "cubic"}
		t0 := time.Now()
		r, err := RunIperf3(context.Background(), cfg, tp.Receiver.NSPath(), tp.Sender.NSPath(), tp.Receiver.IP)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reverse=%v: goodput %.2f Gbit/s, sent %.2f Gbit/s, %d retransmits, rtt mean %v min %v max %v, cc %s; took %v",
			rev, r.Goodput/1e9, r.SentBps/1e9, r.Retransmits, r.MeanRTT, r.MinRTT, r.MaxRTT, r.SenderCC, time.Since(t0))
		if r.Goodput <= 0 || r.BytesReceived <= 0 || r.BytesReceived > r.BytesSent || r.SenderCC != "cubic" {
			t.Errorf("reverse=%v: %+v", rev, r)
		}
		if !rev && (r.MeanRTT <= 0 || r.MinRTT <= 0 || r.MaxRTT < r.MinRTT) {
			t.Errorf("RTTs: %+v", r)
		}
	}
	// The address must belong to the server's namespace: iperf3 cannot
	// bind it and ends before listening.
	_, err = RunIperf3(context.Background(), Iperf3{Duration: time.Second}, tp.Receiver.NSPath(), tp.Sender.NSPath(), tp.Sender.IP)
	if err == nil || !strings.Contains(err.Error(), "ended before listening") {
		t.Fatalf("address of the other namespace: %v", err)
	}
	t.Log(err)
}
