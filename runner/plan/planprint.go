package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labrun/labrun/results"
)

// WritePlan prints the plan for people: its runs as a table and the
// actions on the system they will take.
func WritePlan(w io.Writer, p *Plan) error {
	writeHeader(w, p)
	names := ParamNames(p)
	t := results.Table{Header: append(append([]string{"#", "id", "seed"}, names...), "trace", "timer mode", "sink", "scheduled")}
	for _, r := range p.Runs {
		row := []string{strconv.Itoa(r.Index + 1), r.ID, strconv.FormatUint(r.Seed, 10)}
		for _, n := range names {
			row = append(row, r.Params[n])
		}
		c := r.Config
		if c.Workload != nil {
			row = append(row, workloadLabel(c), "", "", "")
			t.Cells = append(t.Cells, row)
			continue
		}
		row = append(row,
			TraceLabel(c.Trace),
			TimerLabel(c), sinkLabel(c), Span(int64(r.Estimate())))
		t.Cells = append(t.Cells, row)
	}
	EscapeTable(&t)
	if err := t.WriteText(w); err != nil {
		return err
	}
	writeSearches(w, p)
	writeCaptures(w, p)
	writeHosts(w, p)
	writeActions(w, p)
	return nil
}

// WritePlanSummary prints a large plan for people without its run list:
// what WritePlan prints above and below the runs, and the sweep's axes
// with their number of values in place of the runs.
func WritePlanSummary(w io.Writer, p *Plan) error {
	writeHeader(w, p)
	fmt.Fprintln(w, "sweep (the last axis varies fastest):")
	inGroup := map[int]int{}
	for _, a := range p.Axes {
		inGroup[a.Zip]++
	}
	for _, a := range p.Axes {
		zip := ""
		if inGroup[a.Zip] > 1 {
			zip = fmt.Sprintf(", zipped (group %d)", a.Zip+1)
		}
		vs := valuesInRuns(p, a)
		if len(vs) < len(a.Values) {
			zip += fmt.Sprintf(" of %d (--set)", len(a.Values))
		}
		fmt.Fprintf(w, "  %-16s %d value(s)%s: %s\n", Printable(a.Name), len(vs), zip, Printable(valueSample(vs)))
	}
	if p.Repeat > 1 {
		fmt.Fprintf(w, "  %-16s %d repetitions\n", "rep", p.Repeat)
	}
	fmt.Fprintf(w, "runs: %d, listed by labrun plan --runs (or --json)\n", len(p.Runs))
	writeSearches(w, p)
	writeCaptures(w, p)
	writeHosts(w, p)
	writeActions(w, p)
	return nil
}

// valuesInRuns are the values of axis a that the plan's runs take, in
// the axis's order (--set pins keep some).
func valuesInRuns(p *Plan, a AxisInfo) []string {
	seen := map[string]bool{}
	for _, r := range p.Runs {
		seen[r.Params[a.Name]] = true
	}
	var out []string
	for _, v := range a.Values {
		if seen[v] {
			out = append(out, v)
			delete(seen, v) // a zipped axis may repeat a value
		}
	}
	return out
}

// valueSample lists the first and last values of an axis, at most eight.
func valueSample(vs []string) string {
	if len(vs) <= 8 {
		return strings.Join(vs, ", ")
	}
	return strings.Join(vs[:5], ", ") + ", ..., " + strings.Join(vs[len(vs)-2:], ", ")
}

// writeHeader prints the plan's first line (experiment, runs, scheduled
// time) and its parameters.
func writeHeader(w io.Writer, p *Plan) {
	var total time.Duration
	for _, r := range p.Runs {
		total += r.Estimate()
	}
	fmt.Fprintf(w, "experiment %s (%s), seed %d: %d runs, about %v of scheduled sending\n",
		Printable(p.Experiment), Printable(p.Script), p.Seed, len(p.Runs), Span(int64(total)))
	for _, prm := range p.Params {
		set := ""
		if prm.Set {
			set = " (set)"
		}
		fmt.Fprintf(w, "  param %s = %s%s  %s\n", prm.Name, Printable(prm.Value), set, Printable(prm.Doc))
	}
}

