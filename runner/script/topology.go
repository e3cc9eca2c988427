package script

import (
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
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
	)
}

// The receiver domain: what listens on the far side.
func (h *Host) receiverModule() *starlarkstruct.Module {
	return newModule("receiver",
		h.specBuiltin(signature{fn: "receiver.afpacket", args: []arg{
			{name: "capture", kind: kBool},
			{name: "drain", kind: kDuration, def: starlark.String("2s")},
			{name: "quiet", kind: kDuration, def: starlark.String("100ms")},
			{name: "cpu", kind: kInt(0, 1023)},
			{name: "probe", kind: kBool, def: starlark.True},
		}}, nil),
	)
}
