package train

import (
	"math"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
)

// TestFoldSoft checks the running mean and the weights of hard.by=soft against values
// computed by hand, over three epochs of three combinations (1, 2, 3 as combo.Sets).
func TestFoldSoft(t *testing.T) {
	type epoch struct {
		m     map[combo.Set]float64 // the epoch's mean CE of the drawn combinations
		wantR map[combo.Set]float64
		wantW map[combo.Set]float64
	}
	epochs := []epoch{
		// first epoch: r = m; mean(r) = (0.3+0.6+0.9)/3 = 0.6
		{m: map[combo.Set]float64{1: 0.3, 2: 0.6, 3: 0.9},
			wantR: map[combo.Set]float64{1: 0.3, 2: 0.6, 3: 0.9},
			wantW: map[combo.Set]float64{1: 0.5, 2: 1, 3: 1.5}},
		// r1 = .8*.3 + .2*.8 = .4, r2 = .8*.6 + .2*.1 = .5, 3 not drawn: .9; mean .6
		{m: map[combo.Set]float64{1: 0.8, 2: 0.1},
			wantR: map[combo.Set]float64{1: 0.4, 2: 0.5, 3: 0.9},
			wantW: map[combo.Set]float64{1: 0.4 / 0.6, 2: 0.5 / 0.6, 3: 0.9 / 0.6}},
		// r3 = .8*.9 + .2*.0 = .72; mean (.4+.5+.72)/3 = .54
		{m: map[combo.Set]float64{3: 0},
			wantR: map[combo.Set]float64{1: 0.4, 2: 0.5, 3: 0.72},
			wantW: map[combo.Set]float64{1: 0.4 / 0.54, 2: 0.5 / 0.54, 3: 0.72 / 0.54}},
	}
	var r map[combo.Set]float64
	for i, e := range epochs {
		prev := r
		r = foldSoft(r, e.m, i == 0)
		w := softWeights(r)
		for c, want := range e.wantR {
			if math.Abs(r[c]-want) > 1e-12 {
				t.Errorf("epoch %d: r[%d] = %v, want %v", i, c, r[c], want)
			}
			if math.Abs(w[c]-e.wantW[c]) > 1e-12 {
				t.Errorf("epoch %d: w[%d] = %v, want %v", i, c, w[c], e.wantW[c])
			}
		}
		if len(r) != len(e.wantR) || len(w) != len(e.wantR) {
			t.Errorf("epoch %d: %d running means, %d weights, want %d", i, len(r), len(w), len(e.wantR))
		}
		if i == 1 && prev[1] != 0.3 {
			t.Errorf("foldSoft modified its input: r[1] = %v", prev[1])
		}
	}
	// the first epoch overrides what was there (a resumed state is folded, not reset)
	if r := foldSoft(map[combo.Set]float64{1: 5}, map[combo.Set]float64{1: 1}, true); r[1] != 1 {
		t.Errorf("first epoch: r = %v, want 1", r[1])
	}
	if w := softWeights(map[combo.Set]float64{1: 0, 2: 0}); w[1] != 1 || w[2] != 1 {
		t.Errorf("zero cross-entropy: weights %v, want 1", w)
	}
}
