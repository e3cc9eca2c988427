package execute

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/linkconf"
	"github.com/labrun/labrun/runner/plan"
)

// ExecOptions configure Execute.
type ExecOptions struct {
	Out      string // parent output folder (default "runs")
	Stdout   io.Writer
	Stderr   io.Writer
	Progress ProgressMode
	Build    results.BuildInfo
	Command  []string
	// Resume, if set, is the folder of an interrupted invocation of the
	// same plan: its finished runs are kept and the others run into it.
	Resume string
	// AllowSystem permits system-wide kernel settings (--allow-system).
	AllowSystem bool
	// AllowSysctls names the dangerous sysctls permitted as well
	// (--allow-sysctl KEY).
	AllowSysctls []string
	// Interfaces are the existing interfaces topology.interfaces may use
	// (--interface).
	Interfaces []string
	// Shard, if set, says the plan holds one shard of a larger plan
	// (labrun run --shard): the manifest records it, and the folder is
	// named by the full plan's hash.
	Shard *ShardInfo
}

// ShardInfo is what a shard's manifest records of the full plan.
type ShardInfo struct {
	PlanHash string   // runner/shard.PlanHash of the full plan's run IDs
	Shard    string   // "K/N"
	PlanRuns []string // the full plan's run IDs, in plan order
}

// Outcome is what Execute did.
type Outcome struct {
	Dir string
	// Rows are the runs that measured something: those that finished
	// (status ok) and an interrupted one (status interrupted). runs.csv
	// also has a row for each run that failed or was skipped.
	Rows        []results.Row
	Tables      []results.Table
	Interrupted bool
	Failed      int
	Resumed     int // runs kept from the invocation being resumed
	Skipped     int // runs that could not be made here (a tool is not installed)
	Settings    []SettingSummary
	// Expect holds the expectations checked on the finished runs;
	// ExpectFailed counts those that failed.
	Expect       []results.ExpectResult
	ExpectFailed int
	// Searches says what each search of the plan found, a line each.
	Searches []string
}

// SettingSummary is one kernel setting's outcome and the runs it had.
type SettingSummary struct {
	kernel.Outcome
	Runs []int
}

func (o *Outcome) addSettings(run int, outs []kernel.Outcome) {
	for _, k := range outs {
		found := false
		for i := range o.Settings {
			if o.Settings[i].Outcome == k {
				o.Settings[i].Runs = append(o.Settings[i].Runs, run)
				found = true
			}
		}
		if !found {
			o.Settings = append(o.Settings, SettingSummary{Outcome: k, Runs: []int{run}})
		}
	}
}

// WriteSettings prints how each kernel setting ended, so a skipped one is
// never silent.
func WriteSettings(w io.Writer, o *Outcome) {
	if len(o.Settings) == 0 {
		return
	}
	fmt.Fprintln(w, "kernel settings:")
	for _, s := range o.Settings {
		why := ""
		if s.Reason != "" {
			why = ": " + s.Reason
		}
		fmt.Fprintf(w, "  %s = %s: %s (runs %s)%s\n", plan.Printable(s.Setting), plan.Printable(s.Value), s.State, plan.RunList(s.Runs), why)
	}
}

