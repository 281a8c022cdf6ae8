package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/train"
)

// checkOneLineError checks the documented error shape: exit status, one line in the format
// "dmrnet: <what>: <why> (<hint>)", containing every want.
func checkOneLineError(t *testing.T, what string, code int, stderr string, wantCode int, want ...string) {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if code != wantCode || strings.Contains(msg, "\n") || !errorFormat.MatchString(msg) || !strings.HasSuffix(msg, ")") {
		t.Errorf("%s: exit %d (want %d), stderr %q: want one line \"dmrnet: <what>: <why> (<hint>)\"", what, code, wantCode, stderr)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: stderr %q lacks %q", what, msg, w)
		}
	}
}

// TestDamagedCheckpointIsOneLine damages a final model in the ways a crash, a bad disk or a
// hostile file do: eval and sweep-missing fail with one line naming the file, never a panic.
func TestDamagedCheckpointIsOneLine(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=2"); code != 0 {
		t.Fatal(stderr)
	}
	final := filepath.Join(out, train.FinalFile)
	good, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(huge[12:20], math.MaxUint64-3)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "truncated checkpoint"},
		{"empty", nil, "truncated checkpoint"},
		{"length near 2^64", huge, "truncated checkpoint"},
		{"flipped bit", flipped, "fails its checksum"},
		{"not a checkpoint", []byte("model weights, honestly"), "not a dmrnet checkpoint"},
	} {
		if err := os.WriteFile(final, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=rgb")
		checkOneLineError(t, "eval, "+tt.name, code, stderr, 1, final+": ", tt.want)
		code, _, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", final)
		checkOneLineError(t, "sweep-missing, "+tt.name, code, stderr, 1, final+": ", tt.want)
	}
}

// TestDamagedNewestCheckpointFallsBack: an unfinished run whose checkpoint.ckpt is damaged
// is evaluated and resumed from its previous checkpoint, with a warning naming it, and the
// resumed run ends with the sweep.json of an uninterrupted run.
func TestDamagedNewestCheckpointFallsBack(t *testing.T) {
	refCfg, refOut := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", refCfg, "--quiet"); code != 0 {
		t.Fatal(stderr)
	}
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=3"); code != 0 {
		t.Fatal(stderr)
	}
	// an unfinished run (as if stopped after epoch 3) whose newest checkpoint is damaged
	os.Remove(filepath.Join(out, train.FinalFile))
	newest := filepath.Join(out, train.CheckpointFile)
	b, _ := os.ReadFile(newest)
	b[len(b)/3] ^= 0x10
	os.WriteFile(newest, b, 0o644)
	prev := filepath.Join(out, "checkpoint-2-0.ckpt")

	code, stdout, stderr := runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", "json")
	if code != 0 || !strings.Contains(stderr, "dmrnet: warning: "+newest+" is damaged, using the previous checkpoint "+prev) {
		t.Fatalf("sweep-missing: exit %d, stderr %q", code, stderr)
	}
	var sw report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw); err != nil || sw.Checkpoint != prev {
		t.Fatalf("sweep-missing evaluated %q (%v), want %s", sw.Checkpoint, err, prev)
	}

	// resume it (with the reference's 4 epochs): the same numbers as the uninterrupted run
	code, _, stderr = runCLI(t, nil, "train", "--resume", out, "--quiet", "--set", "train.epochs=4")
	if code != 0 || !strings.Contains(stderr, "using the previous checkpoint "+prev) {
		t.Fatalf("train --resume: exit %d, stderr %q", code, stderr)
	}
	read := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, train.SweepFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), dir, "RUN")
	}
	if a, b := read(out), read(refOut); a != b {
		t.Fatalf("resumed from the previous checkpoint, sweep.json differs from the uninterrupted run's:\n%s\n%s", a, b)
	}
}

