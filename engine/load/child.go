package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childIgnoreTerm makes a child ignore SIGTERM (tests of Stop's SIGKILL).
var childIgnoreTerm bool

// parentPoll is how often a child checks that its parent is still there.
const parentPoll = 50 * time.Millisecond

// worker is one kind of load, set up by its constructor; run loops until
// stop is set and returns the achieved rates (Work, Unit, Details).
type worker interface {
	run(stop *atomic.Bool) (Report, error)
	close()
}

// ChildMain is the load child: labrun calls it for "labrun __load KIND
// CONFIG" with args = [KIND, CONFIG] (a leading "__load" is skipped). It
// sets the load up, writes {"ready":true} on stdout, runs until SIGTERM,
// SIGINT, Spec.Duration or its parent's death, then writes its Report as
// one JSON line and returns the exit code. Errors go to stderr as one line.
func ChildMain(args []string) int {
	if len(args) > 0 && args[0] == ChildArg {
		args = args[1:]
	}
	if len(args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: labrun %s KIND CONFIG (started by labrun for background loads)\n", ChildArg)
		return 2
	}
	kind := args[0]
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "load %s: %v\n", kind, err)
		return 1
	}
	var w wire
	dec := json.NewDecoder(strings.NewReader(args[1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fail(fmt.Errorf("bad config: %v", err))
	}
	if w.Spec.Kind != kind {
		return fail(fmt.Errorf("config is for kind %q", w.Spec.Kind))
	}
	if err := w.Spec.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The parent may have died between the fork and the prctl that set
	// Pdeathsig: then the child has already been given to another parent.
	if w.Parent != 0 && os.Getppid() != w.Parent {
		return fail(fmt.Errorf("parent %d is gone", w.Parent))
	}
	s := w.Spec.withDefaults()

	ctx, cancel := context.WithTimeout(context.Background(), s.Duration)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	if childIgnoreTerm {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGHUP)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}
	var stop atomic.Bool
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		stop.Store(true)
	}()
	if w.Parent != 0 {
		go watchParent(w.Parent, &stop)
	}

	if err := applySettings(s); err != nil {
		return fail(err)
	}
	var wk worker
	var err error
	switch s.Kind {
	case KindCPU:
		wk = &cpuWorker{s: s}
	case KindVM:
		wk, err = newVM(s)
	case KindHDD:
		wk, err = newHDD(s)
	case KindUDP:
		wk, err = newUDP(s)
	case KindTimers:
		wk, err = newTimers(s)
	}
	if err != nil {
		return fail(err)
	}
	defer wk.close()
	if _, err := os.Stdout.WriteString("{\"ready\":true}\n"); err != nil {
		return fail(err)
	}
	start := time.Now()
	rep, err := wk.run(&stop)
	rep.Kind, rep.Wall = s.Kind, time.Since(start)
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		rep.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	line, _ := json.Marshal(rep)
	os.Stdout.Write(append(line, '\n'))
	if err != nil {
		return fail(err)
	}
	return 0
}

// watchParent stops the load when the parent changes (it died and the
// child was reparented), and exits if the load does not end soon after.
func watchParent(parent int, stop *atomic.Bool) {
	for range time.Tick(parentPoll) {
		if os.Getppid() != parent {
			stop.Store(true)
			time.Sleep(2 * time.Second)
			fmt.Fprintf(os.Stderr, "load: parent %d is gone\n", parent)
			os.Exit(1)
		}
	}
}

// applySettings applies the CPU affinity, nice and policy of s to every
// thread of the process: on Linux they are per thread, and new threads
// inherit them from the thread that makes them. Threads the Go runtime
// makes meanwhile are caught by listing the threads again until no new one
// appears; workers also apply them to their own locked threads.
func applySettings(s Spec) error {
	if len(s.CPUs) == 0 && s.Nice == 0 && s.Sched == "" {
		return nil
	}
	if len(s.CPUs) > 0 {
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(0, &allowed); err != nil {
			return fmt.Errorf("sched_getaffinity: %v", err)
		}
		var missing []int
		for _, c := range s.CPUs {
			if !allowed.IsSet(c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("cpus %v not available here (allowed: %s)", missing, cpuList(&allowed))
		}
	}
	done := map[int]bool{}
	for range 100 {
		tids, err := threads()
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			fresh++
			done[tid] = true
			if err := applyThread(s, tid); err != nil {
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return errors.New("threads keep appearing while settings are applied")
}

// applyThread applies the settings of s to one thread (0: the caller's).
func applyThread(s Spec, tid int) error {
	ignore := func(err error) bool { return err == nil || err == unix.ESRCH } // thread gone
	if len(s.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range s.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(tid, &set); !ignore(err) {
			return fmt.Errorf("cpus %v: sched_setaffinity: %v", s.CPUs, err)
		}
	}
	hint := ""
	if s.Nice < 0 {
		hint = " (a negative nice needs root or CAP_SYS_NICE)"
	}
	if s.Sched != "" {
		policy := map[string]uint32{"other": unix.SCHED_NORMAL, "batch": unix.SCHED_BATCH, "idle": unix.SCHED_IDLE}[s.Sched]
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy, Nice: int32(s.Nice)}
		if err := unix.SchedSetAttr(tid, &attr, 0); !ignore(err) {
			return fmt.Errorf("sched %s, nice %d: sched_setattr: %v%s", s.Sched, s.Nice, err, hint)
		}
	} else if s.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, s.Nice); !ignore(err) {
			return fmt.Errorf("nice %d: setpriority: %v%s", s.Nice, err, hint)
		}
	}
	return nil
}

// threads lists the thread IDs of this process.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	sort.Ints(tids)
	return tids, nil
}

func cpuList(set *unix.CPUSet) string {
	var s []string
	for c := range MaxCPU + 1 {
		if set.IsSet(c) {
			s = append(s, strconv.Itoa(c))
		}
	}
	return strings.Join(s, ",")
}

// rate is n per second of d.
func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}