// Execute runs every run of the plan and writes the results folder. A
// cancelled ctx stops the current run, keeps what it measured and marks
// the invocation interrupted (with context.Cause(ctx) as its reason, when
// one was given). Whatever happens, also a panic or a full disk, the
// manifest ends ok, failed or interrupted.
func Execute(ctx context.Context, p *plan.Plan, o ExecOptions) (out *Outcome, err error) {
	if o.Out == "" {
		o.Out = "runs"
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if err := p.CheckSysctls(o.AllowSysctls); err != nil {
		return nil, err
	}
	if err := p.CheckInterfaces(o.Interfaces); err != nil {
		return nil, err
	}
	if o.AllowSystem {
		for _, r := range p.Runs {
			if err := kernel.Conflict(kernel.StateDir(), r.Config.Kernel.System()); err != nil {
				return nil, err // before a result folder is made
			}
		}
	}
	if wire := wireRuns(p); wire > 0 {
		if err := topo.Available(); err != nil {
			return nil, fmt.Errorf("%d of the %d runs send on a veth pair in their own network namespaces: %w", wire, len(p.Runs), err)
		}
	}
	inv := &invocation{ctx: ctx, p: p, o: o, start: time.Now()}
	if err := inv.open(); err != nil {
		return nil, err
	}
	out = inv.out
	// If labrun is killed, the next labrun marks this manifest interrupted.
	defer noteActive(inv.manifest)()
	defer results.ReleaseReserve(inv.dir)
	// Whatever happens, the manifest ends with the invocation's status.
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("internal error: %v", rec)
		}
		err = inv.finish(err)
	}()
	inv.prog = newProgress(o.Stderr, o.Progress, len(p.Runs))
	defer inv.prog.stop()
	if err := inv.prepare(); err != nil {
		return out, err
	}
	var full error // a full disk stops the runs; what finished is still shown
	searchOf, searches := searchPoints(p)
	for i := range p.Runs {
		if ctx.Err() != nil {
			out.Interrupted = true
			break
		}
		if sp := searchOf[i]; sp != nil && sp.done {
			continue // run, or skipped, by its search
		}
		if err := inv.stepOrSearch(i, searchOf[i]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return out, err
			}
			full = err
			break
		}
		if out.Interrupted {
			break
		}
	}
	inv.prog.stop()
	out.Searches = searchLines(searches)
	if err := writeSearches(inv.dir, searches); err != nil && full == nil {
		full = err
	}
	if full != nil {
		inv.conclude(full) // best effort: space may have come free
		return out, full
	}
	return out, inv.conclude(nil)
}

// invocation is one Execute: the plan, its folder and manifest, and the
// rows of its runs.
type invocation struct {
	ctx      context.Context
	p        *plan.Plan
	o        ExecOptions
	start    time.Time
	dir      string
	manifest string
	m        *results.Manifest
	prior    map[string]priorRun
	out      *Outcome
	all      []results.Row // a row per run that ran or was kept, for runs.csv
	prog     *progress
}

// manifestReserve is the space set aside beyond twice the manifest's size
// so that its last version can be written on a full disk.
const manifestReserve = 64 << 10

// open makes (or, resuming, reopens) the result folder and writes the
// first manifest.
func (inv *invocation) open() error {
	p := inv.p
	if inv.o.Resume != "" {
		inv.dir = inv.o.Resume
		prior, err := loadPrior(inv.dir, p, inv.shardName())
		if err != nil {
			return err
		}
		inv.prior = prior
	} else {
		dir, err := newRunDir(filepath.Join(inv.o.Out, p.Experiment, inv.start.UTC().Format("20060102-150405")+"-"+inv.planHash()[:8]))
		if err != nil {
			return results.NameDiskFull(err)
		}
		inv.dir = dir
	}
	if err := os.MkdirAll(filepath.Join(inv.dir, "series"), 0o755); err != nil {
		return fmt.Errorf("output folder: %w", results.NameDiskFull(err))
	}
	inv.out = &Outcome{Dir: inv.dir}
	m := &results.Manifest{Labrun: inv.o.Build, Command: inv.o.Command, Experiment: p.Experiment, Script: p.Script,
		Sources: p.Sources, Params: p.Params, Seed: p.Seed, Machine: results.DescribeMachine(), Start: inv.start, Status: "running", PlanHash: inv.planHash()}
	if s := inv.o.Shard; s != nil {
		m.Shard, m.PlanRuns = s.Shard, s.PlanRuns
	}
	m.Modules, m.Provenance = p.Modules, collectProvenance(p)
	for _, r := range p.Runs {
		m.Runs = append(m.Runs, results.ManifestRun{Index: r.Index, ID: r.ID, Seed: r.Seed, Params: r.Params, Config: r.Config, Status: "pending"})
	}
	inv.m, inv.manifest = m, filepath.Join(inv.dir, "manifest.json")
	return results.WriteManifest(inv.manifest, m)
}

