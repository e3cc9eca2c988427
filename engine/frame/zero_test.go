package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// zcase is one frame for ZeroPayload and what Parse must find in it.
type zcase struct {
	name  string
	link  uint16
	frame []byte
	err   error // nil: ZeroPayload must succeed
	l3    int
	ipv   int
	proto uint8
	frag  bool
}

// zeroCases builds the table shared by the ZeroPayload, cut, fuzz-seed and
// Rewrite tests.
func zeroCases(t testing.TB) []zcase {
	ipOpts := ip4(layers.IPProtocolUDP)
	ipOpts.Options = []layers.IPv4Option{
		{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}},        // router alert
		{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, // record route
	}
	hbh := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{
		{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}}, // router alert
		{OptionType: 1, OptionLength: 0},                           // PadN
	}}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	v6hd := ip6(layers.IPProtocolIPv6HopByHop)
	v6hd.HopByHop = hbh
	dst := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{
		{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}, // PadN
	}}
	dst.NextHeader = layers.IPProtocolTCP
	q1 := &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q}
	q2 := &layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}
	mpls1 := &layers.MPLS{Label: 100, TTL: 64}
	mpls2 := &layers.MPLS{Label: 200, TTL: 64, StackBottom: true}
	frag1 := ip4(layers.IPProtocolUDP)
	frag1.FragOffset = 185 // non-first: 1480 bytes in, last fragment
	fragM := ip4(layers.IPProtocolTCP)
	fragM.FragOffset, fragM.Flags = 370, layers.IPv4MoreFragments // middle
	first := ip4(layers.IPProtocolUDP)
	first.Flags = layers.IPv4MoreFragments
	bigUDP := ser(t, ip4(layers.IPProtocolUDP), udp(), pay(3000))[20:]
	tiny := ip4(layers.IPProtocolTCP)
	tiny.Flags = layers.IPv4MoreFragments
	ones4 := ip4(layers.IPProtocolUDP)
	ones4.SrcIP, ones4.DstIP = net.IPv4bcast, net.IPv4bcast
	ones6 := ip6(layers.IPProtocolTCP)
	ones6.SrcIP = net.ParseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")
	ones6.DstIP = net.ParseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	udp0 := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(77))
	udp0[14+20+6], udp0[14+20+7] = 0, 0
	big := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(1400))
	padded := cat(ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(4)), bytes.Repeat([]byte{0xee}, 14))
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: mac1, SourceProtAddress: v4a, DstHwAddress: make([]byte, 6), DstProtAddress: v4b}
	icmpErr := ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)},
		gopacket.Payload(ser(t, ip4(layers.IPProtocolUDP), udp(), pay(8))))

	ah := []byte{0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 5, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa} // 24 bytes
	ah6, ah4 := slices.Clone(ah), slices.Clone(ah)
	ah6[0], ah4[0] = 17, 6

	return []zcase{
		// IPv4 UDP over Ethernet.
		{"ipv4-udp", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(100)), nil, 14, 4, 17, false},
		// IPv4 TCP with 20 bytes of options (MSS, SACK-permitted, timestamps, NOP, window scale).
		{"ipv4-tcp-options", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(300)), nil, 14, 4, 6, false},
		// IPv6 UDP.
		{"ipv6-udp", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), pay(123)), nil, 14, 6, 17, false},
		// IPv6 TCP behind a hop-by-hop and a destination-options header.
		{"ipv6-hbh-dstopts-tcp", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), v6hd, dst, tcpOpts(), pay(200)), nil, 14, 6, 6, false},
		// IPv6 non-first fragment (offset 1448, last): no L4 header.
		{"ipv6-fragment", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat([]byte{17, 0, 0x05, 0xa8, 0, 0, 0, 42}, pay(200)))), nil, 14, 6, 17, true},
		// IPv6 atomic fragment (offset 0, no more fragments, RFC 6946): not a fragment, UDP is whole.
		{"ipv6-atomic-fragment", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat([]byte{17, 0, 0, 0, 0, 0, 0, 43}, ser(t, ip6(layers.IPProtocolUDP), udp(), pay(60))[40:]))), nil, 14, 6, 17, false},
		// IPv6 UDP behind an authentication header (AH).
		{"ipv6-ah-udp", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolAH),
			gopacket.Payload(cat(ah6, ser(t, ip6(layers.IPProtocolUDP), udp(), pay(70))[40:]))), nil, 14, 6, 17, false},
		// IPv4 TCP behind an authentication header (AH).
		{"ipv4-ah-tcp", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolAH),
			gopacket.Payload(cat(ah4, ser(t, ip4(layers.IPProtocolTCP), tcpOpts(), pay(70))[20:]))), nil, 14, 4, 6, false},
		// Addresses of all ones: the pseudo-header sum carries out of 64 bits.
		{"ipv4-all-ones", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ones4, udp(), pay(300)), nil, 14, 4, 17, false},
		// The same over IPv6, TCP.
		{"ipv6-all-ones", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ones6, tcp(), pay(300)), nil, 14, 6, 6, false},
		// ICMPv4 echo request.
		{"icmpv4-echo", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 9, Seq: 3}, pay(56)), nil, 14, 4, 1, false},
		// ICMPv4 port unreachable quoting an IPv4/UDP header: the quote is payload.
		{"icmpv4-unreachable", LinkEthernet, icmpErr, nil, 14, 4, 1, false},
		// ICMPv6 echo request (pseudo-header checksum).
		{"icmpv6-echo", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 3}, pay(56)), nil, 14, 6, 58, false},
		// One 802.1Q tag.
		{"vlan", LinkEthernet, ser(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
			ip4(layers.IPProtocolUDP), udp(), pay(64)), nil, 18, 4, 17, false},
		// QinQ: an 802.1ad outer tag and an 802.1Q inner tag.
		{"qinq", LinkEthernet, ser(t, eth(layers.EthernetTypeQinQ), q1, q2, ip4(layers.IPProtocolTCP), tcp(), pay(64)), nil, 22, 4, 6, false},
		// Two MPLS labels, then IPv4 by its version nibble.
		{"mpls", LinkEthernet, ser(t, eth(layers.EthernetTypeMPLSUnicast), mpls1, mpls2, ip4(layers.IPProtocolUDP), udp(), pay(64)), nil, 22, 4, 17, false},
		// PPPoE session carrying IPv4.
		{"pppoe", LinkEthernet, ser(t, eth(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, SessionId: 7},
			&layers.PPP{PPPType: layers.PPPTypeIPv4}, ip4(layers.IPProtocolUDP), udp(), pay(64)), nil, 22, 4, 17, false},
		// Linux cooked capture (SLL), IPv4 TCP.
		{"sll", LinkLinuxSLL, cat(sll(0x0800), ser(t, ip4(layers.IPProtocolTCP), tcpOpts(), pay(99))), nil, 16, 4, 6, false},
		// Linux cooked capture v2 (SLL2), IPv6 UDP.
		{"sll2", LinkLinuxSLL2, cat(sll2(0x86dd), ser(t, ip6(layers.IPProtocolUDP), udp(), pay(99))), nil, 20, 6, 17, false},
		// BSD NULL, family 2 in little-endian host order, IPv4 UDP.
		{"null-le", LinkNull, cat([]byte{2, 0, 0, 0}, ser(t, ip4(layers.IPProtocolUDP), udp(), pay(50))), nil, 4, 4, 17, false},
		// BSD NULL, family 30 (Darwin AF_INET6) in big-endian host order, IPv6 TCP.
		{"null-be", LinkNull, cat([]byte{0, 0, 0, 30}, ser(t, ip6(layers.IPProtocolTCP), tcp(), pay(50))), nil, 4, 6, 6, false},
		// OpenBSD LOOP, family 24 in network order, IPv6 UDP.
		{"loop", LinkLoop, cat([]byte{0, 0, 0, 24}, ser(t, ip6(layers.IPProtocolUDP), udp(), pay(50))), nil, 4, 6, 17, false},
		// Raw IPv4 (LINKTYPE_RAW, version by nibble).
		{"raw-ipv4", LinkRaw, ser(t, ip4(layers.IPProtocolUDP), udp(), pay(40)), nil, 0, 4, 17, false},
		// LINKTYPE_IPV6.
		{"linktype-ipv6", LinkIPv6, ser(t, ip6(layers.IPProtocolTCP), tcpOpts(), pay(40)), nil, 0, 6, 6, false},
		// IPv4 with options (router alert, record route): IHL 8.
		{"ipv4-options", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), ipOpts, udp(), pay(90)), nil, 14, 4, 17, false},
		// A 1474-byte TCP packet captured with snaplen 200: the checksum is computed as if the rest were zeros.
		{"snaplen-tcp", LinkEthernet, slices.Clone(big[:200]), nil, 14, 4, 6, false},
		// The same cut inside the TCP options: the L4 header itself is truncated.
		{"snaplen-in-tcp-header", LinkEthernet, slices.Clone(big[:14+20+30]), ErrTruncated, 14, 4, 6, false},
		// UDP over IPv4 with checksum 0 ("no checksum") keeps 0.
		{"udp-no-checksum", LinkEthernet, udp0, nil, 14, 4, 17, false},
		// IPv4 non-first fragment: everything after the IP header is zeroed.
		{"ipv4-fragment", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), frag1, pay(300)), nil, 14, 4, 17, true},
		// IPv4 first fragment of a 3008-byte UDP datagram: zeroed after the UDP header.
		{"ipv4-first-fragment", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), first, gopacket.Payload(bigUDP[:1480])), nil, 14, 4, 17, true},
		// IPv4 first fragment holding 16 bytes of a TCP header: no L4 header, all zeroed.
		{"ipv4-tiny-first-fragment", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), tiny, gopacket.Payload(ser(t, ip4(layers.IPProtocolTCP), tcp())[20:36])), nil, 14, 4, 6, true},
		// IPv4 middle fragment of a TCP segment.
		{"ipv4-fragment-middle", LinkEthernet, ser(t, eth(layers.EthernetTypeIPv4), fragM, pay(1480)), nil, 14, 4, 6, true},
		// A 60-byte Ethernet frame whose trailer padding must stay as it is.
		{"ethernet-trailer", LinkEthernet, padded, nil, 14, 4, 17, false},
		// ARP is not IP.
		{"arp", LinkEthernet, ser(t, eth(layers.EthernetTypeARP), arp), ErrNotIP, 0, 0, 0, false},
		// A link type the package does not know (LINKTYPE_USER0).
		{"unknown-link", 147, ser(t, ip4(layers.IPProtocolUDP), udp(), pay(8)), ErrUnknownLink, 0, 0, 0, false},
		// Raw link whose first nibble is neither 4 nor 6.
		{"raw-not-ip", LinkRaw, []byte{0x50, 1, 2, 3}, ErrNotIP, 0, 0, 0, false},
		// EtherType IPv4 carrying a version-6 header.
		{"version-mismatch", LinkEthernet, cat(ser(t, eth(layers.EthernetTypeIPv4)), ser(t, ip6(layers.IPProtocolUDP), udp(), pay(8))), ErrMalformed, 0, 0, 0, false},
	}
}

