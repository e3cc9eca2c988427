package kernel

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The risk of a setting says how far and how long it reaches beyond the
// run, and what permits it:
//
//   - process: the sending thread or the labrun process (sched, cpu,
//     timer_slack, mlock); ends with the process.
//   - until exit: system-wide, but held by an open file that the kernel
//     closes when labrun exits, however it exits (dma_latency): taken
//     without --allow-system.
//   - system: system-wide and outliving the process unless undone (a
//     sysctl of the list below, rt_runtime, governor): needs
//     --allow-system; restored after the run, or by `labrun recover` and
//     the next `labrun run` if labrun was killed.
//   - dangerous: any other sysctl. Some of them make the kernel run a
//     program as root (kernel.core_pattern, kernel.modprobe), weaken the
//     machine's protections (kernel.yama.*, kernel.unprivileged_*,
//     net.core.bpf_jit_*) or are not timing settings at all (fs.*):
//     each needs, beyond --allow-system, --allow-sysctl KEY naming it.
const (
	RiskProcess   = "process"
	RiskUntilExit = "until exit (kernel undoes it)"
	RiskSystem    = "system"
)

// systemSysctls are the sysctls that matter to timing and network
// experiments and cannot hand anyone a privilege: allowed with
// --allow-system alone. A * matches any part of a key.
var systemSysctls = []string{
	"net.core.*",
	"net.ipv4.tcp_*", "net.ipv4.udp_*", "net.ipv4.ip_local_port_range", "net.ipv4.ipfrag_*",
	"net.ipv4.ip_default_ttl", "net.ipv4.ip_no_pmtu_disc", "net.ipv4.neigh.*", "net.ipv4.route.*",
	"net.ipv4.conf.*.rp_filter",
	"net.ipv6.neigh.*", "net.ipv6.route.*", "net.ipv6.ip6frag_*", "net.ipv6.conf.*.disable_ipv6",
	"kernel.sched_*", "kernel.timer_migration", "kernel.printk_ratelimit", "kernel.printk_ratelimit_burst",
	"kernel.numa_balancing", "kernel.nmi_watchdog", "kernel.watchdog",
	"vm.swappiness", "vm.dirty_*", "vm.stat_interval", "vm.vfs_cache_pressure", "vm.zone_reclaim_mode",
}

// dangerousSysctls match keys of the patterns above that are dangerous
// all the same.
var dangerousSysctls = []string{"net.core.bpf_jit_*"}

// SystemSysctlPatterns lists the patterns of the sysctls allowed with
// --allow-system alone.
func SystemSysctlPatterns() []string { return slices.Clone(systemSysctls) }

func matchAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

// Dangerous reports whether the sysctl key needs --allow-sysctl KEY.
func Dangerous(key string) bool {
	return matchAny(dangerousSysctls, key) || !matchAny(systemSysctls, key)
}

// SysctlRisk is the risk of setting key, as `labrun plan` shows it.
func SysctlRisk(key string) string {
	if Dangerous(key) {
		return "dangerous: needs --allow-sysctl " + key
	}
	return RiskSystem
}

// Permit is what the command line allows: --allow-system, and the
// dangerous sysctls named by --allow-sysctl.
type Permit struct {
	System  bool
	Sysctls []string
}

// allows reports whether key may be set; reason says why not.
func (p Permit) allows(key string) (ok bool, reason string) {
	switch {
	case !p.System:
		return false, notAllowedText
	case Dangerous(key) && !slices.Contains(p.Sysctls, key):
		return false, "dangerous: needs --allow-sysctl " + key + " as well as --allow-system"
	}
	return true, ""
}

// RefusedSysctls lists the dangerous keys of s that allowed (the keys of
// --allow-sysctl) does not name.
func (s SystemSettings) RefusedSysctls(allowed []string) []string {
	var out []string
	for _, c := range s.Sysctls {
		if Dangerous(c.Key) && !slices.Contains(allowed, c.Key) {
			out = append(out, c.Key)
		}
	}
	return out
}

// RefusedError explains a dangerous sysctl that the command line did not
// allow.
func RefusedError(key string) string {
	return fmt.Sprintf("sysctl %s is outside the list labrun sets with --allow-system alone (%s): it needs --allow-sysctl %s on the command line as well",
		key, strings.Join(shortList(), ", "), key)
}

func shortList() []string {
	return []string{"net.core.*", "net.ipv4.tcp_*", "kernel.sched_*", "kernel.printk_ratelimit", "vm.swappiness", "vm.dirty_*", "...: see docs/starlark.md"}
}
