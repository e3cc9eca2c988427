package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/archive"
	"github.com/labrun/labrun/runner/module"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

// recorded is what archive, rerun and run x.tar.gz read of a manifest.
type recorded struct {
	Script  string        `json:"script"`
	Command []string      `json:"command"`
	Sources []plan.Source `json:"sources"`
	Modules *module.Lock  `json:"modules"`
	Runs    []struct {
		ID string `json:"id"`
	} `json:"runs"`
}

func readRecorded(dir string) (*recorded, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var r recorded
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "manifest.json"), err)
	}
	if len(r.Sources) == 0 || r.Sources[0].Path == "" {
		return nil, fmt.Errorf("%s names no script source", filepath.Join(dir, "manifest.json"))
	}
	return &r, nil
}

// planHash is the hash a result folder's name ends with: the same runs
// give the same hash (as runner/execute names folders).
func planHash(ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}

func (r *recorded) planHash() string {
	var ids []string
	for _, run := range r.Runs {
		ids = append(ids, run.ID)
	}
	return planHash(ids)
}

// sets are the --set values of the recorded command line.
func (r *recorded) sets() map[string]string {
	out := map[string]string{}
	for i := 0; i < len(r.Command); i++ {
		a, v := r.Command[i], ""
		switch {
		case a == "--set" || a == "-set":
			if i+1 < len(r.Command) {
				v = r.Command[i+1]
				i++
			}
		case strings.HasPrefix(a, "--set=") || strings.HasPrefix(a, "-set="):
			_, v, _ = strings.Cut(a, "=")
		default:
			continue
		}
		if k, val, ok := strings.Cut(v, "="); ok {
			out[k] = val
		}
	}
	return out
}

// baseDir is the folder the original run's file names are relative to
// (its working folder), when the script was named by a relative path.
func (r *recorded) baseDir() string {
	s := r.Sources[0]
	if filepath.IsAbs(r.Script) || !strings.HasSuffix(s.Path, string(filepath.Separator)+filepath.Clean(r.Script)) {
		return ""
	}
	return strings.TrimSuffix(s.Path, string(filepath.Separator)+filepath.Clean(r.Script))
}

func cmdArchive(e *env, args []string) int {
	fs := newFlags(e, "archive", "DIR|SCRIPT -o FILE.tar.gz [--with-results] [--offline]")
	out := fs.String("o", "", "the archive to write (.tar.gz)")
	withResults := fs.Bool("with-results", false, "also pack the result folder DIR, so that a run of the archive ends with a comparison")
	offline := fs.Bool("offline", false, "SCRIPT: load modules from the module cache only (also LABRUN_OFFLINE=1)")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return ExitUsage
	}
	rec, resultDir, code := archiveSubject(e, pos[0], *offline)
	if rec == nil {
		return code
	}
	files, scriptName, cleanup, err := archiveFiles(rec, resultDir, *withResults)
	defer cleanup()
	if err == nil {
		err = writeArchive(*out, scriptName, files)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun archive: %v\n", err)
		return ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "%s: %d files, script %s\n", *out, len(files), scriptName)
	return ExitOK
}

// archiveSubject reads a result folder's manifest, or evaluates a script
// for what it loads.
func archiveSubject(e *env, arg string, offline bool) (*recorded, string, int) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		rec, err := readRecorded(arg)
		if err != nil {
			fmt.Fprintf(e.stderr, "labrun archive: %s is not a result folder: %v\n", arg, err)
			return nil, "", ExitUsage
		}
		return rec, arg, ExitOK
	}
	p, err := evaluate(arg, script.Options{Print: e.stderr, Offline: offline})
	if err != nil {
		return nil, "", scriptFailure(e, err)
	}
	rec := &recorded{Script: p.Script, Sources: p.Sources}
	rec.Modules, _ = p.Modules.(*module.Lock)
	return rec, "", ExitOK
}

