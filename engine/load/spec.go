// Package load runs background load generators in child processes, so that
// an experiment can measure timing under CPU, memory, file system, network
// or timer-interrupt pressure.
//
// Each generator is labrun itself, re-executed with a hidden first argument
// ("labrun __load KIND CONFIG", see ChildMain). The child runs in its own
// process group, is killed by the kernel when labrun dies (Pdeathsig, set
// up by package proc, which forks every child from a thread that lives as
// long as labrun; plus a check of its parent PID), ends by itself after
// Spec.Duration, and on SIGTERM writes one JSON line with what it achieved
// (Report) on its stdout.
package load

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Kinds of load.
const (
	KindCPU    = "cpu"    // spin with a duty cycle
	KindVM     = "vm"     // page-fault stress on an anonymous mapping
	KindHDD    = "hdd"    // write, fsync, drop from the page cache and read back a file
	KindUDP    = "udp"    // loopback UDP flood in a private network namespace
	KindTimers = "timers" // many periodic timerfds read in an epoll loop
)

var kinds = []string{KindCPU, KindVM, KindHDD, KindUDP, KindTimers}

// Limits and defaults. Every load is bounded in time, size and rate.
const (
	MaxDuration = time.Hour

	CPUPeriod  = 10 * time.Millisecond // a cpu load spins Duty of every period
	MaxThreads = 256

	DefaultVMBytes = 128 << 20
	MinVMBytes     = 64 << 10
	MaxVMBytes     = 64 << 30

	DefaultHDDBytes = 8 << 20
	MinHDDBytes     = 4 << 10
	MaxHDDBytes     = 16 << 30

	MaxUDPRate     = 1e6 // packets/s
	DefaultUDPSize = 64  // UDP payload bytes
	MaxUDPSize     = 65507

	DefaultTimers        = 100
	MaxTimers            = 4096
	DefaultTimerInterval = 100 * time.Microsecond
	MinTimerInterval     = 10 * time.Microsecond
	MaxTimerInterval     = time.Second
	MaxTimerRate         = 1e6 // expirations/s over all timers

	MaxCPU = 1023 // highest CPU number accepted in Spec.CPUs (the size of a cpu_set_t)
)

// Spec describes one load. The zero value of an optional field means its
// default; a field that belongs to another kind must be left zero.
type Spec struct {
	Kind     string        `json:"kind"`               // cpu, vm, hdd, udp or timers
	CPUs     []int         `json:"cpus,omitempty"`     // CPU affinity of all the child's threads; empty: any
	Nice     int           `json:"nice,omitempty"`     // -20..19; below 0 needs CAP_SYS_NICE
	Sched    string        `json:"sched,omitempty"`    // "" (unchanged), "other", "batch" or "idle"
	Duration time.Duration `json:"duration"`           // upper bound of the run, (0, 1h]; required
	Dir      string        `json:"dir,omitempty"`      // hdd: directory of the file; default os.TempDir()
	Duty     float64       `json:"duty,omitempty"`     // cpu: fraction of every 10 ms spent spinning, (0, 1]; required
	Threads  int           `json:"threads,omitempty"`  // cpu: spinning threads, 1..256; default 1
	Bytes    int64         `json:"bytes,omitempty"`    // vm: mapping size (default 128 MiB); hdd: file size (default 8 MiB)
	Rate     float64       `json:"rate,omitempty"`     // udp: packets/s, (0, 1e6]; required
	Size     int           `json:"size,omitempty"`     // udp: payload bytes, 1..65507; default 64
	N        int           `json:"n,omitempty"`        // timers: number of timerfds, 1..4096; default 100
	Interval time.Duration `json:"interval,omitempty"` // timers: period of each, 10us..1s; default 100us
}

// withDefaults returns s with the defaults of its kind filled in.
func (s Spec) withDefaults() Spec {
	switch s.Kind {
	case KindCPU:
		if s.Threads == 0 {
			s.Threads = 1
		}
	case KindVM:
		if s.Bytes == 0 {
			s.Bytes = DefaultVMBytes
		}
	case KindHDD:
		if s.Bytes == 0 {
			s.Bytes = DefaultHDDBytes
		}
	case KindUDP:
		if s.Size == 0 {
			s.Size = DefaultUDPSize
		}
	case KindTimers:
		if s.N == 0 {
			s.N = DefaultTimers
		}
		if s.Interval == 0 {
			s.Interval = DefaultTimerInterval
		}
	}
	return s
}

