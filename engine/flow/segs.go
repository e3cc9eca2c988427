package flow

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/rx"
)

// Seg is one TCP data segment as it arrived at the receiver.
type Seg struct {
	At    int64  // arrival, clock.Now scale (the kernel's receive stamp)
	Seq   uint32 // sequence number of its first payload byte
	Len   uint16 // payload bytes
	SPort uint16 // the sender's port: tells the flows to one port apart
}

// SegLog records the data segments of the TCP flows to one port as the
// receiver's AF_PACKET ring hands them over: Tap is an rx.Config.Tap. The
// log is allocated once, up front; segments past its capacity are counted
// in Overflow, not kept.
type SegLog struct {
	port uint16
	segs []Seg
	n    int
	// Acks counts frames of the flows to the port without payload (SYN,
	// FIN and pure ACKs); Overflow data segments past the log's capacity.
	Acks, Overflow uint64
}

// MaxSegLog bounds a SegLog's capacity.
const MaxSegLog = 50_000_000

// NewSegLog makes a log for up to capacity data segments sent to port.
func NewSegLog(port, capacity int) (*SegLog, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("segment log: port %d: accepted 1..65535", port)
	}
	if capacity < 1 || capacity > MaxSegLog {
		return nil, fmt.Errorf("segment log: capacity %d: accepted 1..%d segments", capacity, MaxSegLog)
	}
	l := &SegLog{port: uint16(port), segs: make([]Seg, capacity)}
	for i := 0; i < len(l.segs); i += 256 {
		l.segs[i] = Seg{} // fault the pages in now, not in the drain loop
	}
	return l, nil
}

// Frame header offsets: Ethernet II, IPv4, TCP.
const (
	ethLen     = 14
	ipProtoTCP = 6
)

