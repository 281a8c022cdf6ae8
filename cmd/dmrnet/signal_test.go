package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds dmrnet once per test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dmrnet-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dmrnet")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// scriptBinary skips a script test in -short mode or without bash, and otherwise returns
// the built dmrnet for the script to run.
func scriptBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	return buildBinary(t)
}

// TestAblationScript runs scripts/ablations.sh on a small config, then removes one run's
// final model (an unfinished run) and checks that a second call resumes it and skips the rest.
func TestAblationScript(t *testing.T) {
	bin := scriptBinary(t)
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "abl")
	run := func() string {
		cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "ablations.sh"), cfg, root)
		cmd.Env = append(os.Environ(), "DMRNET="+bin, "VARIANTS=dmrnet deterministic", "SEEDS=0 1", "EXTRA=--set train.epochs=2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ablations.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	first := run()
	if strings.Count(first, "training into") != 4 {
		t.Fatalf("first run:\n%s", first)
	}
	os.Remove(filepath.Join(root, "deterministic", "seed1", "final.ckpt"))
	second := run()
	if strings.Count(second, ": done") != 3 || !strings.Contains(second, "deterministic seed 1: resuming") {
		t.Fatalf("second run:\n%s", second)
	}
	code, stdout, stderr := runCLI(t, nil, "aggregate", root, "--format", "markdown", "--plot", filepath.Join(t.TempDir(), "p.png"))
	if code != 0 || !strings.Contains(stdout, "| dmrnet | deterministic |") || !strings.Contains(stdout, "**mean**") {
		t.Fatalf("aggregate: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestRobustScript runs scripts/robust.sh with every setting on a small config, checks that
// each setting trained what it names, then compares the runs with specialists in aggregate.
func TestRobustScript(t *testing.T) {
	bin := scriptBinary(t)
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "robust")
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "robust.sh"), cfg, root)
	cmd.Env = append(os.Environ(), "DMRNET="+bin, "SEEDS=0", "EXTRA=--set train.epochs=3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("robust.sh: %v\n%s", err, out)
	}
	want := map[string][]string{
		"dmrnet":   {"aux_heads:\n    weight: 0", "inference: fused", "by: loss"},
		"no-hcr":   {"beta: 0\n"},
		"aux":      {"aux_heads:\n    weight: 1", "inference: fused"},
		"route":    {"aux_heads:\n    weight: 1", "inference: route"},
		"ensemble": {"aux_heads:\n    weight: 1", "inference: ensemble"},
		"soft":     {"by: soft"},
	}
	for setting, snippets := range want {
		b, err := os.ReadFile(filepath.Join(root, setting, "seed0", "config.yaml"))
		if err != nil {
			t.Fatalf("%s: %v\n%s", setting, err, out)
		}
		for _, w := range snippets {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s/seed0/config.yaml lacks %q:\n%s", setting, w, b)
			}
		}
	}
	spec := filepath.Join(t.TempDir(), "spec")
	if code, _, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--out", spec, "--set", "train.epochs=3"); code != 0 {
		t.Fatalf("specialists: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "aggregate", root, "--specialists", spec)
	if code != 0 {
		t.Fatalf("aggregate: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"specialist", "cost of robustness (ensemble)", "cost of robustness (soft)"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("aggregate output lacks %q:\n%s", w, stdout)
		}
	}
}

// TestCtrlCSavesCheckpoint runs the real binary, interrupts it with SIGINT in the middle of
// training and checks the exit status 130, the saved checkpoint and that --resume finishes.
func TestCtrlCSavesCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cfg, out := writeConfig(t)
	cmd := exec.Command(bin, "train", "--config", cfg, "--set", "train.epochs=100000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "checkpoint.ckpt")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60s: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // land in the middle of an epoch
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "checkpoint saved in "+out) || !strings.Contains(stderr.String(), "--resume") {
		t.Fatalf("stderr lacks the checkpoint note:\n%s", stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	done := bytes.Count(data, []byte("\n"))
	res := exec.Command(bin, "train", "--resume", out, "--quiet", "--set", fmt.Sprintf("train.epochs=%d", done+1))
	if b, err := res.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "final.ckpt")); err != nil {
		t.Fatal("resumed run wrote no final.ckpt")
	}
}
