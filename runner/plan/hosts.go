package plan

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// HostConfig places a role of a wire run on another machine, reached
// over SSH (host() in a script; docs/hosts.md).
type HostConfig struct {
	Role string `json:"role"` // "sender" or "receiver"
	// SSH is the ssh destination: host, user@host, or a Host of the
	// ssh config.
	SSH string `json:"ssh"`
	// Interface is the interface the role sends or receives on, there.
	Interface string `json:"interface"`
	// Sysctls are set on that host for the run, key and value, sorted by
	// key; like kernel.settings(sysctls = ...) they need --allow-system.
	Sysctls [][2]string `json:"sysctls,omitempty"`
	// Pos is where the script calls host() (file:line:col); not part of
	// the run's identity.
	Pos string `json:"-"`
}

// HostRoles are the roles host() may place.
var HostRoles = []string{"sender", "receiver"}

// Remote reports whether some role of the run is on another host.
func (c RunConfig) Remote() bool { return len(c.Hosts) > 0 }

// HostFor returns the host of a role, nil if it runs here.
func (c RunConfig) HostFor(role string) *HostConfig {
	for i := range c.Hosts {
		if c.Hosts[i].Role == role {
			return &c.Hosts[i]
		}
	}
	return nil
}

// hostScope names a host in the plan's actions.
func hostScope(h HostConfig) string { return "host " + h.Role + " (" + h.SSH + ")" }

// hostActions lists what a run with remote roles does on each host.
func hostActions(r Run) []kernel.Action {
	c := r.Config
	var a []kernel.Action
	for _, h := range c.Hosts {
		scope := hostScope(h)
		a = append(a, kernel.Action{Setting: "agent", Value: "labrun agent over ssh, copied to $TMPDIR/labrun-agent-<uid>/ if it differs", Scope: scope},
			kernel.Action{Setting: "clock", Value: "offset to this host, before and after the run", Scope: scope})
		for _, kv := range h.Sysctls {
			a = append(a, kernel.Action{Setting: "sysctl", Value: kv[0] + " = " + kv[1] + " (journal there)", Scope: scope, Needs: "root and --allow-system"})
		}
		switch h.Role {
		case "sender":
			a = append(a, kernel.Action{Setting: "send", Value: sinkLabel(c) + " on " + h.Interface, Scope: scope, Needs: "root"})
		case "receiver":
			a = append(a, kernel.Action{Setting: "receiver", Value: "AF_PACKET socket with receive timestamps on " + h.Interface, Scope: scope, Needs: "root"})
		}
	}
	return a
}

// HostsLine describes a run's hosts in one line: "sender user@a (eth1),
// receiver b (eth2)".
func HostsLine(hosts []HostConfig) string {
	var parts []string
	for _, h := range hosts {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", h.Role, h.SSH, h.Interface))
	}
	return strings.Join(parts, ", ")
}

// writeHosts lists the hosts the plan's runs use, and which runs.
func writeHosts(w io.Writer, p *Plan) {
	var lines []string
	runs := map[string][]int{}
	for _, r := range p.Runs {
		if !r.Config.Remote() {
			continue
		}
		l := HostsLine(r.Config.Hosts)
		if !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
		runs[l] = append(runs[l], r.Index+1)
	}
	for _, l := range lines {
		fmt.Fprintf(w, "hosts: %s: runs %s (see docs/hosts.md)\n", l, RunList(runs[l]))
	}
}

// CheckHostInterfaces refuses a plan that sends or receives on a host's
// interface the command line does not name: each entry of allowed is
// IFACE (that name on any host) or DEST:IFACE (on the host of ssh
// destination DEST). It is the hosts' half of the --interface opt-in of
// named interfaces (docs/devices.md); nil allowed refuses every host.
func (p *Plan) CheckHostInterfaces(allowed []string) error {
	var missing []string
	where := ""
	for _, r := range p.Runs {
		for _, h := range r.Config.Hosts {
			full := h.SSH + ":" + h.Interface
			if slices.Contains(allowed, h.Interface) || slices.Contains(allowed, full) || slices.Contains(missing, full) {
				continue
			}
			missing = append(missing, full)
			if where == "" && h.Pos != "" {
				where = h.Pos + ": "
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &ScriptError{Msg: where + fmt.Sprintf("the script sends or receives on interfaces of other hosts that the command line does not name: %s; name them with --interface %s (labrun only sends on an interface you name twice, in the script and on the command line)",
		strings.Join(missing, ", "), strings.Join(missing, ","))}
}