// writeActions prints the actions the plan takes on the system.
func writeActions(w io.Writer, p *Plan) {
	if len(p.Actions) == 0 {
		fmt.Fprintln(w, "actions on the system: none (no run needs a privilege or changes a setting)")
		return
	}
	fmt.Fprintln(w, "actions on the system (applied per run, undone after it; a setting that is not permitted is reported skipped):")
	width := 40 // of the value column: the longest value
	for _, a := range p.Actions {
		width = max(width, utf8.RuneCountInString(Printable(a.Value)))
	}
	for _, a := range p.Actions {
		needs := ""
		if a.Needs != "" {
			needs = "  [needs " + a.Needs + "]"
		}
		fmt.Fprintf(w, "  %-12s %-*s %-16s runs %s%s%s\n", a.Setting, width, Printable(a.Value), a.Scope, RunList(a.Runs), needs, riskLabel(a.Risk))
	}
}

// riskLabel marks a kernel setting with its risk (see kernel.RiskProcess).
func riskLabel(risk string) string {
	if risk == "" {
		return ""
	}
	return "  risk: " + risk
}

// traceLabel describes a trace in one cell: "synthetic 5000 x 70us, 64B".
func TraceLabel(t TraceConfig) string {
	if t.Kind == "pcap" {
		src := ""
		if t.Capture != nil {
			src = t.Capture.Path
		} else {
			src = "generated " + TraceLabel(*t.Generate)
		}
		pace := "own timestamps"
		switch {
		case t.Topspeed:
			pace = "topspeed"
		case t.Rate != "":
			pace = t.Rate + " (" + t.Layer + ")"
		case t.Speed > 0 && t.Speed != 1:
			pace = fmt.Sprintf("x%g", t.Speed)
		}
		return fmt.Sprintf("pcap %s, %s, %s reader", src, pace, t.Reader)
	}
	n := fmt.Sprintf("%d", t.Count)
	if t.Duration > 0 {
		n = "for " + t.Duration.String()
	}
	gap := t.Interval.String()
	switch {
	case t.Gaps != nil:
		gap = "gaps from " + t.Gaps.Path
	case t.Poisson:
		gap = "Poisson, mean " + gap
	case t.Rate != "":
		gap = fmt.Sprintf("%s (%s, %s)", gap, t.Rate, t.Layer)
	}
	size := t.Frame.String()
	if t.Flows > 1 {
		size += fmt.Sprintf(", %d flows", t.Flows)
	}
	if t.Sizes != nil {
		size = "sizes from " + t.Sizes.Path
	}
	return fmt.Sprintf("%s %s x %s, %s", t.Kind, n, gap, size)
}

// sinkLabel says where a run's packets go, and how.
func sinkLabel(c RunConfig) string {
	if k := c.SenderKind(); k != "labrun" {
		return peerSummary(c)
	}
	s := c.Sink
	l := s.Kind
	switch s.Kind {
	case "afpacket":
		l += " " + s.Mode
		if s.Batch > 1 {
			l += fmt.Sprintf("/%d", s.Batch)
		}
		if s.QdiscBypass {
			l += " bypass"
		}
		if s.Pad {
			l += " pad"
		}
		if s.Linear {
			l += " linear"
		}
	case "afxdp":
		l += fmt.Sprintf(" copy/%d", s.Batch)
		if s.Queue > 0 {
			l += fmt.Sprintf(" queue %d", s.Queue)
		}
	case "udp":
		if s.Batch > 1 {
			l += fmt.Sprintf(" sendmmsg/%d", s.Batch)
		}
	}
	if c.Sender != nil {
		switch {
		case c.Sender.Threads == 0:
			l += ", thread per cpu"
		case c.Sender.Threads > 1:
			l += fmt.Sprintf(", %d threads", c.Sender.Threads)
		}
		if c.Sender.Profile > 0 {
			l += fmt.Sprintf(", profile 1/%d", c.Sender.Profile)
		}
	}
	return l
}

