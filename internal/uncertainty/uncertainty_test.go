package uncertainty

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmrnet/dmrnet/internal/evaluate"
)

func TestAUROC(t *testing.T) {
	T, F := true, false
	tests := []struct {
		name     string
		scores   []float64
		positive []bool
		want     float64 // NaN: undefined
	}{
		{"perfect", []float64{0.1, 0.4, 0.35, 0.8}, []bool{F, T, F, T}, 1},
		// scikit-learn's roc_auc_score example: positives 0.35, 0.8; negatives 0.1, 0.4
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []bool{F, F, T, T}, 0.75},
		{"inverted", []float64{2, 1}, []bool{F, T}, 0},
		{"all tied", []float64{1, 1, 1, 1}, []bool{T, F, T, F}, 0.5},
		// positives 1, 2; negatives 0, 1: (1>0) + (1=1: 1/2) + (2>0) + (2>1) = 3.5 of 4
		{"tie across classes", []float64{0, 1, 1, 2}, []bool{F, T, F, T}, 0.875},
		// positive 3 ties with two of three negatives {3, 3, 1}: 1 + 1/2 + 1/2 = 2 of 3
		{"one positive, ties", []float64{3, 3, 1, 3}, []bool{F, F, F, T}, 2.0 / 3},
		{"infinite scores", []float64{math.Inf(-1), math.Inf(1)}, []bool{F, T}, 1},
		{"all right", []float64{0.1, 0.2, 0.3}, []bool{F, F, F}, math.NaN()},
		{"all wrong", []float64{0.1, 0.2}, []bool{T, T}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
		{"NaN score", []float64{0.1, math.NaN(), 0.3}, []bool{F, T, F}, math.NaN()},
	}
	for _, tt := range tests {
		got := AUROC(tt.scores, tt.positive)
		if math.IsNaN(tt.want) {
			if !math.IsNaN(got) {
				t.Errorf("%s: AUROC = %v, want NaN", tt.name, got)
			}
			continue
		}
		if math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("%s: AUROC = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAUROCPairwise compares the sorting implementation with the definition: the mean over
// all (positive, negative) pairs of 1 (positive higher), 1/2 (tie) or 0.
func TestAUROCPairwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(60)
		scores := make([]float64, n)
		positive := make([]bool, n)
		levels := 1 + rng.IntN(6) // few levels: many ties
		for i := range scores {
			scores[i] = float64(rng.IntN(levels))
			positive[i] = rng.Float64() < 0.3
		}
		var sum float64
		pairs := 0
		for i := range scores {
			for j := range scores {
				if !positive[i] || positive[j] {
					continue
				}
				pairs++
				switch {
				case scores[i] > scores[j]:
					sum++
				case scores[i] == scores[j]:
					sum += 0.5
				}
			}
		}
		got := AUROC(scores, positive)
		if pairs == 0 {
			if !math.IsNaN(got) {
				t.Fatalf("trial %d: no pairs, AUROC %v", trial, got)
			}
			continue
		}
		if want := sum / float64(pairs); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUROC %v, pairwise %v (scores %v, positive %v)", trial, got, want, scores, positive)
		}
	}
}

func TestRetained(t *testing.T) {
	tests := []struct {
		n       int
		abstain float64
		want    int
	}{
		{10, 0, 10}, {10, 0.1, 9}, {10, 0.2, 8}, {10, 0.3, 7}, {10, 0.7, 3},
		{7, 0.1, 7}, {7, 0.2, 6}, // ceil(6.3), ceil(5.6)
		{30, 0.1, 27}, {100, 0.29, 71}, {1, 0.2, 1}, {0, 0.1, 0}, {1000, 0.2, 800},
	}
	for _, tt := range tests {
		if got := Retained(tt.n, tt.abstain); got != tt.want {
			t.Errorf("Retained(%d, %v) = %d, want %d", tt.n, tt.abstain, got, tt.want)
		}
	}
	for _, bad := range []float64{-0.1, 1, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Retained(10, %v) did not panic", bad)
				}
			}()
			Retained(10, bad)
		}()
	}
}

