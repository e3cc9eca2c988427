package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Addresses and MACs of the frames the tests build.
var (
	mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	v4a  = net.IP{192, 0, 2, 1}
	v4b  = net.IP{198, 51, 100, 7}
	v6a  = net.ParseIP("2001:db8::1")
	v6b  = net.ParseIP("2001:db8:ffff::abcd")
	v6c  = net.ParseIP("2001:db8:c::99")
)

// pay returns n payload bytes, none of them zero.
func pay(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i%251 + 1)
	}
	return p
}

// ser serializes layers with ComputeChecksums and FixLengths, pointing
// every TCP, UDP and ICMPv6 layer at the IP layer before it.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			must(t, l.SetNetworkLayerForChecksum(nl))
		case *layers.UDP:
			must(t, l.SetNetworkLayerForChecksum(nl))
		case *layers.ICMPv6:
			must(t, l.SetNetworkLayerForChecksum(nl))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	must(t, gopacket.SerializeLayers(buf, opts, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: et}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: v4a, DstIP: v4b}
}

func ip6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: v6a, DstIP: v6b}
}

func udp() *layers.UDP { return &layers.UDP{SrcPort: 5353, DstPort: 40000} }

func tcp() *layers.TCP {
	return &layers.TCP{SrcPort: 443, DstPort: 51000, Seq: 1e9, Ack: 7, ACK: true, PSH: true, Window: 512}
}

// tcpOpts is a TCP header with MSS, SACK-permitted, timestamps, a NOP and
// window scale: 20 bytes of options.
func tcpOpts() *layers.TCP {
	t := tcp()
	t.SYN, t.PSH = true, false
	t.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	return t
}

// sll is a Linux cooked header (LINKTYPE_LINUX_SLL) for EtherType et.
func sll(et uint16) []byte {
	h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
	return binary.BigEndian.AppendUint16(h, et)
}

// sll2 is a Linux cooked v2 header (LINKTYPE_LINUX_SLL2) for EtherType et.
func sll2(et uint16) []byte {
	h := binary.BigEndian.AppendUint16(nil, et)
	h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6)
	return append(h, 2, 0, 0, 0, 0, 1, 0, 0)
}

// gopacketCheck decodes frame with gopacket, re-serializes its IPv4 header
// and its TCP, UDP, ICMP or ICMPv6 layer (with payload) with
// ComputeChecksums, and compares them with the frame's bytes. It returns
// the names of the layers it checked. A UDP checksum gopacket computes as
// 0 is expected as 0xffff (RFC 768); UDP over IPv4 with checksum 0 is not
// checked.
func gopacketCheck(t *testing.T, link uint16, frame []byte) []string {
	t.Helper()
	data := frame
	var first gopacket.Decoder
	switch link {
	case LinkEthernet:
		first = layers.LayerTypeEthernet
	case LinkLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case LinkNull, LinkLoop:
		first = layers.LayerTypeLoopback
	case LinkRaw:
		first = layers.LinkTypeRaw
	case LinkIPv4:
		first = layers.LayerTypeIPv4
	case LinkIPv6:
		first = layers.LayerTypeIPv6
	case LinkLinuxSLL2: // unknown to gopacket v1.1.19: start at L3
		data, first = frame[20:], layers.LayerTypeIPv4
		if binary.BigEndian.Uint16(frame) == 0x86dd {
			first = layers.LayerTypeIPv6
		}
	default:
		t.Fatalf("gopacketCheck: link %d", link)
	}
	pkt := gopacket.NewPacket(data, first, gopacket.Default)
	var checked []string
	var nl gopacket.NetworkLayer
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	for _, l := range pkt.Layers() {
		var sl gopacket.SerializableLayer
		switch l := l.(type) {
		case *layers.IPv4:
			if nl == nil {
				nl = l
				buf := gopacket.NewSerializeBuffer()
				must(t, l.SerializeTo(buf, opts))
				if !bytes.Equal(buf.Bytes(), l.Contents) {
					t.Errorf("gopacket IPv4 header\n got %x\nwant %x", l.Contents, buf.Bytes())
				}
				checked = append(checked, "IPv4")
			}
			continue
		case *layers.IPv6:
			if nl == nil {
				nl = l
			}
			continue
		case *layers.TCP:
			must(t, l.SetNetworkLayerForChecksum(nl))
			sl = l
		case *layers.UDP:
			if l.Checksum == 0 && nl.LayerType() == layers.LayerTypeIPv4 {
				return append(checked, "UDP(no checksum)")
			}
			must(t, l.SetNetworkLayerForChecksum(nl))
			sl = l
		case *layers.ICMPv4:
			sl = l
		case *layers.ICMPv6:
			must(t, l.SetNetworkLayerForChecksum(nl))
			sl = l
		default:
			continue
		}
		buf := gopacket.NewSerializeBuffer()
		must(t, gopacket.Payload(l.LayerPayload()).SerializeTo(buf, opts))
		must(t, sl.SerializeTo(buf, opts))
		got := append(append([]byte(nil), l.LayerContents()...), l.LayerPayload()...)
		want := buf.Bytes()
		if l.LayerType() == layers.LayerTypeUDP && want[6] == 0 && want[7] == 0 {
			want[6], want[7] = 0xff, 0xff
		}
		if !bytes.Equal(got, want) {
			t.Errorf("gopacket %v\n got %x\nwant %x", l.LayerType(), got[:min(len(got), 64)], want[:min(len(want), 64)])
		}
		return append(checked, fmt.Sprint(l.LayerType()))
	}
	return checked
}
