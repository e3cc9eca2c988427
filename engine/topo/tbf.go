package topo

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ShapeTBF puts the kernel's token bucket filter (tbf) at the root of a
// host's interface: frames leave at rate bits per second (counting each
// frame's length as the kernel sees it, without FCS, preamble or gap),
// with at most burst bytes at once and limit bytes waiting. It is the
// kernel's own shaper, run beside labrun's emulated link for comparison;
// the qdisc goes away with the namespace.
func (h *Host) ShapeTBF(ifname string, rate float64, burst, limit int) error {
	if rate <= 0 || burst <= 0 || limit <= 0 {
		return fmt.Errorf("tbf: rate %g, burst %d and limit %d must be > 0", rate, burst, limit)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("tbf: the ip and tc commands (iproute2) are needed: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"netns", "exec", h.NSName, "tc", "qdisc", "replace", "dev", ifname, "root", "tbf",
		"rate", strconv.FormatFloat(rate, 'f', 0, 64) + "bit", "burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit)}
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tbf: %s: %v: %s", strings.Join(args[3:], " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
