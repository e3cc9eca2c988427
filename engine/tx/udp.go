package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// UDPConfig configures a UDP sink.
type UDPConfig struct {
	// Dst is where every payload goes (the socket is connected to it).
	Dst netip.AddrPort
	// Src, if valid, is bound before connecting (same family as Dst).
	Src netip.AddrPort
	// Batch is the number of datagrams per sendmmsg call, 1..MaxBatch;
	// 0 or 1 sends each with sendto.
	Batch int
	// SndBuf sets SO_SNDBUFFORCE (SO_SNDBUF without CAP_NET_ADMIN) in
	// bytes; 0 leaves the default.
	SndBuf int
	// RetryLimit is the total back-off spent on a datagram (or the rest of
	// a batch) refused with ENOBUFS or EAGAIN before it is given up and
	// counted in Stats.Errors. 0 means DefaultRetryLimit.
	RetryLimit time.Duration
	// MaxFrame is the largest frame whose payload is batched: it sizes the
	// sendmmsg buffers. 0 means DefaultMaxFrame. A longer frame's payload
	// is sent on its own with sendto, after the frames queued before it.
	MaxFrame int
}

// UDP is a Sink sending the UDP payload of Ethernet/IPv4/UDP frames (one
// 802.1Q or 802.1ad tag allowed, IPv4 options skipped, Ethernet padding
// left out) on a UDP socket connected to a fixed destination: the kernel
// builds the headers. Frames that are not an unfragmented IPv4/UDP datagram
// are refused and counted in Stats.Errors. Stats.Bytes counts whole frames,
// as for the other sinks. With Batch > 1 it is a Batcher using sendmmsg.
//
// Like Packet, Send does not allocate, lock or enter the Go scheduler on
// its normal path and retries ENOBUFS and EAGAIN with back-off.
type UDP struct {
	sock
	mm     *mmsg
	closed bool
}

// NewUDP opens a UDP socket in the calling thread's network namespace,
// binds it to cfg.Src if set and connects it to cfg.Dst.
func NewUDP(cfg UDPConfig) (*UDP, error) {
	if !cfg.Dst.IsValid() || cfg.Dst.Port() == 0 || cfg.Dst.Addr().IsUnspecified() {
		return nil, fmt.Errorf("tx udp: destination %v: want an address and a non-zero port", cfg.Dst)
	}
	if err := checkCommon("udp", cfg.Batch, cfg.SndBuf, cfg.RetryLimit); err != nil {
		return nil, err
	}
	mf := cfg.MaxFrame
	if mf == 0 {
		mf = DefaultMaxFrame
	}
	if mf < ethHeader || mf > maxFrame {
		return nil, fmt.Errorf("tx udp: MaxFrame %d out of range: want %d..%d bytes (0 means %d)", mf, ethHeader, maxFrame, DefaultMaxFrame)
	}
	dst := sockaddr(cfg.Dst)
	family := unix.AF_INET6
	if _, ok := dst.(*unix.SockaddrInet4); ok {
		family = unix.AF_INET
	}
	var src unix.Sockaddr
	if cfg.Src.IsValid() {
		src = sockaddr(cfg.Src)
		if _, ok := src.(*unix.SockaddrInet4); ok != (family == unix.AF_INET) {
			return nil, fmt.Errorf("tx udp: source %v and destination %v: want the same address family", cfg.Src, cfg.Dst)
		}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("tx udp: socket: %w", err)
	}
	limit := cfg.RetryLimit
	if limit == 0 {
		limit = DefaultRetryLimit
	}
	u := &UDP{sock: sock{fd: fd, bo: backoff{limit: int64(limit)}}}
	if err := setSndBuf(fd, cfg.SndBuf); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tx udp: %w", err)
	}
	if src != nil {
		if err := unix.Bind(fd, src); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("tx udp: bind to %v: %w", cfg.Src, err)
		}
	}
	if err := unix.Connect(fd, dst); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tx udp: connect to %v: %w", cfg.Dst, err)
	}
	if cfg.Batch > 1 {
		u.mm = newMmsg(cfg.Batch, mf)
	}
	return u, nil
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
}

