package runlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv makes the test binary a lock holder (see TestMain): it takes the lock of the
// directory the variable names, prints "locked", and holds the lock until its standard input
// closes or it is killed.
const helperEnv = "RUNLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		l, err := Acquire(dir, "helper")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
		if err := l.Release(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder starts this test binary as a lock holder of dir in another process.
func holder(t *testing.T, dir string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	return cmd, func() { stdin.Close() }
}

func TestExclusiveInProcess(t *testing.T) {
	if !Supported {
		t.Skip("no locks on this system")
	}
	dir := filepath.Join(t.TempDir(), "run")
	a, err := Acquire(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "train --resume")
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire: %v, want a BusyError", err)
	}
	want := fmt.Sprintf("%s: run directory is in use by dmrnet pid %d (train) (wait for it to finish, or use another --out)", dir, os.Getpid())
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if h, held, err := Read(dir); err != nil || !held || h.PID != os.Getpid() || h.Command != "train" || h.Since.IsZero() {
		t.Fatalf("Read: %+v %v %v", h, held, err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, held, _ := Read(dir); held {
		t.Fatal("still held after Release")
	}
	b, err := Acquire(dir, "train")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	b.Release()
}

// TestReleaseRemovesWhatItCreated checks that a directory Acquire created is removed again
// when nothing was written into it, and that a directory with files is kept.
func TestReleaseRemovesWhatItCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "run")
	l, err := Acquire(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("empty run directory left behind: %v", err)
	}
	l, err = Acquire(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("x"), 0o644)
	l.Release()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "config.yaml" {
		t.Fatalf("after Release: %v", entries)
	}
	// an existing directory is never removed
	existing := t.TempDir()
	l, _ = Acquire(existing, "train")
	l.Release()
	if _, err := os.Stat(existing); err != nil {
		t.Fatal(err)
	}
}

// TestOtherProcess holds the lock in a second process: Acquire here names its PID; after the
// holder releases, and after a SIGKILL of a holder, the lock is free again.
func TestOtherProcess(t *testing.T) {
	if !Supported {
		t.Skip("no locks on this system")
	}
	dir := t.TempDir()
	cmd, release := holder(t, dir)
	_, err := Acquire(dir, "train")
	want := fmt.Sprintf("run directory is in use by dmrnet pid %d (helper)", cmd.Process.Pid)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Acquire while another process holds the lock: %v, want %q", err, want)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	l, err := Acquire(dir, "train")
	if err != nil {
		t.Fatalf("after the holder released: %v", err)
	}
	l.Release()

	cmd, _ = holder(t, dir)
	if _, err := Acquire(dir, "train"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second holder: %v", err)
	}
	cmd.Process.Kill() // SIGKILL: no Release runs, the lock file stays
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("a killed holder's lock file should stay: %v", err)
	}
	if _, held, err := Read(dir); held || err != nil {
		t.Fatalf("Read after SIGKILL: held %v, %v", held, err)
	}
	l, err = Acquire(dir, "train")
	if err != nil {
		t.Fatalf("after SIGKILL of the holder: %v", err)
	}
	if h, _, _ := Read(dir); h.PID != os.Getpid() {
		t.Fatalf("record after taking over a stale lock file: %+v", h)
	}
	l.Release()
}

// TestManyContenders races goroutines for one new directory: at every moment at most one
// holds it, even while holders remove the lock file (and the directory) on release.
func TestManyContenders(t *testing.T) {
	if !Supported {
		t.Skip("no locks on this system")
	}
	dir := filepath.Join(t.TempDir(), "run")
	var holders, maxHolders, wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
				l, err := Acquire(dir, "train")
				if errors.Is(err, ErrBusy) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n := holders.Add(1)
				for m := maxHolders.Load(); n > m && !maxHolders.CompareAndSwap(m, n); m = maxHolders.Load() {
				}
				wins.Add(1)
				time.Sleep(50 * time.Microsecond)
				holders.Add(-1)
				if err := l.Release(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if maxHolders.Load() != 1 || wins.Load() == 0 {
		t.Fatalf("max simultaneous holders %d, acquisitions %d; want 1 and > 0", maxHolders.Load(), wins.Load())
	}
}
