package clock

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Now must agree with the kernel's CLOCK_MONOTONIC: timers are handed its values.
func TestNowMatchesKernelMonotonic(t *testing.T) {
	var ts unix.Timespec
	before := Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	after := Now()
	k := ts.Sec*1e9 + ts.Nsec
	if k < before || k > after {
		t.Fatalf("kernel monotonic %d outside [%d, %d]", k, before, after)
	}
}

func TestTimespecRoundTrip(t *testing.T) {
	for _, ns := range []int64{0, 1, 999_999_999, 1_000_000_000, 123_456_789_012} {
		ts := Timespec(ns)
		if got := ts.Sec*1e9 + ts.Nsec; got != ns || ts.Nsec >= 1e9 {
			t.Errorf("Timespec(%d) = %+v", ns, ts)
		}
	}
}

func TestNowDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(1000, func() { _ = Now() }); n != 0 {
		t.Fatalf("Now allocates %v times", n)
	}
}

func BenchmarkNow(b *testing.B) {
	for b.Loop() {
		_ = Now()
	}
}
