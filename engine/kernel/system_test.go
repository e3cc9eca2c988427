package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSystemValidate(t *testing.T) {
	minus1, big, neg := -1, 1<<31, -2
	cases := []struct {
		s    SystemSettings
		want string // error substring; "" = valid
	}{
		{SystemSettings{}, ""}, // nothing to change
		{SystemSettings{Sysctls: []Sysctl{{"net.core.rmem_max", "4194304"}, {"net.ipv4.tcp_rmem", "4096 87380 6291456"}}}, ""}, // plain keys, a multi-field value
		{SystemSettings{Sysctls: []Sysctl{{"net.ipv4.conf.veth-a_1.rp_filter", "0"}}}, ""},                                     // - and _ in a component
		{SystemSettings{Sysctls: []Sysctl{{"no.such.key", "1"}}}, ""},                                                          // existence is checked when applied
		{SystemSettings{RTRuntime: &minus1, Governor: "performance", Required: []string{"rt_runtime", "governor"}}, ""},        // the other two settings
		{SystemSettings{Sysctls: []Sysctl{{"vm.swappiness", "10"}}, Required: []string{"vm.swappiness"}}, ""},                  // a sysctl required by its key
		{SystemSettings{Sysctls: []Sysctl{{"../x", "1"}}}, `sysctl key "../x"`},                                                // leaves /proc/sys
		{SystemSettings{Sysctls: []Sysctl{{"a/b", "1"}}}, `sysctl key "a/b"`},                                                  // a slash
		{SystemSettings{Sysctls: []Sysctl{{"", "1"}}}, "sysctl with an empty key"},                                             // empty
		{SystemSettings{Sysctls: []Sysctl{{"net..core", "1"}}}, `sysctl key "net..core"`},                                      // empty component
		{SystemSettings{Sysctls: []Sysctl{{".net.core", "1"}}}, `sysctl key ".net.core"`},                                      // leading dot
		{SystemSettings{Sysctls: []Sysctl{{"net.core.", "1"}}}, `sysctl key "net.core."`},                                      // trailing dot
		{SystemSettings{Sysctls: []Sysctl{{"Net.core", "1"}}}, `sysctl key "Net.core"`},                                        // upper case
		{SystemSettings{Sysctls: []Sysctl{{"net core", "1"}}}, `sysctl key "net core"`},                                        // a space
		{SystemSettings{Sysctls: []Sysctl{{"net.core.x", ""}}}, "sysctl net.core.x: empty value"},                              // no value
		{SystemSettings{Sysctls: []Sysctl{{"net.core.x", " \t"}}}, "sysctl net.core.x: empty value"},                           // blank value
		{SystemSettings{Sysctls: []Sysctl{{"net.core.x", "1\n2"}}}, "sysctl net.core.x: the value must be a single line"},      // two lines
		{SystemSettings{Sysctls: []Sysctl{{"a.b", "1"}, {"a.b", "2"}}}, "sysctl a.b set twice"},                                // duplicate
		{SystemSettings{Sysctls: []Sysctl{{rtRuntimeKey, "1"}}, RTRuntime: &minus1}, "set both as a sysctl and as rt_runtime"}, // the same file twice
		{SystemSettings{RTRuntime: &neg}, "rt_runtime -2 out of range"},                                                        // below -1
		{SystemSettings{RTRuntime: &big}, "rt_runtime 2147483648 out of range"},                                                // beyond an int
		{SystemSettings{Governor: "../performance"}, `governor "../performance"`},                                              // a path
		{SystemSettings{Governor: "on demand"}, `governor "on demand"`},                                                        // a space
		{SystemSettings{Required: []string{"vm.swappiness"}}, `unknown required setting "vm.swappiness"`},                      // requires a sysctl not set
		{SystemSettings{Required: []string{"mlock"}}, `unknown required setting "mlock"`},                                      // a thread/process setting
	}
	for _, tc := range cases {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.s, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.s, err, tc.want)
		}
	}
}

