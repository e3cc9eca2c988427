package script

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

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
			{name: "pad", kind: kBool},
			{name: "linear", kind: kBool, sweep: true},
		}}, func(a starlark.StringDict) string {
			l := str(a, "mode")
			if b := intOf(a["batch"]); b > 1 {
				l += fmt.Sprintf("/%d", b)
			}
			if a["pad"] == starlark.True {
				l += "+pad"
			}
			if a["linear"] == starlark.True {
				l += "+linear"
			}
			return l
		}, func(_ *starlark.Thread, s *Spec) error {
			if str(s.Args, "mode") == "sendto" && intOf(s.Args["batch"]) > 1 {
				return fmt.Errorf("mode = \"sendto\" sends one frame per call; batch goes with \"sendmmsg\" or \"ring\"")
			}
			if s.Args["linear"] == starlark.True && str(s.Args, "mode") != "ring" {
				return fmt.Errorf("linear = True shapes the socket buffers the kernel builds from TX ring slots; it goes with mode = \"ring\" (sendto and sendmmsg frames are always copied whole)")
			}
			return nil
		}),
		h.specBuiltin(signature{fn: "sink.afxdp", args: []arg{
			{name: "batch", kind: kInt(1, maxBatch), def: starlark.MakeInt(512), sweep: true},
			{name: "queue", kind: kInt(0, 4095), def: starlark.MakeInt(0)},
		}}, func(a starlark.StringDict) string {
			l := fmt.Sprintf("xdp/%d", intOf(a["batch"]))
			if q := intOf(a["queue"]); q > 0 {
				l += fmt.Sprintf(" queue %d", q)
			}
			return l
		}),
		h.specBuiltin(signature{fn: "sink.udp", args: []arg{
			{name: "batch", kind: kInt(1, maxBatch), def: starlark.MakeInt(1), sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("udp", a, "batch") }),
	)
}
