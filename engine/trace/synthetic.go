package trace

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
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
	HeaderLen   = 14 + 20 + 8 // Ethernet, IPv4, UDP
	seqOff      = HeaderLen + 4
	ipLenOff    = 14 + 2
	ipCsOff     = 14 + 10
	udpSportOff = 14 + 20
	udpLenOff   = 14 + 20 + 4
	udpCsOff    = 14 + 20 + 6
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

// SynthConfig describes a synthetic stream: when packets leave (a fixed
// interval, Poisson arrivals, or gaps cycled from a list as Caliper's -D)
// and how large they are (one size, or sizes cycled from a list as -L),
// for a number of packets or a duration.
type SynthConfig struct {
	// Count is the number of packets; 0 means as many as fit in Duration.
	Count int
	// Duration bounds the schedule when Count is 0: packets whose offset
	// is below Duration are sent.
	Duration int64
	// Interval is the gap between packets, ns (the mean gap with Poisson).
	Interval int64
	// Poisson draws exponential gaps with mean Interval from Seed.
	Poisson bool
	// Gaps, if set, are the gaps in ns, cycled (the first packet leaves at
	// offset 0).
	Gaps []int64
	// FrameSize is the frame size with FCS; Sizes, if set, are cycled.
	FrameSize int
	Sizes     []int
	// Flows spreads the packets over this many UDP flows (0 or 1: one):
	// packet i leaves from source port SrcPort + i mod Flows, so senders
	// that partition a trace by flow (FlowPart) share the work evenly.
	Flows int
	// Seed drives every random choice.
	Seed      uint64
	Endpoints Endpoints
}

// MaxSynthPackets bounds a synthetic stream (its schedule is kept in memory).
const MaxSynthPackets = 100_000_000

// Synthetic is a schedule of Ethernet/IPv4/UDP frames whose payload carries
// a sequence number. The schedule (offsets and sizes) is computed when the
// source is made, so Next only patches the template: the sequence number,
// the lengths, and the IPv4 and UDP checksums, updated incrementally (RFC
// 1624) from sums precomputed without them.
type Synthetic struct {
	offsets []int64
	sizes   []uint16 // nil: every frame is size
	size    int
	flows   int
	sport   uint32 // first source port
	next    int
	frame   []byte // template at the largest size
	filled  int    // the size the template's length fields are for (0: none yet)
	ipBase  uint32 // IPv4 header sum with total length and checksum 0
	udpBase uint32 // UDP sum (with pseudo-header) with lengths, seq and checksum 0
	mine    []bool // per flow: in the part Part kept (nil: every packet)
}

// NewSynthetic makes count frames of frameSize bytes (with FCS), one every
// interval ns.
func NewSynthetic(count int, interval int64, frameSize int, ep Endpoints) (*Synthetic, error) {
	return NewSynth(SynthConfig{Count: count, Interval: interval, FrameSize: frameSize, Endpoints: ep})
}

// NewSynth makes the stream c describes.
func NewSynth(c SynthConfig) (*Synthetic, error) {
	if c.Count < 0 || c.Count > MaxSynthPackets {
		return nil, fmt.Errorf("synthetic trace: count %d out of range [1, %d]", c.Count, MaxSynthPackets)
	}
	if c.Count == 0 && c.Duration <= 0 {
		return nil, fmt.Errorf("synthetic trace: give a count or a duration")
	}
	if c.Interval < 0 {
		return nil, fmt.Errorf("synthetic trace: interval must be >= 0, got %d ns", c.Interval)
	}
	for i, g := range c.Gaps {
		if g < 0 {
			return nil, fmt.Errorf("synthetic trace: gap %d is negative (%d ns)", i+1, g)
		}
	}
	sizes := c.Sizes
	if len(sizes) == 0 {
		sizes = []int{c.FrameSize}
	}
	if c.Flows < 0 || c.Flows > 65536-int(c.Endpoints.SrcPort) {
		return nil, fmt.Errorf("synthetic trace: %d flows from source port %d: ports run past 65535; give 1 to %d flows",
			c.Flows, c.Endpoints.SrcPort, 65536-int(c.Endpoints.SrcPort))
	}
	largest := 0
	for i, n := range sizes {
		if n < MinFrame || n > MaxFrame {
			return nil, fmt.Errorf("synthetic trace: frame size %d (#%d) out of range [%dB, %dB]", n, i+1, MinFrame, MaxFrame)
		}
		largest = max(largest, n)
	}
	offsets, err := c.schedule()
	if err != nil {
		return nil, err
	}
	frame, err := buildFrame(largest-FCSLen, c.Endpoints)
	if err != nil {
		return nil, err
	}
	s := &Synthetic{offsets: offsets, size: sizes[0], frame: frame, flows: max(c.Flows, 1), sport: uint32(c.Endpoints.SrcPort)}
	if len(sizes) > 1 {
		s.sizes = make([]uint16, len(offsets))
		for i := range s.sizes {
			s.sizes[i] = uint16(sizes[i%len(sizes)])
		}
	}
	// Sums of the fields that never change; lengths, the sequence number
	// and the checksums are zero in them.
	binary.BigEndian.PutUint16(frame[ipLenOff:], 0)
	binary.BigEndian.PutUint16(frame[ipCsOff:], 0)
	s.ipBase = sum16(frame[14:34], 0)
	binary.BigEndian.PutUint16(frame[udpLenOff:], 0)
	binary.BigEndian.PutUint16(frame[udpCsOff:], 0)
	s.udpBase = sum16(frame[26:34], 17) + sum16(frame[34:], 0)
	return s, nil
}

