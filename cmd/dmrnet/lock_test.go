package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmrnet/dmrnet/internal/runlock"
	"github.com/dmrnet/dmrnet/internal/train"
)

// busyMessage is the error of a second writer of dir while pid holds it for command.
func busyMessage(dir string, pid int, command string) string {
	return fmt.Sprintf("dmrnet: %s: run directory is in use by dmrnet pid %d (%s) (wait for it to finish, or use another --out)\n", dir, pid, command)
}

// metricEpochs reads the epoch numbers of a run's metrics.jsonl.
func metricEpochs(t *testing.T, dir string) []int {
	t.Helper()
	ms, err := train.ReadMetrics(filepath.Join(dir, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, m := range ms {
		out = append(out, m.Epoch)
	}
	return out
}

// consecutive fails unless epochs is 1, 2, ..., n: every epoch once.
func consecutive(t *testing.T, epochs []int) {
	t.Helper()
	for i, e := range epochs {
		if e != i+1 {
			t.Fatalf("metrics.jsonl epochs %v: want every epoch once, in order", epochs)
		}
	}
}

// waitHeld waits until a process holds dir's lock and returns its record.
func waitHeld(t *testing.T, dir string) runlock.Holder {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if h, held, _ := runlock.Read(dir); held && h.PID != 0 {
			return h
		}
	}
	t.Fatalf("nobody took the lock of %s within 60s", dir)
	return runlock.Holder{}
}

// TestLockedRunDirectory checks that every command that writes a run directory refuses one
// another writer holds, with one line naming the holder, exit status 1, and without touching
// it; and that the lock is free again once a writer has finished.
func TestLockedRunDirectory(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no locks on this system")
	}
	cfg, out := writeConfig(t)
	l, err := runlock.Acquire(out, "train")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"train", "--config", cfg},
		{"train", "--config", cfg, "--force"},
		{"train", "--resume", out},
	} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != 1 || stderr != busyMessage(out, os.Getpid(), "train") || !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, code, stderr, busyMessage(out, os.Getpid(), "train"))
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 || entries[0].Name() != runlock.FileName {
		t.Fatalf("refused writers touched the run directory: %v", entries)
	}
	l.Release()

	// released after a run: training again shows the finished run, resuming it is a no-op
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if _, held, _ := runlock.Read(out); held {
		t.Fatal("train kept the lock after it finished")
	}
	if _, err := os.Stat(filepath.Join(out, runlock.FileName)); err == nil {
		t.Fatal("train left its lock file behind")
	}
	for _, args := range [][]string{{"train", "--config", cfg}, {"train", "--resume", out, "--quiet"}} {
		if code, _, stderr := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("%v after a finished run: exit %d: %s", args, code, stderr)
		}
	}
	// readers never need the lock
	l, err = runlock.Acquire(out, "train")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, args := range [][]string{
		{"eval", "--checkpoint", out, "--missing=depth"},
		{"sweep-missing", "--checkpoint", out},
		{"aggregate", out},
	} {
		if code, _, stderr := runCLI(t, nil, args...); code != 0 {
			t.Errorf("%v while a writer holds the lock: exit %d: %s", args, code, stderr)
		}
	}
}

// TestLockedJobDirectories checks the lock of specialists' and sweep jobs' run directories:
// a job whose directory another process holds fails with the holder's PID, the others run.
func TestLockedJobDirectories(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no locks on this system")
	}
	cfg, _ := writeConfig(t)
	spec := filepath.Join(t.TempDir(), "spec")
	busy := filepath.Join(spec, "depth", "seed0")
	l, err := runlock.Acquire(busy, "train")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--out", spec, "--set", "train.epochs=1")
	if code != 1 || !strings.Contains(stderr, strings.TrimSuffix(busyMessage(busy, os.Getpid(), "train"), "\n")[len("dmrnet: "):]) {
		t.Errorf("specialists with a busy job: exit %d: %s", code, stderr)
	}
	l.Release()
	if code, _, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--out", spec, "--set", "train.epochs=1"); code != 0 {
		t.Fatalf("specialists after the release: exit %d: %s", code, stderr)
	}

	root := filepath.Join(t.TempDir(), "sweep")
	busy = filepath.Join(root, "beta=0", "seed0")
	l, err = runlock.Acquire(busy, "sweep")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, nil, "sweep", "--config", cfg, "--out", root, "--grid", "beta=0,0.1", "--set", "train.epochs=1")
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("run directory is in use by dmrnet pid %d (sweep)", os.Getpid())) ||
		!strings.Contains(stderr, "1 of 2 jobs failed") {
		t.Errorf("sweep with a busy job: exit %d: %s", code, stderr)
	}
	l.Release()
	if train.Status(filepath.Join(root, "beta=0.1", "seed0")) != train.Finished {
		t.Errorf("the job that was free did not run: %s", stderr)
	}
	if code, _, stderr := runCLI(t, nil, "sweep", "--config", cfg, "--out", root, "--grid", "beta=0,0.1", "--set", "train.epochs=1"); code != 0 {
		t.Fatalf("sweep after the release: exit %d: %s", code, stderr)
	}
}

