package peer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Tcpreplay is one tcpreplay invocation.
type Tcpreplay struct {
	Pcap  string // trace file
	Iface string // interface in the namespace the command runs in
	// Timing: "file" (the trace's own timestamps, tcpreplay's default),
	// "topspeed", "pps", "mbps" or "multiplier".
	Timing     string
	PPS        float64
	Mbps       float64
	Multiplier float64
	// Timer is tcpreplay's --timer: "gtod" (its default), "nano",
	// "select" or "ioport".
	Timer   string
	Loop    int  // --loop; 0 or 1 = once
	Limit   int  // --limit: packets; 0 = all
	Preload bool // --preload-pcap: read the trace into memory first
	Extra   []string
}

// Timings and Timers are the accepted values of Timing and Timer.
var (
	Timings = []string{"file", "topspeed", "pps", "mbps", "multiplier"}
	Timers  = []string{"gtod", "nano", "select", "ioport"}
)

func oneOf(v string, list []string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Validate checks the invocation.
func (t Tcpreplay) Validate() error {
	switch {
	case t.Pcap == "":
		return fmt.Errorf("tcpreplay: no trace file")
	case t.Iface == "":
		return fmt.Errorf("tcpreplay: no interface")
	case !oneOf(t.timing(), Timings):
		return fmt.Errorf("tcpreplay: timing %q: accepted %s", t.Timing, strings.Join(Timings, ", "))
	case t.Timer != "" && !oneOf(t.Timer, Timers):
		return fmt.Errorf("tcpreplay: timer %q: tcpreplay 4.4 accepts %s", t.Timer, strings.Join(Timers, ", "))
	case t.timing() == "pps" && t.PPS <= 0:
		return fmt.Errorf("tcpreplay: timing pps needs PPS > 0")
	case t.timing() == "mbps" && t.Mbps <= 0:
		return fmt.Errorf("tcpreplay: timing mbps needs Mbps > 0")
	case t.timing() == "multiplier" && t.Multiplier <= 0:
		return fmt.Errorf("tcpreplay: timing multiplier needs Multiplier > 0")
	case t.Loop < 0 || t.Limit < 0:
		return fmt.Errorf("tcpreplay: loop and limit must be >= 0")
	}
	return nil
}

func (t Tcpreplay) timing() string {
	if t.Timing == "" {
		return "file"
	}
	return t.Timing
}

// Args is the command line without the program name, in a fixed order.
// Statistics are printed at the end (they are on by default).
func (t Tcpreplay) Args() []string {
	a := []string{"--intf1=" + t.Iface}
	switch t.timing() {
	case "topspeed":
		a = append(a, "--topspeed")
	case "pps":
		a = append(a, "--pps="+ftoa(t.PPS))
	case "mbps":
		a = append(a, "--mbps="+ftoa(t.Mbps))
	case "multiplier":
		a = append(a, "--multiplier="+ftoa(t.Multiplier))
	}
	if t.Timer != "" && t.timing() != "topspeed" {
		a = append(a, "--timer="+t.Timer)
	}
	if t.Loop > 1 {
		a = append(a, "--loop="+strconv.Itoa(t.Loop))
	}
	if t.Limit > 0 {
		a = append(a, "--limit="+strconv.Itoa(t.Limit))
	}
	if t.Preload {
		a = append(a, "--preload-pcap")
	}
	a = append(a, t.Extra...)
	return append(a, t.Pcap)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TcpreplayStats is what tcpreplay reports at exit.
type TcpreplayStats struct {
	Packets, Bytes                int64
	Seconds                       float64
	BytesPerSec, Mbps, PPS        float64
	Flows                         int64
	Successful, Failed, Truncated int64
	RetriedENOBUFS, RetriedEAGAIN int64
	HaveDevice                    bool // the "Statistics for network device" block was present
}

var (
	actualRE = regexp.MustCompile(`(?m)^\s*Actual:\s+(\d+) packets \((\d+) bytes\) sent in ([0-9.]+) seconds`)
	ratedRE  = regexp.MustCompile(`(?m)^\s*Rated:\s+([0-9.]+) Bps, ([0-9.]+) Mbps, ([0-9.]+) pps`)
	flowsRE  = regexp.MustCompile(`(?m)^\s*Flows:\s+(\d+) flows`)
	devRE    = regexp.MustCompile(`(?m)^\s*(Successful packets|Failed packets|Truncated packets|Retried packets \(ENOBUFS\)|Retried packets \(EAGAIN\)):\s+(\d+)`)
)

// ParseTcpreplay reads tcpreplay's statistics from its output. The
// "Actual:" line must be there; the others are read when present.
func ParseTcpreplay(out string) (TcpreplayStats, error) {
	var s TcpreplayStats
	m := actualRE.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("tcpreplay printed no \"Actual: N packets (B bytes) sent in S seconds\" line")
	}
	s.Packets, _ = strconv.ParseInt(m[1], 10, 64)
	s.Bytes, _ = strconv.ParseInt(m[2], 10, 64)
	s.Seconds, _ = strconv.ParseFloat(m[3], 64)
	if m := ratedRE.FindStringSubmatch(out); m != nil {
		s.BytesPerSec, _ = strconv.ParseFloat(m[1], 64)
		s.Mbps, _ = strconv.ParseFloat(m[2], 64)
		s.PPS, _ = strconv.ParseFloat(m[3], 64)
	}
	if m := flowsRE.FindStringSubmatch(out); m != nil {
		s.Flows, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range devRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		s.HaveDevice = true
		switch m[1] {
		case "Successful packets":
			s.Successful = v
		case "Failed packets":
			s.Failed = v
		case "Truncated packets":
			s.Truncated = v
		case "Retried packets (ENOBUFS)":
			s.RetriedENOBUFS = v
		case "Retried packets (EAGAIN)":
			s.RetriedEAGAIN = v
		}
	}
	return s, nil
}
