package tx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsThread is a locked OS thread in a network namespace of its own; do runs
// functions on it. Sockets opened there stay in that namespace wherever
// they are used from. The thread is never unlocked: when its goroutine
// ends, the runtime discards it with its namespace.
type nsThread struct {
	fn   chan func()
	done chan struct{}
	tid  int
}

func newNSThread(tb testing.TB) *nsThread {
	tb.Helper()
	n := &nsThread{fn: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(n.done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		n.tid = unix.Gettid()
		errc <- nil
		for f := range n.fn {
			f()
		}
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		close(n.fn)
		<-n.done
	})
	return n
}

// do runs f on the namespace's thread and returns its error.
func (n *nsThread) do(f func() error) error {
	errc := make(chan error, 1)
	n.fn <- func() { errc <- f() }
	return <-errc
}

// ip runs the ip command from the namespace's thread.
func (n *nsThread) ip(args ...string) error {
	return n.do(func() error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	})
}

// waitUp polls, with a bound, until dev is operationally up with its real
// qdisc. Until the kernel's link watcher has run, which on a busy machine
// can take long, a device that has just got its carrier keeps the
// placeholder noop qdisc, which drops every frame while telling the
// sender it went.
func (n *nsThread) waitUp(dev string) error {
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	for {
		var out []byte
		err := n.do(func() (err error) {
			out, err = exec.Command("ip", "-o", "link", "show", "dev", dev).CombinedOutput()
			return err
		})
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

var (
	macA = net.HardwareAddr{0x02, 0x6c, 0x72, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0x6c, 0x72, 0, 0, 2}
)

const (
	testEtherType = 0x88b5 // IEEE local experimental
	addrA         = "198.18.0.1"
	addrB         = "198.18.0.2"
)

// veth is a veth pair a–b between two private namespaces: a (sender side)
// and b (receiver side), both up, with 198.18.0.1/24 on a, 198.18.0.2/24 on
// b and a permanent neighbour entry for b on a.
type veth struct {
	a, b     *nsThread
	ifA, ifB int
}

func newVeth(tb testing.TB) *veth {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: creates network namespaces, a veth pair and AF_PACKET sockets")
	}
	v := &veth{a: newNSThread(tb), b: newNSThread(tb)}
	steps := []struct {
		ns   *nsThread
		args []string
	}{
		{v.a, []string{"link", "add", "name", "a", "address", macA.String(), "type", "veth",
			"peer", "name", "b", "address", macB.String(), "netns", strconv.Itoa(v.b.tid)}},
		{v.a, []string{"addr", "add", addrA + "/24", "dev", "a"}},
		{v.b, []string{"addr", "add", addrB + "/24", "dev", "b"}},
		{v.a, []string{"link", "set", "dev", "a", "up"}},
		{v.b, []string{"link", "set", "dev", "b", "up"}},
		{v.a, []string{"neigh", "replace", addrB, "lladdr", macB.String(), "dev", "a", "nud", "permanent"}},
	}
	for _, s := range steps {
		if err := s.ns.ip(s.args...); err != nil {
			tb.Fatal(err)
		}
	}
	for _, x := range []struct {
		ns  *nsThread
		dev string
	}{{v.a, "a"}, {v.b, "b"}} {
		if err := x.ns.waitUp(x.dev); err != nil {
			tb.Fatal(err)
		}
	}
	for _, x := range []struct {
		ns   *nsThread
		name string
		idx  *int
	}{{v.a, "a", &v.ifA}, {v.b, "b", &v.ifB}} {
		if err := x.ns.do(func() error {
			ifi, err := net.InterfaceByName(x.name)
			if err == nil {
				*x.idx = ifi.Index
			}
			return err
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return v
}

// newPacket opens a Packet sink on a (on the namespace thread).
func (v *veth) newPacket(tb testing.TB, cfg PacketConfig, opt packetOptions) *Packet {
	tb.Helper()
	cfg.Ifindex = v.ifA
	if opt.version == 0 {
		opt.version = unix.TPACKET_V2
	}
	var p *Packet
	if err := v.a.do(func() (err error) { p, err = newPacket(cfg, opt); return err }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// numbered returns a 60-byte frame to b carrying counter i.
func numbered(i uint32) []byte {
	f := make([]byte, 60)
	copy(f, macB)
	copy(f[6:], macA)
	binary.BigEndian.PutUint16(f[12:], testEtherType)
	binary.BigEndian.PutUint32(f[14:], i)
	return f
}

// receiver collects the counters of frames arriving on b: AF_PACKET
// frames of testEtherType, or UDP datagrams to 198.18.0.2:port.
type receiver struct {
	fd   int
	udp  bool
	got  chan []uint32
	stop chan struct{}
}

const recvTimeout = 200 * time.Millisecond

// newPacketReceiver listens for testEtherType frames arriving on b.
func (v *veth) newPacketReceiver(tb testing.TB) *receiver {
	tb.Helper()
	proto := int(htons(testEtherType))
	r := &receiver{}
	if err := v.b.do(func() (err error) {
		r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		return unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: v.ifB})
	}); err != nil {
		tb.Fatal(err)
	}
	r.start(tb)
	return r
}

// newUDPReceiver listens on 198.18.0.2:port in b.
func (v *veth) newUDPReceiver(tb testing.TB, port int) *receiver {
	tb.Helper()
	r := &receiver{udp: true}
	if err := v.b.do(func() (err error) {
		r.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(r.fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{198, 18, 0, 2}})
	}); err != nil {
		tb.Fatal(err)
	}
	r.start(tb)
	return r
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *receiver) start(tb testing.TB) {
	tb.Helper()
	tb.Cleanup(func() { unix.Close(r.fd) })
	if err := unix.SetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		tb.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(recvTimeout))
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		tb.Fatal(err)
	}
	r.got = make(chan []uint32, 1)
	r.stop = make(chan struct{})
	go func() {
		var got []uint32
		buf := make([]byte, 2048)
		stopped := false
		for {
			n, err := unix.Read(r.fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				if stopped {
					break // idle for recvTimeout after stop: all in
				}
				select {
				case <-r.stop:
					stopped = true
				default:
				}
				continue
			}
			if err != nil {
				break
			}
			off := 14
			if r.udp {
				off = 0
			}
			if n >= off+4 {
				got = append(got, binary.BigEndian.Uint32(buf[off:]))
			}
		}
		r.got <- got
	}()
}

// wait returns the counters received, once nothing more has arrived for
// recvTimeout after it was called.
func (r *receiver) wait() []uint32 {
	close(r.stop)
	return <-r.got
}

// checkSeq reports how got differs from want, in order, each exactly once.
func checkSeq(got, want []uint32) error {
	if len(got) != len(want) {
		missing := 0
		seen := map[uint32]int{}
		for _, g := range got {
			seen[g]++
		}
		for _, w := range want {
			if seen[w] == 0 {
				missing++
			}
		}
		return fmt.Errorf("received %d frames, want %d (%d missing)", len(got), len(want), missing)
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("frame %d carries counter %d, want %d (order or duplicates)", i, got[i], want[i])
		}
	}
	return nil
}