// writeTableConfig writes a small two-view table data set (90 rows, 3 classes) and a
// configuration that trains on it; it returns the configuration, the run directory and the
// data directory.
func writeTableConfig(t *testing.T) (cfgPath, out, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	var a, b, labels strings.Builder
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 90; i++ {
		c := i % 3
		fmt.Fprintf(&a, "%.4f,%.4f,%.4f\n", float64(c)+rng.NormFloat64(), rng.NormFloat64(), -float64(c)+rng.NormFloat64())
		fmt.Fprintf(&b, "%.4f,%.4f\n", 0.5*float64(c)+rng.NormFloat64(), rng.NormFloat64())
		fmt.Fprintf(&labels, "%d\n", c)
	}
	for name, s := range map[string]string{"a.csv": a.String(), "b.csv": b.String(), "labels.csv": labels.String()} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out = filepath.Join(dir, "run")
	cfgPath = filepath.Join(dir, "table.yaml")
	yml := fmt.Sprintf(`out: %s
data:
  kind: table
  root: %s
  table:
    views: [{name: a, file: a.csv}, {name: b, file: b.csv}]
    labels: labels.csv
    test_fraction: 0.3
model:
  encoder: {type: mlp, layers: [8]}
  latent: 4
hard: {warmup_epochs: 1}
train: {epochs: 3, batch_size: 16}
`, out, data)
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, out, data
}

// TestChangedDataRefused: eval, sweep-missing and train --resume refuse training data that
// changed since the run was trained, naming the file, unless --allow-data-change is given;
// provenance.json records the build and the files.
func TestChangedDataRefused(t *testing.T) {
	cfg, out, data := writeTableConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
		t.Fatal(stderr)
	}
	var p train.Provenance
	b, err := os.ReadFile(filepath.Join(out, train.ProvenanceFile))
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.Dmrnet.GoVersion != runtime.Version() || p.Data == nil || len(p.Data.Files) != 3 || p.Data.Files[0].Path != "a.csv" {
		t.Fatalf("provenance.json: %v %+v", err, p)
	}

	// the same data: no complaint
	if code, _, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=b"); code != 0 || stderr != "" {
		t.Fatalf("eval on unchanged data: exit %d %q", code, stderr)
	}
	changed := filepath.Join(data, "b.csv")
	content, _ := os.ReadFile(changed)
	content[1] = '9' // one digit of the first value
	os.WriteFile(changed, content, 0o644)

	for _, args := range [][]string{
		{"eval", "--checkpoint", out, "--missing=b"},
		{"sweep-missing", "--config", cfg},
		{"train", "--resume", out, "--set", "train.epochs=4"},
	} {
		code, _, stderr := runCLI(t, nil, args...)
		checkOneLineError(t, strings.Join(args, " "), code, stderr, 1, changed+": changed since training", "--allow-data-change")
		allowed := append(slices.Clone(args), "--allow-data-change")
		if args[0] == "train" {
			allowed = append(allowed, "--quiet")
		}
		code, _, stderr = runCLI(t, nil, allowed...)
		if code != 0 || !strings.Contains(stderr, "dmrnet: warning: ") || !strings.Contains(stderr, changed) {
			t.Errorf("%v --allow-data-change: exit %d, stderr %q", args, code, stderr)
		}
	}
	// the resumed run recorded the change and the new fingerprint
	b, _ = os.ReadFile(filepath.Join(out, train.ProvenanceFile))
	if !strings.Contains(string(b), "on changed data (--allow-data-change)") {
		t.Fatalf("provenance.json after the allowed change:\n%s", b)
	}
	if code, _, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=b"); code != 0 || stderr != "" {
		t.Fatalf("eval after the resumed run recorded the data: exit %d %q", code, stderr)
	}
	code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--allow-data-change", "--out", filepath.Join(t.TempDir(), "new"))
	checkOneLineError(t, "train --config --allow-data-change", code, stderr, 2, "--allow-data-change: applies with --resume only")
}

