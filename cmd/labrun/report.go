package main

import (
	"fmt"

	"github.com/labrun/labrun/runner"
)

func cmdReport(e *env, args []string) int {
	fs := newFlags(e, "report", "DIR")
	pos, err := parse(fs, args)
	if err != nil {
		return runner.ExitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return runner.ExitUsage
	}
	if err := runner.Report(pos[0]); err != nil {
		fmt.Fprintf(e.stderr, "labrun report: %v\n", err)
		return runner.ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "report: %s/report.html\n", pos[0])
	return runner.ExitOK
}
