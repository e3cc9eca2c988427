package provenance

import "fmt"

// Snapshot is everything Collect read, for a manifest.
type Snapshot struct {
	KernelCmdline string       `json:"kernel_cmdline,omitempty"`
	Clocksource   *Clocksource `json:"clocksource,omitempty"`
	CPUs          []CPUFreq    `json:"cpufreq,omitempty"`
	NICs          []NIC        `json:"interfaces,omitempty"`
	Sysctls       []Sysctl     `json:"sysctls,omitempty"`
	Tools         []Tool       `json:"tools,omitempty"`
	Unknown       []string     `json:"unknown,omitempty"` // what could not be read, and why
}

// Collect reads the host's state, the named interfaces, sysctl keys and
// tools. Only malformed names are errors; anything unreadable is listed
// in Unknown.
func (r *Reader) Collect(ifaces, sysctls, tools []string) (Snapshot, error) {
	var s Snapshot
	note := func(what string, err error) {
		s.Unknown = append(s.Unknown, fmt.Sprintf("%s: %v", what, err))
	}
	var err error
	if s.KernelCmdline, err = r.KernelCmdline(); err != nil {
		note("kernel command line", err)
	}
	if cs, err := r.Clocksource(); err != nil {
		note("clocksource", err)
	} else {
		s.Clocksource = &cs
	}
	if s.CPUs, err = r.CPUFreqs(); err != nil {
		note("cpufreq", err)
	}
	for _, name := range ifaces {
		n, err := r.NIC(name)
		if err != nil {
			return s, err
		}
		s.NICs = append(s.NICs, n)
	}
	if s.Sysctls, err = r.Sysctls(sysctls); err != nil {
		return s, err
	}
	for _, name := range tools {
		t, err := r.Tool(name)
		if err != nil {
			t.Err = err.Error()
		}
		s.Tools = append(s.Tools, t)
	}
	return s, nil
}
