package script

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// errorPos matches the file:line:col an error message starts with.
var errorPos = regexp.MustCompile(`^[^\s:]+:\d+:\d+: `)

func planJSON(t *testing.T, p *plan.Plan) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := plan.WritePlanJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func ids(p *plan.Plan) []string {
	var out []string
	for _, r := range p.Runs {
		out = append(out, r.ID)
	}
	return out
}

func TestPlanDeterministic(t *testing.T) {
	// The same script and seed give the same bytes, every time.
	a, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ja, jb := planJSON(t, a), planJSON(t, b); !bytes.Equal(ja, jb) {
		t.Errorf("two evaluations differ:\n%s\n---\n%s", ja, jb)
	}
	var ta, tb bytes.Buffer
	if err := plan.WritePlan(&ta, a); err != nil {
		t.Fatal(err)
	}
	if err := plan.WritePlan(&tb, b); err != nil {
		t.Fatal(err)
	}
	if ta.String() != tb.String() {
		t.Errorf("two plan texts differ:\n%s\n---\n%s", ta.String(), tb.String())
	}
}

func TestPlanUsleepVsFirm(t *testing.T) {
	p, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Experiment != "usleep_vs_firm" || p.Script != experimentFile || p.Seed != 1 || p.Repeat != 1 {
		t.Errorf("header: %q %q seed %d repeat %d", p.Experiment, p.Script, p.Seed, p.Repeat)
	}
	if len(p.Runs) != 8 {
		t.Fatalf("%d runs, want 8", len(p.Runs))
	}
	seenID, seenSeed, seenPoint := map[string]bool{}, map[uint64]bool{}, map[string]bool{}
	idForm := regexp.MustCompile(`^[0-9a-f]{12}$`)
	for i, r := range p.Runs {
		if r.Index != i {
			t.Errorf("run %d has index %d", i, r.Index)
		}
		if !idForm.MatchString(r.ID) {
			t.Errorf("run %d: id %q is not 12 hex digits", i, r.ID)
		}
		if r.Seed >= 1<<53 {
			t.Errorf("run %d: seed %d does not fit in 53 bits", i, r.Seed)
		}
		seenID[r.ID], seenSeed[r.Seed], seenPoint[plan.ParamString(r.Params)] = true, true, true
		if r.Config.Trace.Count != 5000 || r.Config.Trace.Frame != 64 || !r.Config.Kernel.Mlock {
			t.Errorf("run %d: config %+v", i, r.Config)
		}
		if r.Config.Timer.Mode != r.Params["timer"] {
			t.Errorf("run %d: timer mode %q, parameter %q", i, r.Config.Timer.Mode, r.Params["timer"])
		}
		if got := r.Config.Trace.Interval.String(); got != map[string]string{"70us": "70us", "2500us": "2.5ms"}[r.Params["interval"]] {
			t.Errorf("run %d: interval %s for parameter %s", i, got, r.Params["interval"])
		}
	}
	if len(seenID) != 8 || len(seenSeed) != 8 || len(seenPoint) != 8 {
		t.Errorf("distinct ids %d, seeds %d, points %d; want 8 each", len(seenID), len(seenSeed), len(seenPoint))
	}
	// interval is declared first, so it varies slowest.
	if p.Runs[0].Params["interval"] != "70us" || p.Runs[4].Params["interval"] != "2500us" || p.Runs[1].Params["timer"] != "sleep" {
		t.Errorf("run order: %v", runParams(p))
	}
	var axes []string
	for _, a := range p.Axes {
		axes = append(axes, a.Name+"="+strings.Join(a.Values, ","))
	}
	if want := []string{"interval=70us,2500us", "timer=busy,sleep,firm,tick"}; !slices.Equal(axes, want) {
		t.Errorf("axes %v, want %v", axes, want)
	}
	var params []string
	for _, prm := range p.Params {
		params = append(params, prm.Name+":"+prm.Type+"="+prm.Value)
	}
	if want := []string{"packets:int=5000", "rt:bool=False", "firm_cpu:string="}; !slices.Equal(params, want) {
		t.Errorf("params %v, want %v", params, want)
	}
	if len(p.Actions) != 2 || p.Actions[0].Setting != "dma_latency" || p.Actions[0].Scope != "system" || p.Actions[1].Setting != "mlock" || !slices.Equal(p.Actions[1].Runs, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("actions %+v", p.Actions)
	}
	if len(p.Tables) != 1 || len(p.Tables[0].Refs) != 1 || len(p.Figures) != 3 {
		t.Errorf("tables %+v, figures %+v", p.Tables, p.Figures)
	}
}

