package link

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LossModel decides which packets are lost at random or by a pattern,
// before they reach the link queue (TLEM IV-C). The decision for the
// packet with arrival index i uses only the seed, i and, for the stateful
// models, the decisions for packets 0..i-1, so it is reproducible.
type LossModel interface {
	// String describes the model and its parameters.
	String() string
	// Rate returns the theoretical long-run fraction of packets lost
	// (for BitError, of RateFrame-byte frames; see BitErrorModel.RateFor).
	Rate() float64
	// MeanBurst returns the theoretical mean length of a run of
	// consecutive losses: 0 if the model never loses, +Inf if, once
	// losing, it loses forever.
	MeanBurst() float64
	// newState returns a fresh decision state for one model instance.
	newState(seed uint64) lossState
}

// lossState holds a model's per-link state. drop is called exactly once
// per arrival, with i = 0, 1, 2, ... in order; length is the frame length.
type lossState interface {
	drop(i uint64, length int) bool
}

// RateFrame is the frame length, in bytes, for which BitError's Rate and
// MeanBurst are given.
const RateFrame = 1500

// probErr describes a probability parameter outside [0, 1].
func probErr(model, name string, v float64) error {
	return fmt.Errorf("%s %s = %v out of range: want a probability 0 <= %s <= 1", model, name, v, name)
}

func isProb(v float64) bool { return v >= 0 && v <= 1 }

// ---- Bernoulli ----

type bernoulli struct{ p float64 }

// Bernoulli returns the model that loses each packet independently with
// probability p, 0 <= p <= 1 (netem "loss random").
func Bernoulli(p float64) (LossModel, error) {
	if !isProb(p) {
		return nil, probErr("bernoulli", "p", p)
	}
	return bernoulli{p}, nil
}

func (b bernoulli) String() string { return "bernoulli(p=" + fmtP(b.p) + ")" }
func (b bernoulli) Rate() float64  { return b.p }
func (b bernoulli) MeanBurst() float64 {
	return geomBurst(b.p)
}
func (b bernoulli) newState(seed uint64) lossState {
	return &bernoulliState{key: streamKey(seed, streamLoss), thr: threshold(b.p)}
}

// geomBurst is the mean run length of independent losses of probability p.
func geomBurst(p float64) float64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return math.Inf(1)
	}
	return 1 / (1 - p)
}

type bernoulliState struct{ key, thr uint64 }

func (s *bernoulliState) drop(i uint64, _ int) bool { return draw53(s.key, i) < s.thr }

