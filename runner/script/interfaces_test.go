package script

import (
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

func TestInterfaces(t *testing.T) {
	exp := func(topology, extra string) string {
		return `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afpacket(),
    topology = ` + topology + extra + ")"
	}
	// The plan keeps what the script names, and where.
	p, err := evalSrc(t, exp(`topology.interfaces(tx = "eth1", rx = "lab/eth2", dst_mac = "02:00:00:00:00:09", dst_ip = "198.18.2.1")`, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Runs[0].Config
	ic := c.Topology.Interfaces
	if ic == nil || ic.Tx != "eth1" || ic.Rx != "lab/eth2" || ic.Timestamps != "software" || ic.Pos != "x.star:2:35" {
		t.Fatalf("interfaces %+v", ic)
	}
	if e := c.Trace.Endpoints; e == nil || e.DstMAC != "02:00:00:00:00:09" || e.DstIP != "198.18.2.1" || e.SrcIP != "" {
		t.Errorf("endpoints %+v", e)
	}
	if ep := c.Trace.Synth(1).Endpoints; ep.DstMAC.String() != "02:00:00:00:00:09" || ep.DstIP.String() != "198.18.2.1" || ep.SrcIP.String() != "198.18.0.1" {
		t.Errorf("synthetic endpoints %+v", ep)
	}
	if names, _ := p.NamedInterfaces(); strings.Join(names, ",") != "eth1,lab/eth2" {
		t.Errorf("named interfaces %v", names)
	}
	// The policy: every named interface must be listed.
	for _, allowed := range [][]string{nil, {"eth1"}, {"eth2", "lab/eth2"}} {
		err := p.CheckInterfacePolicy(allowed)
		if err == nil || !strings.Contains(err.Error(), "x.star:2:35: topology.interfaces names the existing interface") || !strings.Contains(err.Error(), "--interface eth1,lab/eth2") {
			t.Errorf("allowed %v: %v", allowed, err)
		}
	}
	if err := p.CheckInterfacePolicy([]string{"lab/eth2", "eth1"}); err != nil {
		t.Errorf("both listed: %v", err)
	}

	tests := []struct {
		name, src, want string
	}{
		// tx is required.
		{"no tx", exp(`topology.interfaces(rx = "eth2")`, ""), `topology.interfaces: missing required argument tx`},
		// An interface name that is no interface name.
		{"bad name", exp(`topology.interfaces(tx = "a/b/c")`, ""), `"NETNS/IFNAME"`},
		{"long name", exp(`topology.interfaces(tx = "abcdefghijklmnopq")`, ""), `interface name "abcdefghijklmnopq" is not valid`},
		// The same port both ways.
		{"same", exp(`topology.interfaces(tx = "eth1", rx = "eth1")`, ""), `tx and rx are both "eth1"`},
		// Addresses in the wrong form.
		{"mac", exp(`topology.interfaces(tx = "eth1", dst_mac = "02:00")`, ""), `want an Ethernet address`},
		{"ip", exp(`topology.interfaces(tx = "eth1", dst_ip = "::1")`, ""), `want an IPv4 address`},
		{"timestamps", exp(`topology.interfaces(tx = "eth1", timestamps = "ptp")`, ""), `timestamps`},
		// The device under test is the link.
		{"emulator", exp(`topology.interfaces(tx = "eth1")`, `, emulator = link.emulator(delay = "1ms")`), `x.star:2:35: topology.interfaces: the device under test is the link: drop emulator =`},
		// Only AF_PACKET sends on a named interface.
		{"udp", `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.udp(),
    topology = topology.interfaces(tx = "eth1"))`, `sink.afpacket()`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalSrc(t, tc.src, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tc.want)
			}
			if _, ok := err.(*plan.ScriptError); !ok {
				t.Errorf("error is a %T, want *ScriptError", err)
			}
			checkErrorForm(t, err)
		})
	}
}
