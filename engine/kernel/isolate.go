package kernel

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// KeepOff moves every thread of this process off the given CPUs (the
// sending threads' CPUs), so that the Go runtime's own threads, woken now
// and then to hand work around, are not scheduled onto a sending thread's
// CPU: each such wake-up preempts the sender for 5-20 us on a VM. The
// sending threads pin themselves afterwards (ApplyThread), and threads the
// runtime creates later inherit the mask of the thread that creates them.
// It returns the outcome and an undo that restores every thread's former
// mask (threads that ended meanwhile are skipped). With no CPU left for
// the other threads it does nothing. Each thread loses those CPUs from
// its mask; threads pinned to some of them and no other CPU stay where
// they are (they were put there on purpose), as do threads already off
// them.
func KeepOff(cpus []int) (Outcome, func()) {
	o := Outcome{Setting: "isolate", Value: "other threads off cpu " + cpuList(cpus), State: Applied}
	var rest unix.CPUSet
	if err := unix.SchedGetaffinity(0, &rest); err != nil {
		o.State, o.Reason = Failed, err.Error()
		return o, func() {}
	}
	for _, c := range cpus {
		rest.Clear(c)
	}
	if rest.Count() == 0 {
		o.State, o.Reason = Skipped, fmt.Sprintf("no CPU left for the other threads (the process may use %d)", runtime.NumCPU())
		return o, func() {}
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		o.State, o.Reason = Failed, err.Error()
		return o, func() {}
	}
	type saved struct {
		tid  int
		mask unix.CPUSet
	}
	var old []saved
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var m unix.CPUSet
		if unix.SchedGetaffinity(tid, &m) != nil {
			continue // ended meanwhile
		}
		if onlyOn(m, cpus) {
			continue // pinned to those CPUs on purpose (a receiver that shares the sender's CPU)
		}
		nm := m
		for _, c := range cpus {
			nm.Clear(c)
		}
		if nm == m {
			continue // already off them (pinned elsewhere)
		}
		if err := unix.SchedSetaffinity(tid, &nm); err != nil {
			if err == unix.ESRCH {
				continue
			}
			o.State, o.Reason = Failed, fmt.Sprintf("thread %d: %v", tid, err)
			break
		}
		old = append(old, saved{tid, m})
	}
	return o, func() {
		seen := map[int]bool{}
		for _, s := range old {
			unix.SchedSetaffinity(s.tid, &s.mask)
			seen[s.tid] = true
		}
		// Threads made meanwhile inherited the narrowed mask: give them
		// the process's back.
		all := startCPUs
		if all.Count() == 0 {
			return
		}
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || seen[tid] {
				continue
			}
			var m unix.CPUSet
			if unix.SchedGetaffinity(tid, &m) == nil && m == rest {
				unix.SchedSetaffinity(tid, &all)
			}
		}
	}
}

// onlyOn reports whether mask holds some of cpus and no other CPU.
func onlyOn(mask unix.CPUSet, cpus []int) bool {
	n := 0
	for _, c := range cpus {
		if mask.IsSet(c) {
			n++
		}
	}
	return n > 0 && n == mask.Count()
}

// startCPUs is the process's CPU affinity when it started, before any
// thread (the main one included) was pinned.
var startCPUs unix.CPUSet

func init() { unix.SchedGetaffinity(0, &startCPUs) }
