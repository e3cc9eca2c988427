package rx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/trace"
)

func TestConfigFill(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
		snap    int
		ring    int
	}{
		{"defaults", Config{Ifindex: 1, Expect: 1000, CPU: -1}, "", 128, 8 << 20},
		{"capture keeps whole frames", Config{Ifindex: 1, Expect: 1000, CPU: -1, Capture: "x"}, "", 65535, 8 << 20},
		{"capture with a snap length", Config{Ifindex: 1, CPU: -1, Capture: "x", SnapLen: 100}, "", 100, 8 << 20},
		{"ring sized from expect", Config{Ifindex: 1, Expect: 1_000_000, CPU: -1}, "", 128, 128_000_000},
		{"ring clamped", Config{Ifindex: 1, Expect: MaxExpect, CPU: -1}, "", 128, 512 << 20},
		{"explicit ring", Config{Ifindex: 1, CPU: -1, RingBytes: 3 << 20}, "", 128, 3 << 20},
		{"no interface", Config{CPU: -1}, "interface index 0", 0, 0},
		{"negative expect", Config{Ifindex: 1, Expect: -1, CPU: -1}, "out of range", 0, 0},
		{"too many expected", Config{Ifindex: 1, Expect: MaxExpect + 1, CPU: -1}, "out of range", 0, 0},
		{"snap too short for the sequence", Config{Ifindex: 1, SnapLen: 53, CPU: -1}, "snap length 53", 0, 0},
		{"snap too long", Config{Ifindex: 1, SnapLen: 70000, CPU: -1}, "snap length 70000", 0, 0},
		{"ring too small", Config{Ifindex: 1, RingBytes: 4096, CPU: -1}, "ring of 4096", 0, 0},
		{"bad CPU", Config{Ifindex: 1, CPU: -2}, "CPU -2", 0, 0},
		{"CPU not allowed", Config{Ifindex: 1, CPU: 100_000}, "not among", 0, 0},
		{"fanout and capture", Config{Ifindex: 1, CPU: -1, Fanout: true, Capture: "x"}, "not with a capture", 0, 0},
		{"fanout and hardware", Config{Ifindex: 1, CPU: -1, Fanout: true, Hardware: true}, "not with a capture, a tap or hardware", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			err := cfg.fill()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SnapLen != c.snap || cfg.RingBytes != c.ring {
				t.Errorf("snap %d ring %d, want %d and %d", cfg.SnapLen, cfg.RingBytes, c.snap, c.ring)
			}
		})
	}
}

func TestGeometry(t *testing.T) {
	cases := []struct {
		ring, snap, block, nblk int
	}{
		{8 << 20, 128, 64 << 10, 128},
		{8 << 20, 65535, 256 << 10, 32},
		{3<<20 + 1, 128, 64 << 10, 49}, // rounded up to whole blocks
		{1 << 20, 65535, 256 << 10, 4},
		{100, 128, 64 << 10, 2}, // at least two blocks
	}
	for _, c := range cases {
		block, nblk := geometry(c.ring, c.snap)
		if block != c.block || nblk != c.nblk {
			t.Errorf("geometry(%d, %d) = %d x %d, want %d x %d", c.ring, c.snap, block, nblk, c.block, c.nblk)
		}
		if slot := (macOff + c.snap + 15) &^ 15; block < bdHdrLen+slot {
			t.Errorf("geometry(%d, %d): a block of %d B cannot hold a %d B slot", c.ring, c.snap, block, slot)
		}
	}
}

func TestSampleOffset(t *testing.T) {
	s := sampleOffset()
	// A reading of our own, bracketed: the true offset lies within
	// [rt - m1, rt - m0], and the sample's within its own bracket of it
	// (however long a preemption made either bracket).
	m0 := clock.Now()
	rt := time.Now().UnixNano()
	m1 := clock.Now()
	if s.bracket < 0 || s.offset < rt-m1-s.bracket || s.offset > rt-m0+s.bracket {
		t.Fatalf("offset %d (bracket %d ns) outside a reading's bracket [%d, %d]", s.offset, s.bracket, rt-m1, rt-m0)
	}
}

func TestCorrectDrift(t *testing.T) {
	a := offsetSample{mono: 1000, offset: 50}
	b := offsetSample{mono: 11000, offset: 150} // +100 ns over 10 us
	res := &Result{Arrival: []int64{1000, 0, 6000, 11000}, FirstAny: 1000, LastAny: 11000}
	correctDrift(res, a, b)
	want := []int64{1000, 0, 5950, 10900}
	if !slices.Equal(res.Arrival, want) || res.FirstAny != 1000 || res.LastAny != 10900 {
		t.Fatalf("corrected %v first %d last %d, want %v, 1000, 10900", res.Arrival, res.FirstAny, res.LastAny, want)
	}
	res = &Result{Arrival: []int64{7}}
	correctDrift(res, a, a)
	if res.Arrival[0] != 7 {
		t.Fatalf("no drift changed an arrival to %d", res.Arrival[0])
	}
}

