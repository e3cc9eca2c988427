package main

import (
	"regexp"
	"strings"
	"testing"
)

// The test binary stands in for labrun as the evaluating child of plan and
// run (TestMain runs Main with LABRUN_AS_MAIN set).
func init() { evalChildEnv = []string{"LABRUN_AS_MAIN=1"} }

// TestEvalBounds plans scripts that would take gigabytes or minutes: each
// ends with exit 3 and an error naming the script and the cap it passed.
// Small caps keep the test cheap; it asserts on the error, not on time.
func TestEvalBounds(t *testing.T) {
	// A memory bomb is one call that asks for gigabytes at once: the
	// evaluating child's address space jumps, and it is killed at once.
	const memory = "--max-memory 256MiB"
	// Each case's other cap is far away, so that the one it tests is
	// reached first also on a busy machine: a memory bomb gets a minute, a
	// slow script 4 GiB.
	tests := []struct {
		name, src  string
		mem, limit string // the caps given
		want       string // the cap the error names
	}{
		// One step allocates 4 GiB of list.
		{"list_repeat", "x = [0] * (1 << 28)\n", "256MiB", "60s", memory},
		// A 1 GiB string, split into 2^29 strings.
		{"split", `x = ("a," * ((1 << 29) - 1)).split(",")` + "\n", "256MiB", "60s", memory},
		// Within the step limit, but each step scans a megabyte.
		{"slow_steps", "def f():\n    s = \"x\" * (1 << 20)\n    n = 0\n    for i in range(1000000):\n        n += s.count(\"y\")\n    return n\n\nf()\n", "4GiB", "2s", "--max-eval-time 2s"},
		// Quadratic string building.
		{"quadratic", "def f():\n    s = \"\"\n    for i in range(1000000):\n        s = s + \"abcdefghij\"\n    return s\n\nf()\n", "4GiB", "2s", "--max-eval-time 2s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inTempRoot(t, map[string]string{"main.star": tc.src})
			code, stdout, stderr := run(t, "plan", "--max-memory", tc.mem, "--max-eval-time", tc.limit, "main.star")
			if code != ExitScript {
				t.Errorf("exit %d, want %d", code, ExitScript)
			}
			if stdout != "" {
				t.Errorf("stdout: %s", stdout)
			}
			if !strings.HasPrefix(stderr, "main.star:") || !capError.MatchString(stderr) || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name main.star and %s:\n%s", tc.want, stderr)
			}
		})
	}
}

var capError = regexp.MustCompile(`^main\.star(:\d+:\d+)?: (evaluation stopped: )?the script (used more than 256MiB of memory \(--max-memory 256MiB\)|ran for more than 2s of wall time \(--max-eval-time 2s\)); raise the cap with --max-(memory|eval-time)\n(  called from main\.star:\d+:\d+\n)*$`)