// TestZeroPayload zeroes every table frame and checks: payload zero,
// length, headers and trailer unchanged but for checksums, checksums as
// gopacket recomputes them and as VerifyChecksums finds them.
func TestZeroPayload(t *testing.T) {
	for _, c := range zeroCases(t) {
		t.Run(c.name, func(t *testing.T) {
			orig := slices.Clone(c.frame)
			f := slices.Clone(c.frame)
			lay, err := ZeroPayload(c.link, f)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				if !bytes.Equal(f, orig) {
					t.Fatal("frame changed on error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ZeroPayload: %v", err)
			}
			if len(f) != len(orig) {
				t.Fatalf("length %d, want %d", len(f), len(orig))
			}
			if lay.L3 != c.l3 || lay.IPVersion != c.ipv || lay.Proto != c.proto || lay.Fragment != c.frag {
				t.Fatalf("layout %+v, want L3 %d IPv%d proto %d fragment %v", lay, c.l3, c.ipv, c.proto, c.frag)
			}
			end := min(lay.End, len(f))
			if i := slices.IndexFunc(f[lay.Payload:end], func(b byte) bool { return b != 0 }); i >= 0 {
				t.Fatalf("payload byte %d not zero", lay.Payload+i)
			}
			if !bytes.Equal(f[end:], orig[end:]) {
				t.Fatal("trailer changed")
			}
			checkOnlyChecksumsChanged(t, orig[:lay.Payload], f[:lay.Payload], &lay)
			if err := VerifyChecksums(c.link, f); err != nil {
				t.Fatalf("VerifyChecksums: %v", err)
			}
			full := f
			if lay.End > len(f) { // snaplen: gopacket checks the whole packet
				full = append(slices.Clone(f), make([]byte, lay.End-len(f))...)
			}
			checked := gopacketCheck(t, c.link, full)
			// gopacket stops at any IPv6 fragment header, even an atomic one.
			if !c.frag && lay.L4 >= 0 && l4HeaderLen(&lay) > 0 && len(checked) == 0 && c.name != "ipv6-atomic-fragment" {
				t.Fatalf("gopacket checked nothing")
			}
			t.Logf("layout %+v, gopacket checked %v", lay, checked)
			again := slices.Clone(f)
			if _, err := ZeroPayload(c.link, again); err != nil || !bytes.Equal(again, f) {
				t.Fatalf("not idempotent: %v", err)
			}
		})
	}
}

