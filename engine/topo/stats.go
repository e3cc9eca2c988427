package topo

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkStats are an interface's kernel counters.
type LinkStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxDropped, TxDropped uint64
}

// Stats reads the counters of interface ifname in h's namespace through
// netlink (RTM_GETLINK, 64-bit counters).
func (h *Host) Stats(ifname string) (LinkStats, error) {
	var st LinkStats
	err := h.Do(func() error {
		nh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("opening a netlink socket in %s: %w", h.NSName, err)
		}
		defer nh.Close()
		l, err := nh.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("finding %s in %s: %w", ifname, h.NSName, err)
		}
		s := l.Attrs().Statistics
		if s == nil {
			return fmt.Errorf("the kernel sent no counters for %s in %s", ifname, h.NSName)
		}
		st = LinkStats{
			RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped,
		}
		return nil
	})
	return st, err
}
