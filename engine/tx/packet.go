package tx

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PacketMode is how a Packet sink hands frames to the kernel.
type PacketMode int

// Packet modes.
const (
	// PacketSendto sends each frame with its own sendto call.
	PacketSendto PacketMode = iota
	// PacketSendmmsg copies frames into a batch sent with one sendmmsg call.
	PacketSendmmsg
	// PacketRing copies frames into a mapped PACKET_TX_RING (TPACKET_V2)
	// and kicks the kernel with one send call per batch.
	PacketRing
)

var packetModeNames = [...]string{PacketSendto: "sendto", PacketSendmmsg: "sendmmsg", PacketRing: "ring"}

// String returns the name ParsePacketMode accepts.
func (m PacketMode) String() string {
	if m >= 0 && int(m) < len(packetModeNames) {
		return packetModeNames[m]
	}
	return fmt.Sprintf("PacketMode(%d)", int(m))
}

// ParsePacketMode parses "sendto", "sendmmsg" or "ring".
func ParsePacketMode(s string) (PacketMode, error) {
	for m, name := range packetModeNames {
		if s == name {
			return PacketMode(m), nil
		}
	}
	return 0, fmt.Errorf("packet mode %q: want one of %s", s, strings.Join(packetModeNames[:], ", "))
}

// DefaultMaxFrame is the default largest frame: a 1500-byte MTU plus the
// Ethernet header, no FCS.
const DefaultMaxFrame = 1514

const (
	ethHeader = 14
	vlanTag   = 4
	maxFrame  = 65535
)

// PacketConfig configures a Packet sink.
type PacketConfig struct {
	// Ifindex is the interface to send on, in the network namespace of the
	// thread calling NewPacket.
	Ifindex int
	Mode    PacketMode
	// Batch is the number of frames per sendmmsg call or per ring kick,
	// 1..MaxBatch; 0 means 1. PacketSendto takes only 1.
	Batch int
	// QdiscBypass sets PACKET_QDISC_BYPASS: frames go straight to the
	// driver, skipping the interface's queueing discipline.
	QdiscBypass bool
	// RingFrames is the number of TX ring slots (PacketRing), rounded up
	// to whole ring blocks; at least Batch. 0 means DefaultRingFrames or
	// 2*Batch, whichever is larger, but no more than DefaultRingBytes
	// hold (and never fewer than Batch).
	RingFrames int
	// MaxFrame is the largest frame (no FCS) that will be sent; it sizes
	// ring slots and sendmmsg buffers. 0 means DefaultMaxFrame. Longer
	// frames, and frames longer than the interface MTU allows, are
	// refused by Send and counted in Stats.Errors.
	MaxFrame int
	// Linear (PacketRing) has the kernel copy each frame whole into the
	// head of the socket buffer it builds. Without it the kernel copies the
	// link-layer header alone and attaches the rest as a fragment of the
	// ring's page, which the receiving stack must pull back into the head
	// to read the IP and transport headers (and, on a veth, copy out).
	// It sets PACKET_VNET_HDR and puts a virtio_net_hdr asking for no
	// offload before each frame, its hdr_len the frame's length; the
	// kernel then leaves the MTU check to Send's (which it always makes).
	// On a veth at topspeed it sent 7 % more 64-byte frames a second and
	// 11 % more 1514-byte ones (docs/replay-vs-tcpreplay.md).
	Linear bool
	// SndBuf sets SO_SNDBUFFORCE (SO_SNDBUF without CAP_NET_ADMIN) in
	// bytes; 0 leaves the default.
	SndBuf int
	// RetryLimit is the total back-off spent on a frame (or the rest of a
	// batch) refused with ENOBUFS or EAGAIN before it is given up and
	// counted in Stats.Errors. 0 means DefaultRetryLimit.
	RetryLimit time.Duration
	// Pad sends IPv4 TCP and UDP frames cut short by a snaplen at their
	// full IP length, padded with zeros, with the checksum computed again
	// over the padded segment: NetVCR's padded payloads.
	Pad bool
}

