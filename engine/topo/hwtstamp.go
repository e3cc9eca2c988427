package topo

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// TSInfo is what an interface can timestamp, as `ethtool -T` shows it
// (ETHTOOL_GET_TS_INFO).
type TSInfo struct {
	// SoTimestamping are the SOF_TIMESTAMPING_* flags the driver supports.
	SoTimestamping uint32 `json:"so_timestamping"`
	// PHCIndex is the interface's PTP hardware clock (/dev/ptpN), -1 for
	// none.
	PHCIndex int `json:"phc_index"`
	// TxTypes and RxFilters are bit sets of HWTSTAMP_TX_* and
	// HWTSTAMP_FILTER_* values.
	TxTypes   uint32 `json:"tx_types"`
	RxFilters uint32 `json:"rx_filters"`
}

var tsNames = []struct {
	flag uint32
	name string
}{
	{unix.SOF_TIMESTAMPING_TX_HARDWARE, "hardware-transmit"},
	{unix.SOF_TIMESTAMPING_TX_SOFTWARE, "software-transmit"},
	{unix.SOF_TIMESTAMPING_RX_HARDWARE, "hardware-receive"},
	{unix.SOF_TIMESTAMPING_RX_SOFTWARE, "software-receive"},
	{unix.SOF_TIMESTAMPING_SOFTWARE, "software-system-clock"},
	{unix.SOF_TIMESTAMPING_RAW_HARDWARE, "hardware-raw-clock"},
}

// String lists the capabilities in ethtool -T's words, then the clock.
func (i TSInfo) String() string {
	var names []string
	for _, n := range tsNames {
		if i.SoTimestamping&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		names = append(names, "none")
	}
	return strings.Join(names, " ") + fmt.Sprintf("; PTP hardware clock %d", i.PHCIndex)
}

// HardwareRx reports whether the NIC can stamp every received frame with
// its own clock, and if not, why.
func (i TSInfo) HardwareRx() (bool, string) {
	switch {
	case i.SoTimestamping&unix.SOF_TIMESTAMPING_RX_HARDWARE == 0 || i.SoTimestamping&unix.SOF_TIMESTAMPING_RAW_HARDWARE == 0:
		return false, "the driver has no hardware receive timestamps"
	case i.PHCIndex < 0:
		return false, "the interface has no PTP hardware clock to relate its stamps to"
	case i.RxFilters&(1<<unix.HWTSTAMP_FILTER_ALL) == 0:
		return false, "the NIC stamps only some frames (PTP), not every frame (rx filter all)"
	}
	return true, ""
}

// TimestampInfo reads what ifname in h's namespace can timestamp.
func (h *Host) TimestampInfo(ifname string) (TSInfo, error) {
	var info TSInfo
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening a socket for ethtool requests: %w", err)
		}
		defer unix.Close(fd)
		ti, err := unix.IoctlGetEthtoolTsInfo(fd, ifname)
		if err != nil {
			return fmt.Errorf("%s: reading its timestamping capabilities (ETHTOOL_GET_TS_INFO): %w", ifname, err)
		}
		info = TSInfo{SoTimestamping: ti.So_timestamping, PHCIndex: int(ti.Phc_index), TxTypes: ti.Tx_types, RxFilters: ti.Rx_filters}
		return nil
	})
	return info, err
}

// EnableRxTimestamps asks the NIC behind ifname in h's namespace to stamp
// every received frame (SIOCSHWTSTAMP, rx filter all; the transmit side
// is left as it is) and returns the step that puts its previous
// configuration back. The configuration is the NIC's, shared by every
// socket on it: ptp4l, for one, sets it too.
func (h *Host) EnableRxTimestamps(ifname string) (restore func() error, err error) {
	var old *unix.HwTstampConfig
	do := func(fn func(fd int) error) error {
		return h.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return fn(fd)
		})
	}
	i := h.iface
	if !h.attached {
		i = Iface{NetNS: h.NSName, Ifname: ifname}
	}
	err = do(func(fd int) error {
		var err error
		if old, err = getHwTstamp(fd, ifname); err != nil {
			return fmt.Errorf("%s: reading its timestamping configuration (SIOCGHWTSTAMP): %w", ifname, err)
		}
		if err := recordTimestamps(i, *old); err != nil {
			return fmt.Errorf("%s: recording its timestamping configuration before changing it: %w", ifname, err)
		}
		want := *old
		want.Rx_filter = unix.HWTSTAMP_FILTER_ALL
		if err := setHwTstamp(fd, ifname, &want); err != nil {
			return errors.Join(fmt.Errorf("%s: enabling hardware receive timestamps (SIOCSHWTSTAMP): %w", ifname, err), forgetTimestamps(i))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func() error {
		return do(func(fd int) error {
			if err := setHwTstamp(fd, ifname, old); err != nil {
				return fmt.Errorf("%s: restoring its timestamping configuration (rx filter %d): %w", ifname, old.Rx_filter, err)
			}
			return forgetTimestamps(i)
		})
	}, nil
}

// DriverInfo describes the driver of ifname in h's namespace as
// `ethtool -i` does (ETHTOOL_GDRVINFO): driver, version, firmware, bus.
func (h *Host) DriverInfo(ifname string) (string, error) {
	var s string
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening a socket for ethtool requests: %w", err)
		}
		defer unix.Close(fd)
		di, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname)
		if err != nil {
			return fmt.Errorf("%s: reading its driver (ETHTOOL_GDRVINFO): %w", ifname, err)
		}
		c := func(b []byte) string { return unix.ByteSliceToString(b) }
		s = fmt.Sprintf("driver %s, version %s, firmware %s, bus %s", c(di.Driver[:]), c(di.Version[:]), cmp.Or(c(di.Fw_version[:]), "n/a"), cmp.Or(c(di.Bus_info[:]), "n/a"))
		return nil
	})
	return s, err
}
