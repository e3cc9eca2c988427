package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Sysctl is one kernel parameter by its dotted name, as sysctl(8) spells
// it: net.core.rmem_max is /proc/sys/net/core/rmem_max.
type Sysctl struct {
	Key   string
	Value string
}

// SystemSettings change the whole machine, not just labrun: they are
// applied only with --allow-system, recorded in an undo journal before
// each change and restored on every exit path (by Recover at the next
// start if labrun was killed). Zero values leave the system as it is.
type SystemSettings struct {
	// Sysctls are set in order and restored in reverse order.
	Sysctls []Sysctl
	// RTRuntime sets kernel.sched_rt_runtime_us: -1 turns real-time
	// throttling off.
	RTRuntime *int
	// Governor is the cpufreq scaling_governor for every CPU; "" leaves it.
	Governor string
	// Required names settings whose skip must fail the run: a key of
	// Sysctls, "rt_runtime" or "governor".
	Required []string
}

// The roots of the files SystemSettings change; tests point them at a
// temporary tree.
var (
	sysctlRoot = "/proc/sys"
	cpuRoot    = "/sys/devices/system/cpu"
)

const (
	rtRuntimeKey   = "kernel.sched_rt_runtime_us"
	needsSystem    = "root and --allow-system"
	notAllowedText = "system-wide: needs --allow-system"
)

// validKey reports whether key is a dotted sysctl name: components of
// [a-z0-9_-], so that it cannot leave /proc/sys.
func validKey(key string) bool {
	if key == "" || len(key) > 256 {
		return false
	}
	for c := range strings.SplitSeq(key, ".") {
		if c == "" || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return false
		}
	}
	return true
}

// sysctlPath maps a valid key to its file.
func sysctlPath(key string) string {
	return filepath.Join(sysctlRoot, strings.ReplaceAll(key, ".", "/"))
}

// Validate checks names and values before anything is applied. Whether a
// key exists on this machine is found out when it is applied.
func (s SystemSettings) Validate() error {
	seen := map[string]bool{}
	for _, c := range s.Sysctls {
		if c.Key == "" {
			return errors.New("sysctl with an empty key")
		}
		if !validKey(c.Key) {
			return fmt.Errorf("sysctl key %q: want a dotted name of a-z, 0-9, _ and - (like net.core.rmem_max)", c.Key)
		}
		if seen[c.Key] {
			return fmt.Errorf("sysctl %s set twice", c.Key)
		}
		seen[c.Key] = true
		if strings.TrimSpace(c.Value) == "" {
			return fmt.Errorf("sysctl %s: empty value", c.Key)
		}
		if strings.ContainsAny(c.Value, "\n\r\x00") {
			return fmt.Errorf("sysctl %s: the value must be a single line", c.Key)
		}
	}
	if s.RTRuntime != nil {
		if *s.RTRuntime < -1 || *s.RTRuntime > 1<<31-1 {
			return fmt.Errorf("rt_runtime %d out of range (-1 = no real-time throttling, or 0-2147483647 us)", *s.RTRuntime)
		}
		if seen[rtRuntimeKey] {
			return fmt.Errorf("%s set both as a sysctl and as rt_runtime", rtRuntimeKey)
		}
	}
	if s.Governor != "" && (!validKey(s.Governor) || strings.Contains(s.Governor, ".")) {
		return fmt.Errorf("governor %q: want a name like \"performance\"", s.Governor)
	}
	for _, r := range s.Required {
		if !seen[r] && r != "rt_runtime" && r != "governor" {
			return fmt.Errorf("unknown required setting %q (accepted: rt_runtime, governor or a key of sysctls)", r)
		}
	}
	return nil
}

// Actions lists what ApplySystem would change, without changing it.
func (s SystemSettings) Actions() []Action {
	var a []Action
	for _, c := range s.Sysctls {
		a = append(a, Action{c.Key, c.Value, "system", needsSystem})
	}
	if s.RTRuntime != nil {
		v := strconv.Itoa(*s.RTRuntime) + " in " + rtRuntimeKey
		if *s.RTRuntime == -1 {
			v += " (no real-time throttling)"
		}
		a = append(a, Action{"rt_runtime", v, "system", needsSystem})
	}
	if s.Governor != "" {
		a = append(a, Action{"governor", s.Governor + " (cpufreq scaling_governor of every CPU)", "system", needsSystem})
	}
	return a
}

func (s SystemSettings) outcome(name, value string, err error, skipped func(error) string) Outcome {
	return outcomeOf(s.Required, name, value, err, skipped)
}

