package script

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

func checkSpeed(v starlark.Value) error {
	f, ok := starlark.AsFloat(v)
	if _, isBool := v.(starlark.Bool); !ok || isBool || f <= 0 || f > 1e6 {
		return fmt.Errorf("got %s, want a number > 0 (a multiplier of the trace's pace: 2 = twice as fast)", v.String())
	}
	return nil
}

// checkPcap checks trace.pcap's argument combinations and hashes the file.
func (h *Host) checkPcap(thread *starlark.Thread, s *Spec) error {
	a := s.Args
	hasPath, hasGen := a["path"] != starlark.None, a["generate"] != starlark.None
	if hasPath == hasGen {
		return fmt.Errorf("give a capture path or generate = trace.synthetic(...), not both or neither")
	}
	pacing := 0
	for _, k := range []string{"speed", "rate", "topspeed"} {
		if v := a[k]; v != starlark.None && v != starlark.False {
			pacing++
		}
	}
	if pacing > 1 {
		return fmt.Errorf("speed, rate and topspeed each set the pace: give one")
	}
	if a["layer"] != starlark.None && a["rate"] == starlark.None {
		return fmt.Errorf("layer says what a bit rate counts; it needs rate")
	}
	if r, ok := a["rate"].(starlark.String); ok {
		if _, err := units.ParseRate(string(r)); err != nil {
			return err
		}
	}
	if rw, ok := a["rewrite"].(starlark.String); ok {
		if _, err := frame.ParseRewrite(string(rw)); err != nil {
			return fmt.Errorf("rewrite: %w", err)
		}
	}
	if g, ok := a["max_gap"].(starlark.String); ok {
		if d, err := units.ParseDuration(string(g)); err == nil && d == 0 {
			return fmt.Errorf("max_gap: got %q, want a duration > 0 such as \"1s\" (a gap of 0 sends every packet at once: that is topspeed = True)", string(g))
		}
	}
	if g, ok := a["generate"].(*Spec); ok && g.Kind != "trace.synthetic" {
		return fmt.Errorf("generate takes a trace.synthetic(...), got %s", g.Kind)
	}
	if p, ok := a["path"].(starlark.String); ok {
		cf, err := h.captureFile(thread, string(p))
		if err != nil {
			return err
		}
		if err := scanCapture(cf, a); err != nil {
			return err
		}
		s.Captures = map[string]*plan.CaptureFile{"path": cf}
	}
	return nil
}

// scan reads the capture once, as the run's pre-pass does (the run reuses
// it: trace.CachedPrepass), so that a malformed or empty capture is
// refused before anything runs, with the error the run would give.
func scanCapture(cf *plan.CaptureFile, a starlark.StringDict) error {
	var rw *frame.Rewrite
	if r, ok := a["rewrite"].(starlark.String); ok {
		x, err := frame.ParseRewrite(string(r))
		if err != nil {
			return fmt.Errorf("rewrite: %w", err)
		}
		rw = &x
	}
	lenient := a["lenient"] == starlark.True
	// Zeroing is probed when a run may zero payloads: True, or a sweep.
	mayZero := a["zero_payload"] != starlark.None && a["zero_payload"] != starlark.False
	pp, err := trace.CachedPrepass(cf.SHA256, cf.Abs, trace.ReadOptions{Lenient: lenient}, rw, mayZero)
	var fe *trace.FormatError
	if errors.As(err, &fe) {
		named := *fe
		named.File = cf.Path
		hint := ""
		if fe.Record > 0 {
			hint = fmt.Sprintf("; lenient = True would replay the %d packets before it", fe.Record)
		}
		return fmt.Errorf("path: %w%s", &named, hint)
	}
	if err != nil {
		return fmt.Errorf("path: %s: %w", cf.Path, err)
	}
	zero := a["zero_payload"] == starlark.True
	_, err = pp.PlanReplay(trace.Timing{}, zero || rw != nil, zero)
	var ee *trace.EmptyError
	if errors.As(err, &ee) {
		ee.Path = cf.Path
		ee.Stats.Malformed = strings.ReplaceAll(ee.Stats.Malformed, cf.Abs, cf.Path)
		return fmt.Errorf("path: %w", ee)
	}
	cf.Prepass = pp
	return nil
}

// captureFile resolves and hashes a capture named by a script.
func (h *Host) captureFile(thread *starlark.Thread, name string) (*plan.CaptureFile, error) {
	key, display, err := h.scriptPath(thread, "path", name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(key)
	if err != nil {
		return nil, fmt.Errorf("path: %s: %w", display, unwrapPathErr(err))
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, fmt.Errorf("path: %s: %w", display, err)
	}
	cf := &plan.CaptureFile{Path: display, SHA256: hex.EncodeToString(sum.Sum(nil)), Abs: key}
	h.sources = append(h.sources, plan.Source{Name: display, Path: key, SHA256: cf.SHA256})
	return cf, nil
}