// TestConcurrentTrainers runs two trainers on one run directory in this process: while the
// first trains, a second train and a train --resume fail with its PID; the first's
// metrics.jsonl holds every epoch once.
func TestConcurrentTrainers(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no locks on this system")
	}
	cfg, out := writeConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var firstOut, firstErr bytes.Buffer
	first := &app{out: &firstOut, errOut: &firstErr, environ: nil, ctx: ctx}
	done := make(chan int)
	go func() {
		done <- first.run([]string{"train", "--config", cfg, "--set", "train.epochs=100000", "--quiet"})
	}()
	if h := waitHeld(t, out); h.PID != os.Getpid() || h.Command != "train" {
		t.Fatalf("lock record %+v", h)
	}
	for _, args := range [][]string{
		{"train", "--config", cfg, "--set", "train.epochs=100000"},
		{"train", "--resume", out},
	} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != 1 || stderr != busyMessage(out, os.Getpid(), "train") {
			t.Errorf("second writer %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	// let the first train a few epochs, then interrupt it
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ms, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile)); err == nil && len(ms) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first trainer made no progress")
		}
	}
	cancel()
	if code := <-done; code != exitInterrupted {
		t.Fatalf("first trainer: exit %d: %s", code, firstErr.String())
	}
	epochs := metricEpochs(t, out)
	consecutive(t, epochs)
	if code, _, stderr := runCLI(t, nil, "train", "--resume", out, "--quiet", "--set", fmt.Sprintf("train.epochs=%d", len(epochs)+1)); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	consecutive(t, metricEpochs(t, out))
}

// TestLockSecondProcess runs the real binary twice on one run directory: the second fails
// with the first's PID; after a SIGKILL of the first (no cleanup at all) the directory is
// free again and its run resumes; after a normal exit it is free too.
func TestLockSecondProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if !runlock.Supported {
		t.Skip("no locks on this system")
	}
	bin := buildBinary(t)
	cfg, out := writeConfig(t)
	first := exec.Command(bin, "train", "--config", cfg, "--set", "train.epochs=100000", "--quiet")
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	if h := waitHeld(t, out); h.PID != first.Process.Pid || h.Command != "train" {
		t.Fatalf("lock record %+v, want pid %d", h, first.Process.Pid)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(out, train.CheckpointFile)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after 60s: %s", firstErr.String())
		}
	}
	for _, args := range [][]string{{"train", "--config", cfg}, {"train", "--resume", out}} {
		second := exec.Command(bin, args...)
		var stderr bytes.Buffer
		second.Stderr = &stderr
		err := second.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || stderr.String() != busyMessage(out, first.Process.Pid, "train") {
			t.Fatalf("second process %v: %v, stderr %q; want exit 1 and %q", args, err, stderr.String(), busyMessage(out, first.Process.Pid, "train"))
		}
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	first.Wait()
	if _, err := os.Stat(filepath.Join(out, runlock.FileName)); err != nil {
		t.Fatalf("a killed holder leaves its lock file: %v", err)
	}
	var rec runlock.Holder
	if b, err := os.ReadFile(filepath.Join(out, runlock.FileName)); err != nil || json.Unmarshal(b, &rec) != nil || rec.PID != first.Process.Pid {
		t.Fatalf("stale lock file %q: %v", b, err)
	}
	epochs := metricEpochs(t, out)
	consecutive(t, epochs)
	resume := exec.Command(bin, "train", "--resume", out, "--quiet", "--set", fmt.Sprintf("train.epochs=%d", len(epochs)+1))
	if b, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume after the SIGKILL: %v\n%s", err, b)
	}
	consecutive(t, metricEpochs(t, out))
	// the resumed run exited normally: the lock is free
	again := exec.Command(bin, "train", "--resume", out, "--quiet")
	if b, err := again.CombinedOutput(); err != nil {
		t.Fatalf("after a normal exit: %v\n%s", err, b)
	}
}