// fileReason explains a skipped change of path.
func fileReason(path string) func(error) string {
	return func(err error) string {
		switch {
		case errors.Is(err, unix.ENOENT):
			return "not present here: no " + path
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, unix.EROFS):
			if os.Geteuid() == 0 {
				return "not permitted: " + path + " cannot be read and written here"
			}
			return "not permitted: writing " + path + " needs root"
		}
		return ""
	}
}

// ApplySystem applies s if allow (--allow-system); without it every
// setting is skipped and nothing is touched, the journal included. Each
// change is recorded in j (nil: the journal in StateDir()) and on disk
// before it is made, and read back after. Undo restores the old values in
// reverse order and removes the journal once all are back; a value that
// could not be restored stays in the journal. Undo may be called more than
// once. Outcomes of skipped settings in s.Required make CheckRequired fail:
// the caller should check it before the run and undo if it fails.
func ApplySystem(s SystemSettings, allow bool, j *Journal) (out []Outcome, undo func()) {
	type item struct{ name, key, value string }
	var items []item
	for _, c := range s.Sysctls {
		items = append(items, item{c.Key, c.Key, c.Value})
	}
	if s.RTRuntime != nil {
		items = append(items, item{"rt_runtime", rtRuntimeKey, strconv.Itoa(*s.RTRuntime)})
	}
	if s.Governor != "" {
		items = append(items, item{"governor", "", s.Governor})
	}
	if len(items) == 0 {
		return nil, func() {}
	}
	skipAll := func(reason string) ([]Outcome, func()) {
		for _, it := range items {
			o := s.outcome(it.name, it.value, nil, nil)
			o.State, o.Reason = Skipped, reason
			out = append(out, o)
		}
		return out, func() {}
	}
	failAll := func(err error) ([]Outcome, func()) {
		for _, it := range items {
			out = append(out, s.outcome(it.name, it.value, err, func(error) string { return "" }))
		}
		return out, func() {}
	}
	if !allow {
		return skipAll(notAllowedText)
	}
	if j == nil {
		var err error
		if j, err = OpenJournal(""); err != nil {
			return failAll(fmt.Errorf("undo journal: %w", err))
		}
	}
	unlock, err := lockDir(j.dir, unix.LOCK_SH)
	if err != nil {
		return failAll(fmt.Errorf("undo journal: %w", err))
	}
	defer unlock()
	// Files under /proc/sys/net belong to the network namespace of the
	// thread that opens them: open them all from this one. Undo writes
	// through the same descriptors, from any thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var changes []*change
	for _, it := range items {
		var o Outcome
		var cs []*change
		if it.key != "" {
			o, cs = s.applySysctl(j, it.name, it.key, it.value)
		} else {
			o, cs = s.applyGovernor(j, it.value)
		}
		out = append(out, o)
		changes = append(changes, cs...)
	}
	var mu sync.Mutex
	return out, func() {
		mu.Lock()
		defer mu.Unlock()
		changes = restoreAll(j, changes)
	}
}

func (s SystemSettings) applySysctl(j *Journal, name, key, value string) (Outcome, []*change) {
	if !validKey(key) {
		return s.outcome(name, value, fmt.Errorf("invalid sysctl key %q", key), func(error) string { return "" }), nil
	}
	path := sysctlPath(key)
	c, err := setFile(j, key, path, value)
	o := s.outcome(name, value, err, fileReason(path))
	if c == nil {
		return o, nil
	}
	return o, []*change{c}
}

// applyGovernor sets the governor of every CPU with cpufreq, or of none.
func (s SystemSettings) applyGovernor(j *Journal, value string) (Outcome, []*change) {
	files, _ := filepath.Glob(filepath.Join(cpuRoot, "cpu[0-9]*", "cpufreq", "scaling_governor"))
	// CPUs of one cpufreq policy share a folder (cpuN/cpufreq is a link
	// to policyM): change each file once.
	seen := map[string]bool{}
	files = slices.DeleteFunc(files, func(f string) bool {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			real = f
		}
		dup := seen[real]
		seen[real] = true
		return dup
	})
	if len(files) == 0 {
		o := s.outcome("governor", value, nil, nil)
		o.State, o.Reason = Skipped, "not present here: no cpufreq scaling_governor under "+cpuRoot
		return o, nil
	}
	// Refuse before changing anything if some CPU does not offer it.
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(f), "scaling_available_governors"))
		if err == nil && !slices.Contains(strings.Fields(string(b)), value) {
			err := fmt.Errorf("governor %q is not available on %s (available: %s)", value, cpuName(f), strings.Join(strings.Fields(string(b)), ", "))
			return s.outcome("governor", value, err, func(error) string { return "" }), nil
		}
	}
	var changes []*change
	for _, f := range files {
		c, err := setFile(j, "governor of "+cpuName(f), f, value)
		if err != nil {
			if left := restoreAll(j, changes); len(left) > 0 {
				err = fmt.Errorf("%w; and %d CPUs could not be set back (kept in %s)", err, len(left), j.path)
			}
			return s.outcome("governor", value, fmt.Errorf("%s: %w", cpuName(f), err), fileReason(f)), nil
		}
		if c != nil {
			changes = append(changes, c)
		}
	}
	return s.outcome("governor", value, nil, nil), changes
}

