package main

import (
	"fmt"

	"github.com/labrun/labrun/runner"
)

func cmdPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "FILE [--set name=value]... [--cpu LIST] [--allow-sysctl KEY]... [--json]")
	sets := setFlag{}
	fs.Var(sets, "set", "override a parameter or pin a sweep axis: name=value (repeatable)")
	asJSON := fs.Bool("json", false, "print the runs as a JSON array")
	var allowSysctls sysctlsFlag
	fs.Var(&allowSysctls, "allow-sysctl", "show the plan as 'labrun run --allow-sysctl KEY' would run it (repeatable)")
	maxSteps := fs.Uint64("max-steps", runner.DefaultMaxSteps, "evaluation step limit per script file")
	cpus := fs.String("cpu", "", "pin the sending thread(s) to these CPUs, e.g. 1 or 0,1 (overrides the script's kernel.settings(cpu = ...); with several sender threads, thread k gets the k-th CPU)")
	pos, err := parse(fs, args)
	if err != nil {
		return runner.ExitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return runner.ExitUsage
	}
	pin, err := parseCPUList(*cpus)
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: --cpu %s: %v\n", fs.Name(), *cpus, err)
		return runner.ExitUsage
	}
	p, err := runner.Evaluate(pos[0], runner.Options{Overrides: sets, MaxSteps: *maxSteps, Print: e.stderr, CPUs: pin, AllowSysctls: allowSysctls})
	if err != nil {
		return scriptFailure(e, err)
	}
	if *asJSON {
		err = runner.WritePlanJSON(e.stdout, p)
	} else {
		err = runner.WritePlan(e.stdout, p)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return runner.ExitRunFailed
	}
	if err := p.CheckSysctls(allowSysctls); err != nil {
		return scriptFailure(e, err) // after the plan, which shows what needs the flag
	}
	return runner.ExitOK
}
