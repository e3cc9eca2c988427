package frame

import (
	"encoding/binary"
	"errors"
)

// LinkType values (pcap LINKTYPE_*) the package understands. They are
// untyped so that they compare with any integer link-type field.
const (
	// LinkNull is BSD loopback: a 4-byte address family in the capturing
	// host's byte order (2 = IPv4; 24, 28, 30 = IPv6).
	LinkNull = 0
	// LinkEthernet is Ethernet II, with any VLAN tags, MPLS or PPPoE.
	LinkEthernet = 1
	// LinkRaw is a bare IPv4 or IPv6 packet, told apart by its version.
	LinkRaw = 101
	// LinkLoop is OpenBSD loopback: like LinkNull but in network byte
	// order; both orders are accepted.
	LinkLoop = 108
	// LinkLinuxSLL is the 16-byte Linux "cooked" header.
	LinkLinuxSLL = 113
	// LinkIPv4 is a bare IPv4 packet.
	LinkIPv4 = 228
	// LinkIPv6 is a bare IPv6 packet.
	LinkIPv6 = 229
	// LinkLinuxSLL2 is the 20-byte Linux "cooked" v2 header.
	LinkLinuxSLL2 = 276
)

// The errors the per-frame functions return. They are never wrapped there,
// so == works; VerifyChecksums wraps ErrChecksum with details.
var (
	// ErrUnknownLink: the link type is none of the Link* constants.
	ErrUnknownLink = errors.New("frame: unknown link type")
	// ErrNotIP: the frame carries something other than IPv4 or IPv6
	// (ARP, LLC, an MPLS pseudowire, ...).
	ErrNotIP = errors.New("frame: not an IP packet")
	// ErrTruncated: the capture ends inside a header the function needs.
	ErrTruncated = errors.New("frame: capture ends inside a header")
	// ErrMalformed: a header contradicts itself or its IP length (IHL
	// below 5, a total length shorter than the header, a TCP data offset
	// past the packet, a version that does not match the EtherType, ...).
	ErrMalformed = errors.New("frame: malformed header")
)

// IP protocol numbers the package treats specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Layout is where the layers of one frame are: offsets into the frame, -1
// if absent.
type Layout struct {
	// L3 is the start of the IP header.
	L3 int
	// L4 is the start of the upper-layer header (TCP, UDP, ICMP, or any
	// other protocol after the IP header and its extension headers). It is
	// -1 when the frame holds no L4 header: a non-first fragment, or a
	// first fragment too short to hold the whole L4 header (or whose TCP
	// data offset is below 5).
	L4 int
	// Payload is the first byte ZeroPayload clears: after the TCP header
	// with options, the 8-byte UDP or ICMP header, or right after the IP
	// header(s) for other protocols and for fragments without an L4 header.
	Payload int
	// End is L3 plus the IP packet's length as its header says. It is
	// past len(frame) when the capture was cut short (snaplen), and before
	// it when the frame has a trailer (Ethernet padding).
	End int
	// IPVersion is 4 or 6, 0 if there is no IP header.
	IPVersion int
	// Proto is the upper-layer protocol: 6 TCP, 17 UDP, 1 ICMP, 58
	// ICMPv6, ... (after IPv6 extension headers and AH).
	Proto uint8
	// Fragment is true for IP fragments: not the first fragment, or the
	// first one with more fragments to come. Their L4 checksum covers
	// bytes that are not in this frame.
	Fragment bool

	// pseudoDst is where the destination address of the L4 pseudo-header
	// is: the IP destination, or the final destination in an IPv6 routing
	// header with segments left (RFC 8200, section 8.1).
	pseudoDst int
}

func be16(b []byte) int { return int(binary.BigEndian.Uint16(b)) }

// Parse finds the layers. It walks Ethernet with any number of 802.1Q and
// 802.1ad VLAN tags (QinQ), MPLS label stacks (until bottom of stack, then
// IPv4 or IPv6 by the version nibble; pseudowires are ErrNotIP), PPPoE
// sessions, Linux SLL and SLL2, BSD loopback/NULL (address family in either
// byte order) and raw IP; IPv4 with options and AH, IPv6 with extension
// headers (hop-by-hop, routing, destination options, fragment, AH) to reach
// TCP, UDP, ICMP or ICMPv6. It returns ErrUnknownLink, ErrNotIP,
// ErrTruncated or ErrMalformed when it cannot, with the fields found so far.
//
// On success the IP header, its extension headers and the whole L4 header
// (if any) are inside the frame, and L3 <= L4 <= Payload <= End.
func Parse(linkType uint16, frame []byte) (Layout, error) {
	lay := Layout{L3: -1, L4: -1, Payload: -1, End: -1, pseudoDst: -1}
	off, want, err := linkLayer(linkType, frame)
	if err != nil {
		return lay, err
	}
	err = parseIP(frame, off, want, &lay)
	return lay, err
}

