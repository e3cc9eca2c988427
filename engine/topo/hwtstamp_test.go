package topo

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTSInfoHardwareRx(t *testing.T) {
	const hwrx = unix.SOF_TIMESTAMPING_RX_HARDWARE | unix.SOF_TIMESTAMPING_RAW_HARDWARE
	tests := []struct {
		name string
		info TSInfo
		ok   bool
		why  string
	}{
		// veth: software only.
		{"veth", TSInfo{SoTimestamping: unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE, PHCIndex: -1}, false, "no hardware receive timestamps"},
		// Hardware stamps but no clock to relate them to.
		{"no clock", TSInfo{SoTimestamping: hwrx, PHCIndex: -1, RxFilters: 1 << unix.HWTSTAMP_FILTER_ALL}, false, "no PTP hardware clock"},
		// A NIC that stamps PTP frames only.
		{"ptp only", TSInfo{SoTimestamping: hwrx, PHCIndex: 0, RxFilters: 1 << unix.HWTSTAMP_FILTER_PTP_V2_EVENT}, false, "only some frames"},
		// Every frame, with a clock.
		{"all", TSInfo{SoTimestamping: hwrx, PHCIndex: 2, RxFilters: 1<<unix.HWTSTAMP_FILTER_ALL | 1<<unix.HWTSTAMP_FILTER_NONE}, true, ""},
	}
	for _, tc := range tests {
		ok, why := tc.info.HardwareRx()
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("%s: HardwareRx = %v, %q; want %v, %q", tc.name, ok, why, tc.ok, tc.why)
		}
	}
	if s := tests[0].info.String(); s != "software-transmit software-receive software-system-clock; PTP hardware clock -1" {
		t.Errorf("String: %q", s)
	}
}

func TestParseIface(t *testing.T) {
	tests := []struct {
		in   string
		want Iface
		err  string
	}{
		{"eth1", Iface{Ifname: "eth1"}, ""},
		{"lab/eth1", Iface{NetNS: "lab", Ifname: "eth1"}, ""},
		{"", Iface{}, "interface name"},
		{"/eth1", Iface{}, "namespace"},
		{"lab/", Iface{}, "interface name"},
		{"a/b/c", Iface{}, "interface name"},
		{"../eth1", Iface{}, "namespace"},
		{"eth1:0", Iface{}, "interface name"},
		{"abcdefghijklmnop", Iface{}, "interface name"},
	}
	for _, tc := range tests {
		got, err := ParseIface(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseIface(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "NETNS/IFNAME")):
			t.Errorf("ParseIface(%q): error %v, want one about the %s and the accepted forms", tc.in, err, tc.err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}
