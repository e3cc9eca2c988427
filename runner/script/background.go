package script

import (
	"fmt"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/load"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// The background domain: loads that run beside the measured run, each in
// a child process of its own, started before it and ended with it.
// ("load" is a Starlark keyword, hence the name.)

var kCPUs = kOneOrList(kInt(0, 1023))

func loadArgs(extra ...arg) []arg {
	return append(extra,
		arg{name: "cpus", kind: kCPUs},
		arg{name: "nice", kind: kInt(-20, 19), def: starlark.MakeInt(0)},
		arg{name: "sched", kind: kEnum("other", "batch", "idle")},
		arg{name: "label", kind: kString},
	)
}

func (h *Host) backgroundModule() *starlarkstruct.Module {
	return newModule("background",
		h.specBuiltinPost(signature{fn: "background.cpu", args: loadArgs(
			arg{name: "duty", kind: kFloat(0.01, 1), def: starlark.Float(1)},
			arg{name: "threads", kind: kInt(1, 64), def: starlark.MakeInt(1)},
		)}, func(a starlark.StringDict) string {
			return labelOr(a, fmt.Sprintf("cpu %d%%", int(floatOf(a["duty"])*100+0.5)))
		}, checkLoad),
		h.specBuiltinPost(signature{fn: "background.vm", positional: 1, args: loadArgs(
			arg{name: "size", kind: kSize, def: starlark.String("128MiB")},
		)}, func(a starlark.StringDict) string { return labelOr(a, "vm "+label(a["size"])) }, checkLoad),
		h.specBuiltinPost(signature{fn: "background.hdd", positional: 1, args: loadArgs(
			arg{name: "size", kind: kSize, def: starlark.String("8MiB")},
		)}, func(a starlark.StringDict) string { return labelOr(a, "hdd "+label(a["size"])) }, checkLoad),
		h.specBuiltinPost(signature{fn: "background.udp", args: loadArgs(
			arg{name: "rate", kind: kRate, def: starlark.String("100kpps")},
			arg{name: "size", kind: kSize, def: starlark.String("64B")},
		)}, func(a starlark.StringDict) string { return labelOr(a, "udp "+label(a["rate"])) }, func(t *starlark.Thread, s *Spec) error {
			if err := checkUDPLoad(t, s); err != nil {
				return err
			}
			return checkLoad(t, s)
		}),
		h.specBuiltinPost(signature{fn: "background.timers", args: loadArgs(
			arg{name: "count", kind: kInt(1, 10000), def: starlark.MakeInt(100)},
			arg{name: "interval", kind: kDuration, def: starlark.String("100us")},
		)}, func(a starlark.StringDict) string {
			return labelOr(a, fmt.Sprintf("timers %d x %s", intOf(a["count"]), label(a["interval"])))
		}, checkLoad),
		h.specBuiltinPost(signature{fn: "background.stress_ng", args: []arg{
			{name: "cpu", kind: kInt(0, 64), def: starlark.MakeInt(0)},
			{name: "cpu_load", kind: kInt(1, 100), def: starlark.MakeInt(100)},
			{name: "vm", kind: kInt(0, 64), def: starlark.MakeInt(0)},
			{name: "vm_size", kind: kSize, def: starlark.String("128MiB")},
			{name: "hdd", kind: kInt(0, 64), def: starlark.MakeInt(0)},
			{name: "hdd_size", kind: kSize, def: starlark.String("8MiB")},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, "stress-ng") }, func(_ *starlark.Thread, s *Spec) error {
			if intArg(s, "cpu")+intArg(s, "vm")+intArg(s, "hdd") == 0 {
				return fmt.Errorf("give at least one of cpu, vm, hdd workers (e.g. vm = 1)")
			}
			return nil
		}),
	)
}

func floatOf(v starlark.Value) float64 {
	f, _ := starlark.AsFloat(v)
	return f
}

// maxUDPLoad bounds the loopback flood.
const maxUDPLoad = 1e6

func checkUDPLoad(_ *starlark.Thread, s *Spec) error {
	r, err := units.ParseRate(str(s.Args, "rate"))
	if err != nil {
		return err
	}
	if r.Kind != units.PacketsPerSecond || r.PerSecond <= 0 || r.PerSecond > maxUDPLoad {
		return fmt.Errorf("rate %s: give a packet rate above 0 and at most 1Mpps (the flood is bounded)", str(s.Args, "rate"))
	}
	return nil
}

// kBackground accepts a list of background.* values (possibly empty).
var kBackground = kList(kindFunc(func(v starlark.Value) error {
	if s, ok := v.(*Spec); ok && s.family() == "background" {
		return nil
	}
	return fmt.Errorf("got %s, want a background load such as background.vm(\"128MiB\")", v.Type())
}))

// checkLoad applies at plan time every limit the load engine checks when
// a run starts it (load.Spec.Validate): counts, sizes, rates.
func checkLoad(_ *starlark.Thread, s *Spec) error {
	c := loadConfig(s)
	e := load.Spec{Kind: c.Kind, CPUs: c.CPUs, Nice: c.Nice, Sched: c.Sched, Duration: time.Second, Duty: c.Duty, Threads: c.Threads,
		Bytes: c.Bytes, Rate: c.Rate, Size: c.Size, N: c.Count, Interval: time.Duration(c.Interval)}
	if err := e.Validate(); err != nil {
		// Name the builtin's arguments, not the engine's fields.
		msg := strings.NewReplacer("load "+c.Kind+": ", "", "n/interval", "count/interval", "n must", "count must", "bytes must", "size must").Replace(err.Error())
		return fmt.Errorf("%s", strings.ReplaceAll(msg, "\n", "; "))
	}
	return nil
}

func resolveLoads(v starlark.Value) []plan.LoadConfig {
	l, ok := v.(starlark.Indexable)
	if !ok {
		return nil
	}
	var out []plan.LoadConfig
	for i := range l.Len() {
		out = append(out, loadConfig(l.Index(i).(*Spec)))
	}
	return out
}

// loadConfig resolves one background.* value.
func loadConfig(s *Spec) plan.LoadConfig {
	c := plan.LoadConfig{Kind: s.name(), Label: s.Label, Nice: int(intArg(s, "nice")), Sched: str(s.Args, "sched")}
	if cp := s.Args["cpus"]; cp != nil && cp != starlark.None {
		for _, x := range intList(cp) {
			c.CPUs = append(c.CPUs, int(x))
		}
	}
	switch c.Kind {
	case "cpu":
		c.Duty, c.Threads = floatOf(s.Args["duty"]), int(intArg(s, "threads"))
	case "vm", "hdd":
		c.Bytes = int64(sizeArg(s, "size"))
	case "udp":
		r, _ := units.ParseRate(str(s.Args, "rate"))
		c.Rate, c.Size = r.PerSecond, int(sizeArg(s, "size"))
	case "timers":
		c.Count, c.Interval = int(intArg(s, "count")), durArg(s, "interval")
	case "stress_ng":
		c.CPU, c.CPULoad, c.VM, c.HDD = int(intArg(s, "cpu")), int(intArg(s, "cpu_load")), int(intArg(s, "vm")), int(intArg(s, "hdd"))
		c.VMBytes, c.HDDBytes = int64(sizeArg(s, "vm_size")), int64(sizeArg(s, "hdd_size"))
	}
	return c
}
