package kernel

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// KeepOff moves every thread off the CPU and undo puts them back.
func TestKeepOffMovesThreadsAndUndoes(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil || all.Count() < 2 {
		t.Skip("needs a process allowed on two or more CPUs")
	}
	cpu := runtime.NumCPU() - 1
	if !all.IsSet(cpu) {
		t.Skipf("CPU %d not in this process's mask", cpu)
	}
	o, undo := KeepOff([]int{cpu})
	if o.State != Applied {
		t.Fatalf("outcome %+v", o)
	}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		var m unix.CPUSet
		if unix.SchedGetaffinity(tid, &m) == nil && m.IsSet(cpu) {
			undo()
			t.Fatalf("thread %d still allowed on CPU %d", tid, cpu)
		}
	}
	undo()
	var m unix.CPUSet
	if err := unix.SchedGetaffinity(0, &m); err != nil || m != all {
		t.Fatalf("mask after undo %v, want %v", m, all)
	}
	if o, _ := KeepOff(cpusOf(all)); o.State != Skipped {
		t.Fatalf("keeping every thread off every CPU: %+v, want skipped", o)
	}
}

func cpusOf(s unix.CPUSet) []int {
	var out []int
	for c := range 1024 {
		if s.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}
