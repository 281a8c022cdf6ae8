package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/checkpoint"
	"github.com/dmrnet/dmrnet/internal/config"
)

// interrupted trains cfg until stopAt optimiser steps have run, then cancels: the run
// directory holds the checkpoint saved on interruption and the ones before it.
func interrupted(t *testing.T, cfg *config.Config, stopAt int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	tr, err := New(cfg, Hooks{OnStep: func(epoch, step, n int, loss float64) {
		if steps++; steps == stopAt {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
}

// damage flips a byte in the middle of file: it then fails its checksum.
func damage(t *testing.T, file string) {
	t.Helper()
	b := readFile(t, file)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runDirFiles lists the names in dir, sorted.
func runDirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// rotated lists the earlier checkpoints in dir, newest first.
func rotated(t *testing.T, dir string) []string {
	t.Helper()
	files, err := rotatedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	return names
}

// TestKeepCheckpoints: a finished 6-epoch run keeps train.keep_checkpoints - 1 earlier
// checkpoints, each holding the state its name says.
func TestKeepCheckpoints(t *testing.T) {
	tests := []struct {
		keep int
		want []string
	}{
		{1, nil},
		{2, []string{"checkpoint-5-0.ckpt"}},
		{4, []string{"checkpoint-5-0.ckpt", "checkpoint-4-0.ckpt", "checkpoint-3-0.ckpt"}},
	}
	for _, tt := range tests {
		cfg := tinyConfig(t, "train.keep_checkpoints="+strconv.Itoa(tt.keep))
		trainRun(t, cfg)
		if got := rotated(t, cfg.Out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("keep %d: earlier checkpoints %v, want %v", tt.keep, got, tt.want)
		}
		for _, name := range tt.want {
			var st State
			if err := checkpoint.Load(filepath.Join(cfg.Out, name), &st); err != nil {
				t.Fatal(err)
			}
			if e, s, _ := parseRotated(name); st.Epoch != e || st.Step != s {
				t.Errorf("%s holds epoch %d step %d", name, st.Epoch, st.Step)
			}
		}
	}
}

func TestParseRotated(t *testing.T) {
	tests := []struct {
		name        string
		epoch, step int
		ok          bool
	}{
		{"checkpoint-3-0.ckpt", 3, 0, true},
		{"checkpoint-12-45.ckpt", 12, 45, true},
		{"checkpoint.ckpt", 0, 0, false},
		{"checkpoint-3.ckpt", 0, 0, false},
		{"checkpoint-03-0.ckpt", 0, 0, false}, // not a name dmrnet writes
		{"checkpoint--1-0.ckpt", 0, 0, false},
		{"checkpoint-3-0.ckpt.tmp-5", 0, 0, false},
		{"best.ckpt", 0, 0, false},
	}
	for _, tt := range tests {
		e, s, ok := parseRotated(tt.name)
		if e != tt.epoch || s != tt.step || ok != tt.ok {
			t.Errorf("parseRotated(%q) = %d, %d, %v", tt.name, e, s, ok)
		}
	}
}

// TestResumeFallsBackToPreviousCheckpoint damages the newest checkpoint of an interrupted
// run: resume continues from the previous one, says so, and ends with exactly the numbers of
// an uninterrupted run. With no intact earlier checkpoint it is an error naming the file.
func TestResumeFallsBackToPreviousCheckpoint(t *testing.T) {
	ref := tinyConfig(t)
	refTr, refSweep := trainRun(t, ref)
	for _, tt := range []struct {
		stopAt   int    // optimiser steps before the interruption (5 per epoch)
		previous string // the checkpoint resume falls back to
	}{
		{7, "checkpoint-1-0.ckpt"},  // newest: epoch 2, step 2
		{13, "checkpoint-2-0.ckpt"}, // newest: epoch 3, step 3
	} {
		cfg := tinyConfig(t)
		interrupted(t, cfg, tt.stopAt)
		newest := filepath.Join(cfg.Out, CheckpointFile)
		damage(t, newest)
		res, err := Resume(cfg.Out, nil, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		prev := filepath.Join(cfg.Out, tt.previous)
		if res.ResumedFrom != prev || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], newest+" is damaged") ||
			!strings.Contains(res.Warnings[0], "using the previous checkpoint "+prev) {
			t.Fatalf("stop %d: resumed from %s, warnings %q", tt.stopAt, res.ResumedFrom, res.Warnings)
		}
		if err := res.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		sw, err := res.Evaluate()
		if err != nil {
			t.Fatal(err)
		}
		sw.Checkpoint = refSweep.Checkpoint
		if !reflect.DeepEqual(sw, refSweep) {
			t.Fatalf("stop %d: sweep after resuming from %s differs:\n%+v\n%+v", tt.stopAt, tt.previous, sw, refSweep)
		}
		if a, b := losses(t, cfg.Out), losses(t, ref.Out); !reflect.DeepEqual(a, b) {
			t.Fatalf("stop %d: metrics differ:\n%+v\n%+v", tt.stopAt, a, b)
		}
		for i, p := range refTr.Model().Params() {
			if !reflect.DeepEqual(p.Data(), res.Model().Params()[i].Data()) {
				t.Fatalf("stop %d: parameter %s differs", tt.stopAt, p.Name)
			}
		}
		// sweep.json equals the uninterrupted run's, but for the run directory
		got := strings.ReplaceAll(string(readFile(t, filepath.Join(cfg.Out, SweepFile))), cfg.Out, "DIR")
		want := strings.ReplaceAll(string(readFile(t, filepath.Join(ref.Out, SweepFile))), ref.Out, "DIR")
		if got != want {
			t.Fatalf("stop %d: sweep.json differs", tt.stopAt)
		}
		if r := rotated(t, cfg.Out); !reflect.DeepEqual(r, []string{"checkpoint-5-0.ckpt"}) {
			t.Fatalf("stop %d: earlier checkpoints after the resumed run: %v", tt.stopAt, r)
		}
	}

	// every checkpoint damaged, or none kept: an error that names checkpoint.ckpt
	for _, keep := range []string{"train.keep_checkpoints=2", "train.keep_checkpoints=1"} {
		cfg := tinyConfig(t, keep)
		interrupted(t, cfg, 7)
		newest := filepath.Join(cfg.Out, CheckpointFile)
		damage(t, newest)
		for _, r := range rotated(t, cfg.Out) {
			damage(t, filepath.Join(cfg.Out, r))
		}
		_, err := Resume(cfg.Out, nil, Hooks{})
		if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.HasPrefix(err.Error(), newest+": ") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: Resume with every checkpoint damaged: %v", keep, err)
		}
		if keep == "train.keep_checkpoints=2" && !strings.Contains(err.Error(), "checkpoint-1-0.ckpt are damaged too") {
			t.Fatalf("error does not mention the damaged earlier checkpoint: %v", err)
		}
	}
}

// TestOpenFallsBackForUnfinishedRun: evaluating an unfinished run whose newest checkpoint is
// damaged uses the previous one with a warning; a damaged final model is an error.
func TestOpenFallsBackForUnfinishedRun(t *testing.T) {
	cfg := tinyConfig(t)
	interrupted(t, cfg, 7)
	damage(t, filepath.Join(cfg.Out, CheckpointFile))
	prev := filepath.Join(cfg.Out, "checkpoint-1-0.ckpt")
	tr, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Final || tr.Path != prev || tr.State.Epoch != 1 || len(tr.Warnings) != 1 || !strings.Contains(tr.Warnings[0], prev) {
		t.Fatalf("Open: final %v, path %s, epoch %d, warnings %q", tr.Final, tr.Path, tr.State.Epoch, tr.Warnings)
	}
	l, err := OpenModel(cfg.Out, "")
	if err != nil || l.Path != prev || len(l.Warnings) != 1 {
		t.Fatalf("OpenModel: %v", err)
	}

	done := tinyConfig(t, "train.epochs=2")
	trainRun(t, done)
	final := filepath.Join(done.Out, FinalFile)
	damage(t, final)
	if _, err := Open(done.Out, ""); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.HasPrefix(err.Error(), final+": ") {
		t.Fatalf("Open of a damaged final model: %v", err)
	}
}

// TestStaleTempsRemoved plants the temporary files a killed write leaves (SIGKILL between
// creating and renaming) and checks that starting a run, resuming it and replacing it
// (--force) remove them, and nothing that is not a run's.
func TestStaleTempsRemoved(t *testing.T) {
	stale := []string{".checkpoint.ckpt.tmp-123", ".final.ckpt.tmp-9", ".checkpoint-3-0.ckpt.tmp-77", ".sweep.json.tmp-5", ".provenance.json.tmp-1"}
	foreign := []string{".notes.txt.tmp-1", "mine.txt", ".checkpoint.ckpt.tmp-x"}
	plant := func(dir string) {
		t.Helper()
		os.MkdirAll(dir, 0o755)
		for _, f := range append(slices.Clone(stale), foreign...) {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(what string, removed []string, dir string) {
		t.Helper()
		want := slices.Clone(stale)
		sort.Strings(want)
		sort.Strings(removed)
		if !reflect.DeepEqual(removed, want) {
			t.Errorf("%s: removed %v, want %v", what, removed, want)
		}
		names := runDirFiles(t, dir)
		for _, f := range stale {
			if slices.Contains(names, f) {
				t.Errorf("%s: %s is still there", what, f)
			}
		}
		for _, f := range foreign {
			if !slices.Contains(names, f) {
				t.Errorf("%s: removed %s, which is not a run's", what, f)
			}
		}
	}

	cfg := tinyConfig(t, "train.epochs=2")
	plant(cfg.Out)
	tr, err := New(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	check("New", tr.StaleRemoved, cfg.Out)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	plant(cfg.Out)
	res, err := Resume(cfg.Out, []string{"train.epochs=3"}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	check("Resume", res.StaleRemoved, cfg.Out)
	if err := res.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Replace (--force) removes the stale temporary files too, sets the old run aside with
	// its earlier checkpoints, and deletes it once the new run has a checkpoint: the new
	// run's files and the foreign ones are left, nothing of the old run
	plant(cfg.Out)
	rep, err := Replace(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	check("Replace", rep.StaleRemoved, cfg.Out)
	if err := rep.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(foreign), CheckpointFile, rotatedName(1, 0), ConfigFile, FinalFile, HardSetFile, MetricsFile, ProvenanceFile)
	sort.Strings(want)
	if got := runDirFiles(t, cfg.Out); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Replace: %v, want %v", got, want)
	}
}

// TestProvenanceRecorded: a run records the dmrnet build and the data fingerprint in
// provenance.json and in every checkpoint; table files with their size and SHA-256.
func TestProvenanceRecorded(t *testing.T) {
	for _, cfg := range []*config.Config{tinyConfig(t, "train.epochs=2"), tableConfig(t)} {
		trainRun(t, cfg)
		var p Provenance
		if err := json.Unmarshal(readFile(t, filepath.Join(cfg.Out, ProvenanceFile)), &p); err != nil {
			t.Fatal(err)
		}
		if p.Dmrnet.GoVersion != runtime.Version() || p.Dmrnet.Version == "" || p.Data == nil || p.Data.Kind != cfg.Data.Kind {
			t.Fatalf("%s: provenance.json %+v", cfg.Data.Kind, p)
		}
		for _, f := range []string{CheckpointFile, FinalFile} {
			var st State
			if err := checkpoint.Load(filepath.Join(cfg.Out, f), &st); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st.Provenance, &p) {
				t.Fatalf("%s: %s records %+v, provenance.json %+v", cfg.Data.Kind, f, st.Provenance, p)
			}
		}
		switch cfg.Data.Kind {
		case "synthetic":
			if len(p.Data.Settings) != 64 || p.Data.Files != nil {
				t.Fatalf("synthetic fingerprint %+v", p.Data)
			}
		case "table":
			var names []string
			for _, f := range p.Data.Files {
				names = append(names, f.Path)
				b := readFile(t, filepath.Join(cfg.Data.Root, f.Path))
				sum := sha256.Sum256(b)
				if f.Size != int64(len(b)) || f.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: recorded %d bytes %s", f.Path, f.Size, f.SHA256)
				}
			}
			if want := []string{"a.csv", "b.csv", "labels.csv", "split.csv"}; !reflect.DeepEqual(names, want) {
				t.Fatalf("fingerprinted files %v, want %v (relative to data.root)", names, want)
			}
		}
	}
}

// TestResumeRefusesChangedData: resuming or opening a run on changed data is refused with an
// error naming the file (a row appended to one view: the change, not the row counts it
// breaks, is reported), or the synthetic setting.
func TestResumeRefusesChangedData(t *testing.T) {
	cfg := tableConfig(t)
	trainRun(t, cfg)
	path := filepath.Join(cfg.Data.Root, "b.csv")
	os.WriteFile(path, append(readFile(t, path), []byte("0.5,0.5\n")...), 0o644)

	_, err := Resume(cfg.Out, []string{"train.epochs=4"}, Hooks{})
	var dc *DataChangedError
	if !errors.Is(err, ErrDataChanged) || !errors.As(err, &dc) || dc.What != path || !strings.HasPrefix(err.Error(), path+": changed since training") ||
		!strings.Contains(err.Error(), "--allow-data-change") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Resume on changed data: %v", err)
	}
	if _, err := Open(cfg.Out, ""); !errors.Is(err, ErrDataChanged) {
		t.Fatalf("Open on changed data: %v", err)
	}
	// synthetic data: the generator settings are the fingerprint
	syn := tinyConfig(t, "train.epochs=2")
	trainRun(t, syn)
	_, err = Resume(syn.Out, []string{"train.epochs=3", "data.synthetic.seed=5"}, Hooks{})
	if !errors.Is(err, ErrDataChanged) || !strings.HasPrefix(err.Error(), "data.synthetic: the generator settings differ") {
		t.Fatalf("Resume with other synthetic settings: %v", err)
	}
	if _, err := Resume(syn.Out, []string{"train.epochs=3"}, Hooks{}); err != nil {
		t.Fatalf("Resume on the same data: %v", err)
	}
}

// TestAllowedDataChangeResumes changes a value (not the row count) of a table file: a
// checkpoint without a fingerprint (older dmrnet) is opened without a check; with
// AllowDataChange the run resumes, warns and notes it in the provenance.
func TestAllowedDataChangeResumes(t *testing.T) {
	cfg := tableConfig(t)
	trainRun(t, cfg)
	path := filepath.Join(cfg.Data.Root, "b.csv")
	b := readFile(t, path)
	b[0] = '7'
	os.WriteFile(path, b, 0o644)
	// a checkpoint without a fingerprint is not checked
	var st State
	final := filepath.Join(cfg.Out, FinalFile)
	if err := checkpoint.Load(final, &st); err != nil {
		t.Fatal(err)
	}
	st.Provenance = nil
	old := filepath.Join(t.TempDir(), "old.ckpt")
	if err := checkpoint.Save(old, &st); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(old, ""); err != nil {
		t.Fatalf("Open of a checkpoint without fingerprint: %v", err)
	}

	res, err := ResumeWith(cfg.Out, []string{"train.epochs=4"}, Hooks{}, ResumeOptions{AllowDataChange: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], path+": changed since training") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	if err := res.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var p Provenance
	if err := json.Unmarshal(readFile(t, filepath.Join(cfg.Out, ProvenanceFile)), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "resumed after epoch 3, step 0, on changed data") {
		t.Fatalf("notes %q", p.Notes)
	}
	// the new fingerprint is recorded: the changed data is now the run's data
	if _, err := Open(cfg.Out, ""); err != nil {
		t.Fatalf("Open after the allowed change: %v", err)
	}
}

func TestDiffData(t *testing.T) {
	a := &DataFingerprint{Kind: "table", Files: []FileSum{{"a.csv", 10, "aa"}, {"b.csv", 20, "bb"}, {"c.csv", 30, "cc"}}}
	tests := []struct {
		name string
		now  *DataFingerprint
		want []string // what: why prefix
	}{
		{"same", &DataFingerprint{Kind: "table", Files: []FileSum{{"a.csv", 10, "aa"}, {"b.csv", 20, "bb"}, {"c.csv", 30, "cc"}}}, nil},
		{"content", &DataFingerprint{Kind: "table", Files: []FileSum{{"a.csv", 10, "aa"}, {"b.csv", 20, "bx"}, {"c.csv", 30, "cc"}}},
			[]string{"R/b.csv: changed since training: 20 bytes with SHA-256 bb then, 20 bytes with SHA-256 bx now"}},
		{"gone and added", &DataFingerprint{Kind: "table", Files: []FileSum{{"a.csv", 10, "aa"}, {"b.csv", 20, "bb"}, {"d.csv", 5, "dd"}}},
			[]string{"R/c.csv: is gone from the data", "R/d.csv: was added to the data after training (5 bytes)"}},
		{"kind", &DataFingerprint{Kind: "avmnist"}, []string{"data.kind: the run was trained on table data, this is avmnist data"}},
		{"absolute", &DataFingerprint{Kind: "table", Files: []FileSum{{"/x/a.csv", 10, "aa"}, {"b.csv", 20, "bb"}, {"c.csv", 30, "cc"}}},
			[]string{"/x/a.csv: was added", "R/a.csv: is gone"}},
	}
	for _, tt := range tests {
		got := diffData(a, tt.now, "R")
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d differences %v, want %d", tt.name, len(got), got, len(tt.want))
			continue
		}
		for i, d := range got {
			if s := d[0] + ": " + d[1]; !strings.HasPrefix(s, tt.want[i]) {
				t.Errorf("%s: %q, want prefix %q", tt.name, s, tt.want[i])
			}
		}
	}
	err := checkData(a, tests[2].now, "R", "run/final.ckpt")
	if err == nil || err.Error() != "R/c.csv: is gone from the data: the run was trained with it (30 bytes); 1 more data files differ, against the fingerprint in run/final.ckpt (restore the data the run was trained on, or give --allow-data-change to use this data anyway)" {
		t.Fatalf("checkData: %v", err)
	}
	if err := checkData(nil, a, "R", "x"); err != nil {
		t.Fatalf("no recorded fingerprint: %v", err)
	}
}

// TestManifestFiles: a manifest's fingerprint covers the manifest and the files it names,
// not other files of its directory.
func TestManifestFiles(t *testing.T) {
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", "manifest-example.yaml"), Environ: []string{},
		Sets: []string{"data.root=" + filepath.Join("..", "..")}})
	if err != nil {
		t.Fatal(err)
	}
	files, err := manifestFiles(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	manifest := dataPath(&cfg, cfg.Data.Manifest.File)
	if len(files) < 2 || files[0] != manifest {
		t.Fatalf("files %v", files)
	}
	for _, f := range files[1:] {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("listed file %s: %v", f, err)
		}
		if strings.HasSuffix(f, ".go") || strings.HasSuffix(f, ".csv") {
			t.Errorf("listed %s, which the manifest does not name", f)
		}
	}
}

