package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/model"
)

// mfeatLike is a synthetic stand-in for mfeat: six views of mfeat's widths, ten classes and
// mfeat's model (encoders [128, 64], latent 128: a fused width of 384 that the float32 GEMM
// sums in two passes, the pass boundary between views).
var mfeatLike = []string{
	"data.synthetic.classes=10", "data.synthetic.class_names=[]",
	"data.synthetic.train=160", "data.synthetic.test=90", "data.synthetic.val=0",
	"data.synthetic.modalities=[{name: pix, dim: 240, signal: 1}, {name: fou, dim: 76, signal: 1}, {name: fac, dim: 216, signal: 1}, {name: zer, dim: 47, signal: 0.5}, {name: kar, dim: 64, signal: 0.5}, {name: mor, dim: 6, signal: 0.3}]",
	"model.encoder.layers=[128, 64]", "model.latent=128", "train.epochs=1", "train.batch_size=32",
}

// TestCachedEvaluationMatchesGraph trains small models and checks that the cached-encoder
// evaluation (the default) gives bitwise what the whole inference graph gives per batch and
// combination: the same sweep JSON (accuracies, confusion matrices, protocol metrics), the
// same per-sample outputs of every combination, and the same predictions for batches that mix
// combinations; for every inference mode, both dtypes, mlp and conv encoders, data whose
// samples lack modalities, and combinations that no sample has.
func TestCachedEvaluationMatchesGraph(t *testing.T) {
	quick := []string{"data.synthetic.train=300", "data.synthetic.test=150", "data.synthetic.val=80", "train.epochs=2", "train.eval_batch_size=64"}
	aux := []string{"model.aux_heads.weight=1"}
	all := []string{"fused", "route", "ensemble"}
	cases := []struct {
		name   string
		config string
		data   string // "repo" (the repository root), "shared" (the real data) or "" (none)
		sets   []string
		modes  []string
		// drop removes a modality from every test sample (-1: none), so that the
		// combinations with it have no sample
		drop int
	}{
		{"quickstart", "quickstart.yaml", "", quick, []string{"fused"}, -1},
		{"quickstart float64 aux", "quickstart.yaml", "", append(append([]string{"model.dtype=float64"}, quick...), aux...), all, -1},
		{"quickstart aux, ir never in test", "quickstart.yaml", "", append(append([]string{}, quick...), aux...), all, 2},
		{"mfeat-like aux", "quickstart.yaml", "", append(append([]string{}, mfeatLike...), aux...), all, -1},
		{"mfeat-like float64 deterministic", "quickstart.yaml", "", append([]string{"model.dtype=float64", "model.pme=false"}, mfeatLike...), []string{"fused"}, -1},
		{"manifest with missing cells, conv, aux", "manifest-example.yaml", "repo", append([]string{"train.epochs=2"}, aux...), all, -1},
		{"mfeat", "mfeat.yaml", "shared", []string{"train.epochs=1"}, []string{"fused"}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sets := append([]string{"out=" + filepath.Join(t.TempDir(), "run")}, tc.sets...)
			switch tc.data {
			case "repo":
				sets = append(sets, "data.root="+filepath.Join("..", ".."))
			case "shared":
				root := os.Getenv("DMRNET_DATA_ROOT")
				if root == "" {
					root = filepath.Join("..", "..", "..", "shared", "data")
				}
				if _, err := os.Stat(root); err != nil {
					t.Skipf("real data not found at %s (set DMRNET_DATA_ROOT)", root)
				}
				sets = append(sets, "data.root="+root)
			}
			cfg, err := config.Load(config.LoadOptions{File: filepath.Join("..", "..", "configs", tc.config), Sets: sets, Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			tr, err := New(&cfg, Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.drop >= 0 {
				full := combo.Full(len(tr.data.Modalities))
				test := tr.data.Test
				avail := make([]combo.Set, test.Len())
				for i := range avail {
					avail[i] = test.AvailOf(i, len(tr.data.Modalities)) & full &^ (1 << uint(tc.drop))
				}
				test.Avail = avail
			}
			for _, mode := range tc.modes {
				cached, err := NewEvaluator(&cfg, tr.model, tr.data)
				if err != nil {
					t.Fatal(err)
				}
				graph := *cached
				if graph.Predictor, err = evaluate.NewGraphPredictor(tr.model, cfg.Train.EvalBatchSize); err != nil {
					t.Fatal(err)
				}
				for _, ev := range []*evaluate.Evaluator{cached, &graph} {
					ev.Mode, ev.EnsembleFused, ev.EnsembleAux = mode, cfg.Model.Ensemble.Fused, cfg.Model.Ensemble.Aux
					ev.Hard = tr.st.Hard
				}
				splits := []*dataset.Split{tr.data.Test}
				if tr.data.Val != nil {
					splits = append(splits, tr.data.Val)
				}
				for si, s := range splits {
					for _, supported := range []bool{false, true} {
						cached.SupportedOnly, graph.SupportedOnly = supported, supported
						want := sweepJSON(t, &graph, s)
						// twice: the second sweep reuses the first's buffers
						for range 2 {
							if got := sweepJSON(t, cached, s); !bytes.Equal(got, want) {
								t.Fatalf("%s, split %d, supported-only %v: the cached sweep differs:\n%s\nthe graph's:\n%s", mode, si, supported, got, want)
							}
						}
					}
					for _, set := range cached.Space.All() {
						idx := cached.Samples(s, set)
						got, err := cached.Outputs(s, set, idx)
						if err != nil {
							t.Fatal(err)
						}
						want, err := graph.Outputs(s, set, idx)
						if err != nil {
							t.Fatal(err)
						}
						sameOutputs(t, mode+" "+cached.Space.Name(set), got, want)
					}
				}
				// batches that mix combinations, as predict sends them
				rng := rand.New(rand.NewPCG(5, 5))
				s := tr.data.Test
				n := cached.BatchSize()
				for lo := 0; lo < s.Len(); lo += n {
					rows := make([]int, 0, n)
					bt := &model.Batch{X: make([][]float32, len(tr.data.Modalities))}
					for i := lo; i < min(lo+n, s.Len()); i++ {
						av := s.AvailOf(i, len(tr.data.Modalities))
						set := combo.Set(rng.Uint64()) & av
						if set == 0 {
							set = av
						}
						if set == 0 {
							continue
						}
						rows = append(rows, i)
						bt.Present = append(bt.Present, set)
					}
					for m, mod := range tr.data.Modalities {
						bt.X[m] = dataset.Gather(s.X[m], mod.Size(), rows, nil)
					}
					got, err := cached.Run(bt)
					if err != nil {
						t.Fatal(err)
					}
					want, err := graph.Run(bt)
					if err != nil {
						t.Fatal(err)
					}
					sameOutputs(t, mode+" mixed batch", got, want)
				}
			}
		})
	}
}

func sweepJSON(t *testing.T, ev *evaluate.Evaluator, s *dataset.Split) []byte {
	t.Helper()
	sw, err := ev.Sweep(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(sw, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameOutputs(t *testing.T, what string, got, want []evaluate.Output) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d outputs, want %d", what, len(got), len(want))
	}
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	for i := range got {
		g, w := got[i], want[i]
		ok := g.Pred == w.Pred && same(g.Variance, w.Variance) && same(g.Entropy, w.Entropy) && len(g.Probs) == len(w.Probs)
		for j := range g.Probs {
			ok = ok && same(g.Probs[j], w.Probs[j])
		}
		if !ok {
			t.Fatalf("%s: sample %d: cached %+v, graph %+v", what, i, g, w)
		}
	}
}
