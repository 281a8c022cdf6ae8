package evaluate

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/report"
	"gorgonia.org/tensor"
)

func setup(t *testing.T) (*Evaluator, *dataset.Dataset) {
	t.Helper()
	ds, err := dataset.Synthetic(dataset.SyntheticSpec{Seed: 1, Classes: 2, Train: 20, Test: 11,
		Modalities: []dataset.SyntheticModality{{Name: "a", Dim: 3, Signal: 2}, {Name: "b", Dim: 2, Signal: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Latent: 4, Classes: 2, PME: true, DType: tensor.Float64, BNMomentum: 0.1, BNEps: 1e-5}
	for _, m := range ds.Modalities {
		spec.Modalities = append(spec.Modalities, model.ModalitySpec{Name: m.Name, InputShape: m.Shape, Encoder: model.EncoderSpec{Type: "mlp", Layers: []int{4}}})
	}
	m, err := model.New(spec, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := New(m, ds, 4, 0) // 11 samples in batches of 4: the last batch is padded
	if err != nil {
		t.Fatal(err)
	}
	return ev, ds
}

func TestSweepCountsAndBatchingInvariance(t *testing.T) {
	ev, ds := setup(t)
	ev.Hard = []combo.Set{2}
	sw, err := ev.Sweep(ds.Test)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Combinations) != 3 || sw.Combinations[2].Name != "a+b" || !sw.Combinations[1].Hard || sw.Combinations[0].Hard {
		t.Fatalf("rows %+v", sw.Combinations)
	}
	for _, r := range sw.Combinations {
		if r.N != 11 || r.APCER == nil {
			t.Fatalf("row %+v", r)
		}
	}
	// a different evaluation batch size gives the same confusion matrices
	ev2, err := New(ev.Model, ds, 11, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ev.Space.All() {
		c1, _ := ev.Confusion(ds.Test, s)
		c2, _ := ev2.Confusion(ds.Test, s)
		for i := range c1.M {
			for j := range c1.M[i] {
				if c1.M[i][j] != c2.M[i][j] {
					t.Fatalf("%s: batch size changes the result", ev.Space.Name(s))
				}
			}
		}
	}
}

// TestMissingModalitiesSkipSamples checks that a combination is evaluated only on the samples
// that have all of its modalities.
func TestMissingModalitiesSkipSamples(t *testing.T) {
	ev, ds := setup(t)
	ds.Test.Avail = make([]combo.Set, ds.Test.Len())
	for i := range ds.Test.Avail {
		ds.Test.Avail[i] = 3
	}
	ds.Test.Avail[0], ds.Test.Avail[1], ds.Test.Avail[2] = 1, 1, 2 // two lack b, one lacks a
	want := map[string]int{"a": 10, "b": 9, "a+b": 8}
	sw, err := ev.Sweep(ds.Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sw.Combinations {
		if r.N != want[r.Name] {
			t.Errorf("%s: n = %d, want %d", r.Name, r.N, want[r.Name])
		}
	}
}

// TestPredictModes checks routing and the ensemble against log-probabilities computed by
// hand for two classes and two modalities.
func TestPredictModes(t *testing.T) {
	// sample 0: fused logits favour class 0; modality a's head favours class 1 strongly,
	// modality b's head favours class 0 weakly
	logits := []float64{1, 0}
	aux := [][]float64{{0, 3}, {0.5, 0}}
	lsm := func(x0, x1 float64) [2]float64 {
		lse := math.Log(math.Exp(x0) + math.Exp(x1))
		return [2]float64{x0 - lse, x1 - lse}
	}
	f, a, b := lsm(1, 0), lsm(0, 3), lsm(0.5, 0)
	if got := Predict("fused", 1, 1, logits, aux, 3, 0, 2); got != 0 {
		t.Errorf("fused: %d", got)
	}
	if got := Predict("route", 1, 1, logits, aux, 1, 0, 2); got != 1 {
		t.Errorf("route {a}: %d, want a's head: 1", got)
	}
	if got := Predict("route", 1, 1, logits, aux, 3, 0, 2); got != 0 {
		t.Errorf("route {a,b}: %d, want the fused path: 0", got)
	}
	// ensemble of fused and both heads, weights 1 and 0.5
	sc := Scores(1, 0.5, logits, aux, 3, 0, 2)
	for j := 0; j < 2; j++ {
		want := (f[j] + 0.5*a[j] + 0.5*b[j]) / 2
		if math.Abs(sc[j]-want) > 1e-12 {
			t.Errorf("ensemble score %d = %v, want %v", j, sc[j], want)
		}
	}
	// (-0.313 + 0.5*(-3.049) + 0.5*(-0.474)) / 2 = -1.037 for class 0,
	// (-1.313 + 0.5*(-0.049) + 0.5*(-0.974)) / 2 = -0.912 for class 1
	if got := Predict("ensemble", 1, 0.5, logits, aux, 3, 0, 2); got != 1 {
		t.Errorf("ensemble: %d, want 1", got)
	}
	// only modality b present: fused + b both favour class 0
	if got := Predict("ensemble", 1, 1, logits, aux, 2, 0, 2); got != 0 {
		t.Errorf("ensemble {b}: %d, want 0", got)
	}
}

// TestCombinationWithoutSamples checks that a combination no test sample has (modality b
// never occurs in the split) gives an n/a row, n 0, which the mean and the worst leave out,
// and that SupportedOnly drops it instead.
func TestCombinationWithoutSamples(t *testing.T) {
	ev, ds := setup(t)
	ds.Test.Avail = make([]combo.Set, ds.Test.Len())
	for i := range ds.Test.Avail {
		ds.Test.Avail[i] = 1 // only a
	}
	sw, err := ev.Sweep(ds.Test)
	if err != nil {
		t.Fatal(err)
	}
	var a report.Row
	for _, r := range sw.Combinations {
		switch r.Name {
		case "a":
			a = r
			if r.N != 11 || !r.Evaluated() {
				t.Errorf("a: %+v", r)
			}
		default:
			if r.N != 0 || r.Evaluated() || !math.IsNaN(r.Accuracy) || r.ACER != nil || r.APCER != nil {
				t.Errorf("%s: %+v, want n 0 and n/a metrics", r.Name, r)
			}
		}
	}
	if sw.MeanAccuracy != a.Accuracy || sw.MeanMacroF1 != a.MacroF1 || sw.Worst.Name != "a" || sw.MeanACER == nil || *sw.MeanACER != *a.ACER {
		t.Errorf("mean %v, macro-F1 %v, worst %+v, mean ACER %v: want those of a alone (%v)", sw.MeanAccuracy, sw.MeanMacroF1, sw.Worst, sw.MeanACER, a.Accuracy)
	}
	ev.SupportedOnly = true
	sw, err = ev.Sweep(ds.Test)
	if err != nil || len(sw.Combinations) != 1 || sw.Combinations[0].Name != "a" {
		t.Fatalf("SupportedOnly: %v, %+v", err, sw)
	}
}

// TestCachedPathMatchesGraph checks every public way into the evaluator (Row, Confusion,
// Protocol under each threshold rule, Outputs, Sweep) on the cached-encoder path against the
// inference graph, for both dtypes and every inference mode, with samples that lack
// modalities and a combination that no sample has.
func TestCachedPathMatchesGraph(t *testing.T) {
	for _, tc := range []struct {
		name string
		dt   tensor.Dtype
		aux  float64
		mode string
	}{
		{"float64 fused", tensor.Float64, 0, "fused"},
		{"float32 fused", tensor.Float32, 0, ""},
		{"float32 route", tensor.Float32, 1, "route"},
		{"float64 ensemble", tensor.Float64, 0.5, "ensemble"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := dataset.Synthetic(dataset.SyntheticSpec{Seed: 2, Classes: 2, Train: 20, Test: 13, Val: 9,
				Modalities: []dataset.SyntheticModality{{Name: "a", Dim: 3, Signal: 2}, {Name: "b", Dim: 2, Signal: 1}, {Name: "c", Dim: 4, Signal: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			// a never occurs with c in the test split: a+c and a+b+c have no sample
			ds.Test.Avail = make([]combo.Set, ds.Test.Len())
			for i := range ds.Test.Avail {
				ds.Test.Avail[i] = []combo.Set{3, 6, 7 &^ 4, 2, 6}[i%5]
			}
			spec := model.Spec{Latent: 4, Classes: 2, PME: true, DType: tc.dt, BNMomentum: 0.1, BNEps: 1e-5, AuxWeight: tc.aux}
			for _, m := range ds.Modalities {
				spec.Modalities = append(spec.Modalities, model.ModalitySpec{Name: m.Name, InputShape: m.Shape, Encoder: model.EncoderSpec{Type: "mlp", Layers: []int{5}}})
			}
			m, err := model.New(spec, rand.New(rand.NewPCG(3, 1)))
			if err != nil {
				t.Fatal(err)
			}
			cached, err := New(m, ds, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			if cached.inf == nil {
				t.Fatal("a fused-build model is evaluated on the inference graph")
			}
			graph := *cached
			if graph.Predictor, err = NewGraphPredictor(m, 5); err != nil {
				t.Fatal(err)
			}
			for _, ev := range []*Evaluator{cached, &graph} {
				ev.Mode, ev.EnsembleFused, ev.EnsembleAux = tc.mode, 1, 0.5
			}
			for _, rule := range []string{"eer", "argmax", "0.4"} {
				cached.Threshold, graph.Threshold = rule, rule
				for _, set := range cached.Space.All() {
					r1, err1 := cached.Row(ds.Test, set)
					r2, err2 := graph.Row(ds.Test, set)
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					j1, _ := json.Marshal(r1)
					j2, _ := json.Marshal(r2)
					if string(j1) != string(j2) {
						t.Fatalf("%s %s: row %s, graph %s", rule, cached.Space.Name(set), j1, j2)
					}
					c1, _ := cached.Confusion(ds.Test, set)
					c2, _ := graph.Confusion(ds.Test, set)
					if fmt.Sprint(c1.M) != fmt.Sprint(c2.M) {
						t.Fatalf("%s: confusion %v, graph %v", cached.Space.Name(set), c1.M, c2.M)
					}
					p1, err1 := cached.Protocol(ds.Val, set)
					p2, err2 := graph.Protocol(ds.Val, set)
					j1, _ = json.Marshal(p1)
					j2, _ = json.Marshal(p2)
					if err1 != nil || err2 != nil || string(j1) != string(j2) {
						t.Fatalf("%s: protocol on val %s (%v), graph %s (%v)", cached.Space.Name(set), j1, err1, j2, err2)
					}
					idx := []int{4, 0, 2} // any order
					o1, _ := cached.Outputs(ds.Val, set, idx)
					o2, _ := graph.Outputs(ds.Val, set, idx)
					if fmt.Sprintf("%#v", o1) != fmt.Sprintf("%#v", o2) {
						t.Fatalf("%s: outputs %+v, graph %+v", cached.Space.Name(set), o1, o2)
					}
				}
				s2, err2 := graph.Sweep(ds.Test)
				j2, _ := json.Marshal(s2)
				for _, budget := range []int{0, 1} { // all combinations together, one by one
					cached.logitBudget = budget
					s1, err1 := cached.Sweep(ds.Test)
					j1, _ := json.Marshal(s1)
					if err1 != nil || err2 != nil || string(j1) != string(j2) {
						t.Fatalf("budget %d: sweep %s (%v), graph %s (%v)", budget, j1, err1, j2, err2)
					}
				}
				cached.logitBudget = 0
			}
		})
	}
}

// TestReferenceBuildUsesGraph checks that a model without cached-encoder inference (the
// reference build) is evaluated on the inference graph.
func TestReferenceBuildUsesGraph(t *testing.T) {
	ds, err := dataset.Synthetic(dataset.SyntheticSpec{Seed: 1, Classes: 2, Train: 10, Test: 7,
		Modalities: []dataset.SyntheticModality{{Name: "a", Dim: 3, Signal: 2}, {Name: "b", Dim: 2, Signal: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Latent: 3, Classes: 2, PME: true, DType: tensor.Float64, BNMomentum: 0.1, BNEps: 1e-5, Reference: true}
	for _, m := range ds.Modalities {
		spec.Modalities = append(spec.Modalities, model.ModalitySpec{Name: m.Name, InputShape: m.Shape, Encoder: model.EncoderSpec{Type: "mlp", Layers: []int{4}}})
	}
	m, err := model.New(spec, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := New(m, ds, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.inf != nil || ev.graph == nil {
		t.Fatal("the reference build is not evaluated on the inference graph")
	}
	sw, err := ev.Sweep(ds.Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sw.Combinations {
		if r.N != 7 {
			t.Errorf("%s: n %d, want 7", r.Name, r.N)
		}
	}
}