// archiveFiles lists what a rerun needs: the main repository's files the
// evaluation read (as repo/PATH), labrun.mod and the recorded lock, the
// cached tree of every locked module (as cache/tree/...), and the result
// folder's manifest or, with withResults, the whole folder (as result/).
func archiveFiles(rec *recorded, resultDir string, withResults bool) (files []archive.File, scriptName string, cleanup func(), err error) {
	cleanup = func() {}
	root := script.FindRoot(filepath.Dir(rec.Sources[0].Path))
	names := map[string]bool{}
	add := func(name, path string) {
		if !names[name] {
			names[name] = true
			files = append(files, archive.File{Name: name, Path: path})
		}
	}
	for _, s := range rec.Sources {
		if strings.HasPrefix(s.Name, "@") {
			continue // the standard library, or a module's file: its tree comes whole
		}
		name, err := repoName(root, s)
		if err != nil {
			return nil, "", cleanup, err
		}
		add(name, s.Path)
	}
	scriptName = files[0].Name
	if _, err := os.Stat(filepath.Join(root, module.ModFileName)); err == nil {
		add("repo/"+module.ModFileName, filepath.Join(root, module.ModFileName))
	}
	if rec.Modules != nil {
		tmp, err := os.MkdirTemp("", "labrun-archive-lock-")
		if err != nil {
			return nil, "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := rec.Modules.Write(tmp); err != nil {
			return nil, "", cleanup, err
		}
		add("repo/"+module.LockFileName, filepath.Join(tmp, module.LockFileName))
		trees, err := moduleTrees(rec.Modules)
		if err != nil {
			return nil, "", cleanup, err
		}
		files = append(files, trees...)
	}
	if resultDir != "" && withResults {
		res, err := archive.AddDir("result", resultDir)
		if err != nil {
			return nil, "", cleanup, err
		}
		files = append(files, res...)
	} else if resultDir != "" {
		add("result/manifest.json", filepath.Join(resultDir, "manifest.json"))
	}
	return files, scriptName, cleanup, nil
}

