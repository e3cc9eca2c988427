package cluster

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// K8s are the settings of the Kubernetes Jobs beyond Job's.
type K8s struct {
	Image string // the container image holding labrun (and the script)
	// Claim is the PersistentVolumeClaim (ReadWriteMany) mounted at
	// Job.Out in every pod: the shards write there, the merge reads there.
	Claim string
	// Privileged runs the pods privileged (the default). Without it they
	// get the capabilities of Capabilities only, enough for runs that
	// make namespaces, veths and raw sockets, hold memory and use real-time
	// priorities, but not for kernel.settings that write /proc/sys or hold
	// /dev/cpu_dma_latency: a container sees those read-only or not at all.
	Privileged bool
}

// Capabilities are what a wire run needs without privileged: NET_ADMIN
// (veth pairs, addresses, qdiscs, in its namespaces), SYS_ADMIN
// (creating and entering network namespaces), NET_RAW (AF_PACKET
// senders and captures), SYS_NICE (SCHED_FIFO, CPU affinity) and
// IPC_LOCK (mlock of the packet buffers).
var Capabilities = []string{"NET_ADMIN", "SYS_ADMIN", "NET_RAW", "SYS_NICE", "IPC_LOCK"}

// indexAnnotation holds a pod's completion index in an Indexed Job.
const indexAnnotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

var dnsLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName makes a Kubernetes object name (a DNS label) of s.
func objectName(s string) string {
	n := strings.Trim(dnsLabel.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 52 { // room for the pods' suffixes
		n = strings.TrimRight(n[:52], "-")
	}
	if n == "" {
		n = "labrun"
	}
	return n
}

type obj = map[string]any

// K8sJobs returns the Indexed Job of the shards and the merge Job, as JSON
// (which is YAML): kubectl apply -f each, the merge once the shards' Job
// is complete.
func (j Job) K8sJobs(k K8s) (shards, merge []byte, err error) {
	if err := j.Check(); err != nil {
		return nil, nil, err
	}
	if k.Image == "" || k.Claim == "" {
		return nil, nil, fmt.Errorf("--k8s needs --image (labrun's container image) and --claim (a ReadWriteMany PersistentVolumeClaim for the results)")
	}
	name := objectName(j.Name)
	run := append([]string{j.Labrun, "run", j.Script, "--shard", "auto", "-o", j.ShardsDir() + "/$(LABRUN_SHARD_INDEX)", "--quiet"}, j.RunArgs...)
	env := []obj{
		{"name": "LABRUN_SHARDS", "value": strconv.Itoa(j.Shards)},
		{"name": "LABRUN_SHARD_INDEX", "valueFrom": obj{"fieldRef": obj{"fieldPath": indexAnnotation}}},
	}
	sec := obj{"privileged": true}
	if !k.Privileged {
		sec = obj{"capabilities": obj{"add": Capabilities}}
	}
	spec := obj{
		"completionMode": "Indexed",
		"completions":    j.Shards,
		"parallelism":    j.Shards,
		// A failed shard fails alone (the others run on) and is not
		// retried: its runs are timed, and labrun run --resume reruns
		// only what did not finish.
		"backoffLimitPerIndex": 0,
		"template":             j.podTemplate(name, k, run, env, sec),
	}
	shards, err = marshal(name, spec)
	if err != nil {
		return nil, nil, err
	}
	mergeCmd := []string{"/bin/sh", "-c", "exec " + Quote(j.Labrun) + " merge " + Quote(j.ShardsDir()) + "/*/*/*/ -o " + Quote(j.MergedDir())}
	merge, err = marshal(name+"-merge", obj{
		"completions": 1, "parallelism": 1, "backoffLimit": 0,
		"template": j.podTemplate(name+"-merge", k, mergeCmd, nil, nil),
	})
	return shards, merge, err
}

func (j Job) podTemplate(name string, k K8s, command []string, env []obj, sec obj) obj {
	c := obj{
		"name":         "labrun",
		"image":        k.Image,
		"command":      command,
		"volumeMounts": []obj{{"name": "results", "mountPath": j.Out}},
	}
	if env != nil {
		c["env"] = env
	}
	if sec != nil {
		c["securityContext"] = sec
	}
	return obj{
		"metadata": obj{"labels": obj{"app.kubernetes.io/name": "labrun", "labrun/job": name}},
		"spec": obj{
			"restartPolicy": "Never",
			"containers":    []obj{c},
			"volumes":       []obj{{"name": "results", "persistentVolumeClaim": obj{"claimName": k.Claim}}},
		},
	}
}

func marshal(name string, spec obj) ([]byte, error) {
	b, err := json.MarshalIndent(obj{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   obj{"name": name, "labels": obj{"app.kubernetes.io/name": "labrun"}},
		"spec":       spec,
	}, "", "  ")
	return append(b, '\n'), err
}

// K8sName is the shards' Job name, for kubectl wait.
func (j Job) K8sName() string { return objectName(j.Name) }
