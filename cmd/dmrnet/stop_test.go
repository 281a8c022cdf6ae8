package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/train"
)

// TestEarlyStoppingLine: train says on stderr that early stopping ended the run, at which
// epoch, and which epoch's weights final.ckpt keeps; metrics.jsonl's last line says the same.
func TestEarlyStoppingLine(t *testing.T) {
	cfg, out := writeConfig(t)
	code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--set", "data.val_fraction=0.2", "--set", "train.patience=2",
		"--set", "train.select_best=true", "--set", "optim.lr=1e-12", "--set", "loss.beta=0")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	want := "early stopping at epoch 3 of 4: no validation improvement for 2 epochs (train.patience 2); final.ckpt keeps epoch 1's weights, the best validation mean accuracy"
	if !strings.Contains(stderr, want) || strings.Contains(stderr, "epoch   4/4") {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	ms, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := ms[len(ms)-1].Stop; len(ms) != 3 || !st.EarlyStopped() || st.Epoch != 3 || st.KeptEpoch != 1 {
		t.Errorf("metrics.jsonl last line stop = %+v", st)
	}
}

func TestStopLine(t *testing.T) {
	tests := []struct {
		s    *train.StopInfo
		want string
	}{
		{nil, ""},
		{&train.StopInfo{Reason: train.StopEpochs, Epoch: 5, Epochs: 5, KeptEpoch: 5}, ""},
		{&train.StopInfo{Reason: train.StopEpochs, Epoch: 5, Epochs: 5, BestEpoch: 2, BestScore: 0.9, KeptEpoch: 2, SelectBest: true},
			"trained all 5 epochs; final.ckpt keeps epoch 2's weights, the best validation mean accuracy 0.9000 (train.select_best)"},
		{&train.StopInfo{Reason: train.StopPatience, Epoch: 7, Epochs: 20, Patience: 3, BestEpoch: 4, BestScore: 0.8, KeptEpoch: 7},
			"early stopping at epoch 7 of 20: no validation improvement for 3 epochs (train.patience 3); final.ckpt keeps epoch 7's weights, the last (the best on validation was epoch 4; train.select_best=true keeps the best)"},
	}
	for _, tt := range tests {
		if got := stopLine(tt.s); got != tt.want {
			t.Errorf("stopLine(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
