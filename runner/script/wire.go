package script

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/units"
)

// The wire domain: real packets on veth pairs inside labrun's own network
// namespaces, a receiver on the far side, and the established tools that
// send the same traffic for comparison.

// maxBatch bounds sendmmsg batches and TX ring flushes.
const maxBatch = 4096

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
		}}, nil),
	)
}

// The sender domain: who sends the trace. sender.labrun is labrun's own
// engine (the default); the others are established tools run on the same
// trace, veth and receiver.
func (h *Host) senderModule() *starlarkstruct.Module {
	return newModule("sender",
		h.specBuiltinPost(signature{fn: "sender.labrun", args: []arg{
			{name: "timer", kind: kSpec("timer", "timer.busy()"), sweep: true},
			{name: "sink", kind: kSpec("sink", `sink.afpacket(mode = "sendmmsg", batch = 64)`), sweep: true},
			{name: "threads", kind: kindFunc(checkThreads), sweep: true},
			{name: "cpus", kind: kOneOrList(kInt(0, 1023))},
			{name: "label", kind: kString},
		}}, labrunLabel, nil),
		h.specBuiltinPost(signature{fn: "sender.tcpreplay", args: []arg{
			{name: "timing", kind: kEnum("file", "topspeed", "pps", "mbps", "multiplier"), def: starlark.String("file"), sweep: true},
			{name: "rate", kind: kRate, sweep: true},
			{name: "multiplier", kind: kindFunc(checkSpeed), sweep: true},
			{name: "timer", kind: kEnum("gtod", "nano", "select", "ioport"), def: starlark.String("gtod"), sweep: true},
			{name: "preload", kind: kBool, def: starlark.True},
			{name: "label", kind: kString},
		}}, tcpreplayLabel, checkTcpreplay),
		h.specBuiltin(signature{fn: "sender.cyclictest", args: []arg{
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, "cyclictest") }),
		h.specBuiltinPost(signature{fn: "sender.trafgen", args: []arg{
			{name: "cpus", kind: kInt(1, 64), def: starlark.MakeInt(1), sweep: true},
			{name: "qdisc_bypass", kind: kBool, def: starlark.True},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string {
			if l, ok := a["label"].(starlark.String); ok {
				return string(l)
			}
			return fmt.Sprintf("trafgen(%s)", plural(int(intOf(a["cpus"])), "proc"))
		}, nil),
	)
}

func checkThreads(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		if s == "cpus" {
			return nil
		}
		return fmt.Errorf("%s: want a number of threads 1..64 or \"cpus\" (one per CPU)", s.String())
	}
	return kInt(1, 64).check(v)
}

func labrunLabel(a starlark.StringDict) string {
	if l, ok := a["label"].(starlark.String); ok {
		return string(l)
	}
	var parts []string
	if t, ok := a["timer"].(*Spec); ok {
		parts = append(parts, t.Label)
	}
	if s, ok := a["sink"].(*Spec); ok {
		parts = append(parts, s.Label)
	}
	switch t := a["threads"].(type) {
	case starlark.String:
		parts = append(parts, "thread per cpu")
	case starlark.Int:
		if n := intOf(t); n > 1 {
			parts = append(parts, plural(int(n), "thread"))
		}
	}
	if len(parts) == 0 {
		return "labrun"
	}
	return "labrun(" + strings.Join(parts, ",") + ")"
}

func tcpreplayLabel(a starlark.StringDict) string {
	if l, ok := a["label"].(starlark.String); ok {
		return string(l)
	}
	timing := string(a["timing"].(starlark.String))
	switch timing {
	case "file":
		return "tcpreplay(" + string(a["timer"].(starlark.String)) + ")"
	case "topspeed":
		return "tcpreplay(topspeed)"
	}
	return "tcpreplay(" + timing + "," + string(a["timer"].(starlark.String)) + ")"
}

func checkTcpreplay(_ *starlark.Thread, s *Spec) error {
	timing := str(s.Args, "timing")
	rate, hasRate := s.Args["rate"].(starlark.String)
	switch timing {
	case "pps", "mbps":
		if !hasRate {
			return fmt.Errorf("timing = %q needs rate (e.g. rate = \"10kpps\" or \"100Mbps\")", timing)
		}
		r, err := units.ParseRate(string(rate))
		if err != nil {
			return err
		}
		if (timing == "pps") != (r.Kind == units.PacketsPerSecond) {
			return fmt.Errorf("timing = %q with rate = %q: give a packet rate (pps) for \"pps\" and a bit rate (bps) for \"mbps\"", timing, rate)
		}
	case "multiplier":
		if s.Args["multiplier"] == starlark.None {
			return fmt.Errorf("timing = \"multiplier\" needs multiplier (e.g. multiplier = 2.0)")
		}
	default:
		if hasRate || s.Args["multiplier"] != starlark.None {
			return fmt.Errorf("rate and multiplier go with timing = \"pps\", \"mbps\" or \"multiplier\", not %q", timing)
		}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func intOf(v starlark.Value) int64 {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0
	}
	n, _ := i.Int64()
	return n
}
