package frame

import "encoding/binary"

// ZeroPayload replaces the L4 payload by zeros, keeping all lengths, and
// makes the checksums valid: "replay without the original payload".
//
// The payload is what follows the TCP header with its options, the 8-byte
// UDP header or the 8-byte ICMP/ICMPv6 header; for other IP protocols it is
// everything after the IP header and its extension headers. Zeroing stops
// at the end of the IP packet (Layout.End): a trailer such as Ethernet
// padding is left alone.
//
// Checksums are recomputed from scratch, so a checksum that was wrong in
// the capture (offloaded) comes out right: the IPv4 header checksum, and
// the TCP, UDP (IPv4 and IPv6 pseudo-headers), ICMP and ICMPv6 (with its
// pseudo-header) checksums. A computed UDP checksum of 0 is sent as 0xffff;
// UDP over IPv4 whose checksum was 0 ("no checksum") keeps 0.
//
// A capture cut short by its snaplen holds fewer bytes than its IP length
// says. The missing bytes lie in the payload, which ZeroPayload makes all
// zeros, and zeros add nothing to a one's complement sum: so the L4
// checksum is computed from the IP length as if the missing bytes were
// there and zero. It is the checksum the whole packet would have had, which
// is what a replay that pads the frame back to its original length sends.
// A capture cut inside the L4 header itself is ErrTruncated.
//
// Fragments: a non-first fragment has no L4 header; all that follows the IP
// header(s) is zeroed, the IPv4 header checksum is fixed and there is no L4
// checksum to fix. A first fragment is zeroed after its L4 header; its
// checksum covers the whole datagram, so for UDP (whose header holds the
// datagram length) it is recomputed as it will be once every fragment has
// been zeroed, and for TCP and ICMP it is left as it was. Layout.Fragment
// reports both cases.
//
// ZeroPayload returns the layout, or Parse's error with the frame left
// unchanged. It does not allocate.
func ZeroPayload(linkType uint16, frame []byte) (Layout, error) {
	lay, err := Parse(linkType, frame)
	if err != nil {
		return lay, err
	}
	zeroLayout(frame, &lay)
	return lay, nil
}

// zeroLayout does ZeroPayload's work on a frame Parse accepted.
func zeroLayout(b []byte, lay *Layout) {
	clear(b[lay.Payload:min(lay.End, len(b))])
	if field, l4len, pseudo, ok := l4Checksum(b, lay); ok && !(lay.Fragment && lay.Proto != protoUDP) {
		old := binary.BigEndian.Uint16(b[field:])
		if !(lay.Proto == protoUDP && old == 0 && lay.IPVersion == 4) {
			var acc uint64
			if pseudo {
				acc = pseudoSum(b, lay, l4len)
			}
			b[field], b[field+1] = 0, 0
			// Only the header is left non-zero: the rest adds nothing.
			c := ^fold(sum(b[lay.L4:lay.Payload], acc))
			if c == 0 && lay.Proto == protoUDP {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(b[field:], c)
		}
	}
	if lay.IPVersion == 4 {
		ipv4HeaderChecksum(b, lay.L3)
	}
}

// ipv4HeaderChecksum recomputes the checksum of the IPv4 header at b[l3:].
func ipv4HeaderChecksum(b []byte, l3 int) {
	hdr := b[l3 : l3+int(b[l3]&0x0f)*4]
	hdr[10], hdr[11] = 0, 0
	binary.BigEndian.PutUint16(hdr[10:], Checksum(hdr, 0))
}
