package peer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// stressReadyTimeout bounds the wait for stress-ng's first stressor.
const stressReadyTimeout = 10 * time.Second

// RunStressNG starts stress-ng and returns once its stressors run; call
// the returned function for its metrics once it ends (at Timeout) or
// after ctx is cancelled (it is then stopped by PID).
//
// stress-ng loses a SIGINT that comes while it sets itself up (it then
// runs to its timeout, or ends without metrics), so RunStressNG waits for
// its first stressor process before it returns: the run it loads starts
// under load, and stopping it later yields metrics.
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
	if err := waitChild(ctx, p, stressReadyTimeout); err != nil {
		p.Stop(2 * time.Second)
		os.RemoveAll(dir)
		if early := p.Early(); early != nil {
			err = early
		}
		return nil, fmt.Errorf("stress-ng: %w", err)
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

// waitChild polls until p has a child process, at most timeout; it fails
// when p ends first or ctx ends.
func waitChild(ctx context.Context, p *Proc, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if hasChild(p.PID()) {
			return nil
		}
		select {
		case <-p.done:
			return errors.New("ended before starting a stressor")
		case <-ctx.Done():
			return fmt.Errorf("waiting for its first stressor: %w", context.Cause(ctx))
		case <-t.C:
			return fmt.Errorf("no stressor process after %v", timeout)
		case <-tick.C:
		}
	}
}

// hasChild reports whether process pid has a child: its
// /proc/PID/task/PID/children, or (on a kernel without that file) a
// process in /proc whose parent it is.
func hasChild(pid int) bool {
	id := strconv.Itoa(pid)
	if b, err := os.ReadFile("/proc/" + id + "/task/" + id + "/children"); err == nil {
		return len(bytes.TrimSpace(b)) > 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == id {
				return true
			}
		}
	}
	return false
}
