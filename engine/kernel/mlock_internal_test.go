package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A kernel without MCL_ONFAULT (before 4.4) refuses it with EINVAL: mlock
// then locks with the older flags and its value says what that means.
func TestMlockWithoutOnFault(t *testing.T) {
	defer func(f func(int) error) { mlockall = f }(mlockall)
	var calls []int
	mlockall = func(flags int) error {
		calls = append(calls, flags)
		if flags&unix.MCL_ONFAULT != 0 {
			return unix.EINVAL
		}
		return nil
	}
	o := Settings{Mlock: true}.mlock()
	want := Outcome{Setting: "mlock", Value: "current+future, all mapped pages now (this kernel has no MCL_ONFAULT, Linux < 4.4)", State: Applied}
	if o != want {
		t.Errorf("outcome %+v\nwant    %+v", o, want)
	}
	if len(calls) != 2 || calls[0] != mlockFlags || calls[1] != unix.MCL_CURRENT|unix.MCL_FUTURE {
		t.Errorf("mlockall calls %#x, want %#x then %#x", calls, mlockFlags, unix.MCL_CURRENT|unix.MCL_FUTURE)
	}
}