// Tap looks at one received frame and logs it if it is a TCP segment with
// payload to the log's port. It does not allocate.
func (l *SegLog) Tap(f []byte, _ int, at int64) {
	if len(f) < ethLen+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != ipProtoTCP || len(ip) < ihl+20 {
		return
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	tcp := ip[ihl:]
	if binary.BigEndian.Uint16(tcp[2:]) != l.port {
		return
	}
	payload := total - ihl - int(tcp[12]>>4)*4
	if payload <= 0 {
		l.Acks++
		return
	}
	if l.n == len(l.segs) {
		l.Overflow++
		return
	}
	l.segs[l.n] = Seg{At: at, Seq: binary.BigEndian.Uint32(tcp[4:]), Len: uint16(payload), SPort: binary.BigEndian.Uint16(tcp[0:])}
	l.n++
}

// Segs returns the logged segments in arrival order. Call it once the
// receiver has stopped.
func (l *SegLog) Segs() []Seg { return l.segs[:l.n] }

// Precision is Caliper's figure of merit for one TCP flow at the receiver:
// the error |requested inter-transmission - measured inter-arrival| of
// every pair of consecutive new data segments.
type Precision struct {
	SPort    uint16 // the flow measured: the one that carried the most payload
	Segments int    // its new data segments (first transmissions)
	Retrans  int    // its segments that ended at or below its highest byte so far (retransmissions)
	Flows    int    // flows to the port that carried payload (iperf3: control + data)
	Bytes    int64  // new payload bytes
	Pairs    int    // errors measured (Segments - 1)
	// Quantiles and mean of |error|.
	P50, P95, P99, Max, Mean time.Duration
	Span                     time.Duration // first to last new segment
	SegRate                  float64       // new segments per second over Span
	PayloadBps               float64       // new payload bits per second over Span
	// Sizes: segments whose payload was not the most common payload size
	// (writes merged or split).
	OddSizes int
	MSS      int // the most common payload size
}

// MeasurePrecision computes Caliper's metric over segs (arrival order)
// against the requested inter-transmission gap. Only the flow that carried
// the most payload is measured; a segment that ends at or below the
// highest byte the flow had carried before is a retransmission (also one
// that fills the hole of a segment lost before the receiver saw it),
// counted and left out (the pair is then taken from the previous new
// segment). It returns the zero value
// when no flow carried payload.
func MeasurePrecision(segs []Seg, gap time.Duration) Precision {
	var p Precision
	bytes := map[uint16]int64{}
	for _, s := range segs {
		bytes[s.SPort] += int64(s.Len)
	}
	p.Flows = len(bytes)
	var best int64
	for port, b := range bytes {
		if b > best || (b == best && port < p.SPort) {
			p.SPort, best = port, b
		}
	}
	if best == 0 {
		return p
	}
	var errs []int64
	sizes := map[uint16]int{}
	var high uint32 // end of the highest payload seen
	var first, last, firstLen int64
	started := false
	for _, s := range segs {
		if s.SPort != p.SPort {
			continue
		}
		end := s.Seq + uint32(s.Len)
		if started && int32(end-high) <= 0 {
			p.Retrans++
			continue
		}
		sizes[s.Len]++
		if started {
			e := s.At - last - int64(gap)
			errs = append(errs, max(e, -e))
			p.Bytes += int64(int32(end - high))
		} else {
			first, firstLen = s.At, int64(s.Len)
			p.Bytes += firstLen
		}
		started, high, last = true, end, s.At
		p.Segments++
	}
	for sz, n := range sizes {
		if n > sizes[uint16(p.MSS)] || (n == sizes[uint16(p.MSS)] && int(sz) > p.MSS) {
			p.MSS = int(sz)
		}
	}
	p.OddSizes = p.Segments - sizes[uint16(p.MSS)]
	p.Span = time.Duration(last - first)
	if p.Span > 0 {
		p.SegRate = float64(p.Segments-1) / p.Span.Seconds()
		p.PayloadBps = float64(p.Bytes-firstLen) * 8 / p.Span.Seconds()
	}
	p.Pairs = len(errs)
	if len(errs) == 0 {
		return p
	}
	var sum float64
	for _, e := range errs {
		sum += float64(e)
	}
	slices.Sort(errs)
	p.P50 = time.Duration(measure.Quantile(errs, 0.50))
	p.P95 = time.Duration(measure.Quantile(errs, 0.95))
	p.P99 = time.Duration(measure.Quantile(errs, 0.99))
	p.Max = time.Duration(errs[len(errs)-1])
	p.Mean = time.Duration(sum / float64(len(errs)))
	return p
}

// SegReceiver is an rx.Receiver on the server's interface whose tap logs
// the data segments to one port.
type SegReceiver struct {
	Log *SegLog
	rcv *rx.Receiver
}

// SegQuiet is how long without a frame ends a SegReceiver's Stop once the
// flow has ended (the ring hands a part-filled block over within about
// 128 ms).
const SegQuiet = 300 * time.Millisecond

// OpenSegReceiver opens and starts a receiver on ifindex inside h's
// namespace, logging up to capacity data segments sent to port; cpu pins
// its thread (-1: not pinned).
func OpenSegReceiver(h Host, ifindex, port, capacity, cpu int) (*SegReceiver, error) {
	log, err := NewSegLog(port, capacity)
	if err != nil {
		return nil, err
	}
	// Room for every segment and its ACK at 128 B each.
	ring := min(max(2*capacity*128, 8<<20), 512<<20)
	var r *rx.Receiver
	if err := h.Do(func() error {
		r, err = rx.Open(rx.Config{Ifindex: ifindex, RingBytes: ring, CPU: cpu, Tap: log.Tap})
		return err
	}); err != nil {
		return nil, fmt.Errorf("segment receiver: %w", err)
	}
	r.Start()
	return &SegReceiver{Log: log, rcv: r}, nil
}

// Stop waits until no frame has arrived for SegQuiet (at most bound), stops
// the receiver and returns the logged segments and the frames the kernel
// dropped because the ring was full.
func (s *SegReceiver) Stop(bound time.Duration) (segs []Seg, kernelDrops uint64, err error) {
	// Nothing carries labrun's mark: only quiet or the bound ends the wait.
	res, err := s.rcv.Stop(1<<62, SegQuiet, bound)
	if res != nil {
		kernelDrops = res.KernelDrops
	}
	return s.Log.Segs(), kernelDrops, err
}

// Close releases the receiver without a result (error paths).
func (s *SegReceiver) Close() error { return s.rcv.Close() }