// TestForceKeepsOldRunUntilReplaced checks train --force against a finished run: bad data,
// and a new run that fails before its first checkpoint, leave the old run byte for byte and
// usable; good data replaces it and leaves nothing aside.
func TestForceKeepsOldRunUntilReplaced(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	old := dirFiles(t, out)
	_, evalOld, _ := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=depth")
	intact := func(what string) {
		t.Helper()
		if got := dirFiles(t, out); !equalFiles(got, old) {
			t.Fatalf("%s: the run directory changed: %v", what, keysOf(got))
		}
		if code, stdout, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=depth"); code != 0 || stdout != evalOld {
			t.Fatalf("%s: eval of the old run: exit %d: %s", what, code, stderr)
		}
	}

	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "a.csv"), []byte("1,2\n3,4\n5\n"), 0o644) // ragged
	code, _, stderr := runCLI(t, nil, "train", "--force", "--out", out, "--data-root", data,
		"--set", "data.kind=table", "--set", "data.table.views=[{name: a, file: a.csv}]", "--set", "data.table.labels=a.csv")
	if code != 1 || !strings.Contains(stderr, "a.csv") {
		t.Fatalf("--force with bad data: exit %d: %s", code, stderr)
	}
	intact("--force with bad data")

	code, _, stderr = runCLI(t, nil, "train", "--config", cfg, "--force", "--quiet",
		"--set", "optim.name=sgd", "--set", "optim.lr=1e6", "--set", "optim.momentum=0", "--set", "train.max_loss=50")
	if code != 1 || !strings.Contains(stderr, "loss diverged") || !strings.Contains(stderr, "is back in place") {
		t.Fatalf("--force with a run that diverges at once: exit %d: %s", code, stderr)
	}
	intact("--force with a run that fails before its first checkpoint")

	// Ctrl-C before the new run's first checkpoint: the old run stays
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errOut bytes.Buffer
	interrupted := &app{out: &bytes.Buffer{}, errOut: &errOut, ctx: ctx}
	if code := interrupted.run([]string{"train", "--config", cfg, "--force", "--quiet", "--set", "train.seed=9"}); code != exitInterrupted ||
		!strings.Contains(errOut.String(), "interrupted before the new run's first checkpoint (the previous run in "+out+" is back in place") {
		t.Fatalf("--force interrupted at once: exit %d: %s", code, errOut.String())
	}
	intact("--force interrupted before its first checkpoint")

	code, _, stderr = runCLI(t, nil, "train", "--config", cfg, "--force", "--quiet", "--set", "train.epochs=2", "--set", "train.seed=7")
	if code != 0 {
		t.Fatalf("--force with good data: exit %d: %s", code, stderr)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "checkpoint-1-0.ckpt checkpoint.ckpt config.yaml final.ckpt hardset.json metrics.jsonl provenance.json sweep.json" {
		t.Fatalf("after --force: %v", names)
	}
	if epochs := metricEpochs(t, out); len(epochs) != 2 {
		t.Fatalf("metrics.jsonl epochs %v, want the new run's 2", epochs)
	}
	if c, _ := os.ReadFile(filepath.Join(out, "config.yaml")); !strings.Contains(string(c), "seed: 7") {
		t.Fatalf("config.yaml is not the new run's")
	}
}

// TestForceInterruptedIsUndone leaves a run directory as a SIGKILL of train --force before
// the new run's first checkpoint would (the old run set aside, the new run's config written)
// and checks that the next writer puts the old run back.
func TestForceInterruptedIsUndone(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	old := dirFiles(t, out)
	aside := filepath.Join(out, ".previous-20250101T000000-1")
	os.Mkdir(aside, 0o755)
	for name := range old {
		os.Rename(filepath.Join(out, name), filepath.Join(aside, name))
	}
	os.WriteFile(filepath.Join(out, "config.yaml"), []byte("variant: no-hcr\n"), 0o644)
	code, stdout, stderr := runCLI(t, nil, "train", "--config", cfg)
	if code != 0 || !strings.Contains(stderr, "put back the previous run") || !strings.Contains(stderr, "already holds this finished run") || !strings.Contains(stdout, "rgb+depth+ir") {
		t.Fatalf("train after an interrupted --force: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := dirFiles(t, out); !equalFiles(got, old) {
		t.Fatalf("the old run was not restored: %v", keysOf(got))
	}
}

// dirFiles reads the regular files of dir.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()+"/"] = nil
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
