package link

import (
	"math"
	"slices"
)

// KSDistance returns the Kolmogorov-Smirnov distance sup_x |F_n(x) - F(x)|
// between the empirical CDF F_n of samples (ns) and d.CDF. It sorts
// samples in place. The samples are integers, so the left limit of F at
// a sample x is taken as F(x-1); this makes a distribution with atoms,
// such as Constant, compare exactly. It returns 0 for no samples.
func KSDistance(samples []int64, d Delay) float64 {
	n := len(samples)
	if n == 0 {
		return 0
	}
	slices.Sort(samples)
	fn := float64(n)
	dist := 0.0
	for i := 0; i < n; {
		x := samples[i]
		j := i + 1
		for j < n && samples[j] == x {
			j++
		}
		below := math.Abs(float64(i)/fn - d.CDF(x-1))
		at := math.Abs(float64(j)/fn - d.CDF(x))
		dist = max(dist, below, at)
		i = j
	}
	return dist
}

// BinomialInterval returns the two-sided Wilson score interval, at
// confidence conf (such as 0.99), for a probability of which k successes
// were seen in n trials. It returns [0, 1] for n = 0 and NaNs for conf
// outside (0, 1) or k > n.
func BinomialInterval(k, n uint64, conf float64) (lo, hi float64) {
	return wilson(k, n, 1, conf)
}

// wilson is the Wilson score interval for k of n trials whose variance is
// d times a binomial one: the interval of the effective sample k/d of n/d.
func wilson(k, n uint64, d, conf float64) (lo, hi float64) {
	if !(conf > 0 && conf < 1) || k > n {
		return math.NaN(), math.NaN()
	}
	if n == 0 {
		return 0, 1
	}
	z := stdPhiInv(1 - (1-conf)/2)
	fn := float64(n) / d
	p := float64(k) / float64(n)
	z2 := z * z
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := z * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	lo, hi = max(0, center-half), min(1, center+half)
	if k == 0 {
		lo = 0 // exact in theory; avoid rounding
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// LossInterval returns a two-sided interval, at confidence conf, for the
// long-run loss rate of model l given lost of n frames: the interval that
// holds for the way l loses. Independent losses (Bernoulli, bit errors, a
// pattern) get the Wilson interval of BinomialInterval. The Markov models
// (Gilbert-Elliott, 4-state) lose in bursts, so the loss fraction of n
// frames varies more than a binomial one: by the chain's asymptotic
// variance, sigma^2 = r(1-r) * D with D = 1 + 2 sum_k corr(L_0, L_k) (for
// a two-state chain with loss only in the bad state, D = (1+lambda)/(1-lambda)
// with lambda = 1 - p - r its second eigenvalue). The Wilson interval is then
// taken over the effective sample, lost/D of n/D.
func LossInterval(l LossModel, lost, n uint64, conf float64) (lo, hi float64) {
	d := 1.0
	if c, ok := l.(interface{ chain() chain }); ok {
		d = c.chain().dispersion()
	}
	return wilson(lost, n, d, conf)
}

// Bursts returns the number of runs of consecutive trues in dropped and
// their mean length (0 if there are none).
func Bursts(dropped []bool) (mean float64, count int) {
	total := 0
	for i, d := range dropped {
		if d {
			total++
			if i == 0 || !dropped[i-1] {
				count++
			}
		}
	}
	if count == 0 {
		return 0, 0
	}
	return float64(total) / float64(count), count
}
