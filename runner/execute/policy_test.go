package execute

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

// A dangerous sysctl is refused at plan and run start, naming the script
// position, the key and the flag; --allow-sysctl KEY allows it, and the
// plan marks each setting with its risk.
func TestSysctlPolicy(t *testing.T) {
	src := `experiment(
    name = "s",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = timer.busy(),
    kernel = kernel.settings(mlock = True, dma_latency = "0us",
                             sysctls = {"kernel.core_pattern": "|/bin/sh -c id>/tmp/x", "kernel.modprobe": "/tmp/m", "kernel.printk_ratelimit": "7"}),
)
`
	p := mustEval(t, src, nil)
	err := p.CheckSysctls(nil)
	var se *plan.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("CheckSysctls without --allow-sysctl: %v, want a script error", err)
	}
	for _, want := range []string{"x.star:5:", "kernel.core_pattern", "--allow-sysctl kernel.core_pattern", "--allow-sysctl kernel.modprobe"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "sysctl kernel.printk_ratelimit is") {
		t.Errorf("a sysctl of the allow list refused: %v", err)
	}
	if err := p.CheckSysctls([]string{"kernel.core_pattern"}); err == nil || strings.Contains(err.Error(), "core_pattern") {
		t.Errorf("with core_pattern allowed: %v, want only modprobe refused", err)
	}
	if err := p.CheckSysctls([]string{"kernel.core_pattern", "kernel.modprobe"}); err != nil {
		t.Errorf("with both allowed: %v", err)
	}
	_, err = Execute(t.Context(), p, ExecOptions{Out: t.TempDir(), AllowSystem: true})
	if err == nil || !strings.Contains(err.Error(), "--allow-sysctl kernel.core_pattern") {
		t.Errorf("Execute with --allow-system alone: %v, want the refusal", err)
	}

	var b bytes.Buffer
	if err := plan.WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"risk: dangerous: needs --allow-sysctl kernel.core_pattern",
		"risk: dangerous: needs --allow-sysctl kernel.modprobe",
		"risk: system",
		"risk: until exit (kernel undoes it)",
		"risk: process",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	p, err = evalIn(t, map[string]string{"x.star": src}, "x.star", script.Options{AllowSysctls: []string{"kernel.core_pattern"}})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	plan.WritePlan(&b, p)
	if !strings.Contains(b.String(), "risk: dangerous: allowed by --allow-sysctl kernel.core_pattern") {
		t.Errorf("plan with --allow-sysctl does not say it is allowed:\n%s", b.String())
	}
}

// required may name system settings, as docs/starlark.md says; a required
// sysctl that cannot be applied fails the run.
func TestRequiredSystem(t *testing.T) {
	cases := []struct {
		required string
		err      string
	}{
		{`["sysctl"]`, ""},
		{`["sysctls"]`, ""},
		{`["kernel.printk_ratelimit"]`, ""},
		{`["rt_runtime", "governor", "mlock"]`, ""},
		{`["vm.swappiness"]`, `unknown required setting "vm.swappiness"`},
		{`["cpus"]`, `"cpus" is not one of sched, cpu, mlock, timer_slack, dma_latency, sysctl, sysctls, rt_runtime, governor (did you mean cpu?), or a key of sysctls`},
		{`["sched"]`, `required = "sched", but sched is not set`},
	}
	for _, tc := range cases {
		src := `experiment(name = "r", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    kernel = kernel.settings(mlock = True, rt_runtime = -1, governor = "performance", sysctls = {"kernel.printk_ratelimit": "7"}, required = ` + tc.required + `))`
		_, err := evalSrc(t, src, nil)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("required = %s: %v, want %q", tc.required, err, tc.err)
		}
	}
	p := mustEval(t, `experiment(name = "r", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    kernel = kernel.settings(sysctls = {"kernel.printk_ratelimit": "7"}, required = ["sysctl"]))`, nil)
	k := p.Runs[0].Config.Kernel
	if s := k.System(); len(s.Required) != 1 || s.Required[0] != "kernel.printk_ratelimit" || len(k.Settings().Required) != 0 {
		t.Errorf("required sysctl goes to %+v / %+v", s.Required, k.Settings().Required)
	}
	// Without --allow-system it is skipped: the run fails, loudly.
	t.Setenv("LABRUN_STATE_DIR", t.TempDir())
	out, err := Execute(t.Context(), p, ExecOptions{Out: t.TempDir()})
	if err != nil || out.Failed != 1 {
		t.Fatalf("Execute: %+v, %v; want the run failed", out, err)
	}
}

