// Package shard splits a plan's runs over N machines: a pure function of
// the runs' IDs and scheduled durations, so every shard of an array job
// computes the same split on its own, and a re-run gets the same one.
//
// The rule (docs/sweeps.md): the runs are taken heaviest first, sorted
// by scheduled duration (descending) and then by run ID (ascending); each
// goes to the shard with the least scheduled time so far, ties broken by
// the fewest runs so far, then by the lowest shard number. This is the
// longest-processing-time greedy: no shard ends more than the heaviest
// run above another, and the heaviest is within 4/3 of the best possible
// split. Runs whose duration is unknown (0) are spread by count. A shard's
// runs are then listed in plan order.
//
// Shards are numbered from 0, as Slurm's array task IDs (--array=0-N-1)
// and Kubernetes' JOB_COMPLETION_INDEX are: "K/N" names shard K of N, 0 <=
// K < N.
package shard

import (
	"cmp"
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Run is what sharding knows of a run: its ID and scheduled duration in
// nanoseconds (the plan's Run.Estimate; 0 when unknown).
type Run struct {
	ID       string
	Duration int64
}

// MaxShards bounds N: more shards than this is a typing error.
const MaxShards = 10000

// Spec names one shard: K of N, 0 <= K < N.
type Spec struct {
	K, N int
}

func (s Spec) String() string { return strconv.Itoa(s.K) + "/" + strconv.Itoa(s.N) }

// Assign returns, for each shard 0..n-1, the indices into runs of its
// runs, ascending. Every index is in exactly one shard.
func Assign(runs []Run, n int) [][]int {
	if n < 1 {
		n = 1
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(max(runs[b].Duration, 0), max(runs[a].Duration, 0)); c != 0 {
			return c
		}
		return cmp.Compare(runs[a].ID, runs[b].ID)
	})
	out := make([][]int, n)
	h := &bins{out: out}
	for k := range n {
		h.order = append(h.order, k)
	}
	h.load = make([]int64, n)
	for _, i := range order {
		k := h.order[0] // the lightest shard
		h.load[k] += max(runs[i].Duration, 0)
		out[k] = append(out[k], i)
		heap.Fix(h, 0)
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// bins is a heap of shard numbers, lightest first: least scheduled time,
// then fewest runs, then lowest number.
type bins struct {
	order []int
	load  []int64
	out   [][]int
}

func (b *bins) Len() int { return len(b.order) }
func (b *bins) Less(i, j int) bool {
	x, y := b.order[i], b.order[j]
	return cmp.Or(cmp.Compare(b.load[x], b.load[y]), cmp.Compare(len(b.out[x]), len(b.out[y])), cmp.Compare(x, y)) < 0
}
func (b *bins) Swap(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] }
func (b *bins) Push(any)      { panic("bins: fixed size") }
func (b *bins) Pop() any      { panic("bins: fixed size") }

// Select returns the indices into runs of shard s, in plan order.
func Select(runs []Run, s Spec) []int {
	return Assign(runs, s.N)[s.K]
}

// Parse reads a --shard value: "K/N" with 0 <= K < N, "auto", which
// takes the shard from the environment of a Slurm array task or a
// Kubernetes Indexed Job (FromEnv), or "auto/N", the same with N shards
// (in place of LABRUN_SHARDS). getenv is os.Getenv in labrun.
func Parse(v string, getenv func(string) string) (Spec, error) {
	if v == "auto" {
		return FromEnv(getenv)
	}
	if ns, ok := strings.CutPrefix(v, "auto/"); ok {
		if n, err := strconv.Atoi(ns); err != nil || n < 1 || n > MaxShards {
			return Spec{}, fmt.Errorf("%q is not a shard: in auto/N, N is the number of shards, 1 to %d", v, MaxShards)
		}
		return FromEnv(func(k string) string {
			if k == EnvShards {
				return ns
			}
			return getenv(k)
		})
	}
	ks, ns, ok := strings.Cut(v, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || strings.ContainsAny(v, "+ ") {
		return Spec{}, fmt.Errorf("%q is not a shard: want K/N (shard K of N, numbered from 0, e.g. 0/4 ... 3/4), auto or auto/N", v)
	}
	return check(Spec{K: k, N: n}, v)
}

func check(s Spec, from string) (Spec, error) {
	if s.N < 1 || s.N > MaxShards {
		return Spec{}, fmt.Errorf("%s: the number of shards must be 1 to %d", from, MaxShards)
	}
	if s.K < 0 || s.K >= s.N {
		return Spec{}, fmt.Errorf("%s: shard %d of %d does not exist: shards are numbered 0 to %d", from, s.K, s.N, s.N-1)
	}
	return s, nil
}

// Environment variables FromEnv reads.
const (
	EnvSlurmID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmMax   = "SLURM_ARRAY_TASK_MAX"
	EnvK8sIndex   = "JOB_COMPLETION_INDEX"
	EnvShards     = "LABRUN_SHARDS"
)

// FromEnv finds the shard of this process:
//
//   - in a Slurm array task, K is SLURM_ARRAY_TASK_ID minus
//     SLURM_ARRAY_TASK_MIN (0 when unset) and N is SLURM_ARRAY_TASK_COUNT,
//     or MAX-MIN+1 when the count is unset. The array must be contiguous
//     (--array=0-3, not 0,2,5); LABRUN_SHARDS, when set, must agree.
//   - in a Kubernetes Indexed Job, K is JOB_COMPLETION_INDEX and N is
//     LABRUN_SHARDS (the Job's completions).
func FromEnv(getenv func(string) string) (Spec, error) {
	num := func(name string) (int, bool, error) {
		v := getenv(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, true, fmt.Errorf("--shard auto: %s=%q is not a number", name, v)
		}
		return n, true, nil
	}
	total, haveTotal, err := num(EnvShards)
	if err != nil {
		return Spec{}, err
	}
	if id, ok, err := num(EnvSlurmID); err != nil {
		return Spec{}, err
	} else if ok {
		lo, _, err1 := num(EnvSlurmMin)
		hi, haveHi, err2 := num(EnvSlurmMax)
		count, haveCount, err3 := num(EnvSlurmCount)
		if err := cmp.Or(err1, err2, err3); err != nil {
			return Spec{}, err
		}
		if !haveCount && haveHi {
			count, haveCount = hi-lo+1, true
		}
		if haveCount && haveHi && count != hi-lo+1 {
			return Spec{}, fmt.Errorf("--shard auto: the Slurm array has %d tasks between %d and %d: it must be contiguous (--array=0-%d)", count, lo, hi, count-1)
		}
		if !haveCount {
			count, haveCount = total, haveTotal
		}
		if !haveCount {
			return Spec{}, fmt.Errorf("--shard auto: %s is set but not %s, %s or %s", EnvSlurmID, EnvSlurmCount, EnvSlurmMax, EnvShards)
		}
		if haveTotal && total != count {
			return Spec{}, fmt.Errorf("--shard auto: %s=%d but the Slurm array has %d tasks", EnvShards, total, count)
		}
		return check(Spec{K: id - lo, N: count}, "--shard auto (Slurm array task "+strconv.Itoa(id)+")")
	}
	if idx, ok, err := num(EnvK8sIndex); err != nil {
		return Spec{}, err
	} else if ok {
		if !haveTotal {
			return Spec{}, fmt.Errorf("--shard auto: %s is set but not %s (the Job's completions): give --shard %d/N or set it", EnvK8sIndex, EnvShards, idx)
		}
		return check(Spec{K: idx, N: total}, "--shard auto (Kubernetes completion index "+strconv.Itoa(idx)+")")
	}
	return Spec{}, fmt.Errorf("--shard auto: not in a Slurm array task (%s) or a Kubernetes Indexed Job (%s): give --shard K/N", EnvSlurmID, EnvK8sIndex)
}

// PlanHash is the full hash of a plan: SHA-256 over its run IDs in plan
// order, in hex. Its first 8 digits are the hash in a result folder's
// name. Every shard of a plan records it, and merge refuses to mix shards
// whose hashes differ.
func PlanHash(ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil))
}
