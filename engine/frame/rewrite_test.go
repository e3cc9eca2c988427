package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// newAddrs sets all four IP addresses and both MACs.
var newAddrs = Rewrite{
	SrcMAC: [6]byte{0x02, 0xaa, 0, 0, 0, 1}, DstMAC: [6]byte{0x02, 0xbb, 0, 0, 0, 2}, SetSrcMAC: true, SetDstMAC: true,
	SrcIP4: [4]byte{198, 18, 0, 1}, DstIP4: [4]byte{198, 18, 255, 254}, SetSrcIP4: true, SetDstIP4: true,
	SrcIP6: netip.MustParseAddr("fd00::1").As16(), DstIP6: netip.MustParseAddr("fd00:ffff::fffe").As16(), SetSrcIP6: true, SetDstIP6: true,
}

// TestRewriteKeepsChecksums rewrites the IPs (and, on Ethernet, the MACs)
// of every table frame whose checksums are valid: the addresses change,
// VerifyChecksums and gopacket agree with the incrementally updated
// checksums, and nothing else changes.
func TestRewriteKeepsChecksums(t *testing.T) {
	for _, c := range zeroCases(t) {
		if c.err != nil || c.name == "snaplen-tcp" {
			continue // snaplen: see TestRewriteSnaplen
		}
		t.Run(c.name, func(t *testing.T) {
			rw := newAddrs
			if c.link != LinkEthernet {
				rw.SetSrcMAC, rw.SetDstMAC = false, false
			}
			f := slices.Clone(c.frame)
			must(t, rw.Apply(c.link, f))
			lay, err := Parse(c.link, f)
			must(t, err)
			if c.link == LinkEthernet && (!bytes.Equal(f[0:6], rw.DstMAC[:]) || !bytes.Equal(f[6:12], rw.SrcMAC[:])) {
				t.Fatalf("MACs %x %x", f[0:6], f[6:12])
			}
			src, dst := f[lay.L3+12:lay.L3+16], f[lay.L3+16:lay.L3+20]
			wsrc, wdst := rw.SrcIP4[:], rw.DstIP4[:]
			if lay.IPVersion == 6 {
				src, dst, wsrc, wdst = f[lay.L3+8:lay.L3+24], f[lay.L3+24:lay.L3+40], rw.SrcIP6[:], rw.DstIP6[:]
			}
			if !bytes.Equal(src, wsrc) || !bytes.Equal(dst, wdst) {
				t.Fatalf("addresses %x %x", src, dst)
			}
			must(t, VerifyChecksums(c.link, f))
			gopacketCheck(t, c.link, f)
			// Nothing but addresses and checksums changed.
			back := slices.Clone(f)
			if c.link == LinkEthernet {
				copy(back, c.frame[:12])
			}
			if lay.IPVersion == 4 { // checksum, source, destination
				copy(back[lay.L3+10:lay.L3+20], c.frame[lay.L3+10:lay.L3+20])
			} else {
				copy(back[lay.L3+8:lay.L3+40], c.frame[lay.L3+8:lay.L3+40])
			}
			if field, _, _, ok := l4Checksum(back, &lay); ok {
				copy(back[field:field+2], c.frame[field:field+2])
			}
			if !bytes.Equal(back, c.frame) {
				t.Fatal("bytes other than addresses and checksums changed")
			}
			if c.name == "udp-no-checksum" && binary.BigEndian.Uint16(f[lay.L4+6:]) != 0 {
				t.Fatal("UDP checksum 0 did not stay 0")
			}
		})
	}
}

// TestRewriteSnaplen: rewriting a capture cut by its snaplen gives the
// first bytes of the rewritten whole packet (no payload needed).
func TestRewriteSnaplen(t *testing.T) {
	for _, full := range [][]byte{
		ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(1400)),
		ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(1400)),
		ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), pay(1400)),
		ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp(), pay(1400)),
	} {
		whole := slices.Clone(full)
		must(t, newAddrs.Apply(LinkEthernet, whole))
		must(t, VerifyChecksums(LinkEthernet, whole))
		f := slices.Clone(full[:150])
		must(t, newAddrs.Apply(LinkEthernet, f))
		if !bytes.Equal(f, whole[:150]) {
			t.Fatalf("cut rewrite differs from whole rewrite\n got %x\nwant %x", f, whole[:150])
		}
	}
}

