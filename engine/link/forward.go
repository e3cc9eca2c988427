package link

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/tx"
	"golang.org/x/sys/unix"
)

// Direction is one direction of a forwarder: frames received on In pass
// through an emulated link and leave on Out.
type Direction struct {
	Name string // e.g. "forward", "reverse"; used in errors and tables
	Link Config
	// In and Out are interface indexes inside the forwarder's namespace.
	In, Out int
	// SrcMAC and DstMAC replace the Ethernet addresses of forwarded
	// frames: the forwarder is the next hop of both ends, like a router
	// that does not decrement TTL.
	SrcMAC, DstMAC net.HardwareAddr
	// InCPU and OutCPU pin the input and output stages; -1 leaves them
	// unpinned.
	InCPU, OutCPU int
	// Record is how many release errors to keep (see PipeConfig.Record).
	Record int
	// Stages is 1 (the default) to run input and output on one thread
	// (PipeConfig.Poll), 2 for TLEM's two threads.
	Stages int
	// Timer is the output stage's wait (PipeConfig.Timer).
	Timer timer.Mode
	// Batch is the pipeline's batch size (0: DefaultBatch).
	Batch int
	// Buffer is the ring's size (0: BufferFor(Link)).
	Buffer int64
}

// ForwardStats is what one direction did.
type ForwardStats struct {
	Name string
	Pipe PipeStats
	// Received counts frames read from the input interface; Ignored those
	// not forwarded (not IPv4, or broadcast/multicast such as ARP, which
	// the forwarder's own stack answers).
	Received, Ignored uint64
	// KernelDrops counts frames the kernel dropped because the receive
	// ring was full.
	KernelDrops uint64
	// Tx is the output socket's counters.
	Tx tx.Stats
	// InputLag is, for the first Direction.Record frames, how long after
	// its kernel receive time the forwarder read each frame (ns). A frame
	// read later than its delay cannot leave on time.
	InputLag []int64
}

// Forwarder runs the emulated link between two interfaces of one
// namespace, one pipeline per direction.
type Forwarder struct {
	dirs  []*fwdDir
	stop  atomic.Bool
	wg    sync.WaitGroup
	drain time.Duration
}

type fwdDir struct {
	cfg      Direction
	rx       *rxRing
	out      *txOut
	pipe     *Pipe
	st       ForwardStats
	err      error
	src, dst [6]byte
	offset   int64 // CLOCK_REALTIME - CLOCK_MONOTONIC
	fresh    bool  // recompute offset at the next frame
	lag      []int64
}

// txOut sends released frames on an AF_PACKET TX ring, in batches when
// several are due at once.
type txOut struct{ p *tx.Packet }

func (o *txOut) Release(f []byte, _, now int64) error { return o.p.Send(f, now) }
func (o *txOut) Flush() error {
	if o.p.Pending() == 0 {
		return nil
	}
	return o.p.Flush()
}

// rxFrames is the receive ring's size in frames.
const rxFrames = 8192

// StartForwarder opens the sockets of every direction inside the
// namespace that enter runs functions in (topo.Host.Do), then starts the
// stages. Stop ends them.
func StartForwarder(enter func(func() error) error, dirs []Direction, drain time.Duration) (*Forwarder, error) {
	if len(dirs) == 0 {
		return nil, errors.New("forwarder: no direction")
	}
	f := &Forwarder{drain: drain}
	closeAll := func() {
		for _, d := range f.dirs {
			d.closeSockets()
		}
	}
	for _, dc := range dirs {
		if len(dc.SrcMAC) != 6 || len(dc.DstMAC) != 6 {
			closeAll()
			return nil, fmt.Errorf("forwarder %s: source and destination MACs must be 6 bytes", dc.Name)
		}
		lc := dc.Link
		d := &fwdDir{cfg: dc, st: ForwardStats{Name: dc.Name}, fresh: true, lag: make([]int64, 0, dc.Record)}
		copy(d.src[:], dc.SrcMAC)
		copy(d.dst[:], dc.DstMAC)
		pc := PipeConfig{Link: &lc, Buffer: dc.Buffer, Batch: dc.Batch, CPU: dc.OutCPU, Record: dc.Record, Timer: dc.Timer}
		switch dc.Stages {
		case 0, 1:
			pc.Poll = d.poll
		case 2:
		default:
			closeAll()
			return nil, fmt.Errorf("forwarder %s: stages %d: accepted 1 (one thread) or 2 (input and output threads)", dc.Name, dc.Stages)
		}
		pipe, err := NewPipe(pc, &lazyOut{d: d})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("forwarder %s: %w", dc.Name, err)
		}
		d.pipe = pipe
		err = enter(func() error {
			rx, err := openRxRing(dc.In, rxFrames)
			if err != nil {
				return fmt.Errorf("receiving on interface %d: %w", dc.In, err)
			}
			d.rx = rx
			batch := dc.Batch
			if batch == 0 {
				batch = DefaultBatch
			}
			p, err := tx.NewPacket(tx.PacketConfig{Ifindex: dc.Out, Mode: tx.PacketRing, Batch: batch, QdiscBypass: true})
			if err != nil {
				return fmt.Errorf("sending on interface %d: %w", dc.Out, err)
			}
			d.out = &txOut{p: p}
			return nil
		})
		f.dirs = append(f.dirs, d)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("forwarder %s: %w", dc.Name, err)
		}
	}
	for _, d := range f.dirs {
		if err := d.pipe.Start(); err != nil {
			f.Stop()
			return nil, fmt.Errorf("forwarder %s: %w", d.cfg.Name, err)
		}
		if d.pipe.cfg.Poll != nil {
			continue
		}
		ready := make(chan error, 1)
		f.wg.Add(1)
		addProcs(1)
		go func() {
			defer addProcs(-1)
			defer f.wg.Done()
			d.input(&f.stop, ready, f.drain)
		}()
		if err := <-ready; err != nil {
			f.Stop()
			return nil, fmt.Errorf("forwarder %s: %w", d.cfg.Name, err)
		}
	}
	return f, nil
}

