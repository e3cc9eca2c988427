package script

import (
	"fmt"
	"strings"

	"github.com/labrun/labrun/runner/plan"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// specBuiltin makes a builtin that validates its arguments against sig and
// returns a Spec. labelOf computes the Spec's display label.
func (h *Host) specBuiltin(sig signature, labelOf func(a starlark.StringDict) string) *starlark.Builtin {
	return h.specBuiltinPost(sig, labelOf, nil)
}

// specBuiltinPost is specBuiltin with a check of the whole call (argument
// combinations, data files) after each argument passed its own.
func (h *Host) specBuiltinPost(sig signature, labelOf func(a starlark.StringDict) string, post func(thread *starlark.Thread, s *Spec) error) *starlark.Builtin {
	return starlark.NewBuiltin(sig.fn, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		a, err := sig.unpack(h, args, kwargs)
		if err != nil {
			return nil, err
		}
		s := &Spec{Kind: sig.fn, Args: a, Order: sig.names(), Pos: callerPos(thread)}
		if post != nil {
			if err := post(thread, s); err != nil {
				return nil, fmt.Errorf("%s: %w", sig.fn, err)
			}
		}
		if labelOf != nil {
			s.Label = labelOf(a)
		} else {
			s.Label = s.name()
		}
		return s, nil
	})
}

// domain is a module of builtins (timer, trace, ...) that answers an
// unknown name with the nearest one and the names it has.
type domain struct{ *starlarkstruct.Module }

func (d domain) Attr(name string) (starlark.Value, error) {
	if v, ok := d.Members[name]; ok {
		return v, nil
	}
	hint := ""
	if n := plan.Nearest(name, d.AttrNames()); n != "" {
		hint = fmt.Sprintf(" (did you mean %s.%s?)", d.Name, n)
	}
	return nil, fmt.Errorf("%s has no .%s field or method%s; %s has: %s", d.Name, name, hint, d.Name, plan.QuoteList(d.AttrNames()))
}

func newModule(name string, builtins ...*starlark.Builtin) *starlarkstruct.Module {
	m := &starlarkstruct.Module{Name: name, Members: starlark.StringDict{}}
	for _, b := range builtins {
		m.Members[strings.TrimPrefix(b.Name(), name+".")] = b
	}
	return m
}

// argLabel shows a spec's arguments compactly for its label: tick(10ms).
func argLabel(name string, a starlark.StringDict, keys ...string) string {
	var parts []string
	for _, k := range keys {
		v := a[k]
		if v == nil || v == starlark.None {
			continue
		}
		if len(keys) == 1 {
			parts = append(parts, label(v))
		} else {
			parts = append(parts, k+"="+label(v))
		}
	}
	if len(parts) == 0 {
		return name
	}
	return fmt.Sprintf("%s(%s)", name, strings.Join(parts, ","))
}

// MaxPackets bounds a synthetic trace: the run records 16 bytes per packet
// in memory (scheduled and actual time), 1.6 GB at this bound.
const MaxPackets = 100_000_000

// The trace domain: where packets and their schedule come from.
func (h *Host) traceModule() *starlarkstruct.Module {
	return newModule("trace",
		h.specBuiltinPost(signature{fn: "trace.synthetic", args: []arg{
			{name: "count", kind: kInt(1, MaxPackets), sweep: true},
			{name: "interval", kind: kDuration, sweep: true},
			{name: "frame", kind: kSize, def: starlark.String("64B"), sweep: true},
			{name: "duration", kind: kDuration, sweep: true},
			{name: "poisson", kind: kBool, sweep: true},
			{name: "gaps", kind: kString},
			{name: "sizes", kind: kString},
			{name: "rate", kind: kRate, sweep: true},
			{name: "layer", kind: kEnum("l2", "l1")},
			{name: "flows", kind: kInt(1, 4096), sweep: true},
		}}, func(a starlark.StringDict) string { return "synthetic" }, h.checkSynthetic),
		h.specBuiltinPost(signature{fn: "trace.pcap", positional: 1, args: []arg{
			{name: "path", kind: kString},
			{name: "generate", kind: kSpec("trace", `trace.synthetic(count = 1000000, interval = "20us")`)},
			{name: "reader", kind: kEnum("mmap", "buffered"), sweep: true},
			{name: "window", kind: kSize, sweep: true},
			{name: "lenient", kind: kBool},
			{name: "speed", kind: kindFunc(checkSpeed), sweep: true},
			{name: "rate", kind: kRate, sweep: true},
			{name: "layer", kind: kEnum("l2", "l1")},
			{name: "topspeed", kind: kBool, sweep: true},
			{name: "loop", kind: kInt(1, 1_000_000), sweep: true},
			{name: "max_gap", kind: kDuration, sweep: true},
			{name: "zero_payload", kind: kBool, sweep: true},
			{name: "rewrite", kind: kString},
			{name: "snaplen", kind: kSize},
			{name: "cold_cache", kind: kBool, sweep: true},
			{name: "read_latency", kind: kBool},
		}}, func(a starlark.StringDict) string { return "pcap" }, h.checkPcap),
	)
}

