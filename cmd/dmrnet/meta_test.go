package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
)

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "dmrnet ") || !strings.Contains(stdout, "go1.") {
		t.Fatalf("version: exit %d %q", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "bash completion", "zsh": "#compdef dmrnet", "fish": "complete -c dmrnet", "powershell": "Register-ArgumentCompleter"} {
		code, stdout, stderr := runCLI(t, nil, "completion", shell)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("completion %s: exit %d, %q... %s", shell, code, stdout[:min(len(stdout), 80)], stderr)
		}
	}
	if code, _, _ := runCLI(t, nil, "completion", "tcsh"); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
}

// TestConfigPrintRoundTrip: config print shows every key with the overrides applied, and
// what it prints loads back to the same configuration.
func TestConfigPrintRoundTrip(t *testing.T) {
	cfg, _ := writeConfig(t)
	code, stdout, stderr := runCLI(t, []string{"DMRNET_TRAIN_SEED=5"}, "config", "print", "--config", cfg, "--set", "train.epochs=7")
	if code != 0 {
		t.Fatalf("config print: %s", stderr)
	}
	for _, want := range []string{"epochs: 7", "seed: 5", "bn_momentum: 0.1", "class_names:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config print lacks %q", want)
		}
	}
	p := filepath.Join(t.TempDir(), "printed.yaml")
	os.WriteFile(p, []byte(stdout), 0o644)
	got, err := config.Load(config.LoadOptions{File: p, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Train.Epochs != 7 || got.Train.Seed != 5 {
		t.Fatalf("printed config reloads as %+v", got.Train)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg, _ := writeConfig(t)
	if code, stdout, _ := runCLI(t, nil, "config", "validate", "--config", cfg); code != 0 || !strings.Contains(stdout, "is valid") {
		t.Fatalf("valid config: exit %d %q", code, stdout)
	}
	for _, root := range []string{"../../configs"} {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if code, _, stderr := runCLI(t, nil, "config", "validate", "--config", filepath.Join(root, e.Name())); code != 0 {
				t.Errorf("shipped %s is invalid: %s", e.Name(), stderr)
			}
		}
	}
	code, _, stderr := runCLI(t, nil, "config", "validate", "--config", cfg, "--set", "optim.name=adamw")
	if code != 2 || !strings.Contains(stderr, "optim.name") {
		t.Fatalf("invalid config: exit %d %q", code, stderr)
	}
}
