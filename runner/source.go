package runner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
)

// buildSource makes the packet source of a run. A capture that plan read
// is not read again before the timed pass: its prepass is cached by
// content hash.
func buildSource(dir string, t TraceConfig, runSeed uint64, expSeed int64) (trace.Source, error) {
	if t.Kind != "pcap" {
		return trace.NewSynth(t.Synth(runSeed))
	}
	path, sum := "", ""
	if t.Capture != nil {
		path, sum = t.Capture.Abs, t.Capture.SHA256
	} else {
		var err error
		if path, err = generated(dir, *t.Generate, expSeed); err != nil {
			return nil, err
		}
	}
	tm, err := t.timing()
	if err != nil {
		return nil, err
	}
	o := trace.CaptureOptions{
		Read:              trace.ReadOptions{Reader: t.Reader, Window: int64(t.Window), Lenient: t.Lenient},
		Timing:            tm,
		RecordReadLatency: t.ReadLatency,
		ColdCache:         t.ColdCache,
	}
	if t.transforms() {
		x := &frame.Transformer{Zero: t.ZeroPayload, Snap: int(t.Snaplen)}
		if t.Rewrite != "" {
			rw, err := frame.ParseRewrite(t.Rewrite)
			if err != nil {
				return nil, err
			}
			x.Rewrite = &rw
		}
		o.Transform = x
	}
	var rw *frame.Rewrite
	if o.Transform != nil {
		rw = o.Transform.Rewrite
	}
	pp, err := trace.CachedPrepass(sum, path, o.Read, rw, t.ZeroPayload)
	if err != nil {
		return nil, err
	}
	return trace.NewCaptureSourceFrom(pp, o)
}

// transforms reports whether a trace.pcap changes its frames.
func (t TraceConfig) transforms() bool {
	return t.ZeroPayload || t.Rewrite != "" || t.Snaplen > 0
}

// timing is a trace.pcap's schedule options.
func (t TraceConfig) timing() (trace.Timing, error) {
	tm := trace.Timing{Speed: t.Speed, Topspeed: t.Topspeed, Loops: t.Loops, L1: t.Layer == "l1", MaxGap: int64(t.MaxGap)}
	if t.Rate != "" {
		r, err := units.ParseRate(t.Rate)
		if err != nil {
			return tm, err
		}
		if r.Kind == units.PacketsPerSecond {
			tm.PPS = r.PerSecond
		} else {
			tm.BPS = r.PerSecond
		}
	}
	return tm, nil
}

// generated writes the capture a trace.pcap(generate = ...) describes into
// the invocation's traces/ folder, once: its name is the hash of its
// configuration and the experiment seed, and its content depends on
// nothing else, so the same script and seed give the same file.
func generated(dir string, g TraceConfig, expSeed int64) (string, error) {
	enc, _ := json.Marshal(struct {
		Seed  int64
		Trace TraceConfig
	}{expSeed, g})
	sum := sha256.Sum256(enc)
	path := filepath.Join(dir, "traces", hex.EncodeToString(sum[:6])+".pcap")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	src, err := trace.NewSynth(g.Synth(binary.BigEndian.Uint64(sum[8:16])))
	if err != nil {
		return "", fmt.Errorf("generating a trace: %w", err)
	}
	if err := trace.WritePcap(path, src, trace.GenEpoch); err != nil {
		return "", fmt.Errorf("generating a trace: %w", err)
	}
	return path, nil
}

// tracePcap is the capture file a peer tool replays for a run: the file a
// trace.pcap names or generates, or, for a synthetic trace, the run's own
// schedule written out once into the invocation's traces/ folder (its name
// is the hash of the trace and the run's seed).
func tracePcap(dir string, t TraceConfig, runSeed uint64, expSeed int64) (string, error) {
	if t.Kind == "pcap" {
		if t.Capture != nil {
			return t.Capture.Abs, nil
		}
		return generated(dir, *t.Generate, expSeed)
	}
	enc, _ := json.Marshal(struct {
		Seed  uint64
		Trace TraceConfig
	}{runSeed, t})
	sum := sha256.Sum256(enc)
	path := filepath.Join(dir, "traces", hex.EncodeToString(sum[:6])+".pcap")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	src, err := trace.NewSynth(t.Synth(runSeed))
	if err != nil {
		return "", fmt.Errorf("writing the trace for the peer tool: %w", err)
	}
	if err := trace.WritePcap(path, src, trace.GenEpoch); err != nil {
		return "", fmt.Errorf("writing the trace for the peer tool: %w", err)
	}
	return path, nil
}

// parseRate is a rate string's value per second (packets or bits).
func parseRate(s string) (float64, error) {
	r, err := units.ParseRate(s)
	if err != nil {
		return 0, err
	}
	return r.PerSecond, nil
}
