package main

import (
	"fmt"

	"github.com/labrun/labrun/runner/execute"
)

func cmdReport(e *env, args []string) int {
	fs := newFlags(e, "report", "DIR")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return ExitUsage
	}
	if err := execute.Report(pos[0]); err != nil {
		fmt.Fprintf(e.stderr, "labrun report: %v\n", err)
		return ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "report: %s/report.html\n", pos[0])
	return ExitOK
}
