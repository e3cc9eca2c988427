package kernel

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestStateDir(t *testing.T) {
	t.Setenv("LABRUN_STATE_DIR", "/x/state")
	if d := StateDir(); d != "/x/state" {
		t.Errorf("with LABRUN_STATE_DIR: %q", d)
	}
	t.Setenv("LABRUN_STATE_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/x/xdg")
	t.Setenv("HOME", "/x/home")
	want := "/x/xdg/labrun"
	if os.Geteuid() == 0 {
		want = "/var/lib/labrun"
	}
	if d := StateDir(); d != want {
		t.Errorf("StateDir() = %q, want %q", d, want)
	}
	if os.Geteuid() != 0 {
		t.Setenv("XDG_STATE_HOME", "")
		if d := StateDir(); d != "/x/home/.local/state/labrun" {
			t.Errorf("without XDG_STATE_HOME: %q", d)
		}
	}
}

func TestParseStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
	cases := []struct {
		line  string
		state byte
		start uint64
		bad   bool
	}{
		{"42 (labrun) S" + tail, 'S', 987654, false},                       // plain
		{"42 (a) b) (c) Z" + tail, 'Z', 987654, false},                     // parentheses and spaces in the name
		{"42 (x" + tail, 0, 0, true},                                       // no closing parenthesis
		{"42 (x) S 1 2 3", 0, 0, true},                                     // too few fields
		{"42 (x) S" + strings.Replace(tail, "987654", "-", 1), 0, 0, true}, // start not a number
	}
	for _, tc := range cases {
		state, start, err := parseStat([]byte(tc.line))
		if (err != nil) != tc.bad || (!tc.bad && (state != tc.state || start != tc.start)) {
			t.Errorf("parseStat(%q) = %c %d %v", tc.line, state, start, err)
		}
	}
	if s, err := selfStart(); err != nil || s == 0 || !alive(os.Getpid(), s) || alive(os.Getpid(), s+1) {
		t.Errorf("own start time %d (%v): alive with it, not with another", s, err)
	}
	if alive(1<<22+1, 1) { // beyond the largest pid_max
		t.Errorf("a PID that cannot exist is alive")
	}
}

func TestTempOwner(t *testing.T) {
	cases := []struct {
		name  string
		owner Owner
		ok    bool
	}{
		{".tmp-12-345-99887", Owner{12, 345}, true},
		{".tmp-12-345", Owner{}, false},
		{".tmp-x-345-1", Owner{}, false},
		{".tmp-0-345-1", Owner{}, false},
		{"setting-0123.json", Owner{}, false},
		{"lock", Owner{}, false},
	}
	for _, tc := range cases {
		o, ok := tempOwner(tc.name)
		if o != tc.owner || ok != tc.ok {
			t.Errorf("tempOwner(%q) = %v %v", tc.name, o, ok)
		}
	}
}

// deadProcess returns the PID and start time of a process that has ended.
func deadProcess(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := procStart(cmd.Process.Pid) // a zombie until Wait
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, start
}

func holder(pid int, start uint64) Holder {
	return Holder{Owner: Owner{pid, start}, Command: "labrun test"}
}

// leave applies s as held by pid/start and never undoes it: what a labrun
// killed after applying leaves behind.
func leave(t *testing.T, dir string, pid int, start uint64, s SystemSettings) *Journal {
	t.Helper()
	j := newJournal(dir, holder(pid, start))
	out, undo, err := ApplySystem(s, permitAll(s), j)
	_ = undo // what a killed labrun never calls
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.State != Applied {
			t.Fatalf("applying %+v: %+v", s, out)
		}
	}
	return j
}

// records returns the records in dir by setting.
func records(t *testing.T, dir string) map[string]record {
	t.Helper()
	m := map[string]record{}
	for _, n := range files(t, dir) {
		if !isRecord(n) {
			continue
		}
		var r record
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			t.Fatalf("record %s: %v", n, err)
		}
		m[r.Setting] = r
	}
	return m
}

