package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

// refChecksum is RFC 1071 word by word, the reference for Checksum.
func refChecksum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// TestChecksum compares Checksum with the word-by-word reference at every
// length up to 300 and at every alignment, on random bytes, all-0xff bytes
// (carries everywhere) and with random initial sums.
func TestChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 310)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	ff := bytes.Repeat([]byte{0xff}, 310)
	for n := 0; n <= 300; n++ {
		for _, b := range [][]byte{buf[:n], buf[7 : 7+n], ff[:n], ff[3 : 3+n]} {
			for _, init := range []uint32{0, 0xffff, 0xffffffff, r.Uint32()} {
				if got, want := Checksum(b, init), refChecksum(b, init); got != want {
					t.Fatalf("n=%d init=%#x: %#04x, want %#04x", n, init, got, want)
				}
			}
		}
	}
	// RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
	if got := Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0); got != ^uint16(0xddf2) {
		t.Fatalf("RFC 1071 example: %#04x", got)
	}
}

// TestTruncate covers snap 0, shorter, equal and longer than the frame.
func TestTruncate(t *testing.T) {
	f := make([]byte, 100)
	for _, c := range []struct{ snap, want int }{{0, 100}, {-1, 100}, {64, 64}, {100, 100}, {1500, 100}} {
		if got := len(Truncate(f, c.snap)); got != c.want {
			t.Errorf("Truncate(100 bytes, %d) has %d bytes, want %d", c.snap, got, c.want)
		}
	}
}

// TestTransformer runs a chain over every table frame and checks the
// counts by reason, that refused frames are unchanged, and that sent
// frames verify and are cut at Snap.
func TestTransformer(t *testing.T) {
	rw := Rewrite{SrcIP4: [4]byte{198, 18, 0, 1}, SetSrcIP4: true, SrcIP6: newAddrs.SrcIP6, SetSrcIP6: true}
	tr := Transformer{Zero: true, Rewrite: &rw, Snap: 96}
	var want Stats
	for _, c := range zeroCases(t) {
		f := slices.Clone(c.frame)
		out, ok := tr.Apply(c.link, f)
		lay, err := Parse(c.link, c.frame)
		want.Add(lay, err)
		if ok != (err == nil) {
			t.Fatalf("%s: ok=%v, Parse: %v", c.name, ok, err)
		}
		if !ok {
			if !bytes.Equal(out, c.frame) {
				t.Fatalf("%s: refused frame changed", c.name)
			}
			continue
		}
		if len(out) != min(96, len(c.frame)) {
			t.Fatalf("%s: %d bytes out", c.name, len(out))
		}
		if err := VerifyChecksums(c.link, f); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	if tr.Stats != want {
		t.Fatalf("stats %v, want %v", tr.Stats, want)
	}
	if tr.Stats.Fragments != 5 || tr.Stats.NotIP != 2 || tr.Stats.UnknownLink != 1 || tr.Stats.Truncated != 1 || tr.Stats.Other != 1 {
		t.Fatalf("stats %v", tr.Stats)
	}
	t.Logf("%v", tr.Stats)

	// Rewrite alone sends ARP (MAC rewritten) and refuses MACs on the 9
	// frames that are not Ethernet, plus the malformed and the cut one.
	mac := Rewrite{DstMAC: [6]byte{2, 0, 0, 0, 0, 7}, SetDstMAC: true, SrcIP4: [4]byte{1, 2, 3, 4}, SetSrcIP4: true}
	tr = Transformer{Rewrite: &mac}
	for _, c := range zeroCases(t) {
		tr.Apply(c.link, slices.Clone(c.frame))
	}
	if tr.Stats.Fragments != 0 || tr.Stats.NotIP != 0 || tr.Stats.Other != 10 || tr.Stats.Truncated != 1 {
		t.Fatalf("rewrite-only stats %v", tr.Stats)
	}
	t.Logf("%v", tr.Stats)
}

// TestNoAllocs checks that the per-frame functions do not allocate, on
// success and on each error path.
func TestNoAllocs(t *testing.T) {
	v4 := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(1400))
	v6 := ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), pay(100))
	arp := ser(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x800, HwAddressSize: 6, ProtAddressSize: 4,
		SourceHwAddress: mac1, SourceProtAddress: v4a, DstHwAddress: mac2, DstProtAddress: v4b})
	rw := newAddrs
	tr := Transformer{Zero: true, Rewrite: &rw, Snap: 128}
	for name, fn := range map[string]func(){
		"Parse":            func() { _, _ = Parse(LinkEthernet, v4) },
		"ZeroPayload v4":   func() { _, _ = ZeroPayload(LinkEthernet, v4) },
		"ZeroPayload v6":   func() { _, _ = ZeroPayload(LinkEthernet, v6) },
		"ZeroPayload ARP":  func() { _, _ = ZeroPayload(LinkEthernet, arp) },
		"ZeroPayload link": func() { _, _ = ZeroPayload(147, v4) },
		"ZeroPayload cut":  func() { _, _ = ZeroPayload(LinkEthernet, v4[:40]) },
		"Rewrite v4":       func() { _ = rw.Apply(LinkEthernet, v4) },
		"Rewrite v6":       func() { _ = rw.Apply(LinkEthernet, v6) },
		"Rewrite SLL":      func() { _ = rw.Apply(LinkLinuxSLL, v6) },
		"Transformer":      func() { _, _ = tr.Apply(LinkEthernet, v4) },
		"Transformer ARP":  func() { _, _ = tr.Apply(LinkEthernet, arp) },
		"Truncate":         func() { _ = Truncate(v4, 64) },
		"Checksum":         func() { _ = Checksum(v4, 0) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs per run", name, n)
		}
	}
}