// Packet is a Sink sending whole Ethernet frames on an AF_PACKET socket
// bound to one interface. The socket is send-only (protocol 0: it receives
// nothing). In PacketSendmmsg and PacketRing modes it is a Batcher; in
// PacketSendto mode Pending is always 0 and Flush does nothing.
//
// Send does not allocate, lock or enter the Go scheduler on its normal
// path: sends are MSG_DONTWAIT system calls made with unix.RawSyscall6,
// and refused ones (ENOBUFS, EAGAIN) are retried with back-off (spin,
// sched_yield, then growing nanosleeps up to 1 ms) within RetryLimit.
// A Packet is used by one goroutine at a time.
type Packet struct {
	sock
	mode    PacketMode
	batch   int
	max     int // longest frame: min(MaxFrame, MTU + Ethernet header)
	maxVLAN int // longest VLAN-tagged frame: min(MaxFrame, max + 4)
	mm      *mmsg
	ring    *txRing
	// kickWait makes ring kicks wait in the kernel until every frame has
	// left (no MSG_DONTWAIT; a blocking call through unix.Syscall6).
	kickWait bool
	closed   bool
	pad      *padder // PacketConfig.Pad
}

// packetOptions are knobs kept unexported: the package benchmarks measure
// them, NewPacket uses the fastest.
type packetOptions struct {
	version  int  // unix.TPACKET_V2 or unix.TPACKET_V3
	kickWait bool // see Packet.kickWait
	blocking bool // see sock.blocking
}

// NewPacket opens an AF_PACKET socket in the network namespace of the
// calling thread (lock the thread with runtime.LockOSThread if it was put
// in a namespace), binds it to cfg.Ifindex and preallocates the sendmmsg
// batch or maps the TX ring.
func NewPacket(cfg PacketConfig) (*Packet, error) {
	return newPacket(cfg, packetOptions{version: unix.TPACKET_V2})
}

func newPacket(cfg PacketConfig, opt packetOptions) (*Packet, error) {
	if cfg.Mode < PacketSendto || cfg.Mode > PacketRing {
		return nil, fmt.Errorf("tx packet: mode %v: want PacketSendto, PacketSendmmsg or PacketRing", cfg.Mode)
	}
	if err := checkCommon("packet", cfg.Batch, cfg.SndBuf, cfg.RetryLimit); err != nil {
		return nil, err
	}
	batch := max(cfg.Batch, 1)
	if cfg.Mode == PacketSendto && batch != 1 {
		return nil, fmt.Errorf("tx packet: Batch %d with mode sendto, which sends one frame per call: use Batch 1, or mode sendmmsg or ring", batch)
	}
	mf := cfg.MaxFrame
	if mf == 0 {
		mf = DefaultMaxFrame
	}
	if mf < ethHeader || mf > maxFrame {
		return nil, fmt.Errorf("tx packet: MaxFrame %d out of range: want %d..%d bytes (0 means %d)", mf, ethHeader, maxFrame, DefaultMaxFrame)
	}
	slots := cfg.RingFrames
	if cfg.Mode == PacketRing {
		if slots == 0 {
			slots = defaultRingFrames(batch, mf)
		}
		if slots < batch {
			return nil, fmt.Errorf("tx packet: RingFrames %d smaller than Batch %d: want at least Batch (2*Batch lets a batch fill while the last drains)", slots, batch)
		}
	}
	ifi, err := net.InterfaceByIndex(cfg.Ifindex)
	if err != nil {
		return nil, fmt.Errorf("tx packet: interface index %d not found in this thread's network namespace: %w", cfg.Ifindex, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tx packet: AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	limit := cfg.RetryLimit
	if limit == 0 {
		limit = DefaultRetryLimit
	}
	p := &Packet{
		sock:     sock{fd: fd, bo: backoff{limit: int64(limit)}, blocking: opt.blocking || opt.kickWait},
		mode:     cfg.Mode,
		batch:    batch,
		max:      min(mf, ifi.MTU+ethHeader),
		maxVLAN:  min(mf, ifi.MTU+ethHeader+vlanTag),
		kickWait: opt.kickWait,
	}
	if cfg.Pad {
		p.pad = newPadder(p.max, p.maxVLAN)
	}
	if err := p.setup(cfg, opt, mf, slots); err != nil {
		p.closed = true
		if p.ring != nil {
			_ = p.ring.unmap()
		}
		unix.Close(fd)
		return nil, fmt.Errorf("tx packet on %s: %w", ifi.Name, err)
	}
	return p, nil
}

func (p *Packet) setup(cfg PacketConfig, opt packetOptions, mf, slots int) error {
	if err := setSndBuf(p.fd, cfg.SndBuf); err != nil {
		return err
	}
	if cfg.QdiscBypass {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
		}
	}
	switch cfg.Mode {
	case PacketSendmmsg:
		p.mm = newMmsg(p.batch, mf)
	case PacketRing:
		linear := 0
		if cfg.Linear {
			linear = p.maxVLAN
		}
		r, err := newTxRing(p.fd, opt.version, mf, slots, linear)
		if err != nil {
			return err
		}
		p.ring = r
		if p.kickWait {
			// Bound the kernel's wait for the frames of a kick.
			tv := unix.NsecToTimeval(p.bo.limit)
			if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
				return fmt.Errorf("SO_SNDTIMEO: %w", err)
			}
		}
	}
	// Protocol 0: bound for sending only, no receive hook.
	if err := unix.Bind(p.fd, &unix.SockaddrLinklayer{Ifindex: cfg.Ifindex}); err != nil {
		return fmt.Errorf("bind to ifindex %d: %w", cfg.Ifindex, err)
	}
	return nil
}

