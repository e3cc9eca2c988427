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

// SystemSettings change the whole machine, not just labrun, and outlive
// it unless undone: they are applied only with --allow-system (a
// dangerous sysctl also needs --allow-sysctl KEY, see Dangerous),
// recorded in the state folder before each change, shared with other
// labruns that want the same values, and restored on every exit path (by
// Recover if labrun was killed). Zero values leave the system as it is.
type SystemSettings struct {
	// Sysctls are set in order and restored in reverse order.
	Sysctls []Sysctl
	// RTRuntime sets kernel.sched_rt_runtime_us: -1 turns real-time
	// throttling off.
	RTRuntime *int
	// Governor is the cpufreq scaling_governor for every CPU; "" leaves it.
	Governor string
	// Required names settings whose skip or failure must fail the run: a
	// key of Sysctls, "rt_runtime" or "governor".
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

// ValidKey reports whether key is a well-formed dotted sysctl name.
func ValidKey(key string) bool { return validKey(key) }

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
			return fmt.Errorf("unknown required setting %q (accepted: rt_runtime, governor, sysctl for all sysctls, or a key of sysctls)", r)
		}
	}
	return nil
}

// Actions lists what ApplySystem would change, without changing it.
func (s SystemSettings) Actions() []Action {
	var a []Action
	for _, c := range s.Sysctls {
		needs := needsSystem
		if Dangerous(c.Key) {
			needs += " and --allow-sysctl " + c.Key
		}
		a = append(a, Action{c.Key, c.Value, "system", needs, SysctlRisk(c.Key)})
	}
	if s.RTRuntime != nil {
		v := strconv.Itoa(*s.RTRuntime) + " in " + rtRuntimeKey
		if *s.RTRuntime == -1 {
			v += " (no real-time throttling)"
		}
		a = append(a, Action{"rt_runtime", v, "system", needsSystem, RiskSystem})
	}
	if s.Governor != "" {
		a = append(a, Action{"governor", s.Governor + " (cpufreq scaling_governor of every CPU)", "system", needsSystem, RiskSystem})
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

// ApplySystem applies s as far as p permits: without p.System every
// setting is skipped and nothing is touched, the journal included; a
// dangerous sysctl that p.Sysctls does not name is skipped too. Each
// change is recorded in j (nil: the journal in StateDir()) and on disk
// before it is made, and read back after. A setting another live labrun
// holds at another value is a conflict: then nothing is left changed, undo
// is a no-op and err names the other labrun. Undo restores the old
// values in reverse order (as the last of their holders, see Journal); a
// value that could not be restored stays recorded. Undo may be called
// more than once. Outcomes of skipped or failed settings in s.Required
// make CheckRequired fail: the caller should check it before the run and
// undo if it fails.
func ApplySystem(s SystemSettings, p Permit, j *Journal) (out []Outcome, undo func(), err error) {
	items := s.items()
	noop := func() {}
	if len(items) == 0 {
		return nil, noop, nil
	}
	mark := func(state State, reason string) ([]Outcome, func(), error) {
		for _, it := range items {
			o := s.outcome(it.name, it.value, nil, nil)
			o.State, o.Reason = state, reason
			out = append(out, o)
		}
		return out, noop, nil
	}
	if !p.System {
		return mark(Skipped, notAllowedText)
	}
	if j == nil {
		if j, err = OpenJournal(""); err != nil {
			return mark(Failed, "undo journal: "+err.Error())
		}
	}
	ses, err := j.begin()
	if err != nil {
		return mark(Failed, "undo journal: "+err.Error())
	}
	defer ses.end()
	// Files under /proc/sys/net belong to the network namespace of the
	// thread that opens them: open them all from this one. Undo writes
	// through the same descriptors, from any thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var changes []*change
	var conflicts []error
	for _, it := range items {
		var o result
		var cs []*change
		switch ok, why := p.allows(it.key); {
		case it.key != "" && !ok:
			o = s.result(it.name, it.value, nil, nil)
			o.State, o.Reason = Skipped, why
		case it.key != "":
			o, cs = s.applySysctl(ses, it.name, it.key, it.value)
		default:
			o, cs = s.applyGovernor(ses, it.value)
		}
		if ce := (*ConflictError)(nil); o.State == Failed && errors.As(o.err, &ce) {
			conflicts = append(conflicts, ce)
		}
		out = append(out, o.Outcome)
		changes = append(changes, cs...)
	}
	if len(conflicts) > 0 {
		ses.releaseAll(changes)
		return out, noop, errors.Join(conflicts...)
	}
	var mu sync.Mutex
	return out, func() {
		mu.Lock()
		defer mu.Unlock()
		if len(changes) == 0 {
			return
		}
		ses, err := j.begin()
		if err != nil {
			return // the records stay: Recover restores them
		}
		defer ses.end()
		changes = ses.releaseAll(changes)
	}, nil
}

type item struct{ name, key, value string }

// items lists s's changes; key is "" for the governor.
func (s SystemSettings) items() []item {
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
	return items
}

// result is an outcome with the error behind it.
type result struct {
	Outcome
	err error
}

func (s SystemSettings) result(name, value string, err error, skipped func(error) string) result {
	return result{s.outcome(name, value, err, skipped), err}
}

func (s SystemSettings) applySysctl(ses *session, name, key, value string) (result, []*change) {
	if !validKey(key) {
		return s.result(name, value, fmt.Errorf("invalid sysctl key %q", key), func(error) string { return "" }), nil
	}
	path := sysctlPath(key)
	c, err := ses.setFile(key, path, value)
	o := s.result(name, value, err, fileReason(path))
	if c == nil {
		return o, nil
	}
	return o, []*change{c}
}

// applyGovernor sets the governor of every CPU with cpufreq, or of none.
func (s SystemSettings) applyGovernor(ses *session, value string) (result, []*change) {
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
		o := s.result("governor", value, nil, nil)
		o.State, o.Reason = Skipped, "not present here: no cpufreq scaling_governor under "+cpuRoot
		return o, nil
	}
	// Refuse before changing anything if some CPU does not offer it.
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(f), "scaling_available_governors"))
		if err == nil && !slices.Contains(strings.Fields(string(b)), value) {
			err := fmt.Errorf("governor %q is not available on %s (available: %s)", value, cpuName(f), strings.Join(strings.Fields(string(b)), ", "))
			return s.result("governor", value, err, func(error) string { return "" }), nil
		}
	}
	var changes []*change
	for _, f := range files {
		c, err := ses.setFile("governor of "+cpuName(f), f, value)
		if err != nil {
			if left := ses.releaseAll(changes); len(left) > 0 {
				err = fmt.Errorf("%w; and %d CPUs could not be set back (kept in %s)", err, len(left), ses.d.path)
			}
			return s.result("governor", value, fmt.Errorf("%s: %w", cpuName(f), err), fileReason(f)), nil
		}
		changes = append(changes, c)
	}
	return s.result("governor", value, nil, nil), changes
}

func cpuName(scalingGovernor string) string {
	return filepath.Base(filepath.Dir(filepath.Dir(scalingGovernor)))
}

// change is one file this process holds, open, and its record.
type change struct {
	f    *settingFile
	name string // of the record
}

// setFile makes path hold value for this process (see session.hold) and
// keeps it open for the undo. On an error nothing is left changed.
func (ses *session) setFile(setting, path, value string) (*change, error) {
	f, err := openSetting(path)
	if err != nil {
		return nil, err
	}
	netns := ""
	if strings.HasPrefix(path, filepath.Join(sysctlRoot, "net")+"/") {
		netns = netNS()
	}
	c, err := ses.hold(f, setting, path, netns, value)
	if err != nil {
		f.close()
		return nil, err
	}
	return c, nil
}

// releaseAll releases changes newest first and returns those whose old
// value could not be restored (they stay recorded).
func (ses *session) releaseAll(changes []*change) (left []*change) {
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if ses.release(c) != nil {
			left = append([]*change{c}, left...)
			continue
		}
		c.f.close()
	}
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
