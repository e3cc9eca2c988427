package link

import (
	"errors"
	"fmt"
	"math"
)

// Fate is what the link model decided for one packet.
type Fate uint8

// The fates of a packet.
const (
	Deliver   Fate = iota // released at its release time
	DropQueue             // the link queue was full at arrival (packets or bytes limit)
	DropLoss              // the loss model dropped it
)

// String returns "deliver", "drop-queue" or "drop-loss".
func (f Fate) String() string {
	switch f {
	case Deliver:
		return "deliver"
	case DropQueue:
		return "drop-queue"
	case DropLoss:
		return "drop-loss"
	}
	return fmt.Sprintf("fate(%d)", uint8(f))
}

// Model defaults and limits.
const (
	// DefaultOverhead is Ethernet's per-frame framing not counted in the
	// frame length: preamble 7 + start delimiter 1 + FCS 4 + inter-frame
	// gap 12 bytes.
	DefaultOverhead = 24
	// DefaultQueuePackets is the queue limit of a bandwidth-limited link
	// with neither limit set (netem's default limit).
	DefaultQueuePackets = 1000
	// MaxFrame is the largest frame length Admit accepts; longer lengths
	// are treated as MaxFrame, negative ones as 0.
	MaxFrame = 1 << 16
	// MaxOverhead bounds Config.Overhead.
	MaxOverhead = 1 << 16
	// MaxQueueEntries bounds the preallocated queue: QueuePackets, or
	// QueueBytes/QueueMinFrame+1 when only bytes are limited.
	MaxQueueEntries = 1 << 22
	// QueueMinFrame is the frame length assumed to size a queue limited
	// only in bytes. If frames shorter than it fill all its entries, a
	// further arrival is dropped as DropQueue even under the byte limit.
	QueueMinFrame = 60
)

// Config describes one direction of an emulated link: a loss model, a
// link queue in front of a link of limited bandwidth, and a delay line.
// The zero Config is a link that delivers every packet at once.
type Config struct {
	// Bandwidth is the link's rate in bits per second; 0 means no
	// bandwidth limit (no serialization, no queue). Otherwise it must be
	// in [MinBandwidth, MaxBandwidth]; it is used with a resolution of
	// 0.001 bit/s.
	Bandwidth float64
	// Overhead is the number of framing bytes added to every frame's
	// length for serialization (Ethernet: DefaultOverhead = 24); 0 means 0.
	Overhead int
	// QueuePackets limits the link queue in packets; 0 means no packet
	// limit.
	QueuePackets int
	// QueueBytes limits the link queue in bytes (frame lengths, without
	// Overhead); 0 means no byte limit. If the link is bandwidth-limited
	// and both limits are 0, NewModel uses DefaultQueuePackets.
	QueueBytes int64
	// Delay is the distribution of the extra delay t_D added after the
	// link; nil means 0.
	Delay Delay
	// Loss is the random or deterministic loss model; nil means none.
	Loss LossModel
	// Rate is a time-varying bandwidth; when set, Bandwidth is ignored.
	Rate *RateSchedule
	// Seed selects the random decisions: the same seed and arrivals give
	// the same fates and release times.
	Seed uint64
}

// limited reports whether the link has a bandwidth limit.
func (c Config) limited() bool { return c.Rate != nil || c.Bandwidth != 0 }

// queueSize returns the packet limit and the FIFO capacity of c, which
// must be limited.
func (c Config) queueSize() (limit int, entries int64) {
	switch {
	case c.QueuePackets > 0:
		return c.QueuePackets, int64(c.QueuePackets)
	case c.QueueBytes > 0:
		n := c.QueueBytes/QueueMinFrame + 1
		return int(min(n, MaxQueueEntries+1)), n
	}
	return DefaultQueuePackets, DefaultQueuePackets
}

