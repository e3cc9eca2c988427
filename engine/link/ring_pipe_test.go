package link

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/clock"
)

// collect is an Output that checks order and contents and keeps copies.
type collect struct {
	t       testing.TB
	next    uint32
	lens    []int
	due     []int64
	at      []int64
	bad     int
	flushes int
}

func (c *collect) Release(f []byte, due, now int64) error {
	if len(f) >= 4 {
		if got := binary.LittleEndian.Uint32(f); got != c.next {
			c.bad++
		}
		for i := 4; i < len(f); i++ {
			if f[i] != byte(c.next+uint32(i)) {
				c.bad++
				break
			}
		}
	}
	c.next++
	c.lens = append(c.lens, len(f))
	c.due = append(c.due, due)
	c.at = append(c.at, now)
	return nil
}

func (c *collect) Flush() error { c.flushes++; return nil }

// testFrame fills a frame of n bytes for sequence number i.
func testFrame(buf []byte, i uint32, n int) []byte {
	f := buf[:n]
	binary.LittleEndian.PutUint32(f, i)
	for j := 4; j < n; j++ {
		f[j] = byte(i + uint32(j))
	}
	return f
}

func TestRingSize(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want uint64
	}{{0, MinRing}, {1, MinRing}, {MinRing + 1, 2 * MinRing}, {1 << 20, 1 << 20}} {
		got, err := ringSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ringSize(%d) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	if _, err := ringSize(MaxRing + 1); err == nil {
		t.Error("ringSize above MaxRing: no error")
	}
	for n, want := range map[int]uint64{0: 64, 32: 64, 33: 128, 64: 128, 1514: 1600} {
		if got := recordSize(n); got != want {
			t.Errorf("recordSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestPipePlainWraps sends frames of changing sizes through the smallest
// ring, so records wrap many times, and checks every frame arrives whole
// and in order.
func TestPipePlainWraps(t *testing.T) {
	out := &collect{t: t}
	p, err := NewPipe(PipeConfig{Buffer: MinRing, Batch: 7, CPU: -1}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9000)
	const n = 50000
	sizes := []int{60, 1514, 64, 9000, 333, 4, 5, 1500}
	for i := 0; i < n; i++ {
		p.Put(testFrame(buf, uint32(i), max(sizes[i%len(sizes)], 4)), 0)
	}
	if err := p.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Released != n || len(out.lens) != n || out.bad != 0 {
		t.Fatalf("released %d (%d seen), %d corrupt or out of order; want %d, 0", st.Released, len(out.lens), out.bad, n)
	}
	for i, l := range out.lens {
		if l != sizes[i%len(sizes)] {
			t.Fatalf("frame %d: length %d, want %d", i, l, sizes[i%len(sizes)])
		}
	}
	if st.Waits == 0 {
		t.Error("a 64 KiB ring never filled with 50,000 frames: the full path went untested")
	}
}

// TestPipeDelayReleasesOnTime: with a constant delay every frame leaves at
// or after arrival + delay, in order.
func TestPipeDelayReleasesOnTime(t *testing.T) {
	d, err := Constant(300 * time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	out := &collect{t: t}
	p, err := NewPipe(PipeConfig{Link: &Config{Delay: d, Seed: 1}, CPU: -1, Record: 1000}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	arr := make([]int64, 0, 1000)
	for i := 0; i < 1000; i++ {
		now := clock.Now()
		arr = append(arr, now)
		p.Put(testFrame(buf, uint32(i), 64), now)
		p.Publish()
		if i%100 == 99 {
			// Gaps longer than the delay let the output stage idle.
			for clock.Now() < now+int64(500*time.Microsecond) {
			}
		}
	}
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out.bad != 0 || len(out.at) != 1000 {
		t.Fatalf("%d frames, %d bad", len(out.at), out.bad)
	}
	for i := range out.at {
		want := arr[i] + int64(300*time.Microsecond)
		if out.due[i] != want {
			t.Fatalf("frame %d due %d, want arrival+300us = %d", i, out.due[i], want)
		}
		if out.at[i] < want {
			t.Fatalf("frame %d released %d ns early", i, want-out.at[i])
		}
	}
	st := p.Stats()
	if len(st.ReleaseErr) != 1000 || st.MaxReleaseErr < 0 {
		t.Fatalf("release errors: %d kept, max %d", len(st.ReleaseErr), st.MaxReleaseErr)
	}
}

// TestPipeCloseBounded: frames due far in the future are counted as
// aborted when Close's bound runs out, and Close returns.
func TestPipeCloseBounded(t *testing.T) {
	d, _ := Constant(time.Hour)
	p, err := NewPipe(PipeConfig{Link: &Config{Delay: d}, CPU: -1, Buffer: MinRing}, &collect{t: t})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := 0; i < 10; i++ {
		p.Put(testFrame(buf, uint32(i), 64), clock.Now())
	}
	err = p.Close(20 * time.Millisecond)
	if err == nil || p.Stats().Aborted != 10 {
		t.Fatalf("Close = %v, aborted %d; want an error and 10", err, p.Stats().Aborted)
	}
}

func TestPipeNoAllocations(t *testing.T) {
	d, _ := Constant(0)
	p, err := NewPipe(PipeConfig{Link: &Config{Delay: d, Seed: 3}, CPU: -1, Record: 1 << 20}, &copyOut{dst: make([]byte, 2048), copy: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 64)
	allocs := testing.AllocsPerRun(10000, func() {
		p.Put(frame, clock.Now())
	})
	if err := p.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per frame through the pipe (both stages), want 0", allocs)
	}
}

// BenchmarkPipe measures the in-memory pipeline as TLEM V-C does (see
// MeasureThroughput). ns/pkt is the time per frame of the whole pipeline,
// the delay excluded; plain-copy is the same ring with no emulation.
func BenchmarkPipe(b *testing.B) {
	for _, frame := range []int{64, 1500} {
		for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
			for _, cp := range []bool{true, false} {
				name := fmt.Sprintf("frame=%d/delay=%v/copy=%v", frame, delay, cp)
				b.Run(name, func(b *testing.B) { benchPipe(b, ThroughputConfig{Frame: frame, Delay: delay, NoCopy: !cp}) })
			}
		}
		b.Run(fmt.Sprintf("frame=%d/plain-copy", frame), func(b *testing.B) { benchPipe(b, ThroughputConfig{Frame: frame, Plain: true}) })
	}
}

func benchPipe(b *testing.B, c ThroughputConfig) {
	c.Packets = b.N
	c.InCPU, c.OutCPU = -1, -1
	if n := runtime.NumCPU(); n > 1 {
		c.InCPU, c.OutCPU = 0, n-1
	}
	b.SetBytes(int64(c.Frame))
	b.ResetTimer()
	r, err := MeasureThroughput(c)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.NsPerPkt, "ns/pkt")
	b.ReportMetric(1e3/r.NsPerPkt, "Mpps")
}
