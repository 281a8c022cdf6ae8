package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCtrlCSavesCheckpoint runs the real binary, interrupts it with SIGINT in the middle of
// training and checks the exit status 130, the saved checkpoint and that --resume finishes.
func TestCtrlCSavesCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "dmrnet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