func TestRetainedAccuracy(t *testing.T) {
	T, F := true, false
	tests := []struct {
		name     string
		scores   []float64
		correct  []bool
		abstain  float64
		want     float64
		wantKept int
	}{
		{"full coverage", []float64{0.5, 0.1, 0.9, 0.3, 0.7}, []bool{T, T, F, T, F}, 0, 0.6, 5},
		// drops 0.9 (wrong): 3 of the kept 4 right
		{"drop one", []float64{0.5, 0.1, 0.9, 0.3, 0.7}, []bool{T, T, F, T, F}, 0.2, 0.75, 4},
		// keeps 0.1, 0.3, 0.5
		{"drop two", []float64{0.5, 0.1, 0.9, 0.3, 0.7}, []bool{T, T, F, T, F}, 0.4, 1, 3},
		// ties: the earlier samples are kept
		{"ties keep earlier", []float64{1, 1, 1, 1}, []bool{F, T, T, T}, 0.25, 2.0 / 3, 3},
		{"ties keep earlier 2", []float64{1, 1, 1, 1}, []bool{T, T, T, F}, 0.25, 1, 3},
		{"tie at the cut", []float64{0, 2, 1, 1}, []bool{T, T, F, T}, 0.5, 0.5, 2},
		{"empty", nil, nil, 0.1, math.NaN(), 0},
		{"NaN score", []float64{math.NaN(), 1}, []bool{T, F}, 0.1, math.NaN(), 2},
	}
	for _, tt := range tests {
		got, kept := RetainedAccuracy(tt.scores, tt.correct, tt.abstain)
		if kept != tt.wantKept {
			t.Errorf("%s: kept %d, want %d", tt.name, kept, tt.wantKept)
		}
		if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("%s: accuracy %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMeasures(t *testing.T) {
	o := evaluate.Output{Pred: 1, Probs: []float64{0.25, 0.7, 0.05}, Variance: 1.5, Entropy: 0.8}
	for _, tt := range []struct {
		m    Measure
		want float64
	}{{Variance, 1.5}, {Entropy, 0.8}, {MaxProb, 0.3}} {
		if got := tt.m.Score(o); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("%v.Score = %v, want %v", tt.m, got, tt.want)
		}
		back, err := ParseMeasure(tt.m.String())
		if err != nil || back != tt.m {
			t.Errorf("ParseMeasure(%q) = %v, %v", tt.m.String(), back, err)
		}
	}
	if _, err := ParseMeasure("margin"); err == nil {
		t.Error("ParseMeasure(margin) accepted")
	}
	if len(Measures()) != NumMeasures {
		t.Errorf("%d measures, NumMeasures %d", len(Measures()), NumMeasures)
	}
}

// outputs builds outputs of a two-class model from the probability of class 1 and the
// variance of each sample.
func outputs(p1, variance []float64) []evaluate.Output {
	out := make([]evaluate.Output, len(p1))
	for i, p := range p1 {
		probs := []float64{1 - p, p}
		pred := 0
		if p > 0.5 {
			pred = 1
		}
		out[i] = evaluate.Output{Pred: pred, Probs: probs, Variance: variance[i], Entropy: evaluate.Entropy(probs)}
	}
	return out
}

func TestAssess(t *testing.T) {
	// predictions 0, 1, 0, 1 for labels 0, 0, 0, 1: sample 1 is the only wrong one.
	// 1-maxp: 0.1, 0.4, 0.3, 0.2 (the wrong one highest); entropy is monotone in it for two
	// classes; variance 1, 2, 0.5, 3 (the wrong one above two of the three right ones).
	outs := outputs([]float64{0.1, 0.6, 0.3, 0.8}, []float64{1, 2, 0.5, 3})
	r := Assess(outs, []int{0, 0, 0, 1}, []float64{0.25, 0.5})
	if r.N != 4 || r.Accuracy != 0.75 {
		t.Fatalf("N %d, accuracy %v", r.N, r.Accuracy)
	}
	wantAUROC := [NumMeasures]float64{Variance: 2.0 / 3, Entropy: 1, MaxProb: 1}
	// abstaining on 1 of 4: variance keeps 0.5, 1, 2 (2 of 3 right), the others drop the wrong one;
	// on 2 of 4: variance keeps 0.5, 1 (right), 1-maxp keeps 0.1, 0.2 (right)
	wantRetained := [][NumMeasures]float64{{2.0 / 3, 1, 1}, {1, 1, 1}}
	for _, m := range Measures() {
		if math.Abs(r.AUROC[m]-wantAUROC[m]) > 1e-15 {
			t.Errorf("AUROC %v = %v, want %v", m, r.AUROC[m], wantAUROC[m])
		}
		for k := range wantRetained {
			if math.Abs(r.Retained[k][m]-wantRetained[k][m]) > 1e-15 {
				t.Errorf("retained accuracy %v at abstain %v = %v, want %v", m, r.Abstain[k], r.Retained[k][m], wantRetained[k][m])
			}
		}
	}

	// a model without a logvar head: the variance measure is undefined, the others are not
	noVar := outputs([]float64{0.1, 0.6, 0.3, 0.8}, []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()})
	r = Assess(noVar, []int{0, 0, 0, 1}, []float64{0.25})
	if !math.IsNaN(r.AUROC[Variance]) || !math.IsNaN(r.Retained[0][Variance]) || r.AUROC[Entropy] != 1 {
		t.Errorf("without variance: AUROC %v, retained %v", r.AUROC, r.Retained)
	}

	// every prediction right: AUROC undefined, accuracy 1 at every coverage
	r = Assess(outs, []int{0, 1, 0, 1}, []float64{0.25})
	for _, m := range Measures() {
		if !math.IsNaN(r.AUROC[m]) || r.Retained[0][m] != 1 {
			t.Errorf("all right: %v AUROC %v, retained %v", m, r.AUROC[m], r.Retained[0][m])
		}
	}
}