// TestStaleTempsRemovedOnStart plants the temporary files that a write killed by SIGKILL
// leaves, and checks that train --resume, train --force and a sweep job remove them (and
// --force the earlier checkpoints too).
func TestStaleTempsRemovedOnStart(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.keep_checkpoints=3"); code != 0 {
		t.Fatal(stderr)
	}
	plant := func(dir string, names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("half a checkpoint"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	gone := func(what, dir string, names ...string) {
		t.Helper()
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				t.Errorf("%s: %s is still in %s", what, n, dir)
			}
		}
	}
	stale := []string{".checkpoint.ckpt.tmp-4242", ".final.ckpt.tmp-17"}
	plant(out, stale...)
	code, _, stderr := runCLI(t, nil, "train", "--resume", out, "--quiet", "--set", "train.epochs=5")
	if code != 0 || !strings.Contains(stderr, "removed 2 stale temporary file(s) of an interrupted write from "+out) {
		t.Fatalf("train --resume: exit %d, stderr %q", code, stderr)
	}
	gone("train --resume", out, stale...)
	if _, err := os.Stat(filepath.Join(out, "checkpoint-3-0.ckpt")); err != nil {
		t.Fatalf("keep_checkpoints=3: %v", err)
	}

	plant(out, stale...)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--force", "--set", "train.epochs=1"); code != 0 {
		t.Fatalf("train --force: %s", stderr)
	}
	gone("train --force", out, append(stale, "checkpoint-4-0.ckpt", "checkpoint-3-0.ckpt")...)

	root := filepath.Join(t.TempDir(), "sweep")
	if code, _, stderr := runCLI(t, nil, "sweep", "--config", cfg, "--grid", "beta=0", "--seeds", "0", "--out", root, "--set", "train.epochs=2"); code != 0 {
		t.Fatal(stderr)
	}
	jobs, _ := filepath.Glob(filepath.Join(root, "*", "seed0"))
	if len(jobs) != 1 {
		t.Fatalf("sweep jobs %v", jobs)
	}
	os.Remove(filepath.Join(jobs[0], train.FinalFile)) // unfinished: the sweep resumes it
	plant(jobs[0], ".checkpoint.ckpt.tmp-99")
	code, _, stderr = runCLI(t, nil, "sweep", "--config", cfg, "--grid", "beta=0", "--seeds", "0", "--out", root, "--set", "train.epochs=2")
	if code != 0 || !strings.Contains(stderr, "removed 1 stale temporary file(s)") {
		t.Fatalf("sweep: exit %d, stderr %q", code, stderr)
	}
	gone("sweep job", jobs[0], ".checkpoint.ckpt.tmp-99")
}

// TestFinishedRunOfOlderDmrnet: a finished run whose config.yaml predates
// train.keep_checkpoints is still recognised as the same configuration.
func TestFinishedRunOfOlderDmrnet(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=1"); code != 0 {
		t.Fatal(stderr)
	}
	path := filepath.Join(out, train.ConfigFile)
	b, _ := os.ReadFile(path)
	old := strings.Replace(string(b), "  keep_checkpoints: 2\n", "", 1)
	if old == string(b) {
		t.Fatalf("config.yaml has no keep_checkpoints line:\n%s", b)
	}
	os.WriteFile(path, []byte(old), 0o644)
	code, stdout, stderr := runCLI(t, nil, "train", "--config", cfg, "--set", "train.epochs=1")
	if code != 0 || !strings.Contains(stderr, "already holds this finished run") || !strings.Contains(stdout, "rgb+depth+ir") {
		t.Fatalf("repeated train on an older run: exit %d, %s", code, stderr)
	}
}

// TestSpecialistsRemoveStaleTemp: a specialists.json write killed half way leaves a
// temporary file in the specialists' root, which the next specialists run removes.
func TestSpecialistsRemoveStaleTemp(t *testing.T) {
	cfg, _ := writeConfig(t)
	root := filepath.Join(t.TempDir(), "spec")
	os.MkdirAll(root, 0o755)
	stale := filepath.Join(root, ".specialists.json.tmp-31337")
	os.WriteFile(stale, []byte("{\"half"), 0o644)
	code, _, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--out", root, "--set", "train.epochs=1")
	if code != 0 || !strings.Contains(stderr, "removed 1 stale temporary file(s)") {
		t.Fatalf("specialists: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("the stale temporary file is still there")
	}
}