// The timer domain: how the sender waits for a due time.
func (h *Host) timerModule() *starlarkstruct.Module {
	return newModule("timer",
		h.specBuiltin(signature{fn: "timer.busy"}, nil),
		h.specBuiltin(signature{fn: "timer.sleep"}, nil),
		h.specBuiltin(signature{fn: "timer.firm", args: []arg{
			{name: "margin", kind: kDuration, sweep: true},
			{name: "max_margin", kind: kDuration, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("firm", a, "margin", "max_margin") }),
		h.specBuiltin(signature{fn: "timer.timerfd"}, nil),
		h.specBuiltin(signature{fn: "timer.tick", positional: 1, args: []arg{
			{name: "period", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("tick", a, "period") }),
	)
}

// The sink domain: where packets go.
func (h *Host) sinkModule() *starlarkstruct.Module {
	return newModule("sink",
		h.specBuiltin(signature{fn: "sink.null"}, nil),
		h.specBuiltin(signature{fn: "sink.pcap", args: []arg{
			{name: "snaplen", kind: kSize, def: starlark.String("0B")},
		}}, nil),
		h.specBuiltinPost(signature{fn: "sink.afpacket", args: []arg{
			{name: "mode", kind: kEnum("sendto", "sendmmsg", "ring"), def: starlark.String("sendto"), sweep: true},
			{name: "batch", kind: kInt(1, maxBatch), def: starlark.MakeInt(1), sweep: true},
			{name: "qdisc_bypass", kind: kBool, sweep: true},
		}}, func(a starlark.StringDict) string {
			l := str(a, "mode")
			if b := intOf(a["batch"]); b > 1 {
				l += fmt.Sprintf("/%d", b)
			}
			return l
		}, func(_ *starlark.Thread, s *Spec) error {
			if str(s.Args, "mode") == "sendto" && intOf(s.Args["batch"]) > 1 {
				return fmt.Errorf("mode = \"sendto\" sends one frame per call; batch goes with \"sendmmsg\" or \"ring\"")
			}
			return nil
		}),
		h.specBuiltin(signature{fn: "sink.udp", args: []arg{
			{name: "batch", kind: kInt(1, maxBatch), def: starlark.MakeInt(1), sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("udp", a, "batch") }),
	)
}

// The kernel domain: per-run settings, each applied or reported skipped.
func (h *Host) kernelModule() *starlarkstruct.Module {
	return newModule("kernel",
		h.specBuiltin(signature{fn: "kernel.settings", args: []arg{
			{name: "sched", kind: kEnum("other", "fifo", "rr"), sweep: true},
			{name: "priority", kind: kInt(0, 99), sweep: true},
			{name: "cpu", kind: kOneOrList(kInt(0, 1023)), sweep: true},
			{name: "mlock", kind: kBool, sweep: true},
			{name: "timer_slack", kind: kDuration, sweep: true},
			{name: "dma_latency", kind: kDuration, sweep: true},
			{name: "sysctls", kind: kindFunc(checkSysctls), sweep: true},
			{name: "rt_runtime", kind: kInt(-1, 1_000_000), sweep: true},
			{name: "governor", kind: kString, sweep: true},
			{name: "required", kind: kOneOrList(kRequired)},
		}}, func(a starlark.StringDict) string { return argLabel("kernel", a, "sched", "priority") }),
	)
}

// checkSysctls accepts {"net.core.rmem_max": "8388608", ...}: dotted keys,
// values as strings or ints.
func checkSysctls(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from sysctl name to value, e.g. {\"net.core.rmem_max\": \"8388608\"}", v.Type())
	}
	for _, kv := range d.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok || !validSysctl(string(k)) {
			return fmt.Errorf("key %s: want a dotted sysctl name such as \"net.core.rmem_max\" (letters, digits, '_', '-', '.')", kv[0].String())
		}
		switch x := kv[1].(type) {
		case starlark.String:
			if x == "" || strings.ContainsAny(string(x), "\n") {
				return fmt.Errorf("%s: value %s: want one non-empty line", k, x.String())
			}
		case starlark.Int:
		default:
			return fmt.Errorf("%s: value %s: want a string or an int", k, kv[1].String())
		}
	}
	return nil
}

func validSysctl(k string) bool {
	if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
