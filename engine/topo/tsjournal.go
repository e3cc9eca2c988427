package topo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/kernel"
)

// The NIC's timestamping configuration outlives the process that set it.
// Before EnableRxTimestamps changes it, the previous configuration and
// the process are recorded in the state folder:
//
//	hwtstamp/<ifname>@<netns>.json   {"netns": "lab", "ifname": "eth2",
//	                                  "old": {"Flags": 0, "Tx_type": 0, "Rx_filter": 0},
//	                                  "pid": 1234, "start": 5678}
//
// The restore step removes the record after writing the old
// configuration back. A labrun killed in between (SIGKILL, power loss)
// leaves the record: RestoreStaleTimestamps, run by CleanStale before the
// next run on a wire, writes the old configuration back once the
// recorded process is gone.

// SIOCGHWTSTAMP and SIOCSHWTSTAMP in the calling thread's namespace; tests
// replace them (no veth has hardware timestamps).
var (
	getHwTstamp = unix.IoctlGetHwTstamp
	setHwTstamp = unix.IoctlSetHwTstamp
)

type tsRecord struct {
	NetNS  string              `json:"netns,omitempty"`
	Ifname string              `json:"ifname"`
	Old    unix.HwTstampConfig `json:"old"`
	kernel.Owner
}

func tsRecordDir() (string, error) {
	d := kernel.StateDir()
	if d == "" {
		return "", errors.New("no state folder to record the NIC's timestamping configuration in: set LABRUN_STATE_DIR")
	}
	return filepath.Join(d, "hwtstamp"), nil
}

func tsRecordName(i Iface) string { return i.Ifname + "@" + i.NetNS + ".json" }

// recordTimestamps records i's configuration before labrun changes it.
func recordTimestamps(i Iface, old unix.HwTstampConfig) error {
	dir, err := tsRecordDir()
	if err != nil {
		return err
	}
	self, err := kernel.Self()
	if err != nil {
		return err
	}
	b, _ := json.Marshal(tsRecord{NetNS: i.NetNS, Ifname: i.Ifname, Old: old, Owner: self})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+tsRecordName(i))
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, tsRecordName(i)))
}

func forgetTimestamps(i Iface) error {
	dir, err := tsRecordDir()
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, tsRecordName(i))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// RestoreStaleTimestamps writes back the timestamping configuration of
// every NIC whose recorded labrun is gone, and says what it did.
func RestoreStaleTimestamps() ([]Stale, error) {
	dir, err := tsRecordDir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var found []Stale
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil || e.Name()[0] == '.' {
			continue
		}
		var r tsRecord
		if err := json.Unmarshal(b, &r); err != nil || r.PID <= 0 {
			errs = append(errs, fmt.Errorf("malformed timestamping record %s", path))
			continue
		}
		if r.Alive() {
			continue
		}
		i := Iface{NetNS: r.NetNS, Ifname: r.Ifname}
		note := fmt.Sprintf("restored the timestamping configuration of %s (rx filter %d, tx type %d), left by labrun pid %d, which is no longer running", i, r.Old.Rx_filter, r.Old.Tx_type, r.PID)
		h, err := i.attach("restore")
		if err == nil {
			err = h.Do(func() error {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				return setHwTstamp(fd, i.Ifname, &r.Old)
			})
			h.close()
		}
		if err != nil {
			note = fmt.Sprintf("could not restore the timestamping configuration of %s left by labrun pid %d: %v; record dropped", i, r.PID, err)
		}
		found = append(found, Stale{Name: i.String(), Owner: r.Owner, Note: note})
		errs = append(errs, os.Remove(path))
	}
	return found, errors.Join(errs...)
}
