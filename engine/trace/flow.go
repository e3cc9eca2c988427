package trace

import "encoding/binary"

// FlowPart says which of n parts a frame's flow belongs to, so that n
// senders can split one trace between them and every flow keeps its order
// (all of a flow's packets go through one sender). The key is the XOR of
// the IPv4 or IPv6 addresses and the protocol, folded to 16 bits, plus the
// TCP/UDP/SCTP source and destination ports;
// frames that are not IP go to part 0. Consecutive source ports land in
// consecutive parts, so a synthetic trace with k*n flows splits evenly.
// It does not allocate.
func FlowPart(frame []byte, n int) int {
	if n <= 1 {
		return 0
	}
	return int(flowKey(frame) % uint32(n))
}

func flowKey(f []byte) uint32 {
	if len(f) < 14 {
		return 0
	}
	et := binary.BigEndian.Uint16(f[12:])
	off := 14
	for (et == 0x8100 || et == 0x88a8) && len(f) >= off+4 {
		et = binary.BigEndian.Uint16(f[off+2:])
		off += 4
	}
	var key uint32
	var proto byte
	l4 := 0
	switch et {
	case 0x0800:
		if len(f) < off+20 {
			return 0
		}
		ihl := int(f[off]&0x0f) * 4
		proto = f[off+9]
		key = binary.BigEndian.Uint32(f[off+12:]) ^ binary.BigEndian.Uint32(f[off+16:])
		// Fragments after the first carry no ports.
		if binary.BigEndian.Uint16(f[off+6:])&0x1fff == 0 {
			l4 = off + ihl
		}
	case 0x86dd:
		if len(f) < off+40 {
			return 0
		}
		proto = f[off+6]
		for i := off + 8; i < off+40; i += 4 {
			key ^= binary.BigEndian.Uint32(f[i:])
		}
		l4 = off + 40
	default:
		return 0
	}
	key ^= uint32(proto)
	key ^= key >> 16
	key &= 0xffff
	if l4 > 0 && (proto == 6 || proto == 17 || proto == 132) && len(f) >= l4+4 {
		// Ports are added, not mixed, so consecutive ports fall in
		// consecutive parts.
		key += uint32(binary.BigEndian.Uint16(f[l4:])) + uint32(binary.BigEndian.Uint16(f[l4+2:]))
	}
	return key
}
