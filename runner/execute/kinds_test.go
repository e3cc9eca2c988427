package execute

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

func TestKindOf(t *testing.T) {
	wire := &plan.TopoConfig{MTU: 1500}
	tests := []struct {
		name string
		cfg  plan.RunConfig
		want runKind
	}{
		{"bare", plan.RunConfig{}, bareKind{}},
		{"bare with a link", plan.RunConfig{Link: &plan.LinkConfig{}}, bareKind{}},
		{"wire", plan.RunConfig{Topology: wire}, wireKind{}},
		{"wire, labrun sender", plan.RunConfig{Topology: wire, Sender: &plan.SenderConfig{Kind: "labrun", Threads: 2}}, wireKind{}},
		{"peer", plan.RunConfig{Topology: wire, Sender: &plan.SenderConfig{Kind: "tcpreplay"}}, peerKind{}},
		{"cyclictest", plan.RunConfig{Sender: &plan.SenderConfig{Kind: "cyclictest"}}, cyclictestKind{}},
		{"link", plan.RunConfig{Workload: &plan.WorkloadConfig{Kind: "throughput"}}, linkKind{}},
		{"flow", plan.RunConfig{Workload: &plan.WorkloadConfig{Kind: "tcp.bulk"}, Topology: wire}, flowKind{}},
	}
	for _, tc := range tests {
		if got := kindOf(tc.cfg); got != tc.want {
			t.Errorf("%s: kind %T, want %T", tc.name, got, tc.want)
		}
	}
}

func TestUndoStack(t *testing.T) {
	// Steps are undone last first, all of them even when one fails, and
	// their errors are kept.
	var order []string
	var u undoStack
	for _, name := range []string{"namespaces", "receiver", "forwarder"} {
		u.push(func() error {
			order = append(order, name)
			if name == "namespaces" {
				return fmt.Errorf("removing %s", name)
			}
			return nil
		})
	}
	err := u.unwind()
	if got := strings.Join(order, ","); got != "forwarder,receiver,namespaces" {
		t.Errorf("undone in order %s", got)
	}
	if err == nil || err.Error() != "removing namespaces" {
		t.Errorf("error %v", err)
	}
	// A second unwind has nothing left to undo.
	order = nil
	if err := u.unwind(); err != nil || order != nil {
		t.Errorf("second unwind: %v, %v", err, order)
	}
	var two undoStack
	two.push(func() error { return errors.New("a") })
	two.push(func() error { return errors.New("b") })
	if err := two.unwind(); err == nil || err.Error() != "b\na" {
		t.Errorf("joined errors %q", err)
	}
}
