package dmrnet_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/train"
)

// TestMain trains the quick start into a temporary directory and runs the tests and examples
// from there, so that the example reads like the README: dmrnet.Load("runs/quickstart").
func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "dmrnet-api-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		cfgFile, _ := filepath.Abs("configs/quickstart.yaml")
		if err := os.Chdir(dir); err != nil {
			panic(err)
		}
		cfg, err := config.Load(config.LoadOptions{File: cfgFile, Environ: []string{}})
		if err != nil {
			panic(err)
		}
		tr, err := train.New(&cfg, train.Hooks{})
		if err != nil {
			panic(err)
		}
		if err := tr.Run(context.Background()); err != nil {
			panic(err)
		}
		return m.Run()
	}())
}

// Example scores one frame of a face anti-spoofing rig whose depth camera has died: only the
// rgb and ir cameras' features are given.
func Example() {
	m, err := dmrnet.Load("runs/quickstart")
	if err != nil {
		fmt.Println(err)
		return
	}
	rgb := make([]float64, 32) // the rgb camera's 32 features, as in the training data
	ir := make([]float64, 8)
	for i := range rgb {
		rgb[i] = 1.5
	}
	preds, err := m.Predict(context.Background(), []dmrnet.Sample{
		{ID: "frame-1", Vectors: map[string][]float64{"rgb": rgb, "ir": ir}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := preds[0]
	fmt.Println(m.Classes(), p.Present)
	fmt.Printf("%s p=%.3f entropy=%.3f sigma^2=%.3f\n", p.Class, p.Probs[p.ClassIndex], p.Entropy, p.Variance)
	// Output:
	// [live spoof] [rgb ir]
	// spoof p=0.999 entropy=0.006 sigma^2=1.729
}

func TestPredictErrors(t *testing.T) {
	m, err := dmrnet.Load("runs/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Modalities(); len(got) != 3 || got[0].Name != "rgb" || got[0].Input != "vector" || got[0].Shape[0] != 32 {
		t.Fatalf("modalities %+v", got)
	}
	if !m.HasVariance() || m.Inference() != "fused" || !m.Final() {
		t.Fatalf("variance %v inference %s final %v", m.HasVariance(), m.Inference(), m.Final())
	}
	good := make([]float64, 16)
	samples := []dmrnet.Sample{
		{ID: "a", Vectors: map[string][]float64{"depth": good}},
		{ID: "b"},
		{ID: "c", Vectors: map[string][]float64{"thermal": good}},
		{ID: "d", Vectors: map[string][]float64{"depth": good[:3]}},
		{ID: "e", Vectors: map[string][]float64{"depth": append(append([]float64{}, good[:15]...), math.NaN())}},
	}
	preds, err := m.Predict(context.Background(), samples)
	var se *dmrnet.SampleError
	if !errors.As(err, &se) || se.Index != 1 || se.ID != "b" {
		t.Fatalf("error %v", err)
	}
	wantErr := []string{"", "no modality is present", "unknown modality \"thermal\"", "3 values, the model takes 16", "value NaN is not a finite"}
	for i, p := range preds {
		if (p.Err == nil) != (wantErr[i] == "") || p.Err != nil && !strings.Contains(p.Err.Error(), wantErr[i]) {
			t.Errorf("sample %s: %v, want %q", p.ID, p.Err, wantErr[i])
		}
	}
	if preds[0].Class == "" || len(preds[0].Probs) != 2 {
		t.Errorf("good sample: %+v", preds[0])
	}
	if err := m.SetInference("ensemble"); err == nil {
		t.Error("ensemble without auxiliary heads accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, samples); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := dmrnet.Load("runs/none"); err == nil {
		t.Error("missing run loaded")
	}
}
