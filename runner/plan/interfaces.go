package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/trace"
)

// IfacesConfig is a resolved topology.interfaces value: existing
// interfaces ("IFNAME" or "NETNS/IFNAME") labrun sends on (Tx) and
// receives on (Rx; empty when the receiver is elsewhere).
type IfacesConfig struct {
	Tx string `json:"tx"`
	Rx string `json:"rx,omitempty"`
	// Timestamps is "software" or "hardware" (ask the NIC, fall back to
	// software where it has none).
	Timestamps string `json:"timestamps,omitempty"`
	// Pos is where the script names them (file:line:col); not part of
	// the run's identity.
	Pos string `json:"-"`
}

// Names are the interfaces named, tx first.
func (c *IfacesConfig) Names() []string {
	if c.Rx == "" {
		return []string{c.Tx}
	}
	return []string{c.Tx, c.Rx}
}

// EndpointsConfig are the addresses of labrun's synthetic frames, where
// the script sets them (empty: the default).
type EndpointsConfig struct {
	SrcMAC string `json:"src_mac,omitempty"`
	DstMAC string `json:"dst_mac,omitempty"`
	SrcIP  string `json:"src_ip,omitempty"`
	DstIP  string `json:"dst_ip,omitempty"`
}

// apply sets the addresses e gives in ep; the script checked them.
func (e *EndpointsConfig) apply(ep *trace.Endpoints) {
	if e == nil {
		return
	}
	if m, err := parseMAC(e.SrcMAC); err == nil {
		ep.SrcMAC = m
	}
	if m, err := parseMAC(e.DstMAC); err == nil {
		ep.DstMAC = m
	}
	if a, err := netip.ParseAddr(e.SrcIP); err == nil {
		ep.SrcIP = a.AsSlice()
	}
	if a, err := netip.ParseAddr(e.DstIP); err == nil {
		ep.DstIP = a.AsSlice()
	}
}

// namedActions lists what a run on named interfaces does to them: it
// changes no address, route, MTU, offload, qdisc, RPS or ring size.
func namedActions(c RunConfig) []kernel.Action {
	ic := c.Topology.Interfaces
	a := []kernel.Action{{Setting: "send", Value: sinkLabel(c) + " on " + ic.Tx + " (existing interface; addresses, routes, MTU, offloads, qdisc, RPS and rings left as they are)", Scope: "named interface", Needs: "root and --interface " + ic.Tx}}
	if ic.Rx == "" {
		return a
	}
	a = append(a, kernel.Action{Setting: "receiver", Value: "AF_PACKET socket with receive timestamps on " + ic.Rx, Scope: "named interface", Needs: "root and --interface " + ic.Rx},
		kernel.Action{Setting: "promisc", Value: "promiscuous mode on " + ic.Rx + " while the receiver's socket is open (the kernel drops it with the socket)", Scope: "named interface", Needs: "root"})
	if ic.Timestamps == "hardware" {
		a = append(a, kernel.Action{Setting: "hwtstamp", Value: "NIC receive timestamps on " + ic.Rx + " (SIOCSHWTSTAMP rx filter all), previous configuration restored after the run", Scope: "named interface", Needs: "root"})
	}
	return a
}

// NamedInterfaces lists every interface the plan's runs name, and where
// (the first place each is named).
func (p *Plan) NamedInterfaces() (names []string, pos map[string]string) {
	pos = map[string]string{}
	for _, r := range p.Runs {
		t := r.Config.Topology
		if t == nil || t.Interfaces == nil {
			continue
		}
		for _, n := range t.Interfaces.Names() {
			if _, ok := pos[n]; !ok {
				names = append(names, n)
				pos[n] = t.Interfaces.Pos
			}
		}
	}
	return names, pos
}

// CheckInterfaces refuses the plan if it names an interface that allowed
// (the --interface list) does not: labrun otherwise sends only on
// interfaces it created in its own namespaces. Then it checks that each
// named interface exists (reading, changing nothing).
func (p *Plan) CheckInterfaces(allowed []string) error {
	if err := p.CheckInterfacePolicy(allowed); err != nil {
		return err
	}
	names, pos := p.NamedInterfaces()
	var msgs []string
	for _, n := range names {
		i, _ := topo.ParseIface(n)
		if err := topo.Check(i); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: topology.interfaces: %v", pos[n], err))
		}
	}
	if len(msgs) > 0 {
		return &ScriptError{Msg: strings.Join(msgs, "\n")}
	}
	return nil
}

// CheckInterfacePolicy is CheckInterfaces without looking at the system
// (for labrun submit, whose runs go to other machines).
// The interfaces of remote hosts (host(..., interface = ...)) are
// checked too (CheckHostInterfaces).
func (p *Plan) CheckInterfacePolicy(allowed []string) error {
	if err := p.CheckHostInterfaces(allowed); err != nil {
		return err
	}
	names, pos := p.NamedInterfaces()
	var missing []string
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	what := "interface " + missing[0] + ", which --interface does not list"
	if len(missing) > 1 {
		what = "interfaces " + strings.Join(missing, ", ") + ", which --interface does not list"
	}
	return &ScriptError{Msg: fmt.Sprintf("%s: topology.interfaces names the existing %s: labrun sends only on interfaces it created in its own namespaces, unless the command line names them as well; give --interface %s if frames may go out on them (docs/devices.md)",
		pos[missing[0]], what, strings.Join(names, ","))}
}

// parseMAC reads a 48-bit MAC address written as six hex bytes separated
// by colons or hyphens (the script checked the form already); runner/plan
// imports no network package.
func parseMAC(s string) ([]byte, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(f) != 6 {
		return nil, fmt.Errorf("MAC address %q: want six bytes such as 02:00:00:00:00:01", s)
	}
	m := make([]byte, 6)
	for i, b := range f {
		v, err := strconv.ParseUint(b, 16, 8)
		if err != nil || len(b) > 2 {
			return nil, fmt.Errorf("MAC address %q: want six bytes such as 02:00:00:00:00:01", s)
		}
		m[i] = byte(v)
	}
	return m, nil
}
