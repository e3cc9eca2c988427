package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/shard"
)

func cmdRun(e *env, args []string) int {
	fs := newFlags(e, "run", "FILE|ARCHIVE.tar.gz [-C DIR] [--set name=value]... [-o DIR | --resume DIR] [--allow-system] [--allow-sysctl KEY]... [--interface LIST] [--cpu LIST] [--ssh-config FILE] [--shard K/N|auto|auto/N] [--quiet] [--offline] [--max-runs N] [--max-steps N] [--max-memory SIZE] [--max-eval-time D]")
	sets := setFlag{}
	fs.Var(sets, "set", "override a parameter or pin a sweep axis: name=value (repeatable)")
	out := fs.String("o", "runs", "parent folder of the results (results go to DIR/<experiment>/<time>-<hash>/)")
	quiet := fs.Bool("quiet", false, "no progress output")
	allowSystem := fs.Bool("allow-system", false, "apply system-wide kernel settings that outlive labrun (sysctls of the allow list, rt_runtime, governor; listed by 'labrun plan'); without it they are reported skipped")
	var allowSysctls sysctlsFlag
	fs.Var(&allowSysctls, "allow-sysctl", "with --allow-system, also set this sysctl outside the allow list (e.g. kernel.core_pattern; 'labrun plan' marks them dangerous) (repeatable)")
	var ifaces ifacesFlag
	fs.Var(&ifaces, "interface", "let topology.interfaces send and receive on these existing interfaces, e.g. eth1,eth2 or NETNS/IFNAME; every one the script names must be listed (docs/devices.md)")
	into := fs.String("C", "", "run ARCHIVE.tar.gz unpacked into this new folder (default: a temporary folder, removed at the end)")
	resume := fs.String("resume", "", "continue an interrupted invocation in its result folder DIR: keep its finished runs, run the rest")
	bounds := addBoundFlags(fs)
	cpus := fs.String("cpu", "", "pin the sending thread(s) to these CPUs, e.g. 1 or 0,1 (overrides the script's kernel.settings(cpu = ...); with several sender threads, thread k gets the k-th CPU)")
	shardFlag := fs.String("shard", "", "run only shard K of N of the plan (0 <= K < N), or auto: the shard of this Slurm array task or Kubernetes Indexed Job pod (auto/N: with N shards); labrun merge joins the shards' folders")
	sshConfig := sshConfigFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return ExitUsage
	}
	if err := sshConfig.apply(); err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: --ssh-config: %v\n", fs.Name(), err)
		return ExitUsage
	}
	var spec *shard.Spec
	if *shardFlag != "" {
		s, err := shard.Parse(*shardFlag, os.Getenv)
		if err != nil {
			fmt.Fprintf(e.stderr, "labrun %s: --shard: %v\n", fs.Name(), err)
			return ExitUsage
		}
		spec = &s
	}
	pin, err := parseCPUList(*cpus)
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: --cpu %s: %v\n", fs.Name(), *cpus, err)
		return ExitUsage
	}
	// From here on, a signal or a closed output ends the command cleanly.
	ctx, stop := interruptible(e)
	defer stop()
	opts := bounds.options(sets, e.stderr, pin)
	opts.AllowSysctls = allowSysctls
	opts.CheckUpstream = true                       // in this process's evaluation; the child's only checks the bounds
	src, err := openSource(e, pos[0], *into, &opts) // an archive or a result folder: see archive.go
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: %v\n", fs.Name(), err)
		return ExitUsage
	}
	defer src.close()
	p, err := evaluate(src.script, opts)
	if err == nil {
		err = p.CheckSysctls(allowSysctls)
	}
	if err == nil {
		err = p.CheckInterfaces(ifaces)
	}
	if err != nil {
		return scriptFailure(e, err)
	}
	if code := src.checkPlan(e, p); code != ExitOK {
		return code
	}
	if ctx.Err() != nil {
		fmt.Fprintf(e.stderr, "labrun: %v before the first run; nothing ran\n", context.Cause(ctx))
		return ExitInterrupted
	}
	var info *execute.ShardInfo
	if spec != nil {
		if name := searchName(p); name != "" {
			fmt.Fprintf(e.stderr, "labrun: --shard: the plan has a search (%s): its trials depend on each other and cannot be split between shards; run it without --shard\n", name)
			return ExitUsage
		}
		si := shardPlan(p, *spec)
		info = &execute.ShardInfo{PlanHash: si.PlanHash, Shard: si.Shard, PlanRuns: si.PlanRuns}
		if len(p.Runs) == 0 {
			fmt.Fprintf(e.stderr, "labrun: shard %s has no runs: the plan has %d, fewer than its %d shards\n", si.Shard, len(si.PlanRuns), spec.N)
		}
	}
	recoverSystem(e) // what a killed labrun left, before this one changes anything
	mode := execute.ProgressPlain
	if e.isTerminal {
		mode = execute.ProgressLive
	}
	if *quiet {
		mode = execute.ProgressQuiet
	}
	res, err := execute.Execute(ctx, p, execute.ExecOptions{
		Out: *out, Stdout: e.stdout, Stderr: e.stderr, Progress: mode,
		Build: buildInfo(), Command: append([]string{"labrun", "run"}, args...), Resume: *resume, AllowSystem: *allowSystem, AllowSysctls: allowSysctls,
		Shard: info, Interfaces: ifaces,
	})
	if res != nil {
		printOutcome(e, res)
		src.compare(e, res.Dir)
	}
	return runExit(e, ctx, res, err)
}

