// Package kernel applies per-run kernel settings and undoes them.
//
// Every setting ends in one of three states: applied, skipped (not
// permitted, or not present on this machine) or failed. A skipped setting
// is not an error unless the script marked it required. Undo restores the
// previous value; for thread settings the thread itself is also discarded
// after the run (the timed goroutine never unlocks its OS thread), so
// nothing can leak into the Go runtime's thread pool.
package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// State is the outcome of applying one setting.
type State string

// Setting outcomes.
const (
	Applied State = "applied"
	Skipped State = "skipped"
	Failed  State = "failed"
)

// Outcome records what happened to one setting.
type Outcome struct {
	Setting  string `json:"setting"`
	Value    string `json:"value"`
	State    State  `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Required bool   `json:"required,omitempty"`
}

// Settings are the kernel settings of one run. Zero values leave the
// system as it is.
type Settings struct {
	// Sched is the sending thread's policy: "", "other", "fifo" or "rr".
	Sched string
	// Priority is the real-time priority (1-99) for fifo and rr.
	Priority int
	// CPUs pins the sending thread to these CPUs.
	CPUs []int
	// Mlock locks the process's memory, current and future, each page
	// once it is touched (see mlockFlags).
	Mlock bool
	// TimerSlack sets the sending thread's timer slack; 0 leaves it.
	TimerSlack time.Duration
	// DMALatency, if HoldDMALatency, is held in /dev/cpu_dma_latency for
	// the run: the CPUs stay out of idle states slower to leave than this
	// (0: the idle loop polls instead of halting). System-wide.
	DMALatency     time.Duration
	HoldDMALatency bool
	// Required names settings ("sched", "cpu", "mlock", "timer_slack",
	// "dma_latency") whose skip must fail the run.
	Required []string
	// AllowSystem permits system-wide settings. It belongs to the
	// invocation (--allow-system), not to the run's configuration. The
	// DMA latency hold does not need it: the kernel drops it when labrun
	// exits, however it exits.
	AllowSystem bool
}

// DMALatencyPath is the PM QoS interface for CPU wake-up latency.
var DMALatencyPath = "/dev/cpu_dma_latency"

// requiredNames are the settings a script may mark required.
var requiredNames = []string{"sched", "cpu", "mlock", "timer_slack", "dma_latency"}

// Validate checks values before anything is applied.
func (s Settings) Validate() error {
	switch s.Sched {
	case "", "other":
		if s.Priority != 0 {
			return fmt.Errorf("priority %d needs sched = \"fifo\" or \"rr\"", s.Priority)
		}
	case "fifo", "rr":
		if s.Priority < 1 || s.Priority > 99 {
			return fmt.Errorf("priority must be 1-99 for sched = %q, got %d", s.Sched, s.Priority)
		}
	default:
		return fmt.Errorf("unknown sched %q (accepted: other, fifo, rr)", s.Sched)
	}
	for _, c := range s.CPUs {
		if c < 0 || c >= 1024 {
			return fmt.Errorf("cpu %d out of range", c)
		}
	}
	if s.DMALatency < 0 || s.DMALatency.Microseconds() > 1<<31-1 {
		return fmt.Errorf("dma_latency %v out of range [0us, 2147s]", s.DMALatency)
	}
	if s.TimerSlack < 0 {
		return fmt.Errorf("timer_slack must be >= 0")
	}
	for _, r := range s.Required {
		if !slices.Contains(requiredNames, r) {
			return fmt.Errorf("unknown required setting %q (accepted: %s)", r, strings.Join(requiredNames, ", "))
		}
	}
	return nil
}

// Action is a privileged or system-visible action a run will take, for
// `labrun plan`.
type Action struct {
	Setting string `json:"setting"`
	Value   string `json:"value"`
	Scope   string `json:"scope"`
	Needs   string `json:"needs,omitempty"`
	// Risk says how far and how long the action reaches (see RiskProcess).
	Risk string `json:"risk,omitempty"`
}

// Actions lists what Apply* would do, without doing it.
func (s Settings) Actions() []Action {
	var a []Action
	if s.Sched != "" {
		v := "SCHED_" + strings.ToUpper(s.Sched)
		needs := ""
		if s.Sched != "other" {
			v += " priority " + strconv.Itoa(s.Priority)
			needs = "root or CAP_SYS_NICE"
		}
		a = append(a, Action{"sched", v, "sending thread", needs, RiskProcess})
	}
	if len(s.CPUs) > 0 {
		a = append(a, Action{"cpu", cpuList(s.CPUs), "sending thread", "", RiskProcess})
	}
	if s.TimerSlack > 0 {
		a = append(a, Action{"timer_slack", s.TimerSlack.String(), "sending thread", "", RiskProcess})
	}
	if s.HoldDMALatency {
		a = append(a, Action{"dma_latency", fmt.Sprintf("%v held in %s", s.DMALatency, DMALatencyPath), "system", "root", RiskUntilExit})
	}
	if s.Mlock {
		a = append(a, Action{"mlock", "mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)", "labrun process", "root or a large RLIMIT_MEMLOCK", RiskProcess})
	}
	return a
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

func (s Settings) outcome(name, value string, err error, skipped func(error) string) Outcome {
	return outcomeOf(s.Required, name, value, err, skipped)
}

// outcomeOf is the outcome of a setting that err says how it went with:
// applied without an error, skipped when skipped(err) gives a reason,
// failed otherwise; required when named in required.
func outcomeOf(required []string, name, value string, err error, skipped func(error) string) Outcome {
	o := Outcome{Setting: name, Value: value, State: Applied, Required: slices.Contains(required, name)}
	if err != nil {
		if why := skipped(err); why != "" {
			o.State, o.Reason = Skipped, why
		} else {
			o.State, o.Reason = Failed, err.Error()
		}
	}
	return o
}

func notPermitted(hint string) func(error) string {
	return func(err error) string {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return "not permitted: " + hint
		}
		return ""
	}
}

// ApplyProcess applies process-wide and system-wide settings (mlock, the
// DMA latency hold). Undo reverts them.
func ApplyProcess(s Settings) (out []Outcome, undo func()) {
	var undos []func()
	undo = func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
	if s.HoldDMALatency {
		o, release := s.holdDMALatency()
		if release != nil {
			undos = append(undos, release)
		}
		out = append(out, o)
	}
	if s.Mlock {
		o := s.mlock()
		if o.State == Applied {
			undos = append(undos, func() { _ = unix.Munlockall() })
		}
		out = append(out, o)
	}
	return out, undo
}

// mlockFlags are mlockall's flags: every page of the process, mapped now
// or later, is locked once it is touched (MCL_ONFAULT). Without
// MCL_ONFAULT, mlockall makes every mapped page resident at once, and the
// Go runtime maps gigabytes it never touches (heap arenas and their
// metadata): a run would pin several GB and spend seconds faulting them
// in. What the timed loop uses is touched before it starts (engine/replay
// writes its per-packet arrays once, rings are mapped by the kernel), so
// it is resident and locked by then.
const mlockFlags = unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT

// mlockall is unix.Mlockall; tests replace it to play an older kernel.
var mlockall = unix.Mlockall

// mlock locks the process's memory with mlockFlags. A kernel older than
// 4.4 refuses MCL_ONFAULT (EINVAL); then every mapped page is locked and
// made resident now (current+future), and the outcome's value says so.
func (s Settings) mlock() Outcome {
	value := "current+future, on fault"
	err := mlockall(mlockFlags)
	if errors.Is(err, unix.EINVAL) {
		value = "current+future, all mapped pages now (this kernel has no MCL_ONFAULT, Linux < 4.4)"
		err = mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	}
	return s.outcome("mlock", value, err, func(err error) string {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOMEM) {
			return "not permitted: RLIMIT_MEMLOCK is too small; run as root or raise it (ulimit -l)"
		}
		return ""
	})
}

// holdDMALatency writes the latency (a 32-bit count of microseconds) to
// /dev/cpu_dma_latency and keeps the file open: the kernel honours the
// request while the file is open and drops it when it is closed, also when
// labrun is killed, so this setting cannot outlive the process.
func (s Settings) holdDMALatency() (Outcome, func()) {
	value := s.DMALatency.String()
	fd, err := unix.Open(DMALatencyPath, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(s.DMALatency.Microseconds()))
		if _, err = unix.Write(fd, b[:]); err != nil {
			unix.Close(fd)
		}
	}
	o := s.outcome("dma_latency", value, err, func(err error) string {
		if errors.Is(err, unix.ENOENT) {
			return "not present here: no " + DMALatencyPath
		}
		return notPermitted("writing " + DMALatencyPath + " needs root")(err)
	})
	if o.State != Applied {
		return o, nil
	}
	return o, func() { unix.Close(fd) }
}

// ApplyThread applies the settings of the calling OS thread; the caller
// must have called runtime.LockOSThread. Undo restores the old values.
func ApplyThread(s Settings) (out []Outcome, undo func()) {
	var undos []func()
	undo = func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
	if len(s.CPUs) > 0 {
		var old, set unix.CPUSet
		err := unix.SchedGetaffinity(0, &old)
		n := runtime.NumCPU()
		for _, c := range s.CPUs {
			if c >= n {
				err = fmt.Errorf("cpu %d not present: %w", c, errNotPresent)
			}
			set.Set(c)
		}
		if err == nil {
			err = unix.SchedSetaffinity(0, &set)
		}
		o := s.outcome("cpu", cpuList(s.CPUs), err, func(err error) string {
			if errors.Is(err, errNotPresent) {
				return fmt.Sprintf("not present here: this machine has CPUs 0-%d", n-1)
			}
			return notPermitted("cannot set CPU affinity")(err)
		})
		if o.State == Applied {
			undos = append(undos, func() { _ = unix.SchedSetaffinity(0, &old) })
		}
		out = append(out, o)
	}
	if s.Sched != "" {
		old, err := unix.SchedGetAttr(0, 0)
		// Recent kernels give a real-time thread timer slack 0 and, when it
		// leaves real time, the thread's default slack, not the one it had:
		// undo restores that too.
		oldSlack, slackErr := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err == nil {
			attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy(s.Sched), Priority: uint32(s.Priority)}
			err = unix.SchedSetAttr(0, &attr, 0)
		}
		v := s.Sched
		if s.Priority > 0 {
			v += " " + strconv.Itoa(s.Priority)
		}
		o := s.outcome("sched", v, err, notPermitted("real-time priority needs root or CAP_SYS_NICE"))
		if o.State == Applied {
			undos = append(undos, func() {
				_ = unix.SchedSetAttr(0, old, 0)
				if slackErr == nil {
					_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(oldSlack), 0, 0, 0)
				}
			})
		}
		out = append(out, o)
	}
	if s.TimerSlack > 0 {
		old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err == nil {
			err = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s.TimerSlack), 0, 0, 0)
		}
		o := s.outcome("timer_slack", s.TimerSlack.String(), err, notPermitted("cannot set timer slack"))
		if o.State == Applied {
			undos = append(undos, func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) })
		}
		out = append(out, o)
	}
	return out, undo
}

var errNotPresent = errors.New("not present")

func policy(s string) uint32 {
	switch s {
	case "fifo":
		return unix.SCHED_FIFO
	case "rr":
		return unix.SCHED_RR
	}
	return unix.SCHED_NORMAL
}

// CheckRequired returns an error naming every required setting that was
// not applied.
func CheckRequired(out []Outcome) error {
	var bad []string
	for _, o := range out {
		if o.Required && o.State != Applied {
			bad = append(bad, fmt.Sprintf("%s = %s was %s (%s)", o.Setting, o.Value, o.State, o.Reason))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("required kernel settings not applied: %s", strings.Join(bad, "; "))
	}
	return nil
}
