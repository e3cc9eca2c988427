package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/tx"
)

// The helper process of TestInjectedStall: it replays with a busy timer,
// says when its timed loop is running, and prints its result as JSON.
const (
	helperEnv      = "LABRUN_STALLTX_HELPER" // the late policy; set only in the helper
	helperPackets  = 10_000
	helperInterval = 100 * time.Microsecond
	helperDrop     = time.Millisecond // drop_after of late = "drop"
)

type helperOut struct {
	Sched, Actual, Stall, Due []int64
	Stalls                    measure.Stalls
	Metrics                   map[string]float64
	Start, Dropped, Shift     int64
}

func TestInjectedStallHelper(t *testing.T) {
	policy := os.Getenv(helperEnv)
	if policy == "" {
		t.Skip("the helper process of TestInjectedStall")
	}
	late, err := timer.ParseLate(policy)
	if err != nil {
		t.Fatal(err)
	}
	tc := timer.Config{Mode: timer.Busy, Late: late}
	if late == timer.Drop {
		tc.DropAfter = helperDrop
	}
	var prog atomic.Int64
	go func() {
		for prog.Load() < 512 {
			time.Sleep(time.Millisecond)
		}
		fmt.Println("RUNNING")
	}()
	res, err := Run(context.Background(), Config{Source: synth(t, helperPackets, helperInterval), Timer: tc, Sink: &tx.Null{}, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(helperOut{res.Sched, res.Actual, res.Stall, res.Due, res.Stalls, res.Metrics(), res.Start, res.LateDropped, res.Shift})
	fmt.Printf("RESULT %s\n", b)
}

// stopFor stops the process pid once its loop runs, keeps it stopped for
// d and continues it. It returns the window in which the process was
// surely stopped: from the moment /proc showed it stopped to just before
// SIGCONT, on the clock.Now scale.
func stopFor(t *testing.T, pid int, d time.Duration) (from, to int64) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if procState(pid) == "T" {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGCONT)
			t.Fatal("the helper did not stop within 10 s")
		}
		time.Sleep(50 * time.Microsecond)
	}
	from = clock.Now()
	time.Sleep(d) // the injected stall itself
	to = clock.Now()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	return from, to
}

// procState is the state letter of a process (/proc/pid/stat, field 3).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+3 <= len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// runStopped runs the helper with a late policy, stops it for 30 ms while
// its loop runs and returns its output and the window it was stopped in.
func runStopped(t *testing.T, policy string) (helperOut, measure.Stall) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInjectedStallHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+policy)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	defer func() {
		if !done { // end the helper we started, and only it
			syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var win measure.Stall
	var res helperOut
	for got := false; !got; {
		select {
		case l, ok := <-lines:
			switch {
			case !ok:
				t.Fatal("the helper ended without a result")
			case l == "RUNNING":
				win.From, win.To = stopFor(t, cmd.Process.Pid, 30*time.Millisecond)
			case strings.HasPrefix(l, "RESULT "):
				if err := json.Unmarshal([]byte(l[7:]), &res); err != nil {
					t.Fatal(err)
				}
				got = true
			}
		case <-time.After(5 * time.Minute):
			t.Fatal("no result from the helper within 5 minutes")
		}
	}
	for range lines {
	}
	done = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if win.To == 0 {
		t.Fatal("the helper never said its loop was running")
	}
	return res, win
}

// The test stops the replaying process for 30 ms: the sender finds a
// stall covering the whole stop, attributes it to the packets due during
// it, and each late policy does what it says afterwards.
func TestInjectedStall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three 1 s replays in a helper process")
	}
	for _, policy := range []string{"catch_up", "shift", "drop"} {
		t.Run(policy, func(t *testing.T) {
			r, win := runStopped(t, policy)
			n := len(r.Sched)
			if n == 0 || len(r.Stall) != n || len(r.Actual) != n {
				t.Fatalf("rows: sched %d actual %d stall %d", n, len(r.Actual), len(r.Stall))
			}
			// The stall found covers the window the process was surely
			// stopped in.
			var st measure.Stall
			for _, s := range r.Stalls {
				if s.From <= win.From && s.To >= win.To {
					st = s
				}
			}
			if st.To == 0 {
				t.Fatalf("no stall covers the stop [%d, %d]; stalls overlapping it: %v", win.From, win.To, r.Stalls.Within(win.From, win.To))
			}
			if r.Metrics[measure.StallMaxUS] < float64(win.Len())/1e3 || r.Metrics[measure.PktsStalled] < 1 {
				t.Errorf("stall_max_us %v below the stop's %v us, pkts_stalled %v", r.Metrics[measure.StallMaxUS], win.Len()/1000, r.Metrics[measure.PktsStalled])
			}
			due := r.Sched
			if r.Due != nil {
				due = r.Due
			}
			// The first packet sent after the stall began was due during
			// it and carries the part of the stall between its due time
			// and its send. (The stall found may be the stop joined with
			// a stall of the sending thread right after it.)
			k := 0
			for k < n && r.Actual[k] <= st.From {
				k++
			}
			if k == n || k == 0 {
				t.Fatalf("no packet on both sides of the stall (first after it: %d of %d)", k, n)
			}
			if want := min(r.Actual[k], st.To) - max(st.From, due[k]); want <= 0 || r.Stall[k] < want {
				for i := max(k-2, 0); i < min(k+3, n); i++ {
					t.Logf("packet %d: due %d actual %d stall %d (from the stall's start)", i, due[i]-st.From, r.Actual[i]-st.From, r.Stall[i])
				}
				t.Errorf("first packet after the stall [%d, %d] carries %d ns, want %d", st.From, st.To, r.Stall[k], want)
			}
			// Every packet due during the stall and sent after it is
			// attributed to it; none sent before it is.
			for i := range n {
				switch {
				case due[i] >= st.From && due[i] < st.To && r.Actual[i] >= st.To && r.Stall[i] == 0:
					t.Errorf("packet %d due in the stall, sent after it, not attributed", i)
				case r.Actual[i] < st.From && r.Stall[i] != 0 && !measure.Stalls(r.Stalls).Overlaps(due[i], r.Actual[i]):
					t.Errorf("packet %d carries %d ns of stall no stall explains", i, r.Stall[i])
				}
			}
			t.Logf("stopped %.1f ms; stall found %.1f ms; first packet after it carries %.1f ms; pkts_stalled %v, err_p99 %v us, err_clean_p99 %v us, shift %v us, dropped %d",
				float64(win.Len())/1e6, float64(st.Len())/1e6, float64(r.Stall[k])/1e6, r.Metrics[measure.PktsStalled],
				r.Metrics[measure.ErrP99US], r.Metrics[measure.ErrCleanP99US], r.Metrics[measure.ShiftUS], r.Dropped)
			switch policy {
			case "catch_up":
				// The packets due during the stall go back to back.
				burst := 0
				for i := k; i < n && r.Actual[i] < st.To+int64(time.Millisecond); i++ {
					burst++
				}
				if want := int(win.Len() / int64(helperInterval)); burst < want {
					t.Errorf("catch_up: %d packets in the ms after the stall, want the %d due during the stop", burst, want)
				}
			case "shift":
				checkShift(t, r, k, st, win)
			case "drop":
				checkDrop(t, r, st)
			}
		})
	}
}

