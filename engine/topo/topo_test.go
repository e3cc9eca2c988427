package topo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/kernel"
)

// needRoot skips tests that create namespaces.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs (run go test as root)")
	}
}

// build builds a topology and closes it when the test ends, also on
// failure.
func build(t testing.TB, cfg Config) *Topology {
	t.Helper()
	tp, err := Build(cfg)
	if err != nil {
		t.Fatalf("Build(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tp
}

// ourNamespaces lists the names under /run/netns that belong to runID in
// this process.
func ourNamespaces(t testing.TB, runID string) []string {
	t.Helper()
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	prefix := Prefix + strconv.Itoa(os.Getpid()) + "-" + runID + "-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// assertGone fails unless nothing of runID is left: no name, no lr- link
// in the root namespace, no owner record.
func assertGone(t testing.TB, runID string) {
	t.Helper()
	if names := ourNamespaces(t, runID); len(names) > 0 {
		t.Errorf("namespaces left behind: %v", names)
	}
	for _, role := range []string{"snd", "rcv", "emu"} {
		name := NSName(os.Getpid(), runID, role)
		if h, err := netns.GetFromName(name); err == nil {
			h.Close()
			t.Errorf("netns.GetFromName(%s) still succeeds", name)
		}
		if dir, err := recordDir(); err != nil {
			t.Error(err)
		} else if _, err := os.Lstat(filepath.Join(dir, name+".json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("owner record of %s still there (%v)", name, err)
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, Prefix) {
			t.Errorf("link %s exists in the root namespace", i.Name)
		}
	}
}

func TestConfigNormalize(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantMTU int
		wantErr string
	}{
		{Config{RunID: "1a2b3c"}, 1500, ""},
		{Config{RunID: "z", MTU: 68}, 68, ""},
		{Config{RunID: "abcdefgh", MTU: 65535, TxQueueLen: 5000}, 65535, ""},
		{Config{RunID: ""}, 0, "1 to 8 characters"},
		{Config{RunID: "abcdefghi"}, 0, "1 to 8 characters"},
		{Config{RunID: "AB"}, 0, "[0-9a-z]"},
		{Config{RunID: "a-b"}, 0, "[0-9a-z]"},
		{Config{RunID: "a", MTU: 67}, 0, "accepted 68..65535"},
		{Config{RunID: "a", MTU: 65536}, 0, "accepted 68..65535"},
		{Config{RunID: "a", MTU: -1}, 0, "accepted 68..65535"},
		{Config{RunID: "a", TxQueueLen: -1}, 0, "tx queue length"},
		{Config{RunID: "a", Queues: MaxQueues}, 1500, ""},
		{Config{RunID: "a", Queues: MaxQueues + 1}, 0, "queues out of range"},
		{Config{RunID: "a", Queues: -2}, 0, "queues out of range"},
	}
	for _, tt := range tests {
		got, err := tt.cfg.normalize()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("normalize(%+v) = %v, want error containing %q", tt.cfg, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.MTU != tt.wantMTU {
			t.Errorf("normalize(%+v) = MTU %d, %v; want MTU %d", tt.cfg, got.MTU, err, tt.wantMTU)
		}
	}
	// Build checks the config before anything else, also without root.
	if _, err := Build(Config{RunID: "a", MTU: 10}); err == nil || !strings.Contains(err.Error(), "68..65535") {
		t.Errorf("Build with MTU 10: %v, want the accepted range", err)
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"lr-123-1a2b3c-snd", 123, true},
		{"lr-4194303-testxx-rcv", 4194303, true},
		{"lr-1-a-emu", 1, true},
		{"lr-123-1a2b3c-xyz", 0, false},
		{"lr-0123-1a2b3c-snd", 0, false},
		{"lr--1a2b3c-snd", 0, false},
		{"lr-12a-1a2b3c-snd", 0, false},
		{"lr-123-ABC-snd", 0, false},
		{"lr-123-abcdefghi-snd", 0, false},
		{"lr-123-1a2b3c-snd-x", 0, false},
		{"xx-123-1a2b3c-snd", 0, false},
		{"lr-123-snd", 0, false},
		{"blue", 0, false},
	}
	for _, tt := range tests {
		pid, ok := parseName(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("parseName(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
	// Every name Build makes parses back to its pid.
	tp := newTopology(Config{RunID: "1a2b3c", Emulator: true}, 4321)
	for _, h := range tp.Hosts() {
		if pid, ok := parseName(h.NSName); !ok || pid != 4321 {
			t.Errorf("parseName(%q) = %d, %v; want 4321, true", h.NSName, pid, ok)
		}
	}
}

func TestMissingCaps(t *testing.T) {
	tests := []struct {
		status  string
		want    []string
		wantErr bool
	}{
		{"Name:\tx\nCapEff:\t000001ffffffffff\n", nil, false},
		{"CapEff:\t0000000000201000\n", nil, false}, // exactly NET_ADMIN + SYS_ADMIN
		{"CapEff:\t0000000000001000\n", []string{"CAP_SYS_ADMIN"}, false},
		{"CapEff:\t0000000000200000\n", []string{"CAP_NET_ADMIN"}, false},
		{"CapEff:\t0000000000000000\n", []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, false},
		{"Name:\tx\n", nil, true},
		{"CapEff:\tzz\n", nil, true},
	}
	for _, tt := range tests {
		got, err := missingCaps([]byte(tt.status))
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("missingCaps(%q) = %v, %v; want %v, error %v", tt.status, got, err, tt.want, tt.wantErr)
		}
	}
	err := Available()
	if os.Geteuid() == 0 && err != nil {
		t.Errorf("Available as root: %v", err)
	}
	if os.Geteuid() != 0 && (err == nil || !strings.Contains(err.Error(), "run as root")) {
		t.Errorf("Available as euid %d: %v, want an error saying to run as root", os.Geteuid(), err)
	}
}

func TestIsFrameOffload(t *testing.T) {
	for name, want := range map[string]bool{
		"tx-scatter-gather":          true,
		"tx-scatter-gather-fraglist": true,
		"tx-checksum-ip-generic":     true,
		"tx-checksum-sctp":           true,
		"rx-checksum":                true,
		"tx-tcp-segmentation":        true,
		"tx-udp-segmentation":        true,
		"tx-generic-segmentation":    true,
		"tx-gso-list":                true,
		"rx-gro":                     true,
		"rx-gro-list":                true,
		"rx-lro":                     true,
		"rx-udp-gro-forwarding":      true,
		"tx-vlan-hw-insert":          false,
		"rx-vlan-hw-parse":           false,
		"highdma":                    false,
		"tx-lockless":                false,
		"netns-local":                false,
	} {
		if got := isFrameOffload(name); got != want {
			t.Errorf("isFrameOffload(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestBuildClose(t *testing.T) {
	needRoot(t)
	for _, emu := range []bool{false, true} {
		t.Run(fmt.Sprintf("emulator=%v", emu), func(t *testing.T) {
			runID := "bc0"
			if emu {
				runID = "bc1"
			}
			tp, err := Build(Config{RunID: runID, Emulator: emu})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tp.Close() })
			want := []string{NSName(os.Getpid(), runID, "rcv"), NSName(os.Getpid(), runID, "snd")}
			if emu {
				want = append(want, NSName(os.Getpid(), runID, "emu"))
			}
			slices.Sort(want)
			if got := ourNamespaces(t, runID); !slices.Equal(got, want) {
				t.Errorf("namespaces after Build: %v, want %v", got, want)
			}
			if (tp.Emulator != nil) != emu {
				t.Errorf("Emulator = %v with Config.Emulator %v", tp.Emulator, emu)
			}
			type hostWant struct {
				h                  *Host
				role, ifname, mac  string
				ip                 string
				ifname2, mac2, ip2 string
			}
			hw := []hostWant{
				{tp.Sender, RoleSender, "lr-snd0", "02:6c:72:ff:00:01", "198.18.0.1", "", "", "invalid IP"},
				{tp.Receiver, RoleReceiver, "lr-rcv0", "02:6c:72:ff:00:02", "198.18.0.2", "", "", "invalid IP"},
			}
			if emu {
				hw[1].ip = "198.19.0.2"
				hw = append(hw, hostWant{tp.Emulator, RoleEmulator, "lr-emu0", "02:6c:72:ff:00:11", "198.18.0.254", "lr-emu1", "02:6c:72:ff:00:12", "198.19.0.254"})
			}
			for _, w := range hw {
				h := w.h
				if h.Role != w.role || h.Ifname != w.ifname || h.MAC.String() != w.mac || h.IP.String() != w.ip ||
					h.Ifname2 != w.ifname2 || h.MAC2.String() != w.mac2 || h.IP2.String() != w.ip2 {
					t.Errorf("host %+v, want %+v", h, w)
				}
				if h.Ifindex <= 0 || (w.ifname2 != "") != (h.Ifindex2 > 0) {
					t.Errorf("%s: ifindex %d, %d", h.Role, h.Ifindex, h.Ifindex2)
				}
				if h.NSPath() != "/run/netns/"+h.NSName {
					t.Errorf("NSPath = %s", h.NSPath())
				}
				// What the kernel has matches what the Host says.
				err := h.Do(func() error {
					for _, ifc := range []struct {
						name, mac, ip string
						index         int
					}{{h.Ifname, w.mac, w.ip, h.Ifindex}, {h.Ifname2, w.mac2, w.ip2, h.Ifindex2}} {
						if ifc.name == "" {
							continue
						}
						l, err := netlink.LinkByName(ifc.name)
						if err != nil {
							return err
						}
						a := l.Attrs()
						if a.HardwareAddr.String() != ifc.mac || a.Index != ifc.index || a.MTU != 1500 || a.Flags&net.FlagUp == 0 || a.OperState != netlink.OperUp {
							return fmt.Errorf("%s: mac %s index %d mtu %d flags %v oper %v", ifc.name, a.HardwareAddr, a.Index, a.MTU, a.Flags, a.OperState)
						}
						addrs, err := netlink.AddrList(l, unix.AF_UNSPEC)
						if err != nil {
							return err
						}
						if len(addrs) != 1 || addrs[0].IPNet.String() != ifc.ip+"/24" {
							return fmt.Errorf("%s: addresses %v, want only %s/24 (no IPv6 link-local)", ifc.name, addrs, ifc.ip)
						}
					}
					lo, err := netlink.LinkByName("lo")
					if err != nil {
						return err
					}
					if lo.Attrs().Flags&net.FlagUp == 0 {
						return fmt.Errorf("lo is down")
					}
					return nil
				})
				if err != nil {
					t.Errorf("%s: %v", h.Role, err)
				}
			}
			if emu {
				checkRoute(t, tp.Sender, "198.19.0.0/24", "198.18.0.254")
				checkRoute(t, tp.Receiver, "198.18.0.0/24", "198.19.0.254")
			}
			if err := tp.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			assertGone(t, runID)
			if err := tp.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := tp.Sender.Do(func() error { return nil }); err == nil || !strings.Contains(err.Error(), "closed") {
				t.Errorf("Do after Close: %v, want an error saying the namespace is closed", err)
			}
		})
	}
}

func checkRoute(t *testing.T, h *Host, dst, gw string) {
	t.Helper()
	err := h.Do(func() error {
		routes, err := netlink.RouteList(nil, unix.AF_INET)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == dst && r.Gw.String() == gw && r.LinkIndex == h.Ifindex {
				return nil
			}
		}
		return fmt.Errorf("no route %s via %s dev %s in %v", dst, gw, h.Ifname, routes)
	})
	if err != nil {
		t.Errorf("%s: %v", h.Role, err)
	}
}

func TestDo(t *testing.T) {
	needRoot(t)
	tp := build(t, Config{RunID: "do0", Emulator: true})
	var rootNS unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &rootNS); err != nil {
		t.Fatal(err)
	}
	for _, h := range tp.Hosts() {
		var want unix.Stat_t
		if err := unix.Stat(h.NSPath(), &want); err != nil {
			t.Fatal(err)
		}
		if want.Ino == rootNS.Ino {
			t.Fatalf("%s has the root namespace's inode", h.NSName)
		}
		wantIfs := []string{"lo", h.Ifname}
		if h.Ifname2 != "" {
			wantIfs = append(wantIfs, h.Ifname2)
		}
		slices.Sort(wantIfs)
		err := h.Do(func() error {
			var got unix.Stat_t
			if err := unix.Stat("/proc/thread-self/ns/net", &got); err != nil {
				return err
			}
			if got.Ino != want.Ino {
				return fmt.Errorf("thread's netns inode %d, namespace's %d", got.Ino, want.Ino)
			}
			ifs, err := net.Interfaces()
			if err != nil {
				return err
			}
			var names []string
			for _, i := range ifs {
				names = append(names, i.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, wantIfs) {
				return fmt.Errorf("interfaces inside %v, want %v", names, wantIfs)
			}
			// /proc/sys/net is the thread's namespace ...
			entries, err := os.ReadDir("/proc/sys/net/ipv6/conf")
			if err != nil {
				return err
			}
			var conf []string
			for _, e := range entries {
				conf = append(conf, e.Name())
			}
			wantConf := append([]string{"all", "default"}, wantIfs...)
			slices.Sort(wantConf)
			slices.Sort(conf)
			if !slices.Equal(conf, wantConf) {
				return fmt.Errorf("/proc/sys/net/ipv6/conf inside: %v, want %v", conf, wantConf)
			}
			// ... and so is /proc/thread-self/net, while /proc/self/net
			// follows the thread group leader, which stays outside
			// unless this thread is the leader.
			own, err := os.ReadFile("/proc/thread-self/net/dev")
			if err != nil {
				return err
			}
			leader, err := os.ReadFile("/proc/self/net/dev")
			if err != nil {
				return err
			}
			leaderInside := unix.Gettid() == os.Getpid()
			if !strings.Contains(string(own), h.Ifname+":") || strings.Contains(string(leader), h.Ifname+":") != leaderInside {
				return fmt.Errorf("/proc/thread-self/net/dev:\n%s\n/proc/self/net/dev:\n%s", own, leader)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", h.Role, err)
		}
	}

	// Do returns fn's error, and the thread comes back also after a panic.
	errMine := errors.New("mine")
	if err := tp.Sender.Do(func() error { return errMine }); !errors.Is(err, errMine) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // held across Do, so the thread stays ours
		defer runtime.UnlockOSThread()
		var before, after unix.Stat_t
		unix.Stat("/proc/thread-self/ns/net", &before)
		func() {
			defer func() { recover() }()
			tp.Receiver.Do(func() error { panic("in fn") })
		}()
		unix.Stat("/proc/thread-self/ns/net", &after)
		if before.Ino != after.Ino {
			done <- fmt.Errorf("thread in namespace %d after a panicking Do, was in %d", after.Ino, before.Ino)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestSysctls(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("kernel without IPv6: nothing to disable")
	}
	rootBefore, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
	if err != nil {
		t.Fatal(err)
	}
	tp := build(t, Config{RunID: "sys0", Emulator: true})
	for _, h := range tp.Hosts() {
		err := h.Do(func() error {
			keys := []string{"ipv6/conf/default/disable_ipv6", "ipv6/conf/" + h.Ifname + "/disable_ipv6"}
			if h.Ifname2 != "" {
				keys = append(keys, "ipv6/conf/"+h.Ifname2+"/disable_ipv6")
			}
			for _, k := range keys {
				b, err := os.ReadFile("/proc/sys/net/" + k)
				if err != nil {
					return err
				}
				if strings.TrimSpace(string(b)) != "1" {
					return fmt.Errorf("%s = %q, want 1", k, b)
				}
			}
			b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(b)) != "0" {
				return fmt.Errorf("ip_forward = %q, want 0", b)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", h.Role, err)
		}
	}
	rootAfter, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
	if err != nil {
		t.Fatal(err)
	}
	if string(rootAfter) != string(rootBefore) {
		t.Errorf("root namespace's default/disable_ipv6 changed from %q to %q", rootBefore, rootAfter)
	}
}

func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

const testEthertype = 0x88b5

// packetSocket opens an AF_PACKET socket for testEthertype in h's
// namespace, bound to ifindex, closed when the test ends.
func packetSocket(t *testing.T, h *Host, ifindex int) int {
	t.Helper()
	fd := -1
	err := h.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(testEthertype)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(testEthertype), Ifindex: ifindex})
	})
	if fd >= 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Fatalf("packet socket in %s: %v", h.NSName, err)
	}
	return fd
}

// testFrame is 64 bytes to labrun's synthetic receiver MAC.
func testFrame(seq byte) []byte {
	f := make([]byte, 64)
	copy(f, []byte{0x02, 0x6c, 0x72, 0x00, 0x00, 0x02, 0x02, 0x6c, 0x72, 0x00, 0x00, 0x01})
	binary.BigEndian.PutUint16(f[12:], testEthertype)
	for i := 14; i < len(f); i++ {
		f[i] = byte(i) ^ seq
	}
	return f
}

// recvFrame polls fd for one frame, at most timeout.
func recvFrame(t *testing.T, fd int, timeout time.Duration) ([]byte, *unix.SockaddrLinklayer) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err == nil {
			ll, _ := from.(*unix.SockaddrLinklayer)
			return buf[:n], ll
		}
		if !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("recvfrom: %v", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no frame within %v", timeout)
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
	}
}

func stats(t *testing.T, h *Host, ifname string) LinkStats {
	t.Helper()
	s, err := h.Stats(ifname)
	if err != nil {
		t.Fatalf("Stats(%s): %v", ifname, err)
	}
	return s
}

func TestFrameArrives(t *testing.T) {
	needRoot(t)
	for _, emu := range []bool{false, true} {
		t.Run(fmt.Sprintf("emulator=%v", emu), func(t *testing.T) {
			tp := build(t, Config{RunID: "fr" + strconv.FormatBool(emu)[:1], Emulator: emu})
			type hop struct {
				from     *Host
				fromIf   string
				fromIdx  int
				to       *Host
				toIf     string
				toIdx    int
				wantType uint8
			}
			hops := []hop{{tp.Sender, tp.Sender.Ifname, tp.Sender.Ifindex, tp.Receiver, tp.Receiver.Ifname, tp.Receiver.Ifindex, unix.PACKET_OTHERHOST}}
			if e := tp.Emulator; e != nil {
				hops = []hop{
					{tp.Sender, tp.Sender.Ifname, tp.Sender.Ifindex, e, e.Ifname, e.Ifindex, unix.PACKET_OTHERHOST},
					{e, e.Ifname2, e.Ifindex2, tp.Receiver, tp.Receiver.Ifname, tp.Receiver.Ifindex, unix.PACKET_OTHERHOST},
				}
			}
			for i, hp := range hops {
				// The wire is silent until we send: no IPv6 RS/DAD/MLD,
				// no ARP.
				if s := stats(t, hp.to, hp.toIf); s.RxPackets != 0 {
					t.Errorf("%s received %d packets before any was sent", hp.toIf, s.RxPackets)
				}
				rx := packetSocket(t, hp.to, hp.toIdx)
				tx := packetSocket(t, hp.from, hp.fromIdx)
				frame := testFrame(byte(i))
				if err := unix.Sendto(tx, frame, 0, &unix.SockaddrLinklayer{Protocol: htons(testEthertype), Ifindex: hp.fromIdx}); err != nil {
					t.Fatalf("send on %s: %v", hp.fromIf, err)
				}
				got, from := recvFrame(t, rx, 30*time.Second)
				if string(got) != string(frame) {
					t.Errorf("%s -> %s: got % x\nwant % x", hp.fromIf, hp.toIf, got, frame)
				}
				if from == nil || from.Pkttype != hp.wantType || from.Ifindex != hp.toIdx {
					t.Errorf("%s -> %s: from %+v, want pkttype %d (PACKET_OTHERHOST) on ifindex %d", hp.fromIf, hp.toIf, from, hp.wantType, hp.toIdx)
				}
				if s := stats(t, hp.from, hp.fromIf); s.TxPackets != 1 || s.TxBytes != 64 {
					t.Errorf("%s sent %d packets, %d bytes; want 1, 64", hp.fromIf, s.TxPackets, s.TxBytes)
				}
				if s := stats(t, hp.to, hp.toIf); s.RxPackets != 1 || s.RxBytes != 64 || s.RxDropped != 0 {
					t.Errorf("%s stats %+v, want 1 packet of 64 bytes, none dropped", hp.toIf, s)
				}
			}
		})
	}
}

func TestOffloads(t *testing.T) {
	needRoot(t)
	off := build(t, Config{RunID: "off0", Emulator: true})
	for _, h := range off.Hosts() {
		for _, ifname := range []string{h.Ifname, h.Ifname2} {
			if ifname == "" {
				continue
			}
			on, err := h.FrameOffloads(ifname)
			if err != nil {
				t.Fatal(err)
			}
			if len(on) > 0 {
				t.Errorf("%s/%s: offloads on: %v", h.NSName, ifname, on)
			}
			m, err := h.Features(ifname)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"tx-scatter-gather", "tx-checksum-ip-generic", "rx-checksum", "tx-tcp-segmentation", "tx-generic-segmentation", "tx-udp-segmentation", "rx-gro", "rx-lro"} {
				if active, ok := m[name]; !ok || active {
					t.Errorf("%s/%s: feature %s present %v, on %v; want present and off", h.NSName, ifname, name, ok, active)
				}
			}
		}
	}
	// Offloads: true keeps the kernel's defaults (veth: checksum, SG and
	// segmentation offloads on), plus MTU, queue length and queues are
	// applied to both ends.
	kept := build(t, Config{RunID: "off1", Offloads: true, MTU: 9000, TxQueueLen: 77, Queues: 3})
	on, err := kept.Sender.FrameOffloads(kept.Sender.Ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tx-scatter-gather", "tx-checksum-ip-generic", "tx-tcp-segmentation"} {
		if !slices.Contains(on, name) {
			t.Errorf("with Offloads true, %s is off (on: %v)", name, on)
		}
	}
	for _, h := range kept.Hosts() {
		err := h.Do(func() error {
			l, err := netlink.LinkByName(h.Ifname)
			if err != nil {
				return err
			}
			if a := l.Attrs(); a.MTU != 9000 || a.TxQLen != 77 || a.NumTxQueues != 3 || a.NumRxQueues != 3 {
				return fmt.Errorf("mtu %d txqlen %d, %d tx and %d rx queues, want 9000, 77, 3 and 3", a.MTU, a.TxQLen, a.NumTxQueues, a.NumRxQueues)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", h.Ifname, err)
		}
	}
}

// CleanStale judges a namespace by its owner record, not by the name of
// the owner's program: a live owner that is not a labrun (here sleep, and
// this test binary) keeps its namespace, a dead owner's namespace goes,
// one without a record is left and reported.
func TestCleanStale(t *testing.T) {
	needRoot(t)
	t.Setenv("LABRUN_STATE_DIR", t.TempDir())
	dir, err := recordDir()
	if err != nil {
		t.Fatal(err)
	}
	// A live owner that is not a labrun, and a dead one.
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	liveOwner := ownerOf(t, live.Process.Pid)
	gone := exec.Command("sleep", "60")
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	deadOwner := ownerOf(t, gone.Process.Pid)
	gone.Process.Kill() // by PID (pidfd), then reaped: the owner is gone
	gone.Wait()

	// Names carry the PID of the owner, as labrun's do; without a record
	// even a dead PID in the name removes nothing.
	pid := os.Getpid()
	names := map[string]string{ // name -> whose
		NSName(liveOwner.PID, "tstal1", "snd"): "sleep",
		NSName(deadOwner.PID, "tstal2", "snd"): "dead",
		NSName(pid, "tstal3", "snd"):           "self",
		NSName(deadOwner.PID, "tstal4", "rcv"): "none",
		NSName(pid, "tstal5", "rcv"):           "bad",
	}
	for name, whose := range names {
		fd, err := newNamedNS(name)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		t.Cleanup(func() {
			if nameExists(name) {
				deleteNamedNS(name)
			}
		})
		rec := filepath.Join(dir, name+".json")
		switch whose {
		case "sleep":
			writeOwner(t, rec, name, liveOwner)
		case "dead":
			writeOwner(t, rec, name, deadOwner)
		case "none":
			os.Remove(rec)
		case "bad":
			os.WriteFile(rec, []byte("{\"pid\": "), 0o600)
		}
	}
	// A record whose namespace is gone and whose owner is dead goes too.
	orphan := filepath.Join(dir, NSName(pid, "tstal6", "emu")+".json")
	writeOwner(t, orphan, NSName(pid, "tstal6", "emu"), deadOwner)
	other := "lr-x-testxx-snd" // not a name this package makes
	otherPath := NetnsDir + "/" + other
	if err := os.WriteFile(otherPath, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(otherPath) })

	found, err := CleanStale()
	if err != nil {
		t.Fatalf("CleanStale: %v", err)
	}
	got := map[string]string{}
	for _, s := range found {
		if _, ours := names[s.Name]; ours || s.Name == other {
			got[s.Name] = s.String()
		}
	}
	dead, none, bad := NSName(deadOwner.PID, "tstal2", "snd"), NSName(deadOwner.PID, "tstal4", "rcv"), NSName(pid, "tstal5", "rcv")
	want := map[string]string{
		dead: fmt.Sprintf("removed namespace %s: its owner, pid %d (start time %d), is no longer running", dead, deadOwner.PID, deadOwner.Start),
		none: fmt.Sprintf("namespace %s: no owner record: left as it is; remove it with `ip netns del %s` if it is yours", none, none),
		bad: fmt.Sprintf("namespace %s: malformed owner record %s: left as it is; remove it with `ip netns del %s` if it is yours",
			bad, filepath.Join(dir, bad+".json"), bad),
	}
	if !maps.Equal(got, want) {
		t.Errorf("CleanStale found\n%v\nwant\n%v", got, want)
	}
	for name, whose := range names {
		if exists := nameExists(name); exists != (whose != "dead") {
			t.Errorf("%s (owner %s): exists %v after CleanStale", name, whose, exists)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, dead+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed namespace's record is still there (%v)", err)
	}
	if _, err := os.Lstat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead owner's record without namespace is still there (%v)", err)
	}
	if !nameExists(other) {
		t.Errorf("CleanStale removed %s", other)
	}
	// A second pass removes nothing more.
	found, err = CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range found {
		if s.Removed && names[s.Name] != "" {
			t.Errorf("second CleanStale: %s", s)
		}
	}
}

func ownerOf(t *testing.T, pid int) kernel.Owner {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return kernel.Owner{PID: pid, Start: start}
}

func writeOwner(t *testing.T, path, name string, o kernel.Owner) {
	t.Helper()
	b, _ := json.Marshal(ownerRecord{Name: name, Owner: o})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func nameExists(name string) bool {
	_, err := os.Lstat(NetnsDir + "/" + name)
	return err == nil
}

// errInjected is the failure the hook injects.
var errInjected = errors.New("injected failure")

func TestBuildFailsMidwayLeavesNothing(t *testing.T) {
	needRoot(t)
	t.Cleanup(func() { failHook = nil })
	for _, emu := range []bool{false, true} {
		cfg := Config{RunID: "fail" + strconv.FormatBool(emu)[:1], Emulator: emu}
		var steps []string
		failHook = func(s string) error { steps = append(steps, s); return nil }
		tp, err := Build(cfg)
		failHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Close(); err != nil {
			t.Fatal(err)
		}
		if len(steps) < 8 {
			t.Fatalf("only %d steps recorded: %v", len(steps), steps)
		}
		for _, s := range steps {
			t.Run(fmt.Sprintf("emulator=%v/%s", emu, s), func(t *testing.T) {
				failHook = func(cur string) error {
					if cur == s {
						return errInjected
					}
					return nil
				}
				defer func() { failHook = nil }()
				tp, err := Build(cfg)
				if err == nil {
					tp.Close()
					t.Fatalf("Build succeeded despite a failure at %s", s)
				}
				if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), s) {
					t.Errorf("Build error %v, want the injected failure at %s", err, s)
				}
				assertGone(t, cfg.RunID)
			})
		}
	}
}

func TestConcurrentBuild(t *testing.T) {
	needRoot(t)
	ids := []string{"cc0", "cc1", "cc2"}
	tops := make([]*Topology, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { tops[i], errs[i] = Build(Config{RunID: id, Emulator: i%2 == 1}) })
	}
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil {
			t.Errorf("Build %s: %v", id, errs[i])
			continue
		}
		t.Cleanup(func() { tops[i].Close() })
		if got := len(ourNamespaces(t, id)); got != len(tops[i].Hosts()) {
			t.Errorf("%s: %d namespaces, want %d", id, got, len(tops[i].Hosts()))
		}
	}
	// The same run id twice in one process is refused, and the refusal
	// removes nothing of the first.
	if errs[0] == nil {
		if _, err := Build(Config{RunID: ids[0]}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("second Build of %s: %v, want an already-exists error", ids[0], err)
		}
		if got := len(ourNamespaces(t, ids[0])); got != 2 {
			t.Errorf("after the refused Build, %d namespaces of %s, want 2", got, ids[0])
		}
	}
	for i, id := range ids {
		if errs[i] != nil {
			continue
		}
		if err := tops[i].Close(); err != nil {
			t.Errorf("Close %s: %v", id, err)
		}
		assertGone(t, id)
	}
}

