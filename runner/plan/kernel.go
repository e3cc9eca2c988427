package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// System converts the run's system-wide settings beyond dma_latency.
// required may name rt_runtime, governor, a key of sysctls, or sysctl (or
// sysctls) for every key.
func (k KernelConfig) System() kernel.SystemSettings {
	s := kernel.SystemSettings{RTRuntime: k.RTRuntime, Governor: k.Governor}
	for _, kv := range k.Sysctls {
		s.Sysctls = append(s.Sysctls, kernel.Sysctl{Key: kv[0], Value: kv[1]})
	}
	for _, r := range k.Required {
		switch {
		case r == "rt_runtime" && k.RTRuntime != nil, r == "governor" && k.Governor != "":
			s.Required = append(s.Required, r)
		case r == "sysctl" || r == "sysctls":
			for _, kv := range k.Sysctls {
				s.Required = append(s.Required, kv[0])
			}
		case k.SetsSysctl(r):
			s.Required = append(s.Required, r)
		}
	}
	return s
}

func (k KernelConfig) SetsSysctl(key string) bool {
	for _, kv := range k.Sysctls {
		if kv[0] == key {
			return true
		}
	}
	return false
}

// systemRequired reports whether r names a system-wide setting of k (see
// System).
func (k KernelConfig) SystemRequired(r string) bool {
	switch r {
	case "rt_runtime", "governor", "sysctl", "sysctls":
		return true
	}
	return k.SetsSysctl(r)
}

func (k KernelConfig) HasSystem() bool {
	return len(k.Sysctls) > 0 || k.RTRuntime != nil || k.Governor != ""
}

// sysctlUse is a dangerous sysctl a script sets, and where.
type SysctlUse struct {
	Key string
	Pos string // file:line:col of its kernel.settings
}

// CheckSysctls refuses the plan if it sets a dangerous sysctl (see
// kernel.Dangerous) that allowed (the keys of --allow-sysctl) does not
// name: the error names the script position, the key and the flag.
func (p *Plan) CheckSysctls(allowed []string) error {
	var msgs []string
	for _, u := range p.Dangerous {
		if !slices.Contains(allowed, u.Key) {
			msgs = append(msgs, fmt.Sprintf("%s: kernel.settings: %s", u.Pos, kernel.RefusedError(u.Key)))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &ScriptError{Msg: strings.Join(msgs, "\n")}
}

// markAllowed shows in the plan's actions which dangerous sysctls the
// command line allows.
func (p *Plan) MarkAllowed(allowed []string) {
	for i, a := range p.Actions {
		if strings.HasPrefix(a.Risk, "dangerous") && slices.Contains(allowed, a.Setting) {
			p.Actions[i].Risk = "dangerous: allowed by --allow-sysctl " + a.Setting
		}
	}
}

// requiredAccepted lists what kernel.settings(required = ...) may name.
const requiredAccepted = "sched, cpu, mlock, timer_slack, dma_latency, rt_runtime, governor, sysctl (every sysctl) or a key of sysctls"

// checkRequired checks that every name in required is a setting k sets.
func (k KernelConfig) CheckRequired() error {
	for _, r := range k.Required {
		set := (r == "sysctl" || r == "sysctls") && len(k.Sysctls) > 0 || r == "rt_runtime" && k.RTRuntime != nil ||
			r == "governor" && k.Governor != "" || k.SetsSysctl(r) || setsSetting(k.Settings(), r)
		switch {
		case set:
		case k.SystemRequired(r) || slices.Contains([]string{"sched", "cpu", "mlock", "timer_slack", "dma_latency"}, r):
			return fmt.Errorf("required = %q, but %s is not set", r, r)
		default:
			return fmt.Errorf("unknown required setting %q (accepted: %s)", r, requiredAccepted)
		}
	}
	return nil
}

func setsSetting(s kernel.Settings, name string) bool {
	for _, a := range s.Actions() {
		if a.Setting == name {
			return true
		}
	}
	return false
}