// checkShift: after a packet more than 10 us late, every later due time
// moved by its lateness, so the packets after the stall keep their gaps.
func checkShift(t *testing.T, r helperOut, k int, st, win measure.Stall) {
	t.Helper()
	for i := 1; i < len(r.Sched); i++ {
		want := r.Due[i-1] + r.Sched[i] - r.Sched[i-1]
		if late := r.Actual[i-1] - r.Due[i-1]; late > measure.StallThreshold {
			want += late
		}
		if r.Due[i] != want {
			t.Fatalf("packet %d due %d, want %d (the shift rule)", i, r.Due[i], want)
		}
	}
	if r.Shift < win.Len() || r.Metrics[measure.ShiftUS] != float64(r.Shift)/1e3 {
		t.Errorf("shift %d ns, less than the %d ns stop (metric %v)", r.Shift, win.Len(), r.Metrics[measure.ShiftUS])
	}
	// No catch-up burst: the packet after the first one past the stall
	// is due a whole gap after that one's send.
	if k+1 < len(r.Sched) && r.Due[k+1]-r.Actual[k] < r.Sched[k+1]-r.Sched[k]-measure.StallThreshold {
		t.Errorf("packet %d due %d ns after packet %d left; the gap is %d", k+1, r.Due[k+1]-r.Actual[k], k, r.Sched[k+1]-r.Sched[k])
	}
}

// checkDrop: no packet left more than drop_after late, the packets left
// out are counted, and each was due while the sender was stalled.
func checkDrop(t *testing.T, r helperOut, st measure.Stall) {
	t.Helper()
	sent := map[int64]bool{}
	for i := range r.Sched {
		sent[r.Sched[i]] = true
		if late := r.Actual[i] - r.Sched[i]; late > int64(helperDrop) {
			t.Errorf("packet due %d sent %d ns late, past drop_after", r.Sched[i], late)
		}
	}
	missing := 0
	inStop := 0
	for i := range int64(helperPackets) {
		if d := r.Start + i*int64(helperInterval); !sent[d] {
			missing++
			if d >= st.From && d <= st.To {
				inStop++
			}
		}
	}
	if int64(missing) != r.Dropped || r.Metrics[measure.LateDropped] != float64(r.Dropped) || len(r.Sched)+missing != helperPackets {
		t.Errorf("missing %d, dropped %d (metric %v), sent %d of %d", missing, r.Dropped, r.Metrics[measure.LateDropped], len(r.Sched), helperPackets)
	}
	// The stop drops the packets due in it but its last drop_after.
	if want := int((st.Len() - int64(helperDrop)) / int64(helperInterval)); inStop < want {
		t.Errorf("%d packets due during the stall were dropped, want at least %d", inStop, want)
	}
}
