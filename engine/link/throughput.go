package link

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/labrun/labrun/engine/clock"
)

// ThroughputConfig describes a measurement of the in-memory pipeline, as
// TLEM V-C makes it: an input stage that takes frames from a pool (like a
// NIC's receive buffers), reads the clock once per batch, decides each
// frame's fate and copies it into the ring; an output stage on another
// CPU that releases frames at their due time and copies them out (like a
// NIC's transmit buffers).
type ThroughputConfig struct {
	Packets int           // frames to push through
	Frame   int           // bytes per frame
	Delay   time.Duration // constant delay of the emulated link
	NoCopy  bool          // headers only: no copy in, no copy out
	Plain   bool          // no emulation: a plain copy through the same ring, no clock reads
	Batch   int           // 0: DefaultBatch
	// InCPU and OutCPU pin the stages; -1 leaves one unpinned.
	InCPU, OutCPU int
	// Buffer is the ring's size; 0 picks one that holds the delay at the
	// rates reached here (32 MiB without delay, 512 MiB with).
	Buffer int64
}

// ThroughputResult is what a measurement found.
type ThroughputResult struct {
	Packets   int
	Elapsed   time.Duration // first Put to the last release, less the delay
	NsPerPkt  float64
	Waits     uint64 // times the input stage found the ring full
	InputCPU  time.Duration
	OutputCPU time.Duration
}

// copyOut is an Output that copies each frame into one buffer, as a
// transmit ring would, or only counts it.
type copyOut struct {
	dst  []byte
	copy bool
	n    uint64
}

func (o *copyOut) Release(f []byte, _, _ int64) error {
	if o.copy {
		copy(o.dst, f)
	}
	o.n++
	return nil
}
func (o *copyOut) Flush() error { return nil }

// framePool is how many distinct source frames the input stage cycles
// through.
const framePool = 4096

// MeasureThroughput pushes c.Packets frames through a pipe as fast as the
// stages go and reports the time per frame. It locks the calling goroutine
// to its thread for the input stage.
func MeasureThroughput(c ThroughputConfig) (ThroughputResult, error) {
	if c.Packets <= 0 || c.Frame < 0 || c.Frame > 1<<16 || c.Delay < 0 {
		return ThroughputResult{}, fmt.Errorf("throughput: packets %d must be > 0, frame %d in 0..65536, delay %v >= 0", c.Packets, c.Frame, c.Delay)
	}
	if c.Plain && c.Delay > 0 {
		return ThroughputResult{}, errors.New("throughput: a plain copy has no delay")
	}
	cfg := PipeConfig{CPU: c.OutCPU, NoCopy: c.NoCopy, Batch: c.Batch, Buffer: c.Buffer}
	if cfg.Buffer == 0 {
		cfg.Buffer = 32 << 20
		if c.Delay > 0 {
			cfg.Buffer = 512 << 20
		}
	}
	if !c.Plain {
		d, err := Constant(c.Delay)
		if err != nil {
			return ThroughputResult{}, err
		}
		cfg.Link = &Config{Delay: d, Seed: 1}
	}
	out := &copyOut{dst: make([]byte, c.Frame), copy: !c.NoCopy}
	p, err := NewPipe(cfg, out)
	if err != nil {
		return ThroughputResult{}, err
	}
	if err := p.Start(); err != nil {
		return ThroughputResult{}, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c.InCPU >= 0 {
		if err := pinThread(c.InCPU); err != nil {
			p.Close(time.Second)
			return ThroughputResult{}, fmt.Errorf("throughput: pinning the input stage: %w", err)
		}
	}
	stride := (c.Frame + lineSize - 1) &^ (lineSize - 1)
	if stride == 0 {
		stride = lineSize
	}
	mem := make([]byte, framePool*stride)
	for i := range mem {
		mem[i] = byte(i)
	}
	batch := p.batch
	emulate := !c.Plain
	cpu0 := threadCPU()
	start := clock.Now()
	var t int64
	for i := 0; i < c.Packets; {
		if emulate {
			t = clock.Now()
		}
		for j := 0; j < batch && i < c.Packets; j++ {
			off := (i & (framePool - 1)) * stride
			p.Put(mem[off:off+c.Frame], t)
			i++
		}
	}
	bound := c.Delay + 30*time.Second
	if err := p.Close(bound); err != nil {
		return ThroughputResult{}, err
	}
	elapsed := time.Duration(clock.Now()-start) - c.Delay
	inCPU := threadCPU() - cpu0
	st := p.Stats()
	if st.Released != uint64(c.Packets) || out.n != uint64(c.Packets) {
		return ThroughputResult{}, fmt.Errorf("throughput: %d of %d frames released", st.Released, c.Packets)
	}
	return ThroughputResult{Packets: c.Packets, Elapsed: elapsed, NsPerPkt: float64(elapsed) / float64(c.Packets),
		Waits: st.Waits, InputCPU: inCPU, OutputCPU: st.OutputCPU}, nil
}
