package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
)

// threadCounts are the GOMAXPROCS values the thread-count tests compare. 4 exceeds the cores
// of a small machine on purpose: GOMAXPROCS, not the core count, decides how many workers
// split the work.
var threadCounts = []int{1, 2, 4}

// runResult is what a run must reproduce bit for bit at any thread count.
type runResult struct {
	metrics []EpochStats
	sweep   string
	bits    map[string][]uint64
	names   []string
}

// modelBits returns every parameter and BatchNorm running statistic of m as raw bits.
func modelBits(m *model.Model) (map[string][]uint64, []string) {
	bits := map[string][]uint64{}
	var names []string
	add := func(name string, v any) {
		var out []uint64
		switch d := v.(type) {
		case []float32:
			for _, x := range d {
				out = append(out, uint64(math.Float32bits(x)))
			}
		case []float64:
			for _, x := range d {
				out = append(out, math.Float64bits(x))
			}
		default:
			panic(fmt.Sprintf("unexpected %T", v))
		}
		bits[name] = out
		names = append(names, name)
	}
	for _, p := range m.Params() {
		add(p.Name, p.Data())
	}
	for _, bn := range m.BatchNorms() {
		mean, variance := bn.Stats()
		add(bn.Name+".running_mean", mean)
		add(bn.Name+".running_var", variance)
	}
	return bits, names
}

// trainWithThreads trains cfg (into a fresh directory) at GOMAXPROCS procs, restoring the
// previous setting afterwards. With prepare set, the data is loaded and passed through it
// before training (to shrink a large data set).
func trainWithThreads(t *testing.T, cfg config.Config, procs int, prepare func(*dataset.Dataset)) runResult {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	cfg.Out = filepath.Join(t.TempDir(), fmt.Sprintf("run-%d", procs))
	var tr *Trainer
	var err error
	if prepare == nil {
		tr, err = New(&cfg, Hooks{})
	} else {
		var data *dataset.Dataset
		if data, err = LoadData(&cfg, nil); err == nil {
			prepare(data)
			tr, err = newTrainer(&cfg, data, Hooks{})
		}
		if err == nil {
			tr.model.Init(rand.New(tr.rng.init))
		}
	}
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
	sw.Checkpoint = ""
	js, err := json.Marshal(sw)
	if err != nil {
		t.Fatal(err)
	}
	bits, names := modelBits(tr.Model())
	return runResult{metrics: losses(t, cfg.Out), sweep: string(js), bits: bits, names: names}
}

// compareRuns fails unless every result equals the first one bit for bit.
func compareRuns(t *testing.T, results []runResult) {
	t.Helper()
	ref := results[0]
	for i, r := range results[1:] {
		procs := threadCounts[i+1]
		for _, name := range ref.names {
			a, b := ref.bits[name], r.bits[name]
			for j := range a {
				if a[j] != b[j] {
					t.Errorf("GOMAXPROCS %d vs %d: %s[%d] differs (bits %#x vs %#x)", threadCounts[0], procs, name, j, a[j], b[j])
					break
				}
			}
		}
		if len(r.metrics) != len(ref.metrics) {
			t.Fatalf("GOMAXPROCS %d: %d epochs, want %d", procs, len(r.metrics), len(ref.metrics))
		}
		for e := range ref.metrics {
			// as metrics.jsonl has them (%+v would print the address of the last epoch's Stop)
			a, _ := json.Marshal(ref.metrics[e])
			b, _ := json.Marshal(r.metrics[e])
			if !bytes.Equal(a, b) {
				t.Errorf("GOMAXPROCS %d vs %d: epoch %d metrics differ:\n%s\n%s", threadCounts[0], procs, e+1, a, b)
			}
		}
		if r.sweep != ref.sweep {
			t.Errorf("GOMAXPROCS %d vs %d: sweeps differ:\n%s\n%s", threadCounts[0], procs, ref.sweep, r.sweep)
		}
	}
}

// TestConvSameNumbersAtAnyThreadCount trains the manifest example (conv encoders on RGB and
// depth images and on log-mel audio, batch 12 with some modalities genuinely missing) at
// GOMAXPROCS 1, 2 and 4 and requires the same metrics, sweep and final parameters and
// BatchNorm statistics, bit for bit.
func TestConvSameNumbersAtAnyThreadCount(t *testing.T) {
	root := filepath.Join("..", "..")
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(root, "configs", "manifest-example.yaml"), Environ: []string{},
		Sets: []string{"data.root=" + root, "train.epochs=6"}})
	if err != nil {
		t.Fatal(err)
	}
	var results []runResult
	for _, p := range threadCounts {
		results = append(results, trainWithThreads(t, cfg, p, nil))
	}
	compareRuns(t, results)
}

// TestAVMNISTSameNumbersAtAnyThreadCount trains the avmnist benchmark model (two conv
// encoders, batch 64) on a fifth of the real training split for 2 epochs at GOMAXPROCS 1, 2
// and 4 and requires bitwise equal results. It needs ../shared/data (skipped without it).
func TestAVMNISTSameNumbersAtAnyThreadCount(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on the real avmnist data")
	}
	root := os.Getenv("DMRNET_DATA_ROOT")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(root); err != nil {
		t.Skipf("real data not found at %s (set DMRNET_DATA_ROOT)", root)
	}
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", "avmnist.yaml"), Environ: []string{},
		Sets: []string{"data.root=" + root, "train.epochs=2", "hard.warmup_epochs=1"}})
	if err != nil {
		t.Fatal(err)
	}
	// every 5th training sample (540: 8 full batches and a partial one of 28) and every 3rd
	// test sample
	shrink := func(d *dataset.Dataset) {
		d.Train = everyKth(d, d.Train, 5)
		d.Test = everyKth(d, d.Test, 3)
	}
	var results []runResult
	for _, p := range threadCounts {
		results = append(results, trainWithThreads(t, cfg, p, shrink))
	}
	compareRuns(t, results)
}

// everyKth returns the samples 0, k, 2k, ... of s.
func everyKth(d *dataset.Dataset, s *dataset.Split, k int) *dataset.Split {
	var idx []int
	for i := 0; i < s.Len(); i += k {
		idx = append(idx, i)
	}
	out := &dataset.Split{}
	for m, mod := range d.Modalities {
		out.X = append(out.X, dataset.Gather(s.X[m], mod.Size(), idx, nil))
	}
	for _, i := range idx {
		out.Y = append(out.Y, s.Y[i])
		if s.Avail != nil {
			out.Avail = append(out.Avail, s.Avail[i])
		}
	}
	return out
}
