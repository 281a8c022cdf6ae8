package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
)

// TestInferenceModes trains the tiny model with auxiliary heads and ensemble inference, then
// checks that evaluation uses the trained mode, that --inference overrides it consistently
// in eval and sweep-missing, that route answers combinations of several modalities exactly
// as the fused path does, and that a model without auxiliary heads refuses route/ensemble.
func TestInferenceModes(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet",
		"--set", "model.aux_heads.weight=1", "--set", "model.inference=ensemble"); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	var trained report.Sweep
	data, err := os.ReadFile(filepath.Join(out, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &trained); err != nil {
		t.Fatal(err)
	}
	if trained.Inference != "ensemble" {
		t.Fatalf("sweep.json inference = %q, want ensemble", trained.Inference)
	}

	sweep := func(args ...string) report.Sweep {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, append([]string{"sweep-missing", "--checkpoint", out, "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("sweep-missing %v exit %d: %s", args, code, stderr)
		}
		var sw report.Sweep
		if err := json.Unmarshal([]byte(stdout), &sw); err != nil {
			t.Fatal(err)
		}
		return sw
	}
	if sw := sweep(); sw.Inference != "ensemble" || !reflect.DeepEqual(sw.Combinations, trained.Combinations) {
		t.Fatalf("sweep-missing without --inference differs from training's sweep.json (%s)", sw.Inference)
	}
	sweeps := map[string]report.Sweep{}
	for _, mode := range []string{"fused", "route", "ensemble"} {
		sw := sweep("--inference", mode)
		if sw.Inference != mode {
			t.Errorf("--inference=%s: JSON says %q", mode, sw.Inference)
		}
		sweeps[mode] = sw
	}
	if !reflect.DeepEqual(sweeps["ensemble"].Combinations, trained.Combinations) {
		t.Errorf("--inference=ensemble differs from the trained ensemble sweep")
	}
	for i, r := range sweeps["route"].Combinations {
		f := sweeps["fused"].Combinations[i]
		if len(r.Present) > 1 && (r.Accuracy != f.Accuracy || r.MacroF1 != f.MacroF1) {
			t.Errorf("route %s: accuracy %v, fused %v; want equal for several modalities", r.Name, r.Accuracy, f.Accuracy)
		}
	}

	for _, mode := range []string{"fused", "route", "ensemble"} {
		code, stdout, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--present=ir", "--format", "json", "--inference", mode)
		if code != 0 {
			t.Fatalf("eval --inference=%s exit %d: %s", mode, code, stderr)
		}
		var row report.Row
		if err := json.Unmarshal([]byte(stdout), &row); err != nil {
			t.Fatal(err)
		}
		var want *report.Row
		for i, r := range sweeps[mode].Combinations {
			if r.Name == "ir" {
				want = &sweeps[mode].Combinations[i]
			}
		}
		if want == nil || !reflect.DeepEqual(row, *want) {
			t.Errorf("eval --inference=%s --present=ir = %+v, sweep row %+v", mode, row, want)
		}
	}

	if code, _, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--present=ir", "--inference", "vote"); code != 2 || !strings.Contains(stderr, "--inference=vote") {
		t.Errorf("unknown mode: exit %d: %s", code, stderr)
	}
	plainCfg, plainOut := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", plainCfg, "--quiet"); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "sweep-missing", "--checkpoint", plainOut, "--inference", "route"); code != 2 || !strings.Contains(stderr, "no auxiliary heads") {
		t.Errorf("route without aux heads: exit %d: %s", code, stderr)
	}
}
