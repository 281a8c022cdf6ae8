package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmrnet/dmrnet/internal/runlock"
	"github.com/dmrnet/dmrnet/internal/train"
	"go.yaml.in/yaml/v3"
)

// envActAsDmrnet makes the test binary run dmrnet instead of the tests: sweep --jobs N starts
// its jobs as child processes of os.Executable(), which in a test is the test binary.
const envActAsDmrnet = "GO_WANT_DMRNET_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envActAsDmrnet) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	// children started with this process's environment act as dmrnet too (runCLI adds it to
	// the environments it is given)
	os.Setenv(envActAsDmrnet, "1")
	os.Exit(m.Run())
}

func TestJobSlots(t *testing.T) {
	for _, tc := range []struct {
		flag, cores, pending  int
		wantSlots, wantThread int
	}{
		{0, 2, 18, 2, 1}, // auto: one job per core
		{0, 1, 18, 1, 1},
		{0, 3, 18, 3, 1},
		{0, 16, 18, 16, 1},
		{0, 16, 3, 3, 5}, // no more slots than jobs; the cores are split between them
		{0, 2, 0, 1, 2},  // nothing to run
		{1, 2, 18, 1, 2}, // one after another, with every core
		{2, 2, 18, 2, 1},
		{3, 2, 18, 3, 1}, // more jobs than cores: one thread each
		{3, 2, 2, 2, 1},  // --jobs 3 with 2 jobs
		{4, 16, 18, 4, 4},
		{5, 16, 18, 5, 3},
		{2, 0, 18, 2, 1}, // no cores reported: at least one
	} {
		s, th := jobSlots(tc.flag, tc.cores, tc.pending)
		if s != tc.wantSlots || th != tc.wantThread {
			t.Errorf("jobSlots(%d, %d, %d) = %d, %d; want %d, %d", tc.flag, tc.cores, tc.pending, s, th, tc.wantSlots, tc.wantThread)
		}
	}
}