// checkOnlyChecksumsChanged compares the headers before and after: only
// the IPv4 header checksum and the L4 checksum may differ.
func checkOnlyChecksumsChanged(t *testing.T, before, after []byte, lay *Layout) {
	t.Helper()
	skip := map[int]bool{}
	if lay.IPVersion == 4 {
		skip[lay.L3+10], skip[lay.L3+11] = true, true
	}
	if field, _, _, ok := l4Checksum(after, lay); ok {
		skip[field], skip[field+1] = true, true
	}
	for i := range before {
		if before[i] != after[i] && !skip[i] {
			t.Fatalf("header byte %d changed: %#x -> %#x", i, before[i], after[i])
		}
	}
}

// TestZeroPayloadCuts cuts every table frame at every length: no panic;
// a cut before the payload is ErrTruncated with the frame unchanged; any
// success verifies and keeps the length.
func TestZeroPayloadCuts(t *testing.T) {
	for _, c := range zeroCases(t) {
		full, err := Parse(c.link, c.frame)
		for cut := 0; cut <= len(c.frame); cut++ {
			orig := slices.Clone(c.frame[:cut])
			f := slices.Clone(orig)
			lay, zerr := ZeroPayload(c.link, f)
			if zerr != nil {
				if !bytes.Equal(f, orig) {
					t.Fatalf("%s cut %d: frame changed on error %v", c.name, cut, zerr)
				}
				if err == nil && cut >= full.Payload {
					t.Fatalf("%s cut %d: %v after the headers (payload at %d)", c.name, cut, zerr, full.Payload)
				}
				if err == nil && zerr != ErrTruncated {
					t.Fatalf("%s cut %d: %v, want ErrTruncated", c.name, cut, zerr)
				}
				continue
			}
			if err == nil && cut < full.Payload {
				t.Fatalf("%s cut %d: success before the payload (at %d)", c.name, cut, full.Payload)
			}
			if len(f) != cut {
				t.Fatalf("%s cut %d: length %d", c.name, cut, len(f))
			}
			if verr := VerifyChecksums(c.link, f); verr != nil {
				t.Fatalf("%s cut %d: %v (layout %+v)", c.name, cut, verr, lay)
			}
		}
	}
}

