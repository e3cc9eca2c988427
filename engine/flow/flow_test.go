package flow

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/topo"
)

// needRoot skips tests that create namespaces.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs (run go test as root)")
	}
}

// build builds a topology without emulator (sender <-> receiver, one veth
// pair) and closes it when the test ends.
func build(t testing.TB, runID string) *topo.Topology {
	t.Helper()
	needRoot(t)
	tp, err := topo.Build(topo.Config{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Error(err)
		}
	})
	return tp
}

// settle polls, with a bound, until the number of goroutines is back to
// at most base.
func settle(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines 30s after the run, %d before:\n%s", n, base, buf)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func bulkConfig(tp *topo.Topology, d time.Duration) BulkConfig {
	return BulkConfig{Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP, Duration: d}
}

func TestBulk(t *testing.T) {
	tp := build(t, "fb0")
	base := runtime.NumGoroutine()
	c := bulkConfig(tp, time.Second)
	c.Warmup = 200 * time.Millisecond
	c.Port = 5201
	t0 := time.Now()
	r, err := Bulk(context.Background(), c)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("veth, %s: %d bytes in %v: goodput %.2f Gbit/s, steady %.2f Gbit/s; srtt %v, min rtt %v, %d retransmits, %d samples; call took %v",
		r.CC, r.Bytes, r.Elapsed, r.Goodput/1e9, r.SteadyGoodput/1e9, r.SRTT, r.MinRTT, r.Retransmits, len(r.Samples), took)
	if r.Bytes <= 0 || r.Bytes != r.Sent {
		t.Errorf("received %d bytes, sent %d", r.Bytes, r.Sent)
	}
	// The run lasts its duration (less the warm-up) at least; a busy
	// machine may stretch it, so no upper bound but the call's own span.
	if r.Elapsed < 800*time.Millisecond || took < r.Elapsed {
		t.Errorf("elapsed %v, call took %v, for a duration of 1s", r.Elapsed, took)
	}
	if want := float64(r.Bytes) * 8 / r.Elapsed.Seconds(); r.Goodput <= 0 || r.Goodput != want {
		t.Errorf("goodput %v, want %v", r.Goodput, want)
	}
	if r.SteadyGoodput <= 0 {
		t.Errorf("steady goodput %v", r.SteadyGoodput)
	}
	// One sample per 10 ms at most (fewer when the sampler waits for a
	// CPU).
	if len(r.Samples) == 0 || len(r.Samples) > int(took/(10*time.Millisecond))+1 {
		t.Errorf("%d samples in %v at 10ms", len(r.Samples), took)
	}
	if r.SRTT <= 0 || r.MinRTT <= 0 || r.MinRTT > r.SRTT+time.Millisecond {
		t.Errorf("srtt %v, min rtt %v", r.SRTT, r.MinRTT)
	}
	var prev time.Duration
	for i, s := range r.Samples {
		if s.At < prev || s.RTT <= 0 || s.Cwnd == 0 {
			t.Fatalf("sample %d: %+v (previous at %v)", i, s, prev)
		}
		prev = s.At
	}
	if last := r.Samples[len(r.Samples)-1]; last.Retrans != r.Retransmits {
		t.Errorf("last sample %+v, retransmits %d", last, r.Retransmits)
	}
	settle(t, base)
}

func TestBulkBytes(t *testing.T) {
	tp := build(t, "fb1")
	c := bulkConfig(tp, time.Minute)
	c.Bytes = 10<<20 + 1
	c.CC = "reno"
	c.SndBuf, c.RcvBuf = 1<<20, 1<<20
	r, err := Bulk(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte arrived: the byte count, not the 5 s bound, ended it.
	if r.Bytes != c.Bytes || r.Sent != c.Bytes || r.CC != "reno" {
		t.Fatalf("%d bytes received, %d sent, cc %q; want %d, reno", r.Bytes, r.Sent, r.CC, c.Bytes)
	}
}

func TestBulkCCUnknown(t *testing.T) {
	tp := build(t, "fb2")
	c := bulkConfig(tp, time.Second)
	c.CC = "nosuchcc"
	_, err := Bulk(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "available: ") || !strings.Contains(err.Error(), "cubic") {
		t.Fatalf("unknown congestion control: %v", err)
	}
	t.Log(err)
}

func TestBadAddr(t *testing.T) {
	tp := build(t, "fb3")
	c := bulkConfig(tp, time.Second)
	c.Addr = tp.Sender.IP // not in the receiver's namespace
	if _, err := Bulk(context.Background(), c); err == nil || !strings.Contains(err.Error(), "server's namespace") {
		t.Fatalf("address of the other namespace: %v", err)
	}
}

func TestCancel(t *testing.T) {
	tp := build(t, "fb4")
	base := runtime.NumGoroutine()
	for _, name := range []string{"bulk", "rr"} {
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(200*time.Millisecond, cancel)
		t0 := time.Now()
		var err error
		var got time.Duration
		if name == "bulk" {
			var r BulkResult
			r, err = Bulk(ctx, bulkConfig(tp, time.Minute))
			got = r.Elapsed
			if r.Bytes == 0 {
				t.Errorf("bulk: nothing received in 200ms")
			}
		} else {
			var r RRResult
			r, err = RequestResponse(ctx, RRConfig{Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP, Duration: time.Minute, ReqSize: 100, RespSize: 1000})
			got = r.Elapsed
			if r.Count == 0 || r.Count != len(r.Latency) {
				t.Errorf("rr: %d transactions, %d latencies", r.Count, len(r.Latency))
			}
		}
		took := time.Since(t0)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled: %v", name, err)
		}
		// Asked for a minute: returning well before it is the cancel's doing.
		if took > 30*time.Second {
			t.Errorf("%s: returned %v after the start, cancelled at 200ms of a minute", name, took)
		}
		t.Logf("%s: %v (%v elapsed), returned after %v", name, err, got, took)
		settle(t, base)
	}
}