// printOutcome prints the tables, the kernel settings and the result
// folder of an invocation.
func printOutcome(e *env, res *execute.Outcome) {
	for _, t := range res.Tables {
		plan.EscapeTable(&t)
		t.WriteText(e.stdout)
		fmt.Fprintln(e.stdout)
	}
	execute.WriteSettings(e.stdout, res)
	fmt.Fprintf(e.stdout, "results: %s\n", res.Dir)
}

// runExit says why labrun run ends as it does and returns its exit code.
func runExit(e *env, ctx context.Context, res *execute.Outcome, err error) int {
	switch {
	case err != nil:
		fmt.Fprintf(e.stderr, "labrun: %s\n", plan.PrintableLines(err.Error()))
		return ExitRunFailed
	case res.Interrupted:
		why := ""
		if c := context.Cause(ctx); c != nil && c != context.Canceled {
			why = " (" + c.Error() + ")"
		}
		fmt.Fprintf(e.stderr, "labrun: interrupted%s; finished runs are kept and the manifest says so\n", why)
		return ExitInterrupted
	case res.Failed > 0:
		fmt.Fprintf(e.stderr, "labrun: %d run(s) failed; see the manifest\n", res.Failed)
		return ExitRunFailed
	case res.ExpectFailed > 0:
		printFailedExpectations(e, res)
		return ExitExpectation
	}
	return ExitOK
}

// printFailedExpectations names each expectation that failed, and why.
func printFailedExpectations(e *env, res *execute.Outcome) {
	for _, x := range res.Expect {
		if x.Pass {
			continue
		}
		run := ""
		if x.Run != "" {
			run = " [" + plan.Printable(x.Run) + "]"
		}
		if x.Why != "" {
			fmt.Fprintf(e.stderr, "labrun: expectation failed: %s%s: %s (bound %s)\n", plan.Printable(x.Name), run, plan.Printable(x.Why), x.Bound)
		} else {
			fmt.Fprintf(e.stderr, "labrun: expectation failed: %s%s: measured %s, bound %s\n", plan.Printable(x.Name), run, strconv.FormatFloat(x.Value, 'g', 6, 64), x.Bound)
		}
	}
}

// parseCPUList reads --cpu: CPU numbers separated by commas, ranges as a-b.
func parseCPUList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b > 1023 {
			return nil, fmt.Errorf("%q is not a CPU number or range: give CPUs 0-1023 as 1, 0,1 or 0-3", part)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
