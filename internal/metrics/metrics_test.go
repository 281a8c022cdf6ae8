package metrics

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

const tol = 1e-12

func fromMatrix(m [][]int) *Confusion {
	c := NewConfusion(len(m))
	for t, row := range m {
		for p, n := range row {
			for range n {
				c.Add(t, p)
			}
		}
	}
	return c
}

func TestAccuracyMacroF1(t *testing.T) {
	tests := []struct {
		name    string
		m       [][]int
		n       int
		acc, f1 float64
	}{
		{
			name: "empty",
			m:    [][]int{{0, 0}, {0, 0}},
		},
		{
			name: "perfect",
			m:    [][]int{{3, 0}, {0, 2}},
			n:    5, acc: 1, f1: 1,
		},
		{
			// Class 0: TP 5, true 6, predicted 7: F1 = 2*5/(6+7) = 10/13.
			// Class 1: TP 3, true 6, predicted 5: F1 = 2*3/(6+5) = 6/11.
			// Class 2: TP 4, true 5, predicted 5: F1 = 2*4/(5+5) = 4/5.
			// Macro-F1 = (10/13 + 6/11 + 4/5) / 3 ≈ 0.704895.
			name: "3x3",
			m:    [][]int{{5, 1, 0}, {2, 3, 1}, {0, 1, 4}},
			n:    17, acc: 12.0 / 17, f1: (10.0/13 + 6.0/11 + 4.0/5) / 3,
		},
		{
			// Class 2 never occurs, so it is left out of the mean.
			// Class 0: TP 2, true 3, predicted 2: F1 = 4/5.
			// Class 1: TP 1, true 1, predicted 2: F1 = 2/3.
			name: "absent class ignored",
			m:    [][]int{{2, 1, 0}, {0, 1, 0}, {0, 0, 0}},
			n:    4, acc: 3.0 / 4, f1: (4.0/5 + 2.0/3) / 2,
		},
		{
			// Class 2 is only predicted, never true: it counts with F1 0.
			// Class 0: TP 1, true 2, predicted 1: F1 = 2/3.
			// Class 1: TP 1, true 1, predicted 1: F1 = 1.
			name: "predicted-only class counts with F1 0",
			m:    [][]int{{1, 0, 1}, {0, 1, 0}, {0, 0, 0}},
			n:    3, acc: 2.0 / 3, f1: (2.0/3 + 1 + 0) / 3,
		},
		{
			// Everything predicted as class 0.
			// Class 0: TP 2, true 2, predicted 4: F1 = 4/6.
			// Class 1: TP 0: F1 = 0.
			name: "constant predictor",
			m:    [][]int{{2, 0}, {2, 0}},
			n:    4, acc: 0.5, f1: (4.0 / 6) / 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fromMatrix(tt.m)
			if got := c.N(); got != tt.n {
				t.Errorf("N() = %d, want %d", got, tt.n)
			}
			if got := c.Accuracy(); math.Abs(got-tt.acc) > tol {
				t.Errorf("Accuracy() = %v, want %v", got, tt.acc)
			}
			if got := c.MacroF1(); math.Abs(got-tt.f1) > tol {
				t.Errorf("MacroF1() = %v, want %v", got, tt.f1)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	tests := []struct {
		name               string
		m                  [][]int
		live               int
		apcer, bpcer, acer float64
		wantErr            bool
	}{
		{
			// Attack (0): 2 of 10 predicted live. Live (1): 1 of 10 predicted attack.
			name: "live=1",
			m:    [][]int{{8, 2}, {1, 9}},
			live: 1, apcer: 0.2, bpcer: 0.1, acer: 0.15,
		},
		{
			// Attack (1): 1 of 10 predicted live. Live (0): 2 of 10 predicted attack.
			name: "live=0",
			m:    [][]int{{8, 2}, {1, 9}},
			live: 0, apcer: 0.1, bpcer: 0.2, acer: 0.15,
		},
		{
			name: "no attacks",
			m:    [][]int{{0, 0}, {1, 3}},
			live: 1, apcer: 0, bpcer: 0.25, acer: 0.125,
		},
		{
			name: "no live samples",
			m:    [][]int{{1, 3}, {0, 0}},
			live: 1, apcer: 0.75, bpcer: 0, acer: 0.375,
		},
		{
			name:    "three classes",
			m:       [][]int{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
			live:    1,
			wantErr: true,
		},
		{
			name:    "bad live index",
			m:       [][]int{{1, 0}, {0, 1}},
			live:    2,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apcer, bpcer, acer, err := fromMatrix(tt.m).Binary(tt.live)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want error, got nil")
				}
				if !strings.HasPrefix(err.Error(), "metrics: ") {
					t.Errorf("error %q lacks \"metrics: \" prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []struct {
				name      string
				got, want float64
			}{{"APCER", apcer, tt.apcer}, {"BPCER", bpcer, tt.bpcer}, {"ACER", acer, tt.acer}} {
				if math.Abs(v.got-v.want) > tol {
					t.Errorf("%s = %v, want %v", v.name, v.got, v.want)
				}
			}
		})
	}
}

func TestAddPanics(t *testing.T) {
	tests := []struct {
		name    string
		y, pred int
	}{
		{"negative true", -1, 0},
		{"large true", 3, 0},
		{"negative pred", 0, -1},
		{"large pred", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Add did not panic")
				}
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "metrics: ") {
					t.Errorf("panic value %v lacks \"metrics: \" prefix", r)
				}
			}()
			NewConfusion(3).Add(tt.y, tt.pred)
		})
	}
}

func TestNewConfusionPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewConfusion(0) did not panic")
		}
	}()
	NewConfusion(0)
}

func ExampleConfusion() {
	c := NewConfusion(2) // class 0 = attack, class 1 = live
	for _, s := range []struct{ y, pred int }{
		{0, 0}, {0, 0}, {0, 0}, {0, 1}, // one attack accepted as live
		{1, 1}, {1, 1}, {1, 1}, {1, 1}, // all live samples accepted
	} {
		c.Add(s.y, s.pred)
	}
	apcer, bpcer, acer, err := c.Binary(1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("n=%d accuracy=%.3f macro-F1=%.3f\n", c.N(), c.Accuracy(), c.MacroF1())
	fmt.Printf("APCER=%.3f BPCER=%.3f ACER=%.3f\n", apcer, bpcer, acer)
	// Output:
	// n=8 accuracy=0.875 macro-F1=0.873
	// APCER=0.250 BPCER=0.000 ACER=0.125
}
