package metrics

import (
	"math"
	"testing"
)

// rocCase: live 0.9 0.8 0.6 0.4, attacks 0.7 0.6 0.3 0.1 (a tie at 0.6).
func rocCase() ([]float64, []bool) {
	return []float64{0.9, 0.7, 0.8, 0.6, 0.6, 0.3, 0.4, 0.1},
		[]bool{true, false, true, false, true, false, true, false}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestROCByHand(t *testing.T) {
	s, l := rocCase()
	pts := ROC(s, l)
	want := []ROCPoint{
		{math.Inf(1), 0, 1}, {0.9, 0, 0.75}, {0.8, 0, 0.5}, {0.7, 0.25, 0.5},
		{0.6, 0.5, 0.25}, {0.4, 0.5, 0}, {0.3, 0.75, 0}, {0.1, 1, 0},
	}
	if len(pts) != len(want) {
		t.Fatalf("ROC has %d points, want %d: %v", len(pts), len(want), pts)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Errorf("point %d = %+v, want %+v", i, pts[i], want[i])
		}
	}
	// Pairs: live 0.9 and 0.8 beat all 4 attacks, 0.6 beats 2 and ties 1, 0.4 beats 2:
	// (4+4+2.5+2)/16.
	if a := AUC(pts); !near(a, 12.5/16) {
		t.Errorf("AUC = %v, want %v", a, 12.5/16)
	}
	// The crossing lies between (0.25, 0.5) at 0.7 and (0.5, 0.25) at 0.6, half way: 0.375;
	// both are 0.25 from the diagonal, so the higher threshold 0.7 is taken.
	e, th := EER(pts)
	if !near(e, 0.375) || th != 0.7 {
		t.Errorf("EER = %v at %v, want 0.375 at 0.7", e, th)
	}
	for _, c := range []struct{ target, bpcer, th float64 }{
		{0.01, 0.5, 0.8}, {0.10, 0.5, 0.8}, {0.25, 0.5, 0.8}, {0.5, 0, 0.4}, {1, 0, 0.4},
	} {
		b, th := BPCERAtAPCER(pts, c.target)
		if !near(b, c.bpcer) || th != c.th {
			t.Errorf("BPCER@APCER<=%v = %v at %v, want %v at %v", c.target, b, th, c.bpcer, c.th)
		}
	}
	a, b, acer := RatesAt(s, l, 0.6) // attacks 0.7, 0.6 accepted; live 0.4 rejected
	if !near(a, 0.5) || !near(b, 0.25) || !near(acer, 0.375) {
		t.Errorf("RatesAt(0.6) = %v %v %v, want 0.5 0.25 0.375", a, b, acer)
	}
	a, b, _ = RatesAt(s, l, math.Inf(1))
	if a != 0 || b != 1 {
		t.Errorf("RatesAt(+Inf) = %v %v, want 0 1", a, b)
	}
}

func TestROCSeparable(t *testing.T) {
	pts := ROC([]float64{0.1, 0.9, 0.8}, []bool{false, true, true})
	if a := AUC(pts); a != 1 {
		t.Errorf("AUC = %v, want 1", a)
	}
	if e, th := EER(pts); e != 0 || th != 0.8 {
		t.Errorf("EER = %v at %v, want 0 at 0.8", e, th)
	}
	if b, _ := BPCERAtAPCER(pts, 0.01); b != 0 {
		t.Errorf("BPCER@1%% = %v, want 0", b)
	}
	// Reversed scores: AUC 0, EER 1.
	pts = ROC([]float64{0.9, 0.1, 0.2}, []bool{false, true, true})
	if a := AUC(pts); a != 0 {
		t.Errorf("reversed AUC = %v, want 0", a)
	}
	if e, _ := EER(pts); e != 1 {
		t.Errorf("reversed EER = %v, want 1", e)
	}
}

func TestROCAllTied(t *testing.T) {
	// One score for everyone: points (0,1) at +Inf and (1,0) at 0.5; chance.
	pts := ROC([]float64{0.5, 0.5, 0.5}, []bool{true, false, false})
	if a := AUC(pts); a != 0.5 {
		t.Errorf("AUC = %v, want 0.5", a)
	}
	if e, th := EER(pts); e != 0.5 || !math.IsInf(th, 1) {
		t.Errorf("EER = %v at %v, want 0.5 at +Inf (tie: the higher threshold)", e, th)
	}
}

func TestROCOneClassIsNA(t *testing.T) {
	for _, l := range [][]bool{{true, true}, {false, false}, {}} {
		s := make([]float64, len(l))
		pts := ROC(s, l)
		if pts != nil {
			t.Errorf("ROC(%v) = %v, want nil", l, pts)
		}
		e, th := EER(pts)
		b, bt := BPCERAtAPCER(pts, 0.05)
		for name, v := range map[string]float64{"AUC": AUC(pts), "EER": e, "EER threshold": th, "BPCER": b, "threshold": bt} {
			if !math.IsNaN(v) {
				t.Errorf("%v: %s = %v, want NaN (n/a)", l, name, v)
			}
		}
	}
	a, b, acer := RatesAt([]float64{0.9, 0.2}, []bool{true, true}, 0.5)
	if !math.IsNaN(a) || b != 0.5 || !math.IsNaN(acer) {
		t.Errorf("all live: RatesAt = %v %v %v, want NaN 0.5 NaN", a, b, acer)
	}
}

// TestThresholdFromValidation chooses the EER threshold on a validation set and applies it
// to a test set, both by hand.
func TestThresholdFromValidation(t *testing.T) {
	// Validation: live 0.9 0.6, attacks 0.5 0.2. Points: (0,1) +Inf, (0,.5) 0.9, (0,0) 0.6,
	// (.5,0) 0.5, (1,0) 0.2; the EER 0 is reached at 0.6.
	e, th := EER(ROC([]float64{0.9, 0.6, 0.5, 0.2}, []bool{true, true, false, false}))
	if e != 0 || th != 0.6 {
		t.Fatalf("validation EER = %v at %v, want 0 at 0.6", e, th)
	}
	// Test: live 0.7 0.55, attacks 0.65 0.1. At 0.6 the attack 0.65 is accepted and the live
	// 0.55 rejected.
	a, b, acer := RatesAt([]float64{0.7, 0.55, 0.65, 0.1}, []bool{true, true, false, false}, th)
	if a != 0.5 || b != 0.5 || acer != 0.5 {
		t.Errorf("test rates at %v = %v %v %v, want 0.5 0.5 0.5", th, a, b, acer)
	}
}
