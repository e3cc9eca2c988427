package tx

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParsePacketMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PacketMode
		ok   bool
	}{
		{"sendto", PacketSendto, true},
		{"sendmmsg", PacketSendmmsg, true},
		{"ring", PacketRing, true},
		{"", 0, false},
		{"Ring", 0, false},
		{"mmap", 0, false},
		{"sendmmsg ", 0, false},
	} {
		got, err := ParsePacketMode(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePacketMode(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "sendto, sendmmsg, ring") {
			t.Errorf("ParsePacketMode(%q) error %q does not list the accepted forms", c.in, err)
		}
		if c.ok && got.String() != c.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

// Configuration errors are found before any socket is opened (no root).
func TestNewPacketRejectsConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  PacketConfig
		want string
	}{
		{"mode", PacketConfig{Mode: 7}, "mode"},
		{"batch high", PacketConfig{Mode: PacketSendmmsg, Batch: MaxBatch + 1}, "Batch"},
		{"batch negative", PacketConfig{Mode: PacketRing, Batch: -1}, "Batch"},
		{"sendto batch", PacketConfig{Mode: PacketSendto, Batch: 7}, "sendto"},
		{"max frame small", PacketConfig{Mode: PacketSendto, MaxFrame: 10}, "MaxFrame"},
		{"max frame big", PacketConfig{Mode: PacketSendto, MaxFrame: 70000}, "MaxFrame"},
		{"ring smaller than batch", PacketConfig{Mode: PacketRing, Batch: 64, RingFrames: 32}, "RingFrames"},
		{"sndbuf", PacketConfig{Mode: PacketSendto, SndBuf: -1}, "SndBuf"},
		{"retry", PacketConfig{Mode: PacketSendto, RetryLimit: -time.Second}, "RetryLimit"},
		{"ifindex", PacketConfig{Mode: PacketSendto, Ifindex: 1 << 30}, "interface index"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPacket(c.cfg)
			if err == nil {
				p.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func TestRingGeometry(t *testing.T) {
	for _, c := range []struct{ hdr, maxFrame, frames int }{
		{unix.SizeofTpacket2Hdr, 60, 4096},
		{unix.SizeofTpacket2Hdr, 1514, 4096},
		{unix.SizeofTpacket2Hdr, 1514, 1},
		{unix.SizeofTpacket3Hdr, 9000, 100},
		{unix.SizeofTpacket2Hdr, 65535, 3},
		{unix.SizeofTpacket2Hdr, 14, 10},
	} {
		fs, bs, blocks := ringGeometry(c.hdr, c.maxFrame, c.frames)
		fpb := bs / fs
		switch {
		case fs%tpacketAlign != 0 || fs < tpAlign(c.hdr)+c.maxFrame || fs < tpAlign(c.hdr)+sockaddrLLSize:
			t.Errorf("%+v: slot of %d bytes", c, fs)
		case bs%pageSize != 0 || fpb == 0:
			t.Errorf("%+v: block of %d bytes for slots of %d", c, bs, fs)
		case fpb*blocks < c.frames || fpb*(blocks-1) >= c.frames:
			t.Errorf("%+v: %d blocks of %d slots", c, blocks, fpb)
		case fs <= pageSize && pageSize%fs != 0:
			t.Errorf("%+v: slots of %d bytes straddle pages", c, fs)
		}
		if c.maxFrame == 1514 && float64(bs-fpb*fs)/float64(bs) > 0.05 {
			t.Errorf("%+v: block of %d bytes wastes %d", c, bs, bs-fpb*fs)
		}
	}
}

// The back-off goes through spinning, yielding and sleeping while its
// budget lasts, gives up once it is spent, and a reset restores it. The
// budget is spent by moving the frame's start back, not by waiting: on a
// busy machine one yield may take longer than any budget a test could
// give.
func TestBackoffLimit(t *testing.T) {
	b := backoff{limit: int64(time.Hour)}
	for i := range spinTries + yieldTries + 3 { // the last ones sleep 2, 4, 8 us
		if !b.wait() {
			t.Fatalf("gave up at wait %d with an hour's budget", i+1)
		}
	}
	if b.n != spinTries+yieldTries+3 {
		t.Fatalf("%d retries counted, want %d", b.n, spinTries+yieldTries+3)
	}
	b.start -= int64(time.Hour) // the budget is spent
	if b.wait() {
		t.Fatal("waited on after the budget was spent")
	}
	b.reset()
	if !b.wait() || b.n != 1 {
		t.Fatalf("reset did not restore the budget (retries %d)", b.n)
	}
	// A budget spent while waiting ends the retries too, in bounded time.
	b = backoff{limit: int64(5 * time.Millisecond)}
	for n := 0; b.wait(); n++ {
		if n > 10_000_000 {
			t.Fatal("back-off never gave up")
		}
	}
}

type packetCase struct {
	mode   PacketMode
	batch  int
	bypass bool
}

func (c packetCase) String() string {
	s := c.mode.String() + "-" + itoa(c.batch)
	if c.bypass {
		s += "/bypass"
	}
	return s
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func packetCases() []packetCase {
	var cs []packetCase
	for _, bypass := range []bool{false, true} {
		cs = append(cs, packetCase{PacketSendto, 1, bypass})
		for _, m := range []PacketMode{PacketSendmmsg, PacketRing} {
			for _, b := range []int{1, 7, 64} {
				cs = append(cs, packetCase{m, b, bypass})
			}
		}
	}
	return cs
}

// Every frame sent through every mode arrives on the peer exactly once and
// in order, and the counters add up.
func TestPacketDelivery(t *testing.T) {
	const n = 10000
	v := newVeth(t)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = numbered(uint32(i))
	}
	for _, c := range packetCases() {
		t.Run(c.String(), func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			p := v.newPacket(t, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: c.bypass, MaxFrame: 60}, packetOptions{})
			for i, f := range frames {
				if err := p.Send(f, 0); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if got, want := p.Pending(), (i+1)%c.batch; got != want {
					t.Fatalf("after frame %d: Pending %d, want %d", i, got, want)
				}
			}
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
			if p.Pending() != 0 {
				t.Fatalf("Pending %d after Flush", p.Pending())
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			st := p.Stats()
			calls := int64((n + c.batch - 1) / c.batch)
			if st.Packets != n || st.Errors != 0 || st.Bytes != 60*n ||
				st.Syscalls < calls || st.Syscalls > calls+st.Retries {
				t.Errorf("stats %+v: want %d packets of 60 bytes, no errors, %d send calls plus retries", st, n, calls)
			}
			if err := checkSeq(rx.wait(), seq(n)); err != nil {
				t.Fatal(err)
			}
			if err := p.Send(frames[0], 0); err == nil {
				t.Error("Send after Close succeeded")
			}
		})
	}
}

// ENOBUFS and EAGAIN are retried and counted; a partial sendmmsg sends the
// rest; nothing is lost.
func TestPacketRetry(t *testing.T) {
	const n = 1000
	v := newVeth(t)
	for _, c := range []struct {
		packetCase
		errno   unix.Errno
		fails   int
		maxVlen int
	}{
		{packetCase{mode: PacketSendto, batch: 1}, unix.ENOBUFS, 5, 0},
		{packetCase{mode: PacketSendmmsg, batch: 64}, unix.EAGAIN, 5, 0},
		{packetCase{mode: PacketSendmmsg, batch: 64}, unix.ENOBUFS, 5, 3},
		{packetCase{mode: PacketRing, batch: 1}, unix.EAGAIN, 5, 0},
		{packetCase{mode: PacketRing, batch: 64}, unix.ENOBUFS, 30, 0},
	} {
		t.Run(c.packetCase.String()+"/"+unix.ErrnoName(c.errno), func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			p := v.newPacket(t, PacketConfig{Mode: c.mode, Batch: c.batch}, packetOptions{})
			for i := range n {
				if i == n/2 {
					p.inj = injector{errno: c.errno, n: c.fails, maxVlen: c.maxVlen}
				}
				if err := p.Send(numbered(uint32(i)), 0); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			if st.Retries < int64(c.fails) || st.Packets != n || st.Errors != 0 {
				t.Errorf("stats %+v: want at least %d retries, %d packets, no errors", st, c.fails, n)
			}
			if c.maxVlen > 0 && st.Syscalls < n/2/int64(c.maxVlen) {
				t.Errorf("%d send calls: sendmmsg capped at %d messages cannot have sent %d frames", st.Syscalls, c.maxVlen, n/2)
			}
			if err := checkSeq(rx.wait(), seq(n)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// When the back-off is spent the frames are counted as errors, Send names
// the errno, and the frames given up are not sent later.
func TestPacketGiveUp(t *testing.T) {
	v := newVeth(t)
	for _, c := range []packetCase{{PacketSendto, 1, false}, {PacketSendmmsg, 8, false}, {PacketRing, 8, false}} {
		t.Run(c.String(), func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			p := v.newPacket(t, PacketConfig{Mode: c.mode, Batch: c.batch, RetryLimit: 2 * time.Millisecond}, packetOptions{})
			p.inj = injector{errno: unix.ENOBUFS, n: 1 << 30}
			var err error
			for i := range c.batch {
				err = p.Send(numbered(uint32(1000+i)), 0)
			}
			if err == nil || !strings.Contains(err.Error(), "ENOBUFS") {
				t.Fatalf("Send error %v, want one naming ENOBUFS", err)
			}
			if st := p.Stats(); st.Errors != int64(c.batch) || st.Packets != 0 || st.Retries == 0 || p.Pending() != 0 {
				t.Fatalf("stats %+v, pending %d: want %d errors, no packets, some retries", st, p.Pending(), c.batch)
			}
			p.inj = injector{}
			for i := range 2 * c.batch {
				if err := p.Send(numbered(uint32(i)), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats(); st.Packets != int64(2*c.batch) {
				t.Errorf("stats %+v: want %d packets", st, 2*c.batch)
			}
			if err := checkSeq(rx.wait(), seq(2*c.batch)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A frame the kernel refuses (here: longer than an MTU lowered after the
// socket was opened) is counted, reported, and does not hold up the frames
// after it: in ring mode the kernel marks it TP_STATUS_WRONG_FORMAT and
// stops there.
func TestPacketRefusedFrame(t *testing.T) {
	v := newVeth(t)
	for _, c := range []packetCase{{PacketSendto, 1, false}, {PacketSendmmsg, 8, false}, {PacketRing, 8, false}, {PacketRing, 8, true}} {
		t.Run(c.String(), func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			p := v.newPacket(t, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: c.bypass}, packetOptions{})
			if err := v.a.ip("link", "set", "dev", "a", "mtu", "100"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = v.a.ip("link", "set", "dev", "a", "mtu", "1500") })
			var errs []error
			for i := range 16 {
				f := numbered(uint32(i))
				if i == 3 {
					// Passes Send's check (MTU 1500 when opened), not the kernel's.
					f = append(f, make([]byte, 56)...)
				}
				if err := p.Send(f, 0); err != nil {
					errs = append(errs, err)
				}
			}
			if err := p.Close(); err != nil {
				errs = append(errs, err)
			}
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			if st := p.Stats(); st.Errors != 1 || st.Packets != 15 {
				t.Errorf("stats %+v: want 1 error, 15 packets", st)
			}
			want := append(seq(3), seq(16)[4:]...)
			if err := checkSeq(rx.wait(), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Frames Send can tell are wrong are refused before reaching the kernel.
func TestPacketFrameChecks(t *testing.T) {
	v := newVeth(t)
	p := v.newPacket(t, PacketConfig{Mode: PacketRing, Batch: 4, MaxFrame: 100}, packetOptions{})
	vlan := make([]byte, 104)
	vlan[12], vlan[13] = 0x81, 0x00
	for _, c := range []struct {
		name  string
		frame []byte
		ok    bool
	}{
		{"short", make([]byte, 13), false},
		{"header only", make([]byte, 14), true},
		{"max", make([]byte, 100), true},
		{"over MaxFrame", make([]byte, 101), false},
		{"tagged over MaxFrame", vlan, false},
	} {
		before := p.Stats().Errors
		err := p.Send(c.frame, 0)
		if (err == nil) != c.ok {
			t.Errorf("%s: Send error %v, want ok=%v", c.name, err, c.ok)
		}
		if got := p.Stats().Errors - before; got != map[bool]int64{true: 0, false: 1}[c.ok] {
			t.Errorf("%s: %d errors counted", c.name, got)
		}
	}
	// VLAN-tagged frames may be 4 bytes over the MTU.
	q := v.newPacket(t, PacketConfig{Mode: PacketSendto, MaxFrame: 2000}, packetOptions{})
	big := make([]byte, 1518)
	if err := q.Send(big, 0); err == nil {
		t.Error("untagged frame of 1518 bytes accepted on a 1500-byte MTU")
	}
	big[12], big[13] = 0x81, 0x00
	if err := q.Send(big, 0); err != nil {
		t.Errorf("tagged frame of 1518 bytes: %v", err)
	}
}

// Send does not allocate in any mode.
func TestPacketSendAllocs(t *testing.T) {
	v := newVeth(t)
	frame := numbered(1)
	for _, c := range []packetCase{{PacketSendto, 1, false}, {PacketSendmmsg, 1, false}, {PacketSendmmsg, 64, false},
		{PacketRing, 1, false}, {PacketRing, 64, true}} {
		for _, linear := range []bool{false, true} {
			if linear && c.mode != PacketRing {
				continue
			}
			p := v.newPacket(t, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: c.bypass, MaxFrame: 60, Linear: linear}, packetOptions{})
			if a := testing.AllocsPerRun(2000, func() { _ = p.Send(frame, 0) }); a != 0 {
				t.Errorf("%v linear=%v: %v allocations per Send", c, linear, a)
			}
			if st := p.Stats(); st.Errors != 0 || st.Packets == 0 {
				t.Errorf("%v linear=%v: stats %+v", c, linear, st)
			}
		}
	}
}

// With Linear the ring's frames arrive byte for byte as sent, whatever
// their length (the virtio header before each is the kernel's, not the
// wire's), and the frame a slot held before does not leak into a shorter
// one; the stats count the frames' own bytes.
func TestPacketRingLinear(t *testing.T) {
	v := newVeth(t)
	fd := v.rawSocket(t)
	p := v.newPacket(t, PacketConfig{Mode: PacketRing, Batch: 3, RingFrames: 4, QdiscBypass: true, Linear: true}, packetOptions{})
	sent := sendPatterned(t, p, []int{1514, 60, 61, 200, 1514, 14, 1000, 60})
	expectFrames(t, fd, sent)
}

// The variants the benchmarks compare (blocking system calls, kicks that
// wait, TPACKET_V3 slots) deliver as the defaults do.
func TestPacketOptionsDelivery(t *testing.T) {
	const n = 2000
	v := newVeth(t)
	for _, c := range []struct {
		name string
		cfg  PacketConfig
		opt  packetOptions
	}{
		{"sendto/syscall", PacketConfig{Mode: PacketSendto}, packetOptions{blocking: true}},
		{"sendmmsg-7/syscall", PacketConfig{Mode: PacketSendmmsg, Batch: 7}, packetOptions{blocking: true}},
		{"ring-7/wait", PacketConfig{Mode: PacketRing, Batch: 7}, packetOptions{kickWait: true}},
		{"ring-7/v3", PacketConfig{Mode: PacketRing, Batch: 7}, packetOptions{version: unix.TPACKET_V3}},
		{"ring-64/small-ring", PacketConfig{Mode: PacketRing, Batch: 64, RingFrames: 64}, packetOptions{}},
		{"ring-7/linear", PacketConfig{Mode: PacketRing, Batch: 7, Linear: true}, packetOptions{}},
		{"ring-64/linear/bypass/v3", PacketConfig{Mode: PacketRing, Batch: 64, Linear: true, QdiscBypass: true}, packetOptions{version: unix.TPACKET_V3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rx := v.newPacketReceiver(t)
			p := v.newPacket(t, c.cfg, c.opt)
			for i := range n {
				if err := p.Send(numbered(uint32(i)), 0); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats(); st.Packets != n || st.Errors != 0 {
				t.Errorf("stats %+v", st)
			}
			if err := checkSeq(rx.wait(), seq(n)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A ring slot the kernel does not give back is waited for within
// RetryLimit (counted as retries), then the frame is given up, not lost
// silently, and the ring goes on once the slot is free.
func TestPacketRingSlotBusy(t *testing.T) {
	v := newVeth(t)
	rx := v.newPacketReceiver(t)
	p := v.newPacket(t, PacketConfig{Mode: PacketRing, Batch: 4, RetryLimit: 2 * time.Millisecond}, packetOptions{})
	for i := range 4 {
		if err := p.Send(numbered(uint32(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	r := p.ring
	head := r.head
	r.setStatus(head, unix.TP_STATUS_SENDING) // as if its skb were still queued
	err := p.Send(numbered(99), 0)
	if err == nil || !strings.Contains(err.Error(), "owned by the kernel") {
		t.Fatalf("Send on a busy slot: %v", err)
	}
	if st := p.Stats(); st.Errors != 1 || st.Retries == 0 || st.Packets != 4 {
		t.Fatalf("stats %+v: want 1 error, some retries, 4 packets", st)
	}
	r.setStatus(head, unix.TP_STATUS_AVAILABLE)
	for i := 4; i < 8; i++ {
		if err := p.Send(numbered(uint32(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := checkSeq(rx.wait(), seq(8)); err != nil {
		t.Fatal(err)
	}
}

// The default ring holds twice a batch, at most DefaultRingBytes of
// slots, and never less than a batch.
func TestDefaultRingFrames(t *testing.T) {
	for _, c := range []struct{ batch, maxFrame, want int }{
		{1, 60, DefaultRingFrames}, // 128-byte slots: 512 of them are 64 KiB
		{512, 60, 1024},            // 2*batch, 128 KiB
		{128, 1514, 128},           // 2 KiB slots: 256 KiB hold 128
		{512, 1514, 512},           // at least the batch
		{1, 9000, 28},              // 9056-byte slots (larger than a page: not a power of two)
	} {
		if got := defaultRingFrames(c.batch, c.maxFrame); got != c.want {
			t.Errorf("batch %d of %d-byte frames: %d slots, want %d", c.batch, c.maxFrame, got, c.want)
		}
	}
}
