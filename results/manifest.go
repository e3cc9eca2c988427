package results

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Manifest records everything needed to repeat an invocation and to judge
// its numbers: versions, script hashes, parameters, seeds, the machine, the
// settings each run got, and how the invocation ended.
type Manifest struct {
	Labrun     BuildInfo `json:"labrun"`
	Command    []string  `json:"command"`
	Experiment string    `json:"experiment"`
	Script     string    `json:"script"`
	Sources    any       `json:"sources"`
	// Modules is the labrun.lock the script's loads were checked against.
	Modules any `json:"modules,omitempty"`
	// Provenance is the state of the host the runs depend on, read once
	// at the start (engine/provenance.Snapshot).
	Provenance any           `json:"provenance,omitempty"`
	Params     any           `json:"params"`
	Seed       int64         `json:"seed"`
	Machine    Machine       `json:"machine"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end,omitzero"`
	Status     string        `json:"status"` // running, ok, interrupted, failed
	Error      string        `json:"error,omitempty"`
	Runs       []ManifestRun `json:"runs"`
	// PlanHash is the full plan's hash (runner/shard.PlanHash of its run
	// IDs in plan order); the folder name's 8 hex digits are its start.
	PlanHash string `json:"plan_hash,omitempty"`
	// Shard ("K/N") and PlanRuns (the full plan's run IDs in plan order)
	// are set when the invocation ran one shard of the plan (labrun run
	// --shard): Runs then holds the shard's runs only.
	Shard    string   `json:"shard,omitempty"`
	PlanRuns []string `json:"plan_runs,omitempty"`
	// Merged is labrun merge's record of the folders a merged folder was
	// made of (results/merge writes it).
	Merged json.RawMessage `json:"merged,omitempty"`
}

// BuildInfo identifies the labrun binary.
type BuildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Go       string `json:"go"`
}

// ManifestRun is one run's record.
type ManifestRun struct {
	Index    int               `json:"index"`
	ID       string            `json:"id"`
	Seed     uint64            `json:"seed"`
	Params   map[string]string `json:"parameters"`
	Config   any               `json:"config"`
	Status   string            `json:"status"` // ok, interrupted, failed, skipped
	Error    string            `json:"error,omitempty"`
	Start    time.Time         `json:"start,omitzero"`
	End      time.Time         `json:"end,omitzero"`
	Settings any               `json:"settings,omitempty"`
	Timer    any               `json:"timer,omitempty"`
	Trace    any               `json:"trace,omitempty"`
	Series   string            `json:"series,omitempty"`
	Files    []string          `json:"files,omitempty"`
	// Hosts are the run's remote hosts: machine, kernel, clock state
	// and offset (docs/hosts.md).
	Hosts any `json:"hosts,omitempty"`
}

// Machine describes the host a run measured.
type Machine struct {
	Hostname    string `json:"hostname"`
	Kernel      string `json:"kernel"`
	Arch        string `json:"arch"`
	CPUModel    string `json:"cpu_model"`
	CPUs        int    `json:"cpus"`
	ClockSource string `json:"clock_source"`
	Preempt     string `json:"preempt,omitempty"`
	User        int    `json:"uid"`
	TimerSlack  int64  `json:"default_timer_slack_ns"`
}

// DescribeMachine reads the machine's facts from uname, /proc and /sys.
func DescribeMachine() Machine {
	m := Machine{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), User: os.Getuid()}
	m.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
		if v := unix.ByteSliceToString(u.Version[:]); strings.Contains(v, "PREEMPT_DYNAMIC") {
			m.Preempt = "dynamic"
		}
	}
	if b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource"); err == nil {
		m.ClockSource = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/sys/kernel/debug/sched/preempt"); err == nil {
		m.Preempt = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err == nil {
		m.TimerSlack = int64(v)
	}
	return m
}

// WriteManifest writes m as indented JSON, atomically. On a full disk it
// frees the folder's reserve (Reserve) and tries again, and as a last
// resort overwrites the manifest in place, so that an invocation can
// always say how it ended.
func WriteManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	err = WriteFileAtomic(path, b)
	if !errors.Is(err, errDiskFull) {
		return err
	}
	if ReleaseReserve(filepath.Dir(path)) {
		if err = WriteFileAtomic(path, b); !errors.Is(err, errDiskFull) {
			return err
		}
	}
	if ierr := writeInPlace(path, b); ierr != nil {
		return err
	}
	return nil
}

var errDiskFull error = syscall.ENOSPC

// writeInPlace overwrites path with b without a temporary file: the
// blocks the old content holds are reused. If b does not fit, the old
// content is put back, so the file stays valid JSON.
func writeInPlace(path string, b []byte) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.WriteAt(old, 0)
		f.Truncate(int64(len(old)))
		f.Sync()
		return err
	}
	return f.Close()
}

// reserveName is the reserve file of this process in a result folder. It
// has the form of a temporary name, so SweepTemps removes the reserve of
// a labrun that was killed.
func reserveName(dir string) string {
	return filepath.Join(dir, tempPrefix("manifest.json")+strconv.Itoa(os.Getpid())+"-reserve")
}

// Reserve sets size bytes aside in dir, for WriteManifest to use when the
// disk fills up. ReleaseReserve gives them back.
func Reserve(dir string, size int) error {
	path := reserveName(dir)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return writeErr(path, err)
	}
	_, err = f.Write(make([]byte, size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return writeErr(path, err)
	}
	return nil
}

// ReleaseReserve removes this process's reserve in dir, and reports
// whether there was one.
func ReleaseReserve(dir string) bool {
	return os.Remove(reserveName(dir)) == nil
}
