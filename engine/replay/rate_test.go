package replay

import (
	"testing"

	"github.com/labrun/labrun/engine/measure"
)

// The achieved rate spans the first to the last send in time: with
// several threads, sequence number 0 is not always sent first nor the
// last one last.
func TestRateSpansFirstToLastSend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		actual []int64
		want   float64
	}{
		{"one thread", []int64{1000, 2000, 3000, 4000, 5000}, 4 / 4e-6},
		{"two threads", []int64{1000, 5000, 2000, 4000, 3000}, 4 / 4e-6},
		{"last sequence sent first", []int64{2000, 3000, 4000, 5000, 1000}, 4 / 4e-6},
	} {
		r := &Result{Sched: []int64{0, 1, 2, 3, 4}, Actual: tc.actual}
		if got := r.Metrics()[measure.RatePPS]; got != tc.want {
			t.Errorf("%s: rate_pps %v, want %v", tc.name, got, tc.want)
		}
	}
}
