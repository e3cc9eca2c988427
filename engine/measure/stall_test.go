package measure

import (
	"slices"
	"testing"
)

func TestStallsMergeOverlaps(t *testing.T) {
	got := Merge(Stalls{{10, 20}, {40, 50}}, Stalls{{15, 30}, {50, 55}, {70, 70}})
	want := Stalls{{10, 30}, {40, 55}}
	if !slices.Equal(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
	if got.Total() != 35 {
		t.Errorf("Total = %d, want 35", got.Total())
	}
	for _, c := range []struct {
		from, to int64
		want     bool
	}{
		{0, 9, false}, {0, 10, true}, {31, 39, false}, {30, 30, true}, {56, 100, false}, {54, 60, true},
	} {
		if g := got.Overlaps(c.from, c.to); g != c.want {
			t.Errorf("Overlaps(%d, %d) = %v, want %v", c.from, c.to, g, c.want)
		}
	}
	if w := got.Within(25, 45); !slices.Equal(w, Stalls{{25, 30}, {40, 45}}) {
		t.Errorf("Within = %v", w)
	}
}

func TestField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		k    int
		want int64
		ok   bool
	}{
		{"6782048 2501781 3\n", 1, 2501781, true},
		{"6782048 2501781 3\n", 0, 6782048, true},
		{"6782048 2501781 3\n", 2, 3, true},
		{"6782048 2501781 3\n", 3, 0, false},
		{"", 1, 0, false},
	} {
		v, ok := field([]byte(tc.in), tc.k)
		if v != tc.want || ok != tc.ok {
			t.Errorf("field(%q, %d) = %d, %v", tc.in, tc.k, v, ok)
		}
	}
}

// The counters are readable here (a kernel without schedstats gives -1)
// and reading them allocates nothing, so a timed loop may read them.
func TestThreadSchedNow(t *testing.T) {
	s := ThreadSchedNow()
	if s.Nivcsw < 0 || s.RunqWait < -1 {
		t.Fatalf("%+v", s)
	}
	if n := testing.AllocsPerRun(100, func() { ThreadSchedNow() }); n != 0 {
		t.Errorf("ThreadSchedNow allocates %v times", n)
	}
	if StealTicks() < -1 {
		t.Error("steal ticks below -1")
	}
}
