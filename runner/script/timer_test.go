package script

import (
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

func timerExp(tm string) string {
	return `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = ` + tm + ")"
}

// The late policy, its bound and firm's CPU budget reach the plan; a
// timer given none of them keeps its old label.
func TestTimerLateAndBudget(t *testing.T) {
	for _, tc := range []struct {
		tm    string
		want  plan.TimerConfig
		label string // the run's timer parameter, "" when the timer is not swept
	}{
		{`timer.busy()`, plan.TimerConfig{Mode: "busy"}, ""},
		{`timer.busy(late = "shift")`, plan.TimerConfig{Mode: "busy", Late: "shift"}, ""},
		{`timer.sleep(late = "catch_up")`, plan.TimerConfig{Mode: "sleep", Late: "catch_up"}, ""},
		{`timer.timerfd(late = "drop", drop_after = "100us")`, plan.TimerConfig{Mode: "timerfd", Late: "drop", DropAfter: 100_000}, ""},
		{`timer.tick("1ms", late = "shift")`, plan.TimerConfig{Mode: "tick", Period: 1_000_000, Late: "shift"}, ""},
		{`timer.firm(cpu = "5%")`, plan.TimerConfig{Mode: "firm", CPUPct: 5}, ""},
		{`timer.firm(cpu = "0.5%", late = "drop", drop_after = "1ms")`, plan.TimerConfig{Mode: "firm", CPUPct: 0.5, Late: "drop", DropAfter: 1_000_000}, ""},
		{`sweep.axis("timer", [timer.busy(late = "shift"), timer.busy()])`, plan.TimerConfig{Mode: "busy", Late: "shift"}, "busy(late=shift)"},
		{`sweep.axis("timer", [timer.tick("1ms"), timer.busy()])`, plan.TimerConfig{Mode: "tick", Period: 1_000_000}, "tick(1ms)"},
		{`sweep.axis("timer", [timer.firm(cpu = "5%"), timer.busy()])`, plan.TimerConfig{Mode: "firm", CPUPct: 5}, "firm(cpu=5%)"},
	} {
		p := mustEval(t, timerExp(tc.tm), nil)
		r := p.Runs[0]
		if r.Config.Timer != tc.want {
			t.Errorf("%s: timer %+v, want %+v", tc.tm, r.Config.Timer, tc.want)
		}
		if tc.label != "" && r.Params["timer"] != tc.label {
			t.Errorf("%s: label %q, want %q", tc.tm, r.Params["timer"], tc.label)
		}
	}
}

func TestTimerLateErrors(t *testing.T) {
	for _, tc := range []struct {
		tm, want string
	}{
		{`timer.busy(late = "skip")`, `x.star:1:97: timer.busy: late: "skip" is not one of catch_up, shift, drop`},
		{`timer.busy(late = 1)`, `late: got int 1, want one of catch_up, shift, drop`},
		{`timer.busy(late = "drop")`, `x.star:1:97: timer.busy: late = "drop" needs drop_after > 0, the lateness past which a frame is not sent (e.g. drop_after = "100us"; accepted forms: 70us`},
		{`timer.sleep(drop_after = "1ms")`, `x.star:1:98: timer.sleep: drop_after is the bound of late = "drop"; give late = "drop" with it or leave it out (late = "catch_up", "shift", "drop")`},
		{`timer.busy(late = "shift", drop_after = "1ms")`, `timer.busy: drop_after is the bound of late = "drop"`},
		{`timer.busy(late = "drop", drop_after = 100)`, `drop_after: bad duration 100: a bare number has no unit; accepted forms: 70us`},
		{`timer.firm(cpu = "5")`, `x.star:1:97: timer.firm: cpu: bad cpu budget "5"; accepted forms: "5%", "0.5%", "20%" (a share of one CPU's time, more than 0 % and at most 100 %)`},
		{`timer.firm(cpu = "0%")`, `bad cpu budget "0%"`},
		{`timer.firm(cpu = "150%")`, `bad cpu budget "150%"`},
		{`timer.firm(cpu = 5)`, `cpu: got int 5, want a percentage string; accepted forms: "5%"`},
		{`timer.busy(cpu = "5%")`, `x.star:1:97: timer.busy: unknown keyword "cpu"; accepted: late, drop_after`},
	} {
		_, err := evalSrc(t, timerExp(tc.tm), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error\n%v\nwant it to contain\n%s", tc.tm, err, tc.want)
			continue
		}
		checkErrorForm(t, err)
	}
}
