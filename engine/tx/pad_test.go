package tx

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/labrun/labrun/engine/frame"
)

// tcpFrame is a whole IPv4/TCP frame with payload bytes 1..extra and a
// wrong, non-zero checksum.
func tcpFrame(extra int) []byte {
	f := append(append(append([]byte{}, macB...), macA...), 0x08, 0x00)
	ip := make([]byte, 20+20+extra)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], frame.Checksum(ip[:20], 0))
	ip[20+12] = 5 << 4 // data offset
	binary.BigEndian.PutUint16(ip[20+16:], 0x1234)
	for k := range extra {
		ip[40+k] = byte(k + 1)
	}
	return append(f, ip...)
}

// withUDPSum gives a udpFrame a right IPv4 header checksum and a wrong,
// non-zero UDP checksum.
func withUDPSum(f []byte, l4 int) []byte {
	binary.BigEndian.PutUint16(f[l4+6:], 0x1234)
	l3 := 14
	if f[12] == 0x81 {
		l3 = 18
	}
	binary.BigEndian.PutUint16(f[l3+10:], frame.Checksum(f[l3:l4], 0))
	return f
}

func noUDPSum(f []byte) []byte {
	f[34+6], f[34+7] = 0, 0
	return f
}

func TestPadder(t *testing.T) {
	for _, c := range []struct {
		name   string
		frame  []byte
		snap   int
		padded int  // length sent; 0: the frame goes as it is
		sum    bool // its checksum must verify
	}{
		{"udp cut to 64", withUDPSum(udpFrame(7, 1400, 0, false), 34), 64, 14 + 20 + 8 + 1404, true},
		{"udp whole", withUDPSum(udpFrame(7, 100, 0, false), 34), 0, 14 + 20 + 8 + 104, true},
		{"udp vlan cut", withUDPSum(udpFrame(7, 1400, 0, true), 38), 70, 18 + 20 + 8 + 1404, true},
		{"udp ip options cut", withUDPSum(udpFrame(7, 500, 2, false), 42), 60, 14 + 28 + 8 + 504, true},
		{"udp without checksum", noUDPSum(withUDPSum(udpFrame(7, 1400, 0, false), 34)), 64, 14 + 20 + 8 + 1404, false},
		{"tcp cut to 54", tcpFrame(1000), 54, 14 + 40 + 1000, true},
		{"longer than the interface takes", withUDPSum(udpFrame(7, 1500, 0, false), 34), 64, 0, false},
		{"header cut", withUDPSum(udpFrame(7, 1400, 0, false), 34), 38, 0, false},
		{"not ip", append(append(append([]byte{}, macB...), macA...), append([]byte{0x08, 0x06}, make([]byte, 46)...)...), 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.frame
			if c.snap > 0 {
				in = in[:c.snap]
			}
			orig := bytes.Clone(in)
			d := newPadder(1514, 1518)
			out := d.pad(in)
			d.checksum()
			if !bytes.Equal(in, orig) {
				t.Fatal("pad changed the caller's frame")
			}
			if c.padded == 0 {
				if &out[0] != &in[0] || len(out) != len(in) {
					t.Fatalf("frame sent as %d bytes from the padder's buffer, want it as it is", len(out))
				}
				return
			}
			if len(out) != c.padded {
				t.Fatalf("padded to %d bytes, want %d", len(out), c.padded)
			}
			if len(in) < len(out) && !bytes.Equal(out[len(in):], make([]byte, len(out)-len(in))) {
				t.Error("padding is not all zeros")
			}
			err := frame.VerifyChecksums(frame.LinkEthernet, out)
			if c.sum && err != nil {
				t.Errorf("checksums after padding: %v", err)
			}
			if !c.sum && binary.BigEndian.Uint16(out[34+6:]) != 0 {
				t.Error("UDP without a checksum got one")
			}
		})
	}
}

func TestPadderAllocs(t *testing.T) {
	f := withUDPSum(udpFrame(7, 1400, 0, false), 34)[:64]
	d := newPadder(1514, 1518)
	if n := testing.AllocsPerRun(1000, func() { d.pad(f); d.checksum() }); n != 0 {
		t.Errorf("%v allocations per padded frame, want 0", n)
	}
}

// A Pad sink sends the padded frame; SendMarked marks its steps in order.
func TestPacketPadMarked(t *testing.T) {
	v := newVeth(t)
	p := v.newPacket(t, PacketConfig{Mode: PacketSendto, Pad: true}, packetOptions{})
	f := withUDPSum(udpFrame(7, 1400, 0, false), 34)[:64]
	var m Marks
	var before int64
	for range 100 {
		before = m.Csum
		if err := v.a.do(func() error { return p.SendMarked(f, 0, &m) }); err != nil {
			t.Fatal(err)
		}
	}
	if m.Pad == 0 || m.Csum < m.Pad || m.Csum <= before {
		t.Errorf("marks %+v (previous csum mark %d): want pad <= csum, both set anew", m, before)
	}
	st := p.Stats()
	if st.Errors != 0 || st.Bytes != st.Packets*(14+20+8+1404) {
		t.Errorf("stats %+v: want every frame sent padded to %d bytes", st, 14+20+8+1404)
	}
	if _, ok := Sink(&Null{}).(Marker); ok {
		t.Error("Null claims to mark its sends")
	}
}

// BenchmarkPacketPad sends a 64-byte cut of a 1514-byte UDP frame with
// sendto on a veth pair: as it is, padded (Send) and padded with the
// profiler's marks (SendMarked). Send without Pad is the path every
// run takes; its cost is BenchmarkPacketSend/sendto's.
func BenchmarkPacketPad(b *testing.B) {
	v := newVeth(b)
	f := withUDPSum(udpFrame(7, 1456, 0, false), 34)[:64]
	for _, c := range []struct {
		name   string
		pad    bool
		marked bool
	}{{"plain", false, false}, {"plain-marked", false, true}, {"pad", true, false}, {"pad-marked", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			p := v.newPacket(b, PacketConfig{Mode: PacketSendto, Pad: c.pad}, packetOptions{})
			var m Marks
			err := v.a.do(func() error {
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					var err error
					if c.marked {
						err = p.SendMarked(f, 0, &m)
					} else {
						err = p.Send(f, 0)
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
