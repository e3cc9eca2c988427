package script

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/labrun/labrun/runner/plan"
)

// TestEvaluateBounds: in-process, a script that grows its heap step by
// step or runs long stops at its next step past the cap, with its position
// and the flag that raises the cap. (Single calls that allocate gigabytes
// are stopped from outside by labrun's evaluating child; see cmd/labrun.)
func TestEvaluateBounds(t *testing.T) {
	tests := []struct {
		name, src string
		opts      Options
		want      string // a regexp: which call of line 4 the cap stops depends on how fast the heap grew
	}{
		// A list that grows by a megabyte string per step.
		{"memory", "def f():\n    x = []\n    for i in range(100000):\n        x.append(str(i) * 100000)\n    return x\n\nf()\n",
			Options{MaxMemory: 64 << 20, MaxEvalTime: time.Minute}, `main\.star:4:\d+: the script used more than 64MiB of memory \(--max-memory 64MiB\); raise the cap with --max-memory\n  called from main\.star:7:2`},
		// Steps that each scan a megabyte.
		{"time", "def f():\n    s = \"x\" * (1 << 20)\n    n = 0\n    for i in range(1000000):\n        n += s.count(\"y\")\n    return n\n\nf()\n",
			Options{MaxMemory: 1 << 30, MaxEvalTime: 500 * time.Millisecond}, `the script ran for more than 500ms of wall time \(--max-eval-time 500ms\); raise the cap with --max-eval-time`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "main.star"), []byte(tc.src), 0o644)
			t.Chdir(dir)
			_, err := Evaluate("main.star", tc.opts)
			if _, ok := err.(*plan.ScriptError); !ok || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("error %v (%T), want a ScriptError matching %q", err, err, tc.want)
			}
		})
	}
}