// Send implements Sink. The frame is sent (sendto) or copied (sendmmsg,
// ring) before Send returns, so the caller may reuse it.
func (p *Packet) Send(frame []byte, _ int64) error {
	if n := len(frame); n < ethHeader || n > p.max || p.closed {
		if err := p.check(frame); err != nil {
			p.st.Errors++
			return err
		}
	}
	if p.pad != nil {
		f := p.pad.pad(frame)
		p.pad.checksum()
		return p.sendChecked(f)
	}
	return p.sendChecked(frame)
}

// sendChecked is the rest of Send, for a frame that passed its checks.
func (p *Packet) sendChecked(frame []byte) error {
	switch p.mode {
	case PacketSendto:
		return p.sendOne("packet", frame, len(frame))
	case PacketSendmmsg:
		if p.mm.add(frame, len(frame)) {
			return p.flush("packet", p.mm)
		}
		return nil
	default:
		return p.ringSend(frame)
	}
}

// check is the slow path of Send's frame checks.
func (p *Packet) check(frame []byte) error {
	n := len(frame)
	switch {
	case p.closed:
		return errors.New("tx packet: Send after Close")
	case n < ethHeader:
		return fmt.Errorf("tx packet: frame of %d bytes shorter than an Ethernet header (%d)", n, ethHeader)
	case n <= p.maxVLAN && vlanTagged(frame):
		return nil
	default:
		return fmt.Errorf("tx packet: frame of %d bytes longer than %d (MaxFrame, or the interface MTU plus the Ethernet header)", n, p.max)
	}
}

func vlanTagged(frame []byte) bool {
	t := uint16(frame[12])<<8 | uint16(frame[13])
	return t == 0x8100 || t == 0x88a8
}

// ringSend queues frame in the next ring slot and kicks when a batch is
// queued. If that slot is not free (still owned by the kernel, or the ring
// is full of queued frames) it kicks and waits for the slot within
// RetryLimit, counting each wait as a retry; only if the slot stays busy is
// this frame given up.
func (p *Packet) ringSend(frame []byte) error {
	r := p.ring
	var kerr error
	if r.queued == r.n || r.status(r.head)&busy != 0 {
		if r.queued > 0 {
			kerr = p.kick() // frames it gives up are counted there
		}
		if err := p.waitHead(); err != nil {
			p.st.Errors++
			return errors.Join(kerr, err)
		}
	}
	r.push(frame)
	if r.queued >= p.batch {
		return errors.Join(kerr, p.kick())
	}
	return kerr
}

// waitHead waits for the kernel to release the head slot.
func (p *Packet) waitHead() error {
	r := p.ring
	p.bo.reset()
	for r.status(r.head)&busy != 0 {
		if !p.bo.wait() {
			return fmt.Errorf("tx packet: ring slot %d still owned by the kernel after %v (status %#x): the interface is not completing transmissions; raise RetryLimit or RingFrames",
				r.head, time.Duration(p.bo.limit), r.status(r.head))
		}
		p.st.Retries++
	}
	return nil
}

