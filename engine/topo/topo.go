package topo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "lr-"

// Roles of the hosts of a topology.
const (
	RoleSender   = "sender"
	RoleReceiver = "receiver"
	RoleEmulator = "emulator"
)

// Interface names inside the namespaces; the same in every run.
const (
	SenderIf    = "lr-snd0"
	ReceiverIf  = "lr-rcv0"
	EmulatorIf  = "lr-emu0" // the emulator's interface toward the sender
	EmulatorIf2 = "lr-emu1" // the emulator's interface toward the receiver
)

// MTU bounds accepted by Config.MTU (veth's own limits).
const (
	MinMTU     = 68
	MaxMTU     = 65535
	DefaultMTU = 1500
)

// maxRunID is the longest accepted Config.RunID.
const maxRunID = 8

// Config says what to build.
type Config struct {
	// RunID is the run's short id: 1 to 8 characters of [0-9a-z].
	RunID string
	// Emulator false: sender <-> receiver, one veth pair. True: sender <->
	// emulator <-> receiver, two pairs.
	Emulator bool
	// MTU of every veth; 0 means 1500. Accepted: 68..65535.
	MTU int
	// Offloads true leaves the veths' offloads at the kernel's defaults;
	// false (the default) turns off every offload that changes frames on
	// the way (see the package documentation).
	Offloads bool
	// TxQueueLen of every veth; 0 leaves the kernel's default.
	TxQueueLen int
	// Pairs is the number of veth pairs between the sender and the
	// receiver, each its own port (see Host.Port); 0 means 1. Accepted
	// 1..MaxPairs, and only 1 with an emulator.
	Pairs int
	// Queues is the number of transmit and receive queues of every veth
	// end; 0 means 1, -1 one per CPU. Accepted up to MaxQueues. An XDP
	// socket takes a queue of its own: sending threads on one port need
	// one each (sink.afxdp).
	Queues int
}

// MaxQueues bounds Config.Queues.
const MaxQueues = 64

// MaxPairs bounds Config.Pairs: pair k uses 198.18.k.0/24.
const MaxPairs = 16

// normalize checks cfg and fills defaults.
func (cfg Config) normalize() (Config, error) {
	if cfg.RunID == "" || len(cfg.RunID) > maxRunID {
		return cfg, fmt.Errorf("run id %q must be 1 to %d characters of [0-9a-z]", cfg.RunID, maxRunID)
	}
	for _, c := range cfg.RunID {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return cfg, fmt.Errorf("run id %q must be 1 to %d characters of [0-9a-z], not %q", cfg.RunID, maxRunID, c)
		}
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < MinMTU || cfg.MTU > MaxMTU {
		return cfg, fmt.Errorf("mtu %d out of range: accepted %d..%d (0 means %d)", cfg.MTU, MinMTU, MaxMTU, DefaultMTU)
	}
	if cfg.Pairs == 0 {
		cfg.Pairs = 1
	}
	if cfg.Pairs < 1 || cfg.Pairs > MaxPairs {
		return cfg, fmt.Errorf("%d veth pairs out of range: accepted 1..%d (0 means 1)", cfg.Pairs, MaxPairs)
	}
	if cfg.Pairs > 1 && cfg.Emulator {
		return cfg, fmt.Errorf("%d veth pairs with an emulator: the emulator forwards one pair; give 1 pair", cfg.Pairs)
	}
	if cfg.Queues == -1 {
		cfg.Queues = min(runtime.NumCPU(), MaxQueues)
	}
	if cfg.Queues < 0 || cfg.Queues > MaxQueues {
		return cfg, fmt.Errorf("%d queues out of range: accepted 1..%d, 0 for one, -1 for one per CPU", cfg.Queues, MaxQueues)
	}
	if cfg.TxQueueLen < 0 || int64(cfg.TxQueueLen) > 1<<32-1 {
		return cfg, fmt.Errorf("tx queue length %d out of range: accepted 1..%d, or 0 for the kernel's default", cfg.TxQueueLen, uint32(1<<32-1))
	}
	return cfg, nil
}

