// Package cluster writes the batch jobs that run a sweep's shards on a
// cluster: a Slurm array job with one task per shard and a merge job that
// waits for it, or a Kubernetes Indexed Job and a merge Job. It imports
// nothing of runner: the caller gives the command lines.
package cluster

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// Job is a sweep to run as N shards.
type Job struct {
	Name    string   // job name; labrun-<experiment> by default (Slurm)
	Labrun  string   // the labrun binary as the nodes see it
	Script  string   // the experiment file as the nodes see it
	Shards  int      // N
	Out     string   // the shared results folder (absolute)
	RunArgs []string // labrun run flags passed through (--set, --allow-system, ...)
	// Exclusive gives each shard a node of its own (sbatch --exclusive):
	// timing runs must not share a machine with other jobs.
	Exclusive bool
	// MergeAfter is the merge job's dependency on the shards: "ok"
	// (afterok: every task exited 0) or "any" (afterany).
	MergeAfter string
}

// ShardsDir is where shard K writes its result folder: Out/shards/K.
func (j Job) ShardsDir() string { return filepath.Join(j.Out, "shards") }

// MergedDir is the merged result folder.
func (j Job) MergedDir() string { return filepath.Join(j.Out, "merged") }

// LogsDir holds the jobs' output.
func (j Job) LogsDir() string { return filepath.Join(j.Out, "logs") }

// Check validates the job.
func (j Job) Check() error {
	if j.Shards < 1 || j.Shards > 10000 {
		return fmt.Errorf("--shards %d: want 1 to 10000 shards", j.Shards)
	}
	if !filepath.IsAbs(j.Out) || !filepath.IsAbs(j.Script) || j.Labrun == "" || strings.Contains(j.Labrun, "/") && !filepath.IsAbs(j.Labrun) {
		return fmt.Errorf("the results folder, the script and labrun must be absolute paths, or labrun a name on the nodes' PATH (they are used on other machines)")
	}
	if strings.ContainsAny(j.Out+j.Name, " \t\n%") {
		return fmt.Errorf("the results folder %q and job name %q must not hold spaces or %%: sbatch reads #SBATCH lines word by word", j.Out, j.Name)
	}
	if j.MergeAfter != "ok" && j.MergeAfter != "any" {
		return fmt.Errorf("--merge-after %q: want ok (merge when every shard exited 0) or any (merge whatever the shards did)", j.MergeAfter)
	}
	return nil
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && plain.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var plain = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func quoteAll(args []string) string {
	var q []string
	for _, a := range args {
		q = append(q, Quote(a))
	}
	return strings.Join(q, " ")
}

var shardsTmpl = template.Must(template.New("shards").Funcs(template.FuncMap{"q": Quote, "qa": quoteAll}).Parse(`#!/bin/bash
# labrun submit: shard $SLURM_ARRAY_TASK_ID of {{.Shards}} of {{q .Script}}.
# Each task runs its share of the plan (labrun run --shard auto) into
# {{.ShardsDir}}/<task>/; the merge job joins them.
#SBATCH --job-name={{.Name}}
#SBATCH --array=0-{{.Last}}
#SBATCH --ntasks=1
{{- if .Exclusive}}
#SBATCH --exclusive
{{- end}}
#SBATCH --output={{.LogsDir}}/%x-%A_%a.out
set -euo pipefail
exec {{q .Labrun}} run {{q .Script}} --shard auto -o {{q .ShardsDir}}/"$SLURM_ARRAY_TASK_ID" --quiet{{with .RunArgs}} {{qa .}}{{end}}
`))

var mergeTmpl = template.Must(template.New("merge").Funcs(template.FuncMap{"q": Quote}).Parse(`#!/bin/bash
# labrun submit: merge the shards of {{q .Script}} into {{.MergedDir}}.
#SBATCH --job-name={{.Name}}-merge
#SBATCH --ntasks=1
#SBATCH --output={{.LogsDir}}/%x-%j.out
set -euo pipefail
shopt -s nullglob
exec {{q .Labrun}} merge {{q .ShardsDir}}/*/*/*/ -o {{q .MergedDir}}
`))

type view struct {
	Job
	Last      int
	ShardsDir string
	MergedDir string
	LogsDir   string
}

func (j Job) view() view {
	return view{Job: j, Last: j.Shards - 1, ShardsDir: j.ShardsDir(), MergedDir: j.MergedDir(), LogsDir: j.LogsDir()}
}

// SlurmScripts returns the sbatch scripts of the shards' array job and of
// the merge job.
func (j Job) SlurmScripts() (shards, merge []byte, err error) {
	if err := j.Check(); err != nil {
		return nil, nil, err
	}
	var a, b bytes.Buffer
	if err := shardsTmpl.Execute(&a, j.view()); err != nil {
		return nil, nil, err
	}
	if err := mergeTmpl.Execute(&b, j.view()); err != nil {
		return nil, nil, err
	}
	return a.Bytes(), b.Bytes(), nil
}

// SbatchArgs is the sbatch command line that submits script; dependsOn,
// when set, is the shards' job ID the merge waits for; extra are the
// user's sbatch flags (they override the script's #SBATCH lines).
func (j Job) SbatchArgs(script, dependsOn string, extra []string) []string {
	args := []string{"sbatch", "--parsable"}
	if dependsOn != "" {
		args = append(args, "--dependency=after"+j.MergeAfter+":"+dependsOn, "--kill-on-invalid-dep=yes")
	}
	return append(append(args, extra...), script)
}

// ParseJobID reads sbatch --parsable's output: "ID" or "ID;CLUSTER".
func ParseJobID(out string) (string, error) {
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch printed %q, not a job ID", strings.TrimSpace(out))
	}
	return id, nil
}
