package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrNotEthernet: a Rewrite that sets a MAC address met a frame whose link
// type is not Ethernet.
var ErrNotEthernet = errors.New("frame: MAC rewrite needs an Ethernet frame")

// Rewrite sets addresses: a field whose Set flag is false is left alone.
// MACs apply to Ethernet frames only (ErrNotEthernet for other links if
// set). IPv4 addresses apply to IPv4 packets and IPv6 addresses to IPv6
// packets; a frame of the other family, or one that is not IP (ARP), keeps
// its addresses. Addresses inside payloads (ICMP errors, ARP) are not
// touched.
//
// Changing an IP address updates the IPv4 header checksum and the TCP, UDP
// and ICMPv6 checksums incrementally (RFC 1624, eqn. 3), which needs
// neither the payload nor a valid original: it works on captures cut short
// by their snaplen, and a checksum that was wrong stays exactly as wrong.
// UDP over IPv4 with checksum 0 keeps 0. Non-first fragments have no L4
// checksum to update; first fragments have theirs updated. In an IPv6
// packet with a routing header that has segments left, the L4
// pseudo-header holds the final destination, not the IPv6 destination, so
// a new destination leaves the L4 checksum alone.
type Rewrite struct {
	SrcMAC, DstMAC       [6]byte
	SetSrcMAC, SetDstMAC bool
	SrcIP4, DstIP4       [4]byte
	SetSrcIP4, SetDstIP4 bool
	SrcIP6, DstIP6       [16]byte
	SetSrcIP6, SetDstIP6 bool
}

// Apply rewrites the frame in place. It returns ErrNotEthernet, or, when IP
// addresses are set, Parse's errors other than ErrNotIP; the frame is then
// left unchanged. It does not allocate.
func (rw *Rewrite) Apply(linkType uint16, frame []byte) error {
	if err := rw.check(linkType, frame); err != nil {
		return err
	}
	if !rw.setsIP() {
		rw.applyMAC(frame)
		return nil
	}
	lay, err := Parse(linkType, frame)
	if err != nil && err != ErrNotIP {
		return err
	}
	rw.applyLayout(frame, &lay, err == nil)
	return nil
}

// check returns the error Apply would return before parsing IP.
func (rw *Rewrite) check(linkType uint16, frame []byte) error {
	if rw.SetSrcMAC || rw.SetDstMAC {
		if linkType != LinkEthernet {
			return ErrNotEthernet
		}
		if len(frame) < 14 {
			return ErrTruncated
		}
	}
	return nil
}

func (rw *Rewrite) setsIP() bool {
	return rw.SetSrcIP4 || rw.SetDstIP4 || rw.SetSrcIP6 || rw.SetDstIP6
}

func (rw *Rewrite) applyMAC(b []byte) {
	if rw.SetDstMAC {
		copy(b[0:6], rw.DstMAC[:])
	}
	if rw.SetSrcMAC {
		copy(b[6:12], rw.SrcMAC[:])
	}
}

// applyLayout rewrites a frame that check accepted; ip tells whether lay
// comes from a successful Parse.
func (rw *Rewrite) applyLayout(b []byte, lay *Layout, ip bool) {
	rw.applyMAC(b)
	if !ip {
		return
	}
	l4 := -1 // the L4 checksum to update, if any
	if field, _, pseudo, ok := l4Checksum(b, lay); ok && pseudo {
		if !(lay.Proto == protoUDP && lay.IPVersion == 4 && binary.BigEndian.Uint16(b[field:]) == 0) {
			l4 = field // UDP over IPv4 with checksum 0 has none
		}
	}
	udp := lay.Proto == protoUDP
	if lay.IPVersion == 4 {
		if rw.SetSrcIP4 {
			replace(b, lay.L3+12, rw.SrcIP4[:], lay.L3+10, l4, udp)
		}
		if rw.SetDstIP4 {
			replace(b, lay.L3+16, rw.DstIP4[:], lay.L3+10, l4, udp)
		}
		return
	}
	if rw.SetSrcIP6 {
		replace(b, lay.L3+8, rw.SrcIP6[:], -1, l4, udp)
	}
	if rw.SetDstIP6 {
		dst := lay.L3 + 24
		if lay.pseudoDst != dst {
			l4 = -1 // the pseudo-header holds the routing header's final address
		}
		replace(b, dst, rw.DstIP6[:], -1, l4, udp)
	}
}

