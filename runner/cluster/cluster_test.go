package cluster

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testJob() Job {
	return Job{Name: "labrun-usleep_vs_firm", Labrun: "/opt/labrun/bin/labrun", Script: "/shared/exp/usleep_vs_firm.star", Shards: 4,
		Out: "/shared/results/sweep1", RunArgs: []string{"--set", "packets=2000", "--set", "note=it's"}, Exclusive: true, MergeAfter: "ok"}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n%s", path, got)
	}
}

func TestSlurmScripts(t *testing.T) {
	shards, merge, err := testJob().SlurmScripts()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "shards.sbatch", shards)
	golden(t, "merge.sbatch", merge)
	for name, s := range map[string][]byte{"shards": shards, "merge": merge} {
		if out, err := exec.Command("bash", "-n", "-c", string(s)).CombinedOutput(); err != nil {
			t.Errorf("%s script is not valid bash: %v %s", name, err, out)
		}
		// sbatch reads #SBATCH lines only before the first command.
		lines := strings.Split(string(s), "\n")
		last := slices.IndexFunc(lines, func(l string) bool { return l != "" && !strings.HasPrefix(l, "#") })
		for i, l := range lines {
			if strings.HasPrefix(l, "#SBATCH") && i > last {
				t.Errorf("%s: %q after the first command", name, l)
			}
		}
	}
	if !strings.Contains(string(shards), "#SBATCH --array=0-3\n") || !strings.Contains(string(shards), "--exclusive") {
		t.Error("no array of 4 exclusive tasks")
	}
	j := testJob()
	j.Exclusive = false
	if s, _, _ := j.SlurmScripts(); strings.Contains(string(s), "--exclusive") {
		t.Error("--exclusive without Exclusive")
	}
}

func TestSbatchArgs(t *testing.T) {
	j := testJob()
	got := strings.Join(j.SbatchArgs("/s/merge.sbatch", "42", []string{"--partition=lab"}), " ")
	if got != "sbatch --parsable --dependency=afterok:42 --kill-on-invalid-dep=yes --partition=lab /s/merge.sbatch" {
		t.Errorf("got %s", got)
	}
	for in, want := range map[string]string{"42\n": "42", "42;cluster\n": "42", "": "", "Submitted batch job 3": ""} {
		id, err := ParseJobID(in)
		if id != want || (want == "") != (err != nil) {
			t.Errorf("ParseJobID(%q) = %q, %v", in, id, err)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, mod := range []func(*Job){
		func(j *Job) { j.Shards = 0 },
		func(j *Job) { j.Out = "rel" },
		func(j *Job) { j.Script = "x.star" },
		func(j *Job) { j.MergeAfter = "notok" },
		func(j *Job) { j.Out = "/shared/sweep 1" },
	} {
		j := testJob()
		mod(&j)
		if err := j.Check(); err == nil {
			t.Errorf("%+v passes", j)
		}
	}
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// TestK8sJobs checks the manifests against the fields Kubernetes requires
// of a batch/v1 Job, an Indexed one in particular.
func TestK8sJobs(t *testing.T) {
	for _, priv := range []bool{true, false} {
		shards, merge, err := testJob().K8sJobs(K8s{Image: "registry.example/labrun:1.0", Claim: "results", Privileged: priv})
		if err != nil {
			t.Fatal(err)
		}
		if priv {
			golden(t, "shards-job.json", shards)
			golden(t, "merge-job.json", merge)
		}
		for name, b := range map[string][]byte{"shards": shards, "merge": merge} {
			var job struct {
				APIVersion string `json:"apiVersion"`
				Kind       string
				Metadata   struct{ Name string }
				Spec       struct {
					CompletionMode           string `json:"completionMode"`
					Completions, Parallelism int
					Template                 struct {
						Spec struct {
							RestartPolicy string `json:"restartPolicy"`
							Containers    []struct {
								Name, Image     string
								Command         []string
								Env             []struct{ Name, Value string }
								VolumeMounts    []struct{ Name, MountPath string } `json:"volumeMounts"`
								SecurityContext *struct {
									Privileged   bool
									Capabilities struct{ Add []string }
								} `json:"securityContext"`
							}
							Volumes []struct {
								Name string
								PVC  *struct{ ClaimName string } `json:"persistentVolumeClaim"`
							}
						}
					}
				}
			}
			if err := json.Unmarshal(b, &job); err != nil {
				t.Fatalf("%s: not JSON (so not YAML): %v", name, err)
			}
			ps := job.Spec.Template.Spec
			if job.APIVersion != "batch/v1" || job.Kind != "Job" || !dns1123.MatchString(job.Metadata.Name) || len(job.Metadata.Name) > 63 ||
				ps.RestartPolicy != "Never" || len(ps.Containers) != 1 || ps.Containers[0].Name == "" || ps.Containers[0].Image == "" ||
				len(ps.Volumes) != 1 || ps.Volumes[0].PVC == nil || ps.Containers[0].VolumeMounts[0].Name != ps.Volumes[0].Name {
				t.Errorf("%s: a required field is missing or wrong: %s", name, b)
			}
			if name == "merge" {
				continue
			}
			c := ps.Containers[0]
			if job.Spec.CompletionMode != "Indexed" || job.Spec.Completions != 4 || job.Spec.Parallelism != 4 {
				t.Errorf("not an Indexed Job of 4: %+v", job.Spec)
			}
			if !slices.Contains(c.Command, "auto") || !slices.ContainsFunc(c.Env, func(e struct{ Name, Value string }) bool { return e.Name == "LABRUN_SHARDS" && e.Value == "4" }) {
				t.Errorf("the pods do not run --shard auto with LABRUN_SHARDS=4: %v %v", c.Command, c.Env)
			}
			if sc := c.SecurityContext; sc == nil || sc.Privileged != priv || !priv && !slices.Equal(sc.Capabilities.Add, Capabilities) {
				t.Errorf("privileged=%v: security context %+v", priv, sc)
			}
		}
	}
	if _, _, err := testJob().K8sJobs(K8s{Claim: "x"}); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("no image: %v", err)
	}
}
