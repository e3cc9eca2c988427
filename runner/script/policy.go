package script

import (
	"fmt"

	"slices"
	"strings"

	"github.com/labrun/labrun/runner/plan"
	"go.starlark.net/starlark"
)

// noteDangerous remembers the dangerous sysctls of k, declared at pos.
func (h *Host) noteDangerous(k plan.KernelConfig, pos string) {
	for _, key := range k.System().RefusedSysctls(nil) {
		if !slices.ContainsFunc(h.dangerous, func(u plan.SysctlUse) bool { return u.Key == key }) {
			h.dangerous = append(h.dangerous, plan.SysctlUse{Key: key, Pos: pos})
		}
	}
}

// requiredNames are the settings kernel.settings(required = ...) names;
// a dotted sysctl key is accepted too.
var requiredNames = []string{"sched", "cpu", "mlock", "timer_slack", "dma_latency", "sysctl", "sysctls", "rt_runtime", "governor"}

// kRequired accepts one name of requiredNames or a sysctl key.
var kRequired = kindFunc(func(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok && strings.Contains(string(s), ".") && validSysctl(string(s)) {
		return nil
	}
	if err := kEnum(requiredNames...).check(v); err != nil {
		return fmt.Errorf("%w, or a key of sysctls", err)
	}
	return nil
})