// replace writes addr at b[at:] and updates the checksums at b[hc:] (the
// IPv4 header's) and b[l4:] (the pseudo-header's), each unless -1.
func replace(b []byte, at int, addr []byte, hc, l4 int, udp bool) {
	old := b[at : at+len(addr)]
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), summed over the words.
	delta := uint64(^fold(sum(old, 0))) + uint64(fold(sum(addr, 0)))
	copy(old, addr)
	if hc >= 0 {
		update(b[hc:], delta, false)
	}
	if l4 >= 0 {
		update(b[l4:], delta, udp)
	}
}

// update applies delta to the checksum at c[0:2].
func update(c []byte, delta uint64, udp bool) {
	v := ^fold(uint64(^binary.BigEndian.Uint16(c)) + delta)
	if v == 0 && udp {
		v = 0xffff
	}
	binary.BigEndian.PutUint16(c, v)
}

// rewriteKeys lists ParseRewrite's keys for its error messages.
const rewriteKeys = "accepted keys: src-mac, dst-mac, src-ip, dst-ip"

// ParseRewrite parses the command-line form
// "dst-mac=02:00:00:00:00:02,src-ip=198.18.0.1,dst-ip=198.18.0.2": items
// key=value separated by commas, keys src-mac, dst-mac, src-ip and dst-ip.
// An IP may be IPv4 or IPv6; src-ip and dst-ip may each be given twice,
// once per family, for a capture that mixes both. Errors name the accepted
// keys where a key is wrong.
func ParseRewrite(s string) (Rewrite, error) {
	var rw Rewrite
	if strings.TrimSpace(s) == "" {
		return rw, fmt.Errorf("rewrite: empty; want key=value[,key=value...] (%s)", rewriteKeys)
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return rw, fmt.Errorf("rewrite: empty item in %q", s)
		}
		key, val, found := strings.Cut(item, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !found {
			return rw, fmt.Errorf("rewrite: %q is not key=value (%s)", item, rewriteKeys)
		}
		switch key {
		case "src-mac", "dst-mac":
			mac, err := net.ParseMAC(val)
			if err != nil || len(mac) != 6 {
				return rw, fmt.Errorf("rewrite: %s: %q is not a MAC address like 02:00:00:00:00:01", key, val)
			}
			set, dst := &rw.SetSrcMAC, &rw.SrcMAC
			if key == "dst-mac" {
				set, dst = &rw.SetDstMAC, &rw.DstMAC
			}
			if *set {
				return rw, fmt.Errorf("rewrite: %s given twice", key)
			}
			*set = true
			copy(dst[:], mac)
		case "src-ip", "dst-ip":
			ip, err := netip.ParseAddr(val)
			if err != nil || ip.Zone() != "" {
				return rw, fmt.Errorf("rewrite: %s: %q is not an IPv4 or IPv6 address", key, val)
			}
			src := key == "src-ip"
			var set *bool
			switch {
			case ip.Is4() && src:
				set, rw.SrcIP4 = &rw.SetSrcIP4, ip.As4()
			case ip.Is4():
				set, rw.DstIP4 = &rw.SetDstIP4, ip.As4()
			case src:
				set, rw.SrcIP6 = &rw.SetSrcIP6, ip.As16()
			default:
				set, rw.DstIP6 = &rw.SetDstIP6, ip.As16()
			}
			if *set {
				fam := "IPv6"
				if ip.Is4() {
					fam = "IPv4"
				}
				return rw, fmt.Errorf("rewrite: %s given twice for %s", key, fam)
			}
			*set = true
		default:
			return rw, fmt.Errorf("rewrite: unknown key %q (%s)", key, rewriteKeys)
		}
	}
	return rw, nil
}

// String returns the rewrite in ParseRewrite's form, "" if it sets nothing.
func (rw Rewrite) String() string {
	var parts []string
	if rw.SetSrcMAC {
		parts = append(parts, "src-mac="+net.HardwareAddr(rw.SrcMAC[:]).String())
	}
	if rw.SetDstMAC {
		parts = append(parts, "dst-mac="+net.HardwareAddr(rw.DstMAC[:]).String())
	}
	if rw.SetSrcIP4 {
		parts = append(parts, "src-ip="+netip.AddrFrom4(rw.SrcIP4).String())
	}
	if rw.SetSrcIP6 {
		parts = append(parts, "src-ip="+netip.AddrFrom16(rw.SrcIP6).String())
	}
	if rw.SetDstIP4 {
		parts = append(parts, "dst-ip="+netip.AddrFrom4(rw.DstIP4).String())
	}
	if rw.SetDstIP6 {
		parts = append(parts, "dst-ip="+netip.AddrFrom16(rw.DstIP6).String())
	}
	return strings.Join(parts, ",")
}
