// Command stalls measures how often a thread spinning alone on a CPU stops
// running: it pins itself to a CPU, reads the monotonic clock in a tight
// loop for a while and counts the gaps between consecutive readings. On a
// dedicated core the gaps are tens of nanoseconds; every longer one is
// time the thread did not run (an interrupt, the kernel, or, in a virtual
// machine, the host). It is the floor under any timing labrun measures on
// that CPU.
//
//	go run ./bench/stalls -cpu 1 -for 5s
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	cpu := flag.Int("cpu", runtime.NumCPU()-1, "CPU to spin on")
	d := flag.Duration("for", 5*time.Second, "how long to spin")
	flag.Parse()
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(*cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fmt.Fprintln(os.Stderr, "stalls: pinning to CPU", *cpu, ":", err)
		os.Exit(2)
	}
	gaps := make([]time.Duration, 0, 1<<20)
	start := time.Now()
	last := start
	for last.Sub(start) < *d {
		now := time.Now()
		if g := now.Sub(last); g > 10*time.Microsecond && len(gaps) < cap(gaps) {
			gaps = append(gaps, g)
		}
		last = now
	}
	wall := last.Sub(start)
	var lost time.Duration
	n30, n100 := 0, 0
	for _, g := range gaps {
		lost += g
		if g > 30*time.Microsecond {
			n30++
		}
		if g > 100*time.Microsecond {
			n100++
		}
	}
	slices.Sort(gaps)
	mx := time.Duration(0)
	if len(gaps) > 0 {
		mx = gaps[len(gaps)-1]
	}
	s := wall.Seconds()
	fmt.Printf("cpu %d, %v: stalls > 10us %.0f/s, > 30us %.0f/s, > 100us %.0f/s; longest %v; time not running %.2f %%\n",
		*cpu, wall.Round(time.Millisecond), float64(len(gaps))/s, float64(n30)/s, float64(n100)/s, mx, 100*lost.Seconds()/s)
}