func cpuName(scalingGovernor string) string {
	return filepath.Base(filepath.Dir(filepath.Dir(scalingGovernor)))
}

// change is one file changed and how to put it back.
type change struct {
	id   int // in the journal
	f    *settingFile
	path string
	old  string
}

// setFile records path's value in j, writes value and reads it back. It
// returns nil and no error if the file already holds value. On an error
// nothing is left changed.
func setFile(j *Journal, setting, path, value string) (*change, error) {
	f, err := openSetting(path)
	if err != nil {
		return nil, err
	}
	old, err := f.read()
	if err != nil {
		f.close()
		return nil, fmt.Errorf("reading the value to restore later: %w", err)
	}
	if sameValue(old, value) {
		f.close()
		return nil, nil
	}
	e := journalEntry{Setting: setting, Path: path, Old: old, New: value}
	if strings.HasPrefix(path, filepath.Join(sysctlRoot, "net")+"/") {
		e.NetNS = netNS()
	}
	id, err := j.record(e)
	if err != nil {
		f.close()
		return nil, err
	}
	if err := f.set(value); err != nil {
		// Put back whatever a half-done write changed.
		if cur, rerr := f.read(); rerr == nil && !sameValue(cur, old) {
			if f.set(old) != nil {
				f.close()
				return nil, fmt.Errorf("%w; restoring %s failed too (kept in %s)", err, old, j.path)
			}
		}
		f.close()
		j.drop(id)
		return nil, err
	}
	return &change{id: id, f: f, path: path, old: old}, nil
}

// restoreAll restores changes newest first, drops the restored ones from
// the journal and returns those that could not be restored.
func restoreAll(j *Journal, changes []*change) (left []*change) {
	var done []int
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if c.f.set(c.old) != nil {
			left = append([]*change{c}, left...)
			continue
		}
		c.f.close()
		done = append(done, c.id)
	}
	j.drop(done...)
	return left
}

// settingFile is an open sysctl or sysfs file (or, in tests, a regular
// one). The descriptor keeps the network namespace it was opened in.
type settingFile struct {
	fd      int
	path    string
	regular bool // neither procfs nor sysfs: truncate after writing
}

func openSetting(path string) (*settingFile, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Statfs_t
	regular := unix.Fstatfs(fd, &st) == nil && st.Type != unix.PROC_SUPER_MAGIC && st.Type != unix.SYSFS_MAGIC
	return &settingFile{fd: fd, path: path, regular: regular}, nil
}

func (f *settingFile) close() { unix.Close(f.fd) }

// read returns the file's content without its final newline.
func (f *settingFile) read() (string, error) {
	var b []byte
	buf := make([]byte, 4096)
	for len(b) < 1<<20 {
		n, err := unix.Pread(f.fd, buf, int64(len(b)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		if n == 0 {
			break
		}
		b = append(b, buf[:n]...)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// set writes v in one write at offset 0 and checks that it reads back.
func (f *settingFile) set(v string) error {
	if err := writeAt(f, []byte(v+"\n")); err != nil {
		return &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
	got, err := f.read()
	if err != nil {
		return err
	}
	if !sameValue(got, v) {
		return fmt.Errorf("wrote %q to %s, it reads back %q", v, f.path, got)
	}
	return nil
}

// writeAt writes b to f; tests replace it to make writes fail.
var writeAt = func(f *settingFile, b []byte) error {
	n, err := unix.Pwrite(f.fd, b, 0)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(b))
	}
	if err == nil && f.regular {
		err = unix.Ftruncate(f.fd, int64(len(b)))
	}
	return err
}

// sameValue compares values as the kernel prints them: "0 2147483647" is
// read back as "0\t2147483647".
func sameValue(a, b string) bool {
	return slices.Equal(strings.Fields(a), strings.Fields(b))
}

// netNS identifies the calling thread's network namespace.
func netNS() string {
	var st unix.Stat_t
	if unix.Stat("/proc/thread-self/ns/net", &st) != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