func TestCloseFromForeignNamespace(t *testing.T) {
	needRoot(t)
	tp := build(t, Config{RunID: "odd0", Emulator: true})
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: this thread moves to a namespace of its own.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		done <- tp.Close()
	}()
	if err := <-done; err != nil {
		t.Fatalf("Close from a thread in another namespace: %v", err)
	}
	assertGone(t, "odd0")
}

func TestCloseReportsBusyNamespace(t *testing.T) {
	needRoot(t)
	tp := build(t, Config{RunID: "busy0"})
	inside := make(chan struct{})
	release := make(chan struct{})
	doErr := make(chan error)
	go func() {
		doErr <- tp.Receiver.Do(func() error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	err := tp.Close()
	close(release)
	if derr := <-doErr; derr != nil {
		t.Errorf("Do: %v", derr)
	}
	if err == nil || !strings.Contains(err.Error(), "thread") || !strings.Contains(err.Error(), tp.Receiver.NSName) {
		t.Errorf("Close while a Do runs: %v, want an error naming the thread and %s", err, tp.Receiver.NSName)
	}
	assertGone(t, "busy0") // the names are gone all the same
}

func BenchmarkBuildClose(b *testing.B) {
	needRoot(b)
	for _, emu := range []bool{false, true} {
		b.Run(fmt.Sprintf("emulator=%v", emu), func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				tp, err := Build(Config{RunID: "bench" + strconv.Itoa(i%1000), Emulator: emu})
				if err != nil {
					b.Fatal(err)
				}
				if err := tp.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// Receive steering is set on the receiver's veth, inside its namespace.
func TestSteerReceive(t *testing.T) {
	needRoot(t)
	tp, err := Build(Config{RunID: "rpstst"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	if err := tp.Receiver.SteerReceive(tp.Receiver.Ifname, []int{0}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", tp.Receiver.NSName, "cat", "/sys/class/net/"+tp.Receiver.Ifname+"/queues/rx-0/rps_cpus").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimLeft(strings.TrimSpace(string(out)), "0,"); v != "1" {
		t.Fatalf("rps_cpus = %q, want mask 1", out)
	}
	if err := tp.Receiver.SteerReceive(tp.Receiver.Ifname, []int{99}); err == nil {
		t.Fatal("CPU 99 accepted")
	}
}
