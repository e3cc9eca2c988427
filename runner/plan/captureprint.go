package plan

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labrun/labrun/engine/trace"
)

// GapWarning is the replayed gap above which plan warns when max_gap is
// not set.
const GapWarning = time.Second

// writeCaptures prints, for each capture replayed with each distinct
// timing, what the replay sends and for how long, its largest gap and
// the capture's anomalies; a gap above GapWarning without max_gap is a
// warning.
func writeCaptures(w io.Writer, p *Plan) {
	seen := map[string]bool{}
	header := false
	for _, r := range p.Runs {
		t := r.Config.Trace
		if t.Kind != "pcap" || t.Capture == nil || t.Capture.Prepass == nil {
			continue
		}
		key := captureLine(t)
		if k := r.Config.SenderKind(); k != "labrun" {
			key += ", replayed by " + k
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if !header {
			fmt.Fprintln(w, "captures (as replayed):")
			header = true
		}
		pl, err := t.CapturePlan()
		if err != nil {
			fmt.Fprintf(w, "  %s: %v\n", key, err)
			continue
		}
		writeCapturePlan(w, key, t, pl, r.Config)
	}
}

// captureLine names a capture with the options that change its replay.
func captureLine(t TraceConfig) string {
	l := strings.TrimPrefix(TraceLabel(t), "pcap ")
	l = strings.TrimSuffix(l, ", "+t.Reader+" reader")
	if t.Loops > 1 {
		l += fmt.Sprintf(", %d loops", t.Loops)
	}
	if t.MaxGap > 0 {
		l += ", max_gap " + time.Duration(t.MaxGap).String()
	}
	if t.ZeroPayload {
		l += ", zero_payload"
	}
	if t.Rewrite != "" {
		l += ", rewrite " + t.Rewrite
	}
	return l
}

func writeCapturePlan(w io.Writer, key string, t TraceConfig, pl trace.ReplayPlan, c RunConfig) {
	st, pp := pl.Stats, t.Capture.Prepass
	fmt.Fprintf(w, "  %s: %d packets, %d sent per pass, scheduled %s", key, st.Packets, st.Sent, Span(pl.Duration))
	if pl.LargestGap > 0 {
		fmt.Fprintf(w, ", largest gap %s (before packet %d)", Span(pl.LargestGap), pl.LargestGapAt)
	}
	fmt.Fprintln(w)
	var notes []string
	if n := st.NotEthernet + st.Untransformable; n > 0 {
		notes = append(notes, fmt.Sprintf("left out: %d (not Ethernet %d, cannot be transformed %d)", n, st.NotEthernet, st.Untransformable))
	}
	if pp.Backwards > 0 {
		notes = append(notes, fmt.Sprintf("timestamps going backwards: %d (sent with gap 0)", pp.Backwards))
	}
	if pp.Short > 0 {
		notes = append(notes, fmt.Sprintf("captured shorter than on the wire: %d", pp.Short))
	}
	if pl.Shortened > 0 {
		notes = append(notes, fmt.Sprintf("gaps max_gap shortens: %d per pass", pl.Shortened))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "    anomalies: %s\n", strings.Join(notes, "; "))
	}
	if pp.Malformed != nil {
		fe := pp.Malformed
		fmt.Fprintf(w, "    lenient: keeps the first %d packets and drops %d bytes from byte offset %d (packet %d): %s\n",
			pp.Packets, pp.DroppedBytes, fe.Offset, fe.Record+1, fe.Reason)
	}
	ownPace := c.Sender == nil || c.Sender.Timing == "" || c.Sender.Timing == "file"
	if t.MaxGap == 0 && pl.LargestGap > int64(GapWarning) && ownPace {
		fix := `max_gap = "1s" on trace.pcap shortens every longer gap`
		if k := c.SenderKind(); k != "labrun" {
			fix = "sender." + k + " waits it out (max_gap is labrun's timing, not the tool's)"
		}
		fmt.Fprintf(w, "  warning: %s: a gap of %s (before packet %d) as replayed; %s\n",
			t.Capture.Path, Span(pl.LargestGap), pl.LargestGapAt, fix)
	}
}

// span formats a scheduled duration: to the ms, with days spelled out
// beyond two of them.
func Span(ns int64) string {
	d := time.Duration(ns)
	if d >= 48*time.Hour {
		d = d.Round(time.Second)
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd %v", days, (d - days*24*time.Hour).Round(time.Second))
	}
	return d.Round(time.Millisecond).String()
}