// TestVerifyChecksums: a corrupted checksum is reported with the value
// wanted, which, written back, verifies; UDP over IPv6 may not be 0.
func TestVerifyChecksums(t *testing.T) {
	v4 := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), pay(40))
	v6 := ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), pay(40))
	for _, c := range []struct {
		name  string
		frame []byte
		field int
		msg   string
	}{
		// IPv4 header checksum.
		{"ipv4-header", v4, 24, "IPv4 header checksum"},
		// TCP checksum over IPv4.
		{"tcp", v4, 34 + 16, "TCP checksum"},
		// UDP checksum over IPv6.
		{"udp6", v6, 54 + 6, "UDP checksum"},
	} {
		f := slices.Clone(c.frame)
		f[c.field] ^= 0x40
		err := VerifyChecksums(LinkEthernet, f)
		want := "frame: bad checksum: " + c.msg + " 0x"
		if !errors.Is(err, ErrChecksum) || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("%s: %v, want %q...", c.name, err, want)
		}
		var got, fix uint16
		if _, serr := fmt.Sscanf(strings.TrimPrefix(err.Error(), "frame: bad checksum: "+c.msg), " 0x%x, want 0x%x", &got, &fix); serr != nil {
			t.Fatalf("%s: %v", c.name, serr)
		}
		binary.BigEndian.PutUint16(f[c.field:], fix)
		if err := VerifyChecksums(LinkEthernet, f); err != nil || !bytes.Equal(f, c.frame) {
			t.Fatalf("%s: with the wanted value: %v", c.name, err)
		}
	}
	f := slices.Clone(v6)
	f[60], f[61] = 0, 0
	if err := VerifyChecksums(LinkEthernet, f); err == nil || err.Error() != "frame: bad checksum: UDP checksum 0 over IPv6" {
		t.Fatalf("UDP 0 over IPv6: %v", err)
	}
	if _, err := ZeroPayload(LinkEthernet, f); err != nil || binary.BigEndian.Uint16(f[60:]) == 0 {
		t.Fatalf("ZeroPayload left UDP checksum 0 over IPv6: %v", err)
	}
	for r, s := range []string{"transformed", "unknown-link", "not-ip", "truncated", "other"} {
		if Reason(r).String() != s {
			t.Errorf("Reason(%d) = %q", r, Reason(r).String())
		}
	}
}