// Host is one namespace of a topology and its interfaces.
type Host struct {
	Role    string           // RoleSender, RoleReceiver or RoleEmulator
	NSName  string           // namespace name, e.g. lr-<pid>-<runid>-snd, as in `ip netns list`
	Ifname  string           // interface toward the next hop (emulator: toward the sender)
	Ifindex int              // Ifname's index inside the namespace
	MAC     net.HardwareAddr // Ifname's MAC
	IP      netip.Addr       // Ifname's address, in 198.18.0.0/15
	// The emulator's second interface, toward the receiver; zero on the
	// other hosts.
	Ifname2  string
	Ifindex2 int
	MAC2     net.HardwareAddr
	IP2      netip.Addr

	// The ports past the first of a topology with several pairs (sender
	// and receiver only); see Port.
	more []Port

	mu   sync.RWMutex
	fd   int  // open namespace file; -1 once closed
	made bool // the name was created by this topology and not yet removed
	// attached: an existing namespace (Attach), released but never
	// removed or checked for other users on close; iface is the
	// interface as the user named it.
	attached bool
	iface    Iface
	mtu      int
}

// Port is one veth end of a host: with Config.Pairs = N, the sender and
// the receiver each have ports 0..N-1, and sender port k is joined to
// receiver port k by its own veth pair.
type Port struct {
	Ifname  string // lr-snd<k> or lr-rcv<k>
	Ifindex int    // inside the host's namespace
	MAC     net.HardwareAddr
	IP      netip.Addr // 198.18.<k>.1 (sender) or 198.18.<k>.2 (receiver)
}

// Port returns port k of h: port 0 is Ifname, Ifindex, MAC and IP; the
// others exist on the sender and receiver of a topology with several
// pairs. k out of range returns the zero Port.
func (h *Host) Port(k int) Port {
	switch {
	case k == 0:
		return Port{h.Ifname, h.Ifindex, h.MAC, h.IP}
	case k > 0 && k <= len(h.more):
		return h.more[k-1]
	}
	return Port{}
}

// Ports is the number of ports of h (1 unless it is the sender or the
// receiver of a topology with several pairs).
func (h *Host) Ports() int { return 1 + len(h.more) }

// Topology is the namespaces and veth pairs of one run.
type Topology struct {
	Sender   *Host
	Receiver *Host
	Emulator *Host // nil unless Config.Emulator

	cfg   Config
	named bool // made by Attach of existing interfaces

	mu     sync.Mutex
	closed bool
}

// Config returns the configuration the topology was built with, defaults
// filled in.
func (t *Topology) Config() Config { return t.cfg }

// Hosts returns the topology's hosts: sender, emulator (if any), receiver.
func (t *Topology) Hosts() []*Host {
	if t.Emulator != nil {
		return []*Host{t.Sender, t.Emulator, t.Receiver}
	}
	if t.Receiver == nil { // Attach without a receiver
		return []*Host{t.Sender}
	}
	return []*Host{t.Sender, t.Receiver}
}

// Deterministic, locally administered MACs ("lr" in the second and third
// bytes).
var (
	macSender    = net.HardwareAddr{0x02, 0x6c, 0x72, 0xff, 0x00, 0x01}
	macReceiver  = net.HardwareAddr{0x02, 0x6c, 0x72, 0xff, 0x00, 0x02}
	macEmulator  = net.HardwareAddr{0x02, 0x6c, 0x72, 0xff, 0x00, 0x11}
	macEmulator2 = net.HardwareAddr{0x02, 0x6c, 0x72, 0xff, 0x00, 0x12}
)

// Addresses.
var (
	ipSender    = netip.MustParseAddr("198.18.0.1")
	ipReceiver  = netip.MustParseAddr("198.18.0.2") // without emulator
	ipEmulator  = netip.MustParseAddr("198.18.0.254")
	ipEmulator2 = netip.MustParseAddr("198.19.0.254")
	ipReceiverE = netip.MustParseAddr("198.19.0.2") // with emulator
)

