// Command labrun runs network timing experiments declared in Starlark.
//
//	labrun run FILE [--set name=value]... [-o DIR] [--allow-system] [--allow-sysctl KEY]... [--offline]
//	labrun run ARCHIVE.tar.gz [-C DIR] [labrun run flags]
//	labrun rerun DIR [labrun run flags]
//	labrun FILE.star [flags]   (the same as labrun run FILE.star [flags])
//	labrun plan FILE [--json] [--allow-sysctl KEY]... [--offline]
//	labrun archive DIR|FILE -o ARCHIVE.tar.gz [--with-results]
//	labrun mod tidy|download|verify|graph [--offline]
//	labrun merge DIR... -o OUT
//	labrun submit (--slurm | --k8s) FILE -o SHARED [--shards N] [labrun run flags] [-- sbatch flags]
//	labrun recover
//	labrun version
//
// Exit codes: 0 ok, 1 a run failed, 2 bad command line, 3 bad script,
// 130 interrupted (see docs/cli.md).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/plan"
)

// Set by the Makefile with -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = ""
)

// env is the state a command runs against, injected so that commands can
// be tested in-process.
type env struct {
	stdout, stderr io.Writer
	stdin          *os.File
	isTerminal     bool
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"run", "run an experiment and write its results", cmdRun},
		{"plan", "show every run and every action on the system; run nothing", cmdPlan},
		{"trace", "inspect, convert and generate capture files (info, convert, gen)", cmdTrace},
		{"compare", "compare two result folders run by run, with bootstrap intervals", cmdCompare},
		{"report", "draw a stored result folder's figures and report.html again; run nothing", cmdReport},
		{"merge", "merge the result folders of a plan's shards (or resumed pieces) into one", cmdMerge},
		{"submit", "run a sweep's shards as a Slurm array job or a Kubernetes Indexed Job, then merge", cmdSubmit},
		{"archive", "pack a script, its modules, data files and lock (and a result folder) into one tar.gz", cmdArchive},
		{"rerun", "replan a result folder's script, check the plan is the same, run it and compare", cmdRerun},
		{"mod", "manage the modules labrun.mod requires (tidy, download, verify, graph)", cmdMod},
		{"recover", "restore the system settings and mark the manifests a killed labrun left behind", cmdRecover},
		{"version", "print version and VCS revision", cmdVersion},
		{"agent", "serve labrun run's requests on another host, over SSH (started by labrun; see docs/hosts.md)", cmdAgent},
	}
}

func main() {
	loadChild(os.Args[1:]) // "labrun __load ...": a child of engine/load; does not return
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, isTerminal: isTerminal(os.Stderr)}
	os.Exit(Main(e, os.Args[1:]))
}

// Main runs labrun with args and returns the exit code.
func Main(e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == evalChildArg { // hidden: the evaluating child of plan and run
		return evalChildMain(e)
	}
	for _, c := range commands {
		if c.name == args[0] {
			if c.name == "plan" || c.name == "version" {
				notePending(e) // they only say so: plan and version change nothing
			}
			return c.run(e, args[1:])
		}
	}
	if isScriptArg(args[0]) { // "labrun FILE.star ..." is "labrun run FILE.star ..."
		recoverSystem(e)
		return cmdRun(e, args)
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	fmt.Fprintf(e.stderr, "labrun: unknown command %q; commands: %s\n", args[0], strings.Join(names, ", "))
	return ExitUsage
}

// isScriptArg says whether a first argument that is no command names a
// script: it ends in .star or is an existing file.
func isScriptArg(a string) bool {
	if strings.HasSuffix(a, ".star") {
		return true
	}
	st, err := os.Stat(a)
	return err == nil && st.Mode().IsRegular()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "labrun: scripted network timing experiments\n\nusage: labrun COMMAND [arguments]\n       labrun FILE.star [flags]   (short for labrun run FILE.star [flags])\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'labrun COMMAND -h' for a command's flags. Documentation: docs/.")
}

// setFlag collects repeated --set name=value flags.
type setFlag map[string]string

func (s setFlag) String() string { return "" }
func (s setFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	if _, dup := s[k]; dup {
		return fmt.Errorf("%s is set twice", k)
	}
	s[k] = val
	return nil
}

