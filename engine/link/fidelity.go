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
	if !(conf > 0 && conf < 1) || k > n {
		return math.NaN(), math.NaN()
	}
	if n == 0 {
		return 0, 1
	}
	z := stdPhiInv(1 - (1-conf)/2)
	fn := float64(n)
	p := float64(k) / fn
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
