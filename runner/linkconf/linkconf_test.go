package linkconf

import (
	"strings"
	"testing"

	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

func TestLink(t *testing.T) {
	tests := []struct {
		name string
		lc   plan.LinkConfig
		err  string // "" for a link
	}{
		{"bandwidth only", plan.LinkConfig{Bandwidth: 1e9}, ""},
		{"constant delay", plan.LinkConfig{Delay: &plan.DelayConfig{Kind: "constant", A: units.Duration(1000)}}, ""},
		{"bernoulli loss", plan.LinkConfig{Loss: &plan.LossConfig{Kind: "bernoulli", P: []float64{0.1}}}, ""},
		{"unknown delay", plan.LinkConfig{Delay: &plan.DelayConfig{Kind: "bogus"}}, `unknown delay "bogus"`},
		{"unknown loss", plan.LinkConfig{Loss: &plan.LossConfig{Kind: "bogus"}}, `unknown loss model "bogus"`},
		{"empirical file missing", plan.LinkConfig{Delay: &plan.DelayConfig{Kind: "empirical", File: &plan.FileRef{Path: "x", Key: "/nonexistent/x"}}}, "nonexistent"},
		{"bad reverse", plan.LinkConfig{Reverse: &plan.LinkConfig{Loss: &plan.LossConfig{Kind: "bogus"}}}, `reverse: unknown loss model "bogus"`},
	}
	for _, tc := range tests {
		c, err := Link(&tc.lc, 7)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && c.Seed != 7:
			t.Errorf("%s: seed %d", tc.name, c.Seed)
		}
	}
	for _, f := range []func() (any, error){
		func() (any, error) { return Delay(nil) },
		func() (any, error) { return Loss(nil) },
		func() (any, error) { return Rate(nil) },
	} {
		if _, err := f(); err != nil {
			t.Errorf("none: %v", err)
		}
	}
}
