package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labrun/labrun/runner/cluster"
	"github.com/labrun/labrun/runner/script"
)

// submitFlags are labrun submit's own flags.
type submitFlags struct {
	slurm, k8s, dryRun, noExclusive, noPrivileged, allowSystem   bool
	out, labrun, name, mergeAfter, image, claim, manifests, cpus string
	shards                                                       int
	sets                                                         setFlag
	allowSysctls                                                 sysctlsFlag
	ifaces                                                       ifacesFlag
}

func cmdSubmit(e *env, args []string) int {
	fs := newFlags(e, "submit", "(--slurm | --k8s) FILE -o SHARED --shards N [--set name=value]... [--allow-system] [--dry-run] [-- sbatch flags]")
	f := submitFlags{sets: setFlag{}}
	fs.BoolVar(&f.slurm, "slurm", false, "submit a Slurm array job (one task per shard) and a merge job that waits for it")
	fs.BoolVar(&f.k8s, "k8s", false, "write a Kubernetes Indexed Job (one pod per shard) and a merge Job; submit nothing")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the scripts (or manifests) and commands; write and submit nothing")
	fs.StringVar(&f.out, "o", "", "the results folder every node sees (shared file system; in --k8s the claim's mount path): shards/, merged/ and logs/ go there")
	fs.IntVar(&f.shards, "shards", 0, "the number of shards N (array tasks, or the Job's completions)")
	fs.StringVar(&f.labrun, "labrun", "", "the labrun binary as the nodes see it (default: this one; in --k8s: labrun on the image's PATH)")
	fs.StringVar(&f.name, "name", "", "the job name (default labrun-<experiment>)")
	fs.StringVar(&f.mergeAfter, "merge-after", "ok", "when the merge runs: ok (every shard exited 0; else Slurm cancels it) or any (whatever the shards did; merge names what is missing)")
	fs.BoolVar(&f.noExclusive, "no-exclusive", false, "let shards share nodes with other jobs (no sbatch --exclusive): their timings then measure the neighbours too")
	fs.StringVar(&f.image, "image", "", "--k8s: the container image with labrun and the script")
	fs.StringVar(&f.claim, "claim", "labrun-results", "--k8s: the ReadWriteMany PersistentVolumeClaim mounted at -o")
	fs.BoolVar(&f.noPrivileged, "no-privileged", false, "--k8s: add capabilities (NET_ADMIN, SYS_ADMIN, NET_RAW, SYS_NICE, IPC_LOCK) instead of running privileged; kernel.settings that write /proc/sys or /dev/cpu_dma_latency then fail")
	fs.StringVar(&f.manifests, "manifests", ".", "--k8s: the folder to write the two Job manifests to")
	fs.Var(f.sets, "set", "passed to labrun run: override a parameter or pin a sweep axis (repeatable)")
	fs.BoolVar(&f.allowSystem, "allow-system", false, "passed to labrun run")
	fs.Var(&f.allowSysctls, "allow-sysctl", "passed to labrun run (repeatable)")
	fs.StringVar(&f.cpus, "cpu", "", "passed to labrun run")
	fs.Var(&f.ifaces, "interface", "passed to labrun run: existing interfaces topology.interfaces may use (on every node)")
	own, extra := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		own, extra = args[:i], args[i+1:]
	}
	pos, err := parse(fs, own)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 || f.slurm == f.k8s || f.out == "" || f.shards < 1 || f.k8s && len(extra) > 0 {
		fmt.Fprintln(e.stderr, "labrun submit: give one FILE, one of --slurm and --k8s, -o SHARED and --shards N (sbatch flags after -- only with --slurm)")
		fs.Usage()
		return ExitUsage
	}
	job, code := f.job(e, pos[0])
	if code != ExitOK {
		return code
	}
	if f.k8s {
		return f.submitK8s(e, job)
	}
	return f.submitSlurm(e, job, extra)
}

// job evaluates the script (so that a bad one fails here, not on the
// cluster) and describes the job.
func (f *submitFlags) job(e *env, file string) (cluster.Job, int) {
	p, err := evaluate(file, script.Options{Overrides: f.sets, MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime, Print: e.stderr})
	if err == nil {
		err = p.CheckInterfacePolicy(f.ifaces)
	}
	if err != nil {
		return cluster.Job{}, scriptFailure(e, err)
	}
	if name := searchName(p); name != "" {
		fmt.Fprintf(e.stderr, "labrun submit: the plan has a search (%s): its trials depend on each other and cannot be split between shards; run it with labrun run\n", name)
		return cluster.Job{}, ExitUsage
	}
	if f.shards > len(p.Runs) {
		fmt.Fprintf(e.stderr, "labrun submit: --shards %d but the plan has %d runs: give at most %d\n", f.shards, len(p.Runs), len(p.Runs))
		return cluster.Job{}, ExitUsage
	}
	j := cluster.Job{Name: cmpOr(f.name, "labrun-"+p.Experiment), Shards: f.shards, Exclusive: !f.noExclusive, MergeAfter: f.mergeAfter}
	j.Out, _ = filepath.Abs(f.out)
	j.Script, _ = filepath.Abs(file)
	j.Labrun = f.labrun
	if strings.Contains(j.Labrun, "/") {
		j.Labrun, _ = filepath.Abs(j.Labrun)
	}
	if j.Labrun == "" && f.k8s {
		j.Labrun = "/usr/local/bin/labrun"
	} else if j.Labrun == "" {
		j.Labrun, _ = os.Executable()
	}
	for _, k := range sortedKeys(f.sets) {
		j.RunArgs = append(j.RunArgs, "--set", k+"="+f.sets[k])
	}
	if f.allowSystem {
		j.RunArgs = append(j.RunArgs, "--allow-system")
	}
	for _, s := range f.allowSysctls {
		j.RunArgs = append(j.RunArgs, "--allow-sysctl", s)
	}
	if f.cpus != "" {
		j.RunArgs = append(j.RunArgs, "--cpu", f.cpus)
	}
	if len(f.ifaces) > 0 {
		j.RunArgs = append(j.RunArgs, "--interface", f.ifaces.String())
	}
	if err := j.Check(); err != nil {
		fmt.Fprintf(e.stderr, "labrun submit: %v\n", err)
		return j, ExitUsage
	}
	return j, ExitOK
}

