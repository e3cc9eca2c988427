package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Iperf3 is one iperf3 test: a one-off server (-s -1) and a TCP client
// that reports in JSON (-J).
type Iperf3 struct {
	// Duration is the test's length (-t): whole seconds, 1s..MaxIperf3.
	// It is required also with Bytes, where it bounds RunIperf3's wait.
	Duration time.Duration
	Port     int  // -p; 0 means 5201
	Reverse  bool // -R: the server sends, the client receives
	CC       string
	// Bytes, when > 0, ends the test after that many bytes (-n) instead
	// of after Duration: iperf3 takes only one end condition.
	Bytes int64
	Extra []string // appended to the client's arguments
}

// Iperf3 bounds.
const (
	DefaultIperf3Port = 5201
	MaxIperf3         = 10 * time.Minute
	// iperf3Grace is how long after Duration RunIperf3 waits for the
	// client before stopping everything.
	iperf3Grace = 15 * time.Second
	// iperf3ListenTimeout bounds the wait for the server to listen.
	iperf3ListenTimeout = 5 * time.Second
)

// Validate checks the test.
func (c Iperf3) Validate() error {
	switch {
	case c.Duration <= 0 || c.Duration > MaxIperf3 || c.Duration%time.Second != 0:
		return fmt.Errorf("iperf3: duration %v: accepted whole seconds from 1s to %v (iperf3 -t takes seconds; required also with bytes, as a bound)", c.Duration, MaxIperf3)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("iperf3: port %d: accepted 1..65535, or 0 for %d", c.Port, DefaultIperf3Port)
	case c.Bytes < 0:
		return fmt.Errorf("iperf3: bytes %d: accepted > 0 (-n, instead of -t), or 0 to run for the duration", c.Bytes)
	case len(c.CC) > 15 || strings.ContainsFunc(c.CC, func(r rune) bool { return r <= ' ' || r > '~' }):
		return fmt.Errorf("iperf3: congestion control %q: a kernel name (see /proc/sys/net/ipv4/tcp_available_congestion_control) of at most 15 printable characters", c.CC)
	}
	return nil
}

func (c Iperf3) port() int {
	if c.Port == 0 {
		return DefaultIperf3Port
	}
	return c.Port
}

// ServerArgs is the server's command line (without the program name): one
// test (-1), bound to addr.
func (c Iperf3) ServerArgs(addr netip.Addr) []string {
	return []string{"-s", "-1", "-B", addr.String(), "-p", strconv.Itoa(c.port())}
}

// ClientArgs is the client's command line (without the program name) for
// a server at addr: -t seconds (or -n bytes), JSON output, then -R, -C and
// Extra when set.
func (c Iperf3) ClientArgs(addr netip.Addr) []string {
	a := []string{"-c", addr.String(), "-p", strconv.Itoa(c.port())}
	if c.Bytes > 0 {
		a = append(a, "-n", strconv.FormatInt(c.Bytes, 10))
	} else {
		a = append(a, "-t", strconv.FormatInt(int64(c.Duration/time.Second), 10))
	}
	a = append(a, "-J")
	if c.Reverse {
		a = append(a, "-R")
	}
	if c.CC != "" {
		a = append(a, "-C", c.CC)
	}
	return append(a, c.Extra...)
}

// Iperf3Result is what the client's JSON reports.
type Iperf3Result struct {
	Goodput       float64 // bits/s received (end.sum_received)
	SentBps       float64 // bits/s sent (end.sum_sent)
	BytesReceived int64
	BytesSent     int64
	Seconds       float64 // of sum_received
	Retransmits   int64   // end.sum_sent.retransmits
	// RTTs of the sender's socket over all streams (mean of the means);
	// zero when the client did not send (Reverse): iperf3 reports them
	// only on the sending side.
	MeanRTT, MinRTT, MaxRTT time.Duration
	SenderCC                string // end.sender_tcp_congestion
}

type iperf3Sum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
}

type iperf3JSON struct {
	Error string `json:"error"`
	End   struct {
		Streams []struct {
			Sender struct {
				MaxRTT  int64 `json:"max_rtt"`
				MinRTT  int64 `json:"min_rtt"`
				MeanRTT int64 `json:"mean_rtt"`
			} `json:"sender"`
		} `json:"streams"`
		SumSent     *iperf3Sum `json:"sum_sent"`
		SumReceived *iperf3Sum `json:"sum_received"`
		SenderCC    string     `json:"sender_tcp_congestion"`
	} `json:"end"`
}