// writeRecord puts r in dir as a labrun would.
func writeRecord(t *testing.T, dir string, r record) {
	t.Helper()
	d, err := openStateDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := d.store(recordName(r.Path, r.NetNS), r); err != nil {
		t.Fatal(err)
	}
}

// Recover restores the settings whose holders are gone (an ended process,
// and a reused PID: the same PID with another start time), drops dead
// holders from records a live one still holds, removes unfinished
// temporary files of dead processes, and leaves this process's settings.
func TestRecover(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/x": "1\n", "sys/a/y": "2\n", "sys/a/z": "3\n", "sys/a/mine": "4\n"})
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	deadPID, deadStart := deadProcess(t)
	self, _ := selfStart()
	leave(t, state, deadPID, deadStart, SystemSettings{Sysctls: []Sysctl{{"a.x", "10"}, {"a.y", "20"}, {"a.mine", "40"}}})
	leave(t, state, os.Getpid(), self+1, SystemSettings{Sysctls: []Sysctl{{"a.z", "30"}}})
	mine, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	ms := SystemSettings{Sysctls: []Sysctl{{"a.mine", "40"}}}
	_, undoMine, err := ApplySystem(ms, permitAll(ms), mine)
	if err != nil {
		t.Fatal(err)
	}
	defer undoMine()
	if r := records(t, state)["a.mine"]; len(r.Holders) != 1 || r.Holders[0].PID != os.Getpid() || r.Old != "4" {
		t.Fatalf("a.mine's record %+v: want the dead holder replaced by this one, old 4 kept", r)
	}
	staleTemp := filepath.Join(state, ".tmp-"+strconv.Itoa(deadPID)+"-"+strconv.FormatUint(deadStart, 10)+"-123")
	writeTestFile(t, staleTemp, "{")
	if p, err := Pending(state); err != nil || !slices.Equal(p, []string{"a.x", "a.y", "a.z"}) && len(p) != 3 {
		t.Errorf("Pending = %v, %v; want a.x, a.y and a.z", p, err)
	}

	out, err := Recover(state)
	if err != nil {
		t.Errorf("Recover: %v", err)
	}
	var got []string
	for _, o := range out {
		got = append(got, string(o.State)+" "+o.Setting+" = "+o.Value+": "+o.Reason)
	}
	slices.Sort(got)
	by := " (left by a labrun that was killed)"
	want := []string{
		"applied a.x = 1: restored a.x to 1" + by,
		"applied a.y = 2: restored a.y to 2" + by,
		"applied a.z = 3: restored a.z to 3" + by,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Recover outcomes\n\t%q\nwant\n\t%q", got, want)
	}
	for f, want := range map[string]string{"sys/a/x": "1\n", "sys/a/y": "2\n", "sys/a/z": "3\n", "sys/a/mine": "40\n"} {
		if got := readTestFile(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q after Recover, want %q", f, got, want)
		}
	}
	recs := records(t, state)
	if r, ok := recs["a.mine"]; len(recs) != 1 || !ok || len(r.Holders) != 1 || r.Holders[0].Owner != (Owner{os.Getpid(), self}) {
		t.Errorf("records left %+v, want only a.mine held by this process", recs)
	}
	if slices.Contains(files(t, state), filepath.Base(staleTemp)) {
		t.Errorf("a dead process's temporary file is left")
	}
	if p, err := Pending(state); len(p) != 0 || err != nil {
		t.Errorf("Pending after Recover: %v, %v", p, err)
	}
	// Nothing left to do: a second Recover reports nothing.
	if out, err := Recover(state); len(out) != 0 || err != nil {
		t.Errorf("second Recover: %+v, %v", out, err)
	}
	undoMine()
	if got := readTestFile(t, filepath.Join(root, "sys/a/mine")); got != "4\n" || len(records(t, state)) != 0 {
		t.Errorf("a.mine = %q after the last holder left, records %v", got, records(t, state))
	}
	// A missing folder is no error.
	if out, err := Recover(filepath.Join(root, "none")); len(out) != 0 || err != nil {
		t.Errorf("Recover of a missing folder: %+v, %v", out, err)
	}
}

