package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrun/labrun/runner/shard"
)

// slurmTools are the programs TestSlurmSubmit needs (Debian: slurm-wlm,
// munge; make test-deps installs them).
var slurmTools = []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"}

// TestSlurmSubmit runs labrun submit --slurm against a one-node Slurm
// cluster of its own: munged, slurmctld and slurmd started here with every
// file in a temporary folder, on ports of their own. It checks that each
// array task gets a shard of its own from the environment --shard auto
// reads (labrun run --shard auto, the built binary), and that the merge
// job runs after the shards and merges their folders into exactly the
// plan's runs, each once.
func TestSlurmSubmit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: slurmd runs jobs as root here (SlurmUser=root)")
	}
	for _, tool := range slurmTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install slurm-wlm munge, or make test-deps)", tool)
		}
	}
	start := time.Now()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // munged wants its socket reachable
		t.Fatal(err)
	}
	bin := buildLabrun(t, dir)
	cl := startSlurm(t, dir)
	t.Logf("slurm up in %v", time.Since(start).Round(time.Millisecond))

	script := filepath.Join(dir, "tiny.star")
	writeFile(t, script, `n = sweep.axis("n", [10, 20, 30, 40, 50])
experiment(name = "tiny", seed = 1, trace = trace.synthetic(count = n, interval = "100us"), timer = timer.busy())
`)
	out := filepath.Join(dir, "shared")
	cmd := exec.Command(bin, "submit", "--slurm", script, "-o", out, "--shards", "3", "--labrun", bin)
	cmd.Env = cl.env
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("labrun submit: %v\n%s", err, b)
	}
	t.Logf("labrun submit:\n%s", b)
	ids := regexp.MustCompile(`(?m)^(?:shards|merge): +job (\d+)`).FindAllStringSubmatch(string(b), -1)
	if len(ids) != 2 {
		t.Fatalf("no job IDs in labrun submit's output:\n%s", b)
	}
	submitted := time.Now()
	cl.waitJobs(t, ids[0][1]+","+ids[1][1], 3*time.Minute)
	t.Logf("jobs done in %v", time.Since(submitted).Round(time.Millisecond))
	checkShards(t, filepath.Join(out, "shards"), 3)
	pc := exec.Command(bin, "plan", "--json", script)
	pj, err := pc.Output()
	if err != nil {
		t.Fatalf("labrun plan --json: %v", err)
	}
	checkMerged(t, filepath.Join(out, "merged"), out, pj, 3)
	t.Logf("TestSlurmSubmit took %v", time.Since(start).Round(time.Millisecond))
}

// buildLabrun builds labrun into dir.
func buildLabrun(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "labrun")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// slurm is a running one-node cluster.
type slurm struct {
	dir  string
	env  []string // with SLURM_CONF
	logs []string
}