func TestSweepJobsFlagErrors(t *testing.T) {
	cfg, _ := writeConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jobs", "-1"}, "dmrnet: --jobs=-1: not a job count (give N >= 1 jobs at once, or 0 for one job per core)\n"},
		{[]string{"--jobs", "-3", "--dry-run"}, "dmrnet: --jobs=-3: not a job count"},
		{[]string{"--jobs", "two"}, `dmrnet: sweep: invalid argument "two" for "-j, --jobs" flag`},
		{[]string{"--run-job", "4"}, "dmrnet: --run-job=4: the sweep has 2 jobs (0 to 1)\n"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"sweep", "--config", cfg, "--grid", "beta=0,0.1", "--out", t.TempDir()}, tc.args...)...)
		if code != exitUsage || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("sweep %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// runFiles reads the files of every run directory under root that the same jobs must write
// identically however many jobs run at once: by path relative to root, with metrics.jsonl
// lacking the seconds each epoch took. It checks that each run directory holds the run its
// name says (its config.yaml has the directory's variant, seed and path: dirFormat with the
// variant and the seed, such as "variant=%s/seed%d/"), so that two jobs writing into one
// directory cannot pass.
func runFiles(t *testing.T, root, dirFormat string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(file string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, file)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		switch d.Name() {
		case train.SweepFile, train.ConfigFile, train.HardSetFile:
			files[rel] = string(data)
		case train.MetricsFile:
			var lines []string
			for line := range strings.Lines(string(data)) {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				delete(m, "seconds")
				b, _ := json.Marshal(m)
				lines = append(lines, string(b))
			}
			files[rel] = strings.Join(lines, "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, text := range files {
		dir, name := path.Split(rel)
		if name != train.ConfigFile {
			continue
		}
		var saved struct {
			Variant, Out string
			Train        struct{ Seed int64 }
		}
		if err := yaml.Unmarshal([]byte(text), &saved); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		want := fmt.Sprintf(dirFormat, saved.Variant, saved.Train.Seed)
		if dir != want || saved.Out != filepath.Join(root, filepath.FromSlash(dir)) {
			t.Errorf("%s holds the run of %s with out %s", rel, want, saved.Out)
		}
	}
	return files
}

// TestSweepJobsSameResults trains a small sweep one job after another (--jobs 1, in this
// process), then two at once and with more slots than jobs (child processes), each time into
// the same root, and checks that every run directory holds the same files.
func TestSweepJobsSameResults(t *testing.T) {
	cfg := filepath.Join("..", "..", "configs", "quickstart.yaml")
	root := filepath.Join(t.TempDir(), "sweep")
	var want map[string]string
	atOnce := map[string]string{"2": "2", "5": "4"} // --jobs 5 with 4 jobs runs 4 at once
	for _, jobs := range []string{"1", "2", "5"} {
		args := []string{"sweep", "--config", cfg, "--grid", "variant=dmrnet,no-hcr", "--seeds", "0,1", "--out", root,
			"--set", "train.epochs=3", "--set", "hard.warmup_epochs=1", "--jobs", jobs}
		code, _, stderr := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("--jobs %s: exit %d: %s", jobs, code, stderr)
		}
		if n := strings.Count(stderr, ": finished after "); n != 4 {
			t.Errorf("--jobs %s: %d jobs finished, want 4:\n%s", jobs, n, stderr)
		}
		if jobs != "1" && !strings.Contains(stderr, "4 jobs to run, "+atOnce[jobs]+" at once") {
			t.Errorf("--jobs %s: no line on the jobs at once:\n%s", jobs, stderr)
		}
		got := runFiles(t, root, "variant=%s/seed%d/")
		if len(got) != 4*4 {
			t.Errorf("--jobs %s: %d run files, want 16: %v", jobs, len(got), slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
		if want == nil {
			want = got
		} else {
			for rel, w := range want {
				if got[rel] != w {
					t.Errorf("--jobs %s: %s differs from --jobs 1:\n%s\nwant\n%s", jobs, rel, got[rel], w)
				}
			}
		}
		if jobs != "1" {
			if _, err := os.Stat(filepath.Join(root, "variant=no-hcr", "seed1", JobLogFile)); err != nil {
				t.Errorf("--jobs %s: no job log: %v", jobs, err)
			}
		}
		// a second call skips every job
		code, _, stderr = runCLI(t, nil, args...)
		if code != 0 || strings.Count(stderr, ": done\n") != 4 || strings.Contains(stderr, "started") {
			t.Errorf("--jobs %s again: exit %d, want every job done:\n%s", jobs, code, stderr)
		}
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSweepJobsFailure runs two jobs at once while another process holds one job's run
// directory: the other job finishes, and the error names the failed one with its message.
func TestSweepJobsFailure(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no locks on this system")
	}
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "sweep")
	busy := filepath.Join(root, "beta=0", "seed0")
	l, err := runlock.Acquire(busy, "train")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	code, _, stderr := runCLI(t, nil, "sweep", "--config", cfg, "--out", root, "--grid", "beta=0,0.1", "--set", "train.epochs=1", "--jobs", "2")
	inUse := fmt.Sprintf("run directory is in use by dmrnet pid %d (train)", os.Getpid())
	if code != exitFailure || !strings.Contains(stderr, "dmrnet: job beta=0/seed0 failed: ") || !strings.Contains(stderr, inUse) ||
		!strings.Contains(stderr, filepath.Join(busy, JobLogFile)) || !strings.HasSuffix(stderr, "dmrnet: sweep: 1 of 2 jobs failed: beta=0/seed0 (see the messages above)\n") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if train.Status(filepath.Join(root, "beta=0.1", "seed0")) != train.Finished {
		t.Errorf("the job that was free did not finish:\n%s", stderr)
	}
}

// TestSweepJobsInterrupt interrupts a sweep that runs two jobs at once in child processes, as
// Ctrl-C does: both save a checkpoint, the sweep exits with status 130 and the same command
// then finishes them.
func TestSweepJobsInterrupt(t *testing.T) {
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "sweep")
	args := []string{"sweep", "--config", cfg, "--out", root, "--grid", "variant=dmrnet,no-hcr", "--seeds", "0,1", "--jobs", "2"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	a := &app{out: &out, errOut: &errOut, ctx: ctx}
	codec := make(chan int)
	go func() { codec <- a.run(append(args, "--set", "train.epochs=1000000")) }()
	first := []string{filepath.Join(root, "variant=dmrnet", "seed0"), filepath.Join(root, "variant=dmrnet", "seed1")}
	deadline := time.Now().Add(2 * time.Minute)
	for train.Status(first[0]) == train.NoRun || train.Status(first[1]) == train.NoRun {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no checkpoints after 2 minutes (exit %d): %s", <-codec, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-codec; code != exitInterrupted {
		t.Fatalf("exit %d, want 130:\n%s", code, errOut.String())
	}
	msg := errOut.String()
	if strings.Count(msg, ": interrupted after ") != 2 || !strings.Contains(msg, "2 running jobs saved their checkpoints") || strings.Contains(msg, "variant=no-hcr") {
		t.Errorf("stderr:\n%s", msg)
	}
	for _, d := range first {
		if train.Status(d) != train.Unfinished {
			t.Errorf("%s: no checkpoint", d)
		}
	}
	// the checkpoints resume (to one more epoch: the saved configuration trains a million)
	for _, d := range first {
		data, err := os.ReadFile(filepath.Join(d, train.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		epochs := fmt.Sprintf("train.epochs=%d", bytes.Count(data, []byte("\n"))+1)
		if code, _, stderr := runCLI(t, nil, "train", "--resume", d, "--quiet", "--set", epochs); code != 0 || train.Status(d) != train.Finished {
			t.Fatalf("resume %s: exit %d: %s", d, code, stderr)
		}
	}
}

// TestAblationScriptJobs runs scripts/ablations.sh with two trainings at once and then one
// after another into the same root, and checks that every run directory holds the same files.
func TestAblationScriptJobs(t *testing.T) {
	bin := scriptBinary(t)
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "abl")
	run := func(jobs string) (string, error) {
		cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "ablations.sh"), cfg, root)
		cmd.Env = append(os.Environ(), "DMRNET="+bin, "VARIANTS=dmrnet deterministic", "SEEDS=0 1", "EXTRA=--set train.epochs=3", "JOBS="+jobs)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var want map[string]string
	for _, jobs := range []string{"2", "1"} {
		out, err := run(jobs)
		if err != nil {
			t.Fatalf("JOBS=%s: %v\n%s", jobs, err, out)
		}
		if strings.Count(out, "training into") != 4 || strings.Count(out, ": finished in ") != 4 {
			t.Errorf("JOBS=%s:\n%s", jobs, out)
		}
		if at := strings.Contains(out, "2 at once, GOMAXPROCS="); at != (jobs == "2") {
			t.Errorf("JOBS=%s: line on 2 runs at once: %v\n%s", jobs, at, out)
		}
		got := runFiles(t, root, "%s/seed%d/")
		if len(got) != 4*4 {
			t.Errorf("JOBS=%s: %d run files, want 16", jobs, len(got))
		}
		if want == nil {
			want = got
		} else {
			for rel, w := range want {
				if got[rel] != w {
					t.Errorf("JOBS=%s: %s differs from JOBS=2:\n%s\nwant\n%s", jobs, rel, got[rel], w)
				}
			}
		}
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
	}

	// a run that fails does not stop the others; the script names it and exits with status 1
	if runlock.Supported {
		busy := filepath.Join(root, "deterministic", "seed0")
		l, err := runlock.Acquire(busy, "train")
		if err != nil {
			t.Fatal(err)
		}
		out, err := run("2")
		l.Release()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || strings.Count(out, ": finished in ") != 3 ||
			!strings.Contains(out, "== deterministic seed 0: FAILED after ") || !strings.Contains(out, "run directory is in use by dmrnet pid") ||
			!strings.Contains(out, "ablations.sh: 1 of 4 runs failed: deterministic seed 0 (see the FAILED lines above)") {
			t.Errorf("with a busy run: %v\n%s", err, out)
		}
	}
	for _, jobs := range []string{"-1", "x", "1.5"} {
		out, err := run(jobs)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || out != "ablations.sh: JOBS="+jobs+": not a job count (give N >= 1 trainings at once, or 0 for one per core)\n" {
			t.Errorf("JOBS=%s: %v %q", jobs, err, out)
		}
	}
}