func seq(n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}

// rawSocket is a packet socket on b for testEtherType frames, read with
// unix.Read (each read waits at most recvTimeout).
func (v *veth) rawSocket(tb testing.TB) int {
	tb.Helper()
	var fd int
	if err := v.b.do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(testEtherType)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: v.ifB})
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		tb.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(recvTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		tb.Fatal(err)
	}
	return fd
}

// sendPatterned sends a frame of each length through s (a numbered
// header, then bytes that differ by frame and position), closes s, checks
// its stats count every frame and byte, and returns the frames sent.
func sendPatterned(tb testing.TB, s Sink, lengths []int) [][]byte {
	tb.Helper()
	var sent [][]byte
	var total int64
	for i, n := range lengths {
		f := make([]byte, n)
		copy(f, numbered(uint32(i))[:min(n, 18)])
		for j := 18; j < n; j++ {
			f[j] = byte(i*31 + j)
		}
		if err := s.Send(f, 0); err != nil {
			tb.Fatalf("frame %d (%d bytes): %v", i, n, err)
		}
		sent, total = append(sent, f), total+int64(n)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	if st := s.Stats(); st.Packets != int64(len(lengths)) || st.Errors != 0 || st.Bytes != total {
		tb.Fatalf("stats %+v: want %d packets, %d bytes, no errors", st, len(lengths), total)
	}
	return sent
}

// expectFrames reads the frames on fd and checks they are sent, byte for
// byte and in order.
func expectFrames(tb testing.TB, fd int, sent [][]byte) {
	tb.Helper()
	buf := make([]byte, 2048)
	for i, want := range sent {
		n, err := unix.Read(fd, buf)
		if err != nil {
			tb.Fatalf("frame %d: %v", i, err)
		}
		if got := buf[:n]; !bytes.Equal(got, want) {
			tb.Fatalf("frame %d: received %d bytes % x..., sent %d bytes % x...", i, n, got[:min(n, 24)], len(want), want[:min(len(want), 24)])
		}
	}
}
