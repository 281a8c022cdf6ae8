package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SyntheticModality is one generated modality: Dim features whose class centres lie Signal
// noise standard deviations apart.
type SyntheticModality struct {
	Name   string
	Dim    int
	Signal float64
}

// SyntheticSpec describes a generated data set.
type SyntheticSpec struct {
	Seed       uint64
	Classes    int
	ClassNames []string
	Train      int
	Test       int
	Modalities []SyntheticModality
	// Val, when positive, generates a validation split of that many samples after the
	// training and test splits, which it leaves unchanged. (Omitted from the JSON of the
	// data fingerprint when 0, so that earlier runs keep their fingerprint.)
	Val int `json:"Val,omitempty"`
}

// Synthetic generates a data set in process, reproducibly from spec.Seed. Each modality is a
// Gaussian mixture: for class c the sample is
//
//	x = mu_c + n,   n ~ N(0, I)
//
// with class centres mu_c drawn as random directions scaled so that two centres lie about
// Signal apart. A modality's single-modality accuracy therefore grows with its Signal, and
// combining modalities helps because their noise is independent. Labels are balanced
// (sample i has class i mod Classes) and the samples are shuffled.
func Synthetic(spec SyntheticSpec) (*Dataset, error) {
	if spec.Classes < 2 || spec.Train < 1 || spec.Test < 1 || spec.Val < 0 || len(spec.Modalities) == 0 {
		return nil, invalidf("synthetic data needs >= 2 classes, >= 1 train and test sample and a modality")
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 0x5359_4e54_4845_5449)) // "SYNTHETI"
	d := &Dataset{Name: "synthetic"}
	d.Classes = spec.ClassNames
	if len(d.Classes) == 0 {
		for c := 0; c < spec.Classes; c++ {
			d.Classes = append(d.Classes, fmt.Sprintf("class%d", c))
		}
	}
	if len(d.Classes) != spec.Classes {
		return nil, invalidf("%d class names for %d classes", len(d.Classes), spec.Classes)
	}
	centres := make([][][]float64, len(spec.Modalities))
	for m, sm := range spec.Modalities {
		if sm.Dim < 1 {
			return nil, invalidf("synthetic modality %q has dim %d", sm.Name, sm.Dim)
		}
		d.Modalities = append(d.Modalities, Modality{Name: sm.Name, Shape: []int{sm.Dim}})
		centres[m] = make([][]float64, spec.Classes)
		for c := range centres[m] {
			v := make([]float64, sm.Dim)
			var norm float64
			for j := range v {
				v[j] = rng.NormFloat64()
				norm += v[j] * v[j]
			}
			// two random directions are nearly orthogonal: |mu_a - mu_b| ~ sqrt(2) r
			r := sm.Signal / math.Sqrt2 / math.Sqrt(norm)
			for j := range v {
				v[j] *= r
			}
			centres[m][c] = v
		}
	}
	gen := func(n int) *Split {
		s := &Split{Y: make([]int, n), X: make([][]float32, len(spec.Modalities))}
		perm := rng.Perm(n)
		for i := range s.Y {
			s.Y[i] = perm[i] % spec.Classes
		}
		for m, sm := range spec.Modalities {
			x := make([]float32, n*sm.Dim)
			for i, y := range s.Y {
				row := x[i*sm.Dim : (i+1)*sm.Dim]
				for j := range row {
					row[j] = float32(centres[m][y][j] + rng.NormFloat64())
				}
			}
			s.X[m] = x
		}
		return s
	}
	d.Train = gen(spec.Train)
	d.Test = gen(spec.Test)
	if spec.Val > 0 {
		d.Val = gen(spec.Val)
	}
	return d, d.Validate()
}
