package script

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// The wire domain: real packets on veth pairs inside labrun's own network
// namespaces, a receiver on the far side, and the established tools that
// send the same traffic for comparison (sender.go).

// The topology domain: the namespaces and veth pairs of a run.
func (h *Host) topologyModule() *starlarkstruct.Module {
	return newModule("topology",
		h.specBuiltin(signature{fn: "topology.veth", args: []arg{
			{name: "mtu", kind: kInt(68, 65535), def: starlark.MakeInt(1500), sweep: true},
			{name: "offloads", kind: kBool, sweep: true},
			{name: "emulator", kind: kBool},
			{name: "rps", kind: kOneOrList(kInt(0, 63))},
			{name: "tbf", kind: kRate, sweep: true},
			{name: "pairs", kind: kindFunc(checkPairs), sweep: true},
			{name: "queues", kind: kindFunc(checkQueues)},
		}}, func(a starlark.StringDict) string {
			l := vethLabel(a)
			if q := a["queues"]; q != starlark.None {
				l = strings.TrimSuffix(l, ")") + ", queues " + label(q) + ")"
			}
			return l
		}),
		h.specBuiltinPost(signature{fn: "topology.interfaces", args: []arg{
			{name: "tx", kind: kindFunc(checkIface), required: true},
			{name: "rx", kind: kindFunc(checkIface)},
			{name: "mtu", kind: kInt(68, 65535), def: starlark.MakeInt(1500)},
			{name: "dst_mac", kind: kindFunc(checkMAC)},
			{name: "src_mac", kind: kindFunc(checkMAC)},
			{name: "dst_ip", kind: kindFunc(checkIPv4)},
			{name: "src_ip", kind: kindFunc(checkIPv4)},
			{name: "timestamps", kind: kEnum("software", "hardware"), def: starlark.String("software")},
		}}, func(a starlark.StringDict) string {
			if rx, ok := a["rx"].(starlark.String); ok {
				return "interfaces(" + string(a["tx"].(starlark.String)) + " -> " + string(rx) + ")"
			}
			return "interfaces(" + string(a["tx"].(starlark.String)) + ")"
		}, checkInterfaces),
	)
}

// The interfaces of a device under test: existing interfaces the user
// names, used only with --interface on the command line as well (see
// runner/plan's CheckInterfaces).

func checkIface(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s, want an interface name: %s", v.Type(), topo.IfaceForms)
	}
	_, err := topo.ParseIface(string(s))
	return err
}

func checkMAC(v starlark.Value) error {
	s, ok := v.(starlark.String)
	// Six bytes separated by colons or hyphens (the forms the plan reads).
	if m, err := net.ParseMAC(string(s)); !ok || err != nil || len(m) != 6 || strings.ContainsRune(string(s), '.') {
		return fmt.Errorf("got %s, want an Ethernet address such as \"02:00:00:00:00:01\"", truncate(v.String()))
	}
	return nil
}

func checkIPv4(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if a, err := netip.ParseAddr(string(s)); !ok || err != nil || !a.Is4() {
		return fmt.Errorf("got %s, want an IPv4 address such as \"198.18.1.2\"", truncate(v.String()))
	}
	return nil
}

func checkInterfaces(_ *starlark.Thread, s *Spec) error {
	if s.Args["tx"] == s.Args["rx"] {
		return fmt.Errorf("tx and rx are both %s: name the port out and the port back (or give tx only, with the receiver elsewhere)", s.Args["tx"])
	}
	return nil
}

// resolveInterfaces fills cfg's topology from topology.interfaces: the
// named interfaces, and the addresses labrun's synthetic frames carry so
// that the device under test forwards them.
func resolveInterfaces(tp *Spec, cfg *plan.RunConfig) error {
	ic := &plan.IfacesConfig{Tx: str(tp.Args, "tx"), Rx: str(tp.Args, "rx"), Timestamps: str(tp.Args, "timestamps"), Pos: tp.Pos.String()}
	cfg.Topology = &plan.TopoConfig{MTU: int(intArg(tp, "mtu")), Interfaces: ic}
	ep := plan.EndpointsConfig{SrcMAC: str(tp.Args, "src_mac"), DstMAC: str(tp.Args, "dst_mac"), SrcIP: str(tp.Args, "src_ip"), DstIP: str(tp.Args, "dst_ip")}
	if ep != (plan.EndpointsConfig{}) {
		if cfg.Trace.Kind != "synthetic" {
			return posError(tp.Pos, "topology.interfaces: src_mac, dst_mac, src_ip and dst_ip address labrun's synthetic frames; a capture keeps its own: use trace.pcap(rewrite = \"dst-mac=...,dst-ip=...\")")
		}
		cfg.Trace.Endpoints = &ep
	}
	switch {
	case cfg.Link != nil:
		return posError(tp.Pos, "topology.interfaces: the device under test is the link: drop emulator =")
	case cfg.SenderKind() != "labrun":
		return posError(tp.Pos, "topology.interfaces: only labrun's own sender sends on a named interface; drop sender.%s", cfg.SenderKind())
	case cfg.Sink.Kind != "afpacket" && cfg.Sink.Kind != "afxdp":
		return posError(tp.Pos, "topology.interfaces: frames go on a named interface through sink.afpacket() or sink.afxdp(); sink.%s does not", cfg.Sink.Kind)
	}
	return nil
}

