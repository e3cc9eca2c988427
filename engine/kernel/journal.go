package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// System-wide settings are owned. Each file labrun changes (a sysctl, a
// CPU's governor) has one record in the state folder, shared by every
// labrun that wants it changed:
//
//	{"setting": "kernel.printk_ratelimit", "path": "/proc/sys/kernel/printk_ratelimit",
//	 "old": "5", "new": "7",
//	 "holders": [{"pid": 1234, "start": 5678, "command": "labrun run sys.star --set v=7"}]}
//
// The first labrun to change the file records the machine's value (old)
// and the value it writes (new), on disk and fsynced, before it writes.
// A labrun that wants the same value while the record has a live holder
// adds itself to the holders; one that wants another value is refused,
// with the holder named. A holder that leaves takes itself off the list;
// the last one restores old, if the file still holds new (a value someone
// else wrote since is left as it is), and removes the record. Holders
// that are gone (killed) are dropped by whoever reads the record next
// (Recover, or a labrun changing the same file): when none is left alive,
// old is restored the same way. <start> is field 22 of /proc/<pid>/stat,
// so a PID reused by another process is not mistaken for the holder.
//
// Layout of the state folder (see StateDir):
//
//	setting-<hash>.json              the record of one file (hash of its path and netns)
//	.tmp-<pid>-<start>-<rnd>         a record being written (renamed over the record)
//	lock                             flock: held exclusively while records are read and changed
//
// netns (device:inode of the network namespace) is recorded for files
// under /proc/sys/net, which belong to the namespace of the thread that
// opened them: the same key in two namespaces is two records.

// Holder is a labrun holding a setting: its identity and its command line
// (to name it in a refusal).
type Holder struct {
	Owner
	Command string `json:"command,omitempty"`
}

func (h Holder) String() string {
	if h.Command == "" {
		return fmt.Sprintf("pid %d", h.PID)
	}
	return fmt.Sprintf("pid %d (%s)", h.PID, h.Command)
}

// record is the shared journal entry of one file.
type record struct {
	Setting string   `json:"setting"`
	Path    string   `json:"path"`
	NetNS   string   `json:"netns,omitempty"`
	Old     string   `json:"old"`
	New     string   `json:"new"`
	Holders []Holder `json:"holders"`
}

// live drops the holders that are gone and reports whether any is left.
func (r *record) live() bool {
	r.Holders = slices.DeleteFunc(r.Holders, func(h Holder) bool { return !h.Alive() })
	return len(r.Holders) > 0
}

// Journal is this process's view of the records in one state folder. It
// is safe for concurrent use; OpenJournal returns the same Journal for
// the same folder.
type Journal struct {
	dir  string
	self Holder
	mu   sync.Mutex // with the folder's flock, which does not exclude threads of one process
}

// StateDir is the folder of the setting records: $LABRUN_STATE_DIR, else
// /var/lib/labrun for root, else $XDG_STATE_HOME/labrun or
// ~/.local/state/labrun. It is "" if none of them can be found.
func StateDir() string {
	if d := os.Getenv("LABRUN_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/labrun"
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "labrun")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "state", "labrun")
	}
	return ""
}

var journals struct {
	sync.Mutex
	m map[string]*Journal
}

