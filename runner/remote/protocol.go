package remote

import (
	"github.com/labrun/labrun/engine/clocksync"
	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/trace"
)

// Version is the protocol's version: the agent refuses a controller of
// another (they are the same binary unless the copy failed).
const Version = 1

// The operations of a Request.
const (
	OpHello   = "hello"   // the host's description (HostInfo)
	OpClock   = "clock"   // T2 and T3 of a clock exchange
	OpPrepare = "prepare" // set the role up: settings, socket
	OpStart   = "start"   // the receiver listens; the sender starts sending
	OpWait    = "wait"    // the sender: wait until the last frame went
	OpStop    = "stop"    // the sender: end sending now; the receiver: drain and stop
	OpCollect = "collect" // the times measured, on the host's CLOCK_REALTIME
	OpUndo    = "undo"    // close the sockets, undo every setting
)

// Request is one line the controller writes.
type Request struct {
	ID      int      `json:"id"`
	Op      string   `json:"op"`
	Version int      `json:"version,omitempty"` // hello
	Prepare *Prepare `json:"prepare,omitempty"`
	Stop    *Stop    `json:"stop,omitempty"`
}

// Prepare sets up the host's role of one run.
type Prepare struct {
	Role      string `json:"role"` // "sender" or "receiver"
	RunID     string `json:"run_id"`
	Interface string `json:"interface"`
	// Sysctls are set on the host for the run (through its journal) when
	// System allows it, as --allow-system and --allow-sysctl do locally.
	Sysctls []kernel.Sysctl `json:"sysctls,omitempty"`
	System  bool            `json:"system,omitempty"`
	Allowed []string        `json:"allowed_sysctls,omitempty"`
	// The sender's trace, timer and socket.
	Trace    *trace.SynthConfig `json:"trace,omitempty"`
	Timer    TimerConfig        `json:"timer"`
	Mode     string             `json:"mode,omitempty"` // tx.ParsePacketMode
	Batch    int                `json:"batch,omitempty"`
	Bypass   bool               `json:"qdisc_bypass,omitempty"`
	Linear   bool               `json:"linear,omitempty"`
	MaxFrame int                `json:"max_frame,omitempty"`
	CPU      *int               `json:"cpu,omitempty"`
	// The receiver's expected count.
	Expect int `json:"expect,omitempty"`
}

// TimerConfig is the sender's timer (engine/timer's Config, by mode name).
type TimerConfig struct {
	Mode      string `json:"mode"`
	Period    int64  `json:"period_ns,omitempty"`
	Margin    int64  `json:"margin_ns,omitempty"`
	MaxMargin int64  `json:"max_margin_ns,omitempty"`
}

// Stop ends a role: Sent, Quiet and Drain are the receiver's (rx.Stop).
type Stop struct {
	Sent  uint64 `json:"sent"`
	Quiet int64  `json:"quiet_ns"`
	Drain int64  `json:"drain_ns"`
}

// Response is the agent's line for a request of the same ID.
type Response struct {
	ID      int         `json:"id"`
	Error   string      `json:"error,omitempty"`
	Hello   *HostInfo   `json:"hello,omitempty"`
	Clock   *ClockReply `json:"clock,omitempty"`
	Outcome []Outcome   `json:"settings,omitempty"` // prepare, undo
	Sent    *SendResult `json:"sent,omitempty"`     // wait, stop (sender)
	Times   *Times      `json:"times,omitempty"`    // collect
	Rx      *rx.Result  `json:"rx,omitempty"`       // stop, collect (receiver)
}

// Outcome is a setting the agent changed or restored.
type Outcome = kernel.Outcome

// ClockReply is the other side's half of a clock exchange.
type ClockReply struct {
	T2 int64 `json:"t2"`
	T3 int64 `json:"t3"`
}

// SendResult is what the sender sent.
type SendResult struct {
	Sent        uint64             `json:"sent"`
	Interrupted bool               `json:"interrupted,omitempty"`
	Metrics     map[string]float64 `json:"metrics"`
}

// Times are the sender's send times, by sequence number, on its
// CLOCK_REALTIME (ns): Start is the due time of offset 0.
type Times struct {
	Start  int64   `json:"start"`
	Actual []int64 `json:"actual"`
}

// HostInfo describes a host for the manifest.
type HostInfo struct {
	Hostname string `json:"hostname"`
	Machine  string `json:"machine"`
	Kernel   string `json:"kernel"`
	Version  int    `json:"protocol"`
	PID      int    `json:"agent_pid"`
	Dir      string `json:"dir"`
	// Clock is the host's time synchronisation, as far as it can tell.
	Clock ClockState `json:"clock"`
	// Recovered are settings an earlier agent left changed (it was
	// killed) and this one restored.
	Recovered []Outcome `json:"recovered,omitempty"`
}

// ClockState is what a host says of its clock's synchronisation. A field
// it cannot tell is "unknown".
type ClockState struct {
	// Kernel is adjtimex(2)'s view: "synchronized" or "unsynchronized".
	Kernel     string   `json:"kernel"`
	EstErrorUS int64    `json:"est_error_us"`
	MaxErrorUS int64    `json:"max_error_us"`
	NTP        string   `json:"ntp"` // timedatectl's NTP and NTPSynchronized, or "unknown"
	Chrony     string   `json:"chrony,omitempty"`
	PTP        []string `json:"ptp,omitempty"` // /sys/class/ptp devices and their clock names
}

// Span is a host's clock offset over a run, as the controller measured it.
type Span = clocksync.Span