// lazyOut forwards to the direction's socket, opened after the pipe.
type lazyOut struct{ d *fwdDir }

func (o *lazyOut) Release(f []byte, due, now int64) error { return o.d.out.Release(f, due, now) }
func (o *lazyOut) Flush() error                           { return o.d.out.Flush() }

// Stop ends the input stages, lets the pipes drain (bounded by the drain
// given to StartForwarder), closes the sockets and returns each
// direction's counters.
func (f *Forwarder) Stop() ([]ForwardStats, error) {
	f.stop.Store(true)
	for _, d := range f.dirs {
		if d.rx != nil {
			d.rx.interrupt()
		}
	}
	f.wg.Wait()
	for _, d := range f.dirs {
		if d.pipe.cfg.Poll != nil && d.pipe.started {
			if err := d.pipe.Close(f.drain); err != nil {
				d.err = err
			}
		}
	}
	var errs []error
	out := make([]ForwardStats, 0, len(f.dirs))
	for _, d := range f.dirs {
		if !d.pipe.started {
			d.pipe.closedPut = true
		}
		if d.err != nil {
			errs = append(errs, fmt.Errorf("forwarder %s: %w", d.cfg.Name, d.err))
		}
		if d.out != nil {
			d.st.Tx = d.out.p.Stats()
		}
		if d.rx != nil {
			_, d.st.KernelDrops = d.rx.stats()
		}
		if err := d.closeSockets(); err != nil {
			errs = append(errs, fmt.Errorf("forwarder %s: %w", d.cfg.Name, err))
		}
		d.st.Pipe = d.pipe.Stats()
		d.st.InputLag = d.lag
		out = append(out, d.st)
	}
	f.dirs = nil
	return out, errors.Join(errs...)
}

func (d *fwdDir) closeSockets() error {
	var errs []error
	if d.rx != nil {
		errs = append(errs, d.rx.close())
		d.rx = nil
	}
	if d.out != nil {
		errs = append(errs, d.out.p.Close())
	}
	return errors.Join(errs...)
}

// input is the input stage of one direction: it reads frames from the
// receive ring, stamps each with its kernel receive time (turned into the
// monotonic clock), rewrites its Ethernet addresses and puts it into the
// pipe. Using the kernel's time means a frame the stage reads late still
// gets the release time it would have had; only a stage later than the
// delay itself shows up as release error.
func (d *fwdDir) input(stop *atomic.Bool, ready chan<- error, drain time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if d.cfg.InCPU >= 0 {
		if err := pinThread(d.cfg.InCPU); err != nil {
			ready <- fmt.Errorf("pinning the input stage: %w", err)
			d.pipe.Close(drain)
			return
		}
	}
	// Sleeps between looks at the ring end on time (the default timer
	// slack would add 50 us to each).
	if old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err == nil {
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	}
	ready <- nil
	rx, pipe := d.rx, d.pipe
	// Frames may be read up to this long after they arrived without any
	// effect on their release: sleep in steps of a quarter of it.
	minDelay := delayMin(d.cfg.Link.Delay)
	step := minDelay / 4
	if step > int64(250*time.Microsecond) {
		step = int64(250 * time.Microsecond)
	}
	for !stop.Load() {
		if !rx.ready() {
			pipe.Publish()
			d.fresh = true
			if step >= int64(20*time.Microsecond) {
				timer.SleepUntil(clock.Now() + step)
			} else {
				rx.wait(int64(idleBlock))
			}
			continue
		}
		d.take()
	}
	if err := pipe.Close(drain); err != nil {
		d.err = err
	}
}

// poll is the input side when both stages share the output stage's
// thread (PipeConfig.Poll): it puts every frame that has arrived, waiting
// up to block ns for the first.
func (d *fwdDir) poll(block int64) int {
	rx := d.rx
	if !rx.ready() {
		d.fresh = true
		if block <= 0 {
			return 0
		}
		rx.wait(block)
		if !rx.ready() {
			return 0
		}
	}
	n := 0
	for n < 1024 && rx.ready() {
		d.take()
		n++
	}
	return n
}

// take forwards the frame in the receive ring's next slot: it stamps it
// with its kernel receive time (turned into the monotonic clock),
// rewrites its Ethernet addresses and puts it into the pipe.
func (d *fwdDir) take() {
	rx := d.rx
	if d.fresh || d.st.Received&4095 == 0 {
		d.offset = time.Now().UnixNano() - clock.Now()
		d.fresh = false
	}
	f, real, pkttype := rx.frame()
	d.st.Received++
	if (pkttype != unix.PACKET_HOST && pkttype != unix.PACKET_OTHERHOST) || len(f) < 14 || f[12] != 0x08 || f[13] != 0x00 {
		d.st.Ignored++
		rx.done()
		return
	}
	copy(f[0:6], d.dst[:])
	copy(f[6:12], d.src[:])
	at := real - d.offset
	now := clock.Now()
	if at > now {
		at = now
	}
	if len(d.lag) < cap(d.lag) {
		d.lag = append(d.lag, now-at)
	}
	d.pipe.PutSeen(f, at, now)
	rx.done()
}