// OpenJournal returns this process's journal in dir ("" = StateDir()),
// creating the folder (mode 0700) if needed and refusing one that another
// user could have written (see ReadStateFile).
func OpenJournal(dir string) (*Journal, error) {
	if dir == "" {
		if dir = StateDir(); dir == "" {
			return nil, errors.New("no state folder for the undo journal: set LABRUN_STATE_DIR")
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	self, err := Self()
	if err != nil {
		return nil, err
	}
	journals.Lock()
	defer journals.Unlock()
	if j := journals.m[dir]; j != nil {
		return j, nil
	}
	d, err := openStateDir(dir, true)
	if err != nil {
		return nil, err
	}
	d.close()
	j := newJournal(dir, Holder{Owner: self, Command: commandLine()})
	if journals.m == nil {
		journals.m = map[string]*Journal{}
	}
	journals.m[dir] = j
	return j, nil
}

func newJournal(dir string, self Holder) *Journal {
	return &Journal{dir: dir, self: self}
}

// commandLine is this process's command line, shortened, to name it to
// other labruns.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	s := strings.Join(args, " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// session is the journal with its folder open and locked exclusively.
type session struct {
	j      *Journal
	d      *stateDir
	unlock func()
}

// begin opens and locks the folder; end undoes it.
func (j *Journal) begin() (*session, error) {
	j.mu.Lock()
	d, err := openStateDir(j.dir, true)
	if err != nil {
		j.mu.Unlock()
		return nil, err
	}
	unlock, err := lockDir(d, unix.LOCK_EX)
	if err != nil {
		d.close()
		j.mu.Unlock()
		return nil, err
	}
	return &session{j: j, d: d, unlock: unlock}, nil
}

func (s *session) end() {
	s.unlock()
	s.d.close()
	s.j.mu.Unlock()
}

func recordName(path, netns string) string {
	sum := sha256.Sum256([]byte(path + "\x00" + netns))
	return "setting-" + hex.EncodeToString(sum[:8]) + ".json"
}

// load reads a record; found is false if there is none.
func (d *stateDir) load(name string) (r record, found bool, err error) {
	b, err := d.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("setting record %s/%s is unreadable, left as it is: %w", d.path, name, err)
	}
	return r, true, nil
}

// store replaces the record atomically (a temporary file, fsynced, renamed
// over it, and the folder fsynced); a record without holders and with
// nothing to restore is removed instead.
func (d *stateDir) store(name string, r record) error {
	if len(r.Holders) == 0 && sameValue(r.Old, r.New) {
		return d.remove(name)
	}
	b, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return err
	}
	self, err := Self()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.path, fmt.Sprintf(".tmp-%d-%d-*", self.PID, self.Start))
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.path, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("setting record %s/%s: %w", d.path, name, err)
	}
	return unix.Fsync(d.fd)
}

func (d *stateDir) remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return unix.Fsync(d.fd)
}

// lockDir takes the folder's lock (unix.LOCK_SH or unix.LOCK_EX); the
// kernel drops it if the process dies.
func lockDir(d *stateDir, how int) (unlock func(), err error) {
	fd, err := unix.Openat(d.fd, "lock", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(d.path, "lock"), Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", d.path, err)
	}
	return func() { unix.Close(fd) }, nil
}

// ConflictError is a setting another live labrun holds at another value.
type ConflictError struct {
	Setting string
	Want    string
	Held    string
	By      Holder
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s is held at %s by another labrun, %s; this one wants %s: refused (wait for it to end, or want the same value)", e.Setting, e.Held, e.By, e.Want)
}

// hold makes f (path) hold value for this process: it records the file's
// value before the first change, or joins the live holders of the same
// value, then writes. On an error nothing is left changed.
func (s *session) hold(f *settingFile, setting, path, netns, value string) (*change, error) {
	cur, err := f.read()
	if err != nil {
		return nil, fmt.Errorf("reading the value to restore later: %w", err)
	}
	name := recordName(path, netns)
	r, found, err := s.d.load(name)
	if err != nil {
		return nil, err
	}
	switch {
	case found && r.live():
		if !sameValue(r.New, value) {
			return nil, &ConflictError{Setting: setting, Want: value, Held: r.New, By: r.Holders[0]}
		}
	case found && !sameValue(cur, r.New):
		// Its holders are gone and someone changed the file since: that
		// value is now the one to restore.
		r = record{Setting: setting, Path: path, NetNS: netns, Old: cur}
	case !found:
		r = record{Setting: setting, Path: path, NetNS: netns, Old: cur}
	}
	r.New = value
	r.Holders = append(r.Holders, s.j.self)
	if err := s.d.store(name, r); err != nil {
		return nil, fmt.Errorf("undo journal: %w", err)
	}
	if sameValue(cur, value) {
		return &change{f: f, name: name}, nil
	}
	if err := f.set(value); err != nil {
		// Put back whatever a half-done write changed, and the record.
		if now, rerr := f.read(); rerr == nil && !sameValue(now, cur) {
			if f.set(cur) != nil {
				return nil, fmt.Errorf("%w; restoring %s failed too (kept in %s/%s)", err, cur, s.d.path, name)
			}
		}
		r.Holders = slices.DeleteFunc(r.Holders, func(h Holder) bool { return h == s.j.self })
		if len(r.Holders) == 0 {
			r.New = cur
		}
		s.d.store(name, r)
		return nil, err
	}
	return &change{f: f, name: name}, nil
}

// release takes this process off the record of c; the last holder
// restores the old value.
func (s *session) release(c *change) error {
	r, found, err := s.d.load(c.name)
	if err != nil || !found {
		return err
	}
	if i := slices.Index(r.Holders, s.j.self); i >= 0 {
		r.Holders = slices.Delete(r.Holders, i, i+1)
	}
	if r.live() {
		return s.d.store(c.name, r)
	}
	cur, err := c.f.read()
	if err != nil {
		return s.d.store(c.name, r)
	}
	if sameValue(cur, r.New) && !sameValue(cur, r.Old) {
		if err := c.f.set(r.Old); err != nil {
			s.d.store(c.name, r) // for Recover
			return err
		}
	}
	return s.d.remove(c.name)
}