// repoName is a main-repository source's archive name, after checking
// that the file is still what the evaluation read.
func repoName(root string, s plan.Source) (string, error) {
	rel, err := filepath.Rel(root, s.Path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is outside the repository root %s", s.Path, root)
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return "", err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != s.SHA256 {
		return "", fmt.Errorf("%s changed since it was read (sha256 %s, recorded %s): the archive would not repeat the run", s.Path, hex.EncodeToString(sum[:]), s.SHA256)
	}
	return "repo/" + filepath.ToSlash(rel), nil
}

// moduleTrees lists the cached tree of every locked module, checked
// against the lock.
func moduleTrees(l *module.Lock) ([]archive.File, error) {
	dir, err := module.CacheDirFromEnv()
	if err != nil {
		return nil, err
	}
	c := module.NewCache(dir, true)
	var out []archive.File
	for _, m := range l.Modules {
		tree := c.TreeDir(m.Commit, m.Hash)
		ts, err := module.HashTree(tree)
		if err != nil {
			return nil, fmt.Errorf("module %s %s: %v; run labrun mod download", m.Name, m.Pin(), err)
		}
		if ts.Hash != m.Hash {
			return nil, &module.HashMismatchError{Module: m.Name, What: "the cached tree " + tree, Want: m.Hash, Got: ts.Hash}
		}
		fs, err := archive.AddDir("cache/tree/"+filepath.Base(tree), tree)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// writeArchive writes the archive beside its final name and renames it.
func writeArchive(path, scriptName string, files []archive.File) error {
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = archive.Write(f, scriptName, files)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// runSource is what labrun run runs: a script, the script of an archive
// (unpacked) or of a result folder (rerun), with the original's plan hash
// to check and its result folder to compare with.
type runSource struct {
	script   string
	rec      *recorded // the original's manifest; nil for a plain script
	original string    // the original result folder with runs to compare with
	temp     string    // a temporary folder to remove at the end
}

// openSource prepares the script of arg and the options to evaluate it.
func openSource(e *env, arg, into string, opts *script.Options) (*runSource, error) {
	src := &runSource{script: arg}
	switch st, err := os.Stat(arg); {
	case strings.HasSuffix(arg, ".tar.gz") || strings.HasSuffix(arg, ".tgz"):
		if err := src.unpack(e, arg, into, opts); err != nil {
			src.close()
			return nil, err
		}
	case into != "":
		return nil, fmt.Errorf("-C %s: only an archive (ARCHIVE.tar.gz) is unpacked", into)
	case err == nil && st.IsDir():
		rec, err := readRecorded(arg)
		if err != nil {
			return nil, fmt.Errorf("%s is not a result folder: %v", arg, err)
		}
		src.rec, src.script, src.original = rec, rec.Sources[0].Path, arg
		opts.BaseDir = rec.baseDir()
	default:
		return src, nil
	}
	if src.rec != nil {
		for k, v := range src.rec.sets() {
			if _, set := opts.Overrides[k]; !set {
				opts.Overrides[k] = v
			}
		}
	}
	return src, nil
}

// unpack unpacks an archive into into, or a temporary folder.
func (src *runSource) unpack(e *env, arg, into string, opts *script.Options) error {
	f, err := os.Open(arg)
	if err != nil {
		return err
	}
	defer f.Close()
	if into == "" {
		if src.temp, err = os.MkdirTemp("", "labrun-archive-"); err != nil {
			return err
		}
		into = filepath.Join(src.temp, "archive")
	}
	idx, err := archive.Unpack(f, into, archive.DefaultLimits)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "labrun: unpacked %s into %s\n", arg, into)
	src.script = filepath.Join(into, filepath.FromSlash(idx.Script))
	opts.ModuleCache, opts.Offline, opts.CheckUpstream = filepath.Join(into, "cache"), true, false
	result := filepath.Join(into, "result")
	if rec, err := readRecorded(result); err == nil {
		src.rec = rec
		// The original's working folder, at the same place in the copy.
		scriptRel := strings.TrimPrefix(idx.Script, "repo/")
		if base := rec.baseDir(); base != "" && strings.HasSuffix(rec.Sources[0].Path, filepath.FromSlash(scriptRel)) {
			root := strings.TrimSuffix(rec.Sources[0].Path, filepath.FromSlash(scriptRel))
			if rel, err := filepath.Rel(root, base); err == nil {
				opts.BaseDir = filepath.Join(into, "repo", rel)
			}
		}
		if _, err := os.Stat(filepath.Join(result, "runs.csv")); err == nil {
			src.original = result
		}
	}
	return nil
}

// checkPlan refuses a plan whose hash differs from the original's.
func (src *runSource) checkPlan(e *env, p *plan.Plan) int {
	if src.rec == nil || len(src.rec.Runs) == 0 {
		return ExitOK
	}
	var ids []string
	for _, r := range p.Runs {
		ids = append(ids, r.ID)
	}
	got, want := planHash(ids), src.rec.planHash()
	if got != want {
		fmt.Fprintf(e.stderr, "labrun: the plan of %s hashes %s, but the original's hashes %s: it would not repeat the same runs; nothing ran\n", src.script, got, want)
		return ExitRunFailed
	}
	fmt.Fprintf(e.stderr, "labrun: plan %s, the same as the original's (%d runs)\n", got, len(ids))
	return ExitOK
}

// compare prints labrun compare of the original against the new folder.
func (src *runSource) compare(e *env, res string) {
	if src.original == "" || res == "" {
		return
	}
	c, err := results.Compare(results.CompareOptions{A: src.original, B: res, Resamples: 1000})
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: compare %s %s: %v\n", src.original, res, err)
		return
	}
	fmt.Fprintf(e.stdout, "\ncompare %s (original) %s (this run):\n", src.original, res)
	t := c.Table()
	t.WriteText(e.stdout)
}

// close removes a temporary unpacked archive.
func (src *runSource) close() {
	if src.temp != "" {
		os.RemoveAll(src.temp)
	}
}

func cmdRerun(e *env, args []string) int {
	if len(args) == 0 || slices.Contains([]string{"-h", "--help"}, args[0]) {
		fmt.Fprintln(e.stderr, "usage: labrun rerun DIR [labrun run flags]\n  replan the script DIR's manifest names (with its --set values), check that the plan hash is the same, run, and compare with DIR")
		return ExitUsage
	}
	if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
		fmt.Fprintf(e.stderr, "labrun rerun: %s is not a result folder\n", args[0])
		return ExitUsage
	}
	return cmdRun(e, args)
}
