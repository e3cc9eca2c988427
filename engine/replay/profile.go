package replay

import (
	"fmt"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/mem"
	"github.com/labrun/labrun/engine/tx"
)

// The send-loop profile (NetVCR Table III). With Config.Profile = N, the
// loop takes clock.Now timestamps on one packet in N only: the gap to the
// next sampled packet is drawn uniformly from 1..2N-1 (mean N, from a fixed
// seed), never a fixed stride, which would fall into step with whatever
// the loop does periodically (a fixed stride of 64 or 128 packets read
// capture records 2.5-3.5 times slower on average than every packet did;
// see docs/netvcr-profile.md). Packet 0, which pays the cold start, is
// never sampled. The timestamps are taken before the source's Next, after it,
// after the wait (the timer's own reading), inside the sink's Send where it
// marks its steps (tx.Marker), after Send and at the end of the iteration.
// The stages between them add up to the profiled iteration exactly; how far
// the sampled iterations stand for all of them shows in loop_mean_us, the
// loop's wall time over every packet, taken without timestamps.
//
// The samples are preallocated and touched before the loop; the loop pays
// one predictable branch per hook for the packets not sampled.

// DefaultProfileEvery is what `profile = True` samples: one packet in 64
// on average.
// A sampled packet takes 6 clock readings more (20-120 ns each, by clock
// source and machine), so the profile costs 2-12 ns per packet on average:
// under 1 % of a loop that makes a system call per packet.
const DefaultProfileEvery = 64

// The profile's stages, in loop order; stLoop is the whole iteration.
const (
	stRead = iota
	stWait
	stPad
	stCsum
	stSend
	stBook
	stLoop
	nStages
)

// profiler times every Nth packet of one sending thread.
type profiler struct {
	every  int
	left   int    // ends of iterations until the next sampled packet
	rng    uint64 // xorshift state for the gaps between samples
	on     bool   // the current packet is sampled
	marker tx.Marker
	m      tx.Marks
	a      int64 // before Next
	b      int64 // after Next
	c      int64 // after the wait
	d      int64 // after Send
	s      [nStages][]int64
	n      int
}

// newProfiler preallocates room for the samples of rows packets.
func newProfiler(every, rows int, sink tx.Sink) *profiler {
	pr := &profiler{every: every, rng: 0x9e3779b97f4a7c15}
	pr.left = pr.gap()
	pr.marker, _ = sink.(tx.Marker)
	n := 2*rows/every + 16 // the gaps are random: room for twice the mean
	for k := range pr.s {
		pr.s[k] = make([]int64, n)
		mem.Touch(pr.s[k]) // fault the pages in now, not in the loop
	}
	return pr
}

// read marks the end of the source's Next.
func (pr *profiler) read() {
	if pr.on {
		pr.b = clock.Now()
	}
}

// send is Send for a sampled packet: the wait ended at now.
func (pr *profiler) send(sink tx.Sink, f []byte, now int64) error {
	pr.c = now
	var err error
	if pr.marker != nil {
		err = pr.marker.SendMarked(f, now, &pr.m)
	} else {
		err = sink.Send(f, now)
		pr.m.Pad, pr.m.Csum = now, now
	}
	pr.d = clock.Now()
	return err
}

// end closes an iteration. Small enough to be inlined: an iteration that
// was not sampled and is not followed by a sampled one costs a decrement.
func (pr *profiler) end() {
	if !pr.on && pr.left > 1 {
		pr.left--
		return
	}
	pr.endSampled()
}

// endSampled stores a sampled packet's stages and decides whether the next
// packet is sampled.
func (pr *profiler) endSampled() {
	if pr.on {
		e := clock.Now()
		if n := pr.n; n < len(pr.s[0]) {
			pr.s[stRead][n] = pr.b - pr.a
			pr.s[stWait][n] = pr.c - pr.b
			pr.s[stPad][n] = pr.m.Pad - pr.c
			pr.s[stCsum][n] = pr.m.Csum - pr.m.Pad
			pr.s[stSend][n] = pr.d - pr.m.Csum
			pr.s[stBook][n] = e - pr.d
			pr.s[stLoop][n] = e - pr.a
			pr.n++
		}
		pr.on = false
	}
	pr.left--
	if pr.left == 0 {
		pr.left, pr.on = pr.gap(), true
		pr.a = clock.Now()
	}
}

// gap draws the number of packets to the next sampled one: uniform on
// 1..2N-1.
func (pr *profiler) gap() int {
	x := pr.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	pr.rng = x
	return 1 + int(x%uint64(2*pr.every-1))
}

// Profile is what the profiler measured, over every sending thread: one
// row per sampled packet in each stage (ns).
type Profile struct {
	Every   int
	Marked  bool // the sink marked its steps: pad and csum are its own
	Read    []int64
	Wait    []int64
	Pad     []int64
	Csum    []int64
	Send    []int64
	Book    []int64
	Loop    []int64
	LoopAll float64 // the loop's wall time per packet, every packet (ns)
}

// mergeProfiles joins the threads' samples.
func mergeProfiles(ths []*thread, cpuWall int64) *Profile {
	var p *Profile
	sent := 0
	for _, th := range ths {
		pr := th.prof
		if pr == nil {
			continue
		}
		if p == nil {
			p = &Profile{Every: pr.every, Marked: true}
		}
		p.Marked = p.Marked && pr.marker != nil
		for k, dst := range []*[]int64{&p.Read, &p.Wait, &p.Pad, &p.Csum, &p.Send, &p.Book, &p.Loop} {
			*dst = append(*dst, pr.s[k][:pr.n]...)
		}
		sent = max(sent, th.n)
	}
	if p != nil && sent > 0 {
		p.LoopAll = float64(cpuWall) / float64(sent)
	}
	return p
}

// addMetrics puts the profile's stages into m (us).
func (p *Profile) addMetrics(m map[string]float64) {
	if p == nil || len(p.Loop) == 0 {
		return
	}
	m[measure.ProfEvery] = float64(p.Every)
	m[measure.ProfSamples] = float64(len(p.Loop))
	for k, vals := range [][]int64{p.Read, p.Wait, p.Pad, p.Csum, p.Send, p.Book, p.Loop} {
		if (k == stPad || k == stCsum) && !p.Marked {
			continue // the sink's frame work is inside send
		}
		st := measure.ProfStages[k]
		s := measure.Summarize(vals)
		m[st.Mean], m[st.P50], m[st.P99] = s.Mean/1e3, float64(s.P50)/1e3, float64(s.P99)/1e3
	}
	m[measure.LoopMeanUS] = p.LoopAll / 1e3
}

// checkProfile refuses a negative sampling interval.
func checkProfile(every int) error {
	if every < 0 {
		return fmt.Errorf("replay: Profile %d: want 0 (off) or N >= 1 (every Nth packet)", every)
	}
	return nil
}

// dropped is end for a packet the late policy dropped: a sampled packet
// that was not sent is not recorded; the next one is sampled instead.
func (pr *profiler) dropped() {
	if pr.on {
		pr.a = clock.Now()
		return
	}
	pr.end()
}
