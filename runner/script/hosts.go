package script

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/runner/plan"
)

// The hosts domain: host() places the sender or the receiver of a wire
// run on another machine, reached over SSH (docs/hosts.md).

const hostExample = `host("sender", ssh = "user@10.0.0.1", interface = "eth1")`

var hostSig = signature{fn: "host", positional: 1, args: []arg{
	{name: "role", kind: kEnum(plan.HostRoles...), required: true},
	{name: "ssh", kind: kindFunc(checkSSHTarget), required: true},
	{name: "interface", kind: kindFunc(checkIfname), required: true},
	{name: "sysctls", kind: kindFunc(checkSysctls)},
}}

func (h *Host) hostBuiltin() *starlark.Builtin {
	return h.specBuiltin(hostSig, func(a starlark.StringDict) string { return str(a, "role") + "@" + str(a, "ssh") })
}

// checkSSHTarget accepts an ssh destination: host, user@host, a Host of
// the ssh config, or ssh://user@host:port.
func checkSSHTarget(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s %s, want an ssh destination such as \"user@10.0.0.1\" or a Host of your ssh config", v.Type(), v.String())
	}
	switch {
	case s == "":
		return fmt.Errorf("empty: want an ssh destination such as \"user@10.0.0.1\" or a Host of your ssh config")
	case strings.HasPrefix(string(s), "-"):
		return fmt.Errorf("%s starts with '-': want an ssh destination such as \"user@10.0.0.1\", not an option", s.String())
	case strings.ContainsFunc(string(s), func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\'' || r == '"' }):
		return fmt.Errorf("%s: an ssh destination has no spaces, quotes or control characters", s.String())
	}
	return nil
}

// checkIfname accepts an interface name as Linux allows it.
func checkIfname(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s %s, want an interface name such as \"eth1\"", v.Type(), v.String())
	}
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsFunc(string(s), func(r rune) bool { return r <= ' ' || r == '/' || r == ':' || r > 0x7e }) {
		return fmt.Errorf("%s: want an interface name such as \"eth1\" (1 to 15 characters, no '/', ':' or spaces)", s.String())
	}
	return nil
}

// hosts resolves experiment(hosts = [...]) and checks that the run can
// be split that way.
func (r *runResolver) hosts() error {
	h, a, cfg := r.h, r.a, &r.cfg
	v := a["hosts"]
	if v == starlark.None {
		return nil
	}
	seq := v.(starlark.Indexable)
	seen := map[string]*Spec{}
	for i := range seq.Len() {
		s := seq.Index(i).(*Spec)
		role := str(s.Args, "role")
		if prev := seen[role]; prev != nil {
			return posError(s.Pos, "host: the %s is placed twice (also at %s): one host per role", role, prev.Pos)
		}
		seen[role] = s
		hc := plan.HostConfig{Role: role, SSH: str(s.Args, "ssh"), Interface: str(s.Args, "interface"), Pos: s.Pos.String()}
		if d, ok := s.Args["sysctls"].(*starlark.Dict); ok {
			for _, kv := range d.Items() {
				val := kv[1].String()
				if sv, ok := kv[1].(starlark.String); ok {
					val = string(sv)
				}
				hc.Sysctls = append(hc.Sysctls, [2]string{string(kv[0].(starlark.String)), val})
			}
			sort.Slice(hc.Sysctls, func(i, j int) bool { return hc.Sysctls[i][0] < hc.Sysctls[j][0] })
		}
		cfg.Hosts = append(cfg.Hosts, hc)
	}
	if len(cfg.Hosts) == 0 {
		return nil
	}
	sort.Slice(cfg.Hosts, func(i, j int) bool { return cfg.Hosts[i].Role > cfg.Hosts[j].Role }) // sender, receiver
	if err := checkRemoteRun(*cfg); err != nil {
		return posError(h.exp.pos, "experiment: hosts: %v", err)
	}
	return nil
}

// checkRemoteRun says what a run with remote roles cannot have yet.
func checkRemoteRun(c plan.RunConfig) error {
	switch {
	case c.HostFor("sender") == nil || c.HostFor("receiver") == nil:
		return fmt.Errorf("place both the sender and the receiver, e.g. [%s, host(\"receiver\", ssh = \"user@10.0.0.2\", interface = \"eth1\")]: a role left on this machine would need a named interface of its own", hostExample)
	case c.SenderKind() != "labrun":
		return fmt.Errorf("a remote sender is labrun's engine: drop sender = sender.%s", c.SenderKind())
	case !c.Wire() || !c.Sink.OnWire():
		return fmt.Errorf("the hosts send on a wire: give sink = sink.afpacket()")
	case c.Sink.Kind != "afpacket":
		return fmt.Errorf("a remote sender sends with sink.afpacket(), not %s", c.Sink.Kind)
	case c.Sender != nil && c.Sender.Threads != 1:
		return fmt.Errorf("a remote sender sends on one thread: sender.labrun(threads = 1)")
	case c.Trace.Kind != "synthetic":
		return fmt.Errorf("a remote sender replays trace.synthetic (its agent builds the frames there); a capture file is not copied to hosts")
	case c.Link != nil:
		return fmt.Errorf("an emulator between hosts is not supported yet: drop emulator =")
	case c.Topology.TBF > 0 || len(c.Topology.RPS) > 0 || c.Topology.Offloads:
		return fmt.Errorf("topology.veth's tbf, rps and offloads shape labrun's own veth pair, which a run between hosts does not have: drop them")
	case c.Receiver.Capture || c.Receiver.CPU != nil || c.Receiver.Fanout:
		return fmt.Errorf("a remote receiver takes neither capture, cpu nor fanout yet: drop them from receiver.afpacket()")
	}
	return nil
}
