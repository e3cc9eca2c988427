package timer

import "golang.org/x/sys/unix"

// Slack returns the calling thread's timer slack in nanoseconds.
func Slack() (int64, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	return int64(v), err
}

// setSlack sets the calling thread's timer slack and returns the old one.
func setSlack(ns int64) (int64, error) {
	old, err := Slack()
	if err != nil {
		return 0, err
	}
	return old, unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0)
}
