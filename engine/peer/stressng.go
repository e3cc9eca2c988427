package peer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StressNG is one stress-ng invocation with the loads NetVCR used (a
// memory stressor on an N MiB buffer, a disk stressor on an N MiB file)
// and a CPU stressor with a duty cycle, bounded by Timeout.
type StressNG struct {
	CPU      int   // --cpu workers (0: none)
	CPULoad  int   // --cpu-load percent, 1-100 (0: 100)
	VM       int   // --vm workers
	VMBytes  int64 // --vm-bytes per worker (0: 128 MiB, the paper's)
	HDD      int   // --hdd workers
	HDDBytes int64 // --hdd-bytes per worker (0: 8 MiB, the paper's)
	// Timeout bounds the run (whole seconds); required.
	Timeout time.Duration
	// Dir is where the disk stressor's files go (--temp-path).
	Dir   string
	Extra []string
}

// Validate checks the invocation.
func (s StressNG) Validate() error {
	switch {
	case s.CPU < 0 || s.VM < 0 || s.HDD < 0 || s.CPU+s.VM+s.HDD == 0:
		return fmt.Errorf("stress-ng: give at least one of cpu, vm, hdd workers (>= 0)")
	case s.CPULoad < 0 || s.CPULoad > 100:
		return fmt.Errorf("stress-ng: cpu load %d%%: accepted 1-100", s.CPULoad)
	case s.VMBytes < 0 || s.HDDBytes < 0:
		return fmt.Errorf("stress-ng: sizes must be >= 0")
	case s.Timeout < time.Second || s.Timeout%time.Second != 0 || s.Timeout > time.Hour:
		return fmt.Errorf("stress-ng: timeout %v: whole seconds, 1s to 1h", s.Timeout)
	case s.HDD > 0 && s.Dir == "":
		return fmt.Errorf("stress-ng: the disk stressor needs a directory for its files")
	}
	return nil
}

// Args returns stress-ng's command line, writing its metrics as YAML to
// yamlPath.
func (s StressNG) Args(yamlPath string) []string {
	a := []string{"--timeout", strconv.FormatInt(int64(s.Timeout/time.Second), 10) + "s", "--metrics-brief", "--yaml", yamlPath}
	if s.CPU > 0 {
		a = append(a, "--cpu", strconv.Itoa(s.CPU))
		if s.CPULoad > 0 {
			a = append(a, "--cpu-load", strconv.Itoa(s.CPULoad))
		}
	}
	if s.VM > 0 {
		b := s.VMBytes
		if b == 0 {
			b = 128 << 20
		}
		a = append(a, "--vm", strconv.Itoa(s.VM), "--vm-bytes", strconv.FormatInt(b, 10))
	}
	if s.HDD > 0 {
		b := s.HDDBytes
		if b == 0 {
			b = 8 << 20
		}
		a = append(a, "--hdd", strconv.Itoa(s.HDD), "--hdd-bytes", strconv.FormatInt(b, 10))
	}
	if s.Dir != "" {
		a = append(a, "--temp-path", s.Dir)
	}
	return append(a, s.Extra...)
}

// StressMetric is one stressor's work as stress-ng reports it.
type StressMetric struct {
	Stressor   string
	BogoOps    float64
	OpsPerSec  float64 // bogo ops per second of real time
	WallS      float64
	CPUPercent float64 // per instance
}

// ParseStressNGYAML reads the metrics section of stress-ng's --yaml
// output (stress-ng 0.15).
func ParseStressNGYAML(b []byte) ([]StressMetric, error) {
	var out []StressMetric
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			in = strings.HasPrefix(line, "metrics:")
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if k == "stressor" {
			out = append(out, StressMetric{Stressor: v})
			continue
		}
		if len(out) == 0 {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		m := &out[len(out)-1]
		switch k {
		case "bogo-ops":
			m.BogoOps = f
		case "bogo-ops-per-second-real-time":
			m.OpsPerSec = f
		case "wall-clock-time":
			m.WallS = f
		case "cpu-usage-per-instance":
			m.CPUPercent = f
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("stress-ng: no metrics in its YAML output")
	}
	return out, nil
}

// RunStressNG starts stress-ng; Wait on the returned function for its
// metrics once it ends (at Timeout) or after ctx is cancelled (it is then
// stopped by PID).
func RunStressNG(ctx context.Context, s StressNG) (wait func() ([]StressMetric, error), err error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "labrun-stress-ng-")
	if err != nil {
		return nil, err
	}
	y := filepath.Join(dir, "metrics.yaml")
	var stderr strings.Builder
	p, err := Start(ctx, "stress-ng", s.Args(y), "", io.Discard, &stderr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return func() ([]StressMetric, error) {
		defer os.RemoveAll(dir)
		if !p.WaitFor(s.Timeout + 10*time.Second) {
			return nil, fmt.Errorf("stress-ng: still running 10 s after its timeout: stopped")
		}
		if err := p.Early(); err != nil {
			return nil, err
		}
		if code, err := p.Wait(); ctx.Err() == nil && (err != nil || code != 0) {
			return nil, fmt.Errorf("stress-ng: exit %d: %v: %s", code, err, tail(stderr.String()))
		}
		b, err := os.ReadFile(y)
		if err != nil {
			return nil, fmt.Errorf("stress-ng: no metrics: %w", err)
		}
		return ParseStressNGYAML(b)
	}, nil
}
