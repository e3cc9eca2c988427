package rx

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A frame the NIC stamped carries a time on the NIC's clock: the walker
// moves it onto the kernel's scale with the measured offset, then onto
// clock.Now's like any other; frames the kernel stamped are left alone.
func TestWalkHardwareStamps(t *testing.T) {
	const (
		offset    = 1_000_000_000 // realtime - monotonic
		phcOffset = -37_000_000   // realtime - NIC clock
	)
	frames := [][]byte{marked(t, 0), marked(t, 1)}
	rt := []int64{5_000_000_000, 6_000_000_000}
	b := buildBlock(t, 64<<10, frames, rt)
	// Frame 0: stamped by the NIC; frame 1: by the kernel.
	h := b[bdHdrLen:]
	ne.PutUint32(h[fhStatus:], unix.TP_STATUS_TS_RAW_HARDWARE)
	w := walker{tally: newTally(2), offset: offset, phcOffset: phcOffset}
	w.block(b)
	if want := rt[0] + phcOffset - offset; w.arrival[0] != want {
		t.Errorf("hardware-stamped arrival %d, want %d", w.arrival[0], want)
	}
	if want := rt[1] - offset; w.arrival[1] != want {
		t.Errorf("software-stamped arrival %d, want %d", w.arrival[1], want)
	}
	if w.hw != 1 {
		t.Errorf("hardware-stamped frames %d, want 1", w.hw)
	}
}

// A receiver asked for hardware stamps of a clock that is not there fails
// at Open, saying which.
func TestHardwareWithoutClock(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("opening an AF_PACKET socket needs root")
	}
	_, err := Open(Config{Ifindex: 1, Expect: 1, CPU: -1, Hardware: true, PHC: 999})
	if err == nil || !strings.Contains(err.Error(), "/dev/ptp999") {
		t.Fatalf("Open with PHC 999: %v", err)
	}
}
