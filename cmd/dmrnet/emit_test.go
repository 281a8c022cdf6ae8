package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSweepEmitRefuses checks that every --emit flag is honoured or refused: flags of the
// other launcher, launcher flags without --emit, and --emit with --dry-run or --shard.
func TestSweepEmitRefuses(t *testing.T) {
	cfg, _ := writeConfig(t)
	base := []string{"sweep", "--config", cfg, "--grid", "beta=0,0.2", "--seeds", "0,1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--emit", "pbs"}, "--emit=pbs: not supported (want slurm or k8s)"},
		{[]string{"--emit", "slurm", "--image", "x:1"}, "--image: applies to --emit k8s only"},
		{[]string{"--emit", "slurm", "--pvc", "runs", "--data-pvc", "data"}, "--pvc, --data-pvc: applies to --emit k8s only"},
		{[]string{"--emit", "k8s", "--partition", "gpu"}, "--partition: applies to --emit slurm only"},
		{[]string{"--emit", "k8s", "--dmrnet", "/bin/dmrnet"}, "--dmrnet: applies to --emit slurm only"},
		{[]string{"--emit", "k8s", "--data-root", "/data"}, "--data-root: does not apply to --emit k8s"},
		{[]string{"--output", "x.sh"}, "--output: applies to --emit only"},
		{[]string{"--shards", "2", "--cpus", "2"}, "--shards, --cpus: applies to --emit only"},
		{[]string{"--time", "1h", "--dry-run"}, "--time: applies to --emit only"},
		{[]string{"--emit", "slurm", "--dry-run"}, "--emit and --dry-run: choose one"},
		{[]string{"--emit", "k8s", "--shard", "0/2"}, "--emit and --shard: choose one"},
		{[]string{"--emit", "slurm", "--shards", "5"}, "shards 5: want 1..4"},
		{[]string{"--emit", "slurm", "--shards", "0"}, "shards 0: want 1..4"},
		{[]string{"--emit", "k8s", "--parallelism", "3", "--shards", "2"}, "parallelism 3"},
		{[]string{"--emit", "slurm", "--mem", "lots"}, "--mem=lots:"},
		{[]string{"--emit", "slurm", "--time", "-1h"}, "--time=-1h0m0s: want a positive duration"},
		{[]string{"--emit", "k8s", "--name", "My_Sweep"}, `name "My_Sweep"`},
		{[]string{"--emit", "k8s", "--out", "/abs/runs"}, "want a relative directory"},
		{[]string{"--emit", "slurm", "--grid", "alpha=0,x"}, "sweep job"},
	} {
		code, stdout, stderr := runCLI(t, nil, append(append([]string(nil), base...), tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "dmrnet: ") || stdout != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want a failure saying %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}

// TestSweepEmitSlurmRunsTheGrid emits a Slurm launcher, runs it as each array task with a
// stand-in dmrnet that records its arguments, and runs those arguments with --dry-run in
// the tasks' environment: the tasks together must list every job of the grid exactly once.
func TestSweepEmitSlurmRunsTheGrid(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cfg, _ := writeConfig(t)
	dir := t.TempDir()
	fake := filepath.Join(dir, "dmrnet")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "sweep.sh")
	grid := []string{"--grid", "beta=0,0.1,0.2", "--grid", "alpha=0,1e-3", "--seeds", "0,1", "--out", filepath.Join(dir, "runs")}
	code, stdout, stderr := runCLI(t, nil, append(append([]string{"sweep", "--config", cfg}, grid...),
		"--set", "train.epochs=2", "--emit", "slurm", "--shards", "5", "--dmrnet", fake, "--output", script)...)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "wrote "+script+", a slurm launcher for 12 jobs in 5 shards") {
		t.Fatalf("sweep --emit slurm: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(script); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("%s: %v; want an executable script", script, err)
	}
	text, _ := os.ReadFile(script)
	if !strings.Contains(string(text), "#SBATCH --array=0-4\n") {
		t.Errorf("the script has no #SBATCH --array=0-4")
	}
	_, full, _ := runCLI(t, nil, append(append([]string{"sweep", "--config", cfg}, grid...), "--dry-run", "--format", "json")...)
	var all struct{ Jobs []dryRunJob }
	if err := json.Unmarshal([]byte(full), &all); err != nil || len(all.Jobs) != 12 {
		t.Fatalf("full sweep: %v, %d jobs", err, len(all.Jobs))
	}
	seen := map[string]int{}
	for task := range 5 {
		env := []string{"SLURM_JOB_ID=9", "SLURM_ARRAY_JOB_ID=8", fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", task), "SLURM_ARRAY_TASK_COUNT=5"}
		cmd := exec.Command(bash, script)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("task %d: %v", task, err)
		}
		args := strings.Split(strings.TrimSpace(string(out)), "\n")[1:]
		if !slices.Contains(args, "--set=train.epochs=2") {
			t.Errorf("task %d: args %q; want the --set", task, args)
		}
		code, stdout, stderr := runCLI(t, env, append(args, "--dry-run", "--format", "json")...)
		if code != 0 {
			t.Fatalf("task %d: dmrnet %q: exit %d: %s", task, args, code, stderr)
		}
		var mine struct {
			Shard string
			Jobs  []dryRunJob
		}
		if err := json.Unmarshal([]byte(stdout), &mine); err != nil || mine.Shard != fmt.Sprintf("%d/5", task) {
			t.Fatalf("task %d: shard %q, %v", task, mine.Shard, err)
		}
		for _, j := range mine.Jobs {
			seen[j.Dir]++
		}
	}
	for _, j := range all.Jobs {
		if seen[j.Dir] != 1 {
			t.Errorf("job %s ran %d times; want once", j.Dir, seen[j.Dir])
		}
	}
	if len(seen) != len(all.Jobs) {
		t.Errorf("%d distinct jobs; want %d", len(seen), len(all.Jobs))
	}
}

