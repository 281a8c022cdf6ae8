package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type state struct {
	Epoch   int
	Tensors []Tensor
	RNG     map[string][]byte
}

func sample() state {
	return state{
		Epoch: 3,
		Tensors: []Tensor{
			NewTensor("w", []int{2, 2}, []float32{1, 2, 3, 4.5}),
			NewTensor("b", []int{2}, []float64{-1e-300, 7}),
		},
		RNG: map[string][]byte{"shuffle": {1, 2, 3}},
	}
}

func TestRoundTripExact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.ckpt")
	in := sample()
	if err := Save(p, in); err != nil {
		t.Fatal(err)
	}
	var out state
	if err := Load(p, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.ckpt")
	if err := Save(p, sample()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	cases := map[string][]byte{
		"truncated":   raw[:len(raw)-10],
		"flipped":     append(append([]byte{}, raw[:30]...), append([]byte{raw[30] ^ 0xff}, raw[31:]...)...),
		"not-ckpt":    []byte("hello world, this is not a checkpoint"),
		"empty":       {},
		"header-only": raw[:20],
	}
	for name, data := range cases {
		q := filepath.Join(dir, name)
		os.WriteFile(q, data, 0o644)
		var out state
		err := Load(q, &out)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		} else if !strings.Contains(err.Error(), q) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	var out state
	if err := Load(filepath.Join(dir, "missing"), &out); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestCopyToChecksShape(t *testing.T) {
	tn := NewTensor("enc.rgb.0.W", []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	dst := make([]float32, 6)
	if err := tn.CopyTo(dst, []int{3, 2}); err != nil || dst[5] != 6 {
		t.Fatalf("CopyTo: %v %v", err, dst)
	}
	err := tn.CopyTo(make([]float32, 8), []int{4, 2})
	if err == nil || !strings.Contains(err.Error(), "enc.rgb.0.W") || !strings.Contains(err.Error(), "[4 2]") {
		t.Fatalf("shape mismatch error %v", err)
	}
	if err := tn.CopyTo(make([]float64, 6), []int{3, 2}); err == nil {
		t.Fatal("dtype mismatch accepted")
	}
}
