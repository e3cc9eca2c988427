package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/proc"
)

// sshHost is one "host" of the hosts tests: a network namespace the test
// made, with an OpenSSH server of its own in it, reachable from the
// test's namespace over a veth pair at a 198.18.x address.
type sshHost struct {
	name   string // the Host of the test's ssh_config, and the namespace
	addr   string
	tmp    string // its TMPDIR (sshd's SetEnv): where labrun's copy and journal go
	ifname string // its end of the wire between the two hosts
	sshd   *exec.Cmd
	log    *bytes.Buffer
}

// sshLab is two such hosts, joined by a veth pair (the wire), and the
// ssh_config that reaches them.
type sshLab struct {
	dir, config string
	hosts       [2]*sshHost
}

func needSSHLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces and runs sshd in them")
	}
	for _, tool := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install openssh-server openssh-client iproute2, or make test-deps): %v", tool, err)
		}
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newSSHLab builds the two hosts and starts their sshds; everything goes
// when the test ends.
func newSSHLab(t *testing.T) *sshLab {
	needSSHLab(t)
	dir := t.TempDir()
	lab := &sshLab{dir: dir, config: filepath.Join(dir, "ssh_config")}
	sh(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labrun-hosts-test", "-f", filepath.Join(dir, "id"))
	sh(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labrun-hosts-test-host", "-f", filepath.Join(dir, "hostkey"))
	// sshd wants its privilege separation folder.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	var cfg strings.Builder
	for i, side := range []string{"a", "b"} {
		h := &sshHost{name: "lrhosts-" + side + id, addr: fmt.Sprintf("198.18.222.%d", 4*i+2), tmp: filepath.Join(dir, "host-"+side), ifname: "lrw" + strconv.Itoa(i), log: &bytes.Buffer{}}
		lab.hosts[i] = h
		if err := os.Mkdir(h.tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		sh(t, "ip", "netns", "add", h.name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", h.name).Run() })
		outer := "lrhosts" + side + id
		sh(t, "ip", "link", "add", outer, "type", "veth", "peer", "name", "ctl0", "netns", h.name)
		sh(t, "ip", "addr", "add", fmt.Sprintf("198.18.222.%d/30", 4*i+1), "dev", outer)
		sh(t, "ip", "link", "set", outer, "up")
		sh(t, "ip", "-n", h.name, "addr", "add", h.addr+"/30", "dev", "ctl0")
		sh(t, "ip", "-n", h.name, "link", "set", "ctl0", "up")
		sh(t, "ip", "-n", h.name, "link", "set", "lo", "up")
		fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n\n",
			h.name, h.addr, filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts"))
	}
	// The wire between the hosts.
	a, b := lab.hosts[0], lab.hosts[1]
	sh(t, "ip", "-n", a.name, "link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.name)
	sh(t, "ip", "-n", a.name, "link", "set", a.ifname, "up")
	sh(t, "ip", "-n", b.name, "link", "set", b.ifname, "up")
	writeFile(t, lab.config, cfg.String())
	for _, h := range lab.hosts {
		lab.startSSHD(t, h)
	}
	return lab
}

// startSSHD starts h's sshd in its namespace through labrun's spawner,
// and waits (bounded) until it listens; the test ends it by its PID.
func (lab *sshLab) startSSHD(t *testing.T, h *sshHost) {
	conf := filepath.Join(lab.dir, "sshd_config-"+h.name)
	writeFile(t, conf, strings.Join([]string{
		"ListenAddress " + h.addr + ":22",
		"HostKey " + filepath.Join(lab.dir, "hostkey"),
		"AuthorizedKeysFile " + filepath.Join(lab.dir, "id.pub"),
		"StrictModes no",
		"PidFile " + filepath.Join(lab.dir, "sshd-"+h.name+".pid"),
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"SetEnv TMPDIR=" + h.tmp,
		"LogLevel ERROR",
		"",
	}, "\n"))
	h.sshd = exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	h.sshd.Stdout, h.sshd.Stderr = h.log, h.log
	if err := proc.Start(h.sshd, "/run/netns/"+h.name); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	done := make(chan struct{})
	go func() { proc.Wait(h.sshd); close(done) }()
	t.Cleanup(func() {
		_ = h.sshd.Process.Kill() // by PID: ours, reaped only by the goroutine above
		<-done
	})
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", h.addr+":22", time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("sshd in %s ended: %s", h.name, h.log)
		default:
		}
		if i == 200 {
			t.Fatalf("sshd in %s does not listen on %s:22: %v\n%s", h.name, h.addr, err, h.log)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded: sshd binds within a few ms
	}
}

// sysctl reads a sysctl in h's namespace.
func (h *sshHost) sysctl(t *testing.T, key string) string {
	t.Helper()
	return strings.TrimSpace(sh(t, "ip", "netns", "exec", h.name, "cat", "/proc/sys/"+strings.ReplaceAll(key, ".", "/")))
}

// rxPackets is the count of frames h's wire interface received.
func (h *sshHost) rxPackets(t *testing.T) int {
	n, _ := strconv.Atoi(strings.TrimSpace(sh(t, "ip", "netns", "exec", h.name, "cat", "/sys/class/net/"+h.ifname+"/statistics/rx_packets")))
	return n
}

func (h *sshHost) rpFilter() string { return "net.ipv4.conf." + h.ifname + ".rp_filter" }

// agents lists the processes running from h's copy of labrun.
func (h *sshHost) agents() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, h.tmp+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// records lists the setting records left in h's agent journal.
func (h *sshHost) records() []string {
	m, _ := filepath.Glob(filepath.Join(h.tmp, "labrun-agent-*", "state", "setting-*.json"))
	return m
}

// script is a wire experiment with the sender on host a and the receiver
// on host b, each setting its wire interface's rp_filter to other.
func (lab *sshLab) script(t *testing.T, count int, other [2]string) string {
	a, b := lab.hosts[0], lab.hosts[1]
	path := filepath.Join(lab.dir, fmt.Sprintf("hosts%d.star", count))
	writeFile(t, path, fmt.Sprintf(`experiment(
    name = "two_hosts",
    trace = trace.synthetic(count = %d, interval = "100us"),
    timer = timer.firm(),
    sink = sink.afpacket(),
    receiver = receiver.afpacket(quiet = "300ms", drain = "5s"),
    hosts = [
        host("sender", ssh = %q, interface = %q, sysctls = {%q: %q}),
        host("receiver", ssh = %q, interface = %q, sysctls = {%q: %q}),
    ],
)
`, count, a.name, a.ifname, a.rpFilter(), other[0], b.name, b.ifname, b.rpFilter(), other[1]))
	return path
}

// ifaces is the --interface list that lets the script use both hosts'
// wire interfaces: DEST:IFNAME each.
func (lab *sshLab) ifaces() string {
	a, b := lab.hosts[0], lab.hosts[1]
	return a.name + ":" + a.ifname + "," + b.name + ":" + b.ifname
}

// otherValue is an rp_filter value other than v.
func otherValue(v string) string {
	if v == "1" {
		return "2"
	}
	return "1"
}

// clean checks that no agent runs on either host and that every setting
// is back, polling (bounded) for an agent that is still undoing.
func (lab *sshLab) clean(t *testing.T, orig [2]string) {
	t.Helper()
	for i, h := range lab.hosts {
		var left []int
		for range 300 {
			if left = h.agents(); len(left) == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond) // polling, bounded
		}
		if len(left) > 0 {
			t.Errorf("%s: agents still running: %v", h.name, left)
		}
		if got := h.sysctl(t, h.rpFilter()); got != orig[i] {
			t.Errorf("%s: %s = %s after the run, want %s (undone)", h.name, h.rpFilter(), got, orig[i])
		}
		if r := h.records(); len(r) > 0 {
			t.Errorf("%s: setting records left in the agent's journal: %v", h.name, r)
		}
	}
}

// TestHostsOverSSH runs wire experiments whose sender is one host and
// receiver the other, through labrun's SSH path (labrun's binary, built
// once, copied to each host by labrun).
func TestHostsOverSSH(t *testing.T) {
	lab := newSSHLab(t)
	bin := buildLabrun(t, lab.dir)
	t.Run("wire", func(t *testing.T) { hostsWire(t, lab, bin) })
	t.Run("killed connection", func(t *testing.T) { hostsKilled(t, lab, bin, false) })
	t.Run("interrupted", func(t *testing.T) { hostsKilled(t, lab, bin, true) })
}

// hostsWire: results in one folder, settings undone on each host, the
// clock offset (same kernel clock) within its bound of 0.
func hostsWire(t *testing.T, lab *sshLab, bin string) {
	a, b := lab.hosts[0], lab.hosts[1]
	orig := [2]string{a.sysctl(t, a.rpFilter()), b.sysctl(t, b.rpFilter())}
	const count = 2000
	script := lab.script(t, count, [2]string{otherValue(orig[0]), otherValue(orig[1])})
	out := filepath.Join(lab.dir, "out")
	// Without --interface naming the hosts' interfaces, the script is
	// refused before anything connects.
	refused := exec.Command(bin, "run", script, "--ssh-config", lab.config, "--allow-system", "--quiet", "-o", out)
	refused.Env = append(os.Environ(), "LABRUN_STATE_DIR="+filepath.Join(lab.dir, "state-controller"))
	if b0, err := refused.CombinedOutput(); refused.ProcessState == nil || refused.ProcessState.ExitCode() != ExitScript || !strings.Contains(string(b0), "--interface "+lab.ifaces()) {
		t.Fatalf("labrun run without --interface: %v, want exit %d naming --interface %s:\n%s", err, ExitScript, lab.ifaces(), b0)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused run made its result folder: %v", err)
	}
	cmd := exec.Command(bin, "run", script, "--ssh-config", lab.config, "--allow-system", "--interface", lab.ifaces(), "--quiet", "-o", out)
	cmd.Env = append(os.Environ(), "LABRUN_STATE_DIR="+filepath.Join(lab.dir, "state-controller"))
	b1, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("labrun run: %v\n%s\nsshd a: %s\nsshd b: %s", err, b1, a.log, b.log)
	}
	lab.clean(t, orig)
	folders, _ := filepath.Glob(filepath.Join(out, "two_hosts", "*"))
	if len(folders) != 1 {
		t.Fatalf("result folders: %v", folders)
	}
	row := readRunsRow(t, filepath.Join(folders[0], "runs.csv"))
	if row["rx_received"] != strconv.Itoa(count) || row["sent"] != strconv.Itoa(count) || row["rx_unexplained"] != "0" {
		t.Errorf("sent %s, received %s, unexplained %s: want %d, %d, 0", row["sent"], row["rx_received"], row["rx_unexplained"], count, count)
	}
	if row["lat_p50_us"] == "" {
		t.Errorf("no corrected latency in runs.csv: %v", row)
	}
	off, _ := strconv.ParseFloat(row["clock_offset_us"], 64)
	unc, err := strconv.ParseFloat(row["clock_uncertainty_us"], 64)
	if err != nil || unc <= 0 {
		t.Fatalf("clock_uncertainty_us = %q", row["clock_uncertainty_us"])
	}
	if off < -unc || off > unc {
		t.Errorf("clock offset %.1f us between two hosts on one kernel clock, outside its uncertainty ± %.1f us", off, unc)
	}
	t.Logf("clock offset %.1f us ± %.1f us; latency p50 %s us", off, unc, row["lat_p50_us"])
	var m struct {
		Runs []struct {
			Hosts []struct {
				Role string `json:"role"`
				Host struct {
					Kernel  string `json:"kernel"`
					Machine string `json:"machine"`
					Clock   struct {
						Kernel string `json:"kernel"`
					} `json:"clock"`
				} `json:"host"`
				Undone []struct {
					Setting string `json:"setting"`
				} `json:"undone"`
			} `json:"hosts"`
			Series string `json:"series"`
		} `json:"runs"`
	}
	mb, err := os.ReadFile(filepath.Join(folders[0], "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 1 || len(m.Runs[0].Hosts) != 2 || m.Runs[0].Series == "" {
		t.Fatalf("manifest runs: %s", mb)
	}
	for _, h := range m.Runs[0].Hosts {
		if h.Host.Kernel == "" || h.Host.Machine == "" || h.Host.Clock.Kernel == "" {
			t.Errorf("manifest: %s host lacks machine, kernel or clock state: %+v", h.Role, h.Host)
		}
		if len(h.Undone) != 1 {
			t.Errorf("manifest: %s host undid %v, want its one sysctl", h.Role, h.Undone)
		}
	}
	// Both hosts got their own copy of labrun, in their own TMPDIR.
	for _, h := range lab.hosts {
		if m, _ := filepath.Glob(filepath.Join(h.tmp, "labrun-agent-*", "labrun")); len(m) != 1 {
			t.Errorf("%s: labrun copies %v, want one", h.name, m)
		}
	}
}

// hostsKilled kills the sender's ssh client mid-run: labrun fails the
// run, and both hosts are left clean (the sender's agent undoes on its
// own when its input closes, the receiver's when labrun asks). With
// interrupt, labrun gets SIGINT instead: the run ends interrupted, exit
// 130, with what it measured, and both hosts are clean.
func hostsKilled(t *testing.T, lab *sshLab, bin string, interrupt bool) {
	a, b := lab.hosts[0], lab.hosts[1]
	orig := [2]string{a.sysctl(t, a.rpFilter()), b.sysctl(t, b.rpFilter())}
	other := [2]string{otherValue(orig[0]), otherValue(orig[1])}
	script := lab.script(t, 300000, other) // 30 s at 100 us: killed long before its end
	// The interface's counter keeps the frames of the earlier subtests'
	// runs: this run sends once it has moved past them.
	rx0 := b.rxPackets(t)
	var outb bytes.Buffer
	out := filepath.Join(lab.dir, fmt.Sprintf("out-killed-%v", interrupt))
	cmd := exec.Command(bin, "run", script, "--ssh-config", lab.config, "--allow-system", "--interface", lab.ifaces(), "-o", out)
	cmd.Env = append(os.Environ(), "LABRUN_STATE_DIR="+filepath.Join(lab.dir, "state-controller"))
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := proc.Start(cmd, ""); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait(cmd) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		default:
		}
	})
	// Wait (bounded) until the sender's host holds its setting and the
	// receiver's too, and frames arrive: the run is sending; then find
	// the sender's ssh.
	var sshPID int
	for i := 0; ; i++ {
		if a.sysctl(t, a.rpFilter()) == other[0] && b.sysctl(t, b.rpFilter()) == other[1] && b.rxPackets(t) > rx0+100 { // more than the kernel's own IPv6 chatter
			sshPID = sshClientOf(cmd.Process.Pid, a.name)
			if sshPID > 0 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("labrun ended before the kill: %v\n%s", err, outb.String())
		default:
		}
		if i == 1200 {
			t.Fatalf("the run was not sending between the hosts within 60 s\n%s", outb.String())
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded
	}
	victim, sig := sshPID, syscall.SIGKILL
	if interrupt {
		victim, sig = cmd.Process.Pid, syscall.SIGINT
	}
	if err := syscall.Kill(victim, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		code := cmd.ProcessState.ExitCode()
		switch {
		case interrupt && code != ExitInterrupted:
			t.Errorf("labrun exited %d (%v) after SIGINT, want %d\n%s", code, err, ExitInterrupted, outb.String())
		case !interrupt && err == nil:
			t.Errorf("labrun run succeeded though the sender's connection was killed\n%s", outb.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("labrun did not end within 2 minutes of the lost connection\n%s", outb.String())
	}
	lab.clean(t, orig)
	mans, _ := filepath.Glob(filepath.Join(out, "two_hosts", "*", "manifest.json"))
	if len(mans) != 1 {
		t.Fatalf("manifests: %v", mans)
	}
	mb, err := os.ReadFile(mans[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connection lost", `"status": "failed"`}
	if interrupt {
		want = []string{`"status": "interrupted"`, `"series": "series/`}
	}
	for _, w := range want {
		if !strings.Contains(string(mb), w) {
			t.Errorf("the manifest lacks %s:\n%s\nlabrun's output:\n%s", w, mb, outb.String())
		}
	}
}

// sshClientOf finds the ssh client labrun (pid) runs to host.
func sshClientOf(pid int, host string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cl), "\x00")
		if filepath.Base(args[0]) == "ssh" && strings.Contains(string(cl), "\x00"+host+"\x00") && strings.Contains(string(cl), " agent") {
			return p
		}
	}
	return 0
}

// readRunsRow reads the one row of a runs.csv by column name.
func readRunsRow(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("%s: %v, %d rows", path, err, len(recs))
	}
	row := map[string]string{}
	for i, k := range recs[0] {
		row[k] = recs[1][i]
	}
	return row
}