// TestZeroPayloadSnaplen: zeroing a capture cut by its snaplen gives the
// first bytes of the zeroed whole packet, for TCP, UDP and ICMP over IPv4
// and IPv6 and at cuts of odd and even lengths.
func TestZeroPayloadSnaplen(t *testing.T) {
	frames := [][]byte{
		ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(1400)),
		ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), pay(1001)),
		ser(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}, &layers.ICMPv6Echo{Identifier: 1}, pay(999)),
		ser(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)}, pay(777)),
	}
	for i, full := range frames {
		whole := slices.Clone(full)
		lay, err := ZeroPayload(LinkEthernet, whole)
		must(t, err)
		for _, snap := range []int{lay.Payload, lay.Payload + 1, 97, 128, 333, len(full) - 1} {
			if snap < lay.Payload {
				continue
			}
			f := slices.Clone(full[:snap])
			if _, err := ZeroPayload(LinkEthernet, f); err != nil {
				t.Fatalf("frame %d snap %d: %v", i, snap, err)
			}
			if !bytes.Equal(f, whole[:snap]) {
				t.Fatalf("frame %d snap %d: differs from the zeroed whole packet", i, snap)
			}
		}
	}
}

// TestFirstFragmentUDP: zeroing every fragment of a fragmented UDP
// datagram, then reassembling it, gives a datagram whose UDP checksum
// gopacket accepts (the first fragment's checksum is computed for it).
func TestFirstFragmentUDP(t *testing.T) {
	for _, v := range []int{4, 6} {
		var whole []byte
		if v == 4 {
			whole = ser(t, ip4(layers.IPProtocolUDP), udp(), pay(3000))[20:]
		} else {
			whole = ser(t, ip6(layers.IPProtocolUDP), udp(), pay(3000))[40:]
		}
		var rebuilt []byte
		for off := 0; off < len(whole); off += 1480 {
			part := whole[off:min(off+1480, len(whole))]
			more := off+1480 < len(whole)
			var f []byte
			if v == 4 {
				h := ip4(layers.IPProtocolUDP)
				h.FragOffset = uint16(off / 8)
				if more {
					h.Flags = layers.IPv4MoreFragments
				}
				f = ser(t, h, gopacket.Payload(part))
			} else {
				fo := uint16(off/8) << 3
				if more {
					fo |= 1
				}
				fh := binary.BigEndian.AppendUint16([]byte{17, 0}, fo)
				f = ser(t, ip6(layers.IPProtocolIPv6Fragment), gopacket.Payload(cat(fh, []byte{0, 0, 0, 9}, part)))
			}
			lay, err := ZeroPayload(LinkRaw, f)
			must(t, err)
			if !lay.Fragment || (off == 0) != (lay.L4 >= 0) {
				t.Fatalf("IPv%d fragment at %d: layout %+v", v, off, lay)
			}
			must(t, VerifyChecksums(LinkRaw, f))
			start := lay.Payload // the fragment's share of the datagram
			if lay.L4 >= 0 {
				start = lay.L4
			}
			rebuilt = append(rebuilt, f[start:]...)
		}
		var l3 []byte
		if v == 4 {
			l3 = ser(t, ip4(layers.IPProtocolUDP), gopacket.Payload(rebuilt))
		} else {
			l3 = ser(t, ip6(layers.IPProtocolUDP), gopacket.Payload(rebuilt))
		}
		must(t, VerifyChecksums(LinkRaw, l3))
		if got := gopacketCheck(t, LinkRaw, l3); !slices.Contains(got, "UDP") {
			t.Fatalf("IPv%d: gopacket checked %v", v, got)
		}
	}
}
