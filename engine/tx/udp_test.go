package tx

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// udpFrame builds an Ethernet/IPv4/UDP frame whose payload is the 4-byte
// counter i followed by extra bytes; opts adds IPv4 option words and vlan
// an 802.1Q tag. Short frames are padded to 60 bytes as on the wire.
func udpFrame(i uint32, extra, opts int, vlan bool) []byte {
	f := append([]byte{}, macB...)
	f = append(f, macA...)
	if vlan {
		f = append(f, 0x81, 0x00, 0x00, 0x07)
	}
	f = append(f, 0x08, 0x00)
	ihl := 5 + opts
	plen := 4 + extra
	ip := make([]byte, ihl*4+8+plen)
	ip[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:], []byte{198, 18, 0, 1})
	copy(ip[16:], []byte{198, 18, 0, 2})
	for o := 20; o < ihl*4; o++ {
		ip[o] = 1 // NOP
	}
	u := ip[ihl*4:]
	binary.BigEndian.PutUint16(u[0:], 9001)
	binary.BigEndian.PutUint16(u[2:], 9000)
	binary.BigEndian.PutUint16(u[4:], uint16(8+plen))
	binary.BigEndian.PutUint32(u[8:], i)
	for k := range extra {
		u[12+k] = byte(k)
	}
	f = append(f, ip...)
	for len(f) < 60 {
		f = append(f, 0xee) // Ethernet padding: not payload
	}
	return f
}

func TestUDPPayload(t *testing.T) {
	plain := udpFrame(7, 0, 0, false)
	for _, c := range []struct {
		name  string
		frame []byte
		want  []byte
		why   udpReason
	}{
		{"plain, padded", plain, []byte{0, 0, 0, 7}, udpOK},
		{"options", udpFrame(7, 3, 2, false), []byte{0, 0, 0, 7, 0, 1, 2}, udpOK},
		{"vlan", udpFrame(7, 0, 0, true), []byte{0, 0, 0, 7}, udpOK},
		{"large", udpFrame(7, 1400, 0, false), nil, udpOK},
		{"not ipv4", numbered(1), nil, udpNotIPv4},
		{"short", plain[:30], nil, udpShort},
		{"tcp", mutate(plain, func(f []byte) { f[14+9] = 6 }), nil, udpNotUDP},
		{"ipv6 version", mutate(plain, func(f []byte) { f[14] = 0x65 }), nil, udpNotIPv4},
		{"ihl 4", mutate(plain, func(f []byte) { f[14] = 0x44 }), nil, udpBadIHL},
		{"ihl past end", mutate(plain, func(f []byte) { f[14] = 0x4f }), nil, udpBadIHL},
		{"fragment", mutate(plain, func(f []byte) { f[14+6] = 0x20 }), nil, udpFragment},
		{"later fragment", mutate(plain, func(f []byte) { f[14+7] = 0x10 }), nil, udpFragment},
		{"truncated", udpFrame(7, 100, 0, false)[:80], nil, udpTruncated},
		{"udp length", mutate(plain, func(f []byte) { f[14+20+5] = 200 }), nil, udpBadLength},
		{"udp length small", mutate(plain, func(f []byte) { f[14+20+5] = 7 }), nil, udpBadLength},
	} {
		got, why := udpPayload(c.frame)
		if why != c.why {
			t.Errorf("%s: %v, want %v", c.name, why, c.why)
			continue
		}
		if c.want != nil && !bytes.Equal(got, c.want) {
			t.Errorf("%s: payload % x, want % x", c.name, got, c.want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = udpPayload(plain) }); a != 0 {
		t.Errorf("udpPayload allocates %v", a)
	}
}

func mutate(f []byte, m func([]byte)) []byte {
	g := append([]byte{}, f...)
	m(g)
	return g
}

func TestNewUDPRejectsConfig(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.2:9000")
	for _, c := range []struct {
		name string
		cfg  UDPConfig
		want string
	}{
		{"no dst", UDPConfig{}, "destination"},
		{"port 0", UDPConfig{Dst: netip.MustParseAddrPort("198.18.0.2:0")}, "destination"},
		{"family", UDPConfig{Dst: dst, Src: netip.MustParseAddrPort("[fd00::1]:1")}, "family"},
		{"batch", UDPConfig{Dst: dst, Batch: MaxBatch + 1}, "Batch"},
		{"max frame", UDPConfig{Dst: dst, MaxFrame: 3}, "MaxFrame"},
	} {
		if u, err := NewUDP(c.cfg); err == nil {
			u.Close()
			t.Errorf("%s: accepted", c.name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name %q", c.name, err, c.want)
		}
	}
}

// Payloads sent through the UDP sink arrive at a socket on the peer,
// exactly once and in order; frames that are not IPv4/UDP are counted as
// errors and skipped.
func TestUDPDelivery(t *testing.T) {
	const n = 10000
	v := newVeth(t)
	for i, batch := range []int{1, 7, 64} {
		t.Run(itoa(batch), func(t *testing.T) {
			port := 9000 + i
			rx := v.newUDPReceiver(t, port)
			var u *UDP
			if err := v.a.do(func() (err error) {
				u, err = NewUDP(UDPConfig{
					Dst:   netip.AddrPortFrom(netip.MustParseAddr(addrB), uint16(port)),
					Src:   netip.MustParseAddrPort(addrA + ":0"),
					Batch: batch, MaxFrame: 200,
				})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = u.Close() })
			var bytes int64
			for k := range n {
				f := udpFrame(uint32(k), k%50, k%3, k%5 == 0)
				if k%1000 == 999 {
					f = udpFrame(uint32(k), 1000, 0, false) // longer than MaxFrame: sent alone
				}
				bytes += int64(len(f))
				if err := u.Send(f, 0); err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				if k == n/2 {
					if err := u.Send(numbered(1), 0); err == nil || !strings.Contains(err.Error(), "not IPv4") {
						t.Fatalf("non-UDP frame: error %v", err)
					}
				}
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			st := u.Stats()
			if st.Packets != n || st.Errors != 1 || st.Bytes != bytes {
				t.Errorf("stats %+v: want %d packets, %d bytes, 1 error", st, n, bytes)
			}
			if err := checkSeq(rx.wait(), seq(n)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUDPSendAllocs(t *testing.T) {
	v := newVeth(t)
	_ = v.newUDPReceiver(t, 9100)
	frame := udpFrame(1, 20, 0, false)
	for _, batch := range []int{1, 64} {
		var u *UDP
		if err := v.a.do(func() (err error) {
			u, err = NewUDP(UDPConfig{Dst: netip.MustParseAddrPort(addrB + ":9100"), Batch: batch})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(2000, func() { _ = u.Send(frame, 0) }); a != 0 {
			t.Errorf("batch %d: %v allocations per Send", batch, a)
		}
		if st := u.Stats(); st.Errors != 0 || st.Packets == 0 {
			t.Errorf("batch %d: stats %+v", batch, st)
		}
		u.Close()
	}
}