// ParseIperf3JSON reads the JSON an iperf3 TCP client prints with -J. An
// "error" member (iperf3 reports failures there) is an error, and so is a
// report without end.sum_received.
func ParseIperf3JSON(b []byte) (Iperf3Result, error) {
	var r Iperf3Result
	var j iperf3JSON
	if err := json.Unmarshal(b, &j); err != nil {
		return r, fmt.Errorf("iperf3: output is not its JSON report (-J): %w", err)
	}
	if j.Error != "" {
		return r, fmt.Errorf("iperf3: %s", j.Error)
	}
	if j.End.SumReceived == nil || j.End.SumSent == nil {
		return r, fmt.Errorf("iperf3: the JSON report has no end.sum_received and end.sum_sent (a UDP test, or the test did not end)")
	}
	r.Goodput, r.BytesReceived, r.Seconds = j.End.SumReceived.BitsPerSecond, j.End.SumReceived.Bytes, j.End.SumReceived.Seconds
	r.SentBps, r.BytesSent, r.Retransmits = j.End.SumSent.BitsPerSecond, j.End.SumSent.Bytes, j.End.SumSent.Retransmits
	r.SenderCC = j.End.SenderCC
	var sum time.Duration
	n := 0
	for _, s := range j.End.Streams {
		if s.Sender.MeanRTT <= 0 {
			continue
		}
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		sum += us(s.Sender.MeanRTT)
		n++
		if r.MinRTT == 0 || us(s.Sender.MinRTT) < r.MinRTT {
			r.MinRTT = us(s.Sender.MinRTT)
		}
		r.MaxRTT = max(r.MaxRTT, us(s.Sender.MaxRTT))
	}
	if n > 0 {
		r.MeanRTT = sum / time.Duration(n)
	}
	return r, nil
}

// RunIperf3 runs one test: the server in the network namespace at path
// server (topo.Host.NSPath), bound to addr; once it listens, the client in
// the namespace at path client; then it stops the server (by its PID, if
// still running) and parses the client's report. It is bounded by
// cfg.Duration plus a grace period, and cancelling ctx stops both tools.
func RunIperf3(ctx context.Context, cfg Iperf3, server, client string, addr netip.Addr) (Iperf3Result, error) {
	if err := cfg.Validate(); err != nil {
		return Iperf3Result{}, err
	}
	if !addr.IsValid() {
		return Iperf3Result{}, fmt.Errorf("iperf3: no server address (want an address of the server's namespace)")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+iperf3ListenTimeout+iperf3Grace)
	defer cancel()

	var srvOut, srvErr bytes.Buffer
	srv, err := Start(ctx, "iperf3", cfg.ServerArgs(addr), server, &srvOut, &srvErr)
	if err != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 server: %w", err)
	}
	defer srv.Stop(2 * time.Second)
	if err := waitListening(ctx, srv, addr, cfg.port(), iperf3ListenTimeout); err != nil {
		srv.Stop(2 * time.Second)
		return Iperf3Result{}, fmt.Errorf("iperf3 server (%s): %w%s", strings.Join(cfg.ServerArgs(addr), " "), err, tail(srvOut.String()+srvErr.String()))
	}

	var out, errOut bytes.Buffer
	cl, err := Start(ctx, "iperf3", cfg.ClientArgs(addr), client, &out, &errOut)
	if err != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 client: %w", err)
	}
	code, werr := cl.Wait()
	srvEarly := srv.Early()
	srv.Stop(2 * time.Second)
	if srvEarly != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 server: %w", srvEarly)
	}
	if ctx.Err() != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 client stopped: %w", context.Cause(ctx))
	}
	if werr != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 client: %w", werr)
	}
	r, err := ParseIperf3JSON(out.Bytes())
	if early := cl.Early(); err != nil && early != nil {
		// No report: say how the client ended (iperf3 -J reports its own
		// errors in the JSON, so a report with an error is read below).
		return r, fmt.Errorf("iperf3 client: %w", early)
	}
	if err != nil {
		return r, fmt.Errorf("%w (client exit status %d)%s", err, code, tail(errOut.String()))
	}
	if code != 0 {
		return r, fmt.Errorf("iperf3 client: exit status %d%s", code, tail(errOut.String()))
	}
	return r, nil
}

// tail formats the end of a tool's output for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > 500 {
		s = "..." + s[len(s)-500:]
	}
	return ": " + s
}

// waitListening polls the TCP sockets of p's namespace (/proc/PID/net/tcp
// or tcp6) until one listens on addr:port. It fails when p ends first,
// ctx ends, or timeout passes. Connecting to find out would use up the
// one test of a server started with -1.
func waitListening(ctx context.Context, p *Proc, addr netip.Addr, port int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := listening(p.PID(), addr, port)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("ended before listening on %s", netip.AddrPortFrom(addr, uint16(port)))
		case <-ctx.Done():
			return fmt.Errorf("waiting for it to listen: %w", context.Cause(ctx))
		case <-t.C:
			return fmt.Errorf("not listening on %s after %v", netip.AddrPortFrom(addr, uint16(port)), timeout)
		case <-tick.C:
		}
	}
}

// listening reports whether a socket of pid's network namespace listens
// on addr:port.
func listening(pid int, addr netip.Addr, port int) (bool, error) {
	file := "tcp"
	if !addr.Is4() {
		file = "tcp6"
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/" + file)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // the process has just ended
	}
	if err != nil {
		return false, fmt.Errorf("reading its sockets: %w", err)
	}
	defer f.Close()
	want := procNetAddr(addr) + ":" + fmt.Sprintf("%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 3 && fs[1] == want && fs[3] == "0A" { // TCP_LISTEN
			return true, nil
		}
	}
	return false, sc.Err()
}

// procNetAddr formats an address as /proc/net/tcp{,6} shows it: each
// 32-bit word of the network-order address printed as a host-order
// integer.
func procNetAddr(a netip.Addr) string {
	var b []byte
	if a.Is4() {
		v := a.As4()
		b = v[:]
	} else {
		v := a.As16()
		b = v[:]
	}
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:i+4]))
	}
	return s.String()
}
