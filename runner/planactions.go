package runner

import (
	"slices"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// moreActions lists what a run makes the system do beyond its settings
// and its wire set-up: the command lines of the tools it starts, the
// kernel modules it makes the kernel load, and the removal of namespaces
// that labruns which are gone left behind.
func moreActions(r Run) []kernel.Action {
	c := r.Config
	var a []kernel.Action
	if c.SenderKind() == "cyclictest" {
		ct, _ := cyclictestConfig(c)
		cmd := "cyclictest " + strings.Join(ct.Args("<temporary folder>/out.json"), " ")
		needs := ""
		if ct.Policy != "other" || ct.DMALatency {
			needs = "root"
		}
		a = append(a, kernel.Action{Setting: "command", Value: cmd, Scope: "child process", Needs: needs})
	}
	var ccs []string
	if c.Workload != nil && c.Workload.CC != "" {
		ccs = append(ccs, c.Workload.CC)
	}
	for _, kv := range c.Kernel.Sysctls {
		if kv[0] == "net.ipv4.tcp_congestion_control" && !slices.Contains(ccs, kv[1]) {
			ccs = append(ccs, kv[1])
		}
	}
	for _, cc := range ccs {
		if cc == "reno" || cc == "cubic" {
			continue // built into the kernel
		}
		a = append(a, kernel.Action{Setting: "module", Value: "tcp_" + cc + ", loaded by the kernel for congestion control " + cc + " unless it is loaded already; it stays loaded",
			Scope: "kernel", Needs: "root", Risk: "system (a module stays loaded)"})
	}
	if c.Wire() {
		a = append(a, kernel.Action{Setting: "netns", Value: "remove the lr-<pid>-* namespaces of labruns no longer running (before the first run)",
			Scope: "stale namespaces", Needs: "root"})
	}
	return a
}