// Recover leaves a value someone changed since, skips one whose file is
// gone, and reports an already restored one; a record it may not write
// (outside the roots) and an unreadable one stay for a later attempt.
func TestRecoverSpecialCases(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/changed": "1\n", "sys/a/gone": "1\n", "sys/a/back": "1\n", "outside": "1\n"})
	state := filepath.Join(root, "state")
	os.Mkdir(state, 0o700)
	pid, start := deadProcess(t)
	leave(t, state, pid, start, SystemSettings{Sysctls: []Sysctl{{"a.back", "2"}, {"a.changed", "2"}, {"a.gone", "2"}}})
	writeTestFile(t, filepath.Join(root, "sys/a/changed"), "7\n")
	os.Remove(filepath.Join(root, "sys/a/gone"))
	writeTestFile(t, filepath.Join(root, "sys/a/back"), "1\n")
	writeRecord(t, state, record{Setting: "evil", Path: filepath.Join(root, "outside"), Old: "0", New: "1", Holders: []Holder{holder(pid, start)}})
	writeTestFile(t, filepath.Join(state, "setting-0000000000000000.json"), "{not json")
	os.Chmod(filepath.Join(state, "setting-0000000000000000.json"), 0o600)

	out, err := Recover(state)
	if err == nil || !strings.Contains(err.Error(), "is unreadable, left as it is") {
		t.Errorf("error %v, want one naming the unreadable record", err)
	}
	by := " (left by a labrun that was killed)"
	slices.SortFunc(out, func(a, b Outcome) int { return strings.Compare(a.Setting, b.Setting) })
	checkSys(t, out, []sysWant{
		{"a.back", "1", Applied, "a.back is already 1" + by, false},
		{"a.changed", "1", Skipped, "changed since it was set to 2 (now 7): left as it is" + by, false},
		{"a.gone", "1", Skipped, "not present here: no " + filepath.Join(root, "sys/a/gone") + by, false},
		{"evil", "0", Failed, "refusing to write " + filepath.Join(root, "outside"), false},
	})
	if got := readTestFile(t, filepath.Join(root, "sys/a/changed")); got != "7\n" {
		t.Errorf("a value changed since was overwritten: %q", got)
	}
	if got := readTestFile(t, filepath.Join(root, "outside")); got != "1\n" {
		t.Errorf("a file outside the roots was written: %q", got)
	}
	if recs := records2(t, state); len(recs) != 2 {
		t.Errorf("records left %v, want the unreadable one and evil's", recs)
	}
}

// records2 lists the record files in dir.
func records2(t *testing.T, dir string) []string {
	return slices.DeleteFunc(files(t, dir), func(n string) bool { return !isRecord(n) })
}

// A net sysctl recorded in another network namespace is not written here.
func TestRecoverOtherNetns(t *testing.T) {
	root := tree(t, map[string]string{"sys/net/core/somaxconn": "2\n"})
	state := t.TempDir()
	pid, start := deadProcess(t)
	path := filepath.Join(root, "sys/net/core/somaxconn")
	writeRecord(t, state, record{Setting: "net.core.somaxconn", Path: path, Old: "1", New: "2", NetNS: "0:1", Holders: []Holder{holder(pid, start)}})
	out, err := Recover(state)
	if err != nil {
		t.Error(err)
	}
	checkSys(t, out, []sysWant{{"net.core.somaxconn", "1", Skipped, "not present here: set in network namespace 0:1", false}})
	if got := readTestFile(t, path); got != "2\n" {
		t.Errorf("somaxconn of another namespace written here: %q", got)
	}
	if names := records2(t, state); len(names) != 0 {
		t.Errorf("records left: %v", names)
	}
}