func TestPlanSources(t *testing.T) {
	// The script and every module it loads are recorded with their hash.
	p, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sources) != 2 || p.Sources[0].Name != experimentFile || p.Sources[1].Name != "@stdlib//netvcr.star" {
		t.Fatalf("sources %+v", p.Sources)
	}
	for _, s := range []struct {
		src  plan.Source
		file string
	}{{p.Sources[0], experimentFile}, {p.Sources[1], "../../stdlib/netvcr.star"}} {
		b, err := os.ReadFile(s.file)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if s.src.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 %s, want that of %s", s.src.Name, s.src.SHA256, s.file)
		}
	}
}

func TestPlanSeed(t *testing.T) {
	// Another experiment seed changes every run's seed but no run's ID.
	src := readExperiment(t)
	one := mustEval(t, src, nil)
	two := mustEval(t, replaceOnce(t, src, "seed = 1,", "seed = 2,"), nil)
	if !slices.Equal(ids(one), ids(two)) {
		t.Errorf("ids changed with the seed: %v vs %v", ids(one), ids(two))
	}
	for i := range one.Runs {
		if one.Runs[i].Seed == two.Runs[i].Seed {
			t.Errorf("run %d: seed %d did not change with the experiment seed", i, one.Runs[i].Seed)
		}
	}
}

