package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/report"
)

// tinyConfig is a small synthetic run: 3 modalities, 150 training samples (batches of 32
// leave a partial batch of 22), 6 epochs with 2 warm-up epochs.
func tinyConfig(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	sets = append([]string{
		"out=" + filepath.Join(t.TempDir(), "run"),
		"data.synthetic.train=150", "data.synthetic.test=60", "data.synthetic.classes=3",
		"data.synthetic.modalities=[{name: a, dim: 6, signal: 3}, {name: b, dim: 4, signal: 1.5}, {name: c, dim: 3, signal: 0.5}]",
		"model.encoder.layers=[16, 8]", "model.latent=8",
		"train.epochs=6", "train.batch_size=32", "hard.warmup_epochs=2", "train.eval_batch_size=25",
	}, sets...)
	cfg, err := config.Load(config.LoadOptions{Sets: sets, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func trainRun(t *testing.T, cfg *config.Config) (*Trainer, *report.Sweep) {
	t.Helper()
	tr, err := New(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sw, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	return tr, sw
}

// losses reads metrics.jsonl without the timings.
func losses(t *testing.T, dir string) []EpochStats {
	t.Helper()
	ms, err := ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		ms[i].Seconds = 0
	}
	return ms
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSameSeedSameNumbers(t *testing.T) {
	a := tinyConfig(t)
	b := tinyConfig(t)
	trainRun(t, a)
	trainRun(t, b)
	la, lb := losses(t, a.Out), losses(t, b.Out)
	if len(la) != 6 || !reflect.DeepEqual(la, lb) {
		t.Fatalf("loss trajectories differ:\n%+v\n%+v", la, lb)
	}
	if la[1].HardSet == nil || la[0].HCR != 0 || la[5].HCR == 0 {
		t.Fatalf("hard set / HCR schedule wrong: %+v", la)
	}
	sa := readFile(t, filepath.Join(a.Out, SweepFile))
	sb := readFile(t, filepath.Join(b.Out, SweepFile))
	// the checkpoint path differs between the two run directories
	sa = []byte(strings.ReplaceAll(string(sa), a.Out, "DIR"))
	sb = []byte(strings.ReplaceAll(string(sb), b.Out, "DIR"))
	if string(sa) != string(sb) {
		t.Fatalf("sweep.json differs:\n%s\n%s", sa, sb)
	}
	c := tinyConfig(t, "train.seed=1")
	trainRun(t, c)
	if reflect.DeepEqual(la, losses(t, c.Out)) {
		t.Fatal("a different seed gave the same trajectory")
	}
}

// TestCheckpointRoundTrip reloads the final model from disk and checks it reproduces the
// sweep computed in memory at the end of training exactly.
func TestCheckpointRoundTrip(t *testing.T) {
	cfg := tinyConfig(t)
	tr, sw := trainRun(t, cfg)
	got, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Final || !reflect.DeepEqual(got.State.Hard, tr.State().Hard) {
		t.Fatalf("final %v, hard %v vs %v", got.Final, got.State.Hard, tr.State().Hard)
	}
	ev, err := evaluate.New(got.Model, got.Data, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev.Hard = got.State.Hard
	sw2, err := ev.Sweep(got.Data.Test)
	if err != nil {
		t.Fatal(err)
	}
	sw2.Split, sw2.Checkpoint = sw.Split, sw.Checkpoint
	if !reflect.DeepEqual(sw, sw2) {
		t.Fatalf("reloaded model gives a different sweep:\n%+v\n%+v", sw, sw2)
	}
	for i, p := range tr.Model().Params() {
		if !reflect.DeepEqual(p.Data(), got.Model.Params()[i].Data()) {
			t.Fatalf("parameter %s differs after reload", p.Name)
		}
	}
}

// TestResumeEqualsUninterrupted interrupts a run in the middle of an epoch (and once at an
// epoch boundary), resumes it, and compares every number with an uninterrupted run.
func TestResumeEqualsUninterrupted(t *testing.T) {
	for _, extra := range [][]string{nil, {"data.val_fraction=0.2", "train.select_best=true", "optim.name=sgd", "optim.nesterov=true", "hard.mode=every-epoch"},
		{"hard.by=soft", "model.aux_heads.weight=1", "model.inference=ensemble"}} {
		ref := tinyConfig(t, extra...)
		refTr, refSweep := trainRun(t, ref)
		for _, stopAt := range []int{7, 10} { // 5 batches per epoch: mid-epoch 2, end of epoch 2
			cfg := tinyConfig(t, extra...)
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
			if _, err := os.Stat(filepath.Join(cfg.Out, FinalFile)); err == nil {
				t.Fatal("interrupted run wrote final.ckpt")
			}
			res, err := Resume(cfg.Out, nil, Hooks{})
			if err != nil {
				t.Fatal(err)
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
				t.Fatalf("%v stop %d: resumed sweep differs:\n%+v\n%+v", extra, stopAt, sw, refSweep)
			}
			if a, b := losses(t, cfg.Out), losses(t, ref.Out); !reflect.DeepEqual(a, b) {
				t.Fatalf("%v stop %d: metrics differ:\n%+v\n%+v", extra, stopAt, a, b)
			}
			for i, p := range refTr.Model().Params() {
				if !reflect.DeepEqual(p.Data(), res.Model().Params()[i].Data()) {
					t.Fatalf("%v stop %d: parameter %s differs", extra, stopAt, p.Name)
				}
			}
		}
	}
}

func TestResumeWithMoreEpochs(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=3")
	trainRun(t, cfg)
	res, err := Resume(cfg.Out, []string{"train.epochs=5"}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := losses(t, cfg.Out); len(ms) != 5 || ms[4].Epoch != 5 {
		t.Fatalf("metrics after extending: %+v", ms)
	}
	full := tinyConfig(t, "train.epochs=5")
	trainRun(t, full)
	if !reflect.DeepEqual(losses(t, cfg.Out), losses(t, full.Out)) {
		t.Fatal("3 + 2 epochs differ from 5 epochs")
	}
}

func TestNewRefusesExistingRun(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=1")
	trainRun(t, cfg)
	if _, err := New(cfg, Hooks{}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("New on a used directory: %v", err)
	}
}

func TestDivergingLossStops(t *testing.T) {
	cfg := tinyConfig(t, "optim.name=sgd", "optim.lr=1e6", "optim.momentum=0", "train.max_loss=50")
	tr, err := New(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background())
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "optim.lr") {
		t.Fatalf("Run = %v, want ErrDiverged naming optim.lr", err)
	}
	// it diverged in its first epoch: there is no checkpoint, and the message must not claim one
	if _, err := os.Stat(filepath.Join(cfg.Out, CheckpointFile)); err == nil {
		t.Fatal("a run that diverged in its first step wrote a checkpoint")
	}
	if msg := err.Error(); strings.Contains(msg, "keeps") || !strings.Contains(msg, "before the run's first checkpoint, so there is none to keep") {
		t.Fatalf("message of a divergence before any checkpoint: %s", msg)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, FinalFile)); err == nil {
		t.Fatal("diverged run wrote final.ckpt")
	}

	// diverging after checkpoints: the message points to the last good one
	cfg = tinyConfig(t, "train.epochs=2")
	trainRun(t, cfg)
	tr, err = Resume(cfg.Out, []string{"train.epochs=4", "optim.lr=1e6", "train.max_loss=50"}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background())
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "continue from the last good checkpoint") || !strings.Contains(err.Error(), "--resume "+cfg.Out) {
		t.Fatalf("Run = %v, want ErrDiverged pointing to the last good checkpoint", err)
	}
}

func TestOpenChecksShapes(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=1")
	trainRun(t, cfg)
	tr, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	other := tinyConfig(t, "model.encoder.layers=[12, 8]")
	ds, err := LoadData(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr2, err := newTrainer(other, ds, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	err = restoreModel(tr.State, tr2.model)
	if err == nil || !strings.Contains(err.Error(), "enc.a.0.W") || !strings.Contains(err.Error(), "[6 12]") {
		t.Fatalf("restore into another architecture: %v", err)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "none"), ""); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("Open = %v, want ErrNoCheckpoint", err)
	}
}

func TestVariantsTrain(t *testing.T) {
	for _, sets := range [][]string{
		{"variant=deterministic"},
		{"variant=no-dropout"},
		{"variant=no-kl"},
		{"variant=dmrnet-loss"},
		{"dropout.mode=explicit", "dropout.probs={a: 1, a+b+c: 3}"},
		{"model.dtype=float64", "schedule.name=cosine", "schedule.warmup_epochs=1"},
	} {
		cfg := tinyConfig(t, append(sets, "train.epochs=3")...)
		tr, sw := trainRun(t, cfg)
		if len(sw.Combinations) != 7 {
			t.Fatalf("%v: %d combinations", sets, len(sw.Combinations))
		}
		st := tr.State()
		switch {
		case cfg.Variant == "no-dropout":
			if len(st.Hard) != 1 || st.Hard[0] != 7 {
				t.Errorf("no-dropout: H = %v, want the full combination only", st.Hard)
			}
		case cfg.Dropout.Mode == "explicit":
			if len(st.Hard) != 2 {
				t.Errorf("explicit dropout: H = %v, want the 2 drawn combinations", st.Hard)
			}
		default:
			if len(st.Hard) != 3 {
				t.Errorf("%v: H = %v, want 3 combinations", sets, st.Hard)
			}
		}
		var rep HardSetReport
		if err := json.Unmarshal(readFile(t, filepath.Join(cfg.Out, HardSetFile)), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Applied != (cfg.Loss.Beta > 0) || len(rep.HardSet) != len(st.Hard) {
			t.Errorf("%v: hardset.json %+v", sets, rep)
		}
	}
}

func TestBatches(t *testing.T) {
	tests := []struct {
		n, b int
		want [][2]int
	}{
		{10, 5, [][2]int{{0, 5}, {5, 10}}},
		{12, 5, [][2]int{{0, 5}, {5, 10}, {10, 12}}},
		{11, 5, [][2]int{{0, 5}, {5, 11}}},
		{3, 5, [][2]int{{0, 3}}},
	}
	for _, tt := range tests {
		if got := batches(tt.n, tt.b); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("batches(%d, %d) = %v, want %v", tt.n, tt.b, got, tt.want)
		}
	}
}

// TestEarlyStoppingAndSelectBest: with a learning rate too small to change anything the
// validation score never improves after epoch 1, so patience 2 stops after epoch 3 and the
// final model is epoch 1's.
func TestEarlyStoppingAndSelectBest(t *testing.T) {
	cfg := tinyConfig(t, "data.val_fraction=0.2", "train.patience=2", "train.select_best=true", "optim.lr=1e-12", "loss.beta=0")
	trainRun(t, cfg)
	ms := losses(t, cfg.Out)
	if len(ms) != 3 || ms[0].ValAccuracy == nil {
		t.Fatalf("want 3 epochs with validation, got %+v", ms)
	}
	got, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Epoch != 1 || got.State.BestEpoch != 1 {
		t.Fatalf("final model is from epoch %d (best %d), want 1", got.State.Epoch, got.State.BestEpoch)
	}
	if got.Data.Val.Len() != 30 || got.Data.Train.Len() != 120 {
		t.Fatalf("val %d train %d", got.Data.Val.Len(), got.Data.Train.Len())
	}
	// metrics.jsonl's last line says that and why training stopped, and which epoch was kept;
	// the lines before it carry no "stop".
	for _, m := range ms[:2] {
		if m.Stop != nil {
			t.Errorf("epoch %d has a stop field %+v", m.Epoch, m.Stop)
		}
	}
	want := StopInfo{Reason: StopPatience, Epoch: 3, Epochs: 6, Patience: 2, BestEpoch: 1, BestScore: *ms[0].ValAccuracy, KeptEpoch: 1, SelectBest: true}
	if st := ms[2].Stop; st == nil || *st != want || !st.EarlyStopped() {
		t.Errorf("last line's stop = %+v, want %+v", st, want)
	}
}

// TestStopWithoutEarlyStopping: a run that trains all its epochs says so on its last line,
// and keeps the last epoch without train.select_best.
func TestStopWithoutEarlyStopping(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=2", "hard.warmup_epochs=1")
	trainRun(t, cfg)
	ms := losses(t, cfg.Out)
	if len(ms) != 2 || ms[0].Stop != nil {
		t.Fatalf("metrics %+v", ms)
	}
	want := StopInfo{Reason: StopEpochs, Epoch: 2, Epochs: 2, KeptEpoch: 2}
	if st := ms[1].Stop; st == nil || *st != want || st.EarlyStopped() {
		t.Errorf("last line's stop = %+v, want %+v", ms[1].Stop, want)
	}
}

// writeTable writes a two-view table data set (60 rows, 3 classes) and returns its config.
func tableConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var a, b, labels, split strings.Builder
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 60; i++ {
		c := i % 3
		fmt.Fprintf(&a, "%g,%g,%g\n", 100+10*float64(c)+rng.NormFloat64(), 5.0, -3*float64(c)+rng.NormFloat64())
		fmt.Fprintf(&b, "%g,%g\n", 0.01*float64(c)+0.01*rng.NormFloat64(), rng.NormFloat64())
		fmt.Fprintf(&labels, "%d\n", c)
		fmt.Fprintf(&split, "%d\n", map[bool]int{true: 1, false: 0}[i >= 45])
	}
	for name, s := range map[string]string{"a.csv": a.String(), "b.csv": b.String(), "labels.csv": labels.String(), "split.csv": split.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(config.LoadOptions{Environ: []string{}, Sets: []string{
		"out=" + filepath.Join(t.TempDir(), "run"), "data.kind=table", "data.root=" + dir,
		"data.table.views=[{name: a, file: a.csv}, {name: b, file: b.csv}]",
		"data.table.labels=labels.csv", "data.table.split_file=split.csv",
		"model.encoder.layers=[8]", "model.latent=4", "train.epochs=3", "train.batch_size=16", "hard.warmup_epochs=1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// TestStandardizationStoredInCheckpoint trains on a table set, then changes the training
// file: evaluation must keep using the statistics stored in the checkpoint.
func TestStandardizationStoredInCheckpoint(t *testing.T) {
	cfg := tableConfig(t)
	_, sw := trainRun(t, cfg)
	if len(sw.Combinations) != 3 || sw.Combinations[0].N != 15 {
		t.Fatalf("sweep %+v", sw.Combinations)
	}
	got, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.State.Norms) != 2 || !reflect.DeepEqual(got.Data.Norms, got.State.Norms) {
		t.Fatalf("norms: data %+v, state %+v", got.Data.Norms, got.State.Norms)
	}
	if m := got.State.Norms[0].Mean[0]; math.Abs(m-110) > 2 {
		t.Fatalf("stored mean of a[0] = %v, want about 110", m)
	}
	// shift every value of view a by +1000: recomputed statistics would absorb the shift
	path := filepath.Join(cfg.Data.Root, "a.csv")
	data, _ := os.ReadFile(path)
	var shifted strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ",")
		v, _ := strconv.ParseFloat(f[0], 64)
		fmt.Fprintf(&shifted, "%g,%s,%s\n", v+1000, f[1], f[2])
	}
	os.WriteFile(path, []byte(shifted.String()), 0o644)
	// the changed file is refused unless allowed
	if _, err := Open(cfg.Out, ""); !errors.Is(err, ErrDataChanged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open on changed data: %v, want ErrDataChanged naming %s", err, path)
	}
	again, err := OpenWith(cfg.Out, OpenOptions{AllowDataChange: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Data.Norms, got.State.Norms) {
		t.Fatal("evaluation recomputed the standardisation instead of using the checkpoint's")
	}
	want := float32((got.Data.Test.X[0][0]*float32(got.State.Norms[0].Std[0]) + float32(got.State.Norms[0].Mean[0]) + 1000 - float32(got.State.Norms[0].Mean[0])) / float32(got.State.Norms[0].Std[0]))
	if d := again.Data.Test.X[0][0] - want; d > 1e-2 || d < -1e-2 {
		t.Fatalf("shifted value standardised to %v, want %v", again.Data.Test.X[0][0], want)
	}
}

// TestRealMfeatSmoke trains two epochs on the real mfeat set (skipped without the data) and
// checks that all 63 combinations are reported.
func TestRealMfeatSmoke(t *testing.T) {
	root := os.Getenv("DMRNET_DATA_ROOT")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(root, "mfeat", "pix.csv")); err != nil {
		t.Skipf("mfeat not found under %s (set DMRNET_DATA_ROOT): %v", root, err)
	}
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", "mfeat.yaml"), Environ: []string{},
		Sets: []string{"data.root=" + root, "out=" + filepath.Join(t.TempDir(), "mfeat"), "train.epochs=2", "hard.warmup_epochs=1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, sw := trainRun(t, &cfg)
	if len(sw.Combinations) != 63 || sw.Combinations[62].Name != "pix+fou+fac+zer+kar+mor" || sw.Combinations[62].N != 400 {
		t.Fatalf("mfeat sweep: %d rows", len(sw.Combinations))
	}
	if sw.MeanAccuracy < 0.8 {
		t.Fatalf("mean accuracy %v after 2 epochs", sw.MeanAccuracy)
	}
}

// TestDropoutRespectsMissingModalities: a sample's training combination never includes a
// modality the sample lacks, and uniform dropout over the full space reaches every
// non-empty subset of what the sample has.
func TestDropoutRespectsMissingModalities(t *testing.T) {
	for _, sets := range [][]string{nil, {"dropout.mode=none"}, {"dropout.mode=explicit", "dropout.probs={a: 1, b+c: 1}"}} {
		cfg := tinyConfig(t, sets...)
		ds, err := LoadData(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := newTrainer(cfg, ds, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, avail := range []combo.Set{7, 5, 2} {
			seen := map[combo.Set]bool{}
			for i := 0; i < 2000; i++ {
				c := tr.drawCombination(rng, avail)
				if c == 0 || c&^avail != 0 {
					t.Fatalf("%v: drew %03b for a sample with %03b", sets, c, avail)
				}
				seen[c] = true
			}
			if sets == nil && avail == 5 && len(seen) != 3 {
				t.Errorf("uniform dropout on {a, c}: drew %v, want a, c and a+c", seen)
			}
			if len(sets) > 0 && sets[0] == "dropout.mode=none" && (len(seen) != 1 || !seen[avail]) {
				t.Errorf("no dropout: drew %v for %03b", seen, avail)
			}
		}
	}
}

// TestDataCache loads a table set twice through data.cache_dir: the second load reads the
// cache file and gives the same data.
func TestDataCache(t *testing.T) {
	cfg := tableConfig(t)
	cfg.Data.CacheDir = t.TempDir()
	a, err := LoadData(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cfg.Data.CacheDir)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "table-") {
		t.Fatalf("cache dir holds %v", ents)
	}
	b, err := LoadData(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Train, b.Train) || !reflect.DeepEqual(a.Norms, b.Norms) {
		t.Fatal("cached data differs")
	}
}

// TestSoftWeights checks hard.by=soft's bookkeeping: the running cross-entropy follows
// r = m after the first epoch and r <- 0.8 r + 0.2 m after, and the weights are r / mean(r).
func TestSoftWeights(t *testing.T) {
	cfg := tinyConfig(t, "hard.by=soft", "train.epochs=3")
	tr, _ := trainRun(t, cfg)
	st := tr.State()
	if len(st.SoftR) != 7 || len(st.SoftW) != 7 {
		t.Fatalf("soft state: %d running means, %d weights", len(st.SoftR), len(st.SoftW))
	}
	var mean float64
	for _, r := range st.SoftR {
		mean += r / 7
	}
	for c, r := range st.SoftR {
		if math.Abs(st.SoftW[c]-r/mean) > 1e-12 {
			t.Fatalf("weight of %v = %v, want %v", c, st.SoftW[c], r/mean)
		}
	}
	var rep SoftReport
	if err := json.Unmarshal(readFile(t, filepath.Join(cfg.Out, HardSetFile)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Epoch != 3 || len(rep.Combinations) != 7 {
		t.Fatalf("hardset.json: %+v", rep)
	}
	// weights apply from epoch W = 2 (1-based 3): that epoch's loss differs from its CE
	ms := losses(t, cfg.Out)
	if ms[0].HCR != 0 || ms[2].HCR != 0 {
		t.Fatalf("soft weighting logs an HCR term: %+v", ms)
	}
}

// TestAuxHeadsAndInference trains with auxiliary heads and evaluates the three inference
// modes: route differs from fused only on single modalities; the aux loss is logged.
func TestAuxHeadsAndInference(t *testing.T) {
	cfg := tinyConfig(t, "model.aux_heads.weight=1", "train.epochs=4")
	tr, fused := trainRun(t, cfg)
	if ms := losses(t, cfg.Out); ms[3].Aux <= 0 {
		t.Fatalf("aux loss not logged: %+v", ms[3])
	}
	sweeps := map[string]map[string]float64{}
	for _, mode := range []string{"fused", "route", "ensemble"} {
		ev, err := NewEvaluator(cfg, tr.Model(), tr.Data())
		if err != nil {
			t.Fatal(err)
		}
		ev.Mode = mode
		sw, err := ev.Sweep(tr.Data().Test)
		if err != nil {
			t.Fatal(err)
		}
		sweeps[mode] = map[string]float64{}
		for _, r := range sw.Combinations {
			sweeps[mode][r.Name] = r.Accuracy
		}
	}
	for _, r := range fused.Combinations {
		if sweeps["fused"][r.Name] != r.Accuracy {
			t.Fatalf("fused evaluation differs from training's sweep on %s", r.Name)
		}
		if strings.Contains(r.Name, "+") && sweeps["route"][r.Name] != r.Accuracy {
			t.Fatalf("route changed multi-modality %s", r.Name)
		}
	}
}