// parse parses flags that may come before or after the positional
// arguments ("labrun run FILE --set x=1" and "labrun run --set x=1 FILE").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlags makes a FlagSet that reports errors on e.stderr.
func newFlags(e *env, name, argsUsage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: labrun %s %s\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return fs
}

// scriptFailure prints an evaluation error and returns its exit code.
func scriptFailure(e *env, err error) int {
	fmt.Fprintf(e.stderr, "%s\n", plan.PrintableLines(err.Error()))
	var ue *plan.UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitScript
}

// recoverSystem restores system-wide settings that labruns killed before
// they could undo them left behind (settings none of whose holders is
// alive), marks their manifests interrupted, and says what it did. `run`
// does it first, and `recover` does nothing else. It reports whether all
// went well.
func recoverSystem(e *env) bool {
	ok := true
	restored, err := kernel.Recover(kernel.StateDir())
	for _, o := range restored {
		if o.State == kernel.Applied {
			fmt.Fprintf(e.stderr, "labrun: restored %s to %s, left changed by a labrun that was killed\n", o.Setting, o.Value)
		} else {
			fmt.Fprintf(e.stderr, "labrun: could not restore %s to %s%s\n", o.Setting, o.Value, reasonSuffix(o))
			ok = ok && o.State == kernel.Skipped
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: setting records in %s: %v\n", kernel.StateDir(), err)
		ok = false
	}
	marked, err := execute.MarkKilled()
	for _, d := range marked {
		fmt.Fprintf(e.stderr, "labrun: marked %s interrupted: the labrun writing it was killed\n", d)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		ok = false
	}
	return ok
}

func cmdRecover(e *env, args []string) int {
	fs := newFlags(e, "recover", "")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 0 {
		fs.Usage()
		return ExitUsage
	}
	pending, _ := kernel.Pending(kernel.StateDir())
	killed, _ := execute.PendingKilled()
	ok := recoverSystem(e)
	if len(pending) == 0 && len(killed) == 0 && ok {
		fmt.Fprintln(e.stdout, "labrun: nothing to recover")
	}
	if !ok {
		return ExitRunFailed
	}
	return ExitOK
}

// notePending says, without changing anything, what `labrun recover`
// would do.
func notePending(e *env) {
	pending, err := kernel.Pending(kernel.StateDir())
	if n := len(pending); n > 0 {
		what := "setting"
		if n > 1 {
			what = "settings"
		}
		fmt.Fprintf(e.stderr, "labrun: %d %s left changed by a killed labrun (%s) pending: run `labrun recover`\n", n, what, strings.Join(pending, ", "))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: setting records in %s: %v\n", kernel.StateDir(), err)
	}
	killed, err := execute.PendingKilled()
	if n := len(killed); n > 0 {
		fmt.Fprintf(e.stderr, "labrun: %d manifest(s) of a killed labrun still say running (%s): run `labrun recover`\n", n, strings.Join(killed, ", "))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
	}
}

// sysctlsFlag collects repeated --allow-sysctl KEY flags.
type sysctlsFlag []string

func (s *sysctlsFlag) String() string { return strings.Join(*s, ",") }
func (s *sysctlsFlag) Set(v string) error {
	if !kernel.ValidKey(v) {
		return fmt.Errorf("%q is not a sysctl key: want a dotted name like kernel.core_pattern", v)
	}
	*s = append(*s, v)
	return nil
}

// ifacesFlag collects --interface LIST: existing interfaces (IFNAME or
// NETNS/IFNAME) that topology.interfaces may send and receive on, and
// interfaces of remote hosts (DEST:IFNAME, or IFNAME on any host) that
// host(..., interface = ...) may use; comma-separated or repeated.
type ifacesFlag []string

func (s *ifacesFlag) String() string { return strings.Join(*s, ",") }
func (s *ifacesFlag) Set(v string) error {
	for n := range strings.SplitSeq(v, ",") {
		iface := n
		if i := strings.LastIndexByte(n, ':'); i > 0 {
			iface = n[i+1:] // DEST:IFNAME, an interface of a remote host
		}
		if _, err := topo.ParseIface(iface); err != nil {
			return err
		}
		*s = append(*s, n)
	}
	return nil
}

func reasonSuffix(o kernel.Outcome) string {
	if o.State == kernel.Applied {
		return ""
	}
	return ": " + string(o.State) + ", " + o.Reason
}