// TestWriteFuzzSeed writes the real checkpoint that seeds internal/checkpoint's FuzzLoad: a
// small synthetic run with hard.by=soft, stopped in the middle of its third epoch, so that
// every part of the state is filled. It runs only with DMRNET_WRITE_FUZZ_SEED=1.
func TestWriteFuzzSeed(t *testing.T) {
	if os.Getenv("DMRNET_WRITE_FUZZ_SEED") != "1" {
		t.Skip("set DMRNET_WRITE_FUZZ_SEED=1 to rewrite ../checkpoint/testdata/real.ckpt")
	}
	cfg := tinyConfig(t, "hard.by=soft", "hard.warmup_epochs=1", "data.synthetic.train=40", "data.synthetic.test=10",
		"model.encoder.layers=[4]", "model.latent=2", "train.batch_size=16")
	interrupted(t, cfg, 8)
	b := readFile(t, filepath.Join(cfg.Out, CheckpointFile))
	dst := filepath.Join("..", "checkpoint", "testdata", "real.ckpt")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", dst, len(b))
}

// TestMovedDataStillMatches: the fingerprint records paths relative to data.root, so data
// moved elsewhere and given with a new data.root (--data-root) is the same data; a change
// there is reported at its new place.
func TestMovedDataStillMatches(t *testing.T) {
	cfg := tableConfig(t)
	trainRun(t, cfg)
	moved := t.TempDir()
	for _, f := range []string{"a.csv", "b.csv", "labels.csv", "split.csv"} {
		if err := os.WriteFile(filepath.Join(moved, f), readFile(t, filepath.Join(cfg.Data.Root, f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenWith(cfg.Out, OpenOptions{DataRoot: moved}); err != nil {
		t.Fatalf("moved data: %v", err)
	}
	path := filepath.Join(moved, "labels.csv")
	b := readFile(t, path)
	b[0] = '2'
	os.WriteFile(path, b, 0o644)
	if _, err := OpenWith(cfg.Out, OpenOptions{DataRoot: moved}); !errors.Is(err, ErrDataChanged) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("changed moved data: %v", err)
	}
}
