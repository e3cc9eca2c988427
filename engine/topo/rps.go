package topo

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// SteerReceive sets receive packet steering (RPS) on a host's interface:
// the kernel's receive processing of frames arriving there (protocol
// handlers, packet sockets) runs on these CPUs instead of the CPU that
// put the frame on the wire. On a veth that CPU is the sender's, so
// without RPS the receiver's work is charged to the sender, which no
// separate receiver host would do. Frames are stamped (SO_TIMESTAMPNS)
// before they are steered, so arrival times do not include the hand-off.
//
// RPS is set through sysfs, which shows a namespace's devices only when
// mounted from inside it; "ip netns exec" does that in a child process, so
// nothing in labrun's own mount namespace changes.
func (h *Host) SteerReceive(ifname string, cpus []int) error {
	var mask uint64
	for _, c := range cpus {
		if c < 0 || c >= 64 {
			return fmt.Errorf("rps: CPU %d out of range 0-63", c)
		}
		mask |= 1 << c
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("rps: the ip command (iproute2) is needed to set it: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path := fmt.Sprintf("/sys/class/net/%s/queues/rx-0/rps_cpus", ifname)
	out, err := exec.CommandContext(ctx, ip, "netns", "exec", h.NSName, "sh", "-c", fmt.Sprintf("printf %%x %d > %s", mask, path)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rps: setting %s in %s: %v: %s", path, h.NSName, err, strings.TrimSpace(string(out)))
	}
	return nil
}