const prefixLen = 24

// NSName returns the namespace name of role ("snd", "rcv" or "emu") for
// run id in process pid.
func NSName(pid int, runID, role string) string {
	return Prefix + strconv.Itoa(pid) + "-" + runID + "-" + role
}

// roleTag maps a role to its suffix in namespace names.
var roleTag = map[string]string{RoleSender: "snd", RoleReceiver: "rcv", RoleEmulator: "emu"}

// failHook, when set (by tests), is called before every step of Build; an
// error it returns makes that step fail.
var failHook func(step string) error

func step(name string) error {
	if failHook != nil {
		if err := failHook(name); err != nil {
			return fmt.Errorf("step %s: %w", name, err)
		}
	}
	return nil
}

// Build creates the namespaces and veth pairs that cfg describes. On any
// error everything created so far is removed before it returns.
func Build(cfg Config) (*Topology, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	t := newTopology(cfg, os.Getpid())
	if err := t.build(); err != nil {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing what the failed build created: %w", cerr))
		}
		return nil, err
	}
	return t, nil
}

// newTopology lays out the hosts without creating anything.
func newTopology(cfg Config, pid int) *Topology {
	host := func(role, ifname string, mac net.HardwareAddr, ip netip.Addr) *Host {
		return &Host{Role: role, NSName: NSName(pid, cfg.RunID, roleTag[role]), Ifname: ifname, MAC: mac, IP: ip, fd: -1}
	}
	t := &Topology{cfg: cfg}
	t.Sender = host(RoleSender, SenderIf, macSender, ipSender)
	if cfg.Emulator {
		t.Emulator = host(RoleEmulator, EmulatorIf, macEmulator, ipEmulator)
		t.Emulator.Ifname2, t.Emulator.MAC2, t.Emulator.IP2 = EmulatorIf2, macEmulator2, ipEmulator2
		t.Receiver = host(RoleReceiver, ReceiverIf, macReceiver, ipReceiverE)
	} else {
		t.Receiver = host(RoleReceiver, ReceiverIf, macReceiver, ipReceiver)
	}
	for k := 1; k < cfg.Pairs; k++ {
		t.Sender.more = append(t.Sender.more, portOf(k, "lr-snd", 1))
		t.Receiver.more = append(t.Receiver.more, portOf(k, "lr-rcv", 2))
	}
	return t
}

// portOf lays out port k (k >= 1) of the sender (host 1) or the receiver
// (host 2): interface prefix + k, MAC 02:6c:72:ff:<k>:0<host>, address
// 198.18.<k>.<host>.
func portOf(k int, prefix string, host byte) Port {
	return Port{
		Ifname: prefix + strconv.Itoa(k),
		MAC:    net.HardwareAddr{0x02, 0x6c, 0x72, 0xff, byte(k), host},
		IP:     netip.AddrFrom4([4]byte{198, 18, byte(k), host}),
	}
}

// vethPair is one veth pair: end a in host a, end b in host b.
type vethPair struct {
	a, b         *Host
	aIf, bIf     string
	aMAC, bMAC   net.HardwareAddr
	aAddr, bAddr netip.Addr
}

func (t *Topology) pairs() []vethPair {
	s, r := t.Sender, t.Receiver
	if e := t.Emulator; e != nil {
		return []vethPair{
			{s, e, s.Ifname, e.Ifname, s.MAC, e.MAC, s.IP, e.IP},
			{e, r, e.Ifname2, r.Ifname, e.MAC2, r.MAC, e.IP2, r.IP},
		}
	}
	ps := []vethPair{{s, r, s.Ifname, r.Ifname, s.MAC, r.MAC, s.IP, r.IP}}
	for k := range s.more {
		a, b := s.more[k], r.more[k]
		ps = append(ps, vethPair{s, r, a.Ifname, b.Ifname, a.MAC, b.MAC, a.IP, b.IP})
	}
	return ps
}

