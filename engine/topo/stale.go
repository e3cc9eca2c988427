package topo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// parseName splits a namespace name made by this package,
// lr-<pid>-<runid>-<snd|rcv|emu>, and returns its pid; ok is false for
// any other name.
func parseName(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, Prefix)
	if !found {
		return 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return 0, false
	}
	if parts[2] != "snd" && parts[2] != "rcv" && parts[2] != "emu" {
		return 0, false
	}
	if _, err := (Config{RunID: parts[1]}).normalize(); err != nil {
		return 0, false
	}
	if parts[0] == "" || parts[0][0] == '0' {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 || strconv.Itoa(pid) != parts[0] {
		return 0, false
	}
	return pid, true
}

// Owner records. Before this package creates a namespace it records the
// creating process in the state folder (kernel.StateDir()):
//
//	netns/<name>.json   {"name": "lr-1234-ab12-snd", "pid": 1234, "start": 5678}
//
// <start> is field 22 of /proc/<pid>/stat, so a PID reused by another
// process is not taken for the owner. The record goes when the name does.
// A labrun that dies without Close leaves both; CleanStale removes a
// namespace whose recorded owner is gone, whatever that owner's program
// was called, and never one whose owner still runs.

// recordDir is the folder of the owner records.
func recordDir() (string, error) {
	d := kernel.StateDir()
	if d == "" {
		return "", errors.New("no state folder to record the namespace's owner in: set LABRUN_STATE_DIR")
	}
	return filepath.Join(d, "netns"), nil
}

type ownerRecord struct {
	Name string `json:"name"`
	kernel.Owner
}

// writeRecord records this process as the owner of namespace name.
func writeRecord(name string) error {
	dir, err := recordDir()
	if err != nil {
		return err
	}
	self, err := kernel.Self()
	if err != nil {
		return fmt.Errorf("reading this process's start time: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("recording the owner of namespace %s: %w", name, err)
	}
	b, _ := json.Marshal(ownerRecord{Name: name, Owner: self})
	path := filepath.Join(dir, name+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("recording the owner of namespace %s: %w", name, err)
	}
	return nil
}

// readRecord returns the recorded owner of namespace name; ok is false
// when there is no record or it cannot be read (then err says why).
func readRecord(dir, name string) (o kernel.Owner, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	var r ownerRecord
	if err := json.Unmarshal(b, &r); err != nil || r.Name != name || r.PID <= 0 {
		return o, false, fmt.Errorf("malformed owner record %s", filepath.Join(dir, name+".json"))
	}
	return r.Owner, true, nil
}

// removeRecord removes the owner record of namespace name.
func removeRecord(name string) error {
	dir, err := recordDir()
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, name+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the owner record of namespace %s: %w", name, err)
	}
	return nil
}

// Stale is a namespace CleanStale did not leave silently: removed because
// its recorded owner is gone, or left as it is because it has no record.
type Stale struct {
	Name    string
	Owner   kernel.Owner // the recorded owner; zero without a record
	Removed bool
	Problem string // why the record could not be read, if it could not
	// Note, if set, is what was done instead (a NIC's timestamping
	// configuration put back, see RestoreStaleTimestamps).
	Note string
}

func (s Stale) String() string {
	if s.Note != "" {
		return s.Note
	}
	if s.Removed {
		return fmt.Sprintf("removed namespace %s: its owner, pid %d (start time %d), is no longer running", s.Name, s.Owner.PID, s.Owner.Start)
	}
	why := "no owner record"
	if s.Problem != "" {
		why = s.Problem
	}
	return fmt.Sprintf("namespace %s: %s: left as it is; remove it with `ip netns del %s` if it is yours", s.Name, why, s.Name)
}

// CleanStale deletes the namespaces left behind by processes that are
// gone and returns what it found, so the caller can report it. Only names
// of the form lr-<pid>-<runid>-<snd|rcv|emu> are considered. Such a
// namespace is
//   - removed when its owner record names a process that no longer runs
//     (no such PID, or the PID now belongs to a process that started at
//     another time);
//   - left silently when its recorded owner still runs, whatever that
//     program is called;
//   - left as it is, and reported, when it has no (readable) record: it
//     may belong to someone, and nothing says it is over.
//
// Records without their namespace (a crash between the two) go too once
// their owner is gone.
func CleanStale() ([]Stale, error) {
	dir, err := recordDir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing %s: %w", NetnsDir, err)
	}
	var found []Stale
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if _, ok := parseName(name); !ok {
			continue
		}
		owner, ok, rerr := readRecord(dir, name)
		switch {
		case !ok:
			// Its creator may have removed it (and its record) meanwhile.
			if _, err := os.Lstat(filepath.Join(NetnsDir, name)); err == nil {
				s := Stale{Name: name}
				if rerr != nil {
					s.Problem = rerr.Error()
				}
				found = append(found, s)
			}
		case owner.Alive():
		default:
			if err := deleteNamedNS(name); err != nil {
				errs = append(errs, fmt.Errorf("stale namespace %s: %w", name, err))
				continue
			}
			found = append(found, Stale{Name: name, Owner: owner, Removed: true})
		}
	}
	errs = append(errs, cleanRecords(dir))
	ts, err := RestoreStaleTimestamps()
	return append(found, ts...), errors.Join(append(errs, err)...)
}

// cleanRecords removes the records in dir whose namespace does not exist
// and whose owner is gone.
func cleanRecords(dir string) error {
	recs, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, r := range recs {
		name, ok := strings.CutSuffix(r.Name(), ".json")
		if _, valid := parseName(name); !ok || !valid {
			continue
		}
		if _, err := os.Lstat(filepath.Join(NetnsDir, name)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		owner, ok, rerr := readRecord(dir, name)
		if (ok && !owner.Alive()) || rerr != nil {
			os.Remove(filepath.Join(dir, r.Name()))
		}
	}
	return nil
}

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// Available returns nil if this process can build topologies: it needs
// CAP_NET_ADMIN (links, addresses, routes) and CAP_SYS_ADMIN (creating
// and mounting namespaces), and a kernel with network namespaces.
// Otherwise the error says what is missing.
func Available() error {
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("this kernel has no network namespaces (/proc/self/ns/net: %w)", err)
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	missing, err := missingCaps(b)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("building network namespaces needs %s (euid %d): run as root", strings.Join(missing, " and "), os.Geteuid())
	}
	return nil
}

// missingCaps returns the capabilities needed by Build that the effective
// set in status (the text of /proc/<pid>/status) lacks.
func missingCaps(status []byte) ([]string, error) {
	var eff uint64
	found := false
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var err error
			if eff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				return nil, fmt.Errorf("parsing CapEff %q in /proc/self/status: %w", strings.TrimSpace(v), err)
			}
			found = true
		}
	}
	if !found {
		return nil, errors.New("no CapEff line in /proc/self/status: cannot tell the capabilities")
	}
	var missing []string
	if eff&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if eff&(1<<capSysAdmin) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	return missing, nil
}