func fmtP(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// ---- bit errors ----

// BitErrorTable is the largest frame length, in bytes, whose loss
// probability BitError precomputes; longer frames compute it per packet.
const BitErrorTable = 9216

// BitErrorModel loses a frame when any of its bits is corrupted, each
// bit independently with probability BER: a frame of n bytes is lost
// with probability 1-(1-BER)^(8n). Only the frame's own bytes count, not
// the framing overhead.
type BitErrorModel struct {
	BER float64
	thr []uint64 // thresholds for lengths 0..BitErrorTable
}

// BitError returns the bit error model with bit error rate ber,
// 0 <= ber <= 1.
func BitError(ber float64) (LossModel, error) {
	if !isProb(ber) {
		return nil, probErr("biterror", "ber", ber)
	}
	m := &BitErrorModel{BER: ber, thr: make([]uint64, BitErrorTable+1)}
	for n := range m.thr {
		m.thr[n] = threshold(m.RateFor(n))
	}
	return m, nil
}

// RateFor returns the probability that a frame of length bytes is lost.
func (m *BitErrorModel) RateFor(length int) float64 {
	if length <= 0 || m.BER == 0 {
		return 0
	}
	if m.BER == 1 {
		return 1
	}
	return -math.Expm1(8 * float64(length) * math.Log1p(-m.BER))
}

// String describes the model.
func (m *BitErrorModel) String() string { return "biterror(ber=" + fmtP(m.BER) + ")" }

// Rate returns the loss probability of a RateFrame-byte frame.
func (m *BitErrorModel) Rate() float64 { return m.RateFor(RateFrame) }

// MeanBurst returns the mean run of losses of RateFrame-byte frames.
func (m *BitErrorModel) MeanBurst() float64 { return geomBurst(m.Rate()) }

func (m *BitErrorModel) newState(seed uint64) lossState {
	return &bitErrState{m: m, key: streamKey(seed, streamLoss)}
}

type bitErrState struct {
	m   *BitErrorModel
	key uint64
}

func (s *bitErrState) drop(i uint64, length int) bool {
	var t uint64
	if uint(length) <= BitErrorTable {
		t = s.m.thr[length]
	} else if length > 0 {
		t = threshold(s.m.RateFor(length))
	}
	return draw53(s.key, i) < t
}

// ---- Markov chains with per-state loss probability ----

// chain is a finite Markov chain X_0, X_1, ... started in state start,
// where packet i is lost with probability loss[X_i] given X_i. Both
// loss models below are of this form.
type chain struct {
	t     [][]float64
	loss  []float64
	start int
}

// longRun returns the long-run fraction of time in each state, from the
// start state: the stationary distribution of the closed class reached.
func (c chain) longRun() []float64 {
	n := len(c.t)
	// States reachable from start.
	reach := make([]bool, n)
	reach[c.start] = true
	for changed := true; changed; {
		changed = false
		for s := range n {
			if !reach[s] {
				continue
			}
			for s2, p := range c.t[s] {
				if p > 0 && !reach[s2] {
					reach[s2], changed = true, true
				}
			}
		}
	}
	var idx []int
	for s := range n {
		if reach[s] {
			idx = append(idx, s)
		}
	}
	m := len(idx)
	// Solve pi (I - T) = 0 with sum(pi) = 1 on the reachable states:
	// the equation of the last state is replaced by the normalization.
	a := make([][]float64, m)
	for r := range m {
		a[r] = make([]float64, m+1)
		for col := range m {
			if r == m-1 {
				a[r][col] = 1
				continue
			}
			// row r is the balance of state idx[r]: sum_j pi_j (delta - T[j][r]).
			v := -c.t[idx[col]][idx[r]]
			if col == r {
				v += 1
			}
			a[r][col] = v
		}
		if r == m-1 {
			a[r][m] = 1
		}
	}
	pi := make([]float64, n)
	if x, ok := solve(a); ok {
		for k, s := range idx {
			pi[s] = math.Max(0, x[k])
		}
		return pi
	}
	// Singular (several closed classes): average the distribution over
	// many steps instead.
	cur := make([]float64, n)
	next := make([]float64, n)
	cur[c.start] = 1
	const steps = 1 << 18
	for range steps {
		clear(next)
		for s, ps := range cur {
			for s2, p := range c.t[s] {
				next[s2] += ps * p
			}
		}
		cur, next = next, cur
		for s := range n {
			pi[s] += cur[s] / steps
		}
	}
	return pi
}

// solve solves the augmented system a by Gaussian elimination with
// partial pivoting; ok is false if it is singular.
func solve(a [][]float64) ([]float64, bool) {
	m := len(a)
	for c := range m {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		for r := range m {
			if r == c {
				continue
			}
			f := a[r][c] / a[c][c]
			for k := c; k <= m; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	x := make([]float64, m)
	for r := range m {
		x[r] = a[r][m] / a[r][r]
	}
	return x, true
}

// rate is the long-run loss probability.
func (c chain) rate() float64 {
	r := 0.0
	for s, p := range c.longRun() {
		r += p * c.loss[s]
	}
	return r
}

// meanBurst is the long-run mean length of a run of losses: the loss
// rate divided by the probability that a loss is followed by a delivery.
func (c chain) meanBurst() float64 {
	pi := c.longRun()
	lost, ends := 0.0, 0.0
	for s, p := range pi {
		lost += p * c.loss[s]
		next := 0.0
		for s2, q := range c.t[s] {
			next += q * (1 - c.loss[s2])
		}
		ends += p * c.loss[s] * next
	}
	switch {
	case lost <= 0:
		return 0
	case ends <= 0:
		return math.Inf(1)
	}
	return lost / ends
}

// dispersion returns the variance inflation of the loss count of a long
// run relative to independent losses at the same rate:
// 1 + 2 sum_{k>=1} corr(L_0, L_k), summed until the terms vanish (at
// most 1<<20 lags). Dividing both the loss count and the number of
// packets by it gives the effective sample size for a binomial
// confidence interval.
func (c chain) dispersion() float64 {
	pi := c.longRun()
	r := 0.0
	for s, p := range pi {
		r += p * c.loss[s]
	}
	v := r * (1 - r)
	if v <= 0 {
		return 1
	}
	// w_s = P(X_k = s, L_0) evolves as w T; cov_k = sum w_s loss_s - r^2.
	n := len(pi)
	w := make([]float64, n)
	next := make([]float64, n)
	for s, p := range pi {
		w[s] = p * c.loss[s]
	}
	sum := 0.0
	for range 1 << 20 {
		clear(next)
		for s, ws := range w {
			for s2, q := range c.t[s] {
				next[s2] += ws * q
			}
		}
		w, next = next, w
		cov := -r * r
		for s, ws := range w {
			cov += ws * c.loss[s]
		}
		sum += cov
		if math.Abs(cov) < 1e-15*v {
			break
		}
	}
	return max(1, 1+2*sum/v)
}

// ---- Gilbert-Elliott ----

type gilbertElliott struct{ p, r, h1, k1 float64 }

// GilbertElliott returns the two-state Gilbert-Elliott model with the
// semantics of Linux netem's "loss gemodel p r 1-h 1-k": the link starts
// in the good state; p is the probability of moving from good to bad and
// r from bad to good, per packet; oneMinusH is the loss probability in
// the bad state and oneMinusK in the good state. As in sch_netem.c
// (loss_gilb_ell), a packet's loss is decided with the loss probability
// of the state the link is in when it arrives, and the transition is
// taken after that decision, so it applies from the next packet on. Each
// decision uses two independent uniforms, one per stream. All four
// parameters are probabilities in [0, 1]. netem's shorter forms map as:
// Simple Gilbert is (p, r, 1, 0), Bernoulli is (p, 1-p, 1, 0).
//
// Rate is (1-h)p/(p+r) + (1-k)r/(p+r) (1-k if p = r = 0). MeanBurst is
// exact for all parameters: the loss rate divided by the probability
// that a loss is followed by a delivery; for h = 0, k = 1 it is 1/r.
func GilbertElliott(p, r, oneMinusH, oneMinusK float64) (LossModel, error) {
	for _, v := range []struct {
		name string
		v    float64
	}{{"p", p}, {"r", r}, {"1-h", oneMinusH}, {"1-k", oneMinusK}} {
		if !isProb(v.v) {
			return nil, probErr("gilbert-elliott", v.name, v.v)
		}
	}
	return gilbertElliott{p, r, oneMinusH, oneMinusK}, nil
}

func (g gilbertElliott) chain() chain {
	return chain{
		t:    [][]float64{{1 - g.p, g.p}, {g.r, 1 - g.r}},
		loss: []float64{g.k1, g.h1},
	}
}

func (g gilbertElliott) String() string {
	return "gilbert-elliott(p=" + fmtP(g.p) + ", r=" + fmtP(g.r) + ", 1-h=" + fmtP(g.h1) + ", 1-k=" + fmtP(g.k1) + ")"
}
func (g gilbertElliott) Rate() float64      { return g.chain().rate() }
func (g gilbertElliott) MeanBurst() float64 { return g.chain().meanBurst() }
func (g gilbertElliott) newState(seed uint64) lossState {
	return &geState{
		kt: streamKey(seed, streamGETrans), kl: streamKey(seed, streamGELoss),
		move: [2]uint64{threshold(g.p), threshold(g.r)},
		lose: [2]uint64{threshold(g.k1), threshold(g.h1)},
	}
}

type geState struct {
	kt, kl uint64
	bad    uint8     // 0 good, 1 bad
	move   [2]uint64 // threshold to leave the state
	lose   [2]uint64 // threshold to lose a packet in the state
}

func (s *geState) drop(i uint64, _ int) bool {
	b := s.bad
	lost := draw53(s.kl, i) < s.lose[b]
	if draw53(s.kt, i) < s.move[b] {
		s.bad = b ^ 1
	}
	return lost
}

// ---- 4-state Markov ----

type markov4 struct{ p13, p31, p32, p23, p14 float64 }

// Markov4 returns the 4-state Markov loss model of Linux netem's
// "loss state p13 p31 p32 p23 p14" (sch_netem.c, loss_4state). The
// states are 1: delivered in a gap period, 2: delivered in a burst
// period, 3: lost in a burst period, 4: isolated loss in a gap period.
// The chain starts in state 1; each packet first makes one transition,
// drawn with a single uniform, and is lost iff the new state is 3 or 4.
// The transitions are 1->3 (p13), 1->4 (p14), 3->1 (p31), 3->2 (p32),
// 2->3 (p23) and 4->1 (always); the remaining probability stays put.
// Each parameter is in [0, 1], with p13+p14 <= 1 and p31+p32 <= 1.
// Rate is the long-run probability of states 3 and 4, from the
// stationary distribution; MeanBurst the mean run of such states.
func Markov4(p13, p31, p32, p23, p14 float64) (LossModel, error) {
	for _, v := range []struct {
		name string
		v    float64
	}{{"p13", p13}, {"p31", p31}, {"p32", p32}, {"p23", p23}, {"p14", p14}} {
		if !isProb(v.v) {
			return nil, probErr("markov4", v.name, v.v)
		}
	}
	if p13+p14 > 1 {
		return nil, fmt.Errorf("markov4 p13 + p14 = %v: want p13 + p14 <= 1 (they leave state 1)", p13+p14)
	}
	if p31+p32 > 1 {
		return nil, fmt.Errorf("markov4 p31 + p32 = %v: want p31 + p32 <= 1 (they leave state 3)", p31+p32)
	}
	return markov4{p13, p31, p32, p23, p14}, nil
}

func (m markov4) chain() chain {
	// The chain state of packet i is the state after its transition;
	// start is state 1, which is where packet 0's transition begins, so
	// the long-run behaviour is the same.
	return chain{
		t: [][]float64{
			{1 - m.p13 - m.p14, 0, m.p13, m.p14},
			{0, 1 - m.p23, m.p23, 0},
			{m.p31, m.p32, 1 - m.p31 - m.p32, 0},
			{1, 0, 0, 0},
		},
		loss: []float64{0, 0, 1, 1},
	}
}

func (m markov4) String() string {
	return "markov4(p13=" + fmtP(m.p13) + ", p31=" + fmtP(m.p31) + ", p32=" + fmtP(m.p32) + ", p23=" + fmtP(m.p23) + ", p14=" + fmtP(m.p14) + ")"
}
func (m markov4) Rate() float64      { return m.chain().rate() }
func (m markov4) MeanBurst() float64 { return m.chain().meanBurst() }
func (m markov4) newState(seed uint64) lossState {
	t14 := threshold(m.p14)
	t32 := threshold(m.p32)
	return &m4State{
		key: streamKey(seed, streamMarkov4), state: 1,
		t14: t14, t1x: t14 + threshold(m.p13),
		t32: t32, t3x: t32 + threshold(m.p31),
		t23: threshold(m.p23),
	}
}

type m4State struct {
	key           uint64
	state         uint8
	t14, t1x, t23 uint64
	t32, t3x      uint64
}

func (s *m4State) drop(i uint64, _ int) bool {
	r := draw53(s.key, i)
	switch s.state {
	case 1:
		if r < s.t14 {
			s.state = 4
			return true
		}
		if r < s.t1x {
			s.state = 3
			return true
		}
	case 2:
		if r < s.t23 {
			s.state = 3
			return true
		}
	case 3:
		if r < s.t32 {
			s.state = 2
			return false
		}
		if r < s.t3x {
			s.state = 1
			return false
		}
		return true
	case 4:
		s.state = 1
	}
	return false
}

// ---- deterministic pattern ----

// PatternForms describes the forms Pattern accepts.
const PatternForms = `a string of '0' and '1' such as "0001" (1 = drop; it repeats), or "every N" with N >= 1 (drop packets N-1, 2N-1, ...)`

// MaxPattern is the longest pattern, and the largest N of "every N".
const MaxPattern = 1 << 20

type pattern struct {
	bits  []bool
	every int // N of "every N", 0 for a literal pattern
}

// Pattern returns a deterministic loss model: for a string of '0' and
// '1', packet i is dropped iff p[i mod len(p)] is '1'; "every N" drops
// packets N-1, 2N-1, 3N-1, ... (arrival indexes from 0), that is, every
// Nth packet. See PatternForms; at most MaxPattern characters or N.
func Pattern(p string) (LossModel, error) {
	bad := func(why string) error {
		return fmt.Errorf("bad loss pattern %q: %s; accepted forms: %s", p, why, PatternForms)
	}
	if rest, ok := strings.CutPrefix(p, "every "); ok {
		n, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || n < 1 || n > MaxPattern {
			return nil, bad(fmt.Sprintf("N must be an integer in [1, %d]", MaxPattern))
		}
		b := make([]bool, n)
		b[n-1] = true
		return &pattern{bits: b, every: n}, nil
	}
	if p == "" {
		return nil, bad("empty")
	}
	if len(p) > MaxPattern {
		return nil, bad(fmt.Sprintf("longer than %d characters", MaxPattern))
	}
	b := make([]bool, len(p))
	for i := range len(p) {
		switch p[i] {
		case '0':
		case '1':
			b[i] = true
		default:
			return nil, bad(fmt.Sprintf("character %d is %q, not '0' or '1'", i, p[i]))
		}
	}
	return &pattern{bits: b}, nil
}

func (p *pattern) String() string {
	if p.every > 0 {
		return "pattern(every " + strconv.Itoa(p.every) + ")"
	}
	var sb strings.Builder
	for i, b := range p.bits {
		if i == 64 {
			sb.WriteString("...")
			break
		}
		sb.WriteByte('0' + boolByte(b))
	}
	return "pattern(" + sb.String() + ")"
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (p *pattern) Rate() float64 {
	n := 0
	for _, b := range p.bits {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(p.bits))
}

func (p *pattern) MeanBurst() float64 {
	ones, runs := 0, 0
	for i, b := range p.bits {
		if b {
			ones++
			if !p.bits[(i+1)%len(p.bits)] {
				runs++
			}
		}
	}
	switch {
	case ones == 0:
		return 0
	case runs == 0:
		return math.Inf(1)
	}
	return float64(ones) / float64(runs)
}

func (p *pattern) newState(uint64) lossState { return &patternState{bits: p.bits} }

type patternState struct {
	bits []bool
	pos  int
}

// drop walks the pattern with a position counter rather than i mod len,
// which is the same because drop is called for i = 0, 1, 2, ...
func (s *patternState) drop(uint64, int) bool {
	b := s.bits[s.pos]
	s.pos++
	if s.pos == len(s.bits) {
		s.pos = 0
	}
	return b
}
