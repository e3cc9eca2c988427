package rx

import (
	"testing"

	"github.com/labrun/labrun/engine/measure"
)

// Every receive metric is in labrun's shared vocabulary, so tables and
// figures accept it.
func TestNamesAreKnownMetrics(t *testing.T) {
	for _, n := range Names {
		if !measure.Known(n.Name) {
			t.Errorf("%s is not in measure.Names", n.Name)
		}
	}
	for name := range (Metrics{}).Map() {
		if !measure.Known(name) {
			t.Errorf("Map produces %s, which is not in measure.Names", name)
		}
	}
}
