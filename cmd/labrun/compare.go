package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/labrun/labrun/results"
)

// thresholds collects repeated --fail-if metric=ratio flags.
type thresholds []results.Threshold

func (t *thresholds) String() string { return fmt.Sprint(*t) }
func (t *thresholds) Set(s string) error {
	th, err := results.ParseThreshold(s)
	if err != nil {
		return err
	}
	*t = append(*t, th)
	return nil
}

func cmdCompare(e *env, args []string) int {
	fs := newFlags(e, "compare", "A B [--metrics m1,m2] [--fail-if metric=ratio]... [--force]")
	metrics := fs.String("metrics", "", "compare only these metrics (comma-separated); default: every metric both sides have")
	var fail thresholds
	fs.Var(&fail, "fail-if", "exit 5 when B/A of the metric is above ratio and its interval lies above 1 (repeatable), e.g. err_p99_us=1.2")
	resamples := fs.Int("resamples", 1000, "bootstrap resamples per interval")
	force := fs.Bool("force", false, "compare folders of different experiments")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 2 || *resamples < 100 {
		fs.Usage()
		return ExitUsage
	}
	o := results.CompareOptions{A: pos[0], B: pos[1], FailIf: fail, Resamples: *resamples, Force: *force}
	if *metrics != "" {
		o.Metrics = strings.Split(*metrics, ",")
	}
	c, err := results.Compare(o)
	var mismatch *results.ExperimentMismatchError
	if errors.As(err, &mismatch) {
		fmt.Fprintf(e.stderr, "labrun compare: %v\n", err)
		return ExitUsage
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun compare: %v\n", err)
		return ExitRunFailed
	}
	t := c.Table()
	t.WriteText(e.stdout)
	if c.Regressions > 0 {
		fmt.Fprintf(e.stderr, "labrun compare: %d regression(s) beyond --fail-if\n", c.Regressions)
		return ExitRegression
	}
	return ExitOK
}