func TestSystemActions(t *testing.T) {
	minus1, some := -1, 900000
	cases := []struct {
		s    SystemSettings
		want []Action
	}{
		{SystemSettings{}, nil},                               // nothing set, nothing listed
		{SystemSettings{Required: []string{"governor"}}, nil}, // requirements alone change nothing
		{SystemSettings{Sysctls: []Sysctl{{"net.core.rmem_max", "4194304"}, {"vm.swappiness", "10"}}, RTRuntime: &minus1, Governor: "performance"}, []Action{
			{"net.core.rmem_max", "4194304", "system", "root and --allow-system", "system"},
			{"vm.swappiness", "10", "system", "root and --allow-system", "system"},
			{"rt_runtime", "-1 in kernel.sched_rt_runtime_us (no real-time throttling)", "system", "root and --allow-system", "system"},
			{"governor", "performance (cpufreq scaling_governor of every CPU)", "system", "root and --allow-system", "system"}}}, // all, in the order they are applied
		{SystemSettings{RTRuntime: &some}, []Action{
			{"rt_runtime", "900000 in kernel.sched_rt_runtime_us", "system", "root and --allow-system", "system"}}}, // a limit
		{SystemSettings{Sysctls: []Sysctl{{"kernel.core_pattern", "core"}}}, []Action{
			{"kernel.core_pattern", "core", "system", "root and --allow-system and --allow-sysctl kernel.core_pattern", "dangerous: needs --allow-sysctl kernel.core_pattern"}}}, // a dangerous key
	}
	for _, tc := range cases {
		if got := tc.s.Actions(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v.Actions() =\n\t%+v\nwant\n\t%+v", tc.s, got, tc.want)
		}
	}
}

// tree points sysctlRoot and cpuRoot at <tmp>/sys and <tmp>/cpu, made of
// files (path relative to <tmp>: content), for the test.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	oldSys, oldCPU := sysctlRoot, cpuRoot
	sysctlRoot, cpuRoot = filepath.Join(root, "sys"), filepath.Join(root, "cpu")
	t.Cleanup(func() { sysctlRoot, cpuRoot = oldSys, oldCPU })
	for name, content := range files {
		writeTestFile(t, filepath.Join(root, name), content)
	}
	return root
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

// files returns the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// permitAll permits every sysctl of s, as --allow-system with an
// --allow-sysctl for each key would.
func permitAll(s SystemSettings) Permit {
	p := Permit{System: true}
	for _, c := range s.Sysctls {
		p.Sysctls = append(p.Sysctls, c.Key)
	}
	return p
}

type sysWant struct {
	setting, value string
	state          State
	reason         string // substring; "" = no reason
	required       bool
}

func checkSys(t *testing.T, out []Outcome, ws []sysWant) {
	t.Helper()
	if len(out) != len(ws) {
		t.Errorf("outcomes %+v, want %d", out, len(ws))
		return
	}
	for i, w := range ws {
		o := out[i]
		if o.Setting != w.setting || o.Value != w.value || o.State != w.state || o.Required != w.required ||
			(w.reason == "") != (o.Reason == "") || !strings.Contains(o.Reason, w.reason) {
			t.Errorf("outcome %d = %+v, want %+v", i, o, w)
		}
	}
}

// Without allow every setting is skipped, no file is touched and no journal
// written, not even the state folder made.
func TestApplySystemWithoutAllow(t *testing.T) {
	root := tree(t, map[string]string{
		"sys/net/core/somaxconn":                       "4096\n",
		"sys/kernel/sched_rt_runtime_us":               "950000\n",
		"cpu/cpu0/cpufreq/scaling_governor":            "schedutil\n",
		"cpu/cpu0/cpufreq/scaling_available_governors": "performance schedutil\n",
	})
	state := filepath.Join(root, "state")
	t.Setenv("LABRUN_STATE_DIR", state)
	minus1 := -1
	s := SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", "1234"}}, RTRuntime: &minus1, Governor: "performance", Required: []string{"governor"}}
	before := map[string]os.FileInfo{}
	for _, f := range []string{"sys/net/core/somaxconn", "sys/kernel/sched_rt_runtime_us", "cpu/cpu0/cpufreq/scaling_governor"} {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = fi
	}
	out, undo, _ := ApplySystem(s, Permit{}, nil)
	undo()
	const why = "system-wide: needs --allow-system"
	checkSys(t, out, []sysWant{
		{"net.core.somaxconn", "1234", Skipped, why, false},
		{"rt_runtime", "-1", Skipped, why, false},
		{"governor", "performance", Skipped, why, true},
	})
	if err := CheckRequired(out); err == nil || !strings.Contains(err.Error(), "governor = performance was skipped") {
		t.Errorf("CheckRequired: %v, want the required governor named", err)
	}
	for f, fi := range before {
		now, err := os.Stat(filepath.Join(root, f))
		if err != nil || !now.ModTime().Equal(fi.ModTime()) || now.Size() != fi.Size() {
			t.Errorf("%s touched: %v", f, err)
		}
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder %s made without --allow-system (%v)", state, err)
	}
	// With a journal already open: still nothing in its folder.
	j, err := OpenJournal(filepath.Join(root, "state2"))
	if err != nil {
		t.Fatal(err)
	}
	out, undo, _ = ApplySystem(s, Permit{}, j)
	undo()
	if len(out) != 3 || out[0].State != Skipped {
		t.Errorf("outcomes %+v", out)
	}
	if f := files(t, filepath.Join(root, "state2")); len(f) != 0 {
		t.Errorf("files %v written without --allow-system", f)
	}
}

