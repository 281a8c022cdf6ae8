package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMostRecentRun: eval, sweep-missing, predict and export given neither --checkpoint nor
// --config use the run under ./runs whose final.ckpt is newest and say which; with none they
// fail in one line that says what to do.
func TestMostRecentRun(t *testing.T) {
	t.Chdir(t.TempDir())
	noModel := map[string][]string{
		"eval":          {"eval", "--missing=depth"},
		"sweep-missing": {"sweep-missing"},
		"predict":       {"predict", "--view", "rgb=rgb.csv"},
		"export":        {"export", "--output", "model.npz"},
	}
	for name, args := range noModel {
		code, stdout, stderr := runCLI(t, nil, args...)
		want := "dmrnet: " + name + ": no finished run under ./runs (train one with dmrnet train --config FILE, or give --checkpoint RUN_DIR)\n"
		if code != exitUsage || stdout != "" || stderr != want {
			t.Errorf("%v with no run: exit %d, stderr %q; want exit 2, %q", args, code, stderr, want)
		}
	}
	// An unfinished run is named in the hint.
	if err := os.MkdirAll(filepath.Join("runs", "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("runs", "half", "checkpoint.ckpt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "eval", "--missing=depth")
	if code != exitUsage || !strings.Contains(stderr, "(runs/half has not finished: continue it with dmrnet train --resume runs/half") {
		t.Errorf("eval with an unfinished run: exit %d, %q", code, stderr)
	}

	for _, out := range []string{"runs/quickstart", "runs/sweep/seed=1"} {
		if err := os.WriteFile("tiny.yaml", []byte(strings.ReplaceAll(tinyYAML, "%OUT%", out)), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runCLI(t, nil, "train", "--quiet", "--config", "tiny.yaml"); code != 0 {
			t.Fatalf("train %s: exit %d: %s", out, code, stderr)
		}
	}
	// runs/quickstart finished last, whatever the order of training.
	finished := time.Now().Add(time.Minute).Truncate(time.Minute)
	if err := os.Chtimes(filepath.Join("runs", "quickstart", "final.ckpt"), finished, finished); err != nil {
		t.Fatal(err)
	}
	using := "dmrnet: using the most recent finished run runs/quickstart (finished " + finished.Format("2006-01-02 15:04") + ")\n"
	code, stdout, stderr := runCLI(t, nil, "eval", "--missing=depth")
	if code != 0 || stderr != using {
		t.Fatalf("eval --missing=depth: exit %d, stderr %q; want %q", code, stderr, using)
	}
	_, want, _ := runCLI(t, nil, "eval", "--missing=depth", "--checkpoint", "runs/quickstart")
	if stdout != want || !strings.Contains(stdout, "rgb+ir") {
		t.Errorf("eval --missing=depth printed\n%s\nwant that of --checkpoint runs/quickstart:\n%s", stdout, want)
	}
	for _, args := range [][]string{{"sweep-missing", "--format", "json"}, {"export", "--output", "model.npz"}} {
		if code, _, stderr := runCLI(t, nil, args...); code != 0 || !strings.HasPrefix(stderr, using) {
			t.Errorf("%v: exit %d, stderr %q; want %q", args, code, stderr, using)
		}
	}
	if err := os.WriteFile("rgb.csv", []byte("1,2,3,4,5,6,7,8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, nil, "predict", "--view", "rgb=rgb.csv")
	if code != 0 || !strings.HasPrefix(stderr, using) || !regexp.MustCompile(`^\{"id":"1","present":\["rgb"\]`).MatchString(stdout) {
		t.Errorf("predict: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// --set without --config is refused rather than ignored.
	if code, _, stderr := runCLI(t, nil, "eval", "--missing=depth", "--set", "out=runs/x"); code != exitUsage || !strings.Contains(stderr, "--set: applies to --config only") {
		t.Errorf("--set alone: exit %d, %q", code, stderr)
	}
}
