package peer

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCyclictestArgs(t *testing.T) {
	c := Cyclictest{Interval: 70 * time.Microsecond, Loops: 1000, CPU: 1, Mlock: true}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Args("/tmp/x.json"), " ")
	want := "-t 1 -q -i 70 -h 20000 --json=/tmp/x.json -l 1000 -a 1 --policy=other -m --laptop"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	// SCHED_OTHER gets no -p: cyclictest -p 0 runs SCHED_FIFO priority 2.
	if slices.Contains(c.Args("x"), "-p") {
		t.Error("policy other passes -p")
	}
	f := Cyclictest{Interval: 2500 * time.Microsecond, Duration: 10 * time.Second, CPU: -1, Policy: "fifo", Priority: 80, DMALatency: true}
	got = strings.Join(f.Args("j"), " ")
	if !strings.Contains(got, "--policy=fifo -p 80") || !strings.Contains(got, "-D 10s") || strings.Contains(got, "--laptop") || strings.Contains(got, "-a ") {
		t.Errorf("fifo args: %s", got)
	}
	for _, bad := range []Cyclictest{
		{Interval: 0, Loops: 1},
		{Interval: 1500 * time.Nanosecond, Loops: 1},
		{Interval: time.Millisecond},
		{Interval: time.Millisecond, Duration: 1500 * time.Millisecond},
		{Interval: time.Millisecond, Loops: 1, Policy: "fifo"},
		{Interval: time.Millisecond, Loops: 1, Priority: 5},
		{Interval: time.Millisecond, Loops: 1, Policy: "deadline"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// The parser reads a real cyclictest 2.4 --json output: 2000 wake-ups at
// 70 us, of which 3 were later than the 200 us histogram.
func TestParseCyclictestJSON(t *testing.T) {
	b, err := os.ReadFile("testdata/cyclictest-70us.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseCyclictestJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 2000 || r.Overflows != 3 || r.Min != 14 || r.Max != 797 {
		t.Fatalf("result %+v", r)
	}
	if q := r.Quantile(1); q != r.Max {
		t.Errorf("q100 %d, want the max %d (overflows count as the max)", q, r.Max)
	}
	if p50 := r.Quantile(0.5); p50 < r.Min || p50 > 200 {
		t.Errorf("p50 %d out of [%d, 200]", p50, r.Min)
	}
	if _, err := ParseCyclictestJSON([]byte(`{"return_code": 0, "thread": {}}`)); err == nil {
		t.Error("no thread: no error")
	}
	if _, err := ParseCyclictestJSON([]byte(`{"return_code": 1, "thread": {"0": {"cycles": 1}}}`)); err == nil {
		t.Error("return code 1: no error")
	}
}

func TestRunCyclictest(t *testing.T) {
	if _, err := Find("cyclictest"); errors.Is(err, ErrNotInstalled) {
		t.Skipf("%v", err)
	}
	r, err := RunCyclictest(context.Background(), Cyclictest{Interval: 100 * time.Microsecond, Loops: 500, CPU: -1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 500 || r.Max < r.Min || r.Quantile(0.99) < r.Min {
		t.Fatalf("result %+v", r)
	}
}
