package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSweepShardsCoverEveryJobOnce runs --dry-run for every shard i/n and checks that the
// shards together list every job of the full sweep exactly once.
func TestSweepShardsCoverEveryJobOnce(t *testing.T) {
	cfg, _ := writeConfig(t)
	list := func(args ...string) []string {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, append([]string{"sweep", "--config", cfg, "--grid", "beta=0,0.1,0.2,0.5",
			"--grid", "alpha=0,1e-3", "--seeds", "0,1,2", "--out", "ROOT", "--dry-run"}, args...)...)
		if code != 0 {
			t.Fatalf("sweep %v: exit %d: %s", args, code, stderr)
		}
		var dirs []string
		for _, line := range strings.Split(stdout, "\n")[2:] {
			if f := strings.Fields(line); len(f) >= 2 {
				dirs = append(dirs, f[1])
			}
		}
		return dirs
	}
	all := list()
	if len(all) != 24 || all[0] != filepath.Join("ROOT", "beta=0_alpha=0", "seed0") || all[23] != filepath.Join("ROOT", "beta=0.5_alpha=1e-3", "seed2") {
		t.Fatalf("full sweep: %d jobs, %v", len(all), all)
	}
	for n := 1; n <= 7; n++ {
		count := map[string]int{}
		for i := 0; i < n; i++ {
			for _, d := range list("--shard", fmt.Sprintf("%d/%d", i, n)) {
				count[d]++
			}
		}
		for _, d := range all {
			if count[d] != 1 {
				t.Fatalf("n=%d: job %s listed %d times", n, d, count[d])
			}
		}
		if len(count) != len(all) {
			t.Fatalf("n=%d: shards list %d distinct jobs, want %d", n, len(count), len(all))
		}
	}
	// the shard also comes from a Slurm job array
	code, stdout, _ := runCLI(t, []string{"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=5"}, "sweep", "--config", cfg,
		"--grid", "beta=0,0.1,0.2,0.5", "--grid", "alpha=0,1e-3", "--seeds", "0,1,2", "--out", "ROOT", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "shard 2/5 runs 5") {
		t.Fatalf("slurm shard: %s", stdout)
	}
}

// TestSweepRunsAndResumes trains a two-job sweep, then checks that a second run skips them.
func TestSweepRunsAndResumes(t *testing.T) {
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "sweep")
	args := []string{"sweep", "--config", cfg, "--grid", "variant=dmrnet,no-hcr", "--seeds", "0", "--out", root, "--set", "train.epochs=2"}
	if code, _, stderr := runCLI(t, nil, args...); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	for _, d := range []string{"variant=dmrnet/seed0", "variant=no-hcr/seed0"} {
		if _, err := os.Stat(filepath.Join(root, d, "sweep.json")); err != nil {
			t.Fatalf("job %s has no sweep.json", d)
		}
	}
	code, _, stderr := runCLI(t, nil, args...)
	if code != 0 || strings.Count(stderr, ": done") != 2 {
		t.Fatalf("second sweep did not skip finished jobs: %s", stderr)
	}
	if code, _, stderr := runCLI(t, nil, "sweep", "--config", cfg, "--grid", "betta=1", "--dry-run"); code != 2 || !strings.Contains(stderr, "betta") {
		t.Fatalf("unknown grid key: exit %d %s", code, stderr)
	}
}