// kick asks the kernel to send the queued ring frames and makes sure it
// took them all: frames left behind for lack of buffer space are kicked
// again with back-off, a frame the kernel refused (TP_STATUS_WRONG_FORMAT)
// is counted in Errors and removed, and frames still queued when the back-off
// is spent are taken back and counted in Errors. It returns the first error.
func (p *Packet) kick() error {
	r := p.ring
	var first error
	p.bo.reset()
	for r.queued > 0 {
		flags := uintptr(unix.MSG_DONTWAIT)
		if p.kickWait {
			flags = 0
		}
		_, errno := p.syscall6(unix.SYS_SENDTO, uintptr(p.fd), 0, 0, flags, 0, 0)
		if p.reap(&first) {
			continue // a refused frame was removed: the rest are sendable
		}
		if r.queued == 0 {
			break
		}
		if errno == 0 || retryable(errno) {
			if p.bo.wait() {
				p.st.Retries++
				continue
			}
			if errno == 0 {
				errno = unix.EAGAIN
			}
		}
		n := r.retract()
		p.st.Errors += int64(n)
		if first == nil {
			first = p.sendErr("packet", "ring send", n, errno)
		}
	}
	return first
}

// reap counts the queued frames the kernel has taken, oldest first, and
// removes the one it refused, if any (reporting true).
func (p *Packet) reap(first *error) bool {
	r := p.ring
	for r.queued > 0 {
		st := r.status(r.sent)
		if st&unix.TP_STATUS_SEND_REQUEST != 0 {
			return false
		}
		if st&unix.TP_STATUS_WRONG_FORMAT != 0 {
			n := r.length(r.sent)
			r.drop()
			p.st.Errors++
			if *first == nil {
				*first = fmt.Errorf("tx packet: the kernel refused a ring frame of %d bytes (TP_STATUS_WRONG_FORMAT): longer than the interface MTU allows, or a malformed header", n)
			}
			return true
		}
		p.st.Packets++
		p.st.Bytes += int64(r.length(r.sent))
		r.sent = r.next(r.sent)
		r.queued--
	}
	return false
}

// Pending implements Batcher: frames queued and not yet handed to the kernel.
func (p *Packet) Pending() int {
	switch {
	case p.mm != nil:
		return p.mm.n
	case p.ring != nil:
		return p.ring.queued
	}
	return 0
}

// Room implements Roomer: how many frames Send queues, this one included,
// before one sends the batch (1: the next Send sends). The ring may also
// send earlier, when its head slot is still the kernel's.
func (p *Packet) Room() int {
	switch {
	case p.mm != nil:
		return len(p.mm.hdrs) - p.mm.n
	case p.ring != nil:
		return min(p.batch, p.ring.n) - p.ring.queued
	}
	return 1
}

// Flush implements Batcher: it sends the queued frames.
func (p *Packet) Flush() error {
	switch {
	case p.closed:
		return nil
	case p.mm != nil && p.mm.n > 0:
		return p.flush("packet", p.mm)
	case p.ring != nil && p.ring.queued > 0:
		return p.kick()
	}
	return nil
}

// Close implements Sink: it flushes, waits (within RetryLimit) for the
// ring frames still in flight, unmaps the ring and closes the socket.
// Closing again does nothing.
func (p *Packet) Close() error {
	if p.closed {
		return nil
	}
	err := p.Flush()
	p.closed = true
	if p.ring != nil {
		p.bo.reset()
		for p.ring.inFlight() {
			if !p.bo.wait() {
				err = errors.Join(err, fmt.Errorf("tx packet: ring frames still in flight after %v at close", time.Duration(p.bo.limit)))
				break
			}
		}
		if uerr := p.ring.unmap(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("tx packet: munmap ring: %w", uerr))
		}
	}
	if cerr := unix.Close(p.fd); cerr != nil {
		err = errors.Join(err, fmt.Errorf("tx packet: close: %w", cerr))
	}
	return err
}

// Stats implements Sink.
func (p *Packet) Stats() Stats { return p.st }
