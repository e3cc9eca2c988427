package kernel_test

import (
	"encoding/binary"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/kernel"
)

func TestSettingsValidate(t *testing.T) {
	cases := []struct {
		s    kernel.Settings
		want string // error substring; "" = valid
	}{
		{kernel.Settings{}, ""},                                                                                                                  // nothing to change
		{kernel.Settings{Sched: "other"}, ""},                                                                                                    // the default policy, no priority
		{kernel.Settings{Sched: "fifo", Priority: 1}, ""},                                                                                        // lowest real-time priority
		{kernel.Settings{Sched: "rr", Priority: 99}, ""},                                                                                         // highest real-time priority
		{kernel.Settings{CPUs: []int{0, 1023}}, ""},                                                                                              // the range a CPUSet holds
		{kernel.Settings{Mlock: true, TimerSlack: time.Nanosecond}, ""},                                                                          // process and thread settings
		{kernel.Settings{Required: []string{"sched", "cpu", "mlock", "timer_slack"}}, ""},                                                        // every requirable name
		{kernel.Settings{Priority: 5}, `priority 5 needs sched = "fifo" or "rr"`},                                                                // priority without a policy
		{kernel.Settings{Sched: "other", Priority: 5}, `priority 5 needs sched = "fifo" or "rr"`},                                                // SCHED_OTHER has no priority
		{kernel.Settings{Sched: "fifo"}, `priority must be 1-99 for sched = "fifo", got 0`},                                                      // fifo without priority
		{kernel.Settings{Sched: "fifo", Priority: 100}, `priority must be 1-99 for sched = "fifo", got 100`},                                     // above the range
		{kernel.Settings{Sched: "rr", Priority: -1}, `priority must be 1-99 for sched = "rr", got -1`},                                           // negative
		{kernel.Settings{Sched: "batch"}, `unknown sched "batch" (accepted: other, fifo, rr)`},                                                   // not offered
		{kernel.Settings{Sched: "FIFO", Priority: 10}, `unknown sched "FIFO"`},                                                                   // names are lower case
		{kernel.Settings{CPUs: []int{0, -1}}, "cpu -1 out of range"},                                                                             // negative cpu
		{kernel.Settings{CPUs: []int{1024}}, "cpu 1024 out of range"},                                                                            // beyond a CPUSet
		{kernel.Settings{TimerSlack: -time.Nanosecond}, "timer_slack must be >= 0"},                                                              // negative slack
		{kernel.Settings{Required: []string{"cpus"}}, `unknown required setting "cpus" (accepted: sched, cpu, mlock, timer_slack, dma_latency)`}, // misspelt name
		{kernel.Settings{Required: []string{"mlock", ""}}, `unknown required setting ""`},                                                        // empty name
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

func TestActions(t *testing.T) {
	const thread, proc = "sending thread", "labrun process"
	cases := []struct {
		s    kernel.Settings
		want []kernel.Action
	}{
		{kernel.Settings{}, nil},                                   // nothing set, nothing listed
		{kernel.Settings{Required: []string{"cpu", "mlock"}}, nil}, // requirements alone change nothing
		{kernel.Settings{Sched: "fifo", Priority: 10}, []kernel.Action{
			{Setting: "sched", Value: "SCHED_FIFO priority 10", Scope: thread, Needs: "root or CAP_SYS_NICE", Risk: kernel.RiskProcess}}}, // real-time policy needs privilege
		{kernel.Settings{Sched: "rr", Priority: 99}, []kernel.Action{
			{Setting: "sched", Value: "SCHED_RR priority 99", Scope: thread, Needs: "root or CAP_SYS_NICE", Risk: kernel.RiskProcess}}}, // round robin
		{kernel.Settings{Sched: "other"}, []kernel.Action{
			{Setting: "sched", Value: "SCHED_OTHER", Scope: thread, Risk: kernel.RiskProcess}}}, // the default policy needs nothing
		{kernel.Settings{CPUs: []int{0, 1}}, []kernel.Action{
			{Setting: "cpu", Value: "0,1", Scope: thread, Risk: kernel.RiskProcess}}}, // cpu list, comma separated
		{kernel.Settings{CPUs: []int{3}}, []kernel.Action{
			{Setting: "cpu", Value: "3", Scope: thread, Risk: kernel.RiskProcess}}}, // one cpu
		{kernel.Settings{TimerSlack: 50 * time.Microsecond}, []kernel.Action{
			{Setting: "timer_slack", Value: "50µs", Scope: thread, Risk: kernel.RiskProcess}}}, // slack as a duration
		{kernel.Settings{Mlock: true}, []kernel.Action{
			{Setting: "mlock", Value: "mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)", Scope: proc, Needs: "root or a large RLIMIT_MEMLOCK", Risk: kernel.RiskProcess}}}, // process-wide
		{kernel.Settings{Sched: "fifo", Priority: 50, CPUs: []int{1, 0}, TimerSlack: time.Nanosecond, Mlock: true}, []kernel.Action{
			{Setting: "sched", Value: "SCHED_FIFO priority 50", Scope: thread, Needs: "root or CAP_SYS_NICE", Risk: kernel.RiskProcess},
			{Setting: "cpu", Value: "1,0", Scope: thread, Risk: kernel.RiskProcess},
			{Setting: "timer_slack", Value: "1ns", Scope: thread, Risk: kernel.RiskProcess},
			{Setting: "mlock", Value: "mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)", Scope: proc, Needs: "root or a large RLIMIT_MEMLOCK", Risk: kernel.RiskProcess}}}, // all of them, in a fixed order, cpus as given
	}
	for _, tc := range cases {
		if got := tc.s.Actions(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v.Actions() =\n\t%+v\nwant\n\t%+v", tc.s, got, tc.want)
		}
	}
}

// threadState is what ApplyThread may change on the calling thread.
type threadState struct {
	cpus   unix.CPUSet
	policy uint32
	prio   uint32
	nice   int32
	slack  int
}

func readThread(t *testing.T) (threadState, bool) {
	var s threadState
	if err := unix.SchedGetaffinity(0, &s.cpus); err != nil {
		t.Errorf("sched_getaffinity: %v", err)
		return s, false
	}
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Errorf("sched_getattr: %v", err)
		return s, false
	}
	s.policy, s.prio, s.nice = a.Policy, a.Priority, a.Nice
	if s.slack, err = unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err != nil {
		t.Errorf("PR_GET_TIMERSLACK: %v", err)
		return s, false
	}
	return s, true
}

// onThread runs f on a goroutine locked to its OS thread, with the
// thread's state before f. The thread returns to the runtime's pool only
// if f left it as it found it; otherwise the goroutine ends still locked
// and the runtime discards the thread. f reports with t.Error.
func onThread(t *testing.T, f func(before threadState)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		before, ok := readThread(t)
		if !ok {
			return
		}
		f(before)
		if after, ok := readThread(t); !ok || after != before {
			t.Errorf("thread state %+v after the test, %+v before; thread discarded", after, before)
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
}

// hasCap reports whether capability c is in the effective set.
func hasCap(t *testing.T, c uint) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// realtimeAllowed reports whether this process may make a thread SCHED_FIFO
// at prio: root (with CAP_SYS_NICE, which a container may drop), or any
// user whose RLIMIT_RTPRIO allows it.
func realtimeAllowed(t *testing.T, prio int) bool {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTPRIO, &rl); err != nil {
		t.Fatal(err)
	}
	return hasCap(t, unix.CAP_SYS_NICE) || rl.Cur >= uint64(prio)
}

// want is the expected outcome of one setting.
type want struct {
	setting, value string
	state          kernel.State
	reason         string // substring of Reason; "" = no reason
	required       bool
}

func checkOutcomes(t *testing.T, out []kernel.Outcome, ws []want) {
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

// ApplyThread changes the calling thread while applied, reports every
// setting's outcome, and undo restores the thread exactly.
func TestApplyThread(t *testing.T) {
	n := runtime.NumCPU()
	absent := strconv.Itoa(n)
	rt := realtimeAllowed(t, 10)
	t.Logf("euid %d, real-time scheduling allowed: %v", os.Geteuid(), rt)
	fifo := want{"sched", "fifo 10", kernel.Skipped, "not permitted", false}
	if rt {
		fifo = want{"sched", "fifo 10", kernel.Applied, "", false}
	}
	cpu0 := func() unix.CPUSet { var s unix.CPUSet; s.Set(0); return s }()

	cases := []struct {
		name string
		s    kernel.Settings
		want []want
		// during checks the thread while the settings are applied.
		during func(t *testing.T, before, now threadState)
	}{
		// Nothing set: no outcome, nothing changes.
		{"empty", kernel.Settings{}, nil, func(t *testing.T, before, now threadState) {
			if now != before {
				t.Errorf("thread changed to %+v", now)
			}
		}},
		// Pinning to CPU 0: affinity is exactly {0}.
		{"cpu 0", kernel.Settings{CPUs: []int{0}}, []want{{"cpu", "0", kernel.Applied, "", false}},
			func(t *testing.T, before, now threadState) {
				if now.cpus != cpu0 {
					t.Errorf("affinity has %d CPUs (CPU 0 in it: %v), want only CPU 0", now.cpus.Count(), now.cpus.IsSet(0))
				}
			}},
		// A CPU this machine does not have is skipped, not failed, and nothing changes.
		{"cpu absent", kernel.Settings{CPUs: []int{n}, Required: []string{"cpu"}},
			[]want{{"cpu", absent, kernel.Skipped, "not present here: this machine has CPUs 0-" + strconv.Itoa(n-1), true}},
			func(t *testing.T, before, now threadState) {
				if now.cpus != before.cpus {
					t.Errorf("affinity changed although the setting was skipped")
				}
			}},
		// One absent CPU in a list skips the whole list: no partial pinning.
		{"cpu list with an absent one", kernel.Settings{CPUs: []int{0, n}},
			[]want{{"cpu", "0," + absent, kernel.Skipped, "not present here", false}},
			func(t *testing.T, before, now threadState) {
				if now.cpus != before.cpus {
					t.Errorf("affinity changed although the setting was skipped")
				}
			}},
		// Timer slack in ns, reported as a duration.
		{"timer slack", kernel.Settings{TimerSlack: 1234 * time.Nanosecond, Required: []string{"timer_slack"}},
			[]want{{"timer_slack", "1.234µs", kernel.Applied, "", true}},
			func(t *testing.T, before, now threadState) {
				if now.slack != 1234 {
					t.Errorf("timer slack %d, want 1234", now.slack)
				}
			}},
		// SCHED_FIFO 10: applied with privilege, otherwise skipped as not permitted.
		{"fifo", kernel.Settings{Sched: "fifo", Priority: 10}, []want{fifo},
			func(t *testing.T, before, now threadState) {
				if rt && (now.policy != unix.SCHED_FIFO || now.prio != 10) {
					t.Errorf("policy %d priority %d, want SCHED_FIFO (%d) 10", now.policy, now.prio, unix.SCHED_FIFO)
				}
				if !rt && (now.policy != before.policy || now.prio != before.prio) {
					t.Errorf("policy changed to %d/%d although the setting was skipped", now.policy, now.prio)
				}
			}},
		// SCHED_OTHER needs no privilege.
		{"other", kernel.Settings{Sched: "other"}, []want{{"sched", "other", kernel.Applied, "", false}},
			func(t *testing.T, before, now threadState) {
				if now.policy != unix.SCHED_NORMAL {
					t.Errorf("policy %d, want SCHED_NORMAL", now.policy)
				}
			}},
		// Everything at once: outcomes in a fixed order, undo restores all.
		{"all", kernel.Settings{CPUs: []int{0}, Sched: "fifo", Priority: 10, TimerSlack: time.Microsecond, Required: []string{"cpu"}},
			[]want{{"cpu", "0", kernel.Applied, "", true}, fifo, {"timer_slack", "1µs", kernel.Applied, "", false}},
			func(t *testing.T, before, now threadState) {
				// Recent kernels run a real-time thread with slack 0 and
				// ignore PR_SET_TIMERSLACK for it; older ones keep 1000.
				slackOK := now.slack == 1000 || (now.policy == unix.SCHED_FIFO && now.slack == 0)
				if now.cpus != cpu0 || !slackOK || (rt && now.policy != unix.SCHED_FIFO) {
					t.Errorf("thread %+v, want pinned to CPU 0, slack 1000 (0 if real time) and (if permitted) SCHED_FIFO", now)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); err != nil {
				t.Fatalf("test settings are invalid: %v", err)
			}
			onThread(t, func(before threadState) {
				out, undo := kernel.ApplyThread(tc.s)
				checkOutcomes(t, out, tc.want)
				if now, ok := readThread(t); ok {
					tc.during(t, before, now)
				}
				undo()
				// onThread checks that undo restored the thread.
			})
		})
	}
}

// ApplyProcess locks memory if permitted: applied for root (CAP_IPC_LOCK),
// otherwise applied or skipped as not permitted, never failed. Undo
// unlocks it.
func TestApplyProcessMlock(t *testing.T) {
	privileged := hasCap(t, unix.CAP_IPC_LOCK)
	t.Logf("euid %d, CAP_IPC_LOCK: %v", os.Geteuid(), privileged)
	if locked := vmLck(t); locked != 0 {
		t.Fatalf("%d kB of memory locked before the test", locked)
	}
	out, undo := kernel.ApplyProcess(kernel.Settings{Mlock: true, Required: []string{"mlock"}})
	locked := vmLck(t)
	// Memory mapped afterwards is made resident (and locked) page by page
	// as it is touched (MCL_ONFAULT), not all at once when mapped: 64 MiB
	// mapped, 8 MiB touched. (VmLck counts whole locked mappings, resident
	// or not: RssAnon tells.)
	before := statusKB(t, "RssAnon")
	mem, err := unix.Mmap(-1, 0, 64<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		undo()
		t.Fatal(err)
	}
	mapped := statusKB(t, "RssAnon")
	for i := 0; i < 8<<20; i += os.Getpagesize() {
		mem[i] = 1
	}
	touched := statusKB(t, "RssAnon")
	unix.Munmap(mem)
	undo()
	if len(out) != 1 || out[0].Setting != "mlock" || out[0].Value != "current+future, on fault" || !out[0].Required {
		t.Fatalf("outcomes %+v, want one required mlock = current+future, on fault", out)
	}
	if out[0].State == kernel.Applied {
		t.Logf("RssAnon: %d kB, %d kB after mapping 64 MiB, %d kB after touching 8 MiB of it", before, mapped, touched)
		if mapped-before >= 32<<10 || touched-mapped < 8<<10 {
			t.Errorf("RssAnon: %d kB, %d kB after mapping 64 MiB, %d kB after touching 8 MiB: want the touched pages only", before, mapped, touched)
		}
	}
	o := out[0]
	t.Logf("mlock outcome %+v, %d kB locked while applied", o, locked)
	switch {
	case o.State == kernel.Applied:
		if o.Reason != "" || locked == 0 {
			t.Errorf("applied with reason %q and %d kB locked", o.Reason, locked)
		}
	case privileged:
		t.Errorf("outcome %+v as a process with CAP_IPC_LOCK, want applied", o)
	case o.State == kernel.Skipped:
		if !strings.Contains(o.Reason, "not permitted") || locked != 0 {
			t.Errorf("skipped with reason %q and %d kB locked", o.Reason, locked)
		}
	default:
		t.Errorf("outcome %+v, want applied or skipped", o)
	}
	if after := vmLck(t); after != 0 {
		t.Errorf("%d kB still locked after undo", after)
	}
}

// Without Mlock, ApplyProcess does nothing and reports nothing.
func TestApplyProcessNothing(t *testing.T) {
	out, undo := kernel.ApplyProcess(kernel.Settings{Sched: "other", Required: []string{"mlock"}})
	undo()
	if len(out) != 0 {
		t.Errorf("outcomes %+v, want none", out)
	}
}

// vmLck is the process's locked memory in kB.
func vmLck(t *testing.T) int { return statusKB(t, "VmLck") }

// statusKB is a field of /proc/self/status, in kB.
func statusKB(t *testing.T, field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func TestCheckRequired(t *testing.T) {
	applied := kernel.Outcome{Setting: "timer_slack", Value: "1µs", State: kernel.Applied, Required: true}
	skipped := kernel.Outcome{Setting: "cpu", Value: "9", State: kernel.Skipped, Reason: "not present here: this machine has CPUs 0-1", Required: true}
	failed := kernel.Outcome{Setting: "sched", Value: "fifo 10", State: kernel.Failed, Reason: "invalid argument", Required: true}
	optional := func(o kernel.Outcome) kernel.Outcome { o.Required = false; return o }
	cases := []struct {
		name string
		out  []kernel.Outcome
		want []string // error substrings; nil = no error
	}{
		{"no outcomes", nil, nil},                                             // nothing applied, nothing required
		{"required applied", []kernel.Outcome{applied}, nil},                  // the requirement is met
		{"optional skipped", []kernel.Outcome{optional(skipped)}, nil},        // a skip is fine unless required
		{"optional failed", []kernel.Outcome{optional(failed), applied}, nil}, // so is a failure
		{"required skipped", []kernel.Outcome{applied, skipped}, []string{
			"required kernel settings not applied: cpu = 9 was skipped (not present here: this machine has CPUs 0-1)"}}, // names the setting, value, state and reason
		{"required failed", []kernel.Outcome{failed}, []string{"sched = fifo 10 was failed (invalid argument)"}},             // a failure too
		{"two", []kernel.Outcome{skipped, applied, failed}, []string{"cpu = 9 was skipped", "; sched = fifo 10 was failed"}}, // every one is named
	}
	for _, tc := range cases {
		err := kernel.CheckRequired(tc.out)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error, want one naming %q", tc.name, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), applied.Setting) {
			t.Errorf("%s: error %q names the applied setting", tc.name, err)
		}
	}
}

// CheckRequired on real outcomes: a required setting this machine lacks
// fails the run; a required one that was applied does not.
func TestCheckRequiredApplied(t *testing.T) {
	cases := []struct {
		name    string
		s       kernel.Settings
		wantErr string // "" = no error
	}{
		{"absent cpu required", kernel.Settings{CPUs: []int{runtime.NumCPU()}, Required: []string{"cpu"}}, "cpu = " + strconv.Itoa(runtime.NumCPU()) + " was skipped"}, // cannot be met here
		{"absent cpu optional", kernel.Settings{CPUs: []int{runtime.NumCPU()}}, ""},                                                                                    // skipped, not required
		{"slack required", kernel.Settings{TimerSlack: 2 * time.Microsecond, Required: []string{"timer_slack"}}, ""},                                                   // anyone may set it
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onThread(t, func(threadState) {
				out, undo := kernel.ApplyThread(tc.s)
				undo()
				err := kernel.CheckRequired(out)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("unexpected error %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
			})
		})
	}
}

// Undo restores a thread's own timer slack (not just the default one),
// also when a real-time policy was applied with it: Linux gives a
// real-time thread slack 0, ignores PR_SET_TIMERSLACK while it is real
// time, and on the way back sets the thread's default slack.
func TestApplyThreadUndoRestoresSlack(t *testing.T) {
	const mine = 77_777 // set before ApplyThread; not the default
	cases := []struct {
		name string
		s    kernel.Settings
	}{
		{"slack alone", kernel.Settings{TimerSlack: time.Microsecond}},                                 // plain restore
		{"fifo alone", kernel.Settings{Sched: "fifo", Priority: 10}},                                   // the policy change alone resets the slack
		{"fifo and slack", kernel.Settings{Sched: "fifo", Priority: 10, TimerSlack: time.Microsecond}}, // both
		{"rr and slack", kernel.Settings{Sched: "rr", Priority: 1, TimerSlack: 5 * time.Microsecond}},  // the other real-time policy
		{"other and slack", kernel.Settings{Sched: "other", TimerSlack: time.Microsecond}},             // no real time
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onThread(t, func(before threadState) {
				defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(before.slack), 0, 0, 0)
				if err := unix.Prctl(unix.PR_SET_TIMERSLACK, mine, 0, 0, 0); err != nil {
					t.Error(err)
					return
				}
				out, undo := kernel.ApplyThread(tc.s)
				undo()
				if got, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); got != mine {
					t.Errorf("timer slack %d after undo, want %d as before (outcomes %+v)", got, mine, out)
				}
			})
		})
	}
}