// vethNS runs fn on a thread inside a new network namespace that holds a
// veth pair rxa <-> rxb, both up and with IPv6 off, so that nothing but the
// test's frames crosses it. The thread is never unlocked: it is discarded
// with its goroutine. Sockets fn opens keep the namespace alive; it goes
// away with them when the test's cleanups close them.
func vethNS(t *testing.T, fn func(a, b int) error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace, a veth pair and AF_PACKET sockets")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare CLONE_NEWNET: %w", err)
			}
			for _, c := range []string{"all", "default"} {
				p := "/proc/sys/net/ipv6/conf/" + c + "/disable_ipv6"
				if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			for _, args := range [][]string{
				{"link", "add", "name", "rxa", "type", "veth", "peer", "name", "rxb"},
				{"link", "set", "dev", "rxa", "up"},
				{"link", "set", "dev", "rxb", "up"},
			} {
				if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
				}
			}
			for _, dev := range []string{"rxa", "rxb"} {
				if err := waitUp(dev); err != nil {
					return err
				}
			}
			a, err := net.InterfaceByName("rxa")
			if err != nil {
				return err
			}
			b, err := net.InterfaceByName("rxb")
			if err != nil {
				return err
			}
			return fn(a.Index, b.Index)
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// waitUp polls, with a bound, until dev (in the calling thread's
// namespace) is operationally up with its real qdisc. Until the kernel's
// link watcher has run, which on a busy machine can take long, a device
// that has just got its carrier keeps the placeholder noop qdisc, which
// drops every frame while telling the sender it went.
func waitUp(dev string) error {
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	for {
		out, err := exec.Command("ip", "-o", "link", "show", "dev", dev).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip link show dev %s: %v: %s", dev, err, out)
		}
		if s := string(out); strings.Contains(s, "state UP") && !strings.Contains(s, "qdisc noop") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up with its qdisc after %v: %s", dev, bound, out)
		}
		time.Sleep(time.Millisecond)
	}
}

// sender writes whole Ethernet frames to one interface.
type sender struct{ fd int }

// openSender opens a send-only AF_PACKET socket on ifindex (protocol 0:
// it receives nothing) and closes it when the test ends.
func openSender(t *testing.T, ifindex int) (*sender, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return nil, err
	}
	return &sender{fd: fd}, nil
}

// send writes f, retrying a bounded number of times while the kernel has
// no buffer for it.
func (s *sender) send(f []byte) error {
	for range 10_000 {
		_, err := unix.Write(s.fd, f)
		if err != unix.ENOBUFS && err != unix.EAGAIN {
			return err
		}
		runtime.Gosched()
	}
	return errors.New("send: no buffer space after 10000 tries")
}

// setup opens a receiver on rxb with cfg (Ifindex filled in) and a sender
// on rxa, both closed when the test ends.
func setup(t *testing.T, cfg Config) (*Receiver, *sender) {
	t.Helper()
	var r *Receiver
	var s *sender
	vethNS(t, func(a, b int) error {
		cfg.Ifindex = b
		var err error
		if r, err = Open(cfg); err != nil {
			return err
		}
		t.Cleanup(func() { r.Close() })
		s, err = openSender(t, a)
		return err
	})
	return r, s
}

// sendSynthetic sends n marked frames 0..n-1 and returns each one's send
// time, read just before its write.
func sendSynthetic(t *testing.T, s *sender, n int) []int64 {
	t.Helper()
	src, err := trace.NewSynthetic(n, 1000, 64, trace.DefaultEndpoints())
	if err != nil {
		t.Fatal(err)
	}
	actual := make([]int64, n)
	var p trace.Packet
	for src.Next(&p) {
		actual[p.Seq] = clock.Now()
		if err := s.send(p.Frame); err != nil {
			t.Fatalf("sending frame %d: %v", p.Seq, err)
		}
	}
	return actual
}

// waitFor polls cond every millisecond until it holds or bound passes.
func waitFor(bound time.Duration, cond func() bool) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(bound)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}

const frames = 20000

// Stop's quiet period and bound where a test expects every frame: Stop
// returns as soon as all are counted, so these only bound a failure. On a
// machine shared with other work a block can reach the drain loop long
// after its frames arrived.
const (
	stopQuiet = 30 * time.Second
	stopBound = 60 * time.Second
)

