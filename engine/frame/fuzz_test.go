package frame

import (
	"bytes"
	"slices"
	"testing"
)

// fuzzLinks are the link types FuzzZeroPayload picks from, by its first
// argument modulo their count; 147 is one the package does not know.
var fuzzLinks = []uint16{LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2, 147}

// FuzzZeroPayload: no panic; on error the frame is unchanged; on success
// the length is unchanged, the payload is zero, VerifyChecksums passes
// (fragments are checked at the IPv4 header only), a second run changes
// nothing, and a rewrite of all addresses keeps the checksums valid.
func FuzzZeroPayload(f *testing.F) {
	for _, c := range zeroCases(f) {
		f.Add(byte(slices.Index(fuzzLinks, c.link)), c.frame)
	}
	f.Fuzz(func(t *testing.T, choice byte, data []byte) {
		link := fuzzLinks[int(choice)%len(fuzzLinks)]
		frame := slices.Clone(data)
		lay, err := ZeroPayload(link, frame)
		if err != nil {
			if !bytes.Equal(frame, data) {
				t.Fatalf("frame changed on error %v", err)
			}
			return
		}
		if len(frame) != len(data) {
			t.Fatalf("length %d, want %d", len(frame), len(data))
		}
		if !(lay.L3 <= lay.Payload && lay.Payload <= lay.End && (lay.L4 < 0 || lay.L3 < lay.L4 && lay.L4 <= lay.Payload)) {
			t.Fatalf("layout out of order: %+v", lay)
		}
		for i := lay.Payload; i < min(lay.End, len(frame)); i++ {
			if frame[i] != 0 {
				t.Fatalf("payload byte %d not zero (layout %+v)", i, lay)
			}
		}
		if err := VerifyChecksums(link, frame); err != nil {
			t.Fatalf("VerifyChecksums after ZeroPayload: %v (layout %+v)", err, lay)
		}
		again := slices.Clone(frame)
		if _, err := ZeroPayload(link, again); err != nil || !bytes.Equal(again, frame) {
			t.Fatalf("second ZeroPayload: %v, changed %v", err, !bytes.Equal(again, frame))
		}
		rw := newAddrs
		if link != LinkEthernet {
			rw.SetSrcMAC, rw.SetDstMAC = false, false
		}
		if err := rw.Apply(link, frame); err != nil {
			t.Fatalf("Rewrite after ZeroPayload: %v", err)
		}
		if err := VerifyChecksums(link, frame); err != nil {
			t.Fatalf("VerifyChecksums after Rewrite: %v (layout %+v)", err, lay)
		}
	})
}

// FuzzRewrite: no panic; on error the frame is unchanged; a frame whose
// checksums verified before a rewrite of all addresses verifies after it.
func FuzzRewrite(f *testing.F) {
	for _, c := range zeroCases(f) {
		f.Add(byte(slices.Index(fuzzLinks, c.link)), c.frame)
	}
	f.Fuzz(func(t *testing.T, choice byte, data []byte) {
		link := fuzzLinks[int(choice)%len(fuzzLinks)]
		valid := VerifyChecksums(link, data) == nil
		rw := newAddrs
		rw.SetSrcMAC = link == LinkEthernet && choice&0x80 != 0
		frame := slices.Clone(data)
		if err := rw.Apply(link, frame); err != nil {
			if !bytes.Equal(frame, data) {
				t.Fatalf("frame changed on error %v", err)
			}
			return
		}
		if valid {
			if err := VerifyChecksums(link, frame); err != nil {
				t.Fatalf("valid before the rewrite, not after: %v", err)
			}
		}
	})
}
