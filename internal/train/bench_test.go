package train

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
)

// benchConfig loads configs/<name>.yaml with the real data, or skips.
func benchConfig(b *testing.B, name string) *config.Config {
	b.Helper()
	root := os.Getenv("DMRNET_DATA_ROOT")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(root); err != nil {
		b.Skipf("real data not found at %s (set DMRNET_DATA_ROOT)", root)
	}
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", name+".yaml"), Environ: []string{},
		Sets: []string{"data.root=" + root, "out=" + b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	return &cfg
}

// benchStep times whole training steps at batch 64 as the PyTorch reference does: mask
// sampling, noise, forward, loss, backward and the Adam update, with the batch gathered
// outside the timer. It reports the median step time as "median-ms".
func benchStep(b *testing.B, name string) {
	cfg := benchConfig(b, name)
	data, err := LoadData(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	t, err := newTrainer(cfg, data, Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	t.model.Init(rand.New(t.rng.init))
	const n = 64
	g, err := t.graph(n)
	if err != nil {
		b.Fatal(err)
	}
	// a fixed hard set of k combinations: the cost does not depend on which
	t.st.Hard = t.space.All()[:cfg.KFor(t.space.M())]
	rng := rand.New(rand.NewPCG(0, 0))
	spec := t.model.Spec()
	var batches []*model.Batch
	for i := 0; i < 8; i++ {
		perm := rng.Perm(data.Train.Len())[:n]
		bt := &model.Batch{Y: make([]int, n)}
		for m, mod := range data.Modalities {
			bt.X = append(bt.X, dataset.Gather(data.Train.X[m], mod.Size(), perm, nil))
		}
		for k, j := range perm {
			bt.Y[k] = data.Train.Y[j]
		}
		batches = append(batches, bt)
	}
	step := func(bt *model.Batch) {
		bt.Present, bt.Hard = bt.Present[:0], bt.Hard[:0]
		for range bt.Y {
			c := t.drawCombination(rng, t.space.Full())
			bt.Present = append(bt.Present, c)
			bt.Hard = append(bt.Hard, slices.Contains(t.st.Hard, c))
		}
		bt.Noise = bt.Noise[:0]
		for i := 0; i < n*spec.Latent; i++ {
			bt.Noise = append(bt.Noise, rng.NormFloat64())
		}
		if _, err := g.Step(bt); err != nil {
			b.Fatal(err)
		}
		if err := t.opt.Step(t.vars(g), 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ { // warm-up
		step(batches[i%len(batches)])
	}
	times := make([]float64, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		step(batches[i%len(batches)])
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2], "median-ms")
}

func BenchmarkStepMfeat(b *testing.B)   { benchStep(b, "mfeat") }
func BenchmarkStepAVMNIST(b *testing.B) { benchStep(b, "avmnist") }

// benchEval times one evaluation pass over every combination of the test split.
func benchEval(b *testing.B, name string) {
	cfg := benchConfig(b, name)
	data, err := LoadData(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	t, err := newTrainer(cfg, data, Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0, haveCPU := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := t.eval.Sweep(data.Test); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// the process's CPU time (all goroutines, GC included): on a shared machine it varies less
	// than the wall-clock time, which counts the waits for a core
	if cpu1, ok := cpuTime(); ok && haveCPU {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

func BenchmarkEvalMfeat(b *testing.B)   { benchEval(b, "mfeat") }
func BenchmarkEvalAVMNIST(b *testing.B) { benchEval(b, "avmnist") }

// benchLoad times reading and preprocessing a data set (no cache).
func benchLoad(b *testing.B, name string) {
	cfg := benchConfig(b, name)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := LoadData(cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadMfeat(b *testing.B)   { benchLoad(b, "mfeat") }
func BenchmarkLoadAVMNIST(b *testing.B) { benchLoad(b, "avmnist") }

// BenchmarkFingerprint times the data fingerprint that training records and resume, eval and
// sweep-missing check (size and SHA-256 of every data file), next to reading the data.
func BenchmarkFingerprint(b *testing.B) {
	for _, name := range []string{"mfeat", "avmnist"} {
		b.Run(name, func(b *testing.B) {
			cfg := benchConfig(b, name)
			var files int
			for b.Loop() {
				fp, err := Fingerprint(cfg)
				if err != nil {
					b.Fatal(err)
				}
				files = len(fp.Files)
			}
			b.ReportMetric(float64(files), "files")
		})
	}
}
