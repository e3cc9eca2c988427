package frame

import (
	"testing"

	"github.com/google/gopacket/layers"
)

// benchFrames: a 64-byte Ethernet/IPv4/UDP frame and a 1514-byte
// Ethernet/IPv4/TCP frame (1500-byte IP packet, 20 bytes of TCP options).
func benchFrames(b *testing.B) (udp64, tcp1500 []byte) {
	udp64 = ser(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), pay(64-14-20-8))
	tcp1500 = ser(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpOpts(), pay(1500-20-40))
	if len(udp64) != 64 || len(tcp1500) != 1514 {
		b.Fatalf("frames of %d and %d bytes", len(udp64), len(tcp1500))
	}
	return udp64, tcp1500
}

func benchZero(b *testing.B, f []byte) {
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ZeroPayload(LinkEthernet, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkZeroPayloadUDP64 zeroes a minimum-size UDP frame.
func BenchmarkZeroPayloadUDP64(b *testing.B) {
	f, _ := benchFrames(b)
	benchZero(b, f)
}

// BenchmarkZeroPayloadTCP1500 zeroes a full-size TCP frame.
func BenchmarkZeroPayloadTCP1500(b *testing.B) {
	_, f := benchFrames(b)
	benchZero(b, f)
}

// BenchmarkRewriteIPv4 sets both IPv4 addresses and both MACs of a UDP frame.
func BenchmarkRewriteIPv4(b *testing.B) {
	f, _ := benchFrames(b)
	rw := newAddrs
	b.ReportAllocs()
	for b.Loop() {
		if err := rw.Apply(LinkEthernet, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse finds the layers of a full-size TCP frame.
func BenchmarkParse(b *testing.B) {
	_, f := benchFrames(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(LinkEthernet, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransformerTCP1500 runs the whole chain (zero, rewrite, snap).
func BenchmarkTransformerTCP1500(b *testing.B) {
	_, f := benchFrames(b)
	rw := newAddrs
	tr := Transformer{Zero: true, Rewrite: &rw, Snap: 1514}
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tr.Apply(LinkEthernet, f); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkChecksum1500 sums 1500 bytes (what a full recompute would cost).
func BenchmarkChecksum1500(b *testing.B) {
	_, f := benchFrames(b)
	f = f[14:]
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(f, 0)
	}
}
