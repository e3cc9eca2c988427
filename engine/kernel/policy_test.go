package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDangerous(t *testing.T) {
	cases := []struct {
		key       string
		dangerous bool
	}{
		{"kernel.printk_ratelimit", false},
		{"kernel.sched_rt_runtime_us", false},
		{"kernel.timer_migration", false},
		{"net.core.rmem_max", false},
		{"net.ipv4.tcp_congestion_control", false},
		{"net.ipv4.conf.veth-a_1.rp_filter", false},
		{"vm.swappiness", false},
		{"vm.dirty_ratio", false},
		{"kernel.core_pattern", true}, // the kernel runs a |program as root
		{"kernel.modprobe", true},     // the same
		{"kernel.core_uses_pid", true},
		{"kernel.hotplug", true},
		{"kernel.poweroff_cmd", true},
		{"kernel.sysrq", true},
		{"kernel.kexec_load_disabled", true},
		{"kernel.yama.ptrace_scope", true},
		{"kernel.unprivileged_bpf_disabled", true},
		{"net.core.bpf_jit_enable", true}, // under net.core.* but dangerous
		{"net.core.bpf_jit_harden", true},
		{"fs.protected_symlinks", true},
		{"net.ipv4.ip_forward", true},
		{"net.ipv4.ping_group_range", true},
		{"vm.drop_caches", true},
		{"kernel.printk_ratelimitx", true}, // a prefix is not a match
	}
	for _, tc := range cases {
		if got := Dangerous(tc.key); got != tc.dangerous {
			t.Errorf("Dangerous(%q) = %v, want %v", tc.key, got, tc.dangerous)
		}
		risk := SysctlRisk(tc.key)
		if tc.dangerous != strings.HasPrefix(risk, "dangerous: needs --allow-sysctl "+tc.key) || !tc.dangerous && risk != RiskSystem {
			t.Errorf("SysctlRisk(%q) = %q", tc.key, risk)
		}
	}
}

// kernel.core_pattern and kernel.modprobe are refused with --allow-system
// alone and set only when --allow-sysctl names them. On a temporary tree:
// the real files are never written.
func TestApplySystemDangerous(t *testing.T) {
	root := tree(t, map[string]string{
		"sys/kernel/core_pattern":     "core\n",
		"sys/kernel/modprobe":         "/sbin/modprobe\n",
		"sys/kernel/printk_ratelimit": "5\n",
	})
	state := filepath.Join(root, "state")
	j, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	s := SystemSettings{Sysctls: []Sysctl{{"kernel.core_pattern", "|/bin/sh -c id>/tmp/x"}, {"kernel.modprobe", "/tmp/evil"}, {"kernel.printk_ratelimit", "7"}},
		Required: []string{"kernel.core_pattern"}}
	if got := s.RefusedSysctls(nil); len(got) != 2 || got[0] != "kernel.core_pattern" || got[1] != "kernel.modprobe" {
		t.Errorf("RefusedSysctls = %v", got)
	}
	if got := s.RefusedSysctls([]string{"kernel.modprobe"}); len(got) != 1 || got[0] != "kernel.core_pattern" {
		t.Errorf("RefusedSysctls with modprobe allowed = %v", got)
	}
	out, undo, err := ApplySystem(s, Permit{System: true}, j)
	if err != nil {
		t.Fatal(err)
	}
	checkSys(t, out, []sysWant{
		{"kernel.core_pattern", "|/bin/sh -c id>/tmp/x", Skipped, "dangerous: needs --allow-sysctl kernel.core_pattern", true},
		{"kernel.modprobe", "/tmp/evil", Skipped, "dangerous: needs --allow-sysctl kernel.modprobe", false},
		{"kernel.printk_ratelimit", "7", Applied, "", false},
	})
	if err := CheckRequired(out); err == nil || !strings.Contains(err.Error(), "kernel.core_pattern") {
		t.Errorf("CheckRequired: %v, want the refused core_pattern named", err)
	}
	if got := readTestFile(t, filepath.Join(root, "sys/kernel/core_pattern")); got != "core\n" {
		t.Errorf("core_pattern written with --allow-system alone: %q", got)
	}
	if got := readTestFile(t, filepath.Join(root, "sys/kernel/modprobe")); got != "/sbin/modprobe\n" {
		t.Errorf("modprobe written with --allow-system alone: %q", got)
	}
	undo()
	// Named by --allow-sysctl: set, and restored.
	out, undo, err = ApplySystem(s, Permit{System: true, Sysctls: []string{"kernel.core_pattern", "kernel.modprobe"}}, j)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.State != Applied {
			t.Errorf("with --allow-sysctl: %+v", o)
		}
	}
	if got := readTestFile(t, filepath.Join(root, "sys/kernel/core_pattern")); got != "|/bin/sh -c id>/tmp/x\n" {
		t.Errorf("core_pattern %q with --allow-sysctl", got)
	}
	undo()
	if got := readTestFile(t, filepath.Join(root, "sys/kernel/core_pattern")); got != "core\n" {
		t.Errorf("core_pattern %q after undo", got)
	}
}