// ifindexOf points at where h keeps the index of its interface ifname.
func (h *Host) ifindexOf(ifname string) *int {
	if ifname == h.Ifname2 {
		return &h.Ifindex2
	}
	for k := range h.more {
		if h.more[k].Ifname == ifname {
			return &h.more[k].Ifindex
		}
	}
	return &h.Ifindex
}

// linkUpTimeout bounds the wait for the veths to be up and ready to send.
const linkUpTimeout = 5 * time.Second

func (t *Topology) build() error {
	hosts := t.Hosts()
	for _, h := range hosts {
		if err := step("netns:" + h.Role); err != nil {
			return err
		}
		fd, err := newNamedNS(h.NSName)
		if err != nil {
			return fmt.Errorf("creating namespace of the %s: %w", h.Role, err)
		}
		h.mu.Lock()
		h.fd, h.made = fd, true
		h.mu.Unlock()
	}
	// One netlink socket per namespace, opened inside it.
	handles := make(map[*Host]*netlink.Handle, len(hosts))
	defer func() {
		for _, nh := range handles {
			nh.Close()
		}
	}()
	for _, h := range hosts {
		if err := step("setup:" + h.Role); err != nil {
			return err
		}
		nh, err := h.setupNS()
		if err != nil {
			return fmt.Errorf("setting up namespace %s: %w", h.NSName, err)
		}
		handles[h] = nh
	}
	for _, p := range t.pairs() {
		if err := step("veth:" + p.aIf + "-" + p.bIf); err != nil {
			return err
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.HardwareAddr, la.MTU = p.aIf, p.aMAC, t.cfg.MTU
		if t.cfg.TxQueueLen > 0 {
			la.TxQLen = t.cfg.TxQueueLen
		}
		if q := t.cfg.Queues; q > 1 {
			la.NumTxQueues, la.NumRxQueues = q, q // the peer takes the same
		}
		v := &netlink.Veth{LinkAttrs: la, PeerName: p.bIf, PeerHardwareAddr: p.bMAC, PeerTxQLen: la.TxQLen}
		p.b.mu.RLock()
		v.PeerNamespace = netlink.NsFd(p.b.fd)
		err := handles[p.a].LinkAdd(v)
		p.b.mu.RUnlock()
		if err != nil {
			return fmt.Errorf("creating veth %s (in %s) <-> %s (in %s): %w", p.aIf, p.a.NSName, p.bIf, p.b.NSName, err)
		}
	}
	type end struct {
		h      *Host
		ifname string
		addr   netip.Addr
	}
	var ends []end
	for _, p := range t.pairs() {
		ends = append(ends, end{p.a, p.aIf, p.aAddr}, end{p.b, p.bIf, p.bAddr})
	}
	for _, e := range ends {
		if err := step("link:" + e.ifname); err != nil {
			return err
		}
		idx, err := e.h.setupLink(handles[e.h], e.ifname, e.addr, t.cfg.Offloads)
		if err != nil {
			return fmt.Errorf("setting up %s in %s: %w", e.ifname, e.h.NSName, err)
		}
		*e.h.ifindexOf(e.ifname) = idx
	}
	if e := t.Emulator; e != nil {
		routes := []struct {
			h       *Host
			dst     string
			gw      netip.Addr
			ifindex int
		}{
			{t.Sender, "198.19.0.0/24", e.IP, t.Sender.Ifindex},
			{t.Receiver, "198.18.0.0/24", e.IP2, t.Receiver.Ifindex},
		}
		for _, r := range routes {
			if err := step("route:" + r.h.Role); err != nil {
				return err
			}
			_, dst, _ := net.ParseCIDR(r.dst)
			rt := &netlink.Route{LinkIndex: r.ifindex, Dst: dst, Gw: r.gw.AsSlice()}
			if err := handles[r.h].RouteAdd(rt); err != nil {
				return fmt.Errorf("adding route %s via %s in %s: %w", r.dst, r.gw, r.h.NSName, err)
			}
		}
	}
	for _, e := range ends {
		if err := step("ready:" + e.ifname); err != nil {
			return err
		}
		if err := waitReady(handles[e.h], e.ifname, linkUpTimeout); err != nil {
			return fmt.Errorf("%s in %s: %w", e.ifname, e.h.NSName, err)
		}
	}
	return step("done")
}

// setupNS runs inside h's namespace: IPv6 off by default, forwarding off,
// lo up. It returns a netlink handle whose socket lives in the namespace.
func (h *Host) setupNS() (*netlink.Handle, error) {
	var nh *netlink.Handle
	err := h.Do(func() error {
		var err error
		if nh, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("opening a netlink socket: %w", err)
		}
		if err := disableIPv6("default"); err != nil {
			return err
		}
		if err := writeSysctl("ipv4/ip_forward", "0"); err != nil {
			return err
		}
		lo, err := nh.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("finding lo: %w", err)
		}
		if err := nh.LinkSetUp(lo); err != nil {
			return fmt.Errorf("setting lo up: %w", err)
		}
		return nil
	})
	if err != nil && nh != nil {
		nh.Close()
		nh = nil
	}
	return nh, err
}