// TestRewriteCases covers the choices Rewrite makes by table.
func TestRewriteCases(t *testing.T) {
	v4udp := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(30))
	v6tcp := ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp(), pay(30))
	arp := zeroCases(t)[slices.IndexFunc(zeroCases(t), func(c zcase) bool { return c.name == "arp" })].frame
	sllFrame := cat(sll(0x0800), ser(t, ip4(layers.IPProtocolUDP), udp(), pay(30)))
	v4only := Rewrite{SrcIP4: [4]byte{10, 9, 8, 7}, SetSrcIP4: true}
	dstMAC := Rewrite{DstMAC: [6]byte{2, 0, 0, 0, 0, 9}, SetDstMAC: true}
	both := v4only
	both.DstMAC, both.SetDstMAC = dstMAC.DstMAC, true
	for _, c := range []struct {
		name    string
		rw      Rewrite
		link    uint16
		frame   []byte
		err     error
		changed []int // byte ranges [from, to) that may change
	}{
		// IPv4 addresses leave an IPv6 packet alone.
		{"v4-on-v6", v4only, LinkEthernet, v6tcp, nil, nil},
		// IPv4 source: the address, the IPv4 header checksum and the UDP checksum.
		{"v4-src", v4only, LinkEthernet, v4udp, nil, []int{24, 30, 40, 42}},
		// MAC only: the destination MAC, whatever the payload.
		{"mac-only", dstMAC, LinkEthernet, v4udp, nil, []int{0, 6}},
		// MAC on ARP: rewritten; IP fields have no IP header to apply to.
		{"mac-and-ip-on-arp", both, LinkEthernet, arp, nil, []int{0, 6}},
		// MAC on a Linux SLL frame: ErrNotEthernet, frame unchanged.
		{"mac-on-sll", dstMAC, LinkLinuxSLL, sllFrame, ErrNotEthernet, nil},
		// IP on SLL: fine.
		{"ip-on-sll", v4only, LinkLinuxSLL, sllFrame, nil, []int{16 + 10, 16 + 16, 16 + 26, 16 + 28}},
		// MAC on a frame shorter than an Ethernet header.
		{"mac-short", dstMAC, LinkEthernet, v4udp[:10], ErrTruncated, nil},
		// IP on a frame whose IP header is cut.
		{"ip-cut", v4only, LinkEthernet, v4udp[:30], ErrTruncated, nil},
		// IP on an unknown link type.
		{"ip-unknown-link", v4only, 147, v4udp, ErrUnknownLink, nil},
		// Nothing set: nothing changes, even on an unknown link.
		{"empty", Rewrite{}, 147, v4udp, nil, nil},
	} {
		f := slices.Clone(c.frame)
		err := c.rw.Apply(c.link, f)
		if !errors.Is(err, c.err) {
			t.Fatalf("%s: err %v, want %v", c.name, err, c.err)
		}
		back := slices.Clone(f)
		for i := 0; i < len(c.changed); i += 2 {
			copy(back[c.changed[i]:c.changed[i+1]], c.frame[c.changed[i]:c.changed[i+1]])
		}
		if !bytes.Equal(back, c.frame) {
			t.Fatalf("%s: bytes outside %v changed", c.name, c.changed)
		}
		if c.err == nil && len(c.changed) > 0 && bytes.Equal(f, c.frame) {
			t.Fatalf("%s: nothing changed", c.name)
		}
		if c.err == nil && c.link != 147 && !bytes.Equal(c.frame, arp) {
			must(t, VerifyChecksums(c.link, f))
		}
	}
}

// TestRoutingHeaderPseudoDst: with an IPv6 routing header that has
// segments left, the UDP pseudo-header holds the final destination, both
// for ZeroPayload and for a destination rewrite.
func TestRoutingHeaderPseudoDst(t *testing.T) {
	final, current := v6c, v6b
	// As gopacket computes it for a packet addressed to the final destination.
	toFinal := ip6(layers.IPProtocolUDP)
	toFinal.DstIP = final
	udpBytes := ser(t, toFinal, udp(), pay(64))[40:]
	for _, rh := range []struct {
		name string
		hdr  []byte
	}{
		// Segment routing header (type 4): segment list[0] is the final destination.
		{"srh", cat([]byte{17, 4, 4, 1, 1, 0, 0, 0}, final.To16(), current.To16())},
		// Type 0: the last address is the final destination.
		{"type0", cat([]byte{17, 4, 0, 1, 0, 0, 0, 0}, current.To16(), final.To16())},
		// Type 2 (mobile IPv6): the home address.
		{"type2", cat([]byte{17, 2, 2, 1, 0, 0, 0, 0}, final.To16())},
	} {
		hdr := ip6(layers.IPProtocolIPv6Routing)
		hdr.DstIP = current
		orig := ser(t, eth(layers.EthernetTypeIPv6), hdr, gopacket.Payload(cat(rh.hdr, udpBytes)))
		must(t, VerifyChecksums(LinkEthernet, orig))
		f := slices.Clone(orig)
		lay, err := ZeroPayload(LinkEthernet, f)
		must(t, err)
		zeroed := ser(t, toFinal, udp(), gopacket.Payload(make([]byte, 64)))[40:]
		if !bytes.Equal(f[lay.L4:], zeroed) {
			t.Fatalf("%s: UDP %x, want %x", rh.name, f[lay.L4:lay.Payload], zeroed[:8])
		}
		rw := Rewrite{DstIP6: newAddrs.DstIP6, SetDstIP6: true, SrcIP6: newAddrs.SrcIP6, SetSrcIP6: true}
		must(t, rw.Apply(LinkEthernet, f))
		must(t, VerifyChecksums(LinkEthernet, f))
	}
}

