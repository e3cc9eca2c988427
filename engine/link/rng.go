package link

// Counter-based random numbers. Every random decision about packet i is a
// pure function of (seed, stream, i): a stream's key is derived from the
// seed and a per-decision constant, and the i-th number is the SplitMix64
// output function applied to key + i*golden. Nothing is carried from one
// packet to the next, so a decision can be recomputed from its inputs
// alone, and two models with the same seed make the same decisions.

// Stream constants, one per kind of decision.
const (
	streamLoss    = 1 // Bernoulli and BitError: drop or not
	streamGETrans = 2 // Gilbert-Elliott: state transition
	streamGELoss  = 3 // Gilbert-Elliott: loss in the current state
	streamMarkov4 = 4 // 4-state model: the single uniform per packet
	streamDelay   = 5 // the delay distribution's uniform
)

// golden is 2^64 divided by the golden ratio, SplitMix64's increment.
const golden = 0x9e3779b97f4a7c15

// twoTo53 is 2^53, the number of distinct uniforms.
const twoTo53 = 1 << 53

// mix64 is the SplitMix64 output function (a bijection on uint64 with
// good avalanche).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// streamKey returns the key of one decision stream under seed.
func streamKey(seed, stream uint64) uint64 {
	return mix64(mix64(seed^0x6a09e667f3bcc909) + stream*golden)
}

// draw53 returns the i-th 53-bit random integer of the stream with key k,
// uniform on [0, 2^53).
func draw53(k, i uint64) uint64 {
	return mix64(k+i*golden) >> 11
}

// uniform returns the i-th uniform of the stream with key k, on [0, 1)
// with 53 random bits.
func uniform(k, i uint64) float64 {
	return float64(draw53(k, i)) * (1.0 / twoTo53)
}

// threshold converts a probability to the integer bound t such that
// draw53 < t has probability p (exactly, up to 2^-53).
func threshold(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return twoTo53
	}
	return uint64(p*twoTo53 + 0.5)
}
