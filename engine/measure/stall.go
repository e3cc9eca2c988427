package measure

import (
	"slices"
	"sort"
)

// Stall is a span of time, on the clock.Now scale (ns), during which a
// thread that should have been running was not: the host took its vCPU,
// the guest scheduler preempted it, or it woke late from a sleep.
type Stall struct {
	From, To int64
}

// Len returns the stall's length in ns.
func (s Stall) Len() int64 { return s.To - s.From }

// Stalls is a set of stalls sorted by From, none overlapping another
// (Merge makes one from any stalls).
type Stalls []Stall

// Merge returns the union of the given sets as one sorted set, joining
// stalls that overlap or touch.
func Merge(sets ...Stalls) Stalls {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	all := make(Stalls, 0, n)
	for _, s := range sets {
		for _, st := range s {
			if st.To > st.From {
				all = append(all, st)
			}
		}
	}
	slices.SortFunc(all, func(a, b Stall) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	out := all[:0]
	for _, st := range all {
		if k := len(out) - 1; k >= 0 && st.From <= out[k].To {
			out[k].To = max(out[k].To, st.To)
			continue
		}
		out = append(out, st)
	}
	return out
}

// Overlaps reports whether any stall of s overlaps the span [from, to]
// (a stall touching either end counts).
func (s Stalls) Overlaps(from, to int64) bool {
	// The first stall that ends at or after from.
	i := sort.Search(len(s), func(i int) bool { return s[i].To >= from })
	return i < len(s) && s[i].From <= to
}

// Total returns the summed length of the stalls, ns.
func (s Stalls) Total() int64 {
	var t int64
	for _, st := range s {
		t += st.Len()
	}
	return t
}

// Within returns the stalls that overlap [from, to], clipped to it.
func (s Stalls) Within(from, to int64) Stalls {
	var out Stalls
	i := sort.Search(len(s), func(i int) bool { return s[i].To >= from })
	for ; i < len(s) && s[i].From <= to; i++ {
		out = append(out, Stall{max(s[i].From, from), min(s[i].To, to)})
	}
	return out
}
