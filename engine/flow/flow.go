// Package flow runs closed-loop TCP traffic between two network
// namespaces: a bulk transfer (Bulk) sampled with TCP_INFO on the sender's
// socket, and request/response transactions (RequestResponse) timed one by
// one. The sockets are made inside the namespaces (Host.Do) and then used
// from ordinary goroutines; every run is bounded by its Duration, and
// cancelling the context ends it promptly, with every socket closed and
// every goroutine returned before the call does.
package flow

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Host is a place to make sockets: Do runs fn on a thread inside the
// host's network namespace. *topo.Host satisfies it.
type Host interface {
	Do(fn func() error) error
}

// Bounds shared by the configurations.
const (
	// MaxDuration bounds Duration.
	MaxDuration = 10 * time.Minute
	// MaxMessage bounds RRConfig.ReqSize and RespSize.
	MaxMessage = 16 << 20
	// MaxSockBuf bounds SndBuf and RcvBuf (the kernel doubles the value and
	// caps it at net.core.{w,r}mem_max unless SO_*BUFFORCE is used).
	MaxSockBuf = 1 << 30
	// MinSampleEvery bounds BulkConfig.SampleEvery from below.
	MinSampleEvery = time.Millisecond
	// DrainTimeout is how long, after Duration, a run may take to finish:
	// the data still queued to be delivered, the last transaction, closing.
	DrainTimeout = 30 * time.Second
)

// ErrNoData is returned (wrapped) when the server received nothing.
var ErrNoData = errors.New("no data received")

// checkEnds validates what Bulk and RequestResponse share.
func checkEnds(what string, client, server Host, addr netip.Addr, port int, d time.Duration) error {
	switch {
	case client == nil:
		return fmt.Errorf("%s: no client host (want a Host such as *topo.Host)", what)
	case server == nil:
		return fmt.Errorf("%s: no server host (want a Host such as *topo.Host)", what)
	case !addr.IsValid():
		return fmt.Errorf("%s: no server address (want the IPv4 or IPv6 address of an interface in the server's namespace)", what)
	case addr.IsUnspecified() || addr.IsMulticast():
		return fmt.Errorf("%s: server address %s: want a unicast address of an interface in the server's namespace", what, addr)
	case port < 0 || port > 65535:
		return fmt.Errorf("%s: port %d out of range: accepted 1..65535, or 0 to let the kernel pick a free one", what, port)
	case d <= 0:
		return fmt.Errorf("%s: duration %v: a duration > 0 is required (at most %v); it bounds the run", what, d, MaxDuration)
	case d > MaxDuration:
		return fmt.Errorf("%s: duration %v too long: accepted up to %v", what, d, MaxDuration)
	}
	return nil
}

// listen opens a TCP listener on addr:port inside server's namespace.
// rcvbuf > 0 sets SO_RCVBUF before listen(2), so accepted sockets inherit
// it and the window scale is chosen for it.
func listen(ctx context.Context, server Host, addr netip.Addr, port, rcvbuf int) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf <= 0 {
			return nil
		}
		return setInt(rc, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf, "SO_RCVBUF")
	}}
	ap := netip.AddrPortFrom(addr, uint16(port))
	var ln net.Listener
	err := server.Do(func() error {
		var err error
		ln, err = lc.Listen(ctx, "tcp", ap.String())
		return err
	})
	if err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("listening on %s in the server's namespace: %w (the address must belong to an interface of the server's namespace)", ap, err)
		}
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("listening on %s in the server's namespace: %w (pick another port, or 0 to let the kernel pick)", ap, err)
		}
		return nil, fmt.Errorf("listening on %s in the server's namespace: %w", ap, err)
	}
	return ln.(*net.TCPListener), nil
}

// dial connects from inside client's namespace to ap, setting the
// congestion control cc ("" = the namespace's default) and SO_SNDBUF
// (sndbuf > 0) before connect(2).
func dial(ctx context.Context, client Host, ap netip.AddrPort, cc string, sndbuf int) (*net.TCPConn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if sndbuf > 0 {
			if err := setInt(rc, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf, "SO_SNDBUF"); err != nil {
				return err
			}
		}
		if cc != "" {
			return setCC(rc, cc)
		}
		return nil
	}}
	var c net.Conn
	err := client.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", ap.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s from the client's namespace: %w", ap, err)
	}
	return c.(*net.TCPConn), nil
}

func setInt(rc syscall.RawConn, level, opt, v int, name string) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setting %s to %d: %w", name, v, serr)
	}
	return nil
}

// ccAvailable is where the kernel lists the congestion controls it has.
const ccAvailable = "/proc/sys/net/ipv4/tcp_available_congestion_control"

// AvailableCC returns the congestion controls the kernel has loaded
// (modules not loaded yet can still be set by root: the kernel loads them
// on demand).
func AvailableCC() ([]string, error) {
	b, err := os.ReadFile(ccAvailable)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ccAvailable, err)
	}
	return strings.Fields(string(b)), nil
}

// setCC sets TCP_CONGESTION and reads it back.
func setCC(rc syscall.RawConn, cc string) error {
	var serr error
	var got string
	err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc); serr == nil {
			got, serr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		avail, aerr := AvailableCC()
		list := strings.Join(avail, ", ")
		if aerr != nil {
			list = "unknown (" + aerr.Error() + ")"
		}
		return fmt.Errorf("congestion control %q: %w: available: %s (or a module the kernel can load, e.g. tcp_%s)", cc, serr, list, cc)
	}
	if got = strings.TrimRight(got, "\x00"); got != cc {
		return fmt.Errorf("congestion control %q: the socket reports %q after setting it", cc, got)
	}
	return nil
}

// checkCCName rejects names TCP_CONGESTION can never accept.
func checkCCName(cc string) error {
	if cc == "" {
		return nil
	}
	const max = 15 // TCP_CA_NAME_MAX - 1
	if len(cc) > max {
		return fmt.Errorf("congestion control %q: names are at most %d characters", cc, max)
	}
	for _, r := range cc {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("congestion control %q: names are printable ASCII without spaces", cc)
		}
	}
	return nil
}

// tcpInfo reads TCP_INFO of a connection.
func tcpInfo(c *net.TCPConn) (*unix.TCPInfo, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return nil, err
	}
	if ierr != nil {
		return nil, fmt.Errorf("reading TCP_INFO: %w", ierr)
	}
	return info, nil
}

// usec converts a TCP_INFO microsecond field.
func usec(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

// bps returns bits per second of n bytes over d, 0 when d is not positive.
func bps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / d.Seconds()
}

// closedErr reports errors that only say the peer or we closed the
// connection.
func closedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}
