// Package provenance reads what a result depends on beyond the script:
// the kernel command line, the clocksource, each CPU's frequency governor
// and limits, a network interface's driver and firmware, the values of
// sysctl keys, and the path and version of the tools a run uses. It only
// reads; a value that cannot be read is recorded with the reason, so a
// manifest says what is unknown rather than failing the run.
package provenance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reader reads from a root folder: "/" on a host, a fake tree in tests.
// Commands (ethtool, a tool's --version) run only with Root "/", each
// bounded by Timeout.
type Reader struct {
	Root    string
	Timeout time.Duration
}

// Host reads this machine.
func Host() *Reader { return &Reader{Root: "/", Timeout: 5 * time.Second} }

func (r *Reader) path(p string) string { return filepath.Join(r.Root, filepath.FromSlash(p)) }

func (r *Reader) read(p string) (string, error) {
	data, err := os.ReadFile(r.path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// KernelCmdline is /proc/cmdline.
func (r *Reader) KernelCmdline() (string, error) { return r.read("proc/cmdline") }

// Clocksource is the kernel's current clocksource and the ones it offers.
type Clocksource struct {
	Current   string   `json:"current"`
	Available []string `json:"available,omitempty"`
}

const clockDir = "sys/devices/system/clocksource/clocksource0"

// Clocksource reads the current and available clocksources.
func (r *Reader) Clocksource() (Clocksource, error) {
	cur, err := r.read(clockDir + "/current_clocksource")
	if err != nil {
		return Clocksource{}, err
	}
	avail, _ := r.read(clockDir + "/available_clocksource")
	return Clocksource{Current: cur, Available: strings.Fields(avail)}, nil
}

// CPUFreq is one CPU's cpufreq state; frequencies in kHz, 0 when unknown.
type CPUFreq struct {
	CPU      int    `json:"cpu"`
	Driver   string `json:"driver,omitempty"`
	Governor string `json:"governor,omitempty"`
	MinKHz   int64  `json:"min_khz,omitempty"`    // scaling_min_freq: the limit set
	MaxKHz   int64  `json:"max_khz,omitempty"`    // scaling_max_freq
	HWMinKHz int64  `json:"hw_min_khz,omitempty"` // cpuinfo_min_freq: what the CPU can do
	HWMaxKHz int64  `json:"hw_max_khz,omitempty"` // cpuinfo_max_freq
}

var cpuRE = regexp.MustCompile(`^cpu([0-9]+)$`)

// CPUFreqs reads the cpufreq state of every CPU that has one, by CPU
// number; none (a VM, a kernel without cpufreq) is an empty list.
func (r *Reader) CPUFreqs() ([]CPUFreq, error) {
	ents, err := os.ReadDir(r.path("sys/devices/system/cpu"))
	if err != nil {
		return nil, err
	}
	out := []CPUFreq{}
	for _, e := range ents {
		m := cpuRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		dir := "sys/devices/system/cpu/" + e.Name() + "/cpufreq/"
		if _, err := os.Stat(r.path(dir)); err != nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		c := CPUFreq{CPU: n}
		c.Driver, _ = r.read(dir + "scaling_driver")
		c.Governor, _ = r.read(dir + "scaling_governor")
		c.MinKHz, c.MaxKHz = r.khz(dir+"scaling_min_freq"), r.khz(dir+"scaling_max_freq")
		c.HWMinKHz, c.HWMaxKHz = r.khz(dir+"cpuinfo_min_freq"), r.khz(dir+"cpuinfo_max_freq")
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CPU < out[j].CPU })
	return out, nil
}

func (r *Reader) khz(p string) int64 {
	s, err := r.read(p)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

// Sysctl is a key's value, or why it could not be read.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	Err   string `json:"error,omitempty"`
}

var sysctlRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Sysctls reads each key (net.core.rmem_max) from /proc/sys, in order.
// A malformed key is an error; a key that cannot be read is recorded.
func (r *Reader) Sysctls(keys []string) ([]Sysctl, error) {
	out := make([]Sysctl, 0, len(keys))
	for _, k := range keys {
		if !sysctlRE.MatchString(k) {
			return nil, fmt.Errorf("bad sysctl key %q; accepted: dotted names such as net.core.rmem_max", k)
		}
		s := Sysctl{Key: k}
		v, err := r.read("proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		if err != nil {
			s.Err = err.Error()
		} else {
			s.Value = strings.Join(strings.Fields(v), " ")
		}
		out = append(out, s)
	}
	return out, nil
}
