package optim

import (
	"fmt"
	"math"
	"sort"
)

// Schedule gives the learning rate of each epoch (counted from 0).
type Schedule struct {
	// Name is "constant", "step" or "cosine".
	Name string
	// Base is the learning rate after warm-up.
	Base float64
	// Warmup is the number of epochs of linear warm-up before the schedule proper.
	Warmup int
	// StepSize and Gamma: "step" multiplies by Gamma every StepSize epochs after warm-up.
	StepSize int
	Gamma    float64
	// MinLR is where "cosine" ends; Epochs is the total number of epochs.
	MinLR  float64
	Epochs int
}

// LR is the learning rate of epoch e:
//
//	warm-up (e < W):  Base * (e + 1) / (W + 1)
//	constant:         Base
//	step:             Base * Gamma^floor((e - W) / StepSize)
//	cosine:           MinLR + (Base - MinLR) * (1 + cos(pi * (e - W) / (Epochs - W))) / 2
func (s Schedule) LR(e int) (float64, error) {
	if e < s.Warmup {
		return s.Base * float64(e+1) / float64(s.Warmup+1), nil
	}
	k := e - s.Warmup
	switch s.Name {
	case "constant", "":
		return s.Base, nil
	case "step":
		if s.StepSize < 1 {
			return 0, fmt.Errorf("optim: step schedule needs step_size >= 1")
		}
		return s.Base * math.Pow(s.Gamma, float64(k/s.StepSize)), nil
	case "cosine":
		span := s.Epochs - s.Warmup
		if span < 1 {
			return s.Base, nil
		}
		return s.MinLR + (s.Base-s.MinLR)*(1+math.Cos(math.Pi*float64(k)/float64(span)))/2, nil
	}
	return 0, fmt.Errorf("optim: unknown schedule %q (want constant, step or cosine)", s.Name)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
