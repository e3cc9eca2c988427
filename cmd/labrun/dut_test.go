package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The device-under-test acceptance test. The test builds the testbed a
// user would have, inside namespaces of its own:
//
//	lrdut-<pid>-tx   t0 198.18.1.1/24  02:64:75:00:00:01
//	     | veth
//	lrdut-<pid>-dut  d0 198.18.1.254/24 02:64:75:00:00:02   ip_forward = 1
//	                 d1 198.18.2.254/24 02:64:75:00:00:03   tbf on d1's egress
//	     | veth
//	lrdut-<pid>-rx   r0 198.18.2.1/24  02:64:75:00:00:04
//
// and names the two outer interfaces as a user names eth1 and eth2, in
// the NETNS/IFNAME form: labrun sends on t0, the "DUT" routes the frames
// through its tbf, and labrun's receiver matches and times them on r0.

const (
	dutMAC0 = "02:64:75:00:00:02" // d0: where labrun's frames are addressed
	dutRxIP = "198.18.2.1"
	rxMAC   = "02:64:75:00:00:04"
)

const dutScript = `tx = param("tx", default = "eth1", doc = "the port toward the device under test")
rx = param("rx", default = "eth2", doc = "the port back from it")
dut_mac = param("dut_mac", default = "02:00:00:00:00:01", doc = "MAC of the device's port on tx")
ts = param("ts", default = "software", doc = "software or hardware receive timestamps")

experiment(
    name = "dut",
    trace = trace.synthetic(count = 2000, interval = "50us", frame = "128B"),
    timer = timer.busy(),
    sink = sink.afpacket(),
    receiver = receiver.afpacket(quiet = "300ms", drain = "5s"),
    topology = topology.interfaces(tx = tx, rx = rx, dst_mac = dut_mac, src_ip = "198.18.1.1",
                                   dst_ip = "` + dutRxIP + `", timestamps = ts),
)
`

// dutBed is the test's testbed.
type dutBed struct {
	tx, dut, rx string // namespace names
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsRun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return ipCmd(t, append([]string{"netns", "exec", ns}, args...)...)
}

// newDutBed builds the testbed and removes it when the test ends, however
// it ends.
func newDutBed(t *testing.T) *dutBed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the device-under-test test builds network namespaces: run as root")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("the device-under-test test needs tc (iproute2) for the DUT's tbf")
	}
	p := "lrdut-" + strconv.Itoa(os.Getpid())
	b := &dutBed{tx: p + "-tx", dut: p + "-dut", rx: p + "-rx"}
	for _, ns := range []string{b.tx, b.dut, b.rx} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		for _, k := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
			exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", k).Run() // a kernel without IPv6 is fine
		}
		nsRun(t, ns, "ip", "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", "t0", "netns", b.tx, "address", "02:64:75:00:00:01", "type", "veth", "peer", "name", "d0", "netns", b.dut, "address", dutMAC0)
	ipCmd(t, "link", "add", "d1", "netns", b.dut, "address", "02:64:75:00:00:03", "type", "veth", "peer", "name", "r0", "netns", b.rx, "address", rxMAC)
	for _, e := range []struct{ ns, dev, addr string }{
		{b.tx, "t0", "198.18.1.1/24"}, {b.dut, "d0", "198.18.1.254/24"}, {b.dut, "d1", "198.18.2.254/24"}, {b.rx, "r0", dutRxIP + "/24"},
	} {
		nsRun(t, e.ns, "ip", "addr", "add", e.addr, "dev", e.dev)
		nsRun(t, e.ns, "ip", "link", "set", e.dev, "up")
	}
	nsRun(t, b.dut, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// A known neighbour: no frame waits for ARP (and none is lost there).
	nsRun(t, b.dut, "ip", "neigh", "replace", dutRxIP, "lladdr", rxMAC, "dev", "d1", "nud", "permanent")
	// 2000 frames of 128 B every 50 us is 20 Mbit/s: a 5 Mbit/s tbf
	// drops most of them.
	nsRun(t, b.dut, "tc", "qdisc", "add", "dev", "d1", "root", "tbf", "rate", "5mbit", "burst", "4kb", "limit", "8kb")
	return b
}

