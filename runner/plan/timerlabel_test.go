package plan

import "testing"

// The plan shows a timer's late policy and CPU budget; a timer without
// them reads as before.
func TestTimerLabelLate(t *testing.T) {
	for _, tc := range []struct {
		t    TimerConfig
		want string
	}{
		{TimerConfig{Mode: "busy"}, "busy"},
		{TimerConfig{Mode: "busy", Late: "catch_up"}, "busy"},
		{TimerConfig{Mode: "busy", Late: "shift"}, "busy (late shift)"},
		{TimerConfig{Mode: "sleep", Late: "drop", DropAfter: 100_000}, "sleep (late drop, drop after 100us)"},
		{TimerConfig{Mode: "firm", CPUPct: 0.5}, "firm (cpu 0.5%)"},
		{TimerConfig{Mode: "tick", Period: 10_000_000, Late: "shift"}, "tick (period 10ms, late shift)"},
	} {
		if got := TimerLabel(RunConfig{Timer: tc.t}); got != tc.want {
			t.Errorf("TimerLabel(%+v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