// Validate reports every problem with s, each naming the accepted range.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("load %s: "+format, append([]any{s.Kind}, a...)...))
	}
	known := false
	for _, k := range kinds {
		known = known || s.Kind == k
	}
	if !known {
		return fmt.Errorf("load: unknown kind %q; kinds: cpu, vm, hdd, udp, timers", s.Kind)
	}
	d := s.withDefaults()

	if s.Duration <= 0 || s.Duration > MaxDuration {
		bad("duration must be in (0, 1h], got %v", s.Duration)
	}
	if s.Nice < -20 || s.Nice > 19 {
		bad("nice must be in -20..19, got %d", s.Nice)
	}
	switch s.Sched {
	case "", "other", "batch", "idle":
	default:
		bad("sched must be \"other\", \"batch\" or \"idle\" (or empty to leave it), got %q", s.Sched)
	}
	seen := map[int]bool{}
	for _, c := range s.CPUs {
		if c < 0 || c > MaxCPU {
			bad("cpus: CPU %d out of range 0..%d", c, MaxCPU)
		} else if seen[c] {
			bad("cpus: CPU %d listed twice", c)
		}
		seen[c] = true
	}

	// Fields of other kinds must stay zero, so a misplaced one is not silently ignored.
	only := func(field string, set bool, kinds ...string) {
		if !set {
			return
		}
		for _, k := range kinds {
			if s.Kind == k {
				return
			}
		}
		bad("%s applies to %s loads only", field, joinOr(kinds))
	}
	only("dir", s.Dir != "", KindHDD)
	only("duty", s.Duty != 0, KindCPU)
	only("threads", s.Threads != 0, KindCPU)
	only("bytes", s.Bytes != 0, KindVM, KindHDD)
	only("rate", s.Rate != 0, KindUDP)
	only("size", s.Size != 0, KindUDP)
	only("n", s.N != 0, KindTimers)
	only("interval", s.Interval != 0, KindTimers)

	switch s.Kind {
	case KindCPU:
		if !(d.Duty > 0 && d.Duty <= 1) {
			bad("duty must be in (0, 1] (the fraction of every %v spent spinning), got %v", CPUPeriod, s.Duty)
		}
		if d.Threads < 1 || d.Threads > MaxThreads {
			bad("threads must be in 1..%d, got %d", MaxThreads, s.Threads)
		}
	case KindVM:
		if d.Bytes < MinVMBytes || d.Bytes > MaxVMBytes {
			bad("bytes must be in %s..%s, got %d", size(MinVMBytes), size(MaxVMBytes), s.Bytes)
		}
	case KindHDD:
		if d.Bytes < MinHDDBytes || d.Bytes > MaxHDDBytes {
			bad("bytes must be in %s..%s, got %d", size(MinHDDBytes), size(MaxHDDBytes), s.Bytes)
		}
	case KindUDP:
		if !(d.Rate > 0 && d.Rate <= MaxUDPRate) || math.IsNaN(d.Rate) {
			bad("rate must be in (0, %g] packets/s, got %v", float64(MaxUDPRate), s.Rate)
		}
		if d.Size < 1 || d.Size > MaxUDPSize {
			bad("size must be in 1..%d bytes, got %d", MaxUDPSize, s.Size)
		}
	case KindTimers:
		if d.N < 1 || d.N > MaxTimers {
			bad("n must be in 1..%d, got %d", MaxTimers, s.N)
		}
		if d.Interval < MinTimerInterval || d.Interval > MaxTimerInterval {
			bad("interval must be in %v..%v, got %v", MinTimerInterval, MaxTimerInterval, s.Interval)
		} else if r := float64(d.N) / d.Interval.Seconds(); d.N >= 1 && r > MaxTimerRate {
			bad("n/interval must be at most %g expirations/s, got %d timers every %v = %.0f/s", float64(MaxTimerRate), d.N, d.Interval, r)
		}
	}
	return errors.Join(errs...)
}

func joinOr(s []string) string {
	switch len(s) {
	case 1:
		return s[0]
	case 2:
		return s[0] + " and " + s[1]
	}
	return fmt.Sprint(s)
}

func size(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", b)
}