// startSlurm writes a munge key and slurm.conf in dir and starts munged,
// slurmctld and slurmd as children; t.Cleanup stops them by PID.
func startSlurm(t *testing.T, dir string) *slurm {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	s := &slurm{dir: filepath.Join(dir, "slurm")}
	for _, d := range []string{"state", "spool"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	f, _ := os.Open("/dev/urandom")
	f.Read(key)
	f.Close()
	if err := os.WriteFile(filepath.Join(s.dir, "munge.key"), key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(s.dir, "munge.sock")
	conf := filepath.Join(s.dir, "slurm.conf")
	ctlPort, dPort := freePort(t), freePort(t)
	writeFile(t, conf, fmt.Sprintf(`ClusterName=labruntest
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
AuthType=auth/munge
AuthInfo=socket=%[5]s
CredType=cred/munge
StateSaveLocation=%[2]s/state
SlurmdSpoolDir=%[2]s/spool
SlurmctldPidFile=%[2]s/slurmctld.pid
SlurmdPidFile=%[2]s/slurmd.pid
SlurmctldLogFile=%[2]s/slurmctld.log
SlurmdLogFile=%[2]s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName=%[1]s CPUs=2 State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, s.dir, ctlPort, dPort, sock))
	s.env = append(os.Environ(), "SLURM_CONF="+conf)
	s.start(t, "munged", "-F", "-f", "--socket="+sock, "--key-file="+filepath.Join(s.dir, "munge.key"), "--pid-file="+filepath.Join(s.dir, "munged.pid"),
		"--log-file="+filepath.Join(s.dir, "munged.log"), "--seed-file="+filepath.Join(s.dir, "munged.seed"))
	s.poll(t, 10*time.Second, "munged's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	s.start(t, "slurmctld", "-D")
	s.start(t, "slurmd", "-D")
	// Before slurmd stops, the job steps it started (slurmstepd, daemons of
	// their own) end: the jobs are over, and they follow within moments.
	t.Cleanup(func() {
		for end := time.Now().Add(10 * time.Second); len(s.steps(conf)) > 0 && time.Now().Before(end); {
			time.Sleep(100 * time.Millisecond) // a poll interval
		}
		if left := s.steps(conf); len(left) > 0 {
			t.Errorf("slurmstepd %v still running after the jobs ended", left)
		}
	})
	s.poll(t, time.Minute, "the node to be idle (sinfo)", func() bool {
		b, _ := s.command("sinfo", "-h", "-o", "%t").Output()
		return strings.TrimSpace(string(b)) == "idle"
	})
	return s
}

// steps lists the slurmstepd processes of this cluster: those whose
// environment names its slurm.conf.
func (s *slurm) steps(conf string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if strings.TrimSpace(string(comm)) == "slurmstepd" && !strings.Contains(string(stat), ") Z ") && strings.Contains(string(env), "SLURM_CONF="+conf+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *slurm) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = s.env
	return c
}

// start starts a daemon in the foreground, logging to dir/name.out, and
// stops it (SIGTERM, then SIGKILL after 10s) at cleanup.
func (s *slurm) start(t *testing.T, name string, args ...string) {
	t.Helper()
	log := filepath.Join(s.dir, name+".out")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	c := s.command(name, args...)
	c.Stdout, c.Stderr = f, f
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	f.Close()
	s.logs = append(s.logs, log, filepath.Join(s.dir, name+".log"))
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			<-done
		}
		if t.Failed() {
			s.dumpLog(t, log)
			s.dumpLog(t, filepath.Join(s.dir, name+".log"))
		}
	})
}

func (s *slurm) dumpLog(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	t.Logf("%s (last lines):\n%s", path, strings.Join(lines[max(0, len(lines)-15):], "\n"))
}

// poll waits for cond, up to limit.
func (s *slurm) poll(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting %v for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond) // a poll interval, not a wait for a condition
	}
}

// waitJobs waits until squeue lists none of the jobs.
func (s *slurm) waitJobs(t *testing.T, jobs string, limit time.Duration) {
	t.Helper()
	s.poll(t, limit, "jobs "+jobs+" to end", func() bool {
		b, err := s.command("squeue", "-h", "-j", jobs).Output()
		return err == nil && strings.TrimSpace(string(b)) == ""
	})
}

// checkShards checks that each task ran a shard of its own, as its
// manifest records: 0/n ... n-1/n, each once.
func checkShards(t *testing.T, shards string, n int) {
	t.Helper()
	var got, want []string
	for k := range n {
		want = append(want, shard.Spec{K: k, N: n}.String())
		dirs, _ := filepath.Glob(filepath.Join(shards, fmt.Sprint(k), "*", "*", "manifest.json"))
		if len(dirs) != 1 {
			t.Errorf("task %d: %d result folders", k, len(dirs))
			continue
		}
		var m struct{ Shard string }
		b, err := os.ReadFile(dirs[0])
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			t.Errorf("task %d: %v", k, err)
		}
		got = append(got, m.Shard)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the tasks' shards are %v, want %v", got, want)
	}
}

// planRun is what a run of labrun plan --json and of a manifest share.
type planRun struct {
	Index  int               `json:"index"`
	ID     string            `json:"id"`
	Seed   uint64            `json:"seed"`
	Params map[string]string `json:"parameters"`
}

// checkMerged checks the merged folder: exactly the runs of planJSON
// (labrun plan --json), each once and ok, from folders folders, with no
// duplicates, and a report.
func checkMerged(t *testing.T, merged, out string, planJSON []byte, folders int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(merged, "manifest.json"))
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(out, "logs", "*"))
		for _, l := range logs {
			lb, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, lb)
		}
		t.Fatalf("no merged folder: %v", err)
	}
	var want []planRun
	if err := json.Unmarshal(planJSON, &want); err != nil {
		t.Fatalf("labrun plan --json: %v", err)
	}
	var m struct {
		Status string
		Runs   []struct {
			planRun
			Status string `json:"status"`
		}
		Merged struct {
			Shards     []struct{ Folder string }
			Duplicates []struct{ ID string }
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Status != "ok" || len(m.Merged.Shards) != folders || len(m.Merged.Duplicates) != 0 {
		t.Errorf("merged: status %s, %d folders (want %d), %d duplicates (want 0)", m.Status, len(m.Merged.Shards), folders, len(m.Merged.Duplicates))
	}
	var got []planRun
	seen := map[string]bool{}
	for _, r := range m.Runs {
		if seen[r.ID] {
			t.Errorf("run %s twice in the merged manifest", r.ID)
		}
		seen[r.ID] = true
		got = append(got, r.planRun)
		if _, err := os.Stat(filepath.Join(merged, "series", r.ID+".csv")); err != nil || r.Status != "ok" {
			t.Errorf("run %s: %s, %v", r.ID, r.Status, err)
		}
	}
	if !slices.EqualFunc(got, want, func(a, b planRun) bool {
		return a.Index == b.Index && a.ID == b.ID && a.Seed == b.Seed && maps.Equal(a.Params, b.Params)
	}) {
		t.Errorf("merged runs:\n%+v\nwant (labrun plan --json):\n%+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(merged, "report.html")); err != nil {
		t.Error(err)
	}
}
