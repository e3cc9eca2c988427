package remote

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unknown is what a host cannot tell.
const Unknown = "unknown"

// hostInfo describes this host: machine, kernel and clock state.
func hostInfo(ctx context.Context) HostInfo {
	var u unix.Utsname
	info := HostInfo{Version: Version, PID: os.Getpid(), Machine: Unknown, Kernel: Unknown}
	if unix.Uname(&u) == nil {
		info.Machine = unix.ByteSliceToString(u.Machine[:])
		info.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
	}
	info.Hostname, _ = os.Hostname()
	info.Clock = clockState(ctx)
	return info
}

// clockState reads the kernel's synchronisation status (adjtimex), and
// what timedatectl, chronyc and /sys/class/ptp say, where present.
func clockState(ctx context.Context) ClockState {
	cs := ClockState{Kernel: Unknown, NTP: Unknown}
	var tx unix.Timex // modes 0: read only
	if state, err := unix.Adjtimex(&tx); err == nil {
		cs.Kernel = "synchronized"
		if state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
			cs.Kernel = "unsynchronized"
		}
		cs.EstErrorUS, cs.MaxErrorUS = int64(tx.Esterror), int64(tx.Maxerror)
	}
	if out := run(ctx, "timedatectl", "show", "-p", "NTP", "-p", "NTPSynchronized"); out != "" {
		cs.NTP = strings.Join(strings.Fields(out), " ")
	}
	if out := run(ctx, "chronyc", "-n", "tracking"); out != "" {
		var keep []string
		for _, l := range strings.Split(out, "\n") {
			if k, _, ok := strings.Cut(l, ":"); ok {
				switch strings.TrimSpace(k) {
				case "Reference ID", "Stratum", "System time", "Leap status":
					keep = append(keep, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		cs.Chrony = strings.Join(keep, "; ")
	}
	devs, _ := filepath.Glob("/sys/class/ptp/ptp*")
	for _, d := range devs {
		name, _ := os.ReadFile(filepath.Join(d, "clock_name"))
		cs.PTP = append(cs.PTP, filepath.Base(d)+" "+strings.TrimSpace(string(name)))
	}
	return cs
}

// run runs a short command and returns its output, "" if it is missing or
// fails. It is bounded to two seconds.
func run(ctx context.Context, name string, args ...string) string {
	if _, err := exec.LookPath(name); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	if cmd.Run() != nil {
		return ""
	}
	return strings.TrimSpace(out.String())
}