// prepare sets space aside for the last manifest, and removes what a
// killed labrun left: temporary files in the folder being resumed,
// namespaces of wire runs.
func (inv *invocation) prepare() error {
	size := manifestReserve
	if fi, err := os.Stat(inv.manifest); err == nil {
		size += 2 * int(fi.Size())
	}
	if err := results.Reserve(inv.dir, size); err != nil {
		return err
	}
	if inv.o.Resume != "" {
		left, err := results.SweepTemps(inv.dir)
		for _, l := range left {
			inv.prog.line("removed %s in %s, a temporary file left by a labrun that was killed", l, inv.dir)
		}
		if err != nil {
			inv.prog.line("labrun: removing temporary files: %v", err)
		}
	}
	if wireRuns(inv.p) > 0 {
		// A labrun that was killed (SIGKILL, power loss) could not remove
		// its namespaces: remove those whose recorded owner is gone, and
		// say so (and which ones without a record were left).
		found, err := topo.CleanStale()
		for _, s := range found {
			inv.prog.line("%s", s)
		}
		if err != nil {
			return fmt.Errorf("removing stale namespaces: %w", err)
		}
	}
	return nil
}

// step runs (or keeps from the invocation being resumed) run i, and
// writes runs.csv and the manifest. An error ends the invocation.
func (inv *invocation) step(i int) error {
	p, out, prog := inv.p, inv.out, inv.prog
	r := p.Runs[i]
	mr := &inv.m.Runs[i]
	if pr, ok := inv.prior[r.ID]; ok {
		// Finished in the invocation being resumed: keep it.
		*mr = pr.run
		pr.row.Status = "ok"
		out.Rows = append(out.Rows, pr.row)
		inv.all = append(inv.all, pr.row)
		out.Resumed++
		prog.line("run %d/%d %s: kept from the interrupted invocation", i+1, len(p.Runs), plan.ParamString(r.Params))
		return nil
	}
	mr.Start = time.Now()
	mr.Status = "running"
	prog.startRun(r)
	var ts trace.CaptureStats
	row, res, rerr := runOne(inv.ctx, inv.dir, r, prog, kernel.Permit{System: inv.o.AllowSystem, Sysctls: inv.o.AllowSysctls}, p.Seed, &ts)
	rerr = results.NameDiskFull(rerr)
	if ee := (*trace.EmptyError)(nil); errors.As(rerr, &ee) {
		ts = ee.Stats // nothing to replay: still say what the file held
	}
	if ts.Packets > 0 || ts.Malformed != "" {
		mr.Trace = ts
	}
	if ts.Malformed != "" {
		prog.line("run %d/%d: lenient: replayed the valid prefix (%d packets); dropped %d bytes after: %s", i+1, len(p.Runs), ts.Packets, ts.DroppedBytes, ts.Malformed)
	}
	mr.End = time.Now()
	if res != nil {
		mr.Settings, mr.Timer = res.Settings, res.Timer
		out.addSettings(r.Index+1, res.Settings)
	}
	row.ID, row.Params = r.ID, r.Params
	conflict := inv.judge(i, &row, mr, res, rerr)
	mr.Status = row.Status
	if row.Status == "failed" || row.Status == "skipped" {
		row.Metrics = nil // what it measured before it failed does not count
	}
	inv.all = append(inv.all, row)
	if len(row.Metrics) > 0 {
		out.Rows = append(out.Rows, row)
		prog.endRun(r, row.Metrics)
	}
	inv.listFiles(mr, r)
	mr.Hosts = hostsRecord(inv.dir, r)
	if err := writeRuns(inv.dir, p, inv.all); err != nil {
		return err
	}
	if err := results.WriteManifest(inv.manifest, inv.m); err != nil {
		return err
	}
	if errors.Is(rerr, syscall.ENOSPC) || conflict != nil {
		return rerr // the next runs would fail alike
	}
	return nil
}

