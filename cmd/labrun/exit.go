package main

// Exit codes of labrun, one per failure class (docs/cli.md).
const (
	ExitOK          = 0   // every run finished
	ExitRunFailed   = 1   // a run failed, or labrun itself did
	ExitUsage       = 2   // bad command line
	ExitScript      = 3   // the script is wrong: syntax, value, typo, load path
	ExitExpectation = 4   // every run finished, and an expectation failed
	ExitRegression  = 5   // labrun compare: a metric got worse beyond --fail-if
	ExitInterrupted = 130 // a signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) or a closed output: what finished is kept
)
