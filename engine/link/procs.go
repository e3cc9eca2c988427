package link

import (
	"runtime"
	"sync"
)

// A stage thread that returns from a sleep needs a P (the Go scheduler's
// processor) at once; if every P is busy with a spinning goroutine it waits
// for one to be preempted, milliseconds. Each stage therefore brings a
// spare P for as long as it runs. Adjustments are relative, so they nest
// with the replay engine's own.
var procsMu sync.Mutex

func addProcs(n int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)+n, 1))
}