// peerSummary describes the established tool a run starts.
func peerSummary(c RunConfig) string {
	s := c.Sender
	switch s.Kind {
	case "tcpreplay":
		switch s.Timing {
		case "topspeed":
			return "tcpreplay --topspeed"
		case "pps", "mbps":
			return fmt.Sprintf("tcpreplay --%s %s --timer %s", s.Timing, s.Rate, s.Timer)
		case "multiplier":
			return fmt.Sprintf("tcpreplay --multiplier %g --timer %s", s.Multiplier, s.Timer)
		}
		return "tcpreplay --timer " + s.Timer
	case "trafgen":
		l := fmt.Sprintf("trafgen --cpus %d", s.Procs)
		if !s.QdiscBypass {
			l += " --qdisc-path"
		}
		return l
	case "stall_probe":
		cpu := "the last CPU"
		if len(s.CPUs) > 0 {
			cpu = fmt.Sprintf("CPU %d", s.CPUs[0])
		}
		return fmt.Sprintf("stall probe: spin on %s, gaps > %v", cpu, time.Duration(s.Threshold))
	}
	return s.Kind
}

func TimerLabel(c RunConfig) string {
	if k := c.SenderKind(); k != "labrun" {
		return "(" + k + "'s own)"
	}
	t := c.Timer
	var parts []string
	if t.Period > 0 {
		parts = append(parts, "period "+t.Period.String())
	}
	if t.Margin > 0 {
		parts = append(parts, "margin "+t.Margin.String())
	}
	if t.MaxMargin > 0 {
		parts = append(parts, "max margin "+t.MaxMargin.String())
	}
	if t.CPUPct > 0 {
		parts = append(parts, "cpu "+strconv.FormatFloat(t.CPUPct, 'g', -1, 64)+"%")
	}
	if t.Late != "" && t.Late != "catch_up" {
		parts = append(parts, "late "+t.Late)
	}
	if t.DropAfter > 0 {
		parts = append(parts, "drop after "+t.DropAfter.String())
	}
	if len(parts) == 0 {
		return t.Mode
	}
	return t.Mode + " (" + strings.Join(parts, ", ") + ")"
}

// runList compresses 1,2,3,5 to "1-3,5".
func RunList(runs []int) string {
	var parts []string
	for i := 0; i < len(runs); {
		j := i
		for j+1 < len(runs) && runs[j+1] == runs[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", runs[i], runs[j]))
		} else {
			parts = append(parts, strconv.Itoa(runs[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// WritePlanJSON prints the runs as a JSON array (id, seed, parameters,
// config), followed by nothing else, so tools can read it.
func WritePlanJSON(w io.Writer, p *Plan) error {
	if len(p.Runs) == 0 {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p.Runs)
	}
	// Run by run, the bytes json.Encoder writes for the whole array with
	// SetIndent("", "  "), without holding the whole of a large plan.
	bw := bufio.NewWriterSize(w, 64<<10)
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetIndent("  ", "  ")
	bw.WriteString("[\n")
	for i := range p.Runs {
		one.Reset()
		if err := enc.Encode(&p.Runs[i]); err != nil {
			return err
		}
		bw.WriteString("  ")
		bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
		if i < len(p.Runs)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// workloadLabel describes a workload run in the trace column.
func workloadLabel(c RunConfig) string {
	w := c.Workload
	switch w.Kind {
	case "throughput":
		return fmt.Sprintf("link pipeline: %d x %v, delay %v", w.Packets, w.Frame, w.Delay)
	case "fidelity":
		return fmt.Sprintf("link model: %d x %v, %v apart (virtual)", w.Packets, w.Frame, w.Gap)
	}
	return fmt.Sprintf("%s for %v", w.Kind, w.Duration)
}
