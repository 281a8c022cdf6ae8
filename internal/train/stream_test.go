package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/manifestgen"
)

// genManifest writes a small generated manifest with two image modalities (8 x 8 grey and
// RGB), some cells missing, and returns its directory.
func genManifest(t *testing.T, classes int) string {
	t.Helper()
	dir := t.TempDir()
	_, err := manifestgen.Write(dir, manifestgen.Spec{Samples: 120, Classes: classes, Size: 8, TestEvery: 4,
		MissingGray: 0.2, MissingRGB: 0.15, Noise: 50, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// manifestConfig trains on the generated manifest in dir: 4 epochs of 5 batches (72
// training samples after the hold-out of 18, batches of 16), 2 of them warm-up.
func manifestConfig(t *testing.T, dir string, sets ...string) *config.Config {
	t.Helper()
	sets = append([]string{
		"out=" + filepath.Join(t.TempDir(), "run"),
		"data.kind=manifest", "data.root=" + dir, "data.manifest.file=manifest.csv",
		"data.manifest.modalities=[{name: gray, type: image, channels: 1, height: 8, width: 8, mean: [0.5], std: [0.25]}, " +
			"{name: rgb, type: image, channels: 3, height: 8, width: 8, mean: [0.5, 0.5, 0.5], std: [0.3, 0.3, 0.3]}]",
		"data.val_fraction=0.2", "model.encoder.layers=[16]", "model.latent=8",
		"train.epochs=4", "train.batch_size=16", "hard.warmup_epochs=2", "train.eval_batch_size=8",
	}, sets...)
	cfg, err := config.Load(config.LoadOptions{Sets: sets, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// sameRun fails unless the run in dir has the reference's metrics, sweep and parameters.
func sameRun(t *testing.T, what string, tr *Trainer, ref *Trainer, refSweep, sw any) {
	t.Helper()
	if !reflect.DeepEqual(sw, refSweep) {
		t.Fatalf("%s: sweep differs:\n%+v\n%+v", what, sw, refSweep)
	}
	if a, b := losses(t, tr.cfg.Out), losses(t, ref.cfg.Out); !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: metrics differ:\n%+v\n%+v", what, a, b)
	}
	for i, p := range ref.Model().Params() {
		if !reflect.DeepEqual(p.Data(), tr.Model().Params()[i].Data()) {
			t.Fatalf("%s: parameter %s differs", what, p.Name)
		}
	}
}

// TestStreamEqualsInMemory trains the same configuration on the data in memory and streamed
// (data.stream, several prefetch depths) and requires bitwise the same metrics, sweep
// (validation and test evaluation streamed too) and parameters.
func TestStreamEqualsInMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		classes int
		extra   []string
	}{
		{"3 classes", 3, nil},
		{"2 classes, eer threshold on val, select best", 2, []string{"train.select_best=true", "model.aux_heads.weight=1", "model.inference=ensemble"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := genManifest(t, tc.classes)
			ref, refSweep := trainRun(t, manifestConfig(t, dir, tc.extra...))
			if ref.Data().Train.Streamed() {
				t.Fatal("the reference is streamed")
			}
			for _, prefetch := range []string{"1", "3"} {
				cfg := manifestConfig(t, dir, append([]string{"data.stream=true", "data.prefetch=" + prefetch}, tc.extra...)...)
				tr, sw := trainRun(t, cfg)
				if !tr.Data().Train.Streamed() || !tr.Data().Test.Streamed() || !tr.Data().Val.Streamed() {
					t.Fatal("data.stream=true did not stream")
				}
				sw.Checkpoint = refSweep.Checkpoint
				sameRun(t, "prefetch "+prefetch, tr, ref, refSweep, sw)
			}
		})
	}
}

// TestStreamEqualsInMemoryFixture streams the manifest fixture of
// configs/manifest-example.yaml, whose audio modality is standardised with training
// statistics (computed in a streaming pass), and requires in-memory training's numbers.
func TestStreamEqualsInMemoryFixture(t *testing.T) {
	load := func(sets ...string) *config.Config {
		sets = append([]string{"out=" + filepath.Join(t.TempDir(), "run"), "data.root=../..", "train.epochs=2", "hard.warmup_epochs=1"}, sets...)
		cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", "manifest-example.yaml"), Sets: sets, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		return &cfg
	}
	ref, refSweep := trainRun(t, load())
	tr, sw := trainRun(t, load("data.stream=true", "data.prefetch=1"))
	if !reflect.DeepEqual(tr.Data().Norms, ref.Data().Norms) || len(ref.Data().Norms) != 1 {
		t.Fatalf("norms %+v, in memory %+v", tr.Data().Norms, ref.Data().Norms)
	}
	sw.Checkpoint = refSweep.Checkpoint
	sameRun(t, "fixture", tr, ref, refSweep, sw)
}

// TestStreamResumeEqualsUninterrupted interrupts a streamed run mid-epoch and at an epoch's
// end, resumes it (still streamed) and requires the numbers of uninterrupted in-memory
// training.
func TestStreamResumeEqualsUninterrupted(t *testing.T) {
	dir := genManifest(t, 3)
	ref, refSweep := trainRun(t, manifestConfig(t, dir))
	for _, stopAt := range []int{7, 10} { // 5 batches per epoch: mid-epoch 2, end of epoch 2
		cfg := manifestConfig(t, dir, "data.stream=true", "data.prefetch=2")
		ctx, cancel := context.WithCancel(context.Background())
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
		res, err := Resume(cfg.Out, nil, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Data().Train.Streamed() {
			t.Fatal("the resumed run is not streamed")
		}
		if err := res.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		sw, err := res.Evaluate()
		if err != nil {
			t.Fatal(err)
		}
		sw.Checkpoint = refSweep.Checkpoint
		sameRun(t, fmt.Sprint("stop ", stopAt), res, ref, refSweep, sw)
	}
}

// TestStreamBadFile corrupts one image of the training, validation or test split: in memory
// the data fails to load; streamed, training (or the evaluation that reads the file) stops
// at the batch that holds it with the very same one-line error, and leaves no checkpoint,
// metrics or results that the failure cut short.
func TestStreamBadFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, line string
		sets             []string
		// steps is the number of training steps before the error: the bad file is in the
		// fourth of 5 batches of the first epoch, in the validation split (read after the
		// first epoch), or in the test split (Run succeeds and the final evaluation fails).
		steps  int
		trains bool
	}{
		{"train", "000013.png", "line 15", []string{"data.val_fraction=0", "train.batch_size=20"}, 3, false},
		{"val", "000013.png", "line 15", nil, 5, false},
		{"test", "000011.png", "line 13", nil, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := genManifest(t, 3)
			if err := os.WriteFile(filepath.Join(dir, "gray", tc.file), []byte("not a png"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, want := New(manifestConfig(t, dir, tc.sets...), Hooks{})
			if want == nil || !strings.Contains(want.Error(), tc.file) || !strings.Contains(want.Error(), tc.line) || strings.Contains(want.Error(), "\n") {
				t.Fatalf("in memory: %v", want)
			}
			cfg := manifestConfig(t, dir, append([]string{"data.stream=true"}, tc.sets...)...)
			steps := 0
			tr, err := New(cfg, Hooks{OnStep: func(int, int, int, float64) { steps++ }})
			if err != nil {
				t.Fatalf("streamed New = %v (files are read per batch)", err)
			}
			err = tr.Run(context.Background())
			if steps != tc.steps {
				t.Errorf("%d training steps before the error, want %d", steps, tc.steps)
			}
			left := []string{CheckpointFile, MetricsFile, FinalFile, BestFile, SweepFile, HardSetFile}
			if tc.trains {
				if err != nil {
					t.Fatal(err)
				}
				_, err = tr.Evaluate()
				left = []string{SweepFile}
			}
			if err == nil || err.Error() != want.Error() {
				t.Fatalf("streamed: %v\nwant %v", err, want)
			}
			for _, f := range left {
				if _, err := os.Stat(filepath.Join(cfg.Out, f)); err == nil {
					t.Errorf("the failed streamed run wrote %s", f)
				}
			}
		})
	}
}