// schedule computes every packet's offset from the start.
func (c SynthConfig) schedule() ([]int64, error) {
	var rng *rand.Rand
	if c.Poisson {
		rng = rand.New(rand.NewPCG(c.Seed, 0x6c6162727566)) // "labrun"
	}
	gap := func(i int) int64 {
		switch {
		case len(c.Gaps) > 0:
			return c.Gaps[(i-1)%len(c.Gaps)]
		case rng != nil:
			return int64(rng.ExpFloat64() * float64(c.Interval))
		}
		return c.Interval
	}
	var offsets []int64
	if c.Count > 0 {
		offsets = make([]int64, c.Count)
	}
	t := int64(0)
	for i := 0; ; i++ {
		if i > 0 {
			t += gap(i)
		}
		if c.Count > 0 {
			if i == c.Count {
				break
			}
			offsets[i] = t
			continue
		}
		if t >= c.Duration {
			break
		}
		if i == MaxSynthPackets {
			return nil, fmt.Errorf("synthetic trace: more than %d packets in %d ns", MaxSynthPackets, c.Duration)
		}
		if t == 0 && i > 0 && gap(i) == 0 {
			return nil, fmt.Errorf("synthetic trace: a duration needs gaps > 0")
		}
		offsets = append(offsets, t)
	}
	return offsets, nil
}

// sum16 adds b as big-endian 16-bit words to initial, unfolded.
func sum16(b []byte, initial uint32) uint32 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	s = (s >> 16) + (s & 0xffff)
	s += s >> 16
	return ^uint16(s)
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
func (s *Synthetic) Len() int { return len(s.offsets) }

// MaxFrameLen is the length of the longest frame (without FCS) Next
// returns: a sink sizes its buffers and ring slots by it.
func (s *Synthetic) MaxFrameLen() int { return len(s.frame) }

// Rewind implements Source.
func (s *Synthetic) Rewind() { s.next = 0 }

// Next implements Source. The frame is shared between calls.
func (s *Synthetic) Next(p *Packet) bool {
	i := s.next
	if s.mine != nil {
		for i < len(s.offsets) && !s.mine[s.flowOf(i)] {
			i++
		}
	}
	if i >= len(s.offsets) {
		s.next = i
		return false
	}
	s.fill(i, uint64(i), p)
	s.next = i + 1
	return true
}

// flowOf is packet i's flow, 0..flows-1 (flows >= 1).
func (s *Synthetic) flowOf(i int) int {
	if s.flows&(s.flows-1) == 0 {
		return i & (s.flows - 1) // no division per frame (some 15 ns)
	}
	return i % s.flows
}

// Part implements Parter: a packet's flow (and so its part) follows from
// its index, so the packets of other parts are skipped without being
// built. Each flow's part is read from its first packet's frame.
func (s *Synthetic) Part(k, n int) bool {
	if n <= 1 {
		return true
	}
	s.flows = max(s.flows, 1) // fill sets no port for one flow either way
	mine := make([]bool, s.flows)
	var p Packet
	for f := range min(s.flows, len(s.offsets)) {
		s.fill(f, uint64(f), &p)
		mine[f] = FlowPart(p.Frame, n) == k
	}
	s.filled = 0 // fill wrote the lengths of the first packets' sizes
	s.mine = mine
	return true
}

// fill builds packet i of the schedule carrying sequence number seq.
func (s *Synthetic) fill(i int, seq uint64, p *Packet) {
	size := s.size
	if s.sizes != nil {
		size = int(s.sizes[i])
	}
	n := size - FCSLen
	f := s.frame[:n]
	binary.BigEndian.PutUint64(f[seqOff:], seq)
	ipLen, udpLen := uint32(n-14), uint32(n-34)
	if size != s.filled { // the length fields follow the size only
		binary.BigEndian.PutUint16(f[ipLenOff:], uint16(ipLen))
		binary.BigEndian.PutUint16(f[ipCsOff:], fold(s.ipBase+ipLen))
		binary.BigEndian.PutUint16(f[udpLenOff:], uint16(udpLen))
		s.filled = size
	}
	flow := uint32(0)
	if s.flows > 1 {
		flow = uint32(s.flowOf(i))
		binary.BigEndian.PutUint16(f[udpSportOff:], uint16(s.sport+flow))
	}
	cs := fold(s.udpBase + flow + 2*udpLen + uint32(seq>>48) + uint32(seq>>32&0xffff) + uint32(seq>>16&0xffff) + uint32(seq&0xffff))
	if cs == 0 {
		cs = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(f[udpCsOff:], cs)
	p.Offset = s.offsets[i]
	p.Seq = seq
	p.Frame = f
}

// SeqOf returns the sequence number of a synthetic frame, and false if the
// frame does not carry one.
func SeqOf(frame []byte) (uint64, bool) {
	if len(frame) < seqOff+8 || [4]byte(frame[HeaderLen:seqOff]) != Magic {
		return 0, false
	}
	return binary.BigEndian.Uint64(frame[seqOff:]), true
}