func TestPlanPacketsChangeIDs(t *testing.T) {
	// A run's ID is its configuration: other packets, other IDs.
	def, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := Evaluate(experimentFile, Options{Overrides: map[string]string{"packets": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Runs) != 8 {
		t.Fatalf("%d runs", len(set.Runs))
	}
	for i := range def.Runs {
		if def.Runs[i].ID == set.Runs[i].ID {
			t.Errorf("run %d: id %s did not change with packets", i, def.Runs[i].ID)
		}
		if set.Runs[i].Config.Trace.Count != 100 {
			t.Errorf("run %d: count %d", i, set.Runs[i].Config.Trace.Count)
		}
	}
	if !set.Params[0].Set || set.Params[0].Value != "100" || set.Params[0].Default != "5000" {
		t.Errorf("param %+v", set.Params[0])
	}
}

func TestPlanPinAxis(t *testing.T) {
	def, err := Evaluate(experimentFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		set   map[string]string
		runs  int
		check func(r plan.Run) bool
	}{
		// An existing label pins the axis to it: one run per interval, with
		// the IDs those runs have in the full plan.
		{"label", map[string]string{"timer": "firm"}, 2, func(r plan.Run) bool {
			return r.Params["timer"] == "firm" && r.Config.Timer.Mode == "firm" && slices.Contains(ids(def), r.ID)
		}},
		// A new value that passes the axis's checks is added and pinned.
		{"new value", map[string]string{"interval": "20us"}, 4, func(r plan.Run) bool {
			return r.Params["interval"] == "20us" && r.Config.Trace.Interval == units.Duration(20*time.Microsecond)
		}},
		// Two axes pinned: one run.
		{"both", map[string]string{"interval": "2500us", "timer": "tick"}, 1, func(r plan.Run) bool {
			return r.Params["interval"] == "2500us" && r.Config.Timer.Period == units.Duration(10*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Evaluate(experimentFile, Options{Overrides: tc.set})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Runs) != tc.runs {
				t.Fatalf("%d runs, want %d: %v", len(p.Runs), tc.runs, runParams(p))
			}
			for _, r := range p.Runs {
				if !tc.check(r) {
					t.Errorf("run %d: %s %+v", r.Index, plan.ParamString(r.Params), r.Config)
				}
			}
		})
	}
}

func TestPlanRepeat(t *testing.T) {
	// repeat = 3 triples the runs; "rep" tells them apart, and repetitions
	// are the outermost loop.
	src := replaceOnce(t, readExperiment(t), "seed = 1,", "seed = 1,\n    repeat = 3,")
	p := mustEval(t, src, nil)
	if p.Repeat != 3 || len(p.Runs) != 24 {
		t.Fatalf("repeat %d, %d runs; want 3, 24", p.Repeat, len(p.Runs))
	}
	seen := map[string]bool{}
	for i, r := range p.Runs {
		want := string(rune('0' + i/8))
		if r.Params["rep"] != want || r.Config.Rep != i/8 {
			t.Errorf("run %d: rep %q (config %d), want %s", i, r.Params["rep"], r.Config.Rep, want)
		}
		if r.Params["timer"] != p.Runs[i%8].Params["timer"] || r.Params["interval"] != p.Runs[i%8].Params["interval"] {
			t.Errorf("run %d: point %s differs from run %d's", i, plan.ParamString(r.Params), i%8)
		}
		seen[r.ID] = true
	}
	if len(seen) != 24 {
		t.Errorf("%d distinct ids, want 24", len(seen))
	}
	if !slices.Contains(plan.ParamNames(p), "rep") {
		t.Errorf("parameters %v lack rep", plan.ParamNames(p))
	}
	// A table may use rep as a row.
	src = replaceOnce(t, src, `rows = ["interval", "timer"]`, `rows = ["interval", "timer", "rep"]`)
	if _, err := evalSrc(t, src, nil); err != nil {
		t.Errorf("rep as a table row: %v", err)
	}
}

func TestPlanZip(t *testing.T) {
	// Two zipped values x two timers = 4 runs; zipped axes step together.
	p := mustEval(t, `
z = sweep.zip(interval = ["70us", "2500us"], packets = [200, 10])
experiment(
    name = "zip",
    trace = trace.synthetic(count = z.packets, interval = z.interval),
    timer = sweep.axis("timer", {"busy": timer.busy(), "firm": timer.firm()}),
)
`, nil)
	var got []string
	for _, r := range p.Runs {
		got = append(got, plan.ParamString(r.Params))
	}
	want := []string{
		"interval=70us packets=200 timer=busy",
		"interval=70us packets=200 timer=firm",
		"interval=2500us packets=10 timer=busy",
		"interval=2500us packets=10 timer=firm",
	}
	if !slices.Equal(got, want) {
		t.Errorf("runs %q, want %q", got, want)
	}
	if p.Runs[2].Config.Trace.Count != 10 {
		t.Errorf("run 3 count %d", p.Runs[2].Config.Trace.Count)
	}
	if p.Axes[0].Zip != p.Axes[1].Zip || p.Axes[0].Zip == p.Axes[2].Zip {
		t.Errorf("zip groups %+v", p.Axes)
	}
	// Pinning one zipped axis pins its partner too.
	pinned := mustEval(t, `
z = sweep.zip(interval = ["70us", "2500us"], packets = [200, 10])
experiment(name = "zip", trace = trace.synthetic(count = z.packets, interval = z.interval), timer = timer.busy())
`, map[string]string{"packets": "10"})
	if len(pinned.Runs) != 1 || pinned.Runs[0].Params["interval"] != "2500us" {
		t.Errorf("pinned runs %v", runParams(pinned))
	}
}

func TestPlanOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		// An int parameter set to a word names the type it accepts.
		{"int param", map[string]string{"packets": "many"}, `--set packets=many: want an int, got "many"`},
		// An int parameter set to a float.
		{"int param float", map[string]string{"packets": "1.5"}, `--set packets=1.5: want an int, got "1.5"`},
		// A bool parameter takes true or false.
		{"bool param", map[string]string{"rt": "maybe"}, `--set rt=maybe: want true or false, got "maybe"`},
		// A new axis value must pass the axis's checks: no bare numbers.
		{"bare interval", map[string]string{"interval": "20"}, `--set interval=20: trace.synthetic: interval: bad duration "20": missing unit`},
		// A negative interval.
		{"negative interval", map[string]string{"interval": "-20us"}, "negative values are not allowed"},
		// An axis of timers only takes its labels.
		{"timer label", map[string]string{"timer": "firn"}, "--set timer=firn: not one of the axis values busy, sleep, firm, tick (did you mean firm?)"},
		// The --set of a parameter is a command-line error, not a script error.
		{"usage error", map[string]string{"packets": "x"}, "(parameter packets is declared at"},
		// A name the script does not declare.
		{"unknown", map[string]string{"pakets": "10"}, `--set pakets: the script declares no parameter or sweep axis "pakets" (did you mean packets?); declared: firm_cpu, interval, packets, rt, timer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(experimentFile, Options{Overrides: tc.set})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tc.want)
			}
			checkErrorForm(t, err)
		})
	}
}

func TestPlanIntAxisOverride(t *testing.T) {
	// An int axis takes a new int, and refuses a word.
	src := `experiment(name = "n", trace = trace.synthetic(count = sweep.axis("count", [10, 20]), interval = "1ms"), timer = timer.busy())`
	p := mustEval(t, src, map[string]string{"count": "30"})
	if len(p.Runs) != 1 || p.Runs[0].Config.Trace.Count != 30 {
		t.Errorf("runs %v", runParams(p))
	}
	_, err := evalSrc(t, src, map[string]string{"count": "thirty"})
	if err == nil || !strings.Contains(err.Error(), "--set count=thirty: want an int or one of 10, 20") {
		t.Errorf("error %v", err)
	}
	_, err = evalSrc(t, src, map[string]string{"count": "0"})
	if err == nil || !strings.Contains(err.Error(), "--set count=0: trace.synthetic: count: 0 out of range") {
		t.Errorf("error %v", err)
	}
}

func TestResolveErrors(t *testing.T) {
	// Checks made when the plan is made, on combinations of values; each
	// error names the position of the value at fault.
	expWith := func(timer, extra string) string {
		return `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = ` + timer + extra + ")"
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		// A tick of zero.
		{"tick zero", expWith(`timer.tick("0s")`, ""), `x.star:1:97: timer.tick: period must be > 0`},
		// A firm margin above its maximum.
		{"firm margins", expWith(`timer.firm(margin = "50us", max_margin = "5us")`, ""), `x.star:1:97: timer.firm: margin 50us is larger than max_margin 5us`},
		// A frame below the Ethernet minimum.
		{"small frame", `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms", frame = "10B"), timer = timer.busy())`, `x.star:1:47: trace.synthetic: frame 10B out of range [64B, `},
		// A frame above the maximum.
		{"large frame", `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms", frame = "1MiB"), timer = timer.busy())`, `trace.synthetic: frame 1MiB out of range`},
		// A priority without a real-time policy.
		{"priority", expWith("timer.busy()", `, kernel = kernel.settings(priority = 10)`), `x.star:1:125: kernel.settings: priority 10 needs sched = "fifo" or "rr"`},
		// fifo without a priority.
		{"fifo", expWith("timer.busy()", `, kernel = kernel.settings(sched = "fifo")`), `kernel.settings: priority must be 1-99 for sched = "fifo", got 0`},
		// A required setting the settings do not set.
		{"required", expWith("timer.busy()", `, kernel = kernel.settings(required = "cpu")`), `kernel.settings: required = "cpu", but cpu is not set`},
		// Two sweep values that are the same configuration.
		{"same config", expWith(`sweep.axis("t", {"a": timer.busy(), "b": timer.busy()})`, ""), `x.star:1:11: runs 1 and 2 resolve to the same configuration (t=b); two sweep values that mean the same thing?`},
		// A table row that is no axis, with a suggestion.
		{"table row", expWith(`sweep.axis("timer", [timer.busy(), timer.sleep()])`, `, tables = [table(rows = ["timre"], metrics = ["cpu_pct"])]`), `table: rows "timre" is not a sweep axis of this experiment (did you mean timer?); axes: timer`},
		// A table column that is no axis.
		{"table cols", expWith(`sweep.axis("timer", [timer.busy(), timer.sleep()])`, `, tables = [table(rows = ["timer"], cols = "interval", metrics = ["cpu_pct"])]`), `table: cols "interval" is not a sweep axis of this experiment; axes: timer`},
		// A reference key that is no axis.
		{"reference key", expWith(`sweep.axis("timer", [timer.busy(), timer.sleep()])`, `, tables = [table(rows = ["timer"], metrics = ["cpu_pct"], reference = reference(source = "p", metric = "cpu_pct", keys = ["mode"], values = {"busy": 1}))]`), `reference: key "mode" is not a sweep axis of this experiment; axes: timer`},
		// A reference key that is an axis but neither a row nor the column
		// of its table: found now, not after every run has run.
		{"reference key not in table", `i = sweep.axis("interval", ["1ms", "2ms"])
experiment(name = "x", trace = trace.synthetic(count = 10, interval = i), timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    tables = [table(rows = ["timer"], metrics = ["cpu_pct"], reference = reference(source = "p", metric = "cpu_pct", keys = ["timer", "interval"], values = {"busy": {"1ms": 1}}))])`, `x.star:3:83: reference: key "interval" is neither a row nor the column of the table (rows: timer)`},
		// A reference for a metric the table does not show.
		{"reference metric", expWith(`sweep.axis("timer", [timer.busy(), timer.sleep()])`, `, tables = [table(rows = ["timer"], metrics = ["cpu_pct"], reference = reference(source = "p", metric = "err_p99_us", keys = ["timer"], values = {"busy": 1}))]`), `reference: metric "err_p99_us" is not among the table's metrics (cpu_pct)`},
		// rep is a parameter only when the experiment repeats.
		{"rep row", expWith(`timer.busy()`, `, tables = [table(rows = ["rep"], metrics = ["cpu_pct"])]`), `table: rows "rep" is not a sweep axis of this experiment; the experiment sweeps nothing (sweep.axis(...) declares an axis)`},
		// A figure facet that is no axis.
		{"facet", expWith(`timer.busy()`, `, figures = [figure.series(facet = ["timer"])]`), `figure.series: facet "timer" is not a sweep axis of this experiment`},
		// A cdf's by is checked the same way.
		{"cdf by", expWith(`timer.busy()`, `, figures = [figure.cdf(by = "interval")]`), `figure.cdf: facet "interval" is not a sweep axis`},
		// Two figures of one name.
		{"figure names", expWith(`timer.busy()`, `, figures = [figure.cdf(name = "a"), figure.series(name = "a")]`), `figure.series: two figures are named "a"`},
		// Two unnamed figures of one kind get distinct names; a name that
		// collides with a generated one is refused.
		{"generated name", expWith(`timer.busy()`, `, figures = [figure.cdf(), figure.cdf(name = "cdf-1")]`), `figure.cdf: two figures are named "cdf-1"`},
		// A figure name is a file name.
		{"figure path", expWith(`timer.busy()`, `, figures = [figure.cdf(name = "../x")]`), `figure.cdf: name "../x" must be a plain file name`},
		// An axis inside a value of another axis would never be expanded.
		{"nested axis", expWith(`sweep.axis("timer", [timer.tick(sweep.axis("period", ["1ms", "2ms"])), timer.busy()])`, ""), `x.star:1:97: sweep.axis: timer: a sweep value cannot itself be or hold a sweep axis`},
		// No experiment at all.
		{"no experiment", `t = timer.busy()`, `x.star:1:1: the script declares no experiment(...)`},
		// A list is frozen once a builtin has checked it, so a later change
		// cannot slip past the check.
		{"mutated list", `ts = []
experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), tables = ts)
ts.append(1)`, `x.star:3:10: append: cannot append to frozen list`},
		// The same for a sweep value.
		{"mutated axis value", `cpus = [0]
k = kernel.settings(cpu = sweep.axis("cpu", [cpus, [1]]))
cpus.append("x")`, `x.star:3:12: append: cannot append to frozen list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalSrc(t, tc.src, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tc.want)
			}
			if _, ok := err.(*plan.ScriptError); !ok {
				t.Errorf("error is a %T, want *ScriptError", err)
			}
			checkErrorForm(t, err)
		})
	}
}

func TestPlanActions(t *testing.T) {
	// Kernel settings and pcap files are listed, with the runs they touch.
	p := mustEval(t, `experiment(
    name = "actions",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep(), timer.timerfd()]),
    sink = sink.pcap(),
    kernel = kernel.settings(sched = "fifo", priority = 80, cpu = [0, 1], timer_slack = "1us", mlock = True, required = "sched"),
)`, nil)
	var b bytes.Buffer
	if err := plan.WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"sched        SCHED_FIFO priority 80",
		"runs 1-3  [needs root or CAP_SYS_NICE]",
		"cpu          0,1",
		"timer_slack  1µs",
		"mlock        mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)",
		"file         pcap/" + p.Runs[1].ID + ".pcapng",
		"runs 2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if got := p.Runs[0].Config.Kernel; got.Sched != "fifo" || got.Priority != 80 || !slices.Equal(got.CPUs, []int{0, 1}) || !slices.Equal(got.Required, []string{"sched"}) {
		t.Errorf("kernel config %+v", got)
	}
	// No kernel settings, no actions.
	b.Reset()
	if err := plan.WritePlan(&b, mustEval(t, `experiment(name = "x", trace = trace.synthetic(count = 1, interval = "1ms"), timer = timer.busy())`, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "actions on the system: none") {
		t.Errorf("plan:\n%s", b.String())
	}
}

func TestPrint(t *testing.T) {
	// print() goes to Options.Print, prefixed with its position.
	var b bytes.Buffer
	_, err := evalIn(t, map[string]string{"x.star": `print("hello", 1)
experiment(name = "x", trace = trace.synthetic(count = 1, interval = "1ms"), timer = timer.busy())`}, "x.star", Options{Print: &b})
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != "x.star:1:6: hello 1\n" {
		t.Errorf("print output %q", b.String())
	}
}

func TestRunList(t *testing.T) {
	tests := []struct {
		runs []int
		want string
	}{
		// Nothing.
		{nil, ""},
		// One run.
		{[]int{4}, "4"},
		// A range and singles.
		{[]int{1, 2, 3, 5, 7, 8}, "1-3,5,7-8"},
	}
	for _, tc := range tests {
		if got := plan.RunList(tc.runs); got != tc.want {
			t.Errorf("runList(%v) = %q, want %q", tc.runs, got, tc.want)
		}
	}
}

func TestTimerLabel(t *testing.T) {
	tests := []struct {
		cfg  plan.TimerConfig
		want string
	}{
		// A mode without settings.
		{plan.TimerConfig{Mode: "busy"}, "busy"},
		// A tick's period.
		{plan.TimerConfig{Mode: "tick", Period: units.Duration(10 * time.Millisecond)}, "tick (period 10ms)"},
		// Both firm margins.
		{plan.TimerConfig{Mode: "firm", Margin: 5000, MaxMargin: 50000}, "firm (margin 5us, max margin 50us)"},
	}
	for _, tc := range tests {
		if got := plan.TimerLabel(plan.RunConfig{Timer: tc.cfg}); got != tc.want {
			t.Errorf("timerLabel(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func TestEvaluateMissingFile(t *testing.T) {
	// A script that does not exist: its name and the reason.
	t.Chdir(t.TempDir())
	_, err := Evaluate("nope.star", Options{})
	if err == nil || err.Error() != "nope.star: no such file or directory" {
		t.Errorf("error %v", err)
	}
}

func TestFindRoot(t *testing.T) {
	// The nearest folder with .labrun or .git; the folder itself without.
	root := writeTree(t, map[string]string{"a/b/x.star": ""})
	if got := findRoot(filepath.Join(root, "a", "b")); got != root {
		t.Errorf("findRoot = %s, want %s", got, root)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findRoot(filepath.Join(root, "a", "b")); got != filepath.Join(root, "a") {
		t.Errorf("findRoot with .git = %s", got)
	}
}

// A --set of an axis the experiment declares but does not use would pin
// nothing: it is an error, not silently ignored.
func TestPlanSetUnusedAxis(t *testing.T) {
	src := `unused = sweep.axis("unused", ["a", "b"])
experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy())`
	_, err := evalSrc(t, src, map[string]string{"unused": "a"})
	var ue *plan.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `sweep axis "unused" (declared at x.star:1:20) is not used by the experiment`) {
		t.Fatalf("error %v", err)
	}
}

// A sweep that expands past MaxRuns is refused before any run is built.
func TestPlanTooManyRuns(t *testing.T) {
	src := `vals = [str(i) + "us" for i in range(1, 400)]
counts = list(range(1, 400))
experiment(name = "x", trace = trace.synthetic(count = sweep.axis("count", counts), interval = sweep.axis("interval", vals)), timer = timer.busy())`
	_, err := evalSrc(t, src, nil)
	if err == nil || !strings.Contains(err.Error(), "expands to more than 100000 runs") {
		t.Fatalf("error %v", err)
	}
	checkErrorForm(t, err)
}
