package execute

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

// tailDrop is a link with a configured rate and a tail-drop queue: over a
// trial of span seconds, frames offered above the link rate are lost once
// the queue of queue frames is full. Its loss at each offered rate is known
// in closed form.
type tailDrop struct {
	linkBps float64
	queue   float64 // frames
	frame   float64 // bytes on the wire
	span    float64 // seconds
}

func (l tailDrop) lossPct(offeredBps float64) float64 {
	offered := offeredBps * l.span / (8 * l.frame)
	carried := l.linkBps*l.span/(8*l.frame) + l.queue
	if offered <= carried {
		return 0
	}
	return 100 * (offered - carried) / offered
}

func TestSearchFindsTailDropThroughput(t *testing.T) {
	const maxLoss = 0.1
	cases := []struct {
		name     string
		link     tailDrop
		lo, step float64
		n        int
	}{
		{"64B", tailDrop{100e6, 1000, 84, 0.1}, 1e6, 1e6, 200},
		{"512B", tailDrop{100e6, 1000, 532, 0.1}, 1e6, 1e6, 200},
		{"1518B", tailDrop{100e6, 1000, 1538, 0.1}, 1e6, 1e6, 200},
		{"link above range", tailDrop{1e9, 10, 84, 0.1}, 1e6, 1e6, 200},
		{"link below range", tailDrop{1e5, 10, 84, 0.1}, 1e6, 1e6, 200},
		{"one candidate", tailDrop{100e6, 10, 84, 0.1}, 50e6, 1e6, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rate := func(i int) float64 { return c.lo + float64(i)*c.step }
			// The grid's answer: every candidate run.
			want := -1
			for i := range c.n {
				if c.link.lossPct(rate(i)) <= maxLoss {
					want = i
				}
			}
			r, err := runSearch(c.n, true, func(i int) (bool, error) {
				return c.link.lossPct(rate(i)) <= maxLoss, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Found != want {
				t.Fatalf("found candidate %d, the grid's answer is %d", r.Found, want)
			}
			if want >= 0 && (r.Pass != want || r.Fail != want+1 || !r.Confirmed) {
				t.Errorf("bracket pass %d fail %d confirmed %v, want %d %d true", r.Pass, r.Fail, r.Confirmed, want, want+1)
			}
			if max := plan.SearchTrials(c.n, true); len(r.Trials) > max {
				t.Errorf("%d trials, more than the bound %d", len(r.Trials), max)
			}
			if c.n > 2 && len(r.Trials) >= c.n {
				t.Errorf("%d trials, no fewer than the grid's %d runs", len(r.Trials), c.n)
			}
			skipped := searchSkipped(c.n, r)
			distinct := map[int]bool{}
			for _, tr := range r.Trials {
				distinct[tr.Index] = true
			}
			if len(skipped)+len(distinct) != c.n {
				t.Errorf("%d skipped + %d tried != %d candidates", len(skipped), len(distinct), c.n)
			}
		})
	}
}

// The known answer of the 64B case, by hand: 100 Mbit/s for 0.1 s carries
// 14880.95 frames of 84 B, the queue 1000 more; the loss stays at most
// 0.1 % up to 15897 offered frames, 106.83 Mbit/s: candidate 105 (106 Mbit/s).
func TestSearchTailDropByHand(t *testing.T) {
	l := tailDrop{100e6, 1000, 84, 0.1}
	r, err := runSearch(200, true, func(i int) (bool, error) {
		return l.lossPct(1e6+float64(i)*1e6) <= 0.1, nil
	})
	if err != nil || r.Found != 105 {
		t.Fatalf("found %d (%v), want 105 (106 Mbit/s)", r.Found, err)
	}
	// At most ceil(log2(201)) = 8 bisections and the confirmation, against
	// the grid's 200 runs.
	if len(r.Trials) > 9 || r.Trials[len(r.Trials)-1].Index != 105 {
		t.Errorf("trials %v, want at most 9 ending with the confirmation of 105", r.Trials)
	}
}

func TestSearchConfirmationMustPass(t *testing.T) {
	calls := map[int]int{}
	r, err := runSearch(16, true, func(i int) (bool, error) {
		calls[i]++
		return i <= 9 && calls[i] == 1, nil // candidate 9 passes only once
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Found != -1 || r.Confirmed || r.Pass != 9 || r.Reason == "" {
		t.Fatalf("got %+v, want nothing found after a failed confirmation of 9", r)
	}
	r, _ = runSearch(16, false, func(i int) (bool, error) { return i <= 9, nil })
	if r.Found != 9 || len(r.Trials) > plan.SearchTrials(16, false) {
		t.Errorf("without confirm: found %d in %d trials", r.Found, len(r.Trials))
	}
}

func TestSearchTrialErrorEndsIt(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	_, err := runSearch(64, true, func(i int) (bool, error) {
		n++
		if n == 3 {
			return false, boom
		}
		return true, nil
	})
	if !errors.Is(err, boom) || n != 3 {
		t.Fatalf("err %v after %d trials, want boom after 3", err, n)
	}
	if _, err := runSearch(0, true, nil); err == nil {
		t.Error("a search of no candidates was accepted")
	}
}

// searchLink is a 100 Mbit/s link with a tail-drop queue of 100 frames,
// frames offered at a searched rate, composed with an axis of frame sizes.
const searchLink = `
frame = sweep.axis("frame", ["64B", "1518B"])
rate = sweep.search("rate", lo = "10Mbps", hi = "120Mbps", resolution = "1Mbps",
    until = {"metric": "link_queue_drops", "at_most": 5})
experiment(name = "s", seed = 1,
    emulator = link.emulator(bandwidth = "100Mbps", queue = 100),
    workload = link.fidelity(packets = 5000, frame = frame, rate = rate))
`

// The search of each frame size finds the grid's answer (the highest rate
// with at most 0.1 % lost) in fewer runs than the grid, skips the
// candidates it did not need, and says what it found.
func TestExecuteSearchAgainstGrid(t *testing.T) {
	p := mustEval(t, searchLink, nil)
	// The grid: every candidate's run, in process.
	prog := newProgress(io.Discard, ProgressQuiet, len(p.Runs))
	want := map[string]string{}
	for _, r := range p.Runs {
		row, err := runWorkload(context.Background(), r, prog)
		prog.stop()
		if err != nil {
			t.Fatal(err)
		}
		if row.Metrics["link_queue_drops"] <= 5 {
			want[r.Params["frame"]] = r.Params["rate"]
		}
	}
	// Known answer, roughly: 100 Mbit/s x frame / (frame + 24 B).
	if want["64B"] != "74Mbps" || want["1518B"] != "100Mbps" {
		t.Fatalf("grid answers %v, want 64B 74Mbps and 1518B 100Mbps (the queue of 100 frames adds 2 %% over 5000 frames)", want)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, row := range out.Rows {
		if row.Status == "ok" {
			ok++
		}
	}
	if max := 2 * plan.SearchTrials(111, true); ok > max || ok+out.Skipped != len(p.Runs) {
		t.Errorf("%d runs ok and %d skipped of %d: want at most %d ok, the rest skipped", ok, out.Skipped, len(p.Runs), max)
	}
	if ok >= len(p.Runs)/2 {
		t.Errorf("%d runs ok: no fewer than the grid's %d per frame size", ok, len(p.Runs)/2)
	}
	csv, err := os.ReadFile(filepath.Join(out.Dir, "searches.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"rate,frame=64B,74Mbps,74Mbps,75Mbps,", "rate,frame=1518B,100Mbps,100Mbps,101Mbps,"} {
		if !strings.Contains(string(csv), line) {
			t.Errorf("searches.csv lacks %q:\n%s", line, csv)
		}
	}
	runs, err := os.ReadFile(filepath.Join(out.Dir, "manifest.json"))
	if err != nil || strings.Count(string(runs), "not needed by the search") != out.Skipped {
		t.Errorf("manifest: %d runs skipped as not needed, want %d (%v)", strings.Count(string(runs), "not needed by the search"), out.Skipped, err)
	}
}