// Concurrent Recovers restore every setting once between them.
func TestRecoverConcurrent(t *testing.T) {
	const n = 8
	files := map[string]string{}
	for i := range n {
		files["sys/k/v"+strconv.Itoa(i)] = "0\n"
	}
	root := tree(t, files)
	state := t.TempDir()
	pid, start := deadProcess(t)
	for i := range n {
		leave(t, state, pid, start+uint64(i), SystemSettings{Sysctls: []Sysctl{{"k.v" + strconv.Itoa(i), "1"}}})
	}
	var wg sync.WaitGroup
	outs := make([][]Outcome, 4)
	for r := range outs {
		wg.Go(func() {
			var err error
			if outs[r], err = Recover(state); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var restored []string
	for _, out := range outs {
		for _, o := range out {
			if o.State != Applied || !strings.HasPrefix(o.Reason, "restored ") {
				t.Errorf("outcome %+v", o)
			}
			restored = append(restored, o.Setting)
		}
	}
	if slices.Sort(restored); len(slices.Compact(restored)) != n || len(restored) != n {
		t.Errorf("restored %v, want each of %d settings once", restored, n)
	}
	for f := range files {
		if got := readTestFile(t, filepath.Join(root, f)); got != "0\n" {
			t.Errorf("%s = %q", f, got)
		}
	}
}

// As root, in a new network namespace: a setting of a dead process is
// restored in the real /proc/sys and its record removed.
func TestRecoverNetns(t *testing.T) {
	const somax = "/proc/sys/net/core/somaxconn"
	host := readTestFile(t, somax)
	state := t.TempDir()
	pid, start := deadProcess(t)
	inNetns(t, func() {
		before := readTestFile(t, somax)
		j := newJournal(state, holder(pid, start))
		out, _, err := ApplySystem(SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", "321"}}}, Permit{System: true}, j)
		if err != nil || len(out) != 1 || out[0].State != Applied || readTestFile(t, somax) != "321\n" {
			t.Errorf("applying: %+v %v", out, err)
			return
		}
		restored, err := Recover(state)
		if err != nil {
			t.Error(err)
		}
		checkSys(t, restored, []sysWant{{"net.core.somaxconn", strings.TrimSpace(before), Applied,
			"restored net.core.somaxconn to " + strings.TrimSpace(before) + " (left by a labrun that was killed)", false}})
		if got := readTestFile(t, somax); got != before {
			t.Errorf("somaxconn %q after Recover, want %q", got, before)
		}
		if names := records2(t, state); len(names) != 0 {
			t.Errorf("records left: %v", names)
		}
	})
	if readTestFile(t, somax) != host {
		t.Errorf("the host's somaxconn changed")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// An undo journal an older labrun left (one file per process) is restored
// the same way, and removed.
func TestRecoverLegacyJournal(t *testing.T) {
	root := tree(t, map[string]string{"sys/kernel/printk_ratelimit": "7\n"})
	state := filepath.Join(root, "state")
	os.Mkdir(state, 0o700)
	pid, start := deadProcess(t)
	path := filepath.Join(root, "sys/kernel/printk_ratelimit")
	name := "undo-" + strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10) + ".json"
	writeTestFile(t, filepath.Join(state, name), `{"pid": `+strconv.Itoa(pid)+`, "start": `+strconv.FormatUint(start, 10)+`, "entries": [
		{"setting": "kernel.printk_ratelimit", "path": "`+path+`", "old": "5", "new": "7"}]}`)
	os.Chmod(filepath.Join(state, name), 0o600)
	if p, err := Pending(state); len(p) != 1 || p[0] != "kernel.printk_ratelimit" || err != nil {
		t.Errorf("Pending = %v, %v", p, err)
	}
	out, err := Recover(state)
	if err != nil {
		t.Error(err)
	}
	checkSys(t, out, []sysWant{{"kernel.printk_ratelimit", "5", Applied, "restored kernel.printk_ratelimit to 5", false}})
	if got := readTestFile(t, path); got != "5\n" {
		t.Errorf("printk_ratelimit %q after Recover", got)
	}
	if names := files(t, state); slices.Contains(names, name) || len(records2(t, state)) != 0 {
		t.Errorf("left in the state folder: %v", names)
	}
}