// The receiver domain: what listens on the far side.
func (h *Host) receiverModule() *starlarkstruct.Module {
	return newModule("receiver",
		h.specBuiltin(signature{fn: "receiver.afpacket", args: []arg{
			{name: "capture", kind: kBool},
			{name: "drain", kind: kDuration, def: starlark.String("2s")},
			{name: "quiet", kind: kDuration, def: starlark.String("100ms")},
			{name: "cpu", kind: kInt(0, 1023)},
			{name: "ring", kind: kindFunc(checkRing), sweep: true},
			{name: "probe", kind: kBool, def: starlark.False},
			{name: "fanout", kind: kBool, def: starlark.False, sweep: true},
		}}, receiverLabel),
	)
}

// maxPairs bounds topology.veth(pairs = N): pair k has 198.18.k.0/24
// (engine/topo's MaxPairs).
const maxPairs = 16

// checkQueues accepts a veth's number of queues, or "cpus".
func checkQueues(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		if s == "cpus" {
			return nil
		}
		return fmt.Errorf("%s: want a number of queues 1..%d or \"cpus\" (one per CPU)", s.String(), topo.MaxQueues)
	}
	return kInt(1, topo.MaxQueues).check(v)
}

// checkPairs accepts a number of veth pairs, one per port.
func checkPairs(v starlark.Value) error {
	var n int64
	exact := false
	if i, ok := v.(starlark.Int); ok {
		n, exact = i.Int64()
	}
	if !exact || n < 1 || n > maxPairs {
		return fmt.Errorf("got %s %s, want a number of veth pairs 1..%d (one port each, e.g. pairs = 4 or pairs = sweep.axis(\"ports\", [1, 2, 3, 4]))", v.Type(), v.String(), maxPairs)
	}
	return nil
}

// Receive ring bounds (engine/rx: RingBytes).
const (
	minRing = 1 << 20
	maxRing = 2 << 30
)

// checkRing accepts the size of the receiver's ring.
func checkRing(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s %s, want a size 1MiB..2GiB such as \"4MiB\"", v.Type(), v.String())
	}
	n, err := units.ParseSize(string(s))
	if err != nil {
		return fmt.Errorf("%s: %v; want a size 1MiB..2GiB such as \"4MiB\"", s.String(), err)
	}
	if n < minRing || n > maxRing {
		return fmt.Errorf("%s out of range: want a size 1MiB..2GiB such as \"4MiB\"", s.String())
	}
	return nil
}

// checkPorts checks what topology.veth(pairs = N) needs of the rest of
// the run: labrun's engine sending (one thread per port), no emulated
// link, and a trace with a flow for every port.
func (r *runResolver) checkPorts(tp *Spec) error {
	cfg, n := &r.cfg, r.cfg.Topology.Pairs
	if r.wirePeer {
		return posError(tp.Pos, "topology.veth: pairs = %d needs labrun's sender, one thread per port; %s sends on one interface: drop pairs or the sender", n, cfg.SenderKind())
	}
	if cfg.Link != nil {
		return posError(tp.Pos, "topology.veth: pairs = %d with an emulated link: the emulator forwards one pair; drop pairs or emulator", n)
	}
	if r.snd != nil && r.snd.name() == "labrun" {
		if t, ok := r.snd.Args["threads"]; ok && t != starlark.None {
			if i, isInt := t.(starlark.Int); !isInt || int(intOf(i)) != n {
				return posError(r.snd.Pos, "sender.labrun: threads = %s with topology.veth(pairs = %d): labrun sends with one thread per port; drop threads or give threads = %d", t.String(), n, n)
			}
		}
	}
	if cfg.Trace.Kind == "pcap" {
		return posError(tp.Pos, "topology.veth: pairs = %d takes a trace.synthetic: a capture's frames are known by their content, one table per receiver, which several ports do not have yet", n)
	}
	if t := cfg.Trace; t.Kind == "synthetic" && max(t.Flows, 1) < n {
		return posError(tp.Pos, "topology.veth: pairs = %d, but the trace has %s: each port sends the flows trace.FlowPart gives it, so give trace.synthetic(flows = ...) at least %d (a multiple of %d splits evenly)", n, plural(max(t.Flows, 1), "flow"), n, n)
	}
	return nil
}

// receiverLabel names a receiver by where it runs and its ring, when given.
func receiverLabel(a starlark.StringDict) string {
	var parts []string
	if c, ok := a["cpu"].(starlark.Int); ok {
		parts = append(parts, "cpu "+c.String())
	}
	if r, ok := a["ring"].(starlark.String); ok {
		parts = append(parts, "ring "+string(r))
	}
	if a["fanout"] == starlark.True {
		parts = append(parts, "ring per cpu")
	}
	if len(parts) == 0 {
		return "afpacket"
	}
	return "afpacket(" + strings.Join(parts, ", ") + ")"
}

// vethLabel names a topology.veth value by what sets it apart.
func vethLabel(a starlark.StringDict) string {
	if p, ok := a["pairs"].(starlark.Int); ok {
		l := plural(int(intOf(p)), "pair")
		if a["rps"] != starlark.None {
			l += ", rps " + label(a["rps"])
		}
		return "veth(" + l + ")"
	}
	if a["tbf"] != starlark.None {
		return "veth(tbf " + label(a["tbf"]) + ")"
	}
	if a["rps"] != starlark.None {
		return "veth(rps " + label(a["rps"]) + ")"
	}
	return argLabel("veth", a, "mtu")
}