// judge sets the status of run i from how it ended, counts it in the
// outcome and says so; it returns the error of a settings conflict, which
// ends the invocation.
func (inv *invocation) judge(i int, row *results.Row, mr *results.ManifestRun, res *replay.Result, rerr error) error {
	p, out, prog, r := inv.p, inv.out, inv.prog, inv.p.Runs[i]
	var skip *SkipError
	var conflict error
	switch {
	case rerr != nil && inv.ctx.Err() != nil, rerr == nil && res != nil && res.Interrupted:
		// Ctrl-C or another signal cut it short: not a failure of the run.
		row.Status = "interrupted"
		if rerr != nil {
			mr.Error = rerr.Error()
		}
		out.Interrupted = true
	case errors.As(rerr, new(*kernel.ConflictError)):
		// Another labrun holds a setting at another value: no run of
		// this invocation would measure what it says.
		row.Status, mr.Error = "failed", rerr.Error()
		out.Failed++
		conflict = rerr
	case errors.As(rerr, &skip):
		row.Status, mr.Error = "skipped", skip.Reason
		out.Skipped++
		prog.line("run %d/%d %s skipped: %s", i+1, len(p.Runs), plan.ParamString(r.Params), skip.Reason)
	case rerr != nil:
		row.Status, mr.Error = "failed", rerr.Error()
		out.Failed++
		prog.line("run %d/%d %s failed: %v", i+1, len(p.Runs), plan.ParamString(r.Params), rerr)
	default:
		row.Status = "ok"
	}
	return conflict
}

// listFiles names in the manifest the files of run r that exist.
func (inv *invocation) listFiles(mr *results.ManifestRun, r plan.Run) {
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(inv.dir, rel))
		return err == nil
	}
	mr.Series, mr.Files = "", nil
	if s := "series/" + r.ID + ".csv"; exists(s) {
		mr.Series = s
	}
	var files []string
	if r.Config.Sink.Kind == "pcap" {
		files = append(files, "pcap/"+r.ID+".pcapng")
	}
	if rc := r.Config.Receiver; rc != nil && rc.Capture {
		files = append(files, "pcap/"+r.ID+"-rx.pcapng")
	}
	if r.Config.Remote() {
		files = append(files, "hosts/"+r.ID+".json")
	}
	for _, f := range files {
		if exists(f) {
			mr.Files = append(mr.Files, f)
		}
	}
}

// conclude writes the tables, figures, expectations and the report once
// the runs are over; stopErr is what stopped them early, if anything.
func (inv *invocation) conclude(stopErr error) error {
	return concludeOutcome(inv.dir, inv.p, inv.out, inv.o.Stderr, func(figErr error) *results.Manifest {
		// The report shows the status the invocation ends with.
		final := *inv.m
		inv.setStatus(&final, cmp.Or(stopErr, figErr))
		final.End = time.Now()
		return &final
	})
}

// concludeOutcome writes dir's tables.md, figures, expectations.csv and
// report of the rows in out; manifest gives the report's manifest, told
// whether a figure failed.
func concludeOutcome(dir string, p *plan.Plan, out *Outcome, stderr io.Writer, manifest func(figErr error) *results.Manifest) error {
	if err := writeTables(dir, p, out); err != nil {
		return err
	}
	// Figures and expectations take the runs that finished: an
	// interrupted run's values cover only part of it.
	finished := measuredRows(out.Rows)
	// A figure that cannot be drawn does not stop the rest (expectations,
	// report.html); its error is returned at the end.
	figErr := writeFigures(dir, p, finished)
	if figErr != nil {
		fmt.Fprintf(stderr, "labrun: %s\n", plan.PrintableLines(figErr.Error()))
	}
	if len(p.Expectations) > 0 && !out.Interrupted {
		out.Expect = checkExpectations(p, finished)
		out.ExpectFailed = results.Failed(out.Expect)
		t := results.ExpectTable(out.Expect)
		out.Tables = append(out.Tables, t)
		var b strings.Builder
		if err := t.WriteCSV(&b); err != nil {
			return err
		}
		if err := results.WriteFileAtomic(filepath.Join(dir, "expectations.csv"), []byte(b.String())); err != nil {
			return err
		}
	}
	if err := writeReport(dir, p, out, manifest(figErr)); err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	return figErr
}