// plan lists what run will start and load: cyclictest's command line, the
// module of a congestion control, the removal of stale namespaces.
func TestPlanListsCommandsAndModules(t *testing.T) {
	p := mustEval(t, `experiment(name = "c", trace = trace.synthetic(count = 100, interval = "70us"), timer = timer.busy(),
    sender = sender.cyclictest(), kernel = kernel.settings(sched = "fifo", priority = 80, mlock = True))`, nil)
	var b bytes.Buffer
	plan.WritePlan(&b, p)
	if !strings.Contains(b.String(), "cyclictest -t 1 -q -i 70 -h 20000 --json=<temporary folder>/out.json -l 100 --policy=fifo -p 80 -m --laptop") {
		t.Errorf("plan lacks cyclictest's command line:\n%s", b.String())
	}
	p = mustEval(t, `experiment(name = "t", emulator = link.emulator(delay = "1ms"), workload = tcp.bulk(duration = "5s", cc = "bbr"))`, nil)
	b.Reset()
	plan.WritePlan(&b, p)
	p = mustEval(t, `experiment(name = "c", trace = trace.synthetic(count = 100, interval = "70us"), timer = timer.busy(),
    kernel = kernel.settings(sysctls = {"net.ipv4.tcp_congestion_control": "htcp"}))`, nil)
	plan.WritePlan(&b, p)
	for _, want := range []string{"module       tcp_bbr, loaded by the kernel for congestion control bbr", "tcp_htcp", "remove the lr-<pid>-* namespaces of labruns no longer running"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}

// A note of a running labrun that another user could have written is not
// trusted: its manifest is left alone and the refusal names the note.
func TestMarkKilledRefusesUntrusted(t *testing.T) {
	state := t.TempDir()
	t.Setenv("LABRUN_STATE_DIR", state)
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	body := `{"status": "running"}`
	os.WriteFile(manifest, []byte(body), 0o644)
	note := filepath.Join(state, "active-1-1.json") // pid 1 never started at tick 1: gone
	os.WriteFile(note, []byte(`{"owner": {"pid": 1, "start": 1}, "manifest": "`+manifest+`"}`), 0o600)
	os.Chmod(note, 0o666)
	marked, err := MarkKilled()
	if len(marked) != 0 || err == nil || !strings.Contains(err.Error(), note+" is writable by group or others") {
		t.Errorf("MarkKilled with a world-writable note: %v, %v", marked, err)
	}
	if os.Geteuid() == 0 {
		os.Chmod(note, 0o600)
		os.Chown(note, 65534, 65534)
		marked, err = MarkKilled()
		if len(marked) != 0 || err == nil || !strings.Contains(err.Error(), note+" is owned by uid 65534") {
			t.Errorf("MarkKilled with a note of another user: %v, %v", marked, err)
		}
		os.Chown(note, 0, 0)
	}
	if b, _ := os.ReadFile(manifest); string(b) != body {
		t.Errorf("the manifest was rewritten: %s", b)
	}
	// Trusted, it is acted on.
	os.Chmod(note, 0o600)
	if marked, err := MarkKilled(); len(marked) != 1 || err != nil {
		t.Errorf("MarkKilled with a trusted note: %v, %v", marked, err)
	}
}
