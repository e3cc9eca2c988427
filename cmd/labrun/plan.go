package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

func cmdPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "FILE [--set name=value]... [--cpu LIST] [--allow-sysctl KEY]... [--interface LIST] [--json | --runs] [--offline] [--max-runs N] [--max-steps N] [--max-memory SIZE] [--max-eval-time D]")
	sets := setFlag{}
	fs.Var(sets, "set", "override a parameter or pin a sweep axis: name=value (repeatable)")
	asJSON := fs.Bool("json", false, "print the runs as a JSON array")
	listRuns := fs.Bool("runs", false, fmt.Sprintf("list every run, also of a plan of more than %d runs (which is otherwise summarized)", planListMax))
	var allowSysctls sysctlsFlag
	fs.Var(&allowSysctls, "allow-sysctl", "show the plan as 'labrun run --allow-sysctl KEY' would run it (repeatable)")
	var ifaces ifacesFlag
	fs.Var(&ifaces, "interface", "check the plan as 'labrun run --interface LIST' would run it: the existing interfaces topology.interfaces may use")
	bounds := addBoundFlags(fs)
	cpus := fs.String("cpu", "", "pin the sending thread(s) to these CPUs, e.g. 1 or 0,1 (overrides the script's kernel.settings(cpu = ...); with several sender threads, thread k gets the k-th CPU)")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return ExitUsage
	}
	pin, err := parseCPUList(*cpus)
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: --cpu %s: %v\n", fs.Name(), *cpus, err)
		return ExitUsage
	}
	opts := bounds.options(sets, e.stderr, pin)
	opts.AllowSysctls = allowSysctls
	p, err := evaluate(pos[0], opts)
	if err != nil {
		return scriptFailure(e, err)
	}
	switch {
	case *asJSON:
		err = plan.WritePlanJSON(e.stdout, p)
	case *listRuns || len(p.Runs) <= planListMax:
		err = plan.WritePlan(e.stdout, p)
	default:
		err = plan.WritePlanSummary(e.stdout, p)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitRunFailed
	}
	if err := p.CheckSysctls(allowSysctls); err != nil {
		return scriptFailure(e, err) // after the plan, which shows what needs the flag
	}
	if err := p.CheckInterfaces(ifaces); err != nil {
		return scriptFailure(e, err) // after the plan, which lists what labrun does on them
	}
	return ExitOK
}

// planListMax is the largest plan labrun plan lists run by run without
// --runs.
const planListMax = 50

// boundFlags are the caps on a script's evaluation that plan and run share:
// scripts come from strangers.
type boundFlags struct {
	steps   *uint64
	memory  sizeFlag
	time    durationFlag
	offline *bool
	maxRuns maxRunsFlag
}

func addBoundFlags(fs *flag.FlagSet) *boundFlags {
	b := &boundFlags{memory: script.DefaultMaxMemory, time: durationFlag(script.DefaultMaxEvalTime), maxRuns: plan.MaxRuns}
	b.steps = fs.Uint64("max-steps", script.DefaultMaxSteps, "evaluation step limit per script file")
	fs.Var(&b.memory, "max-memory", "memory cap of the script's evaluation, e.g. 256MiB or 2GiB")
	fs.Var(&b.time, "max-eval-time", "wall-time cap of the script's evaluation, e.g. 500ms or 120s")
	b.offline = fs.Bool("offline", false, "load modules from the module cache only; fetch nothing (also LABRUN_OFFLINE=1)")
	fs.Var(&b.maxRuns, "max-runs", fmt.Sprintf("refuse a plan of more runs than this (1 to %d)", plan.MaxRunsLimit))
	return b
}

func (b *boundFlags) options(sets map[string]string, print io.Writer, cpus []int) script.Options {
	return script.Options{Overrides: sets, MaxSteps: *b.steps, MaxMemory: int64(b.memory), MaxEvalTime: time.Duration(b.time), Print: print, CPUs: cpus, Offline: *b.offline, MaxRuns: int(b.maxRuns)}
}

// maxRunsFlag is --max-runs: 1 to plan.MaxRunsLimit.
type maxRunsFlag int

func (m *maxRunsFlag) String() string { return strconv.Itoa(int(*m)) }
func (m *maxRunsFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > plan.MaxRunsLimit {
		return fmt.Errorf("want a number of runs from 1 to %d", plan.MaxRunsLimit)
	}
	*m = maxRunsFlag(n)
	return nil
}

// sizeFlag is a positive size in the units of engine/units.
type sizeFlag int64

func (s *sizeFlag) String() string { return units.Size(*s).String() }
func (s *sizeFlag) Set(v string) error {
	n, err := units.ParseSize(v)
	if err == nil && n <= 0 {
		err = fmt.Errorf("want a size above 0B, such as 1GiB")
	}
	*s = sizeFlag(n)
	return err
}

// durationFlag is a positive duration in the units of engine/units.
type durationFlag time.Duration

func (d *durationFlag) String() string { return units.Duration(*d).String() }
func (d *durationFlag) Set(v string) error {
	n, err := units.ParseDuration(v)
	if err == nil && n <= 0 {
		err = fmt.Errorf("want a duration above 0s, such as 30s")
	}
	*d = durationFlag(n)
	return err
}
