package execute

import (
	"time"

	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/runner/plan"
)

// timerConfig is the engine's timer configuration of a plan's timer.
func timerConfig(t plan.TimerConfig) (timer.Config, error) {
	mode, err := timer.ParseMode(t.Mode)
	if err != nil {
		return timer.Config{}, err
	}
	late, err := timer.ParseLate(t.Late)
	if err != nil {
		return timer.Config{}, err
	}
	return timer.Config{Mode: mode, Period: time.Duration(t.Period), Margin: time.Duration(t.Margin), MaxMargin: time.Duration(t.MaxMargin),
		Late: late, DropAfter: time.Duration(t.DropAfter), CPU: t.CPUPct / 100}, nil
}
