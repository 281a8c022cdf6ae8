package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/report"
)

// TestProtocolEndToEnd trains the tiny two-class model with a validation split and checks the
// protocol metrics in sweep.json, sweep-missing (every format and --plot), eval and aggregate.
func TestProtocolEndToEnd(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--set", "data.val_fraction=0.25"); code != 0 {
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
	if p := trained.Protocol; p == nil || p.Applied != "eer" || p.ThresholdSplit != "val" || p.Note != "" || p.MeanAUC == nil || p.MeanEER == nil || p.MeanACER == nil {
		t.Fatalf("sweep.json protocol = %+v", trained.Protocol)
	}
	for _, r := range trained.Combinations {
		p := r.Protocol
		if p == nil || p.AUC == nil || p.Threshold == nil || p.ACER == nil || len(p.BPCERAt) != 3 || p.Rule != "eer on val" {
			t.Fatalf("%s: protocol %+v", r.Name, p)
		}
		if *p.AUC < 0 || *p.AUC > 1 || *p.Threshold < 0 || *p.Threshold > 1 {
			t.Errorf("%s: AUC %v threshold %v out of range", r.Name, *p.AUC, *p.Threshold)
		}
	}

	code, stdout, stderr := runCLI(t, nil, "sweep-missing", "--config", cfg, "--set", "data.val_fraction=0.25", "--format", "json")
	if code != 0 {
		t.Fatalf("sweep-missing exit %d: %s", code, stderr)
	}
	var sw report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sw.Combinations, trained.Combinations) || !reflect.DeepEqual(sw.Protocol, trained.Protocol) {
		t.Errorf("sweep-missing protocol differs from sweep.json:\n%+v\n%+v", sw.Protocol, trained.Protocol)
	}
	code, stdout, stderr = runCLI(t, nil, "eval", "--checkpoint", out, "--missing=depth", "--format", "json")
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, stderr)
	}
	var row report.Row
	if err := json.Unmarshal([]byte(stdout), &row); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(row, sw.Combinations[4]) || row.Name != "rgb+ir" {
		t.Errorf("eval rgb+ir = %+v, sweep row %+v", row, sw.Combinations[4])
	}
	code, stdout, _ = runCLI(t, nil, "eval", "--checkpoint", out, "--missing=depth")
	for _, w := range []string{"AUC:", "EER:", "BPCER@APCER<=1%:", "threshold:", "(eer on val)", "ACER@threshold:"} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("eval text lacks %q:\n%s", w, stdout)
		}
	}
	plot := filepath.Join(t.TempDir(), "roc.svg")
	for format, want := range map[string]string{
		"table":    "protocol (threshold: each combination's EER threshold on the val split, applied to the test split",
		"markdown": "| combination | AUC | EER % |",
		"csv":      ",hard,auc,eer,eer_threshold,threshold,",
	} {
		code, stdout, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", format, "--plot", plot)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("sweep-missing --format %s (exit %d, %s) lacks %q:\n%s", format, code, stderr, want, stdout)
		}
	}
	if b, err := os.ReadFile(plot); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("--plot wrote no SVG: %v", err)
	}

	// Fixed and arg-max thresholds; arg-max gives the arg-max APCER/BPCER/ACER.
	code, stdout, _ = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--threshold", "argmax", "--format", "json")
	if err := json.Unmarshal([]byte(stdout), &sw); code != 0 || err != nil {
		t.Fatalf("--threshold argmax: exit %d, %v", code, err)
	}
	for _, r := range sw.Combinations {
		if *r.Protocol.ACER != *r.ACER || *r.Protocol.APCER != *r.APCER || r.Protocol.Threshold != nil {
			t.Errorf("%s: argmax protocol %+v, arg-max ACER %v", r.Name, r.Protocol, *r.ACER)
		}
	}
	code, stdout, _ = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--threshold", "0.3", "--format", "json")
	if err := json.Unmarshal([]byte(stdout), &sw); code != 0 || err != nil || sw.Protocol.Applied != "fixed" || *sw.Combinations[0].Protocol.Threshold != 0.3 {
		t.Fatalf("--threshold 0.3: exit %d, %v, %+v", code, err, sw.Protocol)
	}
	code, _, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--threshold", "1.5")
	if code != 2 || !strings.HasPrefix(stderr, "dmrnet: --threshold=1.5: not a threshold rule") {
		t.Errorf("--threshold 1.5: exit %d, %s", code, stderr)
	}

	code, stdout, stderr = runCLI(t, nil, "aggregate", out, "--metric", "auc", "--format", "json")
	if code != 0 || !strings.Contains(stdout, `"metric": "auc"`) {
		t.Errorf("aggregate --metric auc: exit %d: %s\n%s", code, stderr, stdout)
	}
}

// TestProtocolWithoutValidation: without a validation split the eer rule falls back to
// arg-max and says so, in the table and in JSON.
func TestProtocolWithoutValidation(t *testing.T) {
	cfg, out := writeConfig(t)
	code, stdout, stderr := runCLI(t, nil, "train", "--config", cfg)
	if code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "note: "+evaluate.NoValNote) || !strings.Contains(stdout, "threshold: arg-max") {
		t.Errorf("train table lacks the fallback note:\n%s", stdout)
	}
	var sw report.Sweep
	data, _ := os.ReadFile(filepath.Join(out, "sweep.json"))
	if err := json.Unmarshal(data, &sw); err != nil {
		t.Fatal(err)
	}
	if sw.Protocol == nil || sw.Protocol.Rule != "eer" || sw.Protocol.Applied != "argmax" || sw.Protocol.Note != evaluate.NoValNote {
		t.Errorf("protocol = %+v", sw.Protocol)
	}
	if r := sw.Combinations[0]; r.Protocol.Rule != "argmax (no validation split)" || *r.Protocol.ACER != *r.ACER {
		t.Errorf("rgb protocol = %+v", r.Protocol)
	}
}
