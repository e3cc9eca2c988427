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