// linkLayer returns where the IP header starts and which version the link
// layer announced (0: decide by the version nibble, anything else is not IP).
func linkLayer(linkType uint16, b []byte) (off, want int, err error) {
	switch linkType {
	case LinkEthernet:
		if len(b) < 14 {
			return 0, 0, ErrTruncated
		}
		return etherType(b, 14, be16(b[12:]))
	case LinkLinuxSLL:
		if len(b) < 16 {
			return 0, 0, ErrTruncated
		}
		return etherType(b, 16, be16(b[14:]))
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return 0, 0, ErrTruncated
		}
		return etherType(b, 20, be16(b[0:]))
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			return 0, 0, ErrTruncated
		}
		fam := binary.LittleEndian.Uint32(b)
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			return 4, 4, nil
		case 24, 28, 30:
			return 4, 6, nil
		}
		return 0, 0, ErrNotIP
	case LinkRaw:
		return 0, 0, nil
	case LinkIPv4:
		return 0, 4, nil
	case LinkIPv6:
		return 0, 6, nil
	}
	return 0, 0, ErrUnknownLink
}

// etherType follows an EtherType at b[off:] through VLAN tags, MPLS labels
// and PPPoE to an IP header.
func etherType(b []byte, off, et int) (int, int, error) {
	for {
		switch et {
		case 0x0800:
			return off, 4, nil
		case 0x86dd:
			return off, 6, nil
		case 0x8100, 0x88a8, 0x9100, 0x9200: // 802.1Q, 802.1ad, old QinQ
			if len(b) < off+4 {
				return 0, 0, ErrTruncated
			}
			et = be16(b[off+2:])
			off += 4
		case 0x8847, 0x8848: // MPLS unicast, multicast
			for {
				if len(b) < off+4 {
					return 0, 0, ErrTruncated
				}
				bottom := b[off+2]&1 != 0
				off += 4
				if bottom {
					return off, 0, nil
				}
			}
		case 0x8864: // PPPoE session: 6-byte header, 2-byte PPP protocol
			if len(b) < off+8 {
				return 0, 0, ErrTruncated
			}
			switch be16(b[off+6:]) {
			case 0x0021:
				return off + 8, 4, nil
			case 0x0057:
				return off + 8, 6, nil
			}
			return 0, 0, ErrNotIP
		default:
			return 0, 0, ErrNotIP
		}
	}
}

// parseIP fills lay from the IP header at b[off:].
func parseIP(b []byte, off, want int, lay *Layout) error {
	if len(b) <= off {
		return ErrTruncated
	}
	v := int(b[off] >> 4)
	if want == 0 {
		if v != 4 && v != 6 {
			return ErrNotIP
		}
	} else if v != want {
		return ErrMalformed
	}
	if v == 4 {
		return parseIPv4(b, off, lay)
	}
	return parseIPv6(b, off, lay)
}

func parseIPv4(b []byte, off int, lay *Layout) error {
	if len(b) < off+20 {
		return ErrTruncated
	}
	ihl := int(b[off]&0x0f) * 4
	if ihl < 20 {
		return ErrMalformed
	}
	if len(b) < off+ihl {
		return ErrTruncated
	}
	tl := be16(b[off+2:])
	if tl < ihl {
		return ErrMalformed
	}
	lay.L3, lay.IPVersion, lay.End, lay.pseudoDst = off, 4, off+tl, off+16
	lay.Proto = b[off+9]
	frag := be16(b[off+6:])
	lay.Fragment = frag&0x3fff != 0 // more fragments, or an offset
	p := off + ihl
	if frag&0x1fff != 0 {
		lay.Payload = p
		return nil
	}
	if lay.Proto == 51 {
		var last bool
		var err error
		if p, last, err = extHeaders(b, p, lay); err != nil || last {
			return err
		}
	}
	return upper(b, p, lay)
}