// Send implements Sink: it sends (or queues a copy of) frame's UDP payload.
func (u *UDP) Send(frame []byte, _ int64) error {
	pl, why := udpPayload(frame)
	if why != udpOK || u.closed {
		u.st.Errors++
		if u.closed {
			return errors.New("tx udp: Send after Close")
		}
		return fmt.Errorf("tx udp: frame of %d bytes refused: %s; want an unfragmented Ethernet/IPv4/UDP frame", len(frame), why)
	}
	if u.mm == nil {
		return u.sendOne("udp", pl, len(frame))
	}
	if len(pl) > u.mm.slot {
		// Too long for a batch slot: send what is queued, then this alone.
		err := u.flush("udp", u.mm)
		return errors.Join(err, u.sendOne("udp", pl, len(frame)))
	}
	if u.mm.add(pl, len(frame)) {
		return u.flush("udp", u.mm)
	}
	return nil
}

// Pending implements Batcher: datagrams queued and not yet sent.
func (u *UDP) Pending() int {
	if u.mm == nil {
		return 0
	}
	return u.mm.n
}

// Flush implements Batcher: it sends the queued datagrams.
func (u *UDP) Flush() error {
	if u.closed || u.mm == nil || u.mm.n == 0 {
		return nil
	}
	return u.flush("udp", u.mm)
}

// Close implements Sink: it flushes and closes the socket. Closing again
// does nothing.
func (u *UDP) Close() error {
	if u.closed {
		return nil
	}
	err := u.Flush()
	u.closed = true
	if cerr := unix.Close(u.fd); cerr != nil {
		err = errors.Join(err, fmt.Errorf("tx udp: close: %w", cerr))
	}
	return err
}

// Stats implements Sink.
func (u *UDP) Stats() Stats { return u.st }

// udpReason says why a frame has no UDP payload to send.
type udpReason uint8

const (
	udpOK udpReason = iota
	udpShort
	udpNotIPv4
	udpBadIHL
	udpNotUDP
	udpFragment
	udpTruncated
	udpBadLength
)

func (r udpReason) String() string {
	switch r {
	case udpOK:
		return "ok"
	case udpShort:
		return "too short for the Ethernet, IPv4 and UDP headers"
	case udpNotIPv4:
		return "not IPv4 (EtherType, or IP version)"
	case udpBadIHL:
		return "IPv4 header length below 20 bytes or past the frame"
	case udpNotUDP:
		return "IPv4 protocol is not UDP (17)"
	case udpFragment:
		return "an IPv4 fragment"
	case udpTruncated:
		return "IPv4 total length past the end of the frame (truncated capture?)"
	default:
		return "UDP length field below 8 or past the IPv4 total length"
	}
}

// udpPayload returns the UDP payload of an Ethernet/IPv4/UDP frame, or why
// there is none. It does not allocate.
func udpPayload(f []byte) ([]byte, udpReason) {
	if len(f) < ethHeader {
		return nil, udpShort
	}
	l3 := ethHeader
	et := binary.BigEndian.Uint16(f[12:])
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < ethHeader+vlanTag {
			return nil, udpShort
		}
		et = binary.BigEndian.Uint16(f[16:])
		l3 += vlanTag
	}
	if et != 0x0800 {
		return nil, udpNotIPv4
	}
	ip := f[l3:]
	if len(ip) < 20+8 {
		return nil, udpShort
	}
	if ip[0]>>4 != 4 {
		return nil, udpNotIPv4
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || ihl+8 > len(ip) {
		return nil, udpBadIHL
	}
	if ip[9] != unix.IPPROTO_UDP {
		return nil, udpNotUDP
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
		return nil, udpFragment
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot > len(ip) {
		return nil, udpTruncated
	}
	if tot < ihl+8 {
		return nil, udpBadLength
	}
	udp := ip[ihl:tot]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return nil, udpBadLength
	}
	return udp[8:ulen], udpOK
}
