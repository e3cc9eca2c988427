package peer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Trafgen is one trafgen invocation sending one frame Count times.
//
// trafgen's configuration language has per-packet counters only one byte
// wide (dinc), so it cannot number frames the way labrun's receiver
// matches them. Config therefore clears labrun's "LRUN" marker (the 4
// bytes before SeqOffset): the receiver counts trafgen's frames as
// unmarked, and rates come from them (rx_all_pps), not sequence numbers.
type Trafgen struct {
	Frame     []byte // Ethernet frame without FCS
	SeqOffset int    // offset of the sequence number; the 4 bytes before it are cleared; < 4 leaves the frame as it is
	Iface     string
	Count     int           // frames in all, split between the processes
	CPUs      int           // processes (--cpus), one per CPU; 0 = 1
	Gap       time.Duration // 0: TX_RING at full speed; > 0: --gap (sendto)
	// QdiscBypass is trafgen's default; false adds --qdisc-path.
	QdiscBypass bool
}

// Config is the configuration file text: the frame as bytes.
func (t Trafgen) Config() string {
	f := append([]byte(nil), t.Frame...)
	if t.SeqOffset >= 4 && t.SeqOffset <= len(f) {
		for i := t.SeqOffset - 4; i < t.SeqOffset; i++ {
			f[i] = 0
		}
	}
	var b strings.Builder
	b.WriteString("# written by labrun: one frame, sent as it is\n{\n")
	for i, x := range f {
		if i%16 == 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "0x%02x,", x)
		if i%16 == 15 || i == len(f)-1 {
			b.WriteString("\n")
		} else {
			b.WriteString(" ")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// Args is the command line without the program name. -A keeps trafgen
// from raising the system's socket memory defaults (it would otherwise
// write /proc/sys/net/core/*mem_default for the run).
func (t Trafgen) Args(cfgPath string) []string {
	cpus := max(t.CPUs, 1)
	a := []string{"--in", cfgPath, "--out", t.Iface, "--num", strconv.Itoa(t.Count), "--cpus", strconv.Itoa(cpus), "--no-sock-mem"}
	if t.Gap > 0 {
		a = append(a, "--gap", strconv.FormatInt(t.Gap.Nanoseconds(), 10)+"ns")
	}
	if !t.QdiscBypass {
		a = append(a, "--qdisc-path")
	}
	return a
}

// TrafgenStats is what trafgen prints at exit, summed over its processes.
type TrafgenStats struct {
	Packets, Bytes int64
	CPUSeconds     float64 // wall time per process as trafgen reports it, summed
}

var (
	tgPktRE   = regexp.MustCompile(`(?m)^\s*(\d+) packets outgoing`)
	tgBytesRE = regexp.MustCompile(`(?m)^\s*(\d+) bytes outgoing`)
	tgTimeRE  = regexp.MustCompile(`(?m)^\s*(\d+) sec, (\d+) usec on CPU\d+`)
)

// ParseTrafgen reads trafgen's exit statistics.
func ParseTrafgen(out string) (TrafgenStats, error) {
	var s TrafgenStats
	pk := tgPktRE.FindAllStringSubmatch(out, -1)
	if pk == nil {
		return s, fmt.Errorf("trafgen printed no \"N packets outgoing\" line")
	}
	for _, m := range pk {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		s.Packets += v
	}
	for _, m := range tgBytesRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		s.Bytes += v
	}
	for _, m := range tgTimeRE.FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseFloat(m[1], 64)
		us, _ := strconv.ParseFloat(m[2], 64)
		s.CPUSeconds += sec + us/1e6
	}
	return s, nil
}
