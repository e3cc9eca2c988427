package replay

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/tx"
)

// batchNull is a batching sink that does a TX ring's user-space part and
// nothing else: it copies each frame into the next of 512 slots and
// "sends" when they are full.
type batchNull struct {
	slots   [512][128]byte
	n       int
	packets int64
}

func (b *batchNull) Send(frame []byte, _ int64) error {
	copy(b.slots[b.n][:], frame)
	b.n++
	if b.n == len(b.slots) {
		b.packets += int64(b.n)
		b.n = 0
	}
	return nil
}
func (b *batchNull) Pending() int { return b.n }
func (b *batchNull) Room() int    { return len(b.slots) - b.n }
func (b *batchNull) Flush() error { b.packets += int64(b.n); b.n = 0; return nil }
func (b *batchNull) Close() error { return nil }
func (b *batchNull) Stats() tx.Stats {
	return tx.Stats{Packets: b.packets}
}

// BenchmarkTopspeedLoop is labrun's own cost per frame at topspeed: the
// replay loop over a synthetic trace into a batching sink that only
// copies, every frame due at once (the sending thread's CPU time per
// frame; the kernel's send work comes on top: engine/tx's benchmarks).
//
//	go test -run '^$' -bench TopspeedLoop -benchtime 20x ./engine/replay/
func BenchmarkTopspeedLoop(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const pkts = 300_000
	src := synth(b, pkts, 0)
	var cpu int64
	b.ReportAllocs()
	for range b.N {
		cfg := Config{Timer: timer.Config{Mode: timer.Busy}}
		src.Rewind()
		sink := &batchNull{}
		th := newThread(cfg, Sender{Source: src, Sink: sink}, 0, 1, pkts)
		tc := cfg.Timer
		tc.Stalls = th.log
		tm, err := timer.New(tc)
		if err != nil {
			b.Fatal(err)
		}
		var stop atomic.Bool
		th.loop(cfg, &stop, clock.Now(), tm)
		tm.Close()
		if th.n != pkts || sink.packets != pkts {
			b.Fatalf("sent %d (sink %d) of %d", th.n, sink.packets, pkts)
		}
		cpu += int64(th.cpu.Exact)
	}
	b.ReportMetric(float64(cpu)/float64(b.N*pkts), "cpu-ns/pkt")
}

// At topspeed, with a batching sink that can say how much room it has,
// the loop reads the clock once per batch, before the Send that hands the
// batch over, and stamps every frame of a batch with that reading. Under
// shift it reads the clock for every frame (its decisions need the
// lateness of each).
func TestTopspeedClockOncePerBatch(t *testing.T) {
	const n, start = 2000, 1_000_000
	for _, late := range []timer.LatePolicy{timer.CatchUp, timer.Shift} {
		cfg := Config{Timer: timer.Config{Mode: timer.Busy, Late: late}}
		sink := &batchNull{}
		th := newThread(cfg, Sender{Source: synth(t, n, 0), Sink: sink}, 0, 1, n)
		// Every wait moves the clock on by 1 us, so each reading is
		// told apart from the others.
		inject := map[int]int64{}
		for k := range n {
			inject[k] = 1000
		}
		ft := &fakeTimer{now: start, inject: inject}
		var stop atomic.Bool
		th.loop(cfg, &stop, start, ft)
		if th.n != n || sink.packets != n {
			t.Fatalf("%v: sent %d, sink %d", late, th.n, sink.packets)
		}
		if late == timer.Shift {
			if ft.waits != n {
				t.Errorf("shift: %d clock readings for %d frames, want one each", ft.waits, n)
			}
			continue
		}
		// One reading for the first frame, one before each full batch
		// leaves: frames 511, 1023, 1535.
		if want := 1 + n/len(sink.slots); ft.waits != want {
			t.Errorf("catch_up: %d clock readings, want %d", ft.waits, want)
		}
		for b := range n / len(sink.slots) {
			want := int64(start + 1000*(b+2)) // the reading of wait b+1 (the first is wait 0)
			for j := b * len(sink.slots); j < (b+1)*len(sink.slots); j++ {
				if th.actual[j] != want {
					t.Fatalf("catch_up: frame %d stamped %d, want its batch's reading %d", j, th.actual[j]-start, want-start)
				}
			}
		}
	}
}

// slowBatch is batchNull whose batch leaves in a "system call" of 200 us.
type slowBatch struct{ batchNull }

func (b *slowBatch) Send(frame []byte, at int64) error {
	err := b.batchNull.Send(frame, at)
	if b.n == 0 { // the batch left
		for t := clock.Now() + 200_000; clock.Now() < t; {
		}
	}
	return err
}

// The system call that hands a batch over is the batch's work, not a send
// stall: 20 batches of 200 us each must not be counted as 20 stalls. (A
// busy machine may add a few real ones; fewer than half is the bound.)
func TestBatchSendIsNotAStall(t *testing.T) {
	const n = 20 * 512
	cfg := Config{Timer: timer.Config{Mode: timer.Busy}}
	sink := &slowBatch{}
	th := newThread(cfg, Sender{Source: synth(t, n, 0), Sink: sink}, 0, 1, n)
	tc := cfg.Timer
	tc.Stalls = th.log
	tm, err := timer.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	var stop atomic.Bool
	th.loop(cfg, &stop, clock.Now(), tm)
	if th.n != n || sink.packets != n {
		t.Fatalf("sent %d (sink %d) of %d", th.n, sink.packets, n)
	}
	if th.log.Send >= 10 {
		t.Errorf("%d send stalls counted for 20 batches of 200 us: the batches' own system calls were counted", th.log.Send)
	}
}
