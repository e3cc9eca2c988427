package script

import (
	"fmt"
	"net"
	"net/netip"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/topo"
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
		}}, func(a starlark.StringDict) string {
			if a["tbf"] != starlark.None {
				return "veth(tbf " + label(a["tbf"]) + ")"
			}
			if a["rps"] != starlark.None {
				return "veth(rps " + label(a["rps"]) + ")"
			}
			return argLabel("veth", a, "mtu")
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
	if m, err := net.ParseMAC(string(s)); !ok || err != nil || len(m) != 6 {
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
	case cfg.Sink.Kind != "afpacket":
		return posError(tp.Pos, "topology.interfaces: frames go on a named interface through sink.afpacket(); sink.%s does not", cfg.Sink.Kind)
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
		}}, nil),
	)
}
