package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/units"
)

// CaptureFile is a capture a script names: resolved inside the repository
// root and hashed, so the run ID changes when the file does.
type CaptureFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Abs    string `json:"-"`
}

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
	if g, ok := a["generate"].(*Spec); ok && g.Kind != "trace.synthetic" {
		return fmt.Errorf("generate takes a trace.synthetic(...), got %s", g.Kind)
	}
	if p, ok := a["path"].(starlark.String); ok {
		cf, err := h.captureFile(thread, string(p))
		if err != nil {
			return err
		}
		s.Captures = map[string]*CaptureFile{"path": cf}
	}
	return nil
}

// captureFile resolves and hashes a capture named by a script.
func (h *Host) captureFile(thread *starlark.Thread, name string) (*CaptureFile, error) {
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
	cf := &CaptureFile{Path: display, SHA256: hex.EncodeToString(sum.Sum(nil)), Abs: key}
	h.sources = append(h.sources, Source{Name: display, Path: key, SHA256: cf.SHA256})
	return cf, nil
}
