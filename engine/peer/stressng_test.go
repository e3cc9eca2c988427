package peer

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStressNGArgs(t *testing.T) {
	s := StressNG{VM: 1, HDD: 1, Timeout: 10 * time.Second, Dir: "/tmp/x"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.Args("/tmp/m.yaml"), " ")
	want := "--timeout 10s --metrics-brief --yaml /tmp/m.yaml --vm 1 --vm-bytes 134217728 --hdd 1 --hdd-bytes 8388608 --temp-path /tmp/x"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	for _, bad := range []StressNG{{Timeout: time.Second}, {CPU: 1}, {CPU: 1, Timeout: 1500 * time.Millisecond}, {CPU: 1, CPULoad: 101, Timeout: time.Second}, {HDD: 1, Timeout: time.Second}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// The parser reads real stress-ng 0.15 YAML: a vm and a cpu stressor.
func TestParseStressNGYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/stress-ng-vm-cpu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseStressNGYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Stressor != "vm" || m[0].BogoOps != 21164 || m[0].OpsPerSec < 20000 || m[1].Stressor != "cpu" {
		t.Fatalf("metrics %+v", m)
	}
	if _, err := ParseStressNGYAML([]byte("---\nsystem-info:\n  a: 1\n")); err == nil {
		t.Error("no metrics: no error")
	}
}

func TestRunStressNG(t *testing.T) {
	if _, err := Find("stress-ng"); errors.Is(err, ErrNotInstalled) {
		t.Skipf("%v", err)
	}
	wait, err := RunStressNG(context.Background(), StressNG{VM: 1, VMBytes: 8 << 20, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Stressor != "vm" || m[0].OpsPerSec <= 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// stress-ng gets through ten runs in a row, each started from a goroutine
// that exits while locked to its thread (the runtime then ends the
// thread), with more such goroutines churning threads while it runs. A
// child forked from a thread that ends gets its parent-death signal: this
// is how stress-ng used to die mid-run ("no metrics").
func TestStressNGSurvivesThreadChurn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runs match labrun's privileged runs (go test as root)")
	}
	if _, err := Find("stress-ng"); errors.Is(err, ErrNotInstalled) {
		t.Skipf("%v", err)
	}
	churn := func() {
		done := make(chan struct{})
		for range 8 {
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				done <- struct{}{}
			}()
			<-done
		}
	}
	for i := range 10 {
		type started struct {
			wait func() ([]StressMetric, error)
			err  error
		}
		ch := make(chan started, 1)
		go func() {
			runtime.LockOSThread() // never unlocked
			wait, err := RunStressNG(context.Background(), StressNG{CPU: 1, CPULoad: 30, Timeout: time.Second})
			ch <- started{wait, err}
		}()
		st := <-ch
		if st.err != nil {
			t.Fatalf("run %d: %v", i, st.err)
		}
		churn()
		m, err := st.wait()
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if len(m) != 1 || m[0].Stressor != "cpu" || m[0].BogoOps <= 0 {
			t.Fatalf("run %d: metrics %+v", i, m)
		}
	}
}