// TestParseRewrite parses good and bad command-line forms; the error
// strings are exact.
func TestParseRewrite(t *testing.T) {
	const keys = "(accepted keys: src-mac, dst-mac, src-ip, dst-ip)"
	for _, c := range []struct {
		in, err, str string
	}{
		// The documented example.
		{"dst-mac=02:00:00:00:00:02,src-ip=198.18.0.1,dst-ip=198.18.0.2", "", "dst-mac=02:00:00:00:00:02,src-ip=198.18.0.1,dst-ip=198.18.0.2"},
		// IPv6, spaces around items, a hyphenated MAC.
		{" src-ip = 2001:db8::1 , dst-ip=2001:db8::2,src-mac=02-00-00-00-00-0A", "", "src-mac=02:00:00:00:00:0a,src-ip=2001:db8::1,dst-ip=2001:db8::2"},
		// One address per family for the same key.
		{"src-ip=198.18.0.1,src-ip=2001:db8::1", "", "src-ip=198.18.0.1,src-ip=2001:db8::1"},
		// An IPv4-mapped IPv6 address is an IPv6 address.
		{"dst-ip=::ffff:198.18.0.2", "", "dst-ip=::ffff:198.18.0.2"},
		// Empty.
		{"", "rewrite: empty; want key=value[,key=value...] " + keys, ""},
		// No '='.
		{"dst-mac", `rewrite: "dst-mac" is not key=value ` + keys, ""},
		// Unknown key.
		{"dest-ip=198.18.0.1", `rewrite: unknown key "dest-ip" ` + keys, ""},
		// Short IPv4.
		{"src-ip=198.18.0", `rewrite: src-ip: "198.18.0" is not an IPv4 or IPv6 address`, ""},
		// Empty value.
		{"dst-ip=", `rewrite: dst-ip: "" is not an IPv4 or IPv6 address`, ""},
		// A zone is not an address to put in a packet.
		{"src-ip=fe80::1%eth0", `rewrite: src-ip: "fe80::1%eth0" is not an IPv4 or IPv6 address`, ""},
		// Five-byte MAC.
		{"dst-mac=02:00:00:00:00", `rewrite: dst-mac: "02:00:00:00:00" is not a MAC address like 02:00:00:00:00:01`, ""},
		// EUI-64 is not an Ethernet MAC.
		{"src-mac=02:00:00:00:00:00:00:01", `rewrite: src-mac: "02:00:00:00:00:00:00:01" is not a MAC address like 02:00:00:00:00:01`, ""},
		// The same IP key and family twice.
		{"src-ip=198.18.0.1,src-ip=198.18.0.3", "rewrite: src-ip given twice for IPv4", ""},
		// The same IPv6 key twice.
		{"dst-ip=2001:db8::1,dst-ip=2001:db8::2", "rewrite: dst-ip given twice for IPv6", ""},
		// The same MAC key twice.
		{"dst-mac=02:00:00:00:00:02,dst-mac=02:00:00:00:00:03", "rewrite: dst-mac given twice", ""},
		// An empty item between two.
		{"src-ip=198.18.0.1,,dst-ip=198.18.0.2", `rewrite: empty item in "src-ip=198.18.0.1,,dst-ip=198.18.0.2"`, ""},
		// A trailing comma.
		{"src-ip=198.18.0.1,", `rewrite: empty item in "src-ip=198.18.0.1,"`, ""},
		// Only blanks.
		{"  ", "rewrite: empty; want key=value[,key=value...] " + keys, ""},
	} {
		rw, err := ParseRewrite(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseRewrite(%q) error\n got %v\nwant %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRewrite(%q): %v", c.in, err)
			continue
		}
		if rw.String() != c.str {
			t.Errorf("ParseRewrite(%q).String() = %q, want %q", c.in, rw.String(), c.str)
		}
		if again, err := ParseRewrite(rw.String()); err != nil || again != rw {
			t.Errorf("round trip of %q: %+v, %v", c.in, again, err)
		}
	}
}
