package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// BulkConfig describes one bulk transfer: the client sends, the server
// receives and discards.
type BulkConfig struct {
	Client, Server Host       // the namespaces of the sender and the receiver
	Addr           netip.Addr // server address (of an interface in Server's namespace)
	Port           int        // server port; 0 = let the kernel pick a free one
	// Duration bounds the transfer in time: required, > 0 and at most
	// MaxDuration. The client stops writing when it ends; what is still
	// queued is then delivered (within DrainTimeout).
	Duration time.Duration
	// Bytes, when > 0, bounds the transfer in bytes as well: whichever
	// bound comes first ends it.
	Bytes int64
	// CC is the congestion control of the sender's socket (TCP_CONGESTION),
	// "" for the kernel's default. An unknown one is an error listing
	// those available.
	CC string
	// SampleEvery is the TCP_INFO sampling period on the sender's socket:
	// 0 means DefaultSampleEvery; accepted MinSampleEvery..Duration.
	SampleEvery time.Duration
	// Warmup is excluded from SteadyGoodput: the first Warmup after the
	// first byte at the server. Accepted 0..Duration (exclusive).
	Warmup time.Duration
	// SndBuf (sender) and RcvBuf (receiver) set SO_SNDBUF and SO_RCVBUF;
	// 0 leaves the kernel's autotuning. Accepted 0..MaxSockBuf.
	SndBuf, RcvBuf int
}

// DefaultSampleEvery is the TCP_INFO sampling period when
// BulkConfig.SampleEvery is 0.
const DefaultSampleEvery = 10 * time.Millisecond

// InfoSample is one TCP_INFO reading of the sender's socket.
type InfoSample struct {
	At           time.Duration // since the connection was established
	RTT, RTTVar  time.Duration // smoothed RTT and its variation
	Cwnd         uint32        // congestion window, segments
	Retrans      uint32        // tcpi_total_retrans so far
	DeliveryRate float64       // bits/s, tcpi_delivery_rate
}

// BulkResult is what a bulk transfer measured.
type BulkResult struct {
	Bytes         int64         // received by the server
	Sent          int64         // written by the client
	Elapsed       time.Duration // first to last byte at the server
	Goodput       float64       // bits/s of Bytes over Elapsed
	SteadyGoodput float64       // bits/s after Warmup (0 if the transfer ended before)
	Samples       []InfoSample  // periodic, then one at the end
	Retransmits   uint32        // tcpi_total_retrans at the end
	MinRTT, SRTT  time.Duration // tcpi_min_rtt and tcpi_rtt at the end
	CC            string        // the congestion control the sender used
}

// Validate checks c (after defaults are filled in).
func (c BulkConfig) Validate() error {
	_, err := c.normalize()
	return err
}

func (c BulkConfig) normalize() (BulkConfig, error) {
	if err := checkEnds("bulk", c.Client, c.Server, c.Addr, c.Port, c.Duration); err != nil {
		return c, err
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = DefaultSampleEvery
	}
	switch {
	case c.Bytes < 0:
		return c, fmt.Errorf("bulk: bytes %d: accepted > 0 to bound the transfer, or 0 for no byte bound", c.Bytes)
	case c.SampleEvery < MinSampleEvery || c.SampleEvery > c.Duration:
		return c, fmt.Errorf("bulk: sample period %v: accepted %v..%v (the duration), or 0 for %v", c.SampleEvery, MinSampleEvery, c.Duration, DefaultSampleEvery)
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return c, fmt.Errorf("bulk: warmup %v: accepted 0 up to (not including) the duration %v", c.Warmup, c.Duration)
	case c.SndBuf < 0 || c.SndBuf > MaxSockBuf:
		return c, fmt.Errorf("bulk: send buffer %d: accepted 1..%d bytes, or 0 for autotuning", c.SndBuf, MaxSockBuf)
	case c.RcvBuf < 0 || c.RcvBuf > MaxSockBuf:
		return c, fmt.Errorf("bulk: receive buffer %d: accepted 1..%d bytes, or 0 for autotuning", c.RcvBuf, MaxSockBuf)
	}
	if err := checkCCName(c.CC); err != nil {
		return c, fmt.Errorf("bulk: %w", err)
	}
	return c, nil
}

// bulkServed is what the server side saw.
type bulkServed struct {
	bytes       int64
	first, last time.Time
	warmed      bool  // a read ended at or after first+warmup
	warmBytes   int64 // bytes read before that read
	err         error
}