// Recover restores the settings whose holders are all gone (labruns that
// were killed), reports each one, and removes their records; records with
// a live holder lose only their dead holders. A value someone else
// changed since is left as it is; a setting that could not be restored
// stays recorded for the next attempt. A missing dir is not an error; a
// folder or record another user could have written is refused and
// reported in err, as are records that could not be read or rewritten.
func Recover(dir string) (restored []Outcome, err error) {
	d, err := openStateDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.close()
	unlock, err := lockDir(d, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Files under /proc/sys/net belong to the network namespace of the
	// thread that opens them: stay on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	errs := []error{d.adoptLegacy()}
	names, err := d.names()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		if owner, ok := tempOwner(name); ok {
			if !owner.Alive() {
				errs = append(errs, d.remove(name)) // an unfinished write of a dead process
			}
			continue
		}
		if !isRecord(name) {
			continue
		}
		o, err := d.recoverRecord(name)
		if o != nil {
			restored = append(restored, *o)
		}
		errs = append(errs, err)
	}
	return restored, errors.Join(errs...)
}

// legacyJournal is the undo journal of one process that labrun kept
// before settings were shared: undo-<pid>-<start>.json.
type legacyJournal struct {
	PID     int      `json:"pid"`
	Start   uint64   `json:"start"`
	Entries []record `json:"entries"` // setting, path, old, new, netns
}

// adoptLegacy turns the undo journals of older labruns that are gone
// into records held by their dead writers, which Recover then restores;
// a setting that already has a record keeps it.
func (d *stateDir) adoptLegacy() error {
	names, err := d.names()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, "undo-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := d.read(name)
		var lj legacyJournal
		if err == nil {
			err = json.Unmarshal(b, &lj)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undo journal %s/%s of an older labrun, left as it is: %w", d.path, name, err))
			continue
		}
		owner := Owner{lj.PID, lj.Start}
		if owner.Alive() {
			continue
		}
		for _, e := range lj.Entries {
			rn := recordName(e.Path, e.NetNS)
			if _, found, err := d.load(rn); err != nil || found {
				continue
			}
			e.Holders = []Holder{{Owner: owner}}
			errs = append(errs, d.store(rn, e))
		}
		errs = append(errs, d.remove(name))
	}
	return errors.Join(errs...)
}

func isRecord(name string) bool {
	return strings.HasPrefix(name, "setting-") && strings.HasSuffix(name, ".json")
}

// recoverRecord drops the dead holders of one record and restores its old
// value if none is left; o is nil if a holder lives.
func (d *stateDir) recoverRecord(name string) (o *Outcome, err error) {
	r, found, err := d.load(name)
	if err != nil || !found {
		return nil, err
	}
	n := len(r.Holders)
	if r.live() {
		if len(r.Holders) < n {
			return nil, d.store(name, r)
		}
		return nil, nil
	}
	out, done := restoreRecord(r)
	if done {
		err = d.remove(name)
	} else if n > 0 {
		err = d.store(name, r)
	}
	return &out, err
}

// restoreRecord writes r's old value back if the file still holds the
// value labrun wrote. done is false if the record must stay.
func restoreRecord(r record) (o Outcome, done bool) {
	o = Outcome{Setting: r.Setting, Value: r.Old, State: Applied}
	by := "(left by a labrun that was killed)"
	fail := func(format string, a ...any) (Outcome, bool) {
		o.State, o.Reason = Failed, fmt.Sprintf(format, a...)+" "+by
		return o, false
	}
	skip := func(format string, a ...any) (Outcome, bool) {
		o.State, o.Reason = Skipped, fmt.Sprintf(format, a...)+" "+by
		return o, true
	}
	if !restorable(r.Path) {
		return fail("refusing to write %s: not under %s or %s", r.Path, sysctlRoot, cpuRoot)
	}
	if r.NetNS != "" {
		if ns := netNS(); ns != "" && ns != r.NetNS {
			return skip("not present here: set in network namespace %s, this thread is in %s", r.NetNS, ns)
		}
	}
	f, err := openSetting(r.Path)
	if errors.Is(err, unix.ENOENT) {
		return skip("not present here: no %s", r.Path)
	}
	if err != nil {
		return fail("%v", err)
	}
	defer f.close()
	cur, err := f.read()
	switch {
	case err != nil:
		return fail("%v", err)
	case sameValue(cur, r.Old):
		o.Reason = fmt.Sprintf("%s is already %s %s", r.Setting, r.Old, by)
		return o, true
	case !sameValue(cur, r.New):
		return skip("changed since it was set to %s (now %s): left as it is", r.New, cur)
	}
	if err := f.set(r.Old); err != nil {
		return fail("restoring %s: %v", r.Path, err)
	}
	o.Reason = fmt.Sprintf("restored %s to %s %s", r.Setting, r.Old, by)
	return o, true
}

