package kernel

import (
	"bytes"
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

// The undo journal makes system-wide settings survive nothing, not even a
// SIGKILL: before a file such as /proc/sys/net/core/rmem_max is changed,
// its old value is written to the journal of the labrun process and
// fsynced, and the journal loses the entry once the value is restored. A
// journal left by a process that is gone is restored by Recover at the
// next start.
//
// Layout of the state folder (see StateDir):
//
//	undo-<pid>-<starttime>.json        journal of one labrun process
//	.undo-<pid>-<starttime>-<rnd>.tmp  a journal being written (renamed over the journal)
//	lock                               flock: Recover holds it exclusively, ApplySystem shared
//
// <starttime> is field 22 of /proc/<pid>/stat (clock ticks since boot), so
// a PID reused by another process is not mistaken for the owner. A journal
// holds
//
//	{"pid": 1234, "start": 5678, "entries": [
//	  {"setting": "net.core.rmem_max", "path": "/proc/sys/net/core/rmem_max",
//	   "old": "212992", "new": "4194304", "netns": "4:4026531840"}]}
//
// in the order the changes were made; netns (device:inode of the network
// namespace) is recorded for files under /proc/sys/net, which belong to
// the namespace of the thread that opened them.

// Journal is the undo journal of this process in one state folder. It is
// safe for concurrent use; OpenJournal returns the same Journal for the
// same folder.
type Journal struct {
	dir   string
	path  string
	pid   int
	start uint64

	mu      sync.Mutex
	next    int
	entries []journalEntry
}

type journalEntry struct {
	id      int
	Setting string `json:"setting"`
	Path    string `json:"path"`
	Old     string `json:"old"`
	New     string `json:"new"`
	NetNS   string `json:"netns,omitempty"`
}

type journalFile struct {
	PID     int            `json:"pid"`
	Start   uint64         `json:"start"`
	Entries []journalEntry `json:"entries"`
}

// StateDir is the folder of the undo journals: $LABRUN_STATE_DIR, else
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
// creating the folder (mode 0700) if needed. The journal file itself is
// written only when a first change is recorded.
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
	start, err := selfStart()
	if err != nil {
		return nil, err
	}
	journals.Lock()
	defer journals.Unlock()
	if j := journals.m[dir]; j != nil {
		return j, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	j := newJournal(dir, os.Getpid(), start)
	if journals.m == nil {
		journals.m = map[string]*Journal{}
	}
	journals.m[dir] = j
	return j, nil
}

func newJournal(dir string, pid int, start uint64) *Journal {
	return &Journal{dir: dir, pid: pid, start: start, path: filepath.Join(dir, journalName(pid, start))}
}

// Path is the journal's file; it exists while changes are unrestored.
func (j *Journal) Path() string { return j.path }

func journalName(pid int, start uint64) string {
	return fmt.Sprintf("undo-%d-%d.json", pid, start)
}

// record adds an entry and has it on disk before it returns.
func (j *Journal) record(e journalEntry) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	e.id = j.next
	j.entries = append(j.entries, e)
	if err := j.flush(); err != nil {
		j.entries = j.entries[:len(j.entries)-1]
		return 0, fmt.Errorf("undo journal %s: %w", j.path, err)
	}
	return e.id, nil
}

// drop removes restored entries; the file goes with the last one.
func (j *Journal) drop(ids ...int) error {
	if len(ids) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = slices.DeleteFunc(j.entries, func(e journalEntry) bool { return slices.Contains(ids, e.id) })
	return j.flush()
}

func (j *Journal) flush() error {
	if len(j.entries) == 0 {
		if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(j.dir)
	}
	return writeJournal(j.dir, j.path, journalFile{j.pid, j.start, j.entries})
}

