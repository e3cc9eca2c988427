package script

import (
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

const hostsBase = `experiment(
    name = "h",
    trace = trace.synthetic(count = 100, interval = "100us"),
    timer = timer.firm(),
    sink = sink.afpacket(),
    %s
)
`

func hostsScript(rest string) string { return strings.Replace(hostsBase, "%s", rest, 1) }

const bothHosts = `hosts = [host("sender", ssh = "root@198.18.0.1", interface = "eth1", sysctls = {"net.ipv4.conf.eth1.rp_filter": 2}), host("receiver", ssh = "lab-b", interface = "eth2")],`

func TestHostsPlan(t *testing.T) {
	p := mustEval(t, hostsScript(bothHosts), nil)
	c := p.Runs[0].Config
	if len(c.Hosts) != 2 || c.Hosts[0].Role != "sender" || c.Hosts[1].Role != "receiver" {
		t.Fatalf("hosts = %+v", c.Hosts)
	}
	if h := c.HostFor("sender"); h.SSH != "root@198.18.0.1" || h.Interface != "eth1" || len(h.Sysctls) != 1 || h.Sysctls[0] != [2]string{"net.ipv4.conf.eth1.rp_filter", "2"} {
		t.Errorf("sender host = %+v", h)
	}
	var scopes []string
	for _, a := range p.Actions {
		scopes = append(scopes, a.Setting+"@"+a.Scope)
	}
	all := strings.Join(scopes, "\n")
	for _, want := range []string{"agent@host sender (root@198.18.0.1)", "sysctl@host sender (root@198.18.0.1)", "send@host sender", "receiver@host receiver (lab-b)", "clock@host receiver"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan actions lack %q:\n%s", want, all)
		}
	}
	var text strings.Builder
	if err := plan.WritePlan(&text, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "hosts: sender root@198.18.0.1 (eth1), receiver lab-b (eth2): runs 1") {
		t.Errorf("plan text lacks the hosts line:\n%s", text.String())
	}
	if strings.Contains(all, "new namespaces") {
		t.Errorf("a run between hosts makes no veth namespaces here:\n%s", all)
	}
}

func TestHostsErrors(t *testing.T) {
	cases := []struct {
		name, rest, want string
	}{
		{"only the sender", `hosts = [host("sender", ssh = "a", interface = "eth1")],`, "place both the sender and the receiver"},
		{"a role twice", `hosts = [host("sender", ssh = "a", interface = "eth1"), host("sender", ssh = "b", interface = "eth1")],`, "the sender is placed twice"},
		{"unknown role", `hosts = [host("emulator", ssh = "a", interface = "eth1")],`, `"emulator" is not one of`},
		{"an option as target", `hosts = [host("sender", ssh = "-oProxyCommand=x", interface = "eth1")],`, "not an option"},
		{"space in target", `hosts = [host("sender", ssh = "a b", interface = "eth1")],`, "no spaces"},
		{"bad interface", `hosts = [host("sender", ssh = "a", interface = "eth/1")],`, "want an interface name"},
		{"missing interface", `hosts = [host("sender", ssh = "a")],`, "missing required argument interface"},
		{"not a host", `hosts = ["a"],`, "want a host value"},
		{"peer sender", bothHosts + `sender = sender.tcpreplay(),`, "drop sender = sender.tcpreplay"},
		{"emulator", bothHosts + `emulator = link.emulator(delay = "1ms"),`, "emulator between hosts"},
		{"tbf", bothHosts + `topology = topology.veth(tbf = "10Mbps"),`, "drop them"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := evalSrc(t, hostsScript(c.rest), nil)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.star:") {
				t.Errorf("error %q, want one naming x.star:line and containing %q", err, c.want)
			}
		})
	}
}

func TestCheckHostInterfaces(t *testing.T) {
	p := mustEval(t, hostsScript(bothHosts), nil)
	cases := []struct {
		allowed []string
		ok      bool
	}{
		{nil, false},
		{[]string{"eth1"}, false},
		{[]string{"eth1", "eth2"}, true},
		{[]string{"root@198.18.0.1:eth1", "lab-b:eth2"}, true},
		{[]string{"root@198.18.0.1:eth2", "lab-b:eth1"}, false},
	}
	for _, c := range cases {
		err := p.CheckHostInterfaces(c.allowed)
		if (err == nil) != c.ok {
			t.Errorf("allowed %v: err = %v, want ok %v", c.allowed, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--interface") {
			t.Errorf("allowed %v: %v does not name the flag", c.allowed, err)
		}
	}
}
