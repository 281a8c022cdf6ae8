package train

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dmrnet/dmrnet/internal/checkpoint"
)

// TestOpenModelWithoutData loads a trained model from its checkpoint alone and checks it is
// the model training produced: same inputs, classes and parameters; a checkpoint file works
// as well as its run directory; an old checkpoint without recorded inputs falls back to the
// data.
func TestOpenModelWithoutData(t *testing.T) {
	cfg := tinyConfig(t)
	trainRun(t, cfg)
	want, err := Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{cfg.Out, filepath.Join(cfg.Out, FinalFile)} {
		got, err := OpenModel(path, "")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !got.Final || got.Dir != cfg.Out || got.Path != filepath.Join(cfg.Out, FinalFile) {
			t.Fatalf("%s: final %v dir %s path %s", path, got.Final, got.Dir, got.Path)
		}
		if !reflect.DeepEqual(got.Modalities, want.Data.Modalities) || !reflect.DeepEqual(got.Classes, want.Data.Classes) {
			t.Fatalf("inputs %v classes %v, want %v %v", got.Modalities, got.Classes, want.Data.Modalities, want.Data.Classes)
		}
		for i, p := range got.Model.Params() {
			if !reflect.DeepEqual(p.Data(), want.Model.Params()[i].Data()) {
				t.Fatalf("parameter %s differs", p.Name)
			}
		}
	}
	if got, err := OpenModel(filepath.Join(cfg.Out, CheckpointFile), ""); err != nil || got.Final {
		t.Fatalf("checkpoint.ckpt: final %v, err %v", got != nil && got.Final, err)
	}

	// An older checkpoint records no inputs: the data recovers them.
	var st State
	final := filepath.Join(cfg.Out, FinalFile)
	if err := checkpoint.Load(final, &st); err != nil {
		t.Fatal(err)
	}
	st.Modalities, st.Classes = nil, nil
	old := filepath.Join(t.TempDir(), "old.ckpt")
	if err := checkpoint.Save(old, &st); err != nil {
		t.Fatal(err)
	}
	got, err := OpenModel(old, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Modalities, want.Data.Modalities) {
		t.Fatalf("fallback inputs %v", got.Modalities)
	}

	if _, err := OpenModel(filepath.Join(t.TempDir(), "nothing"), ""); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing directory: %v", err)
	}
}
