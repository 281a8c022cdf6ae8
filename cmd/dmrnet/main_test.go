package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCLI runs dmrnet in process and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if environ != nil { // the child processes of sweep --jobs must act as dmrnet (see TestMain)
		environ = append(environ[:len(environ):len(environ)], envActAsDmrnet+"=1")
	}
	a := &app{out: &out, errOut: &errOut, environ: environ, ctx: context.Background()}
	code := a.run(args)
	return code, out.String(), errOut.String()
}

const tinyYAML = `out: %OUT%
data:
  synthetic:
    classes: 2
    class_names: [live, spoof]
    train: 200
    test: 80
    modalities:
      - {name: rgb, dim: 8, signal: 3}
      - {name: depth, dim: 6, signal: 1.5}
      - {name: ir, dim: 4, signal: 0.5}
model:
  encoder: {type: mlp, layers: [16, 8]}
  latent: 8
hard:
  warmup_epochs: 2
train:
  epochs: 4
  batch_size: 32
`

func writeConfig(t *testing.T) (cfgPath, outDir string) {
	t.Helper()
	dir := t.TempDir()
	outDir = filepath.Join(dir, "run")
	cfgPath = filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(tinyYAML, "%OUT%", outDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, outDir
}

// TestEndToEnd trains on a small synthetic set, then checks that eval --missing reproduces
// the matching sweep-missing row and the sweep.json written by train, in every format.
func TestEndToEnd(t *testing.T) {
	cfg, out := writeConfig(t)
	code, stdout, stderr := runCLI(t, nil, "train", "--config", cfg)
	if code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	for _, want := range []string{"rgb+depth+ir", "mean", "worst", "ACER"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train table lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "epoch   4/4") || !strings.Contains(stderr, "hard set after epoch 2") {
		t.Errorf("train progress lines missing:\n%s", stderr)
	}
	for _, f := range []string{"config.yaml", "checkpoint.ckpt", "final.ckpt", "metrics.jsonl", "hardset.json", "sweep.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	var trained report.Sweep
	data, _ := os.ReadFile(filepath.Join(out, "sweep.json"))
	if err := json.Unmarshal(data, &trained); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr = runCLI(t, nil, "sweep-missing", "--config", cfg, "--format", "json")
	if code != 0 {
		t.Fatalf("sweep-missing exit %d: %s", code, stderr)
	}
	var sw report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw); err != nil {
		t.Fatal(err)
	}
	if len(sw.Combinations) != 7 || !reflect.DeepEqual(sw.Combinations, trained.Combinations) || sw.MeanAccuracy != trained.MeanAccuracy {
		t.Fatalf("sweep-missing differs from train's sweep.json:\n%+v\n%+v", sw, trained)
	}
	if sw.Worst.Accuracy > sw.MeanAccuracy {
		t.Fatalf("worst %v above mean %v", sw.Worst.Accuracy, sw.MeanAccuracy)
	}

	for _, args := range [][]string{
		{"--missing=depth"}, {"--missing", "rgb,ir"}, {"--present=ir"}, {"--present=rgb+depth+ir"},
	} {
		code, stdout, stderr = runCLI(t, nil, append([]string{"eval", "--checkpoint", out, "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v exit %d: %s", args, code, stderr)
		}
		var row report.Row
		if err := json.Unmarshal([]byte(stdout), &row); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range sw.Combinations {
			if r.Name == row.Name {
				found = true
				if !reflect.DeepEqual(r, row) {
					t.Errorf("eval %v = %+v, sweep row %+v", args, row, r)
				}
			}
		}
		if !found || row.APCER == nil {
			t.Errorf("eval %v: row %+v", args, row)
		}
	}
	code, stdout, _ = runCLI(t, nil, "eval", "--config", cfg, "--missing=depth")
	if code != 0 || !strings.Contains(stdout, "confusion matrix") || !strings.Contains(stdout, "spoof") {
		t.Errorf("eval text output:\n%s", stdout)
	}

	csvPath := filepath.Join(t.TempDir(), "sweep.csv")
	code, _, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", "csv", "--output", csvPath)
	if code != 0 {
		t.Fatalf("sweep-missing --output exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(csvPath); !strings.HasPrefix(string(b), "combination,present,n,accuracy") {
		t.Errorf("csv output:\n%s", b)
	}
	for _, f := range []string{"table", "markdown"} {
		if code, stdout, _ := runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", f); code != 0 || !strings.Contains(stdout, "rgb+ir") {
			t.Errorf("--format %s: exit %d\n%s", f, code, stdout)
		}
	}

	// repeating the command shows the finished run; another configuration into the same
	// directory is refused; --force retrains; resuming a finished run is a no-op
	if code, stdout, stderr := runCLI(t, nil, "train", "--config", cfg); code != 0 || !strings.Contains(stderr, "already holds this finished run") || !strings.Contains(stdout, "rgb+depth+ir") {
		t.Errorf("repeated train: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--set", "train.epochs=2"); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("train another config into used dir: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--set", "train.epochs=2", "--force", "--quiet"); code != 0 {
		t.Errorf("train --force: exit %d: %s", code, stderr)
	}
	if ms, err := os.ReadFile(filepath.Join(out, "metrics.jsonl")); err != nil || strings.Count(string(ms), "\n") != 2 {
		t.Errorf("after --force, metrics.jsonl has %d lines, want 2", strings.Count(string(ms), "\n"))
	}
	if code, _, stderr := runCLI(t, nil, "train", "--resume", out, "--quiet"); code != 0 {
		t.Errorf("resume finished run: exit %d: %s", code, stderr)
	}
}

func TestSameSeedSameSweep(t *testing.T) {
	var sweeps []string
	for i := 0; i < 2; i++ {
		cfg, out := writeConfig(t)
		if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
			t.Fatalf("train: %s", stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "sweep.json"))
		if err != nil {
			t.Fatal(err)
		}
		sweeps = append(sweeps, strings.ReplaceAll(string(b), out, "RUN"))
	}
	if sweeps[0] != sweeps[1] {
		t.Fatalf("two runs with the same seed differ:\n%s\n%s", sweeps[0], sweeps[1])
	}
}

func TestOverridesAndEnv(t *testing.T) {
	cfg, _ := writeConfig(t)
	out := filepath.Join(t.TempDir(), "o")
	code, _, stderr := runCLI(t, []string{"DMRNET_TRAIN_EPOCHS=2", "DMRNET_TRAIN_SEED=3"},
		"train", "--config", cfg, "--set", "train.epochs=3", "--out", out)
	if code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	saved, _ := os.ReadFile(filepath.Join(out, "config.yaml"))
	for _, want := range []string{"epochs: 3", "seed: 3", "out: " + out} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("resolved config lacks %q:\n%s", want, saved)
		}
	}
}

