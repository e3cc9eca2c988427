package topo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Named interfaces: existing interfaces a user names (a NIC toward a
// device under test), used in place of the run's own namespaces and veth
// pair. Attach only finds them: it creates nothing, and never changes an
// interface's addresses, routes, MTU, offloads, qdisc or state. What a
// run may change on one (promiscuous mode through its receive socket,
// the NIC's timestamping configuration when asked) is done by the caller
// with its own undo.

// Iface is an existing interface: Ifname in labrun's own network namespace,
// or in the named namespace NetNS (/run/netns/NetNS, as `ip netns` names
// it).
type Iface struct {
	NetNS  string
	Ifname string
}

// IfaceForms lists the accepted spellings of an Iface.
const IfaceForms = `"IFNAME" (an interface in labrun's own network namespace, e.g. "eth1") or "NETNS/IFNAME" (one in the namespace /run/netns/NETNS, e.g. "lab/eth1")`

// ParseIface reads "IFNAME" or "NETNS/IFNAME".
func ParseIface(s string) (Iface, error) {
	ns, name, found := strings.Cut(s, "/")
	if !found {
		ns, name = "", s
	}
	bad := func(what, v string) error {
		return fmt.Errorf("%q: %s %q is not valid; want %s", s, what, v, IfaceForms)
	}
	if found && (ns == "" || ns == "." || ns == ".." || strings.ContainsAny(ns, "/\x00 \t\n") || len(ns) > 255) {
		return Iface{}, bad("namespace", ns)
	}
	if name == "" || name == "." || name == ".." || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/:\x00 \t\n") {
		return Iface{}, bad("interface name", name)
	}
	return Iface{NetNS: ns, Ifname: name}, nil
}

func (i Iface) String() string {
	if i.NetNS == "" {
		return i.Ifname
	}
	return i.NetNS + "/" + i.Ifname
}

// nsPath is the file of i's namespace.
func (i Iface) nsPath() string {
	if i.NetNS == "" {
		return "/proc/self/ns/net"
	}
	return filepath.Join(NetnsDir, i.NetNS)
}

// attach opens i's namespace and finds i in it, without changing either.
func (i Iface) attach(role string) (*Host, error) {
	fd, err := unix.Open(i.nsPath(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("interface %s: no network namespace %q (see `ip netns list`)", i, i.NetNS)
		}
		return nil, fmt.Errorf("interface %s: opening its namespace %s: %w", i, i.nsPath(), err)
	}
	h := &Host{Role: role, NSName: i.NetNS, Ifname: i.Ifname, fd: fd, attached: true, iface: i}
	if i.NetNS == "" {
		h.NSName = "(labrun's own)"
	}
	err = h.Do(func() error {
		ni, err := net.InterfaceByName(i.Ifname)
		if err != nil {
			where := "labrun's network namespace"
			if i.NetNS != "" {
				where = "namespace " + i.NetNS
			}
			return fmt.Errorf("interface %s: there is no %s in %s (see `ip link`)", i, i.Ifname, where)
		}
		if ni.Flags&net.FlagLoopback != 0 {
			return fmt.Errorf("interface %s is a loopback interface: name the port toward the device under test", i)
		}
		h.Ifindex, h.MAC, h.mtu = ni.Index, ni.HardwareAddr, ni.MTU
		return nil
	})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return h, nil
}

// Check reports whether every named interface exists, without changing
// anything.
func Check(ifaces ...Iface) error {
	var errs []error
	for _, i := range ifaces {
		h, err := i.attach("check")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.close()
	}
	return errors.Join(errs...)
}

// NamedConfig names the interfaces of a run on existing interfaces: the
// sender sends on Tx; the receiver, if Rx is set, receives on Rx.
type NamedConfig struct {
	Tx Iface
	Rx *Iface
}

// Attach makes a Topology of existing interfaces: its Sender is Tx in its
// namespace, its Receiver Rx (nil without Rx). Close releases them and
// removes nothing.
func Attach(cfg NamedConfig) (*Topology, error) {
	snd, err := cfg.Tx.attach(RoleSender)
	if err != nil {
		return nil, err
	}
	t := &Topology{Sender: snd, named: true}
	if cfg.Rx != nil {
		if t.Receiver, err = cfg.Rx.attach(RoleReceiver); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// MTU is the MTU of an attached host's interface as Attach found it (0
// for the interfaces of Build, whose MTU is Config.MTU).
func (h *Host) MTU() int { return h.mtu }

// Named reports whether the topology is made of existing interfaces.
func (t *Topology) Named() bool { return t.named }