// Validate checks c and returns an error that names the bad field and
// the accepted range.
func (c Config) Validate() error {
	var errs []error
	if c.Rate == nil {
		if math.IsNaN(c.Bandwidth) || math.IsInf(c.Bandwidth, 0) || c.Bandwidth < 0 {
			errs = append(errs, fmt.Errorf("bandwidth %v bit/s: want 0 (no limit) or %g <= bandwidth <= %g bit/s", c.Bandwidth, float64(MinBandwidth), float64(MaxBandwidth)))
		} else if err := checkBandwidth("bandwidth", c.Bandwidth, true); err != nil {
			errs = append(errs, fmt.Errorf("%w (0 means no limit)", err))
		}
	}
	if c.Overhead < 0 || c.Overhead > MaxOverhead {
		errs = append(errs, fmt.Errorf("overhead %d bytes: want 0 <= overhead <= %d (Ethernet: %d)", c.Overhead, MaxOverhead, DefaultOverhead))
	}
	if c.QueuePackets < 0 {
		errs = append(errs, fmt.Errorf("queue limit %d packets: want >= 0 (0 means no packet limit)", c.QueuePackets))
	}
	if c.QueueBytes < 0 {
		errs = append(errs, fmt.Errorf("queue limit %d bytes: want >= 0 (0 means no byte limit)", c.QueueBytes))
	}
	if c.QueuePackets > 0 || c.QueueBytes > 0 {
		if !c.limited() {
			errs = append(errs, errors.New("a queue limit is set but the link has no bandwidth limit, so nothing queues: set Bandwidth or Rate, or drop the limit"))
		} else if _, n := c.queueSize(); n > MaxQueueEntries {
			if c.QueuePackets > 0 {
				errs = append(errs, fmt.Errorf("queue limit %d packets: want at most %d", c.QueuePackets, MaxQueueEntries))
			} else {
				errs = append(errs, fmt.Errorf("queue limit %d bytes alone needs %d entries (one per %d bytes): want at most %d; set QueuePackets too or lower QueueBytes", c.QueueBytes, n, QueueMinFrame, MaxQueueEntries))
			}
		}
	}
	if c.Delay != nil {
		if mx, lo := c.Delay.Max(), c.Delay.Quantile(0); mx > int64(DelayLimit) || lo < 0 {
			errs = append(errs, fmt.Errorf("delay %v ranges over [%dns, %dns]: want within [0, %v]", c.Delay, lo, mx, DelayLimit))
		}
	}
	return errors.Join(errs...)
}

// ModelStats counts what a Model decided.
type ModelStats struct {
	Arrived    uint64 // Admit calls
	QueueDrops uint64 // DropQueue fates
	LossDrops  uint64 // DropLoss fates
	Delivered  uint64 // Deliver fates
	Bytes      uint64 // frame bytes delivered (without Overhead)
	// QueuePeakPackets and QueuePeakBytes are the largest queue
	// occupancy seen, counting the admitted packet (including the one
	// being serialized); bytes are frame lengths.
	QueuePeakPackets int
	QueuePeakBytes   int64
}

// Link modes.
const (
	modeNone = iota
	modeFixed
	modeSchedule
)

// Delay kinds for the hot path.
const (
	delayConst = iota
	delayTable
	delayOther
)

type queued struct {
	tl  int64 // exit time, rounded up
	len int64
}

// Model computes each packet's fate and release time (TLEM IV-B to
// IV-D). It is deterministic, does no I/O, never reads the clock and
// does not allocate per packet. It is not safe for concurrent use: one
// goroutine (the input stage) calls Admit.
type Model struct {
	n  uint64 // arrivals so far
	st ModelStats

	loss lossState

	dkind  uint8
	dconst int64
	dtab   *tableDelay
	delay  Delay
	dkey   uint64
	dmax   int64

	mode     uint8
	overhead uint64
	fixed    divider
	tl       int64  // fixed: t_L of the last packet, whole ns
	rem      uint64 // fixed: and its fraction, in 1/Bm ns
	cur      rateCursor

	// The queue: packets admitted whose exit time is after now.
	fifo   []queued
	mask   int
	qh, qn int
	qbytes int64
	qlimP  int
	qlimB  int64

	last int64 // the last release
}

