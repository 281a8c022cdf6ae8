package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/specialist"
)

// TestSpecialists trains the single-modality specialists of the tiny config, then compares a
// robust model with them in sweep-missing and aggregate.
func TestSpecialists(t *testing.T) {
	cfg, out := writeConfig(t)
	root := filepath.Join(t.TempDir(), "spec")
	code, stdout, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--seeds", "0,1", "--out", root, "--set", "train.epochs=2")
	if code != 0 {
		t.Fatalf("specialists: exit %d: %s", code, stderr)
	}
	for _, name := range []string{"rgb", "depth", "ir"} {
		if !strings.Contains(stdout, name) {
			t.Errorf("specialists table lacks %s:\n%s", name, stdout)
		}
	}
	set, err := specialist.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Entries) != 3 || len(set.Entries[0].Seeds) != 2 {
		t.Fatalf("specialists.json: %+v", set)
	}
	// each specialist trains with its modality only: its config says so
	saved, _ := os.ReadFile(filepath.Join(root, "depth", "seed1", "config.yaml"))
	for _, want := range []string{"variant: deterministic", "mode: explicit", "depth: 1", "seed: 1"} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("depth specialist's config lacks %q", want)
		}
	}
	// a second call reuses the finished runs
	if code, _, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--seeds", "0,1", "--out", root, "--set", "train.epochs=2"); code != 0 || strings.Contains(stderr, "specialist rgb, seed") {
		t.Fatalf("second call retrained: %s", stderr)
	}
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=2"); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--specialists", root, "--format", "json")
	if code != 0 {
		t.Fatalf("sweep-missing --specialists: %s", stderr)
	}
	var sw report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw); err != nil {
		t.Fatal(err)
	}
	if sw.Cost == nil || sw.Cost.N != 3 || sw.Combinations[0].Gap == nil {
		t.Fatalf("no cost of robustness: %+v", sw)
	}
	want := sw.Combinations[0].Accuracy - set.Entries[0].Accuracy
	if got := *sw.Combinations[0].Gap; got != want {
		t.Fatalf("gap of rgb = %v, want %v", got, want)
	}
	code, stdout, stderr = runCLI(t, nil, "aggregate", filepath.Dir(out), "--specialists", root)
	if code != 0 || !strings.Contains(stdout, "cost of robustness") {
		t.Fatalf("aggregate --specialists: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--specialists", t.TempDir()); code != 1 || !strings.Contains(stderr, "dmrnet specialists") {
		t.Fatalf("missing specialists.json: exit %d %s", code, stderr)
	}
}
