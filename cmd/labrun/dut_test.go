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
	"syscall"
	"testing"
	"time"
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
count = param("count", default = 2000, doc = "frames to send")

experiment(
    name = "dut",
    trace = trace.synthetic(count = count, interval = "50us", frame = "128B"),
    timer = timer.busy(),
    sink = sink.afpacket(),
    receiver = receiver.afpacket(quiet = "300ms", drain = "5s"),
    topology = topology.interfaces(tx = tx, rx = rx or None, dst_mac = dut_mac, src_ip = "198.18.1.1",
                                   dst_ip = "` + dutRxIP + `", timestamps = ts),
)
`

// dutLine is where dutScript names the interfaces.
var dutLine = fmt.Sprintf("dut.star:%d:", 1+strings.Count(dutScript[:strings.Index(dutScript, "topology.interfaces")], "\n"))

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

// promiscuity is the count of promiscuous-mode users of dev (a packet
// socket's membership does not show among the flags of ip link).
func promiscuity(t *testing.T, ns, dev string) int {
	t.Helper()
	m := regexp.MustCompile(`promiscuity (\d+)`).FindStringSubmatch(nsRun(t, ns, "ip", "-d", "-o", "link", "show", dev))
	if m == nil {
		t.Fatalf("ip -d link show %s: no promiscuity", dev)
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
		if code != ExitScript || !strings.Contains(stderr, dutLine) || !strings.Contains(stderr, want) {
			t.Errorf("%s without --interface: exit %d, stderr:\n%s\nwant exit %d naming %s and %q", cmd, code, stderr, ExitScript, dutLine, want)
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
		`"setting":"nic ` + rx + `","state":"applied","value":"driver veth, version `,
		`"setting":"nic ` + tx + `","state":"applied","value":"driver veth`,
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
	if n := promiscuity(t, b.rx, "r0"); n != 0 {
		t.Errorf("r0 left promiscuous (promiscuity %d)", n)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), fmt.Sprintf("lr-%d-", os.Getpid())) {
		t.Errorf("a run on named interfaces made namespaces of its own:\n%s", out)
	}
}

// TestDeviceUnderTestSendOnly sends on tx alone: the receiver is
// elsewhere (here: nowhere but the DUT's tbf, whose counters show the
// frames went through it).
func TestDeviceUnderTestSendOnly(t *testing.T) {
	b := newDutBed(t)
	inTempRoot(t, map[string]string{"dut.star": dutScript})
	tx := b.tx + "/t0"
	code, stdout, stderr := run(t, "run", "dut.star", "-o", "out", "--quiet", "--interface", tx, "--set", "tx="+tx, "--set", "rx=", "--set", "dut_mac="+dutMAC0)
	if code != ExitOK {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	out := nsRun(t, b.dut, "tc", "-s", "qdisc", "show", "dev", "d1")
	m := regexp.MustCompile(`Sent \d+ bytes (\d+) pkt \(dropped (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tbf counters in:\n%s", out)
	}
	through, _ := strconv.Atoi(m[1])
	dropped, _ := strconv.Atoi(m[2])
	if through+dropped != 2000 {
		t.Errorf("the DUT saw %d through + %d dropped, want the 2000 frames sent", through, dropped)
	}
	rows := readCSV(t, filepath.Join(resultsDir(t, stdout), "runs.csv"))
	if !strings.Contains(strings.Join(rows[0], ","), "sent") || strings.Contains(strings.Join(rows[0], ","), "rx_received") {
		t.Errorf("runs.csv of a send-only run: %v", rows[0])
	}
}

// TestDeviceUnderTestKilled stops or kills labrun in the middle of a run
// on named interfaces: promiscuous mode on rx goes with the receiver's
// socket, and the interfaces are left as they were.
func TestDeviceUnderTestKilled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			b := newDutBed(t)
			dir := inTempRoot(t, map[string]string{"dut.star": dutScript})
			tx, rx := b.tx+"/t0", b.rx+"/r0"
			before := linkState(t, b.rx, "r0")
			promisc := func() bool { return promiscuity(t, b.rx, "r0") > 0 }
			// 200000 frames every 50 us: 10 s, stopped long before.
			p := startLabrun(t, dir, t.TempDir(), "run", "dut.star", "-o", "out", "--quiet", "--interface", tx+","+rx,
				"--set", "tx="+tx, "--set", "rx="+rx, "--set", "dut_mac="+dutMAC0, "--set", "count=200000")
			if !poll(60*time.Second, func() bool { return promisc() && b.tbfDropped(t) > 0 }) {
				p.end(syscall.SIGKILL)
				t.Fatalf("the run did not start sending through the DUT with r0 promiscuous\n%s", p.stderr)
			}
			p.end(sig)
			if !poll(5*time.Second, func() bool { return !promisc() }) {
				t.Errorf("r0 still promiscuous after %v", sig)
			}
			if after := linkState(t, b.rx, "r0"); after != before {
				t.Errorf("r0 changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