// readDMALatency returns the current system-wide CPU latency target.
func readDMALatency(t *testing.T) int32 {
	t.Helper()
	b, err := os.ReadFile(kernel.DMALatencyPath)
	if err != nil || len(b) < 4 {
		t.Fatalf("reading %s: %v", kernel.DMALatencyPath, err)
	}
	return int32(binary.NativeEndian.Uint32(b))
}

// The DMA latency hold is system-wide but ends with the process (the
// kernel drops it when the file closes): taken without AllowSystem, and
// (as root) the kernel's target is the held value until undo.
func TestDMALatencyHold(t *testing.T) {
	s := kernel.Settings{HoldDMALatency: true, DMALatency: 0, Required: []string{"dma_latency"}}
	if a := s.Actions(); len(a) != 1 || a[0].Risk != kernel.RiskUntilExit || strings.Contains(a[0].Needs, "--allow-system") {
		t.Errorf("actions %+v: want risk %q and no --allow-system", a, kernel.RiskUntilExit)
	}
	if _, err := os.Stat(kernel.DMALatencyPath); err != nil {
		t.Skipf("%s not present: %v", kernel.DMALatencyPath, err)
	}
	if os.Geteuid() != 0 {
		out, undo := kernel.ApplyProcess(s)
		undo()
		if out[0].State != kernel.Skipped || !strings.Contains(out[0].Reason, "needs root") {
			t.Fatalf("as an ordinary user: %+v", out)
		}
		if kernel.CheckRequired(out) == nil {
			t.Fatal("a required, skipped dma_latency must fail the run")
		}
		return
	}
	before := readDMALatency(t)
	out, undo := kernel.ApplyProcess(s)
	if out[0].State != kernel.Applied {
		undo()
		t.Fatalf("as root: %+v", out)
	}
	held := readDMALatency(t)
	undo()
	if held != 0 {
		t.Errorf("target %d us while held, want 0", held)
	}
	if after := readDMALatency(t); after != before {
		t.Errorf("target %d us after undo, want %d as before", after, before)
	}
}
