package dataset

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
)

func smallSpec() SyntheticSpec {
	return SyntheticSpec{
		Seed: 7, Classes: 3, Train: 90, Test: 30,
		Modalities: []SyntheticModality{{"a", 4, 3}, {"b", 2, 0.5}},
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	a, err := Synthetic(smallSpec())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Synthetic(smallSpec())
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different data")
	}
	spec := smallSpec()
	spec.Seed = 8
	c, _ := Synthetic(spec)
	if reflect.DeepEqual(a.Train.X, c.Train.X) {
		t.Fatal("different seeds gave the same data")
	}
	if a.Train.Len() != 90 || a.Test.Len() != 30 || len(a.Train.X[0]) != 90*4 || len(a.Train.X[1]) != 90*2 {
		t.Fatalf("wrong sizes")
	}
	counts := map[int]int{}
	for _, y := range a.Train.Y {
		counts[y]++
	}
	if counts[0] != 30 || counts[1] != 30 || counts[2] != 30 {
		t.Fatalf("unbalanced classes %v", counts)
	}
}

// TestSyntheticSignalOrdersModalities checks with a nearest-centroid classifier that a
// modality's accuracy grows with its signal.
func TestSyntheticSignalOrdersModalities(t *testing.T) {
	spec := SyntheticSpec{Seed: 1, Classes: 2, Train: 2000, Test: 2000, Modalities: []SyntheticModality{
		{"strong", 16, 3.5}, {"medium", 16, 2}, {"weak", 16, 0.8}}}
	d, err := Synthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	var accs []float64
	for m, sm := range spec.Modalities {
		accs = append(accs, centroidAccuracy(d, m, sm.Dim))
	}
	if !(accs[0] > accs[1]+0.05 && accs[1] > accs[2]+0.05 && accs[2] > 0.55) {
		t.Fatalf("single-modality accuracies %v not clearly ordered", accs)
	}
}

func centroidAccuracy(d *Dataset, m, dim int) float64 {
	c := len(d.Classes)
	cent := make([][]float64, c)
	cnt := make([]float64, c)
	for i := range cent {
		cent[i] = make([]float64, dim)
	}
	for i, y := range d.Train.Y {
		for j := 0; j < dim; j++ {
			cent[y][j] += float64(d.Train.X[m][i*dim+j])
		}
		cnt[y]++
	}
	correct := 0
	for i, y := range d.Test.Y {
		best, bestD := 0, math.Inf(1)
		for k := range cent {
			var dd float64
			for j := 0; j < dim; j++ {
				v := float64(d.Test.X[m][i*dim+j]) - cent[k][j]/cnt[k]
				dd += v * v
			}
			if dd < bestD {
				best, bestD = k, dd
			}
		}
		if best == y {
			correct++
		}
	}
	return float64(correct) / float64(d.Test.Len())
}

func TestHoldOutStratified(t *testing.T) {
	d, _ := Synthetic(smallSpec())
	orig := d.Train.Len()
	d.HoldOut(0.2, 3)
	if d.Val.Len() != 18 || d.Train.Len() != orig-18 {
		t.Fatalf("val %d train %d", d.Val.Len(), d.Train.Len())
	}
	counts := map[int]int{}
	for _, y := range d.Val.Y {
		counts[y]++
	}
	for c := 0; c < 3; c++ {
		if counts[c] != 6 {
			t.Fatalf("class %d has %d validation samples, want 6", c, counts[c])
		}
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	e, _ := Synthetic(smallSpec())
	e.HoldOut(0.2, 3)
	if !reflect.DeepEqual(d.Val, e.Val) {
		t.Fatal("hold-out not deterministic")
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(d *Dataset)
	}{
		{"nan", func(d *Dataset) { d.Train.X[0][5] = float32(math.NaN()) }},
		{"inf", func(d *Dataset) { d.Test.X[1][0] = float32(math.Inf(1)) }},
		{"label", func(d *Dataset) { d.Train.Y[3] = 3 }},
		{"short", func(d *Dataset) { d.Train.X[1] = d.Train.X[1][:10] }},
		{"avail", func(d *Dataset) { d.Train.Avail = make([]combo.Set, d.Train.Len()) }},
	}
	for _, tt := range tests {
		d, _ := Synthetic(smallSpec())
		tt.break_(d)
		if err := d.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ErrInvalid", tt.name, err)
		}
	}
}
