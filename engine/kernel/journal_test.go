package kernel

import (
	"bufio"
	"io"
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

func TestJournalOwner(t *testing.T) {
	cases := []struct {
		name     string
		pid      int
		start    uint64
		temp, ok bool
	}{
		{"undo-12-345.json", 12, 345, false, true},
		{".undo-12-345-99887.tmp", 12, 345, true, true},
		{"undo-12.json", 0, 0, false, false},
		{"undo-12-345.json.bak", 0, 0, false, false},
		{"undo-x-345.json", 0, 0, false, false},
		{"undo-0-345.json", 0, 0, false, false},
		{"undo-12-345-1.json", 0, 0, false, false},
		{".undo-12-345.tmp", 0, 0, false, false},
		{"lock", 0, 0, false, false},
	}
	for _, tc := range cases {
		pid, start, temp, ok := journalOwner(tc.name)
		if pid != tc.pid || start != tc.start || temp != tc.temp || ok != tc.ok {
			t.Errorf("journalOwner(%q) = %d %d %v %v", tc.name, pid, start, temp, ok)
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

// leave applies s with a journal owned by pid/start and never undoes it:
// what a labrun killed after applying leaves behind.
func leave(t *testing.T, dir string, pid int, start uint64, s SystemSettings) *Journal {
	t.Helper()
	j := newJournal(dir, pid, start)
	out, undo := ApplySystem(s, true, j)
	t.Cleanup(undo) // only closes the files: Recover has restored them
	for _, o := range out {
		if o.State != Applied {
			t.Fatalf("applying %+v: %+v", s, out)
		}
	}
	return j
}

// Recover restores the journals of processes that are gone (an ended one,
// and a reused PID: the same PID with another start time), removes them
// and their unfinished temporary files, and leaves this process's journal.
func TestRecover(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/x": "1\n", "sys/a/y": "2\n", "sys/a/z": "3\n", "sys/a/mine": "4\n"})
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	deadPID, deadStart := deadProcess(t)
	self, _ := selfStart()
	leave(t, state, deadPID, deadStart, SystemSettings{Sysctls: []Sysctl{{"a.x", "10"}, {"a.y", "20"}}})
	leave(t, state, os.Getpid(), self+1, SystemSettings{Sysctls: []Sysctl{{"a.z", "30"}}})
	mine, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	_, undoMine := ApplySystem(SystemSettings{Sysctls: []Sysctl{{"a.mine", "40"}}}, true, mine)
	defer undoMine()
	staleTemp := filepath.Join(state, ".undo-"+strconv.Itoa(deadPID)+"-"+strconv.FormatUint(deadStart, 10)+"-123.tmp")
	writeTestFile(t, staleTemp, "{")

	out, err := Recover(state)
	if err != nil {
		t.Errorf("Recover: %v", err)
	}
	var got []string
	for _, o := range out {
		got = append(got, string(o.State)+" "+o.Setting+" = "+o.Value+": "+o.Reason)
	}
	slices.Sort(got)
	want := []string{
		"applied a.x = 1: restored a.x to 1 (left by labrun pid " + strconv.Itoa(deadPID) + ")",
		"applied a.y = 2: restored a.y to 2 (left by labrun pid " + strconv.Itoa(deadPID) + ")",
		"applied a.z = 3: restored a.z to 3 (left by labrun pid " + strconv.Itoa(os.Getpid()) + ")",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Recover outcomes\n\t%q\nwant\n\t%q", got, want)
	}
	// Newest change first within a journal.
	at := func(k string) int { return slices.IndexFunc(out, func(o Outcome) bool { return o.Setting == k }) }
	if at("a.x") < at("a.y") {
		t.Errorf("a.x restored before a.y: %+v", out)
	}
	for f, want := range map[string]string{"sys/a/x": "1\n", "sys/a/y": "2\n", "sys/a/z": "3\n", "sys/a/mine": "40\n"} {
		if got := readTestFile(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q after Recover, want %q", f, got, want)
		}
	}
	if names := files(t, state); !slices.Equal(names, []string{"lock", filepath.Base(mine.Path())}) {
		t.Errorf("state folder holds %v, want only the lock and this process's journal", names)
	}
	// Nothing left to do: a second Recover reports nothing.
	if out, err := Recover(state); len(out) != 0 || err != nil {
		t.Errorf("second Recover: %+v, %v", out, err)
	}
	// A missing folder is no error.
	if out, err := Recover(filepath.Join(root, "none")); len(out) != 0 || err != nil {
		t.Errorf("Recover of a missing folder: %+v, %v", out, err)
	}
}

// Recover leaves a value someone changed since, skips one whose file is
// gone, and reports an already restored one; an entry it may not write
// (outside the roots) and an unreadable journal stay for a later attempt.
func TestRecoverSpecialCases(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/changed": "1\n", "sys/a/gone": "1\n", "sys/a/back": "1\n", "outside": "1\n"})
	state := filepath.Join(root, "state")
	os.Mkdir(state, 0o700)
	pid, start := deadProcess(t)
	leave(t, state, pid, start, SystemSettings{Sysctls: []Sysctl{{"a.changed", "2"}, {"a.gone", "2"}, {"a.back", "2"}}})
	writeTestFile(t, filepath.Join(root, "sys/a/changed"), "7\n")
	os.Remove(filepath.Join(root, "sys/a/gone"))
	writeTestFile(t, filepath.Join(root, "sys/a/back"), "1\n")
	bad := newJournal(state, pid, start+1)
	if _, err := bad.record(journalEntry{Setting: "evil", Path: filepath.Join(root, "outside"), Old: "0", New: "1"}); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(state, "undo-"+strconv.Itoa(pid)+"-"+strconv.FormatUint(start+2, 10)+".json"), "{not json")

	out, err := Recover(state)
	if err == nil || !strings.Contains(err.Error(), "is unreadable, left as it is") {
		t.Errorf("error %v, want one naming the unreadable journal", err)
	}
	by := " (left by labrun pid " + strconv.Itoa(pid) + ")"
	checkSys(t, out, []sysWant{
		{"a.back", "1", Applied, "a.back is already 1" + by, false},
		{"a.gone", "1", Skipped, "not present here: no " + filepath.Join(root, "sys/a/gone") + by, false},
		{"a.changed", "1", Skipped, "changed since it was set to 2 (now 7): left as it is" + by, false},
		{"evil", "0", Failed, "refusing to write " + filepath.Join(root, "outside"), false},
	})
	if got := readTestFile(t, filepath.Join(root, "sys/a/changed")); got != "7\n" {
		t.Errorf("a value changed since was overwritten: %q", got)
	}
	if got := readTestFile(t, filepath.Join(root, "outside")); got != "1\n" {
		t.Errorf("a file outside the roots was written: %q", got)
	}
	if names := journalFiles(t, state); len(names) != 2 || !slices.Contains(names, filepath.Base(bad.Path())) {
		t.Errorf("journals left %v, want the unreadable one and %s", names, filepath.Base(bad.Path()))
	}
}

// A net sysctl recorded in another network namespace is not written here.
func TestRecoverOtherNetns(t *testing.T) {
	root := tree(t, map[string]string{"sys/net/core/somaxconn": "2\n"})
	state := t.TempDir()
	pid, start := deadProcess(t)
	j := newJournal(state, pid, start)
	path := filepath.Join(root, "sys/net/core/somaxconn")
	if _, err := j.record(journalEntry{Setting: "net.core.somaxconn", Path: path, Old: "1", New: "2", NetNS: "0:1"}); err != nil {
		t.Fatal(err)
	}
	out, err := Recover(state)
	if err != nil {
		t.Error(err)
	}
	checkSys(t, out, []sysWant{{"net.core.somaxconn", "1", Skipped, "not present here: set in network namespace 0:1", false}})
	if got := readTestFile(t, path); got != "2\n" {
		t.Errorf("somaxconn of another namespace written here: %q", got)
	}
	if names := journalFiles(t, state); len(names) != 0 {
		t.Errorf("journals left: %v", names)
	}
}

// Concurrent Recovers restore every journal once between them.
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

// As root, in a new network namespace: a journal of a dead process is
// restored in the real /proc/sys and removed.
func TestRecoverNetns(t *testing.T) {
	const somax = "/proc/sys/net/core/somaxconn"
	host := readTestFile(t, somax)
	state := t.TempDir()
	pid, start := deadProcess(t)
	inNetns(t, func() {
		before := readTestFile(t, somax)
		j := newJournal(state, pid, start)
		out, undo := ApplySystem(SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", "321"}}}, true, j)
		defer undo()
		if len(out) != 1 || out[0].State != Applied || readTestFile(t, somax) != "321\n" {
			t.Errorf("applying: %+v", out)
			return
		}
		restored, err := Recover(state)
		if err != nil {
			t.Error(err)
		}
		checkSys(t, restored, []sysWant{{"net.core.somaxconn", strings.TrimSpace(before), Applied,
			"restored net.core.somaxconn to " + strings.TrimSpace(before) + " (left by labrun pid " + strconv.Itoa(pid) + ")", false}})
		if got := readTestFile(t, somax); got != before {
			t.Errorf("somaxconn %q after Recover, want %q", got, before)
		}
		if names := journalFiles(t, state); len(names) != 0 {
			t.Errorf("journals left: %v", names)
		}
	})
	if readTestFile(t, somax) != host {
		t.Errorf("the host's somaxconn changed")
	}
}

// killChildEnv makes the test binary the child of TestRecoverAfterKill.
const killChildEnv = "LABRUN_KERNEL_TEST_KILL_CHILD"

// TestRecoverAfterKill: a child labrun applies a setting, with its journal
// on disk, and is killed with SIGKILL; Recover leaves its journal while it
// lives and restores the value once it is gone. The setting's file is in a
// temporary tree: a network namespace would die with the child.
func TestRecoverAfterKill(t *testing.T) {
	root := tree(t, map[string]string{"sys/net/core/somaxconn": "4096\n"})
	path := filepath.Join(root, "sys/net/core/somaxconn")
	state := filepath.Join(root, "state")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+sysctlRoot, "LABRUN_STATE_DIR="+state)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "APPLIED") {
		lines = append(lines, sc.Text())
	}
	if !strings.HasPrefix(sc.Text(), "APPLIED") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not apply: %q", lines)
	}
	if got := readTestFile(t, path); got != "1234\n" {
		t.Errorf("somaxconn %q while the child runs", got)
	}
	journal := filepath.Join(state, journalName(cmd.Process.Pid, must(procStart(cmd.Process.Pid))))
	if jf := readJournal(t, journal); len(jf.Entries) != 1 || jf.Entries[0].Old != "4096" || jf.PID != cmd.Process.Pid {
		t.Errorf("child's journal %+v", jf)
	}
	// Alive: left alone.
	if out, err := Recover(state); len(out) != 0 || err != nil {
		t.Errorf("Recover while the child lives: %+v, %v", out, err)
	}
	if got := readTestFile(t, path); got != "1234\n" {
		t.Errorf("somaxconn %q after Recover while the child lives", got)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	out, err := Recover(state)
	if err != nil {
		t.Error(err)
	}
	checkSys(t, out, []sysWant{{"net.core.somaxconn", "4096", Applied, "restored net.core.somaxconn to 4096 (left by labrun pid " + strconv.Itoa(cmd.Process.Pid) + ")", false}})
	if got := readTestFile(t, path); got != "4096\n" {
		t.Errorf("somaxconn %q after Recover, want 4096", got)
	}
	if names := journalFiles(t, state); len(names) != 0 {
		t.Errorf("journals left: %v", names)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestKillChild is the child of TestRecoverAfterKill; otherwise it skips.
// It applies somaxconn = 1234 under the sysctl root it is given, says
// APPLIED and waits for its stdin to close (it is killed before).
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("only run as the child of TestRecoverAfterKill")
	}
	sysctlRoot = dir
	out, undo := ApplySystem(SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", "1234"}}}, true, nil)
	defer undo()
	if len(out) != 1 || out[0].State != Applied {
		t.Fatalf("outcomes %+v", out)
	}
	os.Stdout.WriteString("APPLIED\n")
	io.Copy(io.Discard, os.Stdin)
}
