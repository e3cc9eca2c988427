package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"
)

// RRConfig describes request/response transactions over one connection:
// the client writes ReqSize bytes, the server reads them all and answers
// with RespSize bytes, the client reads them all; then the next one.
type RRConfig struct {
	Client, Server Host       // the namespaces of the client and the server
	Addr           netip.Addr // server address (of an interface in Server's namespace)
	Port           int        // server port; 0 = let the kernel pick a free one
	// Requests, when > 0, bounds the number of transactions; 0 means as
	// many as fit in Duration.
	Requests int
	// Duration bounds the run in time: required, > 0 and at most
	// MaxDuration. A transaction not complete when it ends is abandoned
	// and not counted.
	Duration time.Duration
	// ReqSize and RespSize are the message sizes in bytes: 0 means 1;
	// accepted 1..MaxMessage.
	ReqSize, RespSize int
}

// RRResult is what RequestResponse measured.
type RRResult struct {
	Count   int             // completed transactions
	Latency []time.Duration // per transaction, in order: first byte written to last byte read
	Elapsed time.Duration   // start of the first transaction to the end of the last
	// Abandoned is true when Duration ended during a transaction.
	Abandoned bool
}

// Validate checks c (after defaults are filled in).
func (c RRConfig) Validate() error {
	_, err := c.normalize()
	return err
}

func (c RRConfig) normalize() (RRConfig, error) {
	if err := checkEnds("request/response", c.Client, c.Server, c.Addr, c.Port, c.Duration); err != nil {
		return c, err
	}
	if c.ReqSize == 0 {
		c.ReqSize = 1
	}
	if c.RespSize == 0 {
		c.RespSize = 1
	}
	switch {
	case c.Requests < 0:
		return c, fmt.Errorf("request/response: requests %d: accepted > 0 to bound the count, or 0 for as many as fit in the duration", c.Requests)
	case c.ReqSize < 0 || c.ReqSize > MaxMessage:
		return c, fmt.Errorf("request/response: request size %d: accepted 1..%d bytes, or 0 for 1", c.ReqSize, MaxMessage)
	case c.RespSize < 0 || c.RespSize > MaxMessage:
		return c, fmt.Errorf("request/response: response size %d: accepted 1..%d bytes, or 0 for 1", c.RespSize, MaxMessage)
	}
	return c, nil
}

// RequestResponse runs transactions from c.Client to c.Server until
// c.Requests are done or c.Duration ends, whichever comes first. Cancelling
// ctx ends it promptly: the sockets are closed, and the result so far comes
// back with an error wrapping ctx's.
func RequestResponse(ctx context.Context, c RRConfig) (RRResult, error) {
	var res RRResult
	c, err := c.normalize()
	if err != nil {
		return res, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.Duration+DrainTimeout)
	defer cancel()

	ln, err := listen(ctx, c.Server, c.Addr, c.Port, 0)
	if err != nil {
		return res, fmt.Errorf("request/response: %w", err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- serveRR(ctx, ln, c.ReqSize, c.RespSize) }()

	ap := netip.AddrPortFrom(c.Addr, uint16(ln.Addr().(*net.TCPAddr).Port))
	conn, err := dial(ctx, c.Client, ap, "", 0)
	if err != nil {
		ln.Close()
		<-served
		return res, fmt.Errorf("request/response: %w", err)
	}
	defer conn.Close()
	stopClose := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopClose()

	start := time.Now()
	n := c.Requests
	if n == 0 || n > 1<<16 {
		n = 1 << 16
	}
	res.Latency = make([]time.Duration, 0, n)
	req, resp := make([]byte, c.ReqSize), make([]byte, c.RespSize)
	var cerr error
	end := start.Add(c.Duration)
	if err := conn.SetDeadline(end); err != nil {
		cerr = err
	}
	var first, last time.Time
	for cerr == nil && (c.Requests == 0 || res.Count < c.Requests) {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		if _, err := conn.Write(req); err != nil {
			cerr = err
			break
		}
		if _, err := io.ReadFull(conn, resp); err != nil {
			cerr = err
			break
		}
		t1 := time.Now()
		if t1.After(end) { // the deadline's timer was late
			res.Abandoned = true
			break
		}
		if res.Count == 0 {
			first = t0
		}
		last = t1
		res.Latency = append(res.Latency, t1.Sub(t0))
		res.Count++
	}
	if errors.Is(cerr, os.ErrDeadlineExceeded) {
		res.Abandoned, cerr = true, nil
	}
	if res.Count > 0 {
		res.Elapsed = last.Sub(first)
	}
	if cerr == nil && !res.Abandoned {
		cerr = conn.CloseWrite()
	}
	if cerr != nil || res.Abandoned {
		conn.Close() // the server sees the end instead of waiting for it
	}
	serr := <-served
	if res.Abandoned && (closedErr(serr) || errors.Is(serr, io.ErrUnexpectedEOF)) {
		serr = nil // the server was cut off mid-transaction on purpose
	}

	switch {
	case parent.Err() != nil:
		return res, fmt.Errorf("request/response: cancelled after %d transactions: %w", res.Count, context.Cause(parent))
	case ctx.Err() != nil:
		return res, fmt.Errorf("request/response: not finished %v after the duration %v ended (%d transactions)", DrainTimeout, c.Duration, res.Count)
	case cerr != nil:
		return res, fmt.Errorf("request/response: transaction %d: %w", res.Count+1, cerr)
	case serr != nil:
		return res, fmt.Errorf("request/response: server: %w", serr)
	case res.Count == 0:
		return res, fmt.Errorf("request/response: no transaction completed in %v", c.Duration)
	}
	return res, nil
}

// serveRR accepts one connection on ln and answers each request of reqSize
// bytes with respSize bytes until the client closes.
func serveRR(ctx context.Context, ln *net.TCPListener, reqSize, respSize int) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	conn, err := ln.Accept()
	stop()
	ln.Close() // one connection only
	if err != nil {
		return fmt.Errorf("accepting: %w", err)
	}
	defer conn.Close()
	stop = context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req, resp := make([]byte, reqSize), make([]byte, respSize)
	for {
		if _, err := io.ReadFull(conn, req); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		if _, err := conn.Write(resp); err != nil {
			return fmt.Errorf("writing a response: %w", err)
		}
	}
}