// A state folder or record another user could have written is refused,
// with the file and the reason named; so is a symbolic link.
func TestStateTrust(t *testing.T) {
	root := tree(t, map[string]string{"sys/kernel/printk_ratelimit": "7\n"})
	pid, start := deadProcess(t)
	rec := record{Setting: "kernel.printk_ratelimit", Path: filepath.Join(root, "sys/kernel/printk_ratelimit"), Old: "5", New: "7", Holders: []Holder{holder(pid, start)}}
	check := func(name, state, want string) {
		t.Helper()
		out, err := Recover(state)
		if err == nil || !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) || len(out) != 0 {
			t.Errorf("%s: Recover = %+v, %v; want a refusal containing %q", name, out, err, want)
		}
		if _, err := Pending(state); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Pending error %v, want %q", name, err, want)
		}
		if got := readTestFile(t, rec.Path); got != "7\n" {
			t.Errorf("%s: the record was applied: %q", name, got)
		}
	}

	open := filepath.Join(root, "open")
	writeRecord(t, open, rec)
	os.Chmod(open, 0o777)
	check("world-writable folder", open, "state folder "+open+" is writable by group or others (mode 0777)")

	group := filepath.Join(root, "group")
	writeRecord(t, group, rec)
	name := recordName(rec.Path, "")
	os.Chmod(filepath.Join(group, name), 0o664)
	check("group-writable record", group, filepath.Join(group, name)+" is writable by group or others")

	link := filepath.Join(root, "link")
	writeRecord(t, link, rec)
	os.Rename(filepath.Join(link, name), filepath.Join(root, "elsewhere.json"))
	os.Symlink(filepath.Join(root, "elsewhere.json"), filepath.Join(link, name))
	check("symbolic link", link, filepath.Join(link, name)+" is a symbolic link")

	dirLink := filepath.Join(root, "dirlink")
	os.Symlink(open, dirLink)
	check("folder behind a symbolic link", dirLink, "state folder "+dirLink+": refused: it is a symbolic link")

	if os.Geteuid() != 0 {
		t.Log("not root: the records owned by another user are not tried (chown needs root)")
		return
	}
	other := filepath.Join(root, "other")
	writeRecord(t, other, rec)
	if err := os.Chown(filepath.Join(other, name), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	check("record of another user", other, filepath.Join(other, name)+" is owned by uid 65534, not by root")
	otherDir := filepath.Join(root, "otherdir")
	writeRecord(t, otherDir, rec)
	os.Chown(otherDir, 65534, 65534)
	check("folder of another user", otherDir, "state folder "+otherDir+" is owned by uid 65534")
	if _, err := OpenJournal(otherDir); err == nil || !errors.Is(err, ErrUntrusted) {
		t.Errorf("OpenJournal of another user's folder: %v", err)
	}
}