// tbfDropped reads the drops tc reports for the DUT's tbf.
func (b *dutBed) tbfDropped(t *testing.T) int {
	t.Helper()
	out := nsRun(t, b.dut, "tc", "-s", "qdisc", "show", "dev", "d1")
	m := regexp.MustCompile(`qdisc tbf [\s\S]*?dropped (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tbf drop count in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// linkState is what labrun must leave as it was on an interface.
func linkState(t *testing.T, ns, dev string) string {
	t.Helper()
	l := nsRun(t, ns, "ip", "-o", "link", "show", dev)
	a := nsRun(t, ns, "ip", "-o", "addr", "show", dev)
	r := nsRun(t, ns, "ip", "route", "show")
	l = regexp.MustCompile(`\s+link/.*$`).ReplaceAllString(strings.TrimSpace(l), "")
	return l + "\n" + a + r
}

func TestDeviceUnderTest(t *testing.T) {
	b := newDutBed(t)
	inTempRoot(t, map[string]string{"dut.star": dutScript})
	tx, rx := b.tx+"/t0", b.rx+"/r0"
	sets := []string{"--set", "tx=" + tx, "--set", "rx=" + rx, "--set", "dut_mac=" + dutMAC0, "--set", "ts=hardware"}

	// Without --interface: refused, by plan and run, naming the line,
	// the interfaces and the flag; nothing sent.
	for _, cmd := range []string{"plan", "run"} {
		args := []string{cmd, "dut.star"}
		if cmd == "run" {
			args = append(args, "-o", "out")
		}
		code, _, stderr := run(t, append(args, sets...)...)
		want := "--interface " + tx + "," + rx
		if code != ExitScript || !strings.Contains(stderr, "dut.star:12:") || !strings.Contains(stderr, want) {
			t.Errorf("%s without --interface: exit %d, stderr:\n%s\nwant exit %d naming dut.star:12 and %q", cmd, code, stderr, ExitScript, want)
		}
	}
	// Listing one of the two is not enough.
	if code, _, stderr := run(t, append([]string{"run", "dut.star", "-o", "out", "--interface", tx}, sets...)...); code != ExitScript || !strings.Contains(stderr, rx) {
		t.Errorf("run with --interface %s only: exit %d, stderr:\n%s", tx, code, stderr)
	}
	// An interface that is not there: named at plan time.
	if code, _, stderr := run(t, "plan", "dut.star", "--set", "tx="+b.tx+"/t9", "--set", "rx="+rx, "--interface", b.tx+"/t9,"+rx); code != ExitScript || !strings.Contains(stderr, "there is no t9 in namespace "+b.tx) {
		t.Errorf("plan naming a missing interface: exit %d, stderr:\n%s", code, stderr)
	}
	if n := b.tbfDropped(t); n != 0 {
		t.Fatalf("refused runs sent frames: the tbf dropped %d", n)
	}

	before := map[string]string{"t0": linkState(t, b.tx, "t0"), "r0": linkState(t, b.rx, "r0")}
	code, stdout, stderr := run(t, append([]string{"run", "dut.star", "-o", "out", "--quiet", "--interface", tx + "," + rx}, sets...)...)
	if code != ExitOK {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	dir := resultsDir(t, stdout)
	rows := readCSV(t, filepath.Join(dir, "runs.csv"))
	col := func(name string) int {
		for i, h := range rows[0] {
			if h == name {
				v, err := strconv.ParseFloat(rows[1][i], 64)
				if err != nil {
					t.Fatalf("%s = %q: %v", name, rows[1][i], err)
				}
				return int(v)
			}
		}
		t.Fatalf("no column %s in runs.csv: %v", name, rows[0])
		return 0
	}
	sent, got, drops := col("sent"), col("rx_received"), b.tbfDropped(t)
	t.Logf("sent %d, received %d through the DUT, tbf dropped %d", sent, got, drops)
	if sent != 2000 || got == 0 || drops == 0 {
		t.Errorf("sent %d (want 2000), received %d, tbf dropped %d: want frames both through and dropped", sent, got, drops)
	}
	if sent-got != drops {
		t.Errorf("sent - received = %d, but the DUT's tbf dropped %d: loss not counted exactly", sent-got, drops)
	}
	// Timed at the receiver: every frame that arrived has a latency.
	if col("lat_p50_us") <= 0 && col("lat_max_us") <= 0 {
		t.Errorf("no latency through the DUT")
	}

	// veth has no hardware clock: the fallback is named in the manifest.
	m := readManifest(t, dir)
	settings, _ := json.Marshal(m.Runs[0].Settings)
	for _, want := range []string{
		`{"reason":"hardware asked; software stamps used: the driver has no hardware receive timestamps","setting":"rx_timestamps ` + rx + `","state":"skipped","value":"software"}`,
		`"setting":"ts_info ` + rx + `","state":"applied","value":"software-transmit software-receive software-system-clock; PTP hardware clock -1"`,
	} {
		if !strings.Contains(string(settings), want) {
			t.Errorf("manifest settings lack %s:\n%s", want, settings)
		}
	}

	// Left as they were: addresses, routes, flags (no promiscuous mode).
	for dev, ns := range map[string]string{"t0": b.tx, "r0": b.rx} {
		if after := linkState(t, ns, dev); after != before[dev] {
			t.Errorf("%s changed by the run:\nbefore %s\nafter  %s", dev, before[dev], after)
		}
	}
	if out := nsRun(t, b.rx, "ip", "-o", "link", "show", "r0"); strings.Contains(out, "PROMISC") {
		t.Errorf("r0 left promiscuous: %s", out)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), fmt.Sprintf("lr-%d-", os.Getpid())) {
		t.Errorf("a run on named interfaces made namespaces of its own:\n%s", out)
	}
}
