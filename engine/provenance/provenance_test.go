package provenance

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeRoot makes a tree of /proc and /sys files (path -> content) and
// symbolic links (path -> "->target").
func fakeRoot(t *testing.T, files map[string]string) *Reader {
	t.Helper()
	root := t.TempDir()
	for name, s := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(s, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(s), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &Reader{Root: root, Timeout: 10 * time.Second}
}

func TestFakeHost(t *testing.T) {
	r := fakeRoot(t, map[string]string{
		"proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=2,3 nohz_full=2,3\n",
		"sys/devices/system/clocksource/clocksource0/current_clocksource":   "tsc\n",
		"sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm \n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor":              "performance\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_driver":                "intel_pstate\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq":              "800000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq":              "3500000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_min_freq":              "400000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq":              "4700000\n",
		"sys/devices/system/cpu/cpu10/cpufreq/scaling_governor":             "powersave\n",
		"sys/devices/system/cpu/cpu2/online":                                "1\n", // no cpufreq: left out
		"sys/devices/system/cpu/cpufreq/boost":                              "1\n", // not a CPU
		"sys/class/net/eth9/device/driver":                                  "->../../../../bus/pci/drivers/e1000e",
		"sys/class/net/veth0/mtu":                                           "1500\n",
		"proc/sys/net/core/rmem_max":                                        "212992\n",
		"proc/sys/net/ipv4/tcp_rmem":                                        "4096\t131072\t6291456\n",
	})
	if got, err := r.KernelCmdline(); err != nil || got != "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=2,3 nohz_full=2,3" {
		t.Errorf("cmdline %q, %v", got, err)
	}
	if got, err := r.Clocksource(); err != nil || got.Current != "tsc" || !reflect.DeepEqual(got.Available, []string{"tsc", "hpet", "acpi_pm"}) {
		t.Errorf("clocksource %+v, %v", got, err)
	}
	cpus, err := r.CPUFreqs()
	want := []CPUFreq{
		{CPU: 0, Driver: "intel_pstate", Governor: "performance", MinKHz: 800000, MaxKHz: 3500000, HWMinKHz: 400000, HWMaxKHz: 4700000},
		{CPU: 10, Governor: "powersave"}, // sorted by number, not by name
	}
	if err != nil || !reflect.DeepEqual(cpus, want) {
		t.Errorf("cpufreq %+v, %v", cpus, err)
	}
	for _, tc := range []struct{ name, driver, err string }{
		{"eth9", "e1000e", ""},
		{"veth0", "", ""}, // virtual: no device link (ethtool names it on a host)
		{"eth1", "", "no interface eth1"},
		{"-i", "", "bad interface name"},
		{"../../etc", "", "bad interface name"},
	} {
		n, err := r.NIC(tc.name)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) || n.Driver != tc.driver {
			t.Errorf("NIC(%s) = %+v, %v; want driver %q, error %q", tc.name, n, err, tc.driver, tc.err)
		}
	}
	sc, err := r.Sysctls([]string{"net.core.rmem_max", "net.ipv4.tcp_rmem", "net.core.nope"})
	if err != nil || sc[0].Value != "212992" || sc[1].Value != "4096 131072 6291456" || sc[2].Err == "" {
		t.Errorf("sysctls %+v, %v", sc, err)
	}
	if _, err := r.Sysctls([]string{"../../etc/shadow"}); err == nil || !strings.Contains(err.Error(), "bad sysctl key") {
		t.Errorf("a path as a sysctl key: %v", err)
	}
	s, err := r.Collect([]string{"eth9"}, []string{"net.core.rmem_max"}, nil)
	if err != nil || s.KernelCmdline == "" || s.Clocksource.Current != "tsc" || len(s.CPUs) != 2 || len(s.Unknown) != 0 {
		t.Errorf("collect %+v, %v", s, err)
	}
	if s, _ := fakeRoot(t, map[string]string{}).Collect(nil, nil, nil); len(s.Unknown) != 3 {
		t.Errorf("an empty root: unknown %v, want the command line, clocksource and cpufreq", s.Unknown)
	}
}

// TestTool runs fake tools from a folder put first on $PATH.
func TestTool(t *testing.T) {
	bin := t.TempDir()
	for name, body := range map[string]string{
		"goodtool": "echo\necho 'goodtool 1.2.3 (build 7)'\necho second line\n",
		"errtool":  "echo 'errtool version 0.9' >&2\nexit 1\n", // on standard error, exit 1
		"mutetool": "exit 0\n",
		"slowtool": "exec sleep 1000\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := Host()
	for _, tc := range []struct{ name, version, err string }{
		{"goodtool", "goodtool 1.2.3 (build 7)", ""},
		{"errtool", "errtool version 0.9", ""},
		{"mutetool", "", "printed nothing"},
		{"notatool", "", "not on $PATH"},
		{"--help", "", "bad tool name"},
	} {
		got, err := r.Tool(tc.name)
		if got.Version != tc.version || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Tool(%s) = %+v, %v; want %q, error %q", tc.name, got, err, tc.version, tc.err)
		}
	}
	r.Timeout = 300 * time.Millisecond // the bound is what is tested, not a speed
	if _, err := r.Tool("slowtool"); err == nil || !strings.Contains(err.Error(), "did not finish within") {
		t.Errorf("a tool that never ends: %v", err)
	}
	if _, err := exec.LookPath("git"); err == nil {
		r.Timeout = time.Minute
		if got, err := r.Tool("git"); err != nil || !strings.HasPrefix(got.Version, "git version ") || !filepath.IsAbs(got.Path) {
			t.Errorf("git: %+v, %v", got, err)
		}
	}
}

// TestLoopback reads the real host: lo exists everywhere and has no
// device driver in sysfs.
func TestLoopback(t *testing.T) {
	r := Host()
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skip("no /sys/class/net/lo here")
	}
	if n, err := r.NIC("lo"); err != nil || n.Name != "lo" {
		t.Errorf("lo: %+v, %v", n, err)
	}
	if c, err := r.KernelCmdline(); err != nil || c == "" {
		t.Errorf("cmdline %q, %v", c, err)
	}
}
