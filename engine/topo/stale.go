package topo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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

// CleanStale deletes the namespaces left behind by runs that are over and
// returns their names, so the caller can report them. Only names of the
// form lr-<pid>-<runid>-<snd|rcv|emu> are considered, and such a name is
// stale when:
//   - <pid> is no live process, or
//   - <pid> is live but is not a labrun: the pid has been reused by
//     another program. A process counts as a labrun when its command name
//     or its executable's name starts with "labrun", its executable's name
//     ends in ".test" (a Go test binary, which may be using this package
//     right now), or its executable is this process's own, or
//   - <pid> is this process and the name is not one of its live
//     namespaces (left by an earlier process that had the same pid).
//
// A namespace whose pid is a live labrun other than this process is never
// touched, nor is anything that does not match the pattern.
func CleanStale() (removed []string, err error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", NetnsDir, err)
	}
	self := os.Getpid()
	var errs []error
	for _, e := range entries {
		name := e.Name()
		pid, ok := parseName(name)
		if !ok {
			continue
		}
		if pid == self {
			if isLive(name) {
				continue
			}
		} else if isLabrun(pid) {
			continue
		}
		if err := deleteNamedNS(name); err != nil {
			errs = append(errs, fmt.Errorf("stale namespace %s: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// isLabrun reports whether pid is a live process that counts as a labrun
// (see CleanStale).
func isLabrun(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	if comm, err := os.ReadFile(dir + "/comm"); err == nil && strings.HasPrefix(string(comm), "labrun") {
		return true
	}
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		return false
	}
	base := strings.TrimSuffix(filepath.Base(exe), " (deleted)")
	if strings.HasPrefix(base, "labrun") || strings.HasSuffix(base, ".test") {
		return true
	}
	var a, b unix.Stat_t
	if unix.Stat(dir+"/exe", &a) == nil && unix.Stat("/proc/self/exe", &b) == nil {
		return a.Dev == b.Dev && a.Ino == b.Ino
	}
	return false
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