// errorFormat is the one format of dmrnet's errors: "dmrnet: <what>: <why>", most with a
// "(<hint>)"; <what> is the flag, key, file or command concerned.
var errorFormat = regexp.MustCompile(`^dmrnet: [^ :][^:]*(:\d+)?: \S.*$`)

// TestErrors checks that bad input gives a one-line error and the documented exit status.
func TestErrors(t *testing.T) {
	cfg, out := writeConfig(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("train:\n  epoch: 3\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "--config", bad}, 2, `unknown key "train.epoch"`},
		{[]string{"train", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, 2, "missing.yaml"},
		{[]string{"train", "--config", cfg, "--set", "train.epochs=ten"}, 2, "train.epochs"},
		{[]string{"train", "--config", cfg, "--resume", out}, 2, "give one, not both"},
		{[]string{"eval", "--checkpoint", out, "--missing=rgb"}, 1, "no checkpoint"},
		{[]string{"sweep-missing", "--checkpoint", filepath.Join(out, "nope")}, 1, "does not exist"},
		{[]string{"eval", "--checkpoint", out}, 2, "exactly one of --missing"},
		{[]string{"eval", "--missing=rgb"}, 2, "--checkpoint"},
		{[]string{"eval", "--missing=rgb", "--checkpoint", out, "--config", cfg}, 2, "not both"},
		{[]string{"trian"}, 2, "trian: unknown command"},
		{[]string{"eval", "--nope"}, 2, "unknown flag"},
		{[]string{"sweep-missing", "--checkpoint", out, "--format", "xml"}, 2, "--format=xml"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d containing %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
			t.Errorf("%v: error spans %d lines: %q", tt.args, n+1, stderr)
		}
		if !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("%v: error %q is not \"dmrnet: <what>: <why> (<hint>)\"", tt.args, stderr)
		}
	}
	// after training: bad modality names and an empty combination
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=1"); code != 0 {
		t.Fatal(stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--missing=rgbd"}, `unknown modality "rgbd"`},
		{[]string{"--missing=rgb,depth,ir"}, "no modality left"},
		{[]string{"--present=rgb,rgb"}, "named twice"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"eval", "--checkpoint", out}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) || !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("eval %v: exit %d, %q", tt.args, code, stderr)
		}
	}
}

// TestHelpExplainsEveryFlag walks the command tree: every command has examples in its help
// and every flag a usage text; no two flags of a command share a shorthand.
func TestHelpExplainsEveryFlag(t *testing.T) {
	a := &app{environ: []string{}}
	visited := 0
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" {
				continue
			}
			visited++
			p := append(append([]string(nil), path...), sub.Name())
			code, stdout, _ := runCLI(t, nil, append(p, "--help")...)
			if code != 0 || !strings.Contains(stdout, "Examples:") {
				t.Errorf("dmrnet %s --help: exit %d, no examples", strings.Join(p, " "), code)
			}
			short := map[string]string{}
			sub.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Usage == "" {
					t.Errorf("dmrnet %s --%s has no usage text", strings.Join(p, " "), f.Name)
				}
				if f.Shorthand != "" {
					if other, dup := short[f.Shorthand]; dup {
						t.Errorf("dmrnet %s: -%s is both --%s and --%s", strings.Join(p, " "), f.Shorthand, other, f.Name)
					}
					short[f.Shorthand] = f.Name
				}
			})
			walk(sub, p)
		}
	}
	walk(a.newRoot(), nil)
	if visited < 10 {
		t.Fatalf("walked %d commands", visited)
	}
}