// setStatus sets how the invocation ended, given the error that ends it.
func (inv *invocation) setStatus(m *results.Manifest, err error) {
	switch {
	case err != nil:
		m.Status, m.Error = "failed", results.NameDiskFull(err).Error()
	case inv.out.Interrupted:
		m.Status = "interrupted"
		if c := context.Cause(inv.ctx); c != nil && c != context.Canceled {
			m.Error = c.Error()
		}
	case inv.out.Failed > 0:
		m.Status = "failed"
	default:
		m.Status = "ok"
	}
}

// finish writes the last manifest, with the invocation's status; err is
// what ends the invocation, and finish returns it, or the manifest's
// write error.
func (inv *invocation) finish(err error) error {
	err = results.NameDiskFull(err)
	inv.m.End = time.Now()
	inv.setStatus(inv.m, err)
	if werr := results.WriteManifest(inv.manifest, inv.m); werr != nil && err == nil {
		err = werr
	}
	return err
}

// measuredRows keeps the rows of runs that finished (status ok).
func measuredRows(rows []results.Row) []results.Row {
	var out []results.Row
	for _, r := range rows {
		if r.Measured() {
			out = append(out, r)
		}
	}
	return out
}

// wireRuns counts the runs that need namespaces.
func wireRuns(p *plan.Plan) int {
	n := 0
	for _, r := range p.Runs {
		if r.Config.Wire() {
			n++
		}
	}
	return n
}

