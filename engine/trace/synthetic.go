package trace

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// FCSLen is the Ethernet frame check sequence the NIC appends. Frame sizes
// in labrun count it, as Ethernet's 64 B minimum frame does; the bytes handed
// to a socket are FCSLen shorter.
const FCSLen = 4

// Frame size bounds (with FCS).
const (
	MinFrame = 64
	MaxFrame = 9216
)

// Magic marks labrun's synthetic payloads; the sequence number follows it.
var Magic = [4]byte{'L', 'R', 'U', 'N'}

// Payload layout of a synthetic frame: magic, then the big-endian sequence
// number, then zeros.
const (
	HeaderLen = 14 + 20 + 8 // Ethernet, IPv4, UDP
	seqOff    = HeaderLen + 4
	udpCsOff  = 14 + 20 + 6
)

// Endpoints are the addresses a synthetic frame carries.
type Endpoints struct {
	SrcMAC, DstMAC net.HardwareAddr
	SrcIP, DstIP   net.IP
	SrcPort        uint16
	DstPort        uint16
}

// DefaultEndpoints uses locally administered MACs and addresses from the
// benchmarking range 198.18.0.0/15 (RFC 2544), port 9 (discard).
func DefaultEndpoints() Endpoints {
	return Endpoints{
		SrcMAC:  net.HardwareAddr{0x02, 0x6c, 0x72, 0x00, 0x00, 0x01},
		DstMAC:  net.HardwareAddr{0x02, 0x6c, 0x72, 0x00, 0x00, 0x02},
		SrcIP:   net.IPv4(198, 18, 0, 1).To4(),
		DstIP:   net.IPv4(198, 18, 0, 2).To4(),
		SrcPort: 49152,
		DstPort: 9,
	}
}

// Synthetic is a fixed-interval schedule of identical Ethernet/IPv4/UDP
// frames whose payload carries a sequence number. The UDP checksum is kept
// valid by updating it incrementally for the sequence number (RFC 1624).
type Synthetic struct {
	count    int
	interval int64
	next     int
	frame    []byte
	base     uint32 // one's complement sum of the UDP checksum with seq = 0
}

// NewSynthetic makes count frames of frameSize bytes (with FCS), one every
// interval ns.
func NewSynthetic(count int, interval int64, frameSize int, ep Endpoints) (*Synthetic, error) {
	if count <= 0 {
		return nil, fmt.Errorf("synthetic trace: count must be > 0, got %d", count)
	}
	if interval < 0 {
		return nil, fmt.Errorf("synthetic trace: interval must be >= 0, got %d ns", interval)
	}
	if frameSize < MinFrame || frameSize > MaxFrame {
		return nil, fmt.Errorf("synthetic trace: frame size %dB out of range [%dB, %dB]", frameSize, MinFrame, MaxFrame)
	}
	frame, err := buildFrame(frameSize-FCSLen, ep)
	if err != nil {
		return nil, err
	}
	cs := binary.BigEndian.Uint16(frame[udpCsOff:])
	return &Synthetic{count: count, interval: interval, frame: frame, base: uint32(^cs)}, nil
}

func buildFrame(n int, ep Endpoints) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: ep.SrcMAC, DstMAC: ep.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment,
		SrcIP: ep.SrcIP, DstIP: ep.DstIP}
	udp := &layers.UDP{SrcPort: layers.UDPPort(ep.SrcPort), DstPort: layers.UDPPort(ep.DstPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	payload := make([]byte, n-HeaderLen)
	copy(payload, Magic[:])
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		return nil, fmt.Errorf("synthetic trace: building frame: %w", err)
	}
	return append([]byte(nil), buf.Bytes()...), nil
}

// Len implements Source.
func (s *Synthetic) Len() int { return s.count }

// Rewind implements Source.
func (s *Synthetic) Rewind() { s.next = 0 }

// Next implements Source. The frame is shared between calls.
func (s *Synthetic) Next(p *Packet) bool {
	if s.next >= s.count {
		return false
	}
	seq := uint64(s.next)
	binary.BigEndian.PutUint64(s.frame[seqOff:], seq)
	sum := s.base + uint32(seq>>48) + uint32(seq>>32&0xffff) + uint32(seq>>16&0xffff) + uint32(seq&0xffff)
	sum = (sum >> 16) + (sum & 0xffff)
	sum += sum >> 16
	cs := ^uint16(sum)
	if cs == 0 {
		cs = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(s.frame[udpCsOff:], cs)
	p.Offset = int64(s.next) * s.interval
	p.Seq = seq
	p.Frame = s.frame
	s.next++
	return true
}

// SeqOf returns the sequence number of a synthetic frame, and false if the
// frame does not carry one.
func SeqOf(frame []byte) (uint64, bool) {
	if len(frame) < seqOff+8 || [4]byte(frame[HeaderLen:seqOff]) != Magic {
		return 0, false
	}
	return binary.BigEndian.Uint64(frame[seqOff:]), true
}