// setupLink configures one veth end inside h's namespace (IPv6 off,
// offloads, address, up) and returns its ifindex.
func (h *Host) setupLink(nh *netlink.Handle, ifname string, addr netip.Addr, offloads bool) (int, error) {
	l, err := nh.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("finding the new veth: %w", err)
	}
	err = h.Do(func() error {
		if err := disableIPv6(ifname); err != nil {
			return err
		}
		if !offloads {
			if err := disableOffloads(ifname); err != nil {
				return fmt.Errorf("turning offloads off (set offloads to keep them): %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(prefixLen, 32)}}
	if err := nh.AddrAdd(l, a); err != nil {
		return 0, fmt.Errorf("adding address %s/%d: %w", addr, prefixLen, err)
	}
	if err := nh.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("setting it up: %w", err)
	}
	return l.Attrs().Index, nil
}

// waitReady polls until ifname is operationally up and has its real qdisc.
// Until the kernel's link watcher has run, a device that has just got its
// carrier keeps the placeholder noop qdisc, which drops every frame.
func waitReady(nh *netlink.Handle, ifname string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		l, err := nh.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("waiting for it to come up: %w", err)
		}
		last = "operstate " + l.Attrs().OperState.String()
		if l.Attrs().OperState == netlink.OperUp {
			qs, err := nh.QdiscList(l)
			if err != nil {
				return fmt.Errorf("listing its qdiscs: %w", err)
			}
			ready := len(qs) > 0
			for _, q := range qs {
				if q.Type() == "noop" {
					ready, last = false, "qdisc noop"
				}
			}
			if ready {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready to send after %v (%s; want operstate up and a qdisc other than noop)", timeout, last)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// Close deletes the topology's namespaces (the veths die with them) and
// checks that they are gone: no name left under /run/netns, no process and
// no thread of this process still inside. It is idempotent, and does not
// depend on the calling thread's namespace.
func (t *Topology) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	var errs []error
	hosts := t.Hosts()
	for _, h := range hosts {
		if err := h.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		t.closed = true
	}
	return errors.Join(errs...)
}

// close removes h's name and releases the namespace. A leftover name is an
// error; so is a process still inside (checked while this package still
// holds the namespace, so the inode cannot have been reused).
func (h *Host) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	if h.made {
		if err := deleteNamedNS(h.NSName); err != nil {
			errs = append(errs, err)
		} else {
			h.made = false
		}
	}
	if h.fd >= 0 && h.attached {
		unix.Close(h.fd)
		h.fd = -1
	}
	if h.fd >= 0 {
		if err := nsBusy(h.fd); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", h.NSName, err))
		}
		unix.Close(h.fd)
		h.fd = -1
	}
	return errors.Join(errs...)
}