// writeJournal replaces path atomically: a temporary file, fsynced, renamed
// over it, and the folder fsynced.
func writeJournal(dir, path string, jf journalFile) error {
	b, err := json.MarshalIndent(jf, "", "\t")
	if err != nil {
		return err
	}
	start, err := selfStart()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf(".undo-%d-%d-*.tmp", os.Getpid(), start))
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
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockDir takes the folder's lock (unix.LOCK_SH or unix.LOCK_EX); the
// kernel drops it if the process dies.
func lockDir(dir string, how int) (unlock func(), err error) {
	fd, err := unix.Open(filepath.Join(dir, "lock"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, "lock"), Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// Recover restores what the journals in dir of processes that are gone
// recorded, newest change first, reports each setting, and removes the
// journals. Journals of live processes (this one included) are left
// alone. A value someone else changed since is left as it is; a setting
// that could not be restored stays in its journal for the next attempt.
// A missing dir is not an error. Recover is safe to call at every start
// and from concurrent labruns: it holds the folder's lock exclusively, and
// journals that vanish meanwhile are skipped. err reports journals that
// could not be read or rewritten.
func Recover(dir string) (restored []Outcome, err error) {
	unlock, err := lockDir(dir, unix.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Files under /proc/sys/net belong to the network namespace of the
	// thread that opens them: stay on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	self, err := selfStart()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range ents {
		pid, start, temp, ok := journalOwner(e.Name())
		if !ok || (pid == os.Getpid() && start == self) || alive(pid, start) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if temp {
			// An unfinished write of a dead process: the journal it
			// would have replaced is still there.
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		out, err := recoverJournal(dir, path, pid)
		restored = append(restored, out...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := syncDir(dir); err != nil {
		errs = append(errs, err)
	}
	return restored, errors.Join(errs...)
}

func recoverJournal(dir, path string, pid int) ([]Outcome, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // vanished meanwhile
	}
	if err != nil {
		return nil, err
	}
	var jf journalFile
	if err := json.Unmarshal(b, &jf); err != nil {
		return nil, fmt.Errorf("undo journal %s is unreadable, left as it is: %w", path, err)
	}
	var out []Outcome
	var keep []journalEntry
	for i := len(jf.Entries) - 1; i >= 0; i-- {
		e := jf.Entries[i]
		o, ok := restoreEntry(e, pid)
		out = append(out, o)
		if !ok {
			keep = append([]journalEntry{e}, keep...)
		}
	}
	if len(keep) == 0 {
		err = os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	} else {
		jf.Entries = keep
		err = writeJournal(dir, path, jf)
	}
	if err != nil {
		err = fmt.Errorf("undo journal %s: %w", path, err)
	}
	return out, err
}

// restoreEntry writes e's old value back if the file still holds the value
// the dead process wrote. done is false if the entry must stay.
func restoreEntry(e journalEntry, pid int) (o Outcome, done bool) {
	o = Outcome{Setting: e.Setting, Value: e.Old, State: Applied}
	by := fmt.Sprintf("(left by labrun pid %d)", pid)
	fail := func(format string, a ...any) (Outcome, bool) {
		o.State, o.Reason = Failed, fmt.Sprintf(format, a...)+" "+by
		return o, false
	}
	skip := func(format string, a ...any) (Outcome, bool) {
		o.State, o.Reason = Skipped, fmt.Sprintf(format, a...)+" "+by
		return o, true
	}
	if !restorable(e.Path) {
		return fail("refusing to write %s: not under %s or %s", e.Path, sysctlRoot, cpuRoot)
	}
	if e.NetNS != "" {
		if ns := netNS(); ns != "" && ns != e.NetNS {
			return skip("not present here: set in network namespace %s, this thread is in %s", e.NetNS, ns)
		}
	}
	f, err := openSetting(e.Path)
	if errors.Is(err, unix.ENOENT) {
		return skip("not present here: no %s", e.Path)
	}
	if err != nil {
		return fail("%v", err)
	}
	defer f.close()
	cur, err := f.read()
	switch {
	case err != nil:
		return fail("%v", err)
	case sameValue(cur, e.Old):
		o.Reason = fmt.Sprintf("%s is already %s %s", e.Setting, e.Old, by)
		return o, true
	case !sameValue(cur, e.New):
		return skip("changed since it was set to %s (now %s): left as it is", e.New, cur)
	}
	if err := f.set(e.Old); err != nil {
		return fail("restoring %s: %v", e.Path, err)
	}
	o.Reason = fmt.Sprintf("restored %s to %s %s", e.Setting, e.Old, by)
	return o, true
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

// journalOwner parses undo-<pid>-<start>.json (temp false) and
// .undo-<pid>-<start>-<rnd>.tmp (temp true).
func journalOwner(name string) (pid int, start uint64, temp, ok bool) {
	var rest string
	if s, found := strings.CutPrefix(name, "undo-"); found {
		rest, ok = strings.CutSuffix(s, ".json")
	} else if s, found := strings.CutPrefix(name, ".undo-"); found {
		if s, found = strings.CutSuffix(s, ".tmp"); found {
			rest, temp, ok = s, true, true
		}
	}
	if !ok {
		return 0, 0, false, false
	}
	f := strings.Split(rest, "-")
	if (!temp && len(f) != 2) || (temp && len(f) != 3) {
		return 0, 0, false, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, false, false
	}
	return pid, start, temp, true
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
	st, err := procStart(os.Getpid())
	return Owner{PID: os.Getpid(), Start: st}, err
}

// Alive reports whether the owner is still running (the same PID with the
// same start time, and not a zombie).
func (o Owner) Alive() bool { return alive(o.PID, o.Start) }