// checkStream asserts a run of frames 0..frames-1 arrived complete, once,
// in order and at increasing times between from and to.
func checkStream(t *testing.T, res *Result, from, to int64) {
	t.Helper()
	m := Analyze(make([]int64, frames), res)
	if res.Received != frames || res.Dup != 0 || res.Reordered != 0 || m.Lost != 0 || res.OutOfRange != 0 {
		t.Fatalf("received %d dup %d reordered %d lost %d out of range %d; want %d, 0, 0, 0, 0",
			res.Received, res.Dup, res.Reordered, m.Lost, res.OutOfRange, frames)
	}
	if res.KernelDrops != 0 && res.Received+res.KernelDrops != frames {
		t.Fatalf("kernel dropped %d frames and %d arrived: %d unaccounted", res.KernelDrops, res.Received, frames-res.Received-res.KernelDrops)
	}
	if res.Unmarked != 0 || res.Total != frames || res.Malformed != 0 {
		t.Errorf("unmarked %d total %d malformed %d; want 0, %d, 0", res.Unmarked, res.Total, res.Malformed, frames)
	}
	if res.KernelPackets < frames {
		t.Errorf("kernel counted %d packets, fewer than the %d that arrived", res.KernelPackets, frames)
	}
	ties := 0
	for i, a := range res.Arrival {
		if a < from || a > to {
			t.Fatalf("arrival %d at %d, outside the run [%d, %d]: the realtime conversion is off", i, a, from, to)
		}
		if i > 0 && a < res.Arrival[i-1] {
			t.Fatalf("arrival %d at %d before arrival %d at %d", i, a, i-1, res.Arrival[i-1])
		}
		if i > 0 && a == res.Arrival[i-1] {
			ties++
		}
	}
	if ties > frames/100 {
		t.Errorf("%d consecutive arrivals share a timestamp: stamps are not ns", ties)
	}
	if res.FirstAny != res.Arrival[0] || res.LastAny != res.Arrival[frames-1] {
		t.Errorf("first/last any %d/%d, want the first and last arrival %d/%d", res.FirstAny, res.LastAny, res.Arrival[0], res.Arrival[frames-1])
	}
}

func TestReceiveSequence(t *testing.T) {
	r, s := setup(t, Config{Expect: frames, CPU: -1})
	r.Start()
	from := clock.Now()
	actual := sendSynthetic(t, s, frames)
	if !waitFor(stopBound, func() bool { m, _ := r.Counts(); return m == frames }) {
		m, tot := r.Counts()
		res, _ := r.Stop(frames, 0, 0)
		t.Fatalf("Counts stopped at %d marked of %d frames (kernel packets %d, drops %d)", m, tot, res.KernelPackets, res.KernelDrops)
	}
	res, err := r.Stop(frames, stopQuiet, stopBound)
	to := clock.Now()
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != StopComplete {
		t.Errorf("stopped: %s, want %s", res.Stopped, StopComplete)
	}
	checkStream(t, res, from, to)
	p50, p99, mx := Latency(actual, res)
	t.Logf("send-to-stamp latency p50 %d ns p99 %d ns max %d ns; clock offset uncertainty %d ns, drift %d ns; kernel packets %d drops %d",
		p50, p99, mx, res.ClockUncertainty, res.ClockDrift, res.KernelPackets, res.KernelDrops)
	// Each frame is stamped inside its write, after the send time read
	// before it; only the offset's own error can make that negative.
	if slack := res.ClockUncertainty + max(res.ClockDrift, -res.ClockDrift); p50 < -slack {
		t.Errorf("median latency %d ns: arrivals stamped before their send (offset slack %d ns)", p50, slack)
	}
	if res.EarlyStamped == 0 {
		t.Errorf("no frame was stamped before the packet hook: SO_TIMESTAMPNS did not take effect")
	}
	m := Analyze(make([]int64, frames), res)
	if m.PPS <= 0 || m.Pairs != frames-1 {
		t.Errorf("rate %v pairs %d", m.PPS, m.Pairs)
	}
}

func TestReceiveCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rx.pcapng")
	r, s := setup(t, Config{Expect: frames, CPU: -1, Capture: path})
	r.Start()
	from := clock.Now()
	sendSynthetic(t, s, frames)
	res, err := r.Stop(frames, stopQuiet, stopBound)
	to := clock.Now()
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, res, from, to)
	if res.Captured != frames {
		t.Errorf("captured %d frames, want %d", res.Captured, frames)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if intf, err := rd.Interface(0); err != nil || intf.TimestampResolution != 9 {
		t.Fatalf("interface 0: %+v, %v; want if_tsresol 9 (ns)", intf, err)
	}
	slack := max(res.ClockDrift, -res.ClockDrift) + 1
	subUS := 0
	n := 0
	for ; ; n++ {
		data, ci, err := rd.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		seq, ok := trace.SeqOf(data)
		if !ok || seq != uint64(n) || len(data) != 60 || ci.Length != 60 {
			t.Fatalf("packet %d: seq %d (marked %v), %d of %d bytes; want seq %d, 60 of 60", n, seq, ok, len(data), ci.Length, n)
		}
		ts := ci.Timestamp.UnixNano()
		if d := ts - res.ClockOffset - res.Arrival[seq]; d < -slack || d > slack {
			t.Fatalf("packet %d stamped %d, %d ns from its arrival on the realtime scale", n, ts, d)
		}
		if ts%1000 != 0 {
			subUS++
		}
	}
	if n != frames {
		t.Fatalf("capture holds %d frames, want %d", n, frames)
	}
	if subUS < frames/2 {
		t.Errorf("only %d of %d stamps have sub-microsecond digits: not ns resolution", subUS, frames)
	}
}

func TestReceiveDupReorder(t *testing.T) {
	for _, fanout := range []bool{false, true} {
		t.Run(fmt.Sprintf("fanout=%v", fanout), func(t *testing.T) { testDupReorder(t, fanout) })
	}
}

// testDupReorder: with a ring per CPU (fanout) order is judged by the
// arrival stamps at Stop, with the same counts.
func testDupReorder(t *testing.T, fanout bool) {
	cpu := -1
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.IsSet(0) {
		cpu = 0 // also exercises pinning
	}
	r, s := setup(t, Config{Expect: 8, CPU: cpu, Fanout: fanout})
	r.Start()
	const unmarked = ^uint64(0)
	order := []uint64{0, 1, 3, 2, 2, 5, 4, 7, 9, unmarked}
	for _, seq := range order {
		f := marked(t, seq)
		if seq == unmarked {
			copy(f[trace.HeaderLen:], "NOPE")
		}
		if err := s.send(f); err != nil {
			t.Fatal(err)
		}
	}
	// Nine marked frames were sent: Stop completes once all were walked.
	res, err := r.Stop(9, stopQuiet, stopBound)
	if err != nil {
		t.Fatal(err)
	}
	got := [6]uint64{res.Received, res.Dup, res.Reordered, res.OutOfRange, res.Unmarked, res.Total}
	if want := [6]uint64{7, 1, 2, 1, 1, 10}; got != want {
		t.Fatalf("received, dup, reordered, out of range, unmarked, total = %v, want %v", got, want)
	}
	if m := Analyze(make([]int64, 8), res); m.Lost != 1 || res.Arrival[6] != 0 {
		t.Fatalf("lost %d, arrival of seq 6 %d; want 1 and 0", m.Lost, res.Arrival[6])
	}
	// Arrival order in time: 0 1 3 2 5 4 7.
	a := res.Arrival
	if !(a[0] < a[1] && a[1] < a[3] && a[3] < a[2] && a[2] < a[5] && a[5] < a[4] && a[4] < a[7]) {
		t.Fatalf("arrival times %v do not follow the send order 0 1 3 2 5 4 7", a)
	}
}

