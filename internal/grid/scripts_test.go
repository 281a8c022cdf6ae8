package grid

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkSweepArgs checks the arguments of a dmrnet sweep command in a script: the sweep
// subcommand, no --shard (the shard comes from the environment), and --grid flags that parse.
func checkSweepArgs(t *testing.T, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "sweep" {
		t.Errorf("args %q: want the sweep subcommand first", args)
	}
	var grid []string
	for i, a := range args {
		if strings.HasPrefix(a, "--shard") {
			t.Errorf("args %q: the shard comes from the environment, not --shard", args)
		}
		if v, ok := strings.CutPrefix(a, "--grid="); ok {
			grid = append(grid, v)
		} else if a == "--grid" && i+1 < len(args) {
			grid = append(grid, args[i+1])
		}
	}
	if len(grid) == 0 {
		t.Errorf("args %q: no --grid", args)
	}
	if _, err := ParseAxes(grid); err != nil {
		t.Errorf("args %q: %v", args, err)
	}
	for _, f := range []string{"--config", "--seeds"} {
		if !slices.ContainsFunc(args, func(a string) bool { return a == f || strings.HasPrefix(a, f+"=") }) {
			t.Errorf("args %q: no %s", args, f)
		}
	}
}

func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "scripts", "k8s-sweep.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Command []string
		Args    []string
		Env     []struct{ Name, Value string }
		Mounts  []struct {
			Name      string
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	var job struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Spec       struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Parallelism    int
			Template       struct {
				Spec struct {
					RestartPolicy string `yaml:"restartPolicy"`
					Containers    []container
					Volumes       []struct {
						Name string
						PVC  *struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(data, &job); err != nil {
		t.Fatalf("k8s-sweep.yaml: %v", err)
	}
	spec := job.Spec
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("%s %s; want batch/v1 Job", job.APIVersion, job.Kind)
	}
	if spec.CompletionMode != "Indexed" {
		t.Errorf("completionMode %q; want Indexed", spec.CompletionMode)
	}
	if spec.Completions < 1 || spec.Parallelism < 1 || spec.Parallelism > spec.Completions {
		t.Errorf("completions %d, parallelism %d", spec.Completions, spec.Parallelism)
	}
	if p := spec.Template.Spec.RestartPolicy; p != "Never" && p != "OnFailure" {
		t.Errorf("restartPolicy %q", p)
	}
	if len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers; want 1", len(spec.Template.Spec.Containers))
	}
	c := spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if got := env[EnvShardCount]; got != strconv.Itoa(spec.Completions) {
		t.Errorf("%s=%q; want spec.completions, %d", EnvShardCount, got, spec.Completions)
	}
	if got := env["DMRNET_DATA_ROOT"]; got != "/data" {
		t.Errorf("DMRNET_DATA_ROOT=%q; want /data", got)
	}
	mounts := map[string]string{}
	for _, m := range c.Mounts {
		mounts[m.MountPath] = m.Name
	}
	claims := map[string]bool{}
	for _, v := range spec.Template.Spec.Volumes {
		claims[v.Name] = v.PVC != nil && v.PVC.ClaimName != ""
	}
	for _, p := range []string{"/runs", "/data"} {
		if !claims[mounts[p]] {
			t.Errorf("%s is not a mounted PersistentVolumeClaim", p)
		}
	}
	if !slices.Equal(c.Command, []string{"dmrnet"}) {
		t.Errorf("command %q; want [dmrnet]", c.Command)
	}
	checkSweepArgs(t, c.Args)
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--out=/runs/") }) {
		t.Errorf("args %q: want --out=/runs/...", c.Args)
	}
}

func TestSlurmScript(t *testing.T) {
	path := filepath.Join("..", "..", "scripts", "slurm-sweep.sh")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)

	// sbatch reads #SBATCH directives up to the first command.
	var directives []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if d, ok := strings.CutPrefix(line, "#SBATCH "); ok {
			directives = append(directives, strings.TrimSpace(d))
		} else if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
	}
	arrays := regexp.MustCompile(`^--array=(\d+)-(\d+)$`)
	var lo, hi string
	for _, d := range directives {
		if m := arrays.FindStringSubmatch(d); m != nil {
			lo, hi = m[1], m[2]
		}
	}
	if lo != "0" || hi == "" {
		t.Fatalf("directives %q: want --array=0-N", directives)
	}
	if !strings.Contains(text, "sbatch --array="+lo+"-"+hi+" scripts/slurm-sweep.sh") {
		t.Errorf("the usage comment does not show sbatch --array=%s-%s like the directive", lo, hi)
	}
	n, _ := strconv.Atoi(hi)
	if !strings.Contains(text, "--array="+lo+"-"+hi+" runs "+strconv.Itoa(n+1)+" shards") {
		t.Errorf("the comment does not say that --array=%s-%s runs %d shards", lo, hi, n+1)
	}
	if !slices.Contains(directives, "--output=slurm-%A_%a.out") {
		t.Errorf("directives %q: want --output=slurm-%%A_%%a.out", directives)
	}

	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", path, err, out)
	}
	// Run the script with a stand-in dmrnet that prints its arguments.
	dir := t.TempDir()
	fake := filepath.Join(dir, "dmrnet")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{nil, []string{"sweep", "--config", "configs/quickstart.yaml", "--grid", "beta=0,0.1,0.2,0.5",
			"--grid", "alpha=0,1e-3", "--seeds", "0,1,2"}},
		{[]string{"CONFIG=c.yaml", "GRID=--grid layers=[64,32];[8] --grid=variant=dmrnet,no-hcr", "SEEDS=4", "OUT=o"},
			[]string{"sweep", "--config", "c.yaml", "--grid", "layers=[64,32];[8]", "--grid=variant=dmrnet,no-hcr",
				"--seeds", "4", "--out", "o"}},
	} {
		cmd := exec.Command(bash, path)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DMRNET=" + fake, "SLURM_SUBMIT_DIR=" + dir,
			"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=8"}, tc.env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) < 1 || !strings.HasPrefix(lines[0], "dmrnet-sweep: task 1 of 8") {
			t.Errorf("output %q: want a task line first", lines)
			continue
		}
		if args := lines[1:]; !slices.Equal(args, tc.want) {
			t.Errorf("env %q: dmrnet args\n%q\nwant\n%q", tc.env, args, tc.want)
		}
		checkSweepArgs(t, lines[1:])
	}
}