func (f *submitFlags) submitSlurm(e *env, j cluster.Job, extra []string) int {
	shards, merge, err := j.SlurmScripts()
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun submit: %v\n", err)
		return ExitUsage
	}
	dir := filepath.Join(j.Out, "slurm")
	sPath, mPath := filepath.Join(dir, "shards.sbatch"), filepath.Join(dir, "merge.sbatch")
	if f.dryRun {
		fmt.Fprintf(e.stdout, "# %s\n%s\n# %s\n%s\n", sPath, shards, mPath, merge)
		fmt.Fprintf(e.stdout, "# then: %s\n#       %s\n", strings.Join(j.SbatchArgs(sPath, "", extra), " "), strings.Join(j.SbatchArgs(mPath, "<shards job ID>", extra), " "))
		return ExitOK
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		fmt.Fprintln(e.stderr, "labrun submit: sbatch is not installed here: run labrun submit on a Slurm login node, or use --dry-run")
		return ExitRunFailed
	}
	for _, d := range []string{dir, j.ShardsDir(), j.MergedDir()} {
		if ents, err := os.ReadDir(d); err == nil && len(ents) > 0 {
			fmt.Fprintf(e.stderr, "labrun submit: %s is not empty (submitted before?): give a new -o folder\n", d)
			return ExitUsage
		}
	}
	made, err := mkdirs(j.Out, dir, j.LogsDir(), j.ShardsDir())
	if err == nil {
		err = errors.Join(os.WriteFile(sPath, shards, 0o644), os.WriteFile(mPath, merge, 0o644))
	}
	var id string
	if err == nil {
		id, err = sbatch(j.SbatchArgs(sPath, "", extra))
	}
	if err != nil { // nothing was submitted: take back what was made
		os.Remove(sPath)
		os.Remove(mPath)
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
		fmt.Fprintf(e.stderr, "labrun submit: %v\n", err)
		return ExitRunFailed
	}
	mid, err := sbatch(j.SbatchArgs(mPath, id, extra))
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun submit: shards submitted as job %s, but the merge was not: %v\nmerge by hand once they end: %s merge %s/*/*/*/ -o %s\n", id, err, j.Labrun, j.ShardsDir(), j.MergedDir())
		return ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "shards: job %s (array 0-%d, %d shards)\nmerge:  job %s (after%s:%s)\nwatch:  squeue -j %s,%s\n        sacct -j %s,%s --format=JobID,JobName,State,ExitCode,Elapsed,NodeList\nlogs:   %s\nresults: %s\n",
		id, j.Shards-1, j.Shards, mid, j.MergeAfter, id, id, mid, id, mid, j.LogsDir(), j.MergedDir())
	return ExitOK
}

// mkdirs makes the folders dirs (and their parents) and returns those it
// made, parents first.
func mkdirs(dirs ...string) ([]string, error) {
	var made []string
	for _, d := range dirs {
		var missing []string
		for p := d; ; p = filepath.Dir(p) {
			if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
				break
			}
			missing = append(missing, p)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := os.Mkdir(missing[i], 0o755); err != nil {
				return made, err
			}
			made = append(made, missing[i])
		}
	}
	return made, nil
}

// sbatch runs an sbatch command line and returns the job ID it printed.
func sbatch(args []string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("sbatch is not installed here: run labrun submit on a Slurm login node, or use --dry-run")
		}
		return "", fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return cluster.ParseJobID(out.String())
}

func (f *submitFlags) submitK8s(e *env, j cluster.Job) int {
	shards, merge, err := j.K8sJobs(cluster.K8s{Image: f.image, Claim: f.claim, Privileged: !f.noPrivileged})
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun submit: %v\n", err)
		return ExitUsage
	}
	sPath, mPath := filepath.Join(f.manifests, j.K8sName()+"-shards.json"), filepath.Join(f.manifests, j.K8sName()+"-merge.json")
	next := fmt.Sprintf("kubectl apply -f %s\nkubectl wait --for=condition=complete --timeout=24h job/%s && kubectl apply -f %s\n", sPath, j.K8sName(), mPath)
	if f.dryRun {
		fmt.Fprintf(e.stdout, "# %s\n%s# %s\n%s# then:\n%s", sPath, shards, mPath, merge, next)
		return ExitOK
	}
	if err := errors.Join(os.MkdirAll(f.manifests, 0o755), os.WriteFile(sPath, shards, 0o644), os.WriteFile(mPath, merge, 0o644)); err != nil {
		fmt.Fprintf(e.stderr, "labrun submit: %v\n", err)
		return ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\nsubmit:\n%s", sPath, mPath, next)
	return ExitOK
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
