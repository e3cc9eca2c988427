package link

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkExits(t *testing.T, what string, m *Model, as []arrival, want []int64) {
	t.Helper()
	for i, a := range as {
		r, f := m.Admit(a.t, a.len)
		if f != Deliver || r != want[i] {
			t.Errorf("%s: packet %d at %v: %v %v, want %v", what, i, time.Duration(a.t), time.Duration(r), f, time.Duration(want[i]))
		}
	}
}

func TestSteps(t *testing.T) {
	// 1250-byte packets are 10000 bits: 10 ms at 1 Mbit/s, 5 ms at 2.
	s := ok(Steps([]RateStep{{10 * time.Millisecond, 1e6}, {10 * time.Millisecond, 0}, {10 * time.Millisecond, 2e6}}, true))
	const t0 = int64(time.Second) // schedule time 0 is the first arrival
	m := ok(NewModel(Config{Rate: s}))
	checkExits(t, "repeat", m,
		[]arrival{{t0, 1250}, {t0, 1250}, {t0, 1250}, {t0, 1250}, {t0 + 95*ms, 1250}, {t0 + 200*ms, 1}},
		[]int64{
			t0 + 10*ms,         // step 0
			t0 + 25*ms,         // waits out the outage, then 5 ms at 2 Mbit/s
			t0 + 30*ms,         // fills step 2 exactly
			t0 + 40*ms,         // second cycle, step 0
			t0 + 112*ms + ms/2, // idle: 5000 bits in 90..100, outage, 5000 bits in 2.5 ms
			t0 + 200*ms + 4000, // 200 = 6*30 + 20: step 2, 8 bits at 2 Mbit/s
		})

	// Without repeat the last step holds.
	s = ok(Steps([]RateStep{{5 * time.Millisecond, 2e6}, {time.Millisecond, 1e6}}, false))
	m = ok(NewModel(Config{Rate: s, Overhead: 0}))
	checkExits(t, "hold", m,
		[]arrival{{0, 1250}, {0, 1250}, {0, 1250}, {time.Hour.Nanoseconds(), 1250}},
		[]int64{5 * ms, 5*ms + ms + 9*ms, 25 * ms, time.Hour.Nanoseconds() + 10*ms})

	// Fractional exit times are rounded up and do not drift: 3 Mbit/s
	// in steps of 1 ms, 1-byte packets back to back.
	s = ok(Steps([]RateStep{{time.Millisecond, 3e6}, {time.Millisecond, 3e6}}, true))
	m = ok(NewModel(Config{Rate: s, QueuePackets: 4}))
	for k := int64(1); k <= 300_000; k++ {
		r, f := m.Admit((k-1)*8000/3, 1)
		if want := (k*8000 + 2) / 3; f != Deliver || r != want {
			t.Fatalf("steps 3 Mbit/s: packet %d: %d %v, want %d", k, r, f, want)
		}
	}
}

func TestDeliveryTrace(t *testing.T) {
	p := writeFile(t, "trace", "# a comment\n1\n1\n\n3\n5\n")
	s := ok(ReadDeliveryTrace(p))
	if got := s.MeanBandwidth(); got != 4*1504*8/0.005 {
		t.Errorf("MeanBandwidth %v", got)
	}
	m := ok(NewModel(Config{Rate: s}))
	// Opportunities at 5c + {1, 1, 3, 5} ms.
	checkExits(t, "trace", m,
		[]arrival{
			{0, 1504},        // all of the first opportunity at 1 ms
			{0, 3000},        // the second at 1 ms and 1496 bytes at 3 ms
			{2 * ms, 8},      // the 8 bytes left at 3 ms
			{4 * ms, 100},    // 5 ms
			{5*ms + 1, 100},  // the credit left at 5 ms is lost: 6 ms
			{100 * ms, 100},  // the opportunity at 100 ms (cycle 19, ts 5)
			{100 * ms, 1504}, // 1404 bytes left at 100 ms and 100 at 101 ms
		},
		[]int64{1 * ms, 3 * ms, 3 * ms, 5 * ms, 6 * ms, 100 * ms, 101 * ms})
}

func TestRateErrors(t *testing.T) {
	for _, tc := range []struct {
		steps  []RateStep
		repeat bool
		want   string
	}{
		{nil, true, "no steps"},
		{[]RateStep{{0, 1e6}}, true, "step 0: duration 0s: want For > 0"},
		{[]RateStep{{time.Second, -1}}, true, "step 0: bandwidth -1 bit/s out of range: want 0 or 1 <= bandwidth"},
		{[]RateStep{{time.Second, 0}}, true, "every step has bandwidth 0"},
		{[]RateStep{{time.Second, 1e6}, {time.Second, 0}}, false, "its bandwidth must be positive"},
	} {
		_, err := Steps(tc.steps, tc.repeat)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Steps(%v, %v) = %v, want an error containing %q", tc.steps, tc.repeat, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"", ": no timestamps: want one integer millisecond"},
		{"0\n0\n", ": the last timestamp is 0"},
		{"1\n2\n1\n", ":3: timestamp 1 is before the previous one, 2"},
		{"1\n1.5\n", `:2: bad timestamp "1.5": want one integer millisecond timestamp per line`},
		{"-3\n", `:1: bad timestamp "-3"`},
	} {
		p := writeFile(t, "trace", tc.text)
		_, err := ReadDeliveryTrace(p)
		if err == nil || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("trace %q: %v, want an error containing %q", tc.text, err, p+tc.want)
		}
	}
	if _, err := ReadDeliveryTrace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing trace file: no error")
	}
}