// TestSweepEmitKubernetes checks the manifest sweep --emit k8s prints: the shard count in
// completions and DMRNET_SHARD_COUNT, the image and the grid's arguments. The manifest's
// fields are checked against the Kubernetes API types in internal/launch.
func TestSweepEmitKubernetes(t *testing.T) {
	cfg, _ := writeConfig(t)
	for _, tc := range []struct {
		extra  []string
		shards int
		image  string
	}{
		{nil, 4, "dmrnet:latest"},
		{[]string{"--shards", "3", "--image", "registry.example.com/dmrnet:v1", "--data-pvc", ""}, 3, "registry.example.com/dmrnet:v1"},
		{[]string{"--shards", "2", "--jobs", "2", "--data-pvc", ""}, 2, "dmrnet:latest"},
	} {
		code, stdout, stderr := runCLI(t, nil, append([]string{"sweep", "--config", cfg, "--grid", "beta=0,0.2", "--seeds", "0,1",
			"--out", "runs/q", "--emit", "k8s"}, tc.extra...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.extra, code, stderr)
		}
		dec := yaml.NewDecoder(strings.NewReader(stdout))
		var docs []map[string]any
		for {
			var d map[string]any
			if err := dec.Decode(&d); err != nil {
				break
			}
			docs = append(docs, d)
		}
		if len(docs) != 3 {
			t.Fatalf("%q: %d documents; want 3", tc.extra, len(docs))
		}
		spec := docs[1]["spec"].(map[string]any)
		pod := spec["template"].(map[string]any)["spec"].(map[string]any)
		c := pod["containers"].([]any)[0].(map[string]any)
		env := c["env"].([]any)[0].(map[string]any)
		if spec["completions"] != tc.shards || env["name"] != "DMRNET_SHARD_COUNT" || env["value"] != fmt.Sprint(tc.shards) {
			t.Errorf("%q: completions %v, env %v; want %d", tc.extra, spec["completions"], env, tc.shards)
		}
		if c["image"] != tc.image {
			t.Errorf("%q: image %v; want %s", tc.extra, c["image"], tc.image)
		}
		want := []any{"sweep", "--config=/config/tiny.yaml", "--grid=beta=0,0.2", "--seeds=0,1", "--out=/runs/runs/q"}
		if tc.extra == nil {
			want = append(want, "--data-root=/data")
		}
		if slices.Contains(tc.extra, "--jobs") {
			want = append(want, "--jobs=2") // passed on to every shard
		}
		if fmt.Sprint(c["args"]) != fmt.Sprint(want) {
			t.Errorf("%q: args %v; want %v", tc.extra, c["args"], want)
		}
		data, _ := os.ReadFile(cfg)
		if got := docs[0]["data"].(map[string]any)["tiny.yaml"]; got != string(data) {
			t.Errorf("%q: ConfigMap data %q; want the configuration", tc.extra, got)
		}
	}
}

func TestDefaultImage(t *testing.T) {
	for v, want := range map[string]string{
		"v1.2.0": "dmrnet:v1.2.0", "(devel)": "dmrnet:latest",
		"v0.0.0-20261130020000-7880890abcde+dirty": "dmrnet:latest", "v1.2.0-rc.1": "dmrnet:latest",
	} {
		if got := defaultImage(v); got != want {
			t.Errorf("defaultImage(%q) = %s; want %s", v, got, want)
		}
	}
}