// planHash names the full plan: the same runs give the same hash (as
// runner/shard.PlanHash). A shard's is the full plan's.
func (inv *invocation) planHash() string {
	if inv.o.Shard != nil {
		return inv.o.Shard.PlanHash
	}
	h := sha256.New()
	for _, r := range inv.p.Runs {
		h.Write([]byte(r.ID))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shardName is the shard the invocation runs, "" for a whole plan.
func (inv *invocation) shardName() string {
	if inv.o.Shard != nil {
		return inv.o.Shard.Shard
	}
	return ""
}

// runOne executes one run and writes its per-packet series.
func runOne(ctx context.Context, dir string, r plan.Run, prog *progress, permit kernel.Permit, expSeed int64, traceInfo *trace.CaptureStats) (row results.Row, res *replay.Result, err error) {
	env, err := startEnvironment(ctx, dir, r, permit)
	if err != nil {
		return results.Row{ID: r.ID, Params: r.Params}, nil, err
	}
	defer func() {
		m := row.Metrics
		if err != nil || m == nil {
			m = nil
		}
		if serr := env.stop(m); serr != nil && err == nil {
			err = serr
		}
		if res != nil {
			res.Settings = append(env.outcomes, res.Settings...)
		}
	}()
	rc := &runContext{dir: dir, run: r, prog: prog, allowSystem: permit.System, expSeed: expSeed, traceInfo: traceInfo}
	rc.allowSysctls = permit.Sysctls
	return kindOf(r.Config).run(ctx, rc)
}

// bareKind replays the trace with labrun's engine into a sink of its own
// process (null or a pcap file), through an in-process emulated link if
// there is one.
type bareKind struct{}

func (bareKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	r, dir, prog, allowSystem, expSeed, traceInfo := rc.run, rc.dir, rc.prog, rc.allowSystem, rc.expSeed, rc.traceInfo
	row := results.Row{ID: r.ID, Params: r.Params}
	c := r.Config
	src, err := buildSource(dir, c.Trace, r.Seed, expSeed)
	if err != nil {
		return row, nil, err
	}
	if cs, ok := src.(*trace.CaptureSource); ok {
		defer cs.Close()
		*traceInfo = cs.Stats()
	}
	sink, ls, err := bareSink(dir, r, src.Len())
	if err != nil {
		return row, nil, err
	}
	tc, err := timerConfig(c.Timer)
	if err != nil {
		sink.Close()
		return row, nil, err
	}
	prog.sent.Store(0)
	prog.packets.Store(int64(src.Len()))
	ks := c.Kernel.Settings()
	ks.AllowSystem = allowSystem
	res, err := replay.Run(ctx, replay.Config{
		Source:   src,
		Timer:    tc,
		Sink:     sink,
		Kernel:   ks,
		Progress: &prog.sent,
		Profile:  c.Sender.ProfileEvery(),
	})
	if cerr := sink.Close(); err == nil && cerr != nil {
		err = cerr
	}
	var lat []int64
	if cs, ok := src.(*trace.CaptureSource); ok {
		if err == nil && cs.Err() != nil {
			err = cs.Err()
		}
		lat = cs.ReadLatency()
		if lat != nil {
			lat = lat[:len(res.Sched)]
		}
	}
	if err != nil {
		return row, res, err
	}
	row.Metrics = res.Metrics()
	measure.AddReadMetrics(row.Metrics, lat)
	if ls != nil {
		addForwardMetrics(row.Metrics, link.ForwardStats{Pipe: ls.PipeStats()})
	}
	if cs, ok := src.(*trace.CaptureSource); ok {
		st := cs.Stats()
		row.Metrics[measure.Skipped] = float64(st.NotEthernet + st.Untransformable)
	}
	if err := writeSeries(filepath.Join(dir, "series", r.ID+".csv"), res, lat); err != nil {
		return row, res, err
	}
	return row, res, nil
}

// bareSink opens a bare run's sink (null or a pcap file of n packets) and
// the in-process emulated link in front of it, if any.
func bareSink(dir string, r plan.Run, n int) (tx.Sink, *link.Sink, error) {
	c := r.Config
	var sink tx.Sink = &tx.Null{}
	if c.Sink.Kind == "pcap" {
		if err := os.MkdirAll(filepath.Join(dir, "pcap"), 0o755); err != nil {
			return nil, nil, err
		}
		pc, err := tx.NewPcap(filepath.Join(dir, "pcap", r.ID+".pcapng"), tx.PcapBufferFor(n, c.Trace.MaxFrame()), int(c.Sink.Snaplen))
		if err != nil {
			return nil, nil, err
		}
		sink = pc
	}
	var ls *link.Sink
	if c.Link != nil {
		lc, err := linkconf.Link(c.Link, r.Seed)
		if err != nil {
			sink.Close()
			return nil, nil, err
		}
		ls, err = link.NewSink(link.PipeConfig{Link: &lc, CPU: -1, Batch: c.Link.Batch, Buffer: c.Link.Buffer, Record: n}, sink,
			5*time.Second+time.Duration(delayMaxOf(lc)))
		if err != nil {
			sink.Close()
			return nil, nil, fmt.Errorf("emulated link: %w", err)
		}
		sink = ls
	}
	return sink, ls, nil
}

// writeSeries writes one row per packet: index, scheduled and actual send
// time relative to the run's start, and the error, all in ns.
func writeSeries(path string, res *replay.Result, readLat []int64) error {
	sched, actual, errs := make([]int64, len(res.Sched)), make([]int64, len(res.Sched)), make([]int64, len(res.Sched))
	for i := range res.Sched {
		sched[i], actual[i], errs[i] = res.Sched[i]-res.Start, res.Actual[i]-res.Start, res.Actual[i]-res.Sched[i]
	}
	cols := []seriesCol{{"actual_ns", actual}, {"error_ns", errs}}
	if readLat != nil {
		cols = append(cols, seriesCol{"read_ns", readLat})
	}
	return writeSeriesCols(path, sched, cols)
}

// seriesCol is one column of a series file; missing values are empty.
type seriesCol struct {
	name string
	vals []int64
}

// writeSeriesCols writes packet,scheduled_ns and the given columns, one
// row per packet.
func writeSeriesCols(path string, sched []int64, cols []seriesCol) error {
	f, err := results.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("packet,scheduled_ns")
	for _, c := range cols {
		w.WriteString("," + c.name)
	}
	w.WriteString("\n")
	var b []byte
	for i := range sched {
		b = strconv.AppendInt(b[:0], int64(i), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, sched[i], 10)
		for _, c := range cols {
			b = append(b, ',')
			if v := c.vals[i]; v != results.Missing {
				b = strconv.AppendInt(b, v, 10)
			}
		}
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

func writeRuns(dir string, p *plan.Plan, rows []results.Row) error {
	var b strings.Builder
	if err := results.WriteRunsCSV(&b, plan.ParamNames(p), results.MetricOrder(), rows); err != nil {
		return err
	}
	return results.WriteFileAtomic(filepath.Join(dir, "runs.csv"), []byte(b.String()))
}

func writeTables(dir string, p *plan.Plan, out *Outcome) error {
	var md strings.Builder
	fmt.Fprintf(&md, "# %s\n\n", p.Experiment)
	for _, spec := range p.Tables {
		rows, interrupted := tableRows(spec, out.Rows)
		if len(rows) == 0 {
			continue // its runs were left out (--set) or did not finish
		}
		spec.Where = nil // applied by tableRows
		t, err := results.Build(spec, withAllMetrics(rows, spec.Metrics))
		if err != nil {
			if len(out.Rows) == 0 {
				continue
			}
			return err
		}
		t.Notes = append(t.Notes, rateNotes(p)...)
		if interrupted {
			t.Notes = append(t.Notes, interruptedNote)
		}
		if n := out.Failed + out.Skipped; n > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("not shown: %d run(s) that failed or were skipped (their status is in runs.csv)", n))
		}
		out.Tables = append(out.Tables, t)
		if err := t.WriteMarkdown(&md); err != nil {
			return err
		}
		md.WriteString("\n")
	}
	return results.WriteFileAtomic(filepath.Join(dir, "tables.md"), []byte(md.String()))
}

// interruptedNote explains the mark of an interrupted run in a table.
const interruptedNote = "(interrupted): the run was stopped before its end; its values cover the packets it sent until then"

// tableRows are the rows a table shows: those its Where selects, with the
// first row label of an interrupted run marked " (interrupted)" (so it is
// never a median with finished repetitions).
func tableRows(spec results.TableSpec, rows []results.Row) (kept []results.Row, interrupted bool) {
	for _, r := range rows {
		if !spec.Selects(r) {
			continue
		}
		if r.Status == "interrupted" {
			interrupted = true
			if len(spec.Rows) > 0 {
				params := maps.Clone(r.Params)
				params[spec.Rows[0]] += " (interrupted)"
				r.Params = params
			}
		}
		kept = append(kept, r)
	}
	return kept, interrupted
}

// rateNotes says what the bit rates of the plan's replays count.
func rateNotes(p *plan.Plan) []string {
	seen := map[string]bool{}
	var notes []string
	for _, r := range p.Runs {
		t := r.Config.Trace
		if t.Rate == "" || seen[t.Layer] {
			continue
		}
		seen[t.Layer] = true
		if t.Layer == "l1" {
			notes = append(notes, "rates count L1: each frame's bytes + FCS + preamble, SFD and inter-frame gap (+24 B)")
		} else {
			notes = append(notes, "rates count L2: each frame's bytes + FCS (+4 B); preamble and inter-frame gap not included")
		}
	}
	return notes
}

// withAllMetrics returns rows in which every metric a table asks for is
// present: a metric that a run does not produce (firm_margin_us without a
// firm timer) shows as "-" instead of failing the table after the runs.
func withAllMetrics(rows []results.Row, metrics []string) []results.Row {
	out := make([]results.Row, len(rows))
	for i, r := range rows {
		m := make(map[string]float64, len(r.Metrics)+len(metrics))
		for k, v := range r.Metrics {
			m[k] = v
		}
		for _, k := range metrics {
			if _, ok := m[k]; !ok {
				m[k] = math.NaN()
			}
		}
		out[i] = results.Row{ID: r.ID, Params: r.Params, Metrics: m}
	}
	return out
}
