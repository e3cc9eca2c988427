// Command stalls measures how often a thread spinning alone on a CPU stops
// running: it pins itself to a CPU, reads the monotonic clock in a tight
// loop for a while and counts the gaps between consecutive readings (see
// package engine/stall). On a dedicated core the gaps are tens of
// nanoseconds; every longer one is time the thread did not run (an
// interrupt, the kernel, or, in a virtual machine, the host). It is the
// floor under any timing labrun measures on that CPU.
//
// With several CPUs it spins on each at once and reports how much of each
// CPU's stall time the others were stalled too: whether the host takes
// the vCPUs together or one at a time.
//
//	go run ./bench/stalls -cpu 1 -for 5s
//	go run ./bench/stalls -cpu 0,1 -for 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/stall"
)

func main() {
	cpus := flag.String("cpu", strconv.Itoa(runtime.NumCPU()-1), "CPU, or comma-separated CPUs, to spin on")
	d := flag.Duration("for", 5*time.Second, "how long to spin")
	thr := flag.Duration("threshold", stall.DefaultThreshold, "shortest gap counted as a stall")
	flag.Parse()
	var list []int
	for _, f := range strings.Split(*cpus, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "stalls: -cpu %q: give CPU numbers separated by commas\n", *cpus)
			os.Exit(2)
		}
		list = append(list, c)
	}
	res := make([]stall.Result, len(list))
	errs := make([]error, len(list))
	done := make(chan int)
	for i, c := range list {
		go func() {
			res[i], errs[i] = stall.Run(context.Background(), stall.Config{CPU: c, Threshold: *thr, Keep: stall.MaxKeep}, *d)
			done <- i
		}()
	}
	for range list {
		<-done
	}
	for i, r := range res {
		if errs[i] != nil {
			fmt.Fprintln(os.Stderr, "stalls:", errs[i])
			os.Exit(2)
		}
		s := r.Summarize()
		fmt.Printf("cpu %d, %.1fs: stalls > %v %.0f/s; p99.9 %.1fus; longest %.1fus; time not running %.2f %%\n",
			r.CPU, s.WallS, *thr, s.PerS, float64(s.P999)/1e3, float64(s.Max)/1e3, s.LostPct)
	}
	for i := range res {
		for j := range res {
			if i == j || res[i].Lost == 0 {
				continue
			}
			var both int64
			for _, st := range res[i].Stalls {
				both += res[j].Stalls.Within(st.From, st.To).Total()
			}
			// Were the two independent, the share would be the time the
			// other CPU lost.
			fmt.Printf("cpu %d's stall time during which cpu %d was stalled too: %.1f %% (%.1f %% if independent)\n",
				res[i].CPU, res[j].CPU, 100*float64(both)/float64(measure.Merge(res[i].Stalls).Total()), res[j].Summarize().LostPct)
		}
	}
}
