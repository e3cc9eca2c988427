package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// ErrChecksum is what VerifyChecksums wraps when a checksum is wrong.
var ErrChecksum = errors.New("frame: bad checksum")

// Checksum returns the Internet checksum (RFC 1071) of b: the one's
// complement sum of b as big-endian 16-bit words (an odd last byte padded
// with a zero byte) plus initial, folded to 16 bits and complemented.
// initial is a partial sum not yet folded nor complemented, such as the sum
// of a pseudo-header's 16-bit words; 0 for none. Over data that holds a
// correct checksum the result is 0.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(sum(b, uint64(initial)))
}

// sum adds b, as big-endian 16-bit words, to the one's complement
// accumulator acc. It adds 8 bytes at a time with end-around carry: since
// 2^16 = 1 modulo 2^16-1, where a word sits in the 64-bit lane does not
// matter once folded.
func sum(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	acc, c2 := bits.Add64(acc, tail, c)
	return acc + c2 // cannot overflow: a carry out leaves acc small
}

// fold folds a 64-bit one's complement accumulator to 16 bits.
func fold(acc uint64) uint16 {
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint16(acc)
}

// pseudoSum is the sum of the L4 pseudo-header (RFC 768, RFC 8200 section
// 8.1) for an upper-layer packet of l4len bytes.
func pseudoSum(b []byte, lay *Layout, l4len int) uint64 {
	var acc uint64
	if lay.IPVersion == 4 {
		acc = sum(b[lay.L3+12:lay.L3+20], 0)
	} else {
		acc = sum(b[lay.L3+8:lay.L3+24], 0)
		acc = sum(b[lay.pseudoDst:lay.pseudoDst+16], acc)
	}
	// Adding the length as one number equals adding its 16-bit halves.
	return add(acc, uint64(lay.Proto)+uint64(l4len))
}

// add is one's complement addition of two accumulators: a carry out of
// bit 63 comes back in at bit 0 (sum can return values near 2^64).
func add(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}

// l4Checksum tells where the L4 checksum field is and what it covers, for
// the protocols whose checksum this package keeps: ok is false for others
// and when the frame holds no L4 header.
func l4Checksum(b []byte, lay *Layout) (field, l4len int, pseudo, ok bool) {
	if lay.L4 < 0 {
		return 0, 0, false, false
	}
	switch lay.Proto {
	case protoTCP:
		return lay.L4 + 16, lay.End - lay.L4, true, true
	case protoUDP:
		return lay.L4 + 6, be16(b[lay.L4+4:]), true, true
	case protoICMP:
		return lay.L4 + 2, lay.End - lay.L4, false, lay.IPVersion == 4
	case protoICMPv6:
		return lay.L4 + 2, lay.End - lay.L4, true, lay.IPVersion == 6
	}
	return 0, 0, false, false
}

// VerifyChecksums recomputes the IPv4 header checksum and the TCP, UDP,
// ICMP or ICMPv6 checksum of the frame and compares them with the frame's.
// It returns nil when they match, ErrChecksum wrapped with the field, the
// value found and the value wanted when one does not, or Parse's error.
//
// UDP over IPv4 with checksum 0 ("no checksum") passes; UDP over IPv6 with
// checksum 0 does not. Fragments are checked at the IPv4 header only: their
// L4 checksum covers bytes in other frames. Bytes missing from a capture cut
// short by its snaplen are taken as zeros, which is what ZeroPayload makes
// them; an untouched cut capture therefore usually fails here.
func VerifyChecksums(linkType uint16, frame []byte) error {
	lay, err := Parse(linkType, frame)
	if err != nil {
		return err
	}
	if lay.IPVersion == 4 {
		hdr := frame[lay.L3 : lay.L3+int(frame[lay.L3]&0x0f)*4]
		if err := verify(hdr, 0, 10, "IPv4 header", false); err != nil {
			return err
		}
	}
	if lay.Fragment {
		return nil
	}
	field, l4len, pseudo, ok := l4Checksum(frame, &lay)
	if !ok {
		return nil
	}
	end := min(lay.L4+l4len, len(frame))
	var initial uint64
	if pseudo {
		initial = pseudoSum(frame, &lay, l4len)
	}
	name := [...]string{protoICMP: "ICMP", protoTCP: "TCP", protoUDP: "UDP", protoICMPv6: "ICMPv6"}[lay.Proto]
	if lay.Proto == protoUDP && binary.BigEndian.Uint16(frame[field:]) == 0 {
		if lay.IPVersion == 4 {
			return nil
		}
		return fmt.Errorf("%w: UDP checksum 0 over IPv6", ErrChecksum)
	}
	return verify(frame[lay.L4:end], initial, field-lay.L4, name, lay.Proto == protoUDP)
}

// verify checks the checksum at b[field:] over b plus initial.
func verify(b []byte, initial uint64, field int, name string, udp bool) error {
	acc := sum(b, initial)
	if fold(acc) == 0xffff {
		return nil
	}
	got := binary.BigEndian.Uint16(b[field:])
	want := ^fold(add(acc, uint64(^got))) // the sum without the field
	if udp && want == 0 {
		want = 0xffff
	}
	return fmt.Errorf("%w: %s checksum 0x%04x, want 0x%04x", ErrChecksum, name, got, want)
}
