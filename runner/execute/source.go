package execute

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
	"github.com/labrun/labrun/runner/plan"
)

// buildSource makes the packet source of a run. A capture that plan read
// is not read again before the timed pass: its prepass is cached by
// content hash.
func buildSource(dir string, t plan.TraceConfig, runSeed uint64, expSeed int64) (trace.Source, error) {
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
	tm, err := t.Timing()
	if err != nil {
		return nil, err
	}
	o := trace.CaptureOptions{
		Read:              trace.ReadOptions{Reader: t.Reader, Window: int64(t.Window), Lenient: t.Lenient},
		Timing:            tm,
		RecordReadLatency: t.ReadLatency,
		ColdCache:         t.ColdCache,
	}
	if t.Transforms() {
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

// generated writes the capture a trace.pcap(generate = ...) describes into
// the invocation's traces/ folder, once: its name is the hash of its
// configuration and the experiment seed, and its content depends on
// nothing else, so the same script and seed give the same file.
func generated(dir string, g plan.TraceConfig, expSeed int64) (string, error) {
	enc, _ := json.Marshal(struct {
		Seed  int64
		Trace plan.TraceConfig
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
func tracePcap(dir string, t plan.TraceConfig, runSeed uint64, expSeed int64) (string, error) {
	if t.Kind == "pcap" {
		if t.Capture != nil {
			return t.Capture.Abs, nil
		}
		return generated(dir, *t.Generate, expSeed)
	}
	enc, _ := json.Marshal(struct {
		Seed  uint64
		Trace plan.TraceConfig
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