func parseIPv6(b []byte, off int, lay *Layout) error {
	if len(b) < off+40 {
		return ErrTruncated
	}
	lay.L3, lay.IPVersion, lay.End, lay.pseudoDst = off, 6, off+40+be16(b[off+4:]), off+24
	lay.Proto = b[off+6]
	p, last, err := extHeaders(b, off+40, lay)
	if err != nil || last {
		return err
	}
	return upper(b, p, lay)
}

// extHeaders walks IPv6 extension headers and AH starting with lay.Proto at
// b[p:], leaving lay.Proto at the upper-layer protocol and returning where
// it starts. For a non-first fragment it sets lay.Payload and returns
// last = true: there is no L4 header to look for.
func extHeaders(b []byte, p int, lay *Layout) (_ int, last bool, err error) {
	v6 := lay.IPVersion == 6
	for {
		nh := lay.Proto
		switch {
		case nh == 51 || v6 && (nh == 0 || nh == 43 || nh == 60):
			if p+8 > lay.End {
				return 0, false, ErrMalformed
			}
			if p+8 > len(b) {
				return 0, false, ErrTruncated
			}
			n := (int(b[p+1]) + 1) * 8 // hop-by-hop, routing, dest options
			if nh == 51 {
				n = (int(b[p+1]) + 2) * 4 // AH counts 4-byte words, less 2
			}
			if p+n > lay.End {
				return 0, false, ErrMalformed
			}
			if p+n > len(b) {
				return 0, false, ErrTruncated
			}
			if nh == 43 {
				routingDst(b[p:p+n], p, lay)
			}
			lay.Proto = b[p]
			p += n
		case v6 && nh == 44: // fragment
			if p+8 > lay.End {
				return 0, false, ErrMalformed
			}
			if p+8 > len(b) {
				return 0, false, ErrTruncated
			}
			fo := be16(b[p+2:])
			lay.Proto = b[p]
			p += 8
			if fo&0xfff9 != 0 { // offset or M; not an atomic fragment
				lay.Fragment = true
			}
			if fo>>3 != 0 {
				lay.Payload = p
				return p, true, nil
			}
		default:
			return p, false, nil
		}
	}
}

// routingDst points lay.pseudoDst at the final destination of an IPv6
// routing header h (at offset p) that has segments left: the last address
// of type 0, the home address of type 2, segment list[0] of type 4 (SRH).
// Other types keep the IP destination.
func routingDst(h []byte, p int, lay *Layout) {
	if h[3] == 0 { // segments left
		return
	}
	n := int(h[1]) / 2 // 16-byte addresses after the first 8 bytes
	if n == 0 {
		return
	}
	switch h[2] {
	case 0:
		lay.pseudoDst = p + 8 + 16*(n-1)
	case 2, 4:
		lay.pseudoDst = p + 8
	}
}

// upper records the upper-layer header at b[p:].
func upper(b []byte, p int, lay *Layout) error {
	lay.L4, lay.Payload = p, p
	hl := l4HeaderLen(lay)
	if hl == 0 {
		return nil
	}
	if p+hl > lay.End {
		return cutL4(lay)
	}
	if p+hl > len(b) {
		return ErrTruncated
	}
	switch lay.Proto {
	case protoTCP:
		hl = int(b[p+12]>>4) * 4
		if hl < 20 {
			return cutL4(lay) // for a fragment, as if cut: zeroing it keeps it so
		}
		if p+hl > lay.End {
			return cutL4(lay)
		}
		if p+hl > len(b) {
			return ErrTruncated
		}
	case protoUDP:
		ul := be16(b[p+4:])
		if ul < 8 || !lay.Fragment && p+ul > lay.End || lay.Fragment && p+ul < lay.End {
			return ErrMalformed
		}
	}
	lay.Payload = p + hl
	return nil
}

// cutL4 handles an L4 header that runs past the IP packet or has a TCP data
// offset below 5: malformed, but in a first fragment (which may split the
// L4 header) the L4 header is taken as absent, as in a non-first fragment,
// and all that follows the IP header is payload. The zeroed fragment then
// parses the same way.
func cutL4(lay *Layout) error {
	if !lay.Fragment {
		return ErrMalformed
	}
	lay.L4 = -1
	return nil
}

// l4HeaderLen is the minimum header length of the protocols whose payload
// is told apart from their header, 0 for the others.
func l4HeaderLen(lay *Layout) int {
	switch {
	case lay.Proto == protoTCP:
		return 20
	case lay.Proto == protoUDP:
		return 8
	case lay.Proto == protoICMP && lay.IPVersion == 4, lay.Proto == protoICMPv6 && lay.IPVersion == 6:
		return 8
	}
	return 0
}
