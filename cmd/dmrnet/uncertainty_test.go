package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/uncertainty"
)

// TestUncertainty trains two seeds of the synthetic quick start (shortened) and a
// deterministic model, then runs the uncertainty command on them in every format.
func TestUncertainty(t *testing.T) {
	cfgFile := filepath.Join("..", "..", "configs", "quickstart.yaml")
	root := t.TempDir()
	train := func(name string, sets ...string) string {
		t.Helper()
		dir := filepath.Join(root, name)
		args := []string{"train", "--config", cfgFile, "--quiet", "--out", dir, "--set", "train.epochs=4", "--set", "hard.warmup_epochs=2"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		if code, _, stderr := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("train %s: exit %d: %s", name, code, stderr)
		}
		return dir
	}
	seed0 := train("qs/seed0")
	seed1 := train("qs/seed1", "train.seed=1")

	// one run, JSON: every combination, AUROCs in [0, 1], the accuracy equal to sweep.json's
	code, stdout, stderr := runCLI(t, nil, "uncertainty", seed0, "--format", "json")
	if code != 0 {
		t.Fatalf("uncertainty: exit %d: %s", code, stderr)
	}
	var one uncertainty.Table
	if err := json.Unmarshal([]byte(stdout), &one); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(one.Rows) != 7 || one.Split != "test" || one.Inference != "fused" || one.Best == nil || len(one.Runs) != 1 {
		t.Fatalf("table %+v", one)
	}
	var sweep report.Sweep
	b, err := os.ReadFile(filepath.Join(seed0, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sweep); err != nil {
		t.Fatal(err)
	}
	for i, r := range one.Rows {
		s := sweep.Combinations[i]
		if r.Combination != s.Name || r.N != s.N || *r.Accuracy.Mean != s.Accuracy {
			t.Errorf("row %s n %d accuracy %v; sweep.json %s n %d accuracy %v", r.Combination, r.N, *r.Accuracy.Mean, s.Name, s.N, s.Accuracy)
		}
		for _, m := range uncertainty.Measures() {
			if c := r.AUROC[m]; c.Mean == nil || *c.Mean < 0 || *c.Mean > 1 {
				t.Errorf("%s: AUROC %v undefined or outside [0, 1]", r.Combination, m)
			}
		}
		// abstaining on the most uncertain samples by entropy does not lose accuracy here
		if got := *r.Retained[1].Accuracy[uncertainty.Entropy].Mean; got < *r.Accuracy.Mean {
			t.Errorf("%s: accuracy at 80%% coverage %v below full coverage %v", r.Combination, got, *r.Accuracy.Mean)
		}
	}

	// two seeds, table and markdown to a file
	code, stdout, stderr = runCLI(t, nil, "uncertainty", seed0, seed1)
	if code != 0 {
		t.Fatalf("uncertainty two seeds: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"AUROC σ²", "rgb+depth+ir", "±", "best measure by mean AUROC over combinations", "(seed 1)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("progress on stderr that is not a terminal: %q", stderr)
	}
	md := filepath.Join(t.TempDir(), "unc.md")
	if code, _, stderr := runCLI(t, nil, "uncertainty", seed0, seed1, "--format", "markdown", "--output", md); code != 0 || !strings.Contains(stderr, "wrote "+md) {
		t.Fatalf("--output: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(md); !strings.Contains(string(b), "| **mean** |") {
		t.Errorf("markdown file:\n%s", b)
	}
	if code, stdout, _ := runCLI(t, nil, "uncertainty", seed0, "--format", "csv"); code != 0 || !strings.HasPrefix(stdout, "combination,present,n,metric,measure,coverage,mean,std,runs\n") {
		t.Errorf("csv: exit %d:\n%s", code, stdout)
	}

	// a model without a logvar head: the sigma^2 columns are n/a (null in JSON)
	det := train("det", "variant=deterministic")
	code, stdout, stderr = runCLI(t, nil, "uncertainty", det, "--format", "json")
	if code != 0 {
		t.Fatalf("deterministic: exit %d: %s", code, stderr)
	}
	var dt uncertainty.Table
	if err := json.Unmarshal([]byte(stdout), &dt); err != nil {
		t.Fatal(err)
	}
	if c := dt.Mean.AUROC[uncertainty.Variance]; c.Mean != nil || c.Runs != 0 || dt.Best == nil || *dt.Best == "variance" {
		t.Errorf("deterministic model: variance AUROC %+v, best %v", c, dt.Best)
	}
	if !strings.Contains(stdout, `"variance": {
        "mean": null`) {
		t.Errorf("variance is not null in JSON:\n%s", stdout)
	}
	if _, stdout, _ := runCLI(t, nil, "uncertainty", det); !strings.Contains(stdout, "n/a") {
		t.Errorf("deterministic table has no n/a:\n%s", stdout)
	}

	// refusals: other settings, the same seed twice, bad flags, no model
	other := train("other", "loss.beta=0.5")
	// The quick start has a validation split (data.synthetic.val); this run has none.
	noVal := train("noval", "data.synthetic.val=0")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{seed0, other}, 1, "uncertainty: runs " + seed0 + " and " + other + ` differ in loss.beta, "0.2" vs "0.5" (give the seeds of one configuration`},
		{[]string{seed0, det}, 1, "differ in"},
		{[]string{seed0, seed0}, 1, "same configuration and seed 0"},
		{[]string{seed0, "--format", "xml"}, 2, "--format=xml: not supported"},
		{[]string{seed0, "--split", "dev"}, 2, "--split=dev: not a split"},
		{[]string{seed0, "--inference", "route"}, 2, "has no auxiliary heads"},
		{[]string{noVal, "--split", "val"}, 2, "no validation split"},
		{[]string{filepath.Join(root, "nope")}, 1, "does not exist"},
		{nil, 2, "requires at least 1 arg"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"uncertainty"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("uncertainty %v: exit %d, %q; want exit %d with %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if !errorFormat.MatchString(strings.TrimSpace(stderr)) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("uncertainty %v: error %q is not one line of \"dmrnet: <what>: <why>\"", tt.args, stderr)
		}
	}
}
