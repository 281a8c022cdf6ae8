package train

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
)

// specialistSets make tinyConfig a specialist of modality a, with weight decay.
var specialistSets = []string{"variant=deterministic", "dropout.mode=explicit", "dropout.probs={a: 1}", "optim.weight_decay=0.01"}

// rowOf returns the sweep's row of the named combination.
func rowOf(t *testing.T, sw *report.Sweep, name string) report.Row {
	t.Helper()
	for _, r := range sw.Combinations {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no row %s in the sweep", name)
	return report.Row{}
}

// legacySpecialist trains tr as dmrnet did before absent modalities were left out: with
// every encoder. Its checkpoints record no absent modality.
func legacySpecialist(t *testing.T, tr *Trainer) {
	t.Helper()
	if err := tr.buildModel(nil); err != nil {
		t.Fatal(err)
	}
	tr.model.Init(rand.New(newStreams(tr.cfg.Train.Seed).init))
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSpecialistLeavesOtherEncodersOut trains a specialist of modality a: its model has no
// encoder for b and c, its checkpoint says so, and it trains exactly as a specialist with
// every encoder (the run before this change) on its own combination: the same losses and
// accuracy. The old-style checkpoint, with every encoder, still loads, evaluates the same
// and resumes; resuming a new one with a configuration that trains b is refused.
func TestSpecialistLeavesOtherEncodersOut(t *testing.T) {
	cfg := tinyConfig(t, specialistSets...)
	tr, sw := trainRun(t, cfg)
	if !slices.Equal(tr.State().Absent, []string{"b", "c"}) {
		t.Fatalf("absent %v, want [b c]", tr.State().Absent)
	}
	for _, p := range tr.Model().Params() {
		if strings.HasPrefix(p.Name, "enc.b.") || strings.HasPrefix(p.Name, "enc.c.") {
			t.Fatalf("specialist of a has parameter %s", p.Name)
		}
	}

	old := tinyConfig(t, specialistSets...)
	lt, err := New(old, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	legacySpecialist(t, lt)
	lsw, err := lt.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	if lt.Model().Param("enc.b.0.W") == nil {
		t.Fatal("the legacy specialist lacks b's encoder")
	}
	la, lb := losses(t, cfg.Out), losses(t, old.Out)
	if len(la) != len(lb) {
		t.Fatalf("%d and %d epochs", len(la), len(lb))
	}
	for i := range la {
		if la[i].Loss != lb[i].Loss || la[i].CE != lb[i].CE || la[i].TrainAcc != lb[i].TrainAcc {
			t.Fatalf("epoch %d: loss %v ce %v acc %v, with every encoder %v %v %v", i+1, la[i].Loss, la[i].CE, la[i].TrainAcc, lb[i].Loss, lb[i].CE, lb[i].TrainAcc)
		}
	}
	if a, b := rowOf(t, sw, "a"), rowOf(t, lsw, "a"); a.Accuracy != b.Accuracy || a.N != b.N {
		t.Fatalf("own accuracy %v (n %d), with every encoder %v (n %d)", a.Accuracy, a.N, b.Accuracy, b.N)
	}

	// the old-style checkpoint loads with every encoder and evaluates as in training
	for _, dir := range []string{old.Out, cfg.Out} {
		lm, err := OpenModel(dir, "")
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if has := lm.Model.Param("enc.b.0.W") != nil; has != (dir == old.Out) {
			t.Fatalf("%s: model has b's encoder: %v", dir, has)
		}
		got, err := Open(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := NewEvaluator(got.Config, got.Model, got.Data)
		if err != nil {
			t.Fatal(err)
		}
		ev.Hard = got.State.Hard
		sw2, err := ev.Sweep(got.Data.Test)
		if err != nil {
			t.Fatal(err)
		}
		want := sw
		if dir == old.Out {
			want = lsw
		}
		for _, r := range want.Combinations {
			if r2 := rowOf(t, sw2, r.Name); r2.Accuracy != r.Accuracy {
				t.Fatalf("%s: reloaded %s accuracy %v, trained %v", dir, r.Name, r2.Accuracy, r.Accuracy)
			}
		}
	}
	rt, err := Resume(old.Out, []string{"train.epochs=7"}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Model().Param("enc.b.0.W") == nil {
		t.Fatal("the resumed legacy specialist lost b's encoder")
	}
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(cfg.Out, []string{"train.epochs=7", "dropout.probs={a: 1, b: 1}"}, Hooks{}); err == nil || !strings.Contains(err.Error(), "no encoder for b") {
		t.Fatalf("resuming with b trained: error %v", err)
	}
}

// TestUnusedModalities: only what no training sample can be given is left out.
func TestUnusedModalities(t *testing.T) {
	tests := []struct {
		sets []string
		want []string
	}{
		{nil, nil},
		{[]string{"dropout.mode=none"}, nil},
		{[]string{"dropout.mode=explicit", "dropout.probs={a: 1}"}, []string{"b", "c"}},
		{[]string{"dropout.mode=explicit", "dropout.probs={a: 1, b+c: 0}"}, []string{"b", "c"}},
		{[]string{"dropout.mode=explicit", "dropout.probs={a+c: 1, c: 2}"}, []string{"b"}},
		{[]string{"dropout.mode=explicit", "dropout.probs={a: 1}", "model.aux_heads.weight=0.5"}, nil},
	}
	for _, tc := range tests {
		cfg := tinyConfig(t, tc.sets...)
		ds, err := LoadData(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := newTrainer(cfg, ds, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.unusedModalities(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: unused %v, want %v", tc.sets, got, tc.want)
		}
	}
}
