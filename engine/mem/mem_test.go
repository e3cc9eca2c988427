package mem

import (
	"testing"
)

// Touch makes every page of a slice resident (mincore), and leaves it zero.
func TestTouch(t *testing.T) {
	const n = 1 << 20 // 8 MiB of int64: fresh pages from the OS, not resident
	a := make([]int64, n)
	Touch(a)
	b := unsafePages(a)
	vec := make([]byte, (len(b)+pageSize-1)/pageSize)
	if err := mincore(b, vec); err != nil {
		t.Skip("mincore:", err)
	}
	for i, v := range vec {
		if v&1 == 0 {
			t.Fatalf("page %d of %d not resident after Touch", i, len(vec))
		}
	}
	for i, v := range a {
		if v != 0 {
			t.Fatalf("a[%d] = %d", i, v)
		}
	}
	Touch([]struct{}{})
	Touch([]int64(nil))
}