// Bulk runs one bulk transfer from c.Client to c.Server and returns what
// it measured. It returns when the server has received everything the
// client wrote, or when ctx is cancelled: then the sockets are closed, and
// the result so far comes back with an error wrapping ctx's. The whole call
// is bounded by c.Duration + DrainTimeout.
func Bulk(ctx context.Context, c BulkConfig) (BulkResult, error) {
	var res BulkResult
	c, err := c.normalize()
	if err != nil {
		return res, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.Duration+DrainTimeout)
	defer cancel()

	ln, err := listen(ctx, c.Server, c.Addr, c.Port, c.RcvBuf)
	if err != nil {
		return res, fmt.Errorf("bulk: %w", err)
	}
	defer ln.Close()
	served := make(chan bulkServed, 1)
	go func() { served <- serveBulk(ctx, ln, c.Warmup) }()

	ap := netip.AddrPortFrom(c.Addr, uint16(ln.Addr().(*net.TCPAddr).Port))
	conn, err := dial(ctx, c.Client, ap, c.CC, c.SndBuf)
	if err != nil {
		ln.Close()
		<-served
		return res, fmt.Errorf("bulk: %w", err)
	}
	start := time.Now()
	defer conn.Close()
	stopClose := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopClose()
	res.CC = ccOf(conn)

	// Sampler: TCP_INFO every SampleEvery until stopped.
	var samples []InfoSample
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(c.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			info, err := tcpInfo(conn)
			if err != nil {
				return // closed: cancelled, or the end
			}
			samples = append(samples, sampleOf(info, time.Since(start)))
		}
	}()

	// Writer, on this goroutine.
	buf := make([]byte, 128<<10)
	var werr error
	end := start.Add(c.Duration)
	if err := conn.SetWriteDeadline(end); err != nil {
		werr = err
	}
	for werr == nil && (c.Bytes == 0 || res.Sent < c.Bytes) && time.Now().Before(end) {
		b := buf
		if c.Bytes > 0 && c.Bytes-res.Sent < int64(len(b)) {
			b = b[:c.Bytes-res.Sent]
		}
		n, err := conn.Write(b)
		res.Sent += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		werr = err
	}
	if werr == nil {
		werr = conn.CloseWrite()
	}
	if werr != nil {
		conn.Close() // the server sees the end instead of waiting for it
	}
	r := <-served

	close(stopSampling)
	<-sampled
	res.Samples = samples
	if info, err := tcpInfo(conn); err == nil {
		s := sampleOf(info, time.Since(start))
		res.Samples = append(res.Samples, s)
		res.Retransmits = info.Total_retrans
		res.SRTT = s.RTT
		res.MinRTT = usec(info.Min_rtt)
	}
	if res.MinRTT == 0 {
		for _, s := range res.Samples {
			if s.RTT > 0 && (res.MinRTT == 0 || s.RTT < res.MinRTT) {
				res.MinRTT = s.RTT
			}
		}
	}

	res.Bytes = r.bytes
	if r.bytes > 0 {
		res.Elapsed = r.last.Sub(r.first)
		res.Goodput = bps(r.bytes, res.Elapsed)
		if c.Warmup == 0 {
			res.SteadyGoodput = res.Goodput
		} else if r.warmed {
			res.SteadyGoodput = bps(r.bytes-r.warmBytes, r.last.Sub(r.first.Add(c.Warmup)))
		}
	}

	switch {
	case parent.Err() != nil:
		return res, fmt.Errorf("bulk: cancelled after %v (%d bytes received): %w", time.Since(start).Round(time.Millisecond), res.Bytes, context.Cause(parent))
	case ctx.Err() != nil:
		return res, fmt.Errorf("bulk: not finished %v after the duration %v ended (%d of %d bytes received): the receiver is stuck or the path is far too slow for the data queued", DrainTimeout, c.Duration, res.Bytes, res.Sent)
	case werr != nil:
		return res, fmt.Errorf("bulk: sending after %d bytes: %w", res.Sent, werr)
	case r.err != nil:
		return res, fmt.Errorf("bulk: receiving after %d bytes: %w", res.Bytes, r.err)
	case res.Bytes == 0:
		return res, fmt.Errorf("bulk: %w in %v", ErrNoData, c.Duration)
	case res.Bytes != res.Sent:
		return res, fmt.Errorf("bulk: the server received %d bytes but the client wrote %d", res.Bytes, res.Sent)
	}
	return res, nil
}

// serveBulk accepts one connection on ln and reads it to the end.
func serveBulk(ctx context.Context, ln *net.TCPListener, warmup time.Duration) (r bulkServed) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	conn, err := ln.Accept()
	stop()
	ln.Close() // one connection only
	if err != nil {
		r.err = fmt.Errorf("accepting: %w", err)
		return r
	}
	defer conn.Close()
	stop = context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 256<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			now := time.Now()
			if r.bytes == 0 {
				r.first = now
			}
			if !r.warmed && now.Sub(r.first) >= warmup {
				r.warmed, r.warmBytes = true, r.bytes
			}
			r.bytes += int64(n)
			r.last = now
		}
		if err == io.EOF {
			return r
		}
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			r.err = err
			return r
		}
	}
}

func sampleOf(i *unix.TCPInfo, at time.Duration) InfoSample {
	return InfoSample{
		At:           at,
		RTT:          usec(i.Rtt),
		RTTVar:       usec(i.Rttvar),
		Cwnd:         i.Snd_cwnd,
		Retrans:      i.Total_retrans,
		DeliveryRate: float64(i.Delivery_rate) * 8,
	}
}

// ccOf reads TCP_CONGESTION of a connection, "" if it cannot.
func ccOf(c *net.TCPConn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return ""
	}
	var cc string
	rc.Control(func(fd uintptr) {
		cc, _ = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	})
	return strings.TrimRight(cc, "\x00")
}
