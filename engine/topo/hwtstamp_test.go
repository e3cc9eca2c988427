package topo

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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

// The NIC's timestamping configuration is recorded before it changes:
// the restore step puts it back and drops the record; a record whose
// labrun is gone is put back by CleanStale. No veth has hardware stamps,
// so the two ioctls are replaced by a fake NIC.
func TestTimestampJournal(t *testing.T) {
	needRoot(t)
	t.Setenv("LABRUN_STATE_DIR", t.TempDir())
	nic := map[string]unix.HwTstampConfig{ReceiverIf: {Tx_type: unix.HWTSTAMP_TX_OFF, Rx_filter: unix.HWTSTAMP_FILTER_PTP_V2_EVENT}}
	getHwTstamp = func(fd int, ifname string) (*unix.HwTstampConfig, error) { c := nic[ifname]; return &c, nil }
	setHwTstamp = func(fd int, ifname string, c *unix.HwTstampConfig) error { nic[ifname] = *c; return nil }
	t.Cleanup(func() { getHwTstamp, setHwTstamp = unix.IoctlGetHwTstamp, unix.IoctlSetHwTstamp })
	tp, err := Build(Config{RunID: "tsjrnl"})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	dir, _ := tsRecordDir()
	records := func() int { e, _ := os.ReadDir(dir); return len(e) }

	restore, err := tp.Receiver.EnableRxTimestamps(ReceiverIf)
	if err != nil {
		t.Fatal(err)
	}
	if nic[ReceiverIf].Rx_filter != unix.HWTSTAMP_FILTER_ALL || records() != 1 {
		t.Fatalf("after enabling: %+v, %d records", nic[ReceiverIf], records())
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if nic[ReceiverIf].Rx_filter != unix.HWTSTAMP_FILTER_PTP_V2_EVENT || records() != 0 {
		t.Fatalf("after restoring: %+v, %d records", nic[ReceiverIf], records())
	}

	// Enabled by a labrun that is gone.
	if _, err := tp.Receiver.EnableRxTimestamps(ReceiverIf); err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("sleep", "60")
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	owner := ownerOf(t, gone.Process.Pid)
	gone.Process.Kill() // by PID, then reaped: the owner is gone
	gone.Wait()
	i := Iface{NetNS: tp.Receiver.NSName, Ifname: ReceiverIf}
	b, _ := json.Marshal(tsRecord{NetNS: i.NetNS, Ifname: i.Ifname, Old: unix.HwTstampConfig{Rx_filter: unix.HWTSTAMP_FILTER_PTP_V2_EVENT}, Owner: owner})
	if err := os.WriteFile(filepath.Join(dir, tsRecordName(i)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	found, err := CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	// (Other namespaces on the machine are reported too: not ours.)
	restored := 0
	for _, s := range found {
		if strings.Contains(s.String(), "restored the timestamping configuration of "+i.String()) {
			restored++
		}
	}
	if restored != 1 {
		t.Errorf("CleanStale found %v, want one restored timestamping configuration of %s", found, i)
	}
	if nic[ReceiverIf].Rx_filter != unix.HWTSTAMP_FILTER_PTP_V2_EVENT || records() != 0 {
		t.Errorf("after CleanStale: %+v, %d records", nic[ReceiverIf], records())
	}
}