func TestRequestResponse(t *testing.T) {
	tp := build(t, "fr0")
	base := runtime.NumGoroutine()
	r, err := RequestResponse(context.Background(), RRConfig{
		Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP,
		Requests: 200, Duration: time.Minute, ReqSize: 64, RespSize: 4000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 200 || len(r.Latency) != 200 || r.Abandoned {
		t.Fatalf("%d transactions, %d latencies, abandoned %v; want 200", r.Count, len(r.Latency), r.Abandoned)
	}
	var sum, min, max time.Duration
	for i, l := range r.Latency {
		if l <= 0 {
			t.Fatalf("latency %d: %v", i, l)
		}
		sum += l
		if min == 0 || l < min {
			min = l
		}
		max = max2(max, l)
	}
	if r.Elapsed < sum {
		t.Errorf("elapsed %v, latencies sum to %v", r.Elapsed, sum)
	}
	t.Logf("veth: 200 transactions of 64/4000 bytes in %v: latency mean %v, min %v, max %v", r.Elapsed, sum/200, min, max)
	settle(t, base)
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func TestRequestResponseDuration(t *testing.T) {
	tp := build(t, "fr1")
	t0 := time.Now()
	r, err := RequestResponse(context.Background(), RRConfig{
		Client: tp.Sender, Server: tp.Receiver, Addr: tp.Receiver.IP, Duration: 300 * time.Millisecond,
	})
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	// The duration ends it: at least 300 ms, and nothing else would
	// (no request count), so a bounded return shows it did.
	if r.Count == 0 || r.Count != len(r.Latency) || took < 300*time.Millisecond || took > 30*time.Second {
		t.Fatalf("%d transactions (%d latencies) in %v, call took %v", r.Count, len(r.Latency), r.Elapsed, took)
	}
	t.Logf("1-byte transactions for 300ms: %d, %.0f/s", r.Count, float64(r.Count)/r.Elapsed.Seconds())
}

// fakeHost is a Host that runs fn where it is (validation never calls it).
type fakeHost struct{}

func (fakeHost) Do(fn func() error) error { return fn() }

func TestValidate(t *testing.T) {
	h := fakeHost{}
	addr := netip.MustParseAddr("198.18.0.2")
	ok := BulkConfig{Client: h, Server: h, Addr: addr, Duration: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*BulkConfig)
		want string
	}{
		{func(c *BulkConfig) { c.Client = nil }, "no client host"},
		{func(c *BulkConfig) { c.Server = nil }, "no server host"},
		{func(c *BulkConfig) { c.Addr = netip.Addr{} }, "no server address"},
		{func(c *BulkConfig) { c.Addr = netip.MustParseAddr("0.0.0.0") }, "want a unicast address"},
		{func(c *BulkConfig) { c.Port = 70000 }, "accepted 1..65535, or 0"},
		{func(c *BulkConfig) { c.Port = -1 }, "accepted 1..65535, or 0"},
		{func(c *BulkConfig) { c.Duration = 0 }, "a duration > 0 is required"},
		{func(c *BulkConfig) { c.Duration = 11 * time.Minute }, "accepted up to 10m0s"},
		{func(c *BulkConfig) { c.Bytes = -1 }, "or 0 for no byte bound"},
		{func(c *BulkConfig) { c.SampleEvery = time.Microsecond }, "accepted 1ms..1s"},
		{func(c *BulkConfig) { c.SampleEvery = 2 * time.Second }, "accepted 1ms..1s"},
		{func(c *BulkConfig) { c.Warmup = time.Second }, "not including) the duration"},
		{func(c *BulkConfig) { c.Warmup = -1 }, "not including) the duration"},
		{func(c *BulkConfig) { c.SndBuf = -1 }, "or 0 for autotuning"},
		{func(c *BulkConfig) { c.RcvBuf = 2 << 30 }, "or 0 for autotuning"},
		{func(c *BulkConfig) { c.CC = "a very long name indeed" }, "at most 15 characters"},
		{func(c *BulkConfig) { c.CC = "cu bic" }, "printable ASCII"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c, err, tc.want)
		}
		if _, berr := Bulk(context.Background(), c); berr == nil || berr.Error() != err.Error() {
			t.Errorf("Bulk does not validate: %v", berr)
		}
	}

	rok := RRConfig{Client: h, Server: h, Addr: addr, Duration: time.Second}
	if err := rok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*RRConfig)
		want string
	}{
		{func(c *RRConfig) { c.Client = nil }, "no client host"},
		{func(c *RRConfig) { c.Duration = 0 }, "a duration > 0 is required"},
		{func(c *RRConfig) { c.Requests = -1 }, "or 0 for as many as fit"},
		{func(c *RRConfig) { c.ReqSize = -1 }, "request size -1: accepted 1..16777216"},
		{func(c *RRConfig) { c.RespSize = MaxMessage + 1 }, "response size 16777217: accepted 1..16777216"},
	} {
		c := rok
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c, err, tc.want)
		}
		if _, rerr := RequestResponse(context.Background(), c); rerr == nil || rerr.Error() != err.Error() {
			t.Errorf("RequestResponse does not validate: %v", rerr)
		}
	}
}
