package topo

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPairsNormalize(t *testing.T) {
	tests := []struct {
		cfg       Config
		wantPairs int
		wantErr   string
	}{
		{Config{RunID: "p"}, 1, ""},
		{Config{RunID: "p", Pairs: 1}, 1, ""},
		{Config{RunID: "p", Pairs: MaxPairs}, MaxPairs, ""},
		{Config{RunID: "p", Pairs: -1}, 0, "accepted 1..16"},
		{Config{RunID: "p", Pairs: MaxPairs + 1}, 0, "accepted 1..16"},
		{Config{RunID: "p", Pairs: 2, Emulator: true}, 0, "give 1 pair"},
	}
	for _, tt := range tests {
		got, err := tt.cfg.normalize()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("normalize(%+v) = %v, want error containing %q", tt.cfg, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Pairs != tt.wantPairs {
			t.Errorf("normalize(%+v) = %d pairs, %v; want %d", tt.cfg, got.Pairs, err, tt.wantPairs)
		}
	}
}

// TestSeveralPairs builds a sender and a receiver joined by N veth pairs,
// sends one frame on each sender port, checks it arrives on the matching
// receiver port and on no other, and that Close leaves nothing behind.
func TestSeveralPairs(t *testing.T) {
	needRoot(t)
	const n = 3
	runID := "ports3" // the branch's name, so no other cleanup takes it
	tp, err := Build(Config{RunID: runID, Pairs: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	for _, h := range []*Host{tp.Sender, tp.Receiver} {
		if h.Ports() != n {
			t.Fatalf("%s has %d ports, want %d", h.Role, h.Ports(), n)
		}
	}
	if p := tp.Sender.Port(n); p.Ifname != "" {
		t.Errorf("Port(%d) = %+v, want the zero Port", n, p)
	}
	for k := range n {
		s, r := tp.Sender.Port(k), tp.Receiver.Port(k)
		wantS, wantR := fmt.Sprintf("lr-snd%d", k), fmt.Sprintf("lr-rcv%d", k)
		if s.Ifname != wantS || r.Ifname != wantR || s.Ifindex <= 0 || r.Ifindex <= 0 {
			t.Errorf("port %d: %s (%d) <-> %s (%d), want %s <-> %s with indexes", k, s.Ifname, s.Ifindex, r.Ifname, r.Ifindex, wantS, wantR)
		}
		if got, want := s.IP.String()+" "+r.IP.String(), fmt.Sprintf("198.18.%d.1 198.18.%d.2", k, k); got != want {
			t.Errorf("port %d addresses %s, want %s", k, got, want)
		}
		if s.MAC[4] != byte(k) || r.MAC[4] != byte(k) || s.MAC.String() == r.MAC.String() {
			t.Errorf("port %d MACs %s, %s", k, s.MAC, r.MAC)
		}
	}
	// One receive socket per receiver port, then a frame on each sender
	// port: it must reach its own pair's far end and no other.
	rxs := make([]int, n)
	for k := range n {
		rxs[k] = packetSocket(t, tp.Receiver, tp.Receiver.Port(k).Ifindex)
	}
	for k := range n {
		p := tp.Sender.Port(k)
		fd := packetSocket(t, tp.Sender, p.Ifindex)
		frame := testFrame(byte(k))
		if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Protocol: htons(testEthertype), Ifindex: p.Ifindex}); err != nil {
			t.Fatalf("send on %s: %v", p.Ifname, err)
		}
		got, from := recvFrame(t, rxs[k], 30*time.Second)
		if string(got) != string(frame) || from == nil || from.Ifindex != tp.Receiver.Port(k).Ifindex {
			t.Errorf("port %d: got % x from %+v", k, got, from)
		}
	}
	for k := range n {
		rp := tp.Receiver.Port(k)
		if s := stats(t, tp.Receiver, rp.Ifname); s.RxPackets != 1 {
			t.Errorf("%s received %d frames, want exactly its own 1", rp.Ifname, s.RxPackets)
		}
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, runID)
	// The ip tools agree: no namespace and no link of the run is left.
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil && strings.Contains(string(out), "-"+runID+"-") {
		t.Errorf("ip netns list still shows the run:\n%s", out)
	}
	if out, err := exec.Command("ip", "-o", "link").Output(); err == nil && strings.Contains(string(out), "lr-snd") {
		t.Errorf("ip link shows an lr- link in the root namespace:\n%s", out)
	}
}

// A failure at any step of building several pairs leaves nothing behind.
func TestSeveralPairsFailMidway(t *testing.T) {
	needRoot(t)
	t.Cleanup(func() { failHook = nil })
	cfg := Config{RunID: "portsf", Pairs: 2}
	for _, s := range []string{"veth:lr-snd1-lr-rcv1", "link:lr-rcv1", "ready:lr-snd1", "done"} {
		t.Run(s, func(t *testing.T) {
			failHook = func(cur string) error {
				if cur == s {
					return errInjected
				}
				return nil
			}
			defer func() { failHook = nil }()
			tp, err := Build(cfg)
			if err == nil {
				tp.Close()
				t.Fatalf("Build succeeded despite a failure at %s", s)
			}
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Build error %v, want the injected failure at %s", err, s)
			}
			assertGone(t, cfg.RunID)
		})
	}
}