// NewModel validates c and returns its model.
func NewModel(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{last: math.MinInt64, overhead: uint64(c.Overhead)}
	if c.Loss != nil {
		m.loss = c.Loss.newState(c.Seed)
	}
	m.dkey = streamKey(c.Seed, streamDelay)
	switch d := c.Delay.(type) {
	case nil:
	case constDelay:
		m.dconst = d.d
	case *tableDelay:
		m.dkind, m.dtab = delayTable, d
	default:
		m.dkind, m.delay = delayOther, d
	}
	if c.Delay != nil {
		m.dmax = c.Delay.Max()
	}
	if c.limited() {
		if c.Rate != nil {
			m.mode = modeSchedule
			m.cur.s = c.Rate
		} else {
			m.mode = modeFixed
			m.fixed = newDivider(millibits(c.Bandwidth))
			m.tl = math.MinInt64
		}
		lim, n := c.queueSize()
		size := 1
		for int64(size) < n {
			size <<= 1
		}
		m.fifo = make([]queued, size)
		m.mask = size - 1
		m.qlimP = lim
		m.qlimB = c.QueueBytes
		if m.qlimB == 0 {
			m.qlimB = math.MaxInt64
		}
	}
	return m, nil
}

// MaxDelay returns the largest t_D the model can add, in ns.
func (m *Model) MaxDelay() int64 { return m.dmax }

// Stats returns the counts so far.
func (m *Model) Stats() ModelStats { return m.st }

// Admit decides the fate of the next arriving packet, whose arrival
// index i is the number of earlier Admit calls, which arrives at time t
// (monotonic ns, non-decreasing from call to call) with a frame of length
// bytes. It returns the packet's release time in ns, which is meaningful
// only if the fate is Deliver. See the package documentation for the
// order of the decisions.
func (m *Model) Admit(t int64, length int) (release int64, fate Fate) {
	i := m.n
	m.n++
	m.st.Arrived++
	if uint(length) > MaxFrame {
		if length < 0 {
			length = 0
		} else {
			length = MaxFrame
		}
	}
	if m.loss != nil && m.loss.drop(i, length) {
		m.st.LossDrops++
		return 0, DropLoss
	}
	tl := t
	if m.mode != modeNone {
		// Packets that have left the link by t are out of the queue.
		for m.qn > 0 && m.fifo[m.qh].tl <= t {
			m.qbytes -= m.fifo[m.qh].len
			m.qh = (m.qh + 1) & m.mask
			m.qn--
		}
		ln := int64(length)
		if m.qn >= m.qlimP || m.qbytes+ln > m.qlimB {
			m.st.QueueDrops++
			return 0, DropQueue
		}
		n := uint64(length) + m.overhead
		if m.mode == modeFixed {
			if t > m.tl || (t == m.tl && m.rem == 0) {
				m.tl, m.rem = t, 0
			}
			q, r := m.fixed.div(n*(8*bitWork) + m.rem)
			m.tl += int64(q)
			m.rem = r
			tl = m.tl
			if r > 0 {
				tl++
			}
		} else {
			tl = m.cur.serve(t, int(n))
		}
		m.fifo[(m.qh+m.qn)&m.mask] = queued{tl: tl, len: ln}
		m.qn++
		m.qbytes += ln
		if m.qn > m.st.QueuePeakPackets {
			m.st.QueuePeakPackets = m.qn
		}
		if m.qbytes > m.st.QueuePeakBytes {
			m.st.QueuePeakBytes = m.qbytes
		}
	}
	switch m.dkind {
	case delayConst:
		release = tl + m.dconst
	case delayTable:
		x := m.dtab.at(draw53(m.dkey, i))
		if x < 0 {
			x = 0
		}
		release = tl + roundNS(x)
	default:
		release = tl + m.delay.Quantile(uniform(m.dkey, i))
	}
	if release < m.last {
		release = m.last
	}
	m.last = release
	m.st.Delivered++
	m.st.Bytes += uint64(length)
	return release, Deliver
}