// The real /proc/sys is not touched without allow either. As root this
// runs in a new network namespace, so that a broken check could not
// change the machine's value.
func TestApplySystemWithoutAllowProc(t *testing.T) {
	const path = "/proc/sys/net/core/somaxconn"
	state := filepath.Join(t.TempDir(), "state")
	t.Setenv("LABRUN_STATE_DIR", state)
	check := func() {
		before := readTestFile(t, path)
		out, undo, _ := ApplySystem(SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", "17"}}}, Permit{}, nil)
		if after := readTestFile(t, path); after != before {
			t.Errorf("%s is %q, was %q", path, after, before)
		}
		undo()
		checkSys(t, out, []sysWant{{"net.core.somaxconn", "17", Skipped, "needs --allow-system", false}})
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state folder made without --allow-system (%v)", err)
		}
	}
	if os.Geteuid() == 0 {
		inNetns(t, check)
	} else {
		check() // cannot change it anyway
	}
}

// With allow, on a temporary tree: every setting is applied, the journal
// holds the old values on disk until undo, undo restores all in reverse
// order and removes the journal, and a second undo does nothing.
func TestApplySystemTree(t *testing.T) {
	root := tree(t, map[string]string{
		"sys/net/core/somaxconn":                  "4096\n",
		"sys/net/ipv4/ping_group_range":           "1\t0\n",
		"sys/kernel/sched_rt_runtime_us":          "950000\n",
		"sys/vm/swappiness":                       "10\n",
		"cpu/cpu0/cpufreq/scaling_governor":       "schedutil\n",
		"cpu/cpu1/cpufreq/scaling_governor":       "powersave\n",
		"cpu/cpu2/online":                         "1\n", // no cpufreq: left out
		"cpu/policy4/scaling_governor":            "schedutil\n",
		"cpu/policy4/scaling_available_governors": "performance powersave schedutil\n",
	})
	// cpu4 and cpu5 share one policy: its file is changed once.
	for _, c := range []string{"cpu4", "cpu5"} {
		os.MkdirAll(filepath.Join(root, "cpu", c), 0o755)
		if err := os.Symlink("../policy4", filepath.Join(root, "cpu", c, "cpufreq")); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(root, "state")
	j, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	if j2, _ := OpenJournal(state + "/"); j2 != j {
		t.Errorf("a second OpenJournal of the folder gave another journal")
	}
	minus1 := -1
	s := SystemSettings{
		Sysctls:   []Sysctl{{"net.core.somaxconn", "1234"}, {"net.ipv4.ping_group_range", "0 2147483647"}, {"vm.swappiness", "10"}},
		RTRuntime: &minus1, Governor: "performance", Required: []string{"net.core.somaxconn"},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	out, undo, err := ApplySystem(s, permitAll(s), j)
	if err != nil {
		t.Fatal(err)
	}
	checkSys(t, out, []sysWant{
		{"net.core.somaxconn", "1234", Applied, "", true},
		{"net.ipv4.ping_group_range", "0 2147483647", Applied, "", false},
		{"vm.swappiness", "10", Applied, "", false}, // already so: nothing to change
		{"rt_runtime", "-1", Applied, "", false},
		{"governor", "performance", Applied, "", false},
	})
	if err := CheckRequired(out); err != nil {
		t.Error(err)
	}
	during := map[string]string{
		"sys/net/core/somaxconn":            "1234\n",
		"sys/net/ipv4/ping_group_range":     "0 2147483647\n",
		"sys/vm/swappiness":                 "10\n",
		"sys/kernel/sched_rt_runtime_us":    "-1\n",
		"cpu/cpu0/cpufreq/scaling_governor": "performance\n",
		"cpu/cpu1/cpufreq/scaling_governor": "performance\n",
		"cpu/policy4/scaling_governor":      "performance\n",
	}
	for f, want := range during {
		if got := readTestFile(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q while applied, want %q", f, got, want)
		}
	}
	self, _ := Self()
	var got []string
	for _, r := range records(t, state) {
		rel, _ := filepath.Rel(root, r.Path)
		got = append(got, r.Setting+" "+rel+" "+r.Old+" -> "+r.New)
		if strings.HasPrefix(rel, "sys/net/") != (r.NetNS != "") {
			t.Errorf("record %+v: network namespace recorded only for net files", r)
		}
		if len(r.Holders) != 1 || r.Holders[0].Owner != self || r.Holders[0].Command == "" {
			t.Errorf("record %+v: want this process as its one holder, with its command line", r)
		}
	}
	slices.Sort(got)
	want := []string{
		"governor of cpu0 cpu/cpu0/cpufreq/scaling_governor schedutil -> performance",
		"governor of cpu1 cpu/cpu1/cpufreq/scaling_governor powersave -> performance",
		"governor of cpu4 cpu/cpu4/cpufreq/scaling_governor schedutil -> performance",
		"kernel.sched_rt_runtime_us sys/kernel/sched_rt_runtime_us 950000 -> -1",
		"net.core.somaxconn sys/net/core/somaxconn 4096 -> 1234",
		"net.ipv4.ping_group_range sys/net/ipv4/ping_group_range 1\t0 -> 0 2147483647",
		"vm.swappiness sys/vm/swappiness 10 -> 10", // held, unchanged: no other labrun may change it meanwhile
	}
	if !slices.Equal(got, want) {
		t.Errorf("records\n\t%q\nwant\n\t%q", got, want)
	}
	undo()
	after := map[string]string{
		"sys/net/core/somaxconn":            "4096\n",
		"sys/net/ipv4/ping_group_range":     "1\t0\n",
		"sys/vm/swappiness":                 "10\n",
		"sys/kernel/sched_rt_runtime_us":    "950000\n",
		"cpu/cpu0/cpufreq/scaling_governor": "schedutil\n",
		"cpu/cpu1/cpufreq/scaling_governor": "powersave\n",
		"cpu/policy4/scaling_governor":      "schedutil\n",
	}
	for f, want := range after {
		if got := readTestFile(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q after undo, want %q", f, got, want)
		}
	}
	if names := records2(t, state); len(names) != 0 {
		t.Errorf("journals %v left after undo", names)
	}
	// Idempotent: a second undo neither writes nor makes a journal.
	writeTestFile(t, filepath.Join(root, "sys/net/core/somaxconn"), "77\n")
	undo()
	if got := readTestFile(t, filepath.Join(root, "sys/net/core/somaxconn")); got != "77\n" || len(records2(t, state)) != 0 {
		t.Errorf("second undo wrote %q or left journals %v", got, records2(t, state))
	}
}

// A key or cpufreq this machine lacks is skipped as not present here,
// nothing is journalled, and a required one fails CheckRequired.
func TestApplySystemMissing(t *testing.T) {
	root := tree(t, map[string]string{"sys/net/core/somaxconn": "4096\n", "cpu/cpu0/online": "1\n"})
	state := filepath.Join(root, "state")
	j, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	s := SystemSettings{Sysctls: []Sysctl{{"net.core.no_such_key", "1"}, {"net.core.somaxconn", "99"}}, Governor: "performance",
		Required: []string{"net.core.no_such_key"}}
	out, undo, err := ApplySystem(s, permitAll(s), j)
	if err != nil {
		t.Fatal(err)
	}
	checkSys(t, out, []sysWant{
		{"net.core.no_such_key", "1", Skipped, "not present here: no " + filepath.Join(root, "sys/net/core/no_such_key"), true},
		{"net.core.somaxconn", "99", Applied, "", false},
		{"governor", "performance", Skipped, "not present here: no cpufreq scaling_governor under " + filepath.Join(root, "cpu"), false},
	})
	if err := CheckRequired(out); err == nil || !strings.Contains(err.Error(), "net.core.no_such_key = 1 was skipped (not present here") {
		t.Errorf("CheckRequired: %v", err)
	}
	if recs := records(t, state); len(recs) != 1 || recs["net.core.somaxconn"].Old != "4096" {
		t.Errorf("records %+v, want the one applied setting", recs)
	}
	undo()
	if got := readTestFile(t, filepath.Join(root, "sys/net/core/somaxconn")); got != "4096\n" {
		t.Errorf("somaxconn %q after undo", got)
	}
	if _, err := os.Stat(filepath.Join(root, "sys/net/core/no_such_key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing key was created: %v", err)
	}
}

// On this machine: a read-only sysctl is skipped as not permitted (as root
// too) and a CPU without cpufreq, if so, as not present.
func TestApplySystemProcSkips(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	before := readTestFile(t, "/proc/sys/kernel/osrelease")
	s := SystemSettings{Sysctls: []Sysctl{{"kernel.osrelease", "1.0"}, {"kernel.no_such_key", "1"}}}
	if m, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"); len(m) == 0 {
		s.Governor = "performance" // only where it cannot change anything
	}
	out, undo, err := ApplySystem(s, permitAll(s), j)
	if err != nil {
		t.Fatal(err)
	}
	undo()
	want := []sysWant{
		{"kernel.osrelease", "1.0", Skipped, "not permitted: ", false},
		{"kernel.no_such_key", "1", Skipped, "not present here: no /proc/sys/kernel/no_such_key", false},
	}
	if s.Governor != "" {
		want = append(want, sysWant{"governor", "performance", Skipped, "not present here: no cpufreq", false})
	}
	checkSys(t, out, want)
	if after := readTestFile(t, "/proc/sys/kernel/osrelease"); after != before {
		t.Errorf("osrelease %q, was %q", after, before)
	}
	if names := records2(t, j.dir); len(names) != 0 {
		t.Errorf("records left: %v", names)
	}
}

// A governor some CPU does not offer fails before any CPU is changed.
func TestApplySystemGovernorUnavailable(t *testing.T) {
	root := tree(t, map[string]string{
		"cpu/cpu0/cpufreq/scaling_governor":            "schedutil\n",
		"cpu/cpu0/cpufreq/scaling_available_governors": "performance schedutil\n",
		"cpu/cpu1/cpufreq/scaling_governor":            "schedutil\n",
		"cpu/cpu1/cpufreq/scaling_available_governors": "schedutil\n",
	})
	j, err := OpenJournal(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	out, undo, _ := ApplySystem(SystemSettings{Governor: "performance"}, Permit{System: true}, j)
	undo()
	checkSys(t, out, []sysWant{{"governor", "performance", Failed, `governor "performance" is not available on cpu1 (available: schedutil)`, false}})
	if got := readTestFile(t, filepath.Join(root, "cpu/cpu0/cpufreq/scaling_governor")); got != "schedutil\n" {
		t.Errorf("cpu0 governor %q", got)
	}
}

// A value that cannot be restored stays in the journal, alone; a later
// undo restores it and removes the journal.
func TestApplySystemUndoFailureKeepsJournal(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/b": "1\n", "sys/a/c": "2\n"})
	j, err := OpenJournal(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	s := SystemSettings{Sysctls: []Sysctl{{"a.b", "10"}, {"a.c", "20"}}}
	out, undo, _ := ApplySystem(s, permitAll(s), j)
	checkSys(t, out, []sysWant{{"a.b", "10", Applied, "", false}, {"a.c", "20", Applied, "", false}})
	broken := filepath.Join(root, "sys/a/b")
	orig := writeAt
	writeAt = func(f *settingFile, b []byte) error {
		if f.path == broken {
			return unix.EIO
		}
		return orig(f, b)
	}
	undo()
	writeAt = orig
	if b, c := readTestFile(t, broken), readTestFile(t, filepath.Join(root, "sys/a/c")); b != "10\n" || c != "2\n" {
		t.Errorf("after a failed undo a.b = %q (want 10), a.c = %q (want 2)", b, c)
	}
	if recs := records(t, j.dir); len(recs) != 1 || recs["a.b"].Old != "1" || len(recs["a.b"].Holders) != 0 {
		t.Errorf("records %+v, want only a.b with old value 1 and no holder", recs)
	}
	undo()
	if b := readTestFile(t, broken); b != "1\n" {
		t.Errorf("a.b = %q after the second undo", b)
	}
	if recs := records2(t, j.dir); len(recs) != 0 {
		t.Errorf("records still there after everything was restored: %v", recs)
	}
}

// A write that fails leaves the value and drops the journal entry.
func TestApplySystemWriteFails(t *testing.T) {
	root := tree(t, map[string]string{"sys/a/b": "1\n"})
	j, err := OpenJournal(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	orig := writeAt
	writeAt = func(*settingFile, []byte) error { return unix.EINVAL }
	defer func() { writeAt = orig }()
	s := SystemSettings{Sysctls: []Sysctl{{"a.b", "x"}}}
	out, undo, _ := ApplySystem(s, permitAll(s), j)
	undo()
	checkSys(t, out, []sysWant{{"a.b", "x", Failed, "invalid argument", false}})
	if recs := records2(t, j.dir); len(recs) != 0 {
		t.Errorf("record left after a failed write: %v", recs)
	}
}

// inNetns runs f on a thread in a new network namespace, whose sysctls
// under /proc/sys/net are its own: changing them is invisible to the
// rest of the machine. The thread is never unlocked, so the runtime
// discards it when f returns. f reports with t.Error, not t.Fatal.
func inNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes sysctls of a new network namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		defer func() { errc <- nil }()
		f()
	}()
	if err := <-errc; err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
}

// As root, in a new network namespace: the real sysctls change, the
// journal is on disk while they are applied, undo restores them and
// removes it. The host's values do not change.
func TestApplySystemNetns(t *testing.T) {
	const somax, ping = "/proc/sys/net/core/somaxconn", "/proc/sys/net/ipv4/ping_group_range"
	hostSomax, hostPing := readTestFile(t, somax), readTestFile(t, ping)
	state := t.TempDir()
	inNetns(t, func() {
		j, err := OpenJournal(state)
		if err != nil {
			t.Error(err)
			return
		}
		beforeSomax, beforePing := readTestFile(t, somax), readTestFile(t, ping)
		newSomax := "1234"
		if strings.TrimSpace(beforeSomax) == newSomax {
			newSomax = "1235"
		}
		s := SystemSettings{Sysctls: []Sysctl{{"net.core.somaxconn", newSomax}, {"net.ipv4.ping_group_range", "0 0"}, {"net.core.no_such_key", "1"}}}
		out, undo, err := ApplySystem(s, permitAll(s), j)
		if err != nil {
			t.Fatal(err)
		}
		checkSys(t, out, []sysWant{
			{"net.core.somaxconn", newSomax, Applied, "", false},
			{"net.ipv4.ping_group_range", "0 0", Applied, "", false},
			{"net.core.no_such_key", "1", Skipped, "not present here: no /proc/sys/net/core/no_such_key", false},
		})
		if got := readTestFile(t, somax); strings.TrimSpace(got) != newSomax {
			t.Errorf("somaxconn %q while applied, want %s", got, newSomax)
		}
		if got := readTestFile(t, ping); !sameValue(got, "0 0") {
			t.Errorf("ping_group_range %q while applied", got)
		}
		recs := records(t, state)
		if len(recs) != 2 || !sameValue(recs["net.core.somaxconn"].Old, beforeSomax) || !sameValue(recs["net.ipv4.ping_group_range"].Old, beforePing) || recs["net.core.somaxconn"].NetNS != netNS() {
			t.Errorf("records %+v, want somaxconn %q and ping_group_range %q in netns %s", recs, beforeSomax, beforePing, netNS())
		}
		undo()
		if got := readTestFile(t, somax); got != beforeSomax {
			t.Errorf("somaxconn %q after undo, want %q", got, beforeSomax)
		}
		if got := readTestFile(t, ping); got != beforePing {
			t.Errorf("ping_group_range %q after undo, want %q", got, beforePing)
		}
		if recs := records2(t, state); len(recs) != 0 {
			t.Errorf("records still there after undo: %v", recs)
		}
		undo() // idempotent
	})
	if readTestFile(t, somax) != hostSomax || readTestFile(t, ping) != hostPing {
		t.Errorf("the host's sysctls changed")
	}
}
