package tx

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newXDP opens an XDP sink on a (on the namespace thread).
func (v *veth) newXDP(tb testing.TB, cfg XDPConfig) *XDP {
	tb.Helper()
	cfg.Ifindex = v.ifA
	var x *XDP
	if err := v.a.do(func() (err error) { x, err = NewXDP(cfg); return err }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = x.Close() })
	return x
}

// Frames sent through the XDP sink arrive in order, each once, whatever
// the batch and however often the ring wraps (a ring of 64 slots holds
// fewer frames than are sent, so Send waits for chunks to complete), and
// the stats count them.
func TestXDPDelivery(t *testing.T) {
	const n = 5000
	v := newVeth(t)
	for _, c := range []struct {
		name string
		cfg  XDPConfig
	}{
		{"default", XDPConfig{}},
		{"batch-1", XDPConfig{Batch: 1, Frames: 64}},
		{"batch-7/small-ring", XDPConfig{Batch: 7, Frames: 64}},
		{"batch-64/ring-64", XDPConfig{Batch: 64, Frames: 64}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			x := v.newXDP(t, c.cfg)
			for i := range n {
				if err := x.Send(numbered(uint32(i)), 0); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if st := x.Stats(); st.Packets != n || st.Bytes != 60*n || st.Errors != 0 {
				t.Errorf("stats %+v: want %d packets, %d bytes, no errors", st, n, 60*n)
			}
			if err := checkSeq(rx.wait(), seq(n)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Frames of every length arrive byte for byte; a chunk's earlier, longer
// frame does not leak into a shorter one.
func TestXDPFrames(t *testing.T) {
	v := newVeth(t)
	fd := v.rawSocket(t)
	x := v.newXDP(t, XDPConfig{Batch: 3, Frames: 4})
	sent := sendPatterned(t, x, []int{1514, 60, 61, 200, 1514, 14, 1000, 60, 1514, 18})
	expectFrames(t, fd, sent)
}

// Send neither allocates nor loses count; what it refuses is counted.
func TestXDPSendChecks(t *testing.T) {
	v := newVeth(t)
	x := v.newXDP(t, XDPConfig{Batch: 16, MaxFrame: 100})
	frame := numbered(1)
	if a := testing.AllocsPerRun(2000, func() { _ = x.Send(frame, 0) }); a != 0 {
		t.Errorf("%v allocations per Send", a)
	}
	for _, c := range []struct {
		frame []byte
		want  string
	}{
		{make([]byte, 13), "shorter than an Ethernet header"},
		{make([]byte, 101), "longer than 100"},
	} {
		if err := x.Send(c.frame, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Send of %d bytes: %v, want %q", len(c.frame), err, c.want)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if st := x.Stats(); st.Errors != 2 || st.Packets != 2001 {
		t.Errorf("stats %+v: want 2 errors, 2001 packets", st)
	}
	if err := x.Send(frame, 0); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Send after Close: %v", err)
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A kernel that stops taking frames is waited for within RetryLimit, then
// the queued frames are counted as errors and later Sends fail.
func TestXDPWedged(t *testing.T) {
	v := newVeth(t)
	x := v.newXDP(t, XDPConfig{Batch: 4, RetryLimit: 2 * time.Millisecond})
	x.inj = injector{errno: unix.ENOBUFS, n: 1 << 30} // every kick refused before the kernel
	for i := range 3 {
		if err := x.Send(numbered(uint32(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	err := x.Send(numbered(3), 0)
	if err == nil || !strings.Contains(err.Error(), "took no frame") {
		t.Fatalf("fourth Send: %v", err)
	}
	if err := x.Send(numbered(4), 0); err == nil || !strings.Contains(err.Error(), "took no frame") {
		t.Fatalf("Send after the kernel stopped: %v", err)
	}
	if st := x.Stats(); st.Errors != 5 || st.Retries == 0 || st.Packets != 0 {
		t.Fatalf("stats %+v: want 5 errors, some retries, no packets", st)
	}
}

func TestXDPConfig(t *testing.T) {
	v := newVeth(t)
	for _, c := range []struct {
		cfg  XDPConfig
		want string
	}{
		{XDPConfig{Frames: 100}, "power of two"},
		{XDPConfig{Batch: 64, Frames: 32}, "power of two from Batch"},
		{XDPConfig{Batch: MaxBatch + 1}, "Batch 4097 out of range"},
		{XDPConfig{MaxFrame: 4000}, "MaxFrame 4000 out of range"},
		{XDPConfig{Queue: 5}, "no queue 5"},
		{XDPConfig{Queue: -1}, "Queue -1"},
	} {
		cfg := c.cfg
		cfg.Ifindex = v.ifA
		err := v.a.do(func() error {
			x, err := NewXDP(cfg)
			if err == nil {
				x.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