// With a ring per CPU, frames sent from two CPUs land in two rings, every
// one is accounted once, and two streams each sent in order from its own
// CPU show no reordering, however the walk visits the rings.
func TestReceiveFanout(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 || !set.IsSet(0) || !set.IsSet(1) {
		t.Skip("needs CPUs 0 and 1")
	}
	const n = 20000
	streams := make([]uint16, n)
	for i := range streams {
		streams[i] = uint16(i % 2)
	}
	r, s := setup(t, Config{Expect: n, CPU: 0, Fanout: true, Streams: streams})
	if len(r.socks) != runtime.NumCPU() {
		t.Fatalf("%d sockets, want one per CPU (%d)", len(r.socks), runtime.NumCPU())
	}
	r.Start()
	errs := make(chan error, 2)
	for cpu := range 2 {
		f := marked(t, 0)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				errs <- err
				return
			}
			for seq := cpu; seq < n; seq += 2 {
				binary.BigEndian.PutUint64(f[trace.HeaderLen+4:], uint64(seq))
				if err := s.send(f); err != nil {
					errs <- fmt.Errorf("CPU %d, frame %d: %w", cpu, seq, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Stop(n, stopQuiet, stopBound)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received+res.KernelDrops != n || res.Dup != 0 || res.Reordered != 0 {
		t.Fatalf("received %d (+%d dropped), dup %d, reordered %d: want %d, 0, 0", res.Received, res.KernelDrops, res.Dup, res.Reordered, n)
	}
	if r.socks[0].frames == 0 || r.socks[1].frames == 0 {
		t.Fatalf("frames per ring %d, %d: want both rings used", r.socks[0].frames, r.socks[1].frames)
	}
}

// A full ring drops frames in the kernel; Stop accounts for them and
// completes on received + dropped.
func TestReceiveKernelDrops(t *testing.T) {
	// 1 MiB: 16 blocks of 64 KiB, about 7000 minimal frames.
	r, s := setup(t, Config{Expect: frames, CPU: -1, RingBytes: 1 << 20})
	sendSynthetic(t, s, frames) // before Start: nothing drains the ring
	if m, tot := r.Counts(); m != 0 || tot != 0 {
		t.Fatalf("Counts before Start = %d, %d", m, tot)
	}
	r.Start()
	res, err := r.Stop(frames, stopQuiet, stopBound)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("received %d, kernel drops %d, freezes %d, kernel packets %d", res.Received, res.KernelDrops, res.KernelFreezes, res.KernelPackets)
	if res.KernelDrops == 0 || res.Received+res.KernelDrops != frames || res.Stopped != StopComplete {
		t.Fatalf("received %d + dropped %d of %d, stopped %s; want drops > 0 accounting for every frame, complete",
			res.Received, res.KernelDrops, frames, res.Stopped)
	}
	if res.KernelPackets != frames {
		t.Errorf("kernel packets %d, want %d (tp_packets includes drops)", res.KernelPackets, frames)
	}
	if res.KernelFreezes == 0 {
		t.Errorf("no V3 queue freeze reported although the ring filled")
	}
	if res.Dup != 0 || res.Reordered != 0 {
		t.Errorf("dup %d reordered %d", res.Dup, res.Reordered)
	}
}

func TestStopWhenNothingArrives(t *testing.T) {
	cases := []struct {
		name         string
		quiet, bound time.Duration
		want         string
	}{
		{"bound", time.Hour, 300 * time.Millisecond, StopBound},
		{"quiet", 100 * time.Millisecond, time.Minute, StopQuiet},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := setup(t, Config{Expect: 10, CPU: -1})
			r.Start()
			start := time.Now()
			res, err := r.Stop(10, c.quiet, c.bound)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			// At least the wait; a busy machine may add any delay, so the
			// upper bound only catches a Stop that never ends.
			wait := min(c.quiet, c.bound)
			if res.Stopped != c.want || took < wait || took > wait+time.Minute {
				t.Fatalf("stopped %s after %v; want %s after about %v", res.Stopped, took, c.want, wait)
			}
			if res.Received != 0 || res.Total != 0 || res.FirstAny != 0 {
				t.Fatalf("received %d total %d first %d from an idle link", res.Received, res.Total, res.FirstAny)
			}
		})
	}
}

func TestStopIdempotentAndClose(t *testing.T) {
	r, s := setup(t, Config{Expect: 100, CPU: -1})
	r.Start()
	r.Start() // a second Start does nothing
	sendSynthetic(t, s, 100)
	res1, err1 := r.Stop(100, stopQuiet, stopBound)
	res2, err2 := r.Stop(100, time.Hour, time.Hour)
	if err1 != nil || err2 != nil || res1 != res2 || res1.Received != 100 {
		t.Fatalf("second Stop: %p %v, first %p %v (received %d)", res2, err2, res1, err1, res1.Received)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close after Stop: %v", err)
	}

	r2, _ := setup(t, Config{Expect: 1, CPU: -1})
	r2.Start()
	if err := r2.Close(); err != nil {
		t.Fatalf("Close of a running receiver: %v", err)
	}
	if err := r2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r2.Stop(1, 0, 0); err == nil {
		t.Fatal("Stop after Close returned no error")
	}

	// Stop without Start closes at once.
	r3, _ := setup(t, Config{Expect: 1, CPU: -1})
	res, err := r3.Stop(1, time.Hour, time.Hour)
	if err != nil || res.Stopped != StopNotStarted {
		t.Fatalf("Stop without Start: %+v, %v", res, err)
	}
}

func TestOpenNoSuchInterface(t *testing.T) {
	vethNS(t, func(a, b int) error {
		r, err := Open(Config{Ifindex: 9999, Expect: 1, CPU: -1})
		if err == nil {
			r.Close()
			return errors.New("Open on a missing interface succeeded")
		}
		if !strings.Contains(err.Error(), "no interface with index 9999") || !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("error %q does not say the interface is missing", err)
		}
		return nil
	})
}
