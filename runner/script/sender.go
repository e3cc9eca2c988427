package script

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// resolveSender converts a resolved sender.* value.
func resolveSender(s *Spec) (plan.SenderConfig, error) {
	sc := plan.SenderConfig{Kind: s.name(), Label: s.Label}
	switch s.name() {
	case "labrun":
		sc.Threads = 1
		switch t := s.Args["threads"].(type) {
		case starlark.String:
			sc.Threads = 0
		case starlark.Int:
			sc.Threads = int(intOf(t))
		}
		if c := s.Args["cpus"]; c != starlark.None {
			for _, v := range intList(c) {
				sc.CPUs = append(sc.CPUs, int(v))
			}
		}
		sc.Profile = profileEvery(s.Args["profile"])
	case "tcpreplay":
		sc.Timing, sc.Timer = str(s.Args, "timing"), str(s.Args, "timer")
		sc.Rate = str(s.Args, "rate")
		if f, ok := starlark.AsFloat(s.Args["multiplier"]); ok {
			sc.Multiplier = f
		}
		sc.Preload = s.Args["preload"] == starlark.True
	case "trafgen":
		sc.Procs = int(intArg(s, "cpus"))
		sc.QdiscBypass = s.Args["qdisc_bypass"] == starlark.True
	case "stall_probe":
		if c := s.Args["cpu"]; c != starlark.None {
			sc.CPUs = []int{int(intOf(c))}
		}
		sc.Threshold = durArg(s, "threshold")
	}
	return sc, nil
}

// maxBatch bounds sendmmsg batches and TX ring flushes.
const maxBatch = 4096

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
			{name: "profile", kind: kindFunc(checkProfile)},
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
		h.specBuiltin(signature{fn: "sender.stall_probe", args: []arg{
			{name: "cpu", kind: kInt(0, 1023), sweep: true},
			{name: "threshold", kind: kDuration, def: starlark.String("10us")},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, "stall probe") }),
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

// maxProfileEvery bounds profile = N: beyond it a run of 10^8 packets
// would keep fewer than 100 samples.
const maxProfileEvery = 1_000_000

// checkProfile accepts sender.labrun's profile: True (one packet in
// replay.DefaultProfileEvery), False, or N, every Nth packet.
func checkProfile(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.Bool:
		return nil
	case starlark.Int:
		if n, ok := x.Int64(); ok && n >= 1 && n <= maxProfileEvery {
			return nil
		}
	}
	return fmt.Errorf("%s: want True (one packet in %d), False, or N, every Nth packet (1..%d)", v.String(), replay.DefaultProfileEvery, maxProfileEvery)
}

// profileEvery is the sampling interval a checked profile value asks for
// (0: off).
func profileEvery(v starlark.Value) int {
	switch x := v.(type) {
	case starlark.Bool:
		if x {
			return replay.DefaultProfileEvery
		}
	case starlark.Int:
		return int(intOf(x))
	}
	return 0
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
	if n := profileEvery(a["profile"]); n > 0 {
		parts = append(parts, fmt.Sprintf("profile/%d", n))
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