// Pending lists the settings whose holders are all gone and that Recover
// would restore, without changing anything. Records it cannot trust or
// read are reported in err.
func Pending(dir string) (settings []string, err error) {
	d, err := openStateDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.close()
	names, err := d.names()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if strings.HasPrefix(name, "undo-") && strings.HasSuffix(name, ".json") {
			var lj legacyJournal
			if b, err := d.read(name); err != nil || json.Unmarshal(b, &lj) != nil {
				errs = append(errs, fmt.Errorf("undo journal %s/%s of an older labrun cannot be read", d.path, name))
			} else if !(Owner{lj.PID, lj.Start}).Alive() {
				for _, e := range lj.Entries {
					settings = append(settings, e.Setting)
				}
			}
			continue
		}
		if !isRecord(name) {
			continue
		}
		r, found, err := d.load(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if found && !r.live() {
			settings = append(settings, r.Setting)
		}
	}
	return settings, errors.Join(errs...)
}

// restorable reports whether path is a file Recover may write: one under
// the sysctl or CPU roots, with no way out of them.
func restorable(path string) bool {
	if filepath.Clean(path) != path {
		return false
	}
	for _, root := range []string{sysctlRoot, cpuRoot} {
		if strings.HasPrefix(path, filepath.Clean(root)+"/") {
			return true
		}
	}
	return false
}

// tempOwner parses .tmp-<pid>-<start>-<rnd>.
func tempOwner(name string) (Owner, bool) {
	rest, ok := strings.CutPrefix(name, ".tmp-")
	if !ok {
		return Owner{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 {
		return Owner{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return Owner{}, false
	}
	return Owner{PID: pid, Start: start}, true
}

// alive reports whether process pid that started at start still runs. A
// zombie whose threads have all ended counts as gone. When in doubt (an
// unreadable /proc entry) the process counts as alive.
func alive(pid int, start uint64) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return false
	}
	if err != nil {
		return true
	}
	state, st, err := parseStat(b)
	if err != nil {
		return true
	}
	if st != start {
		return false // the PID was reused
	}
	if state == 'Z' || state == 'X' {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		return err == nil && slices.ContainsFunc(tasks, func(e os.DirEntry) bool { return e.Name() != strconv.Itoa(pid) })
	}
	return true
}

// parseStat returns the state (field 3) and start time (field 22) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses: the fields follow the last ')'.
func parseStat(b []byte) (state byte, start uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("malformed stat %q", b)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return f[0][0], start, err
}

// procStart is the start time of process pid (field 22 of its stat).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	_, start, err := parseStat(b)
	return start, err
}

var selfStart = sync.OnceValues(func() (uint64, error) { return procStart(os.Getpid()) })

// Owner identifies a process across PID reuse: its PID and its start time
// (field 22 of /proc/<pid>/stat).
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Self is the calling process as an Owner.
func Self() (Owner, error) {
	st, err := selfStart()
	return Owner{PID: os.Getpid(), Start: st}, err
}

// Alive reports whether the owner is still running (the same PID with the
// same start time, and not a zombie).
func (o Owner) Alive() bool { return alive(o.PID, o.Start) }

// Conflict reports a sysctl or rt_runtime of s that another live labrun
// holds at another value, without changing anything, so that an
// invocation can stop before its first run. ApplySystem finds a conflict
// again under the folder's lock: this is only the early word.
func Conflict(dir string, s SystemSettings) error {
	d, err := openStateDir(dir, false)
	if err != nil {
		return nil // ApplySystem reports a folder it cannot use
	}
	defer d.close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, _ := Self()
	for _, it := range s.items() {
		if it.key == "" || !validKey(it.key) {
			continue
		}
		path, netns := sysctlPath(it.key), ""
		if strings.HasPrefix(path, filepath.Join(sysctlRoot, "net")+"/") {
			netns = netNS()
		}
		r, found, err := d.load(recordName(path, netns))
		if err != nil || !found || !r.live() || sameValue(r.New, it.value) {
			continue
		}
		for _, h := range r.Holders {
			if h.Owner != self {
				return &ConflictError{Setting: it.key, Want: it.value, Held: r.New, By: h}
			}
		}
	}
	return nil
}
