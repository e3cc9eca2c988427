package execute

import (
	"slices"
	"time"

	"github.com/labrun/labrun/engine/provenance"
	"github.com/labrun/labrun/runner/plan"
)

// provenanceTimeout bounds each command provenance runs (a tool's
// --version); there are at most a handful, so the whole read is bounded.
const provenanceTimeout = 3 * time.Second

// collectProvenance reads, once at the start of an invocation, the state
// of the host its runs depend on: the kernel command line, clocksource,
// CPU governors and frequency limits, the current value of every sysctl
// the plan writes (before any run sets it), the driver of the interfaces
// the runs use (the veth pairs of wire runs) and the path and version of
// each peer tool the runs start.
func collectProvenance(p *plan.Plan) *provenance.Snapshot {
	tools, sysctls, wire := planNeeds(p)
	r := provenance.Host()
	r.Timeout = provenanceTimeout
	s, err := r.Collect(nil, sysctls, tools)
	if err != nil {
		s.Unknown = append(s.Unknown, err.Error())
	}
	if wire {
		// The veth pairs exist only during each run, in its namespaces.
		s.NICs = append(s.NICs, provenance.NIC{Name: "veth pairs of the wire runs (made per run)", Driver: "veth"})
	}
	return &s
}

// planNeeds lists the tools the plan's runs start, the sysctls they
// write, and whether any run sends on a wire.
func planNeeds(p *plan.Plan) (tools, sysctls []string, wire bool) {
	add := func(list *[]string, v string) {
		if v != "" && !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	for _, r := range p.Runs {
		c := r.Config
		switch k := c.SenderKind(); k {
		case "tcpreplay", "trafgen", "cyclictest":
			add(&tools, k)
		}
		if c.Workload != nil && c.Workload.Kind == "tcp.iperf3" {
			add(&tools, "iperf3")
		}
		for _, l := range c.Loads {
			if l.Kind == "stress_ng" {
				add(&tools, "stress-ng")
			}
		}
		for _, kv := range c.Kernel.Sysctls {
			add(&sysctls, kv[0])
		}
		wire = wire || c.Wire()
	}
	slices.Sort(tools)
	slices.Sort(sysctls)
	return tools, sysctls, wire
}
