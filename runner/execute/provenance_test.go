package execute

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/provenance"
)

// A run with stress-ng beside it records, in manifest.json, the kernel
// command line, the clocksource, stress-ng's path and version, and the
// value before the run of the sysctl the experiment writes.
func TestManifestProvenance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runs match labrun's privileged runs (run the tests as root, as CI does)")
	}
	if _, err := peer.Find("stress-ng"); err != nil {
		t.Skipf("%v", err)
	}
	p := mustEval(t, `experiment(
    name = "prov",
    trace = trace.synthetic(count = 200, interval = "100us"),
    timer = timer.firm(),
    kernel = kernel.settings(sysctls = {"net.core.rmem_max": "8388608"}),
    background = [background.stress_ng(cpu = 1, cpu_load = 30)],
)`, nil)
	var log strings.Builder
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Stderr: &log, Stdout: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	raw, err := os.ReadFile(filepath.Join(out.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Provenance provenance.Snapshot `json:"provenance"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	pv := m.Provenance
	if cmdline, err := os.ReadFile("/proc/cmdline"); err == nil && pv.KernelCmdline != strings.TrimSpace(string(cmdline)) {
		t.Errorf("kernel_cmdline %q, want /proc/cmdline's %q", pv.KernelCmdline, cmdline)
	}
	if len(pv.Tools) != 1 || pv.Tools[0].Name != "stress-ng" || pv.Tools[0].Path == "" || !strings.Contains(pv.Tools[0].Version, "stress-ng") {
		t.Errorf("tools %+v; want stress-ng with its path and version", pv.Tools)
	}
	if len(pv.Sysctls) != 1 || pv.Sysctls[0].Key != "net.core.rmem_max" || pv.Sysctls[0].Value == "" {
		t.Errorf("sysctls %+v; want net.core.rmem_max's value", pv.Sysctls)
	}
	if pv.Clocksource == nil || pv.Clocksource.Current == "" {
		t.Errorf("no clocksource in %s", raw)
	}
}

// planNeeds lists the tools, sysctls and wire use of a plan's runs.
func TestPlanNeeds(t *testing.T) {
	for _, tc := range []struct {
		src, tools, sysctls string
	}{
		{`experiment(name = "a", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy())`, "", ""},
		{`experiment(name = "b", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    background = [background.stress_ng(cpu = 1, cpu_load = 30)],
    kernel = kernel.settings(sysctls = {"net.core.rmem_max": "8388608", "net.core.wmem_max": "8388608"}))`, "stress-ng", "net.core.rmem_max,net.core.wmem_max"},
	} {
		tools, sysctls, wire := planNeeds(mustEval(t, tc.src, nil))
		if strings.Join(tools, ",") != tc.tools || strings.Join(sysctls, ",") != tc.sysctls || wire {
			t.Errorf("%s: tools %v, sysctls %v, wire %v; want %q, %q, false", tc.src, tools, sysctls, wire, tc.tools, tc.sysctls)
		}
	}
}
